"""YOLO detectors: recognised from Ultralytics' own exports, cut into DepthAI's per-stride outputs
(checked against the original's decode), heads DepthAI's DetectionParser reads, and detection
figures that equal a computation by hand and catch what the cosine misses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from edgeconv import detectors
from edgeconv import nn_archive as na
from edgeconv.comparison import compare
from edgeconv.config.resolved import ResolvedStage
from edgeconv.detection_metrics import score
from edgeconv.yolo_decode import Detections
from edgeconv.errors import ConversionError
from edgeconv.steps.adapt_detector import check

DATA = Path(__file__).parent.parent / "data" / "detectors"
# tests/data/detectors/make_ultralytics.py: exports from ultralytics' own model definitions;
# make_yolov5_yolox.py: the original anchor-based YOLOv5 from the yolov5 package's own definition,
# and YOLOX's head layout. name -> (family, DepthAI subtype, classes)
NAMES = ["person", "bicycle", "car", "motorcycle", "bus", "truck", "cat", "dog", "horse",
         "bird", "bottle", "cup", "chair", "laptop", "phone", "book", "clock", "plant"]
EXPORTS = {
    "yolov5u": ("ultralytics", "yolov8", NAMES),
    "yolov6": ("ultralytics", "yolov8", NAMES),
    "yolov8": ("ultralytics", "yolov8", NAMES),
    "yolo11": ("ultralytics", "yolov11", NAMES),
    "yolov5": ("anchor", "yolov5", NAMES),
    "yolox": ("yolox", "yolov6r1", ["class_0", "class_1", "class_2"]),  # no metadata: no names
}


def _load(name: str) -> onnx.ModelProto:
    return onnx.load(str(DATA / f"{name}.onnx"))


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_each_layout_is_recognised_and_its_cut_decodes_to_the_original(name):
    from edgeconv.onnx_io import model_info

    family, subtype, names = EXPORTS[name]
    model = _load(name)
    assert detectors.looks_like_detector({p.key: p.value for p in model.metadata_props}, model_info(model))
    det = detectors.recognise(model)
    assert det is not None and (det.family, det.subtype, det.names) == (family, subtype, names)
    assert det.strides == [8, 16, 32] and det.imgsz == (160, 160)
    adapted = detectors.adapt(model, det)
    onnx.checker.check_model(adapted)
    assert [o.name for o in adapted.graph.output] == [f"output{i}_{subtype}" for i in (1, 2, 3)]
    shapes = [[d.dim_value for d in o.type.tensor_type.shape.dim] for o in adapted.graph.output]
    per_cell = (5 + len(names)) * (3 if family == "anchor" else 1)
    assert shapes == [[1, per_cell, 20, 20], [1, per_cell, 10, 10], [1, per_cell, 5, 5]]
    report = check(model, adapted, det)
    assert report["max_box_error_px"] <= report["box_tolerance_px"] and report["max_score_error"] <= 1e-5
    assert detectors.from_metadata(adapted)["head"] == det.head()
    if family == "ultralytics":  # the in-graph decode is gone (its anchor points were [1, 2, 525])
        assert det.reg_max == 16 and not any(list(t.dims) == [1, 2, 525] for t in adapted.graph.initializer)
    if family == "anchor":  # yolov5n.yaml's anchors, in pixels
        assert det.head()["metadata"]["anchors"] == [[[10, 13], [16, 30], [33, 23]], [[30, 61], [62, 45], [59, 119]],
                                                     [[116, 90], [156, 198], [373, 326]]]


def test_a_cut_that_does_not_decode_to_the_original_is_refused():
    model = _load("yolov8")
    det = detectors.recognise(model)
    det.levels[0].stride = 16  # a wrong stride: the decoded boxes move
    with pytest.raises(Exception, match="does not decode to its own output"):
        check(model, detectors.adapt(model, det), det)


def test_models_that_are_not_detectors_are_left_alone_and_unusual_exports_are_named():
    from models import conv_net

    plain = conv_net(None, size=32)
    assert detectors.recognise(plain) is None
    model = _load("yolov8")
    meta = {p.key: p.value for p in model.metadata_props}
    del model.metadata_props[:]
    assert detectors.recognise(model) is None  # no Ultralytics metadata, and no [1, cells, 5 + c] output
    for key, value in {**meta, "task": "segment"}.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    assert detectors.recognise(model) is None
    end2end = _load("yolov8")
    next(p for p in end2end.metadata_props if p.key == "end2end").value = "True"
    with pytest.raises(detectors.NotAdaptable, match="end-to-end"):
        detectors.recognise(end2end)


def _archive(tmp_path: Path, name: str) -> tuple[Path, dict]:
    model = _load(name)
    det = detectors.recognise(model)
    adapted = detectors.adapt(model, det)
    artifact = tmp_path / f"{name}.onnx"
    onnx.save(adapted, str(artifact))
    config = {
        "config_version": "1.0",
        "model": {
            "metadata": {"name": name, "path": artifact.name, "precision": "float32"},
            "inputs": [{"name": model.graph.input[0].name, "dtype": "float32", "input_type": "image", "shape": [1, 3, 160, 160], "layout": "NCHW",
                        "preprocessing": {"mean": None, "scale": None, "reverse_channels": False, "interleaved_to_planar": False, "dai_type": "RGB888p"}}],
            "outputs": [{"name": o, "dtype": "float32"} for o in det.outputs],
            "heads": [det.head()],
        },
    }
    na.validate(config)  # luxonis-ml's schema
    archive = tmp_path / f"{name}.tar.xz"
    na.write_archive(archive, {artifact.name: artifact}, config)
    return archive, det.head()


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_depthai_reads_every_head_written(tmp_path, name):
    archive, head = _archive(tmp_path, name)
    _family, subtype, names = EXPORTS[name]
    read = na.depthai_detection_parser(archive, head)
    assert read["family"] == "YOLO" and read["subtype"] == subtype and read["classes"] == names
    assert read["n_classes"] == len(names) and read["strides"] == [8, 16, 32] and "note" not in read


def test_a_head_depthai_reads_otherwise_is_refused(tmp_path):
    archive, head = _archive(tmp_path, "yolov8")
    wrong = json.loads(json.dumps(head))
    wrong["metadata"]["n_classes"] = 17
    wrong["metadata"]["classes"] = NAMES[:17]
    with pytest.raises(ConversionError, match="DetectionParser read"):
        na.depthai_detection_parser(archive, wrong)


def _dets(boxes, scores, labels) -> Detections:
    return Detections(np.array(boxes, float).reshape(-1, 4), np.array(scores, float), np.array(labels, int))


def test_detection_figures_equal_a_computation_by_hand():
    # Image 1: class 0 found exactly. Image 2: class 1 found with IoU 62/100 = 0.62, so matched at
    # IoU thresholds 0.50, 0.55, 0.60 of COCO's ten: AP 1 for class 0, 3/10 for class 1 over
    # 0.5:0.95, 1 and 1 at 0.5. Image 3: the float model finds nothing, the artifact one box (a false
    # positive, below the true ones in score, so the precision at full recall stays 1).
    reference = [_dets([[0, 0, 10, 10]], [0.9], [0]), _dets([[20, 20, 30, 30]], [0.8], [1]), _dets([], [], [])]
    artifact = [_dets([[0, 0, 10, 10]], [0.9], [0]), _dets([[20, 20, 30, 26.2]], [0.8], [1]), _dets([[0, 0, 5, 5]], [0.5], [0])]
    got = score(reference, artifact, 2)
    assert got["map50"] == pytest.approx(1.0) and got["map50_95"] == pytest.approx((1.0 + 0.3) / 2)
    assert got["mean_matched_iou"] == pytest.approx((1.0 + 0.62) / 2) and got["class_agreement"] == 1.0
    assert got["recall"] == 1.0 and got["reference_detections"] == 2 and got["samples_with_detections"] == 2
    assert "too few" in got["warning"]
    # The same false positive scored above the true class-0 box: class 0's precision is 1/2 at
    # recall 1 (101-point interpolation: 0.5 everywhere), so mAP@0.5 = (0.5 + 1) / 2.
    artifact[2] = _dets([[0, 0, 5, 5]], [0.95], [0])
    assert score(reference, artifact, 2)["map50"] == pytest.approx(0.75)
    # Image 1's box with the wrong class: class 0 is never found (AP 0), and class 1 has a false
    # positive above its true box (precision 1/2 at recall 1, AP 0.5): mAP@0.5 = 0.25. The match
    # here ignores the class, so the box counts as matched with a disagreeing class.
    wrong = [_dets([[0, 0, 10, 10]], [0.9], [1]), artifact[1], _dets([], [], [])]
    got = score(reference, wrong, 2)
    assert got["map50"] == pytest.approx(0.25) and got["class_agreement"] == 0.5 and got["recall"] == 1.0


def test_samples_where_the_float_model_finds_nothing_give_no_figure():
    got = score([_dets([], [], [])] * 3, [_dets([[0, 0, 5, 5]], [0.9], [0])] * 3, 2)
    assert got["map50"] is None and got["reference_detections"] == 0 and "detects nothing" in got["warning"]


def _crushed(adapted: onnx.ModelProto, det: detectors.Detector, scale: float) -> onnx.ModelProto:
    """An INT8 failure planted in the box branch: each stride's box distribution goes through an
    int8 QuantizeLinear/DequantizeLinear with a scale far too coarse; the class scores are untouched."""
    planted = onnx.ModelProto()
    planted.CopyFrom(adapted)
    g = planted.graph
    for i, lv in enumerate(det.levels):
        dq = f"crushed{i}"
        for node in g.node:
            node.input[:] = [dq if x == lv.box else x for x in node.input]
        g.initializer.extend([numpy_helper.from_array(np.array(scale, np.float32), f"{dq}_scale"),
                              numpy_helper.from_array(np.array(0, np.int8), f"{dq}_zero")])
        at = next(k for k, n in enumerate(g.node) if dq in n.input)
        g.node.insert(at, helper.make_node("DequantizeLinear", [f"{dq}_q", f"{dq}_scale", f"{dq}_zero"], [dq]))
        g.node.insert(at, helper.make_node("QuantizeLinear", [lv.box, f"{dq}_scale", f"{dq}_zero"], [f"{dq}_q"]))
    onnx.checker.check_model(planted)
    return planted


def test_a_crushed_box_branch_fails_the_detection_gate_while_the_cosine_passes():
    from PIL import Image

    model = _load("yolov8")
    det = detectors.recognise(model)
    adapted = detectors.adapt(model, det)
    info = detectors.from_metadata(adapted)
    images = sorted((Path(__file__).parents[2] / "calibration_data" / "ppocr").glob("sample_*"))
    samples = [{"images": (np.asarray(Image.open(f).convert("RGB").resize((160, 160)), np.float32) / 255).transpose(2, 0, 1)[None]}
               for f in images]
    float_session = ort.InferenceSession(adapted.SerializeToString())
    expected = [dict(zip(det.outputs, float_session.run(det.outputs, s))) for s in samples]
    planted = ort.InferenceSession(_crushed(adapted, det, 1.0).SerializeToString())

    def run(_artifact, feeds):
        return dict(zip(det.outputs, planted.run(det.outputs, feeds)))

    stage = ResolvedStage(inputs=[], outputs=det.outputs)
    thresholds = {"min_cosine": 0.98, "min_map50": 0.9}
    report = compare(Path("float.onnx"), Path("planted.onnx"), stage, samples, expected, thresholds, run, None, info)
    assert all(o["cosine"] > 0.99 for o in report["outputs"].values())  # the cosine gate passes
    assert report["detections"]["map50"] < 0.9 and not report["passed"]
    assert report["failures"] == [f for f in report["failures"] if f.startswith("detections: mAP@0.5")]
    # The float model against itself: every figure is perfect and the gate passes.
    same = compare(Path("float.onnx"), Path("float.onnx"), stage, samples, expected, thresholds,
                   lambda _a, feeds: dict(zip(det.outputs, float_session.run(det.outputs, feeds))), None, info)
    assert same["passed"] and same["detections"]["map50"] == pytest.approx(1.0) and same["detections"]["recall"] == 1.0



def test_text_boxes_from_a_probability_map():
    from edgeconv import text_decode

    prob = np.zeros((1, 1, 40, 60), np.float32)
    prob[0, 0, 5:15, 10:30] = 0.9  # a text line: one box, score 0.9
    prob[0, 0, 20:30, 5:8] = 0.4  # a faint region: above the mask threshold, under the box score
    prob[0, 0, 35:37, 40:50] = 0.95  # two pixels high: noise
    head = {"parser": text_decode.PARSER, "metadata": {"conf_threshold": 0.5, "mask_threshold": 0.25}, "outputs": ["map"]}
    found = text_decode.decode({"map": prob}, head)
    assert found.boxes.tolist() == [[10, 5, 30, 15]] and found.scores == pytest.approx([0.9]) and found.labels.tolist() == [0]
    # The same map a little off in an artifact: matched at IoU 20x9 / 20x10 = 0.9.
    shifted = prob.copy()
    shifted[0, 0, 14, 10:30] = 0.1
    got = score([found], [text_decode.decode({"map": shifted}, head)], 1)
    assert got["map50"] == pytest.approx(1.0) and got["mean_matched_iou"] == pytest.approx(0.9)


def test_the_htp_search_gates_on_min_map50_for_a_detector(tmp_path):
    """qnn_htp's search: a trial passes only when its mAP@0.5 meets min_map50 (CPU trials here)."""
    from PIL import Image

    from edgeconv import accuracy_control as ac
    from edgeconv.targets.qnn_htp import search_quantizer

    model = _load("yolov8")
    adapted = detectors.adapt(model, detectors.recognise(model))
    onnx.save(adapted, str(tmp_path / "adapted.onnx"))
    images = sorted((Path(__file__).parents[2] / "calibration_data" / "ppocr").glob("sample_*"))
    x = np.stack([(np.asarray(Image.open(f).convert("RGB").resize((160, 160)), np.float32) / 255).transpose(2, 0, 1)[None]
                  for f in images])
    info = detectors.from_metadata(adapted)

    def search(gate):
        return ac.htp_search(tmp_path / "adapted.onnx", {"images": x}, gate, ac.Budget(max_trials=2), 4,
                             search_quantizer(tmp_path / "adapted.onnx", "INT8_STANDARD", True, tmp_path / "q"), tmp_path,
                             detector=info)

    encodings, record = search({"min_map50": 0.05})  # plain INT8 meets it
    assert encodings is None and record["trials"][0]["passed"] and 0.05 <= record["trials"][0]["map50"] < 1.0
    with pytest.raises(ac.GateNotMet, match=r"mAP@0.5 [0-9.]+ against min_map50 0.999"):
        search({"min_map50": 0.999})
