"""Objects in S3-compatible storage (AWS S3, MinIO, Ceph, ...) as inputs and outputs.

``s3://bucket/key`` URLs in a config are looked up while Snakemake parses the workflow (one HEAD or
LIST per URL), so a missing object or bucket, denied access or an unreachable endpoint stops the run
before any job, with the full URL and the endpoint in the message. The lookup gives each URL a
version (the objects' ETags and sizes): a rule's parameter, so a changed object is downloaded again
and reruns what depends on it, and an unchanged one is not downloaded again.

Endpoint and credentials come from boto3's own configuration: ``AWS_ENDPOINT_URL`` (or
``AWS_ENDPOINT_URL_S3``), ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE`` and
``~/.aws/config``, ``AWS_DEFAULT_REGION``. Nothing here names a provider.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from edgeconv.errors import InputError
from edgeconv.records import file_sha256

SCHEME = "s3://"


class RemoteError(InputError):
    """A remote object that cannot be had: the message names the URL, the endpoint and what to check."""


def is_remote(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SCHEME)


def split(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key); the key may be empty (a whole bucket) or end in ``/``."""
    if not is_remote(url):
        raise RemoteError(f"{url}: not an s3:// URL")
    bucket, _, key = url[len(SCHEME):].partition("/")
    if not bucket or "/" in bucket or any(part in ("..", ".") for part in key.split("/")):
        raise RemoteError(f"{url}: not an s3://<bucket>/<key> URL; check the bucket and key")
    return bucket, key


def endpoint() -> str:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or "AWS S3 (no AWS_ENDPOINT_URL set)"


@lru_cache(maxsize=1)
def client() -> Any:
    import boto3
    from botocore.config import Config

    # Few retries: an unreachable endpoint should be reported in seconds, not minutes.
    return boto3.session.Session().client(
        "s3", config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=60)
    )


def _explain(url: str, exc: Exception) -> RemoteError:
    """One line for what went wrong with ``url``: the URL, the endpoint, what to check."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    where = f"(endpoint {endpoint()})"
    if isinstance(exc, EndpointConnectionError) or type(exc).__name__ in ("ConnectTimeoutError", "ReadTimeoutError"):
        return RemoteError(f"{url}: cannot reach the storage {where}; check AWS_ENDPOINT_URL and the network")
    if isinstance(exc, NoCredentialsError):
        return RemoteError(f"{url}: no credentials {where}; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE")
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("NoSuchBucket",):
            return RemoteError(f"{url}: no such bucket {where}; check the bucket name and AWS_ENDPOINT_URL")
        if code in ("404", "NoSuchKey", "NotFound"):
            return RemoteError(f"{url}: no such object {where}; check the key (paths are case-sensitive)")
        if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled"):
            return RemoteError(f"{url}: access denied {where}; check the credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE) "
                               "and the bucket's policy")
        return RemoteError(f"{url}: {code or type(exc).__name__} {where}: {str(exc).splitlines()[0]}")
    return RemoteError(f"{url}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} {where}")


def _bucket_exists(bucket: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        client().head_bucket(Bucket=bucket)
        return True
    except ClientError as exc:
        return str(exc.response.get("Error", {}).get("Code", "")) not in ("404", "NoSuchBucket", "NotFound")


@dataclass(frozen=True)
class Listing:
    """What a URL names now: one object, or every object under a prefix (``key`` ends in ``/``)."""

    url: str
    objects: tuple[tuple[str, str, int], ...]  # (key, etag, size)

    @property
    def version(self) -> str:
        """Changes when any object changes (ETag or size), is added or is removed."""
        return hashlib.sha256(json.dumps(self.objects).encode()).hexdigest()[:16]

    @property
    def is_prefix(self) -> bool:
        return split(self.url)[1].endswith("/") or split(self.url)[1] == ""


_LISTINGS: dict[str, Listing] = {}


def look_up(url: str) -> Listing:
    """HEAD the object (or LIST the prefix) once per process; raise RemoteError when it cannot be had."""
    if url in _LISTINGS:
        return _LISTINGS[url]
    bucket, key = split(url)
    try:
        if key and not key.endswith("/"):
            head = client().head_object(Bucket=bucket, Key=key)
            objects: tuple[tuple[str, str, int], ...] = ((key, head["ETag"].strip('"'), int(head["ContentLength"])),)
        else:
            found = []
            for page in client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
                found += [(o["Key"], o["ETag"].strip('"'), int(o["Size"])) for o in page.get("Contents", [])
                          if not o["Key"].endswith("/")]
            if not found:
                raise RemoteError(f"{url}: no objects under this prefix (endpoint {endpoint()}); check the prefix")
            objects = tuple(sorted(found))
    except RemoteError:
        raise
    except Exception as exc:
        error = _explain(url, exc)
        if "no such object" in str(error) and not _bucket_exists(bucket):
            error = RemoteError(f"{url}: no such bucket (endpoint {endpoint()}); check the bucket name and AWS_ENDPOINT_URL")
        raise error from None
    _LISTINGS[url] = listing = Listing(url, objects)
    return listing


def download(url: str, dest: Path, version: str | None = None) -> list[dict[str, Any]]:
    """Download the object (to ``dest``) or the prefix (into the directory ``dest``), each file
    through a temporary name, and return what was fetched: key, ETag, size and sha256 of each.

    ``version`` is the listing the run was planned with: an object that changed since is refused
    rather than mixed in."""
    listing = look_up(url)
    if version is not None and listing.version != version:
        raise RemoteError(f"{url}: changed since the run was planned; run again")
    bucket, key = split(url)
    fetched = []
    for obj_key, etag, size in listing.objects:
        target = dest / obj_key[len(key):] if listing.is_prefix else dest
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.part")
        try:
            client().download_file(bucket, obj_key, str(tmp))
            if tmp.stat().st_size != size:
                raise RemoteError(f"{SCHEME}{bucket}/{obj_key}: got {tmp.stat().st_size} bytes, expected {size}; run again")
            digest = file_sha256(tmp)
            os.replace(tmp, target)
        except RemoteError:
            raise
        except Exception as exc:
            raise _explain(f"{SCHEME}{bucket}/{obj_key}", exc) from None
        finally:
            tmp.unlink(missing_ok=True)
        fetched.append({"url": f"{SCHEME}{bucket}/{obj_key}", "etag": etag, "bytes": size, "sha256": digest,
                        "path": str(target)})
    return fetched


def check_bucket(url: str) -> None:
    """Whether the bucket of an upload URL can be had: raise RemoteError when not."""
    bucket, _ = split(url)
    try:
        client().head_bucket(Bucket=bucket)
    except Exception as exc:
        error = _explain(url, exc)
        if "no such object" in str(error):
            error = RemoteError(f"{url}: no such bucket (endpoint {endpoint()}); check the bucket name and AWS_ENDPOINT_URL")
        raise error from None


def upload(files: list[Path], url: str, names: list[str] | None = None) -> list[dict[str, Any]]:
    """Put each file under the prefix ``url`` (``s3://bucket/prefix/``), by its name or the one
    ``names`` gives it; return URL, ETag, size and sha256 of each."""
    bucket, prefix = split(url)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    sent = []
    for f, name in zip(files, names or [f.name for f in files]):
        key = f"{prefix}{name}"
        try:
            client().upload_file(str(f), bucket, key)
            etag = client().head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
        except Exception as exc:
            raise _explain(f"{SCHEME}{bucket}/{key}", exc) from None
        sent.append({"url": f"{SCHEME}{bucket}/{key}", "etag": etag, "bytes": f.stat().st_size,
                     "sha256": file_sha256(f)})
    return sent
