"""Regenerate the Ultralytics detector exports the detector tests read (tests/data/detectors/).

Trained weights cannot be downloaded on the build machines, so each model is built from the
``ultralytics`` package's own model definition (its YAML), at a tiny width so the file stays
small, with seeded random weights, and exported with Ultralytics' own ONNX exporter (which writes
the ``task``/``stride``/``imgsz``/``names`` metadata a user's export carries). Run with a Python
that has ``ultralytics`` and ``torch`` (not a dependency of edgeconv):

    python tests/data/detectors/make_ultralytics.py
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import torch
import yaml
from ultralytics import YOLO
from ultralytics.cfg import __file__ as cfg_file

HERE = Path(__file__).parent
# 18 classes, as in the report (a user's own dataset, not COCO's 80).
NAMES = [
    "person", "bicycle", "car", "motorcycle", "bus", "truck", "cat", "dog", "horse",
    "bird", "bottle", "cup", "chair", "laptop", "phone", "book", "clock", "plant",
]
MODELS = {"yolov5u": "v5/yolov5.yaml", "yolov6": "v6/yolov6.yaml", "yolov8": "v8/yolov8.yaml", "yolo11": "11/yolo11.yaml"}
IMGSZ = 160
CLASS_BIAS = -2.5
CLASS_WEIGHT_STD = 0.5


def build(name: str, definition: str, out_dir: Path) -> Path:
    spec = yaml.safe_load((Path(cfg_file).parent / "models" / definition).read_text())
    spec["nc"] = len(NAMES)
    scale = spec["scales"]["n"]
    spec["scales"] = {"n": [scale[0], 0.0625, scale[2]]}  # depth as yolo*n, width 1/16
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / f"{name}n.yaml"
        cfg.write_text(yaml.safe_dump(spec))
        torch.manual_seed(0)
        model = YOLO(str(cfg), task="detect")
        model.model.names = dict(enumerate(NAMES))
        # Ultralytics starts the class biases at log(5 / classes / cells), which leaves a random
        # network with no detection at all (and class scores that hardly depend on the image); these
        # weights and bias give some dozens per image, so
        # that the detection check has boxes to compare.
        with torch.no_grad():
            # Batch-norm statistics measured on noise, so that activations do not vanish through
            # the random layers.
            for module in model.model.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.momentum = None
            model.model.train()
            for _ in range(8):
                model.model(torch.rand(4, 3, IMGSZ, IMGSZ))
            model.model.eval()
            for branch in model.model.model[-1].cv3:
                branch[-1].bias.fill_(CLASS_BIAS)
                branch[-1].weight.normal_(0.0, CLASS_WEIGHT_STD)
        exported = Path(model.export(format="onnx", imgsz=IMGSZ, opset=17, simplify=False, dynamic=False))
        target = out_dir / f"{name}.onnx"
        shutil.copyfile(exported, target)
    return target


if __name__ == "__main__":
    for name, definition in MODELS.items():
        print(build(name, definition, HERE))
