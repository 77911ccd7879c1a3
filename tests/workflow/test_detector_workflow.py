"""A YOLO detector as a user brings it: an Ultralytics detect export dropped into models/, converted
for OpenVINO and RVC2 with no config. The chain starts from the adapted model, every artifact is
scored in detections, and each archive carries the head DepthAI's DetectionParser reads."""

import json
import shutil
import tarfile
from pathlib import Path

import pytest

from harness import needs, planned, snakemake, write_yaml

pytestmark = pytest.mark.workflow

DATA = Path(__file__).parent.parent / "data" / "detectors"
REPO = Path(__file__).resolve().parents[2]
MYRIAD_COMPILE = REPO / ".venvs" / "openvino-2021.4" / "bin" / "myriad_compile"


def test_an_ultralytics_export_converts_to_archives_depthai_decodes(tmp_path):
    needs(None if MYRIAD_COMPILE.exists() else "no .venvs/openvino-2021.4 (run `make rvc2-env`)", "EDGECONV_REQUIRE_RVC2")
    (tmp_path / "models").mkdir()
    shutil.copyfile(DATA / "yolov8.onnx", tmp_path / "models" / "yolov8.onnx")
    write_yaml(tmp_path / "config" / "config.yaml", {"models": ["yolov8"], "targets": ["openvino", "rvc2"], "verify": {"max_images": 3}})
    snakemake(tmp_path, "results/openvino/yolov8.tar.xz", "results/rvc2/yolov8.tar.xz", "all", "results/summary.csv")
    summary = (tmp_path / "results" / "summary.csv").read_text().splitlines()
    header = summary[0].split(",")
    fp16 = next(line.split(",") for line in summary[1:] if ",openvino,yolov8.bin yolov8.xml," in line)
    assert float(fp16[header.index("map50")]) > 0 and int(fp16[header.index("reference_detections")]) > 0
    log = (tmp_path / "logs" / "yolov8" / "adapt_detector.log").read_text()
    assert "cut before its in-graph decode; outputs output1_yolov8, output2_yolov8, output3_yolov8" in log
    inter = tmp_path / "results" / "intermediate" / "yolov8"
    # An Ultralytics export takes RGB / 255: with no config, the camera's bytes are scaled so.
    buildinfo = json.loads((tmp_path / "results" / "openvino" / "yolov8.buildinfo.json").read_text())
    assert buildinfo["resolved_config"]["inputs"][0]["scale"] == [255.0, 255.0, 255.0]
    assert "adapt_detector" in json.dumps(buildinfo["steps"])
    adapted = json.loads((inter / "records" / "adapt_detector.json").read_text())
    assert adapted["detector"]["replaced_output"] == "output0" and adapted["check"]["max_box_error_px"] < 0.16
    for target, artifact in (("openvino", "yolov8.xml"), ("rvc2", "yolov8.superblob")):
        with tarfile.open(tmp_path / "results" / target / "yolov8.tar.xz") as tar:
            config = json.load(tar.extractfile("config.json"))
        head = config["model"]["heads"][0]
        assert head["parser"] == "YOLO" and head["metadata"]["subtype"] == "yolov8" and head["metadata"]["n_classes"] == 18
        assert [o["name"] for o in config["model"]["outputs"]] == head["metadata"]["yolo_outputs"]
        record = json.loads((inter / "records" / f"{target}_nn_archive.json").read_text())
        assert record["depthai_detection_parser"]["subtype"] == "yolov8"
        assert record["depthai_detection_parser"]["classes"][0] == "person"
    report = json.loads((tmp_path / "results" / "openvino" / "yolov8.verify.json").read_text())
    figures = report["detections"]
    assert figures["decoder"].startswith("DepthAI yolov8") and figures["map50"] is not None
    assert figures["reference_detections"] > 0 and figures["samples"] == 3
    # The user's own head wins: no adaptation, the model's own output.
    write_yaml(tmp_path / "config" / "models" / "yolov8.yaml", {
        "input_model": "models/yolov8.onnx",
        "heads": [{"parser": "YOLOExtendedParser", "metadata": {"subtype": "yolov8", "n_classes": 18, "classes": [f"c{i}" for i in range(18)],
                   "iou_threshold": 0.5, "conf_threshold": 0.5, "max_det": 100, "yolo_outputs": ["output0"]}, "outputs": ["output0"]}],
    })
    rules = {rule for rule, _ in planned(tmp_path, "results/openvino/yolov8.xml")}
    assert "adapt_detector" not in rules and "convert_ir" in rules


@pytest.mark.parametrize("name, subtype", [("yolov5", "yolov5"), ("yolox", "yolov6r1")])
def test_anchor_based_and_yolox_exports_convert_with_their_heads(tmp_path, name, subtype):
    (tmp_path / "models").mkdir()
    shutil.copyfile(DATA / f"{name}.onnx", tmp_path / "models" / f"{name}.onnx")
    write_yaml(tmp_path / "config" / "config.yaml", {"models": [name], "targets": ["openvino"], "verify": {"max_images": 2}})
    snakemake(tmp_path, f"results/openvino/{name}.tar.xz", "all")
    with tarfile.open(tmp_path / "results" / "openvino" / f"{name}.tar.xz") as tar:
        head = json.load(tar.extractfile("config.json"))["model"]["heads"][0]
    assert head["metadata"]["subtype"] == subtype and head["metadata"]["yolo_outputs"] == [f"output{i}_{subtype}" for i in (1, 2, 3)]
    assert (head["metadata"]["anchors"] is not None) == (name == "yolov5")
    record = json.loads((tmp_path / "results" / "intermediate" / name / "records" / "openvino_nn_archive.json").read_text())
    assert record["depthai_detection_parser"]["subtype"] == subtype
    report = json.loads((tmp_path / "results" / "openvino" / f"{name}.verify.json").read_text())
    assert report["detections"]["decoder"].startswith(f"DepthAI {subtype}")
    buildinfo = json.loads((tmp_path / "results" / "openvino" / f"{name}.buildinfo.json").read_text())
    # YOLOX takes the camera's 0-255 as it is; the original YOLOv5 takes RGB / 255.
    assert buildinfo["resolved_config"]["inputs"][0]["scale"] == ([255.0] * 3 if name == "yolov5" else None)


def test_a_trained_yolov8n_from_a_wheel_is_checked_in_detections_on_photographs(tmp_path):
    """NudeNet 3.4.2's detector: a YOLOv8n Ultralytics trained (18 classes), exported with a dynamic
    input, as users bring them; checked on scikit-image's photographs (a face in two of them)."""
    needs(None if MYRIAD_COMPILE.exists() else "no .venvs/openvino-2021.4 (run `make rvc2-env`)", "EDGECONV_REQUIRE_RVC2")
    from edgeconv.demo import fetch_photos

    cache = REPO / "models" / ".downloads"  # the wheels, downloaded once per checkout
    fetch_photos(tmp_path / "photos", cache)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / ".downloads").symlink_to(cache, target_is_directory=True)
    write_yaml(tmp_path / "config" / "config.yaml", {"models": ["nudenet_320n"], "targets": ["openvino", "rvc2"], "verify": {"max_images": 7}})
    # A model a rule fetches is recognised when adapt_detector runs, in the same run; its
    # preprocessing comes from its config (Ultralytics: RGB / 255).
    write_yaml(tmp_path / "config" / "models" / "nudenet_320n.yaml",
               {"input_model": "models/nudenet_320n.onnx", "scale_values": [255, 255, 255], "calibration": {"path": "photos"}})
    snakemake(tmp_path, "results/openvino/nudenet_320n.tar.xz", "results/rvc2/nudenet_320n.tar.xz", "all")
    assert planned(tmp_path, "results/openvino/nudenet_320n.tar.xz", "results/rvc2/nudenet_320n.tar.xz", "all") == set()
    inter = tmp_path / "results" / "intermediate" / "nudenet_320n"
    adapted = json.loads((inter / "records" / "adapt_detector.json").read_text())["detector"]
    assert adapted["classes"] == 18 and adapted["subtype"] == "yolov8" and adapted["strides"] == [8, 16, 32]
    with tarfile.open(tmp_path / "results" / "rvc2" / "nudenet_320n.tar.xz") as tar:
        config = json.load(tar.extractfile("config.json"))
    assert config["model"]["inputs"][0]["shape"] == [1, 3, 320, 320]  # the dynamic export, fixed at its imgsz
    assert "FACE_FEMALE" in config["model"]["heads"][0]["metadata"]["classes"]
    parsed = json.loads((inter / "records" / "rvc2_nn_archive.json").read_text())["depthai_detection_parser"]
    assert parsed["subtype"] == "yolov8" and parsed["n_classes"] == 18
    fp16 = json.loads((tmp_path / "results" / "openvino" / "nudenet_320n.verify.json").read_text())["detections"]
    assert fp16["reference_detections"] >= 2 and fp16["samples"] == 7 and fp16["map50"] == pytest.approx(1.0)
    assert "too few" in fp16["warning"]  # two faces are no basis for a figure, and the report says so


def _openvino_case(tmp_path: Path, name: str = "yolov8"):
    import numpy as np
    import onnx
    import openvino as ov
    from PIL import Image

    from edgeconv import detectors

    model = onnx.load(str(DATA / f"{name}.onnx"))
    det = detectors.recognise(model)
    adapted = detectors.adapt(model, det)
    images = sorted((REPO / "calibration_data" / "ppocr").glob("sample_*"))
    x = np.stack([(np.asarray(Image.open(f).convert("RGB").resize((160, 160)), np.float32) / 255).transpose(2, 0, 1)[None]
                  for f in images])
    onnx.save(adapted, str(tmp_path / "adapted.onnx"))
    return ov.convert_model(str(tmp_path / "adapted.onnx")), {"images": x}, detectors.from_metadata(adapted)


# Not a Snakemake run, but NNCF's search takes a minute: the slow tier.
def test_accuracy_control_takes_min_map50_as_its_criterion(tmp_path):
    from edgeconv import accuracy_control as ac
    from edgeconv.accuracy_control_openvino import openvino_search

    model, calibration, info = _openvino_case(tmp_path)
    budget = ac.Budget(max_trials=1, max_seconds=300, holdout=0.5)
    # A gate plain INT8 meets: no search, and the record says what was measured.
    _, record = openvino_search(model, calibration, {"min_map50": 0.05}, budget, 4, {}, info)
    assert record["criterion"].startswith("mAP@0.5") and record["trials"][0]["passed"]
    assert 0.05 <= record["trials"][0]["map50"] <= 1.0 and record["plain_int8_map50"] == record["trials"][0]["map50"]
    # One it cannot meet: each method's search runs on mAP@0.5 and the error names the figure.
    for method in ("ranked", "nncf"):
        with pytest.raises(ac.GateNotMet, match=rf"\(openvino, {method}\): .* mAP@0.5 [0-9.]+ (with [0-9]+ ranked|after NNCF)"):
            openvino_search(model, calibration, {"min_map50": 0.999}, budget, 4, {"accuracy_control": {"method": method}},
                            info)
