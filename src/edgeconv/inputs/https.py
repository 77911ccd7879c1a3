"""``https://host/path/file``: a model, a calibration archive (``.zip``, ``.tar.*``), a script, an
encodings file, or (``edgeconv convert --path``) a config or an NN Archive on a web server. Looked
up at parse time with one HEAD request, so a missing file, denied access, an untrusted certificate
or an unreachable host stops the run naming the key and the URL. Version: the server's ETag, else
its Last-Modified, with the size; a file served with neither is fetched once and not again (a
note says so). Certificates are checked against the system's CAs (``SSL_CERT_FILE`` names
another bundle). No credentials are sent: a file behind a login cannot be had this way."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from edgeconv.errors import InputError
from edgeconv.inputs.base import UrlKind

TIMEOUT_S = 30
CHUNK = 1 << 20


def _open(url: str, method: str) -> Any:
    """The response to ``method`` on ``url``; raise InputError with one line for what failed."""
    request = urllib.request.Request(url, method=method, headers={"Accept-Encoding": "identity",
                                                                  "User-Agent": "edgeconv"})
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_S, context=ssl.create_default_context())
    except urllib.error.HTTPError as exc:
        if exc.code == 404 or exc.code == 410:
            raise InputError(f"{url}: no such file (HTTP {exc.code}); check the URL (paths are case-sensitive)") from None
        if exc.code in (401, 403):
            raise InputError(f"{url}: access denied (HTTP {exc.code}); give a URL that needs no login, "
                             "or download the file and give its path") from None
        raise InputError(f"{url}: the server answered HTTP {exc.code} {exc.reason}; check the URL") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise InputError(f"{url}: the server's certificate is not trusted ({reason.verify_message}); "
                             "set SSL_CERT_FILE to a CA bundle that holds its issuer") from None
        raise InputError(f"{url}: cannot reach the server ({reason}); check the URL and the network") from None
    except (TimeoutError, OSError) as exc:
        raise InputError(f"{url}: cannot reach the server ({exc}); check the URL and the network") from None


def _version(url: str, headers: Any) -> str:
    etag, modified, size = headers.get("ETag"), headers.get("Last-Modified"), headers.get("Content-Length")
    if etag is None and modified is None:
        print(f"note: {url} is served without ETag or Last-Modified: a change to it is not noticed; "
              "delete its copy under results/remote/https/ to fetch it again", file=sys.stderr)
    return hashlib.sha256(json.dumps([etag, modified, size]).encode()).hexdigest()[:16]


class HttpsObjects(UrlKind):
    scheme = "https://"

    def look_up(self, url: str) -> str:
        with _open(url, "HEAD") as response:
            return _version(url, response.headers)

    def download(self, url: str, dest: Path, version: str) -> list[dict[str, Any]]:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.part")
        digest, size = hashlib.sha256(), 0
        try:
            with _open(url, "GET") as response:
                if _version(url, response.headers) != version:
                    raise InputError(f"{url}: changed since the run was planned; run again")
                with open(tmp, "wb") as out:
                    while chunk := response.read(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                expected = response.headers.get("Content-Length")
                if expected is not None and int(expected) != size:
                    raise InputError(f"{url}: got {size} bytes, expected {expected}; run again")
                headers = {k: response.headers.get(v) for k, v in (("etag", "ETag"), ("last_modified", "Last-Modified"))}
            os.replace(tmp, dest)
        except (OSError, http.client.HTTPException) as exc:
            raise InputError(f"{url}: download failed ({exc}); run again") from None
        finally:
            tmp.unlink(missing_ok=True)
        return [{"tool": "urllib", "call": "GET", "url": url, **{k: v for k, v in headers.items() if v},
                 "bytes": size, "sha256": digest.hexdigest(), "path": str(dest)}]
