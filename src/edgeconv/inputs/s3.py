"""``s3://bucket/key`` in S3-compatible storage (AWS S3, MinIO, Ceph; :mod:`edgeconv.remote` talks to
it): an object (a model, a script, an encodings file, an archive of calibration images) or a prefix
of calibration files. Looked up at parse time (HEAD or LIST), so a missing object or bucket, denied
access or an unreachable endpoint stops the run naming the key, the URL and the endpoint. Version:
the objects' ETags and sizes. Uploads (``output_remote_url``) go to s3:// too; their buckets are
checked at parse time, once each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeconv import layout
from edgeconv.calibration_files import ARRAY_SUFFIXES, IMAGE_SUFFIXES
from edgeconv.errors import InputError
from edgeconv.inputs.base import Made, UrlKind, Where


class S3Objects(UrlKind):
    scheme = "s3://"

    def __init__(self) -> None:
        super().__init__()
        self._checked_buckets: set[str] = set()

    def look_up(self, url: str) -> str:
        from edgeconv import remote

        listing = remote.look_up(url)
        if listing.is_prefix:
            raise InputError(f"{url} is a prefix, not an object; name the file")
        return listing.version

    def download(self, url: str, dest: Path, version: str) -> list[dict[str, Any]]:
        from edgeconv import remote

        return [{"tool": "boto3", "call": "download_file", "endpoint": remote.endpoint(), **f}
                for f in remote.download(url, dest, version)]

    def images(self, url: str, where: Where) -> str:
        """A prefix of calibration files: each fetched on its own (so one changed file is the one
        downloaded again); the directory they land in."""
        from edgeconv import remote

        bucket, key = remote.split(url)
        prefix_key = key if key.endswith("/") or key == "" else key + "/"
        prefix = f"{self.scheme}{bucket}/{prefix_key}"
        try:
            listing = remote.look_up(prefix)
        except InputError as exc:
            raise where.error(str(exc)) from None
        suffixes = IMAGE_SUFFIXES | ARRAY_SUFFIXES
        files = [(k, etag, size) for k, etag, size in listing.objects
                 if Path(k).suffix.lower() in suffixes and "/" not in k[len(prefix_key):]]
        if not files:
            raise where.error(f"{prefix} holds no calibration files ({', '.join(sorted(suffixes))}) directly under it")
        for k, etag, size in files:
            one = f"{self.scheme}{bucket}/{k}"
            version = remote.Listing(one, ((k, etag, size),)).version
            self.made[layout.remote_copy(one)] = Made("fetch_remote", {"url": one, "version": version})
        directory = layout.remote_copy(prefix)
        self.made[directory] = Made("fetch_remote", files=tuple(sorted(layout.remote_copy(f"{self.scheme}{bucket}/{k}")
                                                                         for k, _, _ in files)))
        return directory

    def check_upload(self, url: str, where: Where) -> None:
        """The bucket that receives the artifacts exists and can be reached (once per URL)."""
        from edgeconv import remote

        if url in self._checked_buckets:
            return
        try:
            remote.check_bucket(url)
        except InputError as exc:
            raise where.error(str(exc)) from None
        self._checked_buckets.add(url)

    def hint(self, scheme: str) -> str:
        if scheme == "gs":
            return ("Google Cloud Storage is S3-compatible: give s3://<bucket>/<key> with "
                    "AWS_ENDPOINT_URL=https://storage.googleapis.com and an HMAC key as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
        return ""
