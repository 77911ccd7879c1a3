"""One key reruns exactly the steps that read it, for every step of every target.

One model is built once for every target (the vendor tools through the test doubles in
tests/doubles/, mo and POT for real when `make mo-env` made them). Then, for each config key,
the jobs a dry run plans with the key changed must be exactly the jobs Snakemake plans when the
steps that read that key are forced to rerun (`--forcerun`): those steps and what is built from
their outputs, nothing else.
"""

import pytest

from harness import REPO, planned, snakemake, write_images, write_yaml
from models import conv_net

pytestmark = pytest.mark.workflow

DOUBLES = REPO / "tests" / "doubles"
MO_ENV = REPO / ".venvs" / "openvino-2022.3" / "bin"
HAS_MO = (MO_ENV / "pot").exists()
# rvc2: the built-in compiler (make rvc2-env); rvc3: mo and POT 2022.3 (make mo-env) and the VPUX double.
HAS_RVC2 = (REPO / ".venvs" / "openvino-2021.4" / "bin" / "myriad_compile").exists()
INTER = "results/intermediate/alpha"

# (dotted key, new value, what reads it: rules, or files for one job of a rule shared by targets)
CASES = [
    ("onnx_simplification", "onnxslim", ["simplify", "simplify_vendor"]),
    ("onnx_optimizations.fuse_add_mul_to_bn", "false", ["optimize_onnx", "optimize_onnx_vendor"]),
    ("calibration.max_images", "3", ["prepare_calibration"]),
    ("openvino.compress_to_fp16", "false", ["convert_ir", "quantize_ir"]),  # the INT8 IR's float weights too
    ("openvino.preset", "mixed", ["quantize_ir"]),
    ("openvino.subset_size", "2", ["quantize_ir"]),
    ("rvc4.quantization_mode", "INT8_INT16_MIXED", ["quantize_qdq", "quantize_dlc", "graph_prepare_dlc"]),
    ("rvc4.use_per_channel_quantization", "false", ["quantize_qdq", "quantize_dlc"]),
    ("rvc4.use_per_row_quantization", "true", ["quantize_dlc"]),
    ("rvc4.htp_socs", "[sm8650]", ["compile_htp", "verify_htp", "graph_prepare_dlc"]),
    ("rvc4.optimization_level", "3", ["graph_prepare_dlc"]),
    ("rvc4.snpe_onnx_to_dlc_args", "[--batch, '1']", ["onnx_to_dlc"]),
    ("rvc4.snpe_dlc_quant_args", "[--bias_bitwidth, '32']", ["quantize_dlc"]),
    ("rvc4.snpe_dlc_graph_prepare_args", "[--vtcm_override, '0']", ["graph_prepare_dlc"]),
    ("hailo.compression_level", "1", ["hailo_optimize"]),
    ("hailo.alls", "['performance_param(compiler_optimization_level=max)']", ["hailo_optimize"]),
    ("hailo.force_onnx_names", "false", ["hailo_parse"]),
    ("hailo.hw_arch", "hailo8l", ["hailo_parse", "hailo_optimize", "hailo_compile"]),
    ("verify.openvino_int8.min_cosine", "0.5", ["verify_ir_int8", "verify_pot_ir"]),  # rvc3's POT IR too
    ("verify.qnn_htp.min_cosine", "0.5", ["verify_htp"]),
    ("verify.onnx.min_cosine", "0.5", ["verify_onnx_stages"]),
]
RVC2_CASES = [
    ("rvc2.mo_args", "[--log_level, ERROR]", [f"{INTER}/rvc2/alpha.xml"]),
    ("rvc2.number_of_shaves", "6", ["compile_blob"]),
    ("rvc2.compile_tool_args", "[-ip, U8]", ["compile_blob"]),
]
MO_CASES = [
    ("rvc3.mo_args", "[--log_level, ERROR]", [f"{INTER}/rvc3/alpha.xml"]),
    ("rvc3.pot_target_device", "ANY", ["pot_quantize"]),
    ("rvc3.compile_tool_args", "[-ip, U8]", ["compile_vpux_blob"]),
    ("verify.openvino_fp16.min_cosine", "0.5", ["verify_ir", "verify_mo_ir"]),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("every-step")
    targets = ["openvino", "qnn_htp", "rvc4", "hailo"] + (["rvc2"] if HAS_RVC2 else []) + (["rvc3"] if HAS_MO else [])
    write_yaml(root / "config" / "config.yaml", {
        "models": ["alpha"], "targets": targets, "verify": {"max_images": 2},
        "toolchains": {
            "rvc3": {"compile_tool": str(DOUBLES / "compile_tool")},
            "rvc4": {"bin_dir": str(DOUBLES)},
            "hailo": {"python": str(DOUBLES / "hailo" / "python")},
        },
    })
    conv_net(root / "models" / "alpha.onnx", size=16)
    write_images(root / "calibration_data" / "alpha", 5)
    write_yaml(root / "config" / "models" / "alpha.yaml", {
        "input_model": "models/alpha.onnx",
        "mean_values": [127.5, 127.5, 127.5],
        "scale_values": [64, 64, 64],
        "calibration": {"path": "calibration_data/alpha"},
        "rvc2": {"superblob": False},
        "rvc4": {"quantization_mode": "INT8_STANDARD"},
    })
    snakemake(root)
    assert planned(root) == set()
    return root


ALL_CASES = CASES + (RVC2_CASES if HAS_RVC2 else []) + (MO_CASES if HAS_MO else [])


@pytest.mark.parametrize("key, value, readers", ALL_CASES, ids=[c[0] for c in ALL_CASES])
def test_a_key_reruns_exactly_the_steps_that_read_it(project, key, value, readers):
    changed = planned(project, "--config", f"overrides={{alpha: {{{key}: {value}}}}}")
    forced = planned(project, "--forcerun", *readers)
    assert changed, f"changing {key} reran nothing"
    assert changed == forced
