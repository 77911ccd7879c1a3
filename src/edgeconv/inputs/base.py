"""What every kind of input shares: where a value stands in a config (:class:`Where`), how a local
path is made by a rule (:class:`Made`), the base of a kind (:class:`Kind`) and of the kinds
fetched from a URL (:class:`UrlKind`)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeconv import layout
from edgeconv.errors import ConfigError, InputError

# What a value is to the config: a model file (input_model), another file (a calibration script,
# an encodings file), or calibration images (a directory of them, or an archive).
MODEL, FILE, IMAGES = "model", "file", "images"
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(value: str) -> bool:
    return URL.match(value) is not None


@dataclass(frozen=True)
class Where:
    """Where a value stands: the config file errors point at, its dotted key, the directory of the
    config (relative paths are looked for beside it too) and the project's directories."""

    source: str
    key: str
    config_dir: Path | None
    root: Path
    models_dir: Path

    def error(self, message: str) -> ConfigError:
        return ConfigError(self.source, [f"{self.key}: {message}"])


@dataclass(frozen=True)
class Made:
    """A local path a rule makes from an input: the rule, its parameters (the input's version among
    them, so a changed input is fetched again and reruns what reads it), and for a directory of
    objects fetched one by one, its files."""

    rule: str
    params: dict[str, Any] = field(default_factory=dict)
    files: tuple[str, ...] | None = None
    directory: bool = False  # the rule's output is the directory itself


class Kind:
    """One kind of input. ``made`` holds the paths this kind's inputs become, filled while the
    configs are read; the rules ask for them by path."""

    scheme = ""  # the URL scheme this kind fetches ("s3://"), "" for none

    def __init__(self) -> None:
        self.made: dict[str, Made] = {}

    def claims(self, value: str, role: str, where: Where) -> bool:
        """Whether ``value`` is an input of this kind."""
        return False

    def localize(self, value: str, role: str, where: Where) -> str:
        """Look the input up now (what cannot be had stops the run, naming ``where``) and return
        the local path it becomes."""
        raise NotImplementedError

    def find(self, models_dir: Path, model: str) -> Path | None:
        """The file a model name stands for in ``models_dir``, when this kind provides one."""
        return None

    def hint(self, scheme: str) -> str:
        """What to do with a URL of ``scheme``, which no kind fetches (this kind's advice, or "")."""
        return ""


class UrlKind(Kind):
    """Objects named by a URL: looked up at parse time (its version), downloaded once by the
    fetch_remote rule to ``layout.remote_copy(url)``; an archive of calibration images is then
    extracted by extract_calibration."""

    def __init__(self) -> None:
        super().__init__()
        self._versions: dict[str, str] = {}  # one look-up per URL per parse (a zoo shares its calibration set)

    def claims(self, value: str, role: str, where: Where) -> bool:
        return value.startswith(self.scheme)

    def look_up(self, url: str) -> str:
        """The object's version now; raise InputError when it cannot be had."""
        raise NotImplementedError

    def download(self, url: str, dest: Path, version: str) -> list[dict[str, Any]]:
        """Fetch the object to ``dest`` (through a temporary name), refusing it when its version is
        no longer ``version``; return a tool call per file (URL, size, sha256, ...) for the record."""
        raise NotImplementedError

    def images(self, url: str, where: Where) -> str:
        """Calibration images that are not an archive (an s3:// prefix): the directory they land in."""
        raise where.error(f"{url}: give an archive of the images ({', '.join(layout.CALIBRATION_ARCHIVES)})")

    def localize(self, value: str, role: str, where: Where) -> str:
        if role == IMAGES and layout.is_archive(value):
            images = layout.remote_extracted(value)
            self.made[images] = Made("extract_calibration", {"archive": self.mirror(value, where)}, directory=True)
            return images
        if role == IMAGES:
            return self.images(value, where)
        return self.mirror(value, where)

    def mirror(self, url: str, where: Where) -> str:
        local = layout.remote_copy(url)
        self.made[local] = Made("fetch_remote", {"url": url, "version": self.checked(url, where)})
        return local

    def checked(self, url: str, where: Where) -> str:
        if url not in self._versions:
            try:
                self._versions[url] = self.look_up(url)
            except InputError as exc:
                raise where.error(str(exc)) from None
        return self._versions[url]

    def local_copy(self, url: str, dest: Path) -> Path:
        """A copy of one object that must exist before the workflow is parsed (a config or an NN
        Archive given to ``edgeconv convert --path URL``): downloaded when ``dest`` is missing or
        the object changed since (its version is kept beside it), else left as it is."""
        version = self.look_up(url)
        stamp = dest.with_name(f".{dest.name}.version")
        if dest.exists() and stamp.exists() and stamp.read_text().strip() == version:
            return dest
        self.download(url, dest, version)
        tmp = stamp.with_name(stamp.name + ".part")
        tmp.write_text(version + "\n")
        os.replace(tmp, stamp)
        return dest
