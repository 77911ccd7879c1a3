"""Regenerate the anchor-based YOLOv5 and the YOLOX-layout exports the detector tests read.

- ``yolov5.onnx``: the original, anchor-based YOLOv5, from the ``yolov5`` package on PyPI (7.0.14,
  the ultralytics/yolov5 code): its own ``yolov5n.yaml`` at width 1/16, 18 classes, seeded random
  weights, exported by its own ``export.run`` (which writes ``stride`` and ``names``). Needs torch
  and that package with its dependencies on the path (``--yolov5-path``).
- ``yolox.onnx``: YOLOX's head layout (Megvii's decoupled head: a stem, class and box branches, an
  objectness branch; the export concatenates box, sigmoid(objectness), sigmoid(classes) per stride,
  flattens and concatenates the strides into ``[1, anchors, 5 + classes]``), written here in torch on
  a small strided backbone because YOLOX has no installable package; random weights, 3 classes, no
  metadata, as Megvii's tools/export_onnx.py leaves it.

    python tests/data/detectors/make_yolov5_yolox.py --yolov5-path DIR
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).parent
IMGSZ = 160


def export(module: nn.Module, path: Path, opset: int = 12) -> None:
    torch.onnx.export(module, torch.rand(1, 3, IMGSZ, IMGSZ), str(path), opset_version=opset,
                      input_names=["images"], output_names=["output"], dynamo=False)


def conv(c1: int, c2: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c1, c2, 3, stride, 1, bias=False), nn.BatchNorm2d(c2), nn.SiLU())


class TinyYOLOX(nn.Module):
    """Strides 8, 16, 32 from a plain strided backbone, and YOLOX's decoupled head per stride."""

    def __init__(self, classes: int = 3, width: int = 16):
        super().__init__()
        self.backbone = nn.ModuleList([nn.Sequential(conv(3, width, 2), conv(width, width, 2), conv(width, width, 2)),
                                       conv(width, width, 2), conv(width, width, 2)])
        self.stems = nn.ModuleList([nn.Conv2d(width, width, 1) for _ in range(3)])
        self.cls_convs = nn.ModuleList([nn.Sequential(conv(width, width), conv(width, width)) for _ in range(3)])
        self.reg_convs = nn.ModuleList([nn.Sequential(conv(width, width), conv(width, width)) for _ in range(3)])
        self.cls_preds = nn.ModuleList([nn.Conv2d(width, classes, 1) for _ in range(3)])
        self.reg_preds = nn.ModuleList([nn.Conv2d(width, 4, 1) for _ in range(3)])
        self.obj_preds = nn.ModuleList([nn.Conv2d(width, 1, 1) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features, outputs = [], []
        for stage in self.backbone:
            x = stage(x)
            features.append(x)
        for i, f in enumerate(features):
            f = self.stems[i](f)
            reg = self.reg_convs[i](f)
            out = torch.cat([self.reg_preds[i](reg), self.obj_preds[i](reg).sigmoid(), self.cls_preds[i](self.cls_convs[i](f)).sigmoid()], 1)
            outputs.append(out.flatten(start_dim=2))
        return torch.cat(outputs, dim=2).permute(0, 2, 1)


def settle(model: nn.Module) -> None:
    """Batch-norm statistics measured on noise, so that activations do not vanish."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(8):
            model(torch.rand(4, 3, IMGSZ, IMGSZ))
    model.eval()


def yolox() -> Path:
    torch.manual_seed(0)
    model = TinyYOLOX()
    settle(model)
    with torch.no_grad():
        for head in (*model.obj_preds, *model.cls_preds):
            head.weight.normal_(0.0, 0.5)
            head.bias.fill_(-1.0)
    export(model, HERE / "yolox.onnx")
    return HERE / "yolox.onnx"


def yolov5(package: Path) -> Path:
    sys.path.insert(0, str(package))
    import yaml
    from yolov5 import export as yolov5_export
    from yolov5.models.yolo import Model

    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"  # yolov5 7.0 loads its own checkpoint
    original = torch.onnx.export
    torch.onnx.export = functools.wraps(original)(lambda *a, **k: original(*a, **{**k, "dynamo": False}))
    spec = yaml.safe_load((package / "yolov5" / "models" / "yolov5n.yaml").read_text())
    spec.update(nc=18, width_multiple=0.0625)
    torch.manual_seed(0)
    model = Model(spec, ch=3, nc=18)
    model.names = ["person", "bicycle", "car", "motorcycle", "bus", "truck", "cat", "dog", "horse",
                   "bird", "bottle", "cup", "chair", "laptop", "phone", "book", "clock", "plant"]
    settle(model)
    with torch.no_grad():
        for head in model.model[-1].m:  # objectness and class channels of each anchor: some detections
            head.weight.normal_(0.0, 0.3)
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "yolov5.pt"
        torch.save({"model": model}, weights)
        yolov5_export.run(weights=str(weights), include=("onnx",), imgsz=(IMGSZ, IMGSZ), opset=12, simplify=False)
        shutil.copyfile(weights.with_suffix(".onnx"), HERE / "yolov5.onnx")
    return HERE / "yolov5.onnx"


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--yolov5-path", type=Path, required=True, help="a directory holding the yolov5 package (and its dependencies)")
    args = ap.parse_args()
    print(yolox())
    print(yolov5(args.yolov5_path))
