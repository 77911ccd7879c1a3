"""Models, calibration archives and configs given by https:// URLs, against a real HTTPS server on
loopback (http.server with a certificate made for the test and trusted through SSL_CERT_FILE):
download, checks before any job, reruns when the server's ETag changes, and the errors."""

from __future__ import annotations

import datetime
import hashlib
import http.server
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import threading

import pytest

from harness import conv_net_bytes, new_project, planned, snakemake, write_yaml, zipped_images

pytestmark = pytest.mark.workflow


class Files(http.server.BaseHTTPRequestHandler):
    """GET and HEAD of the files in ``files`` (path -> bytes), each with an ETag of its bytes;
    ``hidden`` paths answer 403."""

    files: dict[str, bytes] = {}
    hidden: set[str] = set()
    log: list[tuple[str, str]] = []

    def _head(self) -> bytes | None:
        self.log.append((self.command, self.path))
        if self.path in self.hidden:
            self.send_error(403)
            return None
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return None
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", f'"{hashlib.md5(body).hexdigest()}"')
        self.end_headers()
        return body

    def do_HEAD(self) -> None:
        self._head()

    def do_GET(self) -> None:
        body = self._head()
        if body is not None:
            self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _certificate(directory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    cert, key = _certificate(tmp_path_factory.mktemp("tls"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    httpd.base = f"https://127.0.0.1:{httpd.server_address[1]}"
    httpd.env = {**os.environ, "SSL_CERT_FILE": cert}
    yield httpd
    httpd.shutdown()


def _put(server, path: str, body: bytes) -> str:
    Files.files[path] = body
    return f"{server.base}{path}"


@pytest.fixture(scope="module")
def project(tmp_path_factory, server):
    tmp = tmp_path_factory.mktemp("https")
    model = _put(server, "/zoo/net.onnx", conv_net_bytes(tmp))
    calib = _put(server, "/data/calib.zip", zipped_images(4, seed=0))
    root = new_project(tmp / "project", ["net"])
    write_yaml(root / "config" / "models" / "net.yaml", {
        "input_model": model, "calibration": {"path": calib}, "inputs": [{"name": "x", "encoding": "RGB"}]})
    snakemake(root, env=server.env)
    return root


def test_a_model_and_a_zipped_calibration_set_over_https_convert_and_verify(project, server):
    assert json.loads((project / "results" / "openvino" / "net.int8.verify.json").read_text())["passed"]
    local = project / "results" / "remote" / "https" / f"127.0.0.1_{server.server_address[1]}" / "zoo" / "net.onnx"
    assert local.read_bytes() == Files.files["/zoo/net.onnx"]
    info = json.loads((project / "results" / "openvino" / "net.int8.buildinfo.json").read_text())
    fetched = {c["url"]: c for s in info["steps"] for c in s["tool_calls"] if c.get("tool") == "urllib"}
    assert sorted(fetched) == [f"{server.base}/data/calib.zip", f"{server.base}/zoo/net.onnx"]
    call = fetched[f"{server.base}/zoo/net.onnx"]
    assert call["etag"] == f'"{hashlib.md5(Files.files["/zoo/net.onnx"]).hexdigest()}"'
    assert call["sha256"] == hashlib.sha256(Files.files["/zoo/net.onnx"]).hexdigest()


def test_an_unchanged_file_is_not_fetched_again_and_a_changed_one_reruns_what_reads_it(project, server):
    Files.log.clear()
    assert planned(project, env=server.env) == set()
    assert {m for m, _ in Files.log} == {"HEAD"}  # looked up, not downloaded
    _put(server, "/data/calib.zip", zipped_images(4, seed=1))  # new images: a new ETag
    jobs = {rule for rule, _ in planned(project, env=server.env)}
    assert {"fetch_remote", "extract_calibration", "prepare_calibration", "quantize_ir"} <= jobs
    assert "convert_ir" not in jobs and "simplify" not in jobs  # the model did not change


@pytest.mark.parametrize("path, hidden, said", [
    ("/zoo/missing.onnx", False, "no such file (HTTP 404)"),
    ("/zoo/secret.onnx", True, "access denied (HTTP 403)"),
])
def test_a_missing_or_denied_file_stops_before_any_job(tmp_path, server, path, hidden, said):
    if hidden:
        Files.hidden.add(path)
    root = new_project(tmp_path / "p", ["net"])
    write_yaml(root / "config" / "models" / "net.yaml", {"input_model": f"{server.base}{path}"})
    proc = snakemake(root, check=False, env=server.env)
    assert proc.returncode != 0
    assert f"config/models/net.yaml: input_model: {server.base}{path}: {said}" in proc.stderr
    assert not (root / "results" / "remote").exists()


def test_an_untrusted_certificate_is_named(tmp_path, server):
    root = new_project(tmp_path / "p", ["net"])
    model = _put(server, "/zoo/other.onnx", conv_net_bytes(tmp_path, seed=2))
    write_yaml(root / "config" / "models" / "net.yaml", {"input_model": model})
    env = {k: v for k, v in server.env.items() if k != "SSL_CERT_FILE"}
    proc = snakemake(root, check=False, env=env)
    assert proc.returncode != 0
    assert f"input_model: {model}: the server's certificate is not trusted (" in proc.stderr
    assert "set SSL_CERT_FILE" in proc.stderr


def test_convert_takes_a_config_given_by_https(tmp_path, server):
    """`edgeconv convert openvino --path https://.../cfg.yaml`: the config is copied before the
    parse, the model it names is fetched by the workflow."""
    model = _put(server, "/zoo/cli.onnx", conv_net_bytes(tmp_path, seed=3))
    cfg = _put(server, "/configs/clinet.yaml", f"input_model: {model}\nopenvino:\n  quantize: false\n".encode())
    proc = subprocess.run([sys.executable, "-m", "edgeconv.cli", "convert", "openvino", "--path", cfg,
                           "--output-dir", "out"], cwd=tmp_path, capture_output=True, text=True, env=server.env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clinet.bin", "clinet.buildinfo.json", "clinet.xml"]
