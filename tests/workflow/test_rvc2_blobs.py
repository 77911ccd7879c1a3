"""Real MyriadX blobs with the built-in RVC2 toolchain (make rvc2-env: OpenVINO 2021.4.2 from PyPI,
myriad_compile, no device): a blob, a superblob of 16 real compiles, a model that needs rewrites, a
layer that cannot be rewritten, and DepthAI (PyPI depthai) reading each of them and the NN Archive."""

import hashlib
import json
import os
import shutil

import bsdiff4
import pytest

from harness import REPO, needs, snakemake, write_images, write_yaml
from models import activation_net, conv_net
from edgeconv.targets.rvc2 import parse_superblob

ENV = REPO / ".venvs" / "openvino-2021.4"
MYRIAD_COMPILE = ENV / "bin" / "myriad_compile"

pytestmark = pytest.mark.workflow


@pytest.fixture(autouse=True)
def _toolchain():
    # make test installs it; CI (EDGECONV_REQUIRE_RVC2=1) fails instead of skipping without it.
    needs(None if MYRIAD_COMPILE.exists() else "no .venvs/openvino-2021.4 (run `make rvc2-env`)", "EDGECONV_REQUIRE_RVC2")


def _depthai():
    os.environ.setdefault("DEPTHAI_LEVEL", "error")
    import depthai as dai

    return dai


def _project(root, model="alpha", make=conv_net, rvc2=None, **model_config):
    # No toolchains section: the built-in compiler is the default.
    write_yaml(root / "config" / "config.yaml", {"models": [model], "targets": ["rvc2"], "verify": {"max_images": 2}})
    make(root / "models" / f"{model}.onnx")
    write_images(root / "calibration_data" / model, 2)
    write_yaml(root / "config" / "models" / f"{model}.yaml", {
        "input_model": f"models/{model}.onnx",
        "calibration": {"path": f"calibration_data/{model}"},
        "rvc2": rvc2 or {},
        **model_config,
    })
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return _project(
        tmp_path_factory.mktemp("rvc2_blobs"),
        mean_values=[123.675, 116.28, 103.53], scale_values=[58.395, 57.12, 57.375], encoding={"from": "RGB", "to": "BGR"},
    )


def test_superblob_of_sixteen_real_compiles_that_depthai_reads(project):
    snakemake(project, "results/rvc2/alpha.superblob", "results/rvc2/alpha.tar.xz")
    inter = project / "results" / "intermediate" / "alpha"
    mo = json.loads((inter / "records" / "rvc2_convert_mo.json").read_text())["tool_calls"][0]
    assert "2021.4.2" in mo["version"] and "--data_type" in mo["argv"]  # mo 2021.4: IR v10
    assert json.loads((inter / "rvc2" / "alpha.verify.json").read_text())["passed"]  # the IR, on CPU
    data = (project / "results" / "rvc2" / "alpha.superblob").read_bytes()
    base, patches = parse_superblob(data)
    assert base == (inter / "rvc2" / "blobs" / "8shave.blob").read_bytes()
    assert sorted(patches) == [s for s in range(1, 17) if s != 8]
    for shaves, patch in patches.items():
        assert bsdiff4.patch(base, patch) == (inter / "rvc2" / "blobs" / f"{shaves}shave.blob").read_bytes()
    dai = _depthai()
    superblob = dai.OpenVINO.SuperBlob(str(project / "results" / "rvc2" / "alpha.superblob"))
    for shaves in (1, 6, 8, 16):
        blob = superblob.getBlobWithNumShaves(shaves)
        assert blob.numShaves == shaves and blob.numSlices == shaves
        assert blob.networkInputs["x"].dataType.name == "U8F" and list(blob.networkInputs["x"].dims) == [16, 16, 3, 1]
        assert blob.networkOutputs["out"].dataType.name == "FP16"
    call = json.loads((inter / "records" / "compile_blob_6shave.json").read_text())["tool_calls"][0]
    assert call["tool"] == "myriad_compile" and "2021.4.2" in call["version"]
    assert call["blob"]["shaves"] == 6 and call["layer_query"]["unsupported"] == []
    assert call["argv"][call["argv"].index("-ip") + 1] == "U8" and "MYRIAD_NUMBER_OF_SHAVES 6" in call["myriad_config"]
    assert call["built_with"]["source_sha256"] and "g++" in call["built_with"]["compiler"]
    info = json.loads((project / "results" / "rvc2" / "alpha.superblob.buildinfo.json").read_text())
    steps = [s["step"] for s in info["steps"]]
    assert "rewrite_for_myriad" in steps and steps.count("compile_blob") == 16 and steps[-1] == "assemble_superblob"
    archive = dai.NNArchive(str(project / "results" / "rvc2" / "alpha.tar.xz"))
    assert archive.getModelType().name == "SUPERBLOB" and archive.getSuperBlob().getBlobWithNumShaves(4).numShaves == 4


def test_a_blob_rebuilt_from_clean_is_byte_identical(project):
    target = "results/rvc2/alpha.blob"
    snakemake(project, target, "--config", "overrides={alpha: {rvc2.superblob: false, rvc2.number_of_shaves: 5}}")
    first = hashlib.sha256((project / target).read_bytes()).hexdigest()
    shutil.rmtree(project / "results")
    snakemake(project, target, "--config", "overrides={alpha: {rvc2.superblob: false, rvc2.number_of_shaves: 5}}")
    assert hashlib.sha256((project / target).read_bytes()).hexdigest() == first
    dai = _depthai()
    assert dai.OpenVINO.Blob(str(project / target)).numShaves == 5


def test_hard_sigmoid_and_hard_swish_are_rewritten_and_the_model_compiles(tmp_path):
    root = _project(tmp_path, "acts", lambda p: activation_net(p, opset=15))
    snakemake(root, "results/rvc2/acts.blob", "--config", "overrides={acts: {rvc2.superblob: false}}")
    inter = root / "results" / "intermediate" / "acts"
    record = json.loads((inter / "records" / "rewrite_for_myriad.json").read_text())
    assert record["rewrites"] == {"HardSigmoid": 1, "HardSwish": 1}
    assert record["opset"] == {"from": 15, "to": 13, "axes_to_attribute": 0}
    report = json.loads((inter / "rvc2" / "acts.verify.json").read_text())  # the rewrites, checked in the IR
    assert report["passed"] and report["outputs"]["out"]["cosine"] > 0.999
    assert _depthai().OpenVINO.Blob(str(root / "results" / "rvc2" / "acts.blob")).networkOutputs["out"].dims


def test_a_layer_the_compiler_will_not_take_is_named_in_one_line(tmp_path):
    root = _project(tmp_path, "cumsum", lambda p: activation_net(p, ops=("CumSum",), opset=13))
    proc = snakemake(root, "results/rvc2/cumsum.blob", "--config", "overrides={cumsum: {rvc2.superblob: false}}",
                     check=False)
    assert proc.returncode != 0
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("error: compile_blob (cumsum)"))
    assert "the MYRIAD compiler (OpenVINO 2021.4) does not take 1 of" in line and "CumSum ('act0')" in line
    assert "end the model before them (outputs: in the model config)" in line
    assert line.endswith('; the compiler: Failed to compile layer "act0": unsupported layer type "CumSum"')
    log = (root / "logs" / "cumsum" / "compile_blob.log").read_text()
    # The plugin's query named it before the compiler ran.
    assert log.index("MYRIAD query_network: 3 layers, 1 not supported: CumSum 'act0'") < log.index("myriad_compile -d MYRIAD")
    assert not list((root / "results" / "intermediate" / "cumsum" / "rvc2").glob("*.blob"))
    assert not (root / "results" / "rvc2").exists()


def test_a_zoo_keeps_the_superblob_and_drops_its_sixteen_blobs(tmp_path):
    """keep_intermediate_outputs: false: the per-shave blobs and patches are gone once the superblob
    holds them; it is published, DepthAI reads every shave count from it, and a rerun plans nothing."""
    from harness import planned

    root = _project(tmp_path)
    config = root / "config" / "config.yaml"
    write_yaml(config, {"models": ["alpha"], "targets": ["rvc2"], "verify": {"max_images": 2},
                        "keep_intermediate_outputs": False})
    snakemake(root, "results/rvc2/alpha.superblob")
    blobs = root / "results" / "intermediate" / "alpha" / "rvc2" / "blobs"
    assert not list(blobs.glob("*.blob")) and not list(blobs.glob("*.patch"))
    superblob = _depthai().OpenVINO.SuperBlob(str(root / "results" / "rvc2" / "alpha.superblob"))
    assert [superblob.getBlobWithNumShaves(s).numShaves for s in (1, 8, 16)] == [1, 8, 16]
    assert planned(root, "results/rvc2/alpha.superblob") == set()
