"""Ten real small image classifiers at 224x224 as ONNX files, for the cores benchmark (speed.py P3).

They are torchvision's architectures (MobileNet V2/V3, SqueezeNet, ShuffleNet V2, MNASNet,
ResNet-18, EfficientNet-B0, RegNet, GoogLeNet), exported with torch.onnx (opset 17). This machine
cannot download their trained weights, so their weights are torchvision's own initialisation
(seeded): the graphs, sizes and operators, and so the conversion work, are those of the real
models; their accuracy is not. The exporter runs in its own environment (.venvs/bench-torch:
torch 2.14.1 and torchvision 0.29.1, which lie on this machine's disk), made on first use;
the models are kept in .venvs/bench-models/ and made once.

Run alone: .venv/bin/python bench/classifiers.py   (prints the models' paths)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TORCH = REPO / ".venvs" / "bench-torch"
MODELS = REPO / ".venvs" / "bench-models"
ARCHITECTURES = (
    "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "squeezenet1_1", "shufflenet_v2_x1_0",
    "mnasnet0_5", "resnet18", "efficientnet_b0", "regnet_x_400mf", "googlenet",
)
EXPORT = """
import sys, torch, torchvision
torch.manual_seed(0)
name, out = sys.argv[1], sys.argv[2]
kw = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
model = getattr(torchvision.models, name)(weights=None, **kw).eval()
torch.onnx.export(model, (torch.randn(1, 3, 224, 224),), out, input_names=["image"], output_names=["logits"],
                  opset_version=17, dynamo=False)
"""


def torch_python() -> Path:
    python = TORCH / "bin" / "python"
    if not python.exists():
        subprocess.run(["python3.11", "-m", "venv", str(TORCH)], check=True)
        subprocess.run([str(TORCH / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                        "torch==2.14.1", "torchvision==0.29.1", "onnx"], check=True)
    return python


def classifiers() -> list[Path]:
    """The ten ONNX files (made on first use)."""
    MODELS.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in ARCHITECTURES:
        path = MODELS / f"{name}.onnx"
        if not path.exists():
            tmp = path.with_suffix(".tmp.onnx")
            subprocess.run([str(torch_python()), "-c", EXPORT, name, str(tmp)], check=True)
            tmp.replace(path)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in classifiers():
        print(p)
