"""TFLite input through Snakemake: tflite2onnx for the ONNX targets (checked against the LiteRT
interpreter, then the real OpenVINO / QNN HTP / mo chains), snpe-tflite-to-dlc (rvc4) and the
DFC's TFLite parser (hailo) through the test doubles in tests/doubles/."""

import json
import tarfile

import numpy as np
import onnx
import pytest

from harness import REPO, planned, rules_for, snakemake, write_images, write_yaml
from models import tflite_net

pytestmark = pytest.mark.workflow
DOUBLES = REPO / "tests" / "doubles"
MO_ENV = REPO / ".venvs" / "openvino-2022.3" / "bin"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("tflite")
    write_yaml(root / "config" / "config.yaml", {"models": ["tnet"], "targets": ["openvino", "qnn_htp"], "verify": {"max_images": 2}})
    tflite_net(root / "models" / "tnet.tflite", size=16)
    write_images(root / "calibration_data" / "tnet", 6, size=(16, 16))
    write_yaml(root / "config" / "models" / "tnet.yaml", {
        "input_model": "models/tnet.tflite",
        "mean_values": [127.5, 127.5, 127.5],
        "scale_values": [64, 64, 64],
        "calibration": {"path": "calibration_data/tnet"},
        "rvc4": {"quantization_mode": "INT8_INT16_MIXED"},
    })
    return root


def test_tflite_converts_for_openvino_and_qnn_htp_keeping_its_interface(project):
    jobs = planned(project)
    assert {"tflite_to_onnx", "attach_normalization", "convert_ir", "quantize_ir", "quantize_qdq", "compile_htp"} <= rules_for(jobs, "tnet")
    snakemake(project)
    inter = project / "results" / "intermediate" / "tnet"
    record = json.loads((inter / "records" / "tflite_to_onnx.json").read_text())
    check = record["result"]["check"] if "result" in record else record["check"]
    assert check["reference"].startswith("LiteRT") and set(check["outputs"]) == {"features", "pooled"}
    assert all(m["cosine"] >= 0.9999 for m in check["outputs"].values())
    # The ONNX takes and gives what the .tflite does: NHWC in, NHWC features out.
    converted = onnx.load(str(inter / "tflite" / "tnet.onnx"))
    dims = lambda vi: [d.dim_value for d in vi.type.tensor_type.shape.dim]  # noqa: E731
    assert [(i.name, dims(i)) for i in converted.graph.input] == [("input", [1, 16, 16, 3])]
    assert {o.name: dims(o) for o in converted.graph.output} == {"features": [1, 16, 16, 4], "pooled": [1, 4]}
    for name, floor in (("openvino/tnet", 0.999), ("openvino/tnet.int8", 0.98), ("qnn_htp/tnet", 0.98)):
        report = json.loads((project / "results" / f"{name}.verify.json").read_text())
        assert report["passed"], name
        assert min(o["cosine"] for o in report["outputs"].values()) >= floor, name
    for name in ("openvino/tnet", "openvino/tnet.int8", "qnn_htp/tnet"):
        info = json.loads((project / "results" / f"{name}.buildinfo.json").read_text())
        assert [s["step"] for s in info["steps"]][:2] == ["tflite_to_onnx", "attach_normalization"], name
    assert planned(project) == set()


def test_converted_model_matches_litert_on_a_camera_frame(project):
    """The FP16 IR fed a raw 0..255 NHWC frame gives what LiteRT gives on the frame normalized
    ((x - 127.5) / 64) and reversed (BGR camera frame, RGB model), as the config says."""
    import openvino as ov

    from edgeconv.tflite_io import Interpreter

    snakemake(project)
    frame = np.random.default_rng(3).integers(0, 256, (1, 16, 16, 3)).astype(np.float32)
    expected = Interpreter(project / "models" / "tnet.tflite").run({"input": (frame[..., ::-1] - 127.5) / 64})
    compiled = ov.Core().compile_model(str(project / "results" / "openvino" / "tnet.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    got = compiled({"input": frame})
    for out in compiled.outputs:
        name = out.get_any_name()
        np.testing.assert_allclose(got[out], expected[name], atol=2e-2, rtol=2e-2)


def test_nn_archive_of_a_tflite_model_keeps_nhwc(project):
    snakemake(project, "results/openvino/tnet.tar.xz")
    with tarfile.open(project / "results" / "openvino" / "tnet.tar.xz") as tar:
        config = json.loads(tar.extractfile("config.json").read())
    (inp,) = config["model"]["inputs"]
    assert inp["shape"] == [1, 16, 16, 3] and inp["layout"] == "NHWC"
    assert [o["name"] for o in config["model"]["outputs"]] == ["features", "pooled"]


@pytest.mark.skipif(not (REPO / ".venvs" / "openvino-2021.4" / "bin" / "myriad_compile").exists(),
                    reason="needs the built-in RVC2 toolchain: run `make rvc2-env`")
def test_rvc2_gets_the_tflite2onnx_model_through_real_mo_and_a_real_blob(project):
    snakemake(project, "results/rvc2/tnet.blob.buildinfo.json")
    report = json.loads((project / "results" / "intermediate" / "tnet" / "rvc2" / "tnet.verify.json").read_text())
    assert report["passed"] and min(o["cosine"] for o in report["outputs"].values()) >= 0.999
    info = json.loads((project / "results" / "rvc2" / "tnet.blob.buildinfo.json").read_text())
    assert info["steps"][0]["step"] == "tflite_to_onnx"
    mo = next(s for s in info["steps"] if s["step"] == "convert_mo")["tool_calls"][0]["argv"]
    # An NHWC colour input is normalized and reversed in the graph, not by mo (which assumes NCHW).
    assert "--mean_values" not in mo and "--reverse_input_channels" not in mo
    assert mo[mo.index("--input_shape") + 1] == "[1,16,16,3]"


def _native_project(tmp_path, settings):
    root = tmp_path
    write_yaml(root / "config" / "config.yaml", {
        "models": ["tnet"], "targets": ["rvc4", "hailo"], "verify": {"max_images": 2},
        "toolchains": {"rvc4": {"bin_dir": str(DOUBLES)}, "hailo": {"python": str(DOUBLES / "hailo" / "python")}},
    })
    tflite_net(root / "models" / "tnet.tflite", size=16)
    write_images(root / "calibration_data" / "tnet", 4, size=(16, 16))
    write_yaml(root / "config" / "models" / "tnet.yaml", {
        "input_model": "models/tnet.tflite", "calibration": {"path": "calibration_data/tnet"}, **settings,
    })
    return root


def test_rvc4_and_hailo_read_the_tflite_model_themselves(tmp_path):
    root = _native_project(tmp_path, {"encoding": "NONE"})
    jobs = rules_for(planned(root), "tnet")
    assert {"tflite_to_dlc", "quantize_dlc", "graph_prepare_dlc", "hailo_parse", "hailo_optimize", "hailo_compile"} <= jobs
    assert not jobs & {"tflite_to_onnx", "attach_normalization", "onnx_to_dlc", "attach_normalization_vendor"}
    snakemake(root)
    dlc = json.loads((root / "results" / "rvc4" / "tnet.dlc").read_text())
    assert dlc["inputs"]["input"]["dims"] == [1, 16, 16, 3] and dlc["inputs"]["input"]["layout"] == "NHWC"
    assert dlc["outputs"] == ["features", "pooled"] and dlc["prepared_for"] == ["sm8550"]
    info = json.loads((root / "results" / "rvc4" / "tnet.buildinfo.json").read_text())
    assert [s["step"] for s in info["steps"]][:1] == ["tflite_to_dlc"]
    argv = info["steps"][0]["tool_calls"][0]["argv"]
    assert argv[0].endswith("snpe-tflite-to-dlc") and argv[argv.index("-i") + 1] == "models/tnet.tflite"
    hailo = json.loads((root / "results" / "hailo" / "tnet.hef.buildinfo.json").read_text())
    parse = next(s for s in hailo["steps"] if s["step"] == "hailo_parse")["tool_calls"][0]
    assert parse["spec"]["model"] == "models/tnet.tflite" and parse["spec"]["net_input_shapes"] == {"input": [1, 16, 16, 3]}


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"mean_values": [127.5, 127.5, 127.5], "encoding": "NONE"}, "rvc4 takes a TFLite model as it is"),
        ({"encoding": {"from": "RGB", "to": "BGR"}}, "rvc4 takes a TFLite model as it is"),
    ],
)
def test_preprocessing_rvc4_cannot_put_into_a_tflite_model_stops_before_any_job(tmp_path, settings, message):
    root = _native_project(tmp_path, settings)
    proc = snakemake(root, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr and "archive_preprocess" in proc.stderr
    assert not (root / "results").exists()
    # With the preprocessing moved into the NN Archive the same config converts.
    jobs = rules_for(planned(root, "--config", "archive_preprocess=true"), "tnet")
    assert "tflite_to_dlc" in jobs


def test_a_damaged_tflite_file_stops_before_any_job(tmp_path):
    root = _native_project(tmp_path, {"encoding": "NONE"})
    model = root / "models" / "tnet.tflite"
    model.write_bytes(model.read_bytes()[:64])
    proc = snakemake(root, check=False)
    assert proc.returncode != 0
    assert "models/tnet.tflite: not a readable TFLite model" in proc.stderr
    assert not (root / "results").exists()
