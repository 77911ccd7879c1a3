"""Regenerate calibration_data/ppocr: text images for the PP-OCR demo (synthetic, seeded, CC0).

Run: python calibration_data/make_ppocr_samples.py
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

WORDS = (
    "OAK camera edge inference RVC2 RVC4 Luxonis depth stereo neural network convert model "
    "ONNX OpenVINO blob DLC quantize calibrate text detection recognition 2026 invoice total "
    "EXIT 42 km/h parcel label SKU-1189 warning high voltage open 9:00-17:00"
).split()


def main(out: Path = Path(__file__).parent / "ppocr", count: int = 16) -> None:
    rng = np.random.default_rng(7)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        w, h = (640, 480) if i % 3 else (480, 640)
        base = rng.integers(150, 255, size=3)
        noise = rng.normal(0, 12, size=(h, w, 3))
        img = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(3, 9))):
            size = int(rng.integers(18, 64))
            font = ImageFont.load_default(size=size)
            text = " ".join(rng.choice(WORDS, size=int(rng.integers(1, 5))))
            x, y = int(rng.integers(0, w // 2)), int(rng.integers(0, h - size))
            color = tuple(int(c) for c in rng.integers(0, 90, size=3))
            draw.text((x, y), text, fill=color, font=font)
        if i % 4 == 0:
            img = img.filter(ImageFilter.GaussianBlur(1.0))
        suffix = "png" if i < 2 else "jpg"
        img.save(out / f"sample_{i:02d}.{suffix}", quality=85)


if __name__ == "__main__":
    main()
