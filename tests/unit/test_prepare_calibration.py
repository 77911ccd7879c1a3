"""Calibration data: what the converted model is fed, from images, arrays, raw buffers or random."""

import os

import numpy as np
import pytest
from PIL import Image

from edgeconv.config.loader import validate_model_config
from edgeconv.config.resolve import resolve_stage
from edgeconv.errors import CalibrationError
from edgeconv.onnx_io import model_info
from edgeconv.steps.prepare_calibration import prepare_calibration, resize
from models import conv_net


def _stage(data, model, tmp_path):
    cfg = validate_model_config({"input_model": "m.onnx", **data}, "m", "m.yaml")
    return resolve_stage(cfg.stages["m"], model_info(model, "m.onnx"), "m.yaml")


def _rgb_image(path, color, size=(16, 16)):
    Image.new("RGB", size, color).save(path)


def test_images_are_sorted_limited_and_in_target_encoding_and_layout(tmp_path):
    d = tmp_path / "cal"
    d.mkdir()
    _rgb_image(d / "b.png", (10, 20, 30))
    _rgb_image(d / "a.jpg", (200, 100, 50))
    _rgb_image(d / "c.png", (1, 2, 3))
    (d / "notes.txt").write_text("ignored")
    stage = _stage({"calibration": {"path": str(d), "max_images": 2}, "encoding": {"from": "RGB", "to": "BGR"}}, conv_net(), tmp_path)
    data = prepare_calibration(stage)["x"]
    assert data.shape == (2, 1, 3, 16, 16) and data.dtype == np.float32
    # a.jpg first (sorted), BGR order, NCHW layout; jpeg is lossy so allow a little.
    np.testing.assert_allclose(data[0, 0, :, 8, 8], [50, 100, 200], atol=3)
    np.testing.assert_array_equal(data[1, 0, :, 8, 8], [30, 20, 10])


def test_nhwc_gray_npy_and_raw(tmp_path):
    d = tmp_path / "cal"
    d.mkdir()
    Image.new("L", (16, 16), 77).save(d / "g.png")
    stage = _stage({"calibration": {"path": str(d)}}, conv_net(channels=1, nhwc=True), tmp_path)
    data = prepare_calibration(stage)["x"]
    assert data.shape == (1, 1, 16, 16, 1) and float(data[0, 0, 3, 3, 0]) == 77
    d2 = tmp_path / "arr"
    d2.mkdir()
    np.save(d2 / "0.npy", np.full((3, 16, 16), 5, np.float32))
    np.full((3, 16, 16), 9, np.float32).tofile(d2 / "1.raw")
    data = prepare_calibration(_stage({"calibration": {"path": str(d2)}}, conv_net(), tmp_path))["x"]
    assert data.shape == (2, 1, 3, 16, 16) and data[0].max() == 5 and data[1].min() == 9


def test_wrong_size_array_names_the_file(tmp_path):
    d = tmp_path / "arr"
    d.mkdir()
    np.save(d / "bad.npy", np.zeros(10, np.float32))
    with pytest.raises(CalibrationError, match=r"bad.npy: holds 10 values but input 'x' needs 768"):
        prepare_calibration(_stage({"calibration": {"path": str(d)}}, conv_net(), tmp_path))


def test_random_calibration_is_seeded_rounded_and_clipped(tmp_path):
    stage = _stage({"calibration": {"max_images": 3, "mean": 250, "std": 50}}, conv_net(), tmp_path)
    a = prepare_calibration(stage)["x"]
    b = prepare_calibration(stage)["x"]
    assert a.shape == (3, 1, 3, 16, 16)
    np.testing.assert_array_equal(a, b)
    assert a.max() <= 255 and np.all(a == np.rint(a))


@pytest.mark.parametrize("method, expected_corner", [("RESIZE", 255), ("CROP", 255), ("PAD", 0)])
def test_resize_methods(method, expected_corner):
    img = Image.new("RGB", (40, 20), (255, 255, 255))
    out = resize(img, 16, 16, method)
    assert out.size == (16, 16)
    assert np.asarray(out)[0, 0, 0] == expected_corner


def test_empty_missing_and_unreadable_directories(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("x")
    with pytest.raises(CalibrationError, match=r"holds no calibration files"):
        prepare_calibration(_stage({"calibration": {"path": str(empty)}}, conv_net(), tmp_path))
    with pytest.raises(CalibrationError, match=r"does not exist"):
        prepare_calibration(_stage({"calibration": {"path": str(tmp_path / "nope")}}, conv_net(), tmp_path))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.png").write_bytes(b"not a png")
    with pytest.raises(CalibrationError, match=r"x.png: not a readable image"):
        prepare_calibration(_stage({"calibration": {"path": str(broken)}}, conv_net(), tmp_path))
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0)
        with pytest.raises(CalibrationError, match="permission denied"):
            prepare_calibration(_stage({"calibration": {"path": str(locked)}}, conv_net(), tmp_path))


# --------------------------------------------------------------------------- linked calibration


def _linked_spec(calibration, shape=(1, 8)):
    from edgeconv.config.resolved import ResolvedInput

    return ResolvedInput("pooled", list(shape), "NC", "float32", "NONE", "NONE", None, None, None, calibration, True)


def test_linked_output_and_script_give_one_sample_per_upstream_sample():
    from edgeconv.link_calibration import linked_calibration

    feat = np.random.default_rng(0).random((5, 1, 8, 4, 4)).astype(np.float32)
    by_output = linked_calibration(_linked_spec({"kind": "link", "stage": "bb", "output": "feat"}, (1, 8, 4, 4)), {"feat": feat})
    assert np.array_equal(by_output, feat)
    script = "import numpy as np\ndef run_script(outputs):\n    return outputs['feat'].mean(axis=(2, 3))\n"
    pooled = linked_calibration(_linked_spec({"kind": "link", "stage": "bb", "script": script}), {"feat": feat})
    assert pooled.shape == (5, 1, 8)
    assert np.allclose(pooled, feat.mean(axis=(3, 4)))


def test_linked_calibration_errors_name_the_input_and_the_shapes():
    from edgeconv.errors import CalibrationError
    from edgeconv.link_calibration import ScriptError, linked_calibration

    feat = np.zeros((2, 1, 8, 4, 4), np.float32)
    with pytest.raises(CalibrationError, match=r"input 'pooled': output 'feat' of stage 'bb' has shape \[1, 8, 4, 4\] .* input is \[1, 8\]"):
        linked_calibration(_linked_spec({"kind": "link", "stage": "bb", "output": "feat"}), {"feat": feat})
    with pytest.raises(CalibrationError, match="stage 'bb' produced no output 'logits'; it produced: feat"):
        linked_calibration(_linked_spec({"kind": "link", "stage": "bb", "output": "logits"}), {"feat": feat})
    bad = "def run_script(outputs):\n    return outputs['nope']\n"
    with pytest.raises(ScriptError, match="the calibration script failed on sample 0 of stage 'bb': KeyError"):
        linked_calibration(_linked_spec({"kind": "link", "stage": "bb", "script": bad}), {"feat": feat})


def test_calibration_is_stored_compactly_and_read_back_exactly(tmp_path):
    """Whole-number samples in 0..255 (images, random or not) are stored as uint8, compressed; the
    values and dtype come back as they were. Anything else is stored as it is."""
    from edgeconv.arrays import load_npz, save_npz

    rng = np.random.default_rng(0)
    data = {
        "image": np.rint(np.clip(rng.normal(127.5, 35, (20, 3, 64, 64)), 0, 255)).astype(np.float32),
        "features": rng.standard_normal((20, 16)).astype(np.float32),
        "tokens": rng.integers(0, 1000, (20, 8)).astype(np.int64),
    }
    save_npz(tmp_path / "c.npz", data, compact=True)
    back = load_npz(tmp_path / "c.npz")
    assert set(back) == set(data)
    for name, arr in data.items():
        assert back[name].dtype == arr.dtype and np.array_equal(back[name], arr), name
    save_npz(tmp_path / "plain.npz", {"image": data["image"]})
    assert (tmp_path / "c.npz").stat().st_size < (tmp_path / "plain.npz").stat().st_size / 4


def test_random_calibration_is_kept_as_its_recipe_and_drawn_again_exactly(tmp_path):
    """An array its recipe draws exactly is stored as the recipe (bytes, not megabytes) and comes
    back identical, in the order saved; an array the recipe does not draw (sliced, changed) is
    stored as it is."""
    from edgeconv.arrays import RANDOM, load_npz, random_samples, save_npz

    recipe = {"seed": 3, "shape": [20, 3, 128, 128], "mean": 127.5, "std": 35.0, "min": 0.0, "max": 255.0,
              "round": True, "dtype": "<f4"}
    tokens = {"seed": 0, "shape": [20, 8], "mean": 60.0, "std": 30.0, "min": 0, "max": 125, "round": True, "dtype": "<i8"}
    drawn = random_samples(recipe)
    data = {"tokens": random_samples(tokens), "image": drawn, "edited": drawn.copy()}
    data["edited"][0, 0, 0, 0] += 1
    save_npz(tmp_path / "c.npz", data, compact=True, recipes={"image": recipe, "tokens": tokens, "edited": recipe})
    with np.load(tmp_path / "c.npz") as npz:
        assert sorted(npz.files) == sorted([RANDOM + "image", RANDOM + "tokens", "edited", "__dtype__edited"])
    back = load_npz(tmp_path / "c.npz")
    assert list(back) == ["tokens", "image", "edited"]
    for name, arr in data.items():
        assert back[name].dtype == arr.dtype and np.array_equal(back[name], arr), name
    # Only the edited copy is stored (as uint8: a quarter of its float32 bytes); the drawn image is not.
    assert (tmp_path / "c.npz").stat().st_size < 1.1 * drawn.nbytes / 4


def test_random_calibration_of_a_stage_is_its_recipe(tmp_path):
    """prepare_calibration's random samples for an input are what its recipe draws."""
    from edgeconv.arrays import random_samples
    from edgeconv.config.resolved import ResolvedInput
    from edgeconv.steps.prepare_calibration import _random, random_recipe

    cal = {"kind": "random", "max_images": 4, "mean": 127.5, "std": 35.0, "min_value": 0, "max_value": 255, "seed": 7}
    spec = ResolvedInput("x", [1, 3, 8, 8], "NCHW", "float32", "RGB", "RGB", None, None, None, cal, True)
    assert np.array_equal(_random(spec, cal), random_samples(random_recipe(spec, cal)))
    assert random_recipe(spec, cal)["seed"] == 7 and random_recipe(spec, cal)["shape"] == [4, 1, 3, 8, 8]
