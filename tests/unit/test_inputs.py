"""The kinds of input (src/edgeconv/inputs/): which kind claims a value, what local path it
becomes and which rule makes it, and the errors for what no kind takes."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeconv import layout
from edgeconv.errors import ConfigError, InputError
from edgeconv.inputs.base import FILE, IMAGES, MODEL, UrlKind, Where
from edgeconv.inputs.localize import Inputs
from edgeconv.inputs.table import KINDS, url_kind


class Counted(UrlKind):
    """A URL kind whose look-ups are counted (no network)."""

    scheme = "test://"

    def __init__(self) -> None:
        super().__init__()
        self.looked_up: list[str] = []

    def look_up(self, url: str) -> str:
        self.looked_up.append(url)
        if "missing" in url:
            raise InputError(f"{url}: no such file; check the URL")
        return f"v-{url[-5:]}"


def _where(tmp_path: Path, key: str = "input_model", config_dir: Path | None = None) -> Where:
    return Where("config/models/m.yaml", key, config_dir, tmp_path, tmp_path / "models")


def test_a_url_is_looked_up_once_per_parse_and_becomes_its_mirror_made_by_fetch_remote(tmp_path):
    kind = Counted()
    where = _where(tmp_path, "calibration.path")
    a = kind.localize("test://host/data/calib.zip", IMAGES, where)
    b = kind.localize("test://host/data/calib.zip", IMAGES, where)  # a second model naming it
    assert a == b == layout.remote_extracted("test://host/data/calib.zip") == "results/remote/extracted/test/host/data/calib.zip"
    assert kind.looked_up == ["test://host/data/calib.zip"]
    mirror = "results/remote/test/host/data/calib.zip"
    assert kind.made[mirror].rule == "fetch_remote"
    assert kind.made[mirror].params == {"url": "test://host/data/calib.zip", "version": "v-b.zip"}
    assert kind.made[a].rule == "extract_calibration" and kind.made[a].directory


def test_a_url_that_cannot_be_had_names_the_config_the_key_and_the_url(tmp_path):
    with pytest.raises(ConfigError) as exc:
        Counted().localize("test://host/missing.onnx", MODEL, _where(tmp_path))
    assert str(exc.value) == "config/models/m.yaml: input_model: test://host/missing.onnx: no such file; check the URL"


def test_images_by_url_must_be_an_archive_where_the_kind_cannot_list(tmp_path):
    with pytest.raises(ConfigError, match=r"calibration.path: test://host/frames/: give an archive of the images \(.zip"):
        Counted().localize("test://host/frames/", IMAGES, _where(tmp_path, "calibration.path"))


def test_the_table_claims_urls_by_scheme_a_dataset_split_only_when_no_such_path_exists_and_the_rest_as_paths(tmp_path):
    inputs = Inputs()
    where = _where(tmp_path, "calibration.path")
    claimant = {v: next(type(k).__name__ for k in inputs.kinds if k.claims(v, IMAGES, where))
                for v in ("s3://b/k.zip", "https://h/k.zip", "coco:train", "data/images")}
    assert claimant == {"s3://b/k.zip": "S3Objects", "https://h/k.zip": "HttpsObjects",
                        "coco:train": "LdfSplits", "data/images": "LocalPaths"}
    (tmp_path / "coco:train").mkdir()  # a directory of that name wins over the dataset
    assert next(type(k).__name__ for k in inputs.kinds if k.claims("coco:train", IMAGES, where)) == "LocalPaths"
    assert not any(type(k).__name__ == "LdfSplits" and k.claims("coco:train", MODEL, where) for k in inputs.kinds)


def test_no_kind_takes_an_unknown_scheme_and_the_error_says_what_to_do(tmp_path):
    inputs = Inputs()
    with pytest.raises(ConfigError) as exc:
        inputs.localize("gs://b/m.onnx", MODEL, _where(tmp_path))
    assert str(exc.value).startswith("config/models/m.yaml: input_model: gs://b/m.onnx: gs:// URLs are not fetched, only s3://, https://; ")
    assert "AWS_ENDPOINT_URL=https://storage.googleapis.com" in str(exc.value)
    with pytest.raises(ConfigError, match=r"ftp:// URLs are not fetched, .*; download it and give the local path"):
        inputs.localize("ftp://h/m.onnx", FILE, _where(tmp_path))
    with pytest.raises(ConfigError, match=r"output_remote_url: https://h/out: only s3:// URLs can receive uploads"):
        inputs.check_upload("https://h/out", _where(tmp_path, "output_remote_url"))


def test_a_relative_path_is_the_projects_else_beside_the_config(tmp_path):
    (tmp_path / "cfgs").mkdir()
    (tmp_path / "cfgs" / "net.onnx").write_bytes(b"x")
    inputs = Inputs()
    assert inputs.localize("net.onnx", MODEL, _where(tmp_path, config_dir=tmp_path / "cfgs")) == "cfgs/net.onnx"
    (tmp_path / "net.onnx").write_bytes(b"x")  # the project's own file wins
    assert inputs.localize("net.onnx", MODEL, _where(tmp_path, config_dir=tmp_path / "cfgs")) == "net.onnx"
    assert inputs.made("net.onnx") is None  # the user's file: no rule makes it


def test_a_model_name_finds_an_existing_file_first_then_a_demo_model(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    inputs = Inputs()
    kind, path = inputs.find(models, "ppocr_det")
    assert (type(kind).__name__, path) == ("DemoModels", models / "ppocr_det.onnx")  # fetched by a rule
    (models / "ppocr_det.tar.xz").write_bytes(b"x")
    kind, path = inputs.find(models, "ppocr_det")
    assert (type(kind).__name__, path) == ("NnArchives", models / "ppocr_det.tar.xz")  # a file that exists wins
    (models / "ppocr_det.onnx").write_bytes(b"x")
    assert inputs.find(models, "ppocr_det")[1] == models / "ppocr_det.onnx"
    assert inputs.find(models, "nothing") is None


def test_url_kind_gives_a_new_fetcher_per_scheme():
    assert type(url_kind("s3://b/k")).__name__ == "S3Objects"
    assert type(url_kind("https://h/k")).__name__ == "HttpsObjects"
    assert url_kind("http://h/k") is None and url_kind("gs://b/k") is None
    assert [k.__name__ for k in KINDS][-2:] == ["LocalPaths", "NnArchives"]  # paths after every URL and form
