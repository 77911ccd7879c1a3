"""s3:// URLs: what is accepted, and the one-line errors for what cannot be had."""

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from edgeconv import layout
from edgeconv.remote import Listing, RemoteError, _explain, split


@pytest.mark.parametrize("url, parts", [
    ("s3://bucket/a/b.onnx", ("bucket", "a/b.onnx")),
    ("s3://bucket/prefix/", ("bucket", "prefix/")),
    ("s3://bucket", ("bucket", "")),
])
def test_urls_split_into_bucket_and_key(url, parts):
    assert split(url) == parts


@pytest.mark.parametrize("url", ["s3://", "s3:///key", "s3://b/../etc/passwd", "s3://b/./x", "gs://b/k"])
def test_bad_urls_are_refused(url):
    with pytest.raises(RemoteError, match="URL"):
        split(url)


def test_mirror_paths_follow_bucket_and_key():
    assert layout.remote_copy("s3://b/models/m.onnx") == "results/remote/s3/b/models/m.onnx"
    assert layout.remote_copy("s3://b/frames/") == "results/remote/s3/b/frames"
    assert layout.remote_extracted("s3://b/c.zip") == "results/remote/extracted/s3/b/c.zip"
    assert layout.remote_record("results/remote/s3/b/m.onnx") == "results/remote/records/s3/b/m.onnx.json"
    assert layout.records_dir_of("results/remote/s3/b/m.onnx") == layout.Path("results/remote/records/s3/b")


def _client_error(code):
    return ClientError({"Error": {"Code": code, "Message": "x"}}, "HeadObject")


@pytest.mark.parametrize("exc, said", [
    (_client_error("404"), "no such object (endpoint http://s3.test:9000); check the key"),
    (_client_error("NoSuchBucket"), "no such bucket (endpoint http://s3.test:9000)"),
    (_client_error("403"), "access denied (endpoint http://s3.test:9000); check the credentials"),
    (_client_error("InvalidAccessKeyId"), "access denied"),
    (EndpointConnectionError(endpoint_url="http://s3.test:9000"), "cannot reach the storage (endpoint http://s3.test:9000)"),
    (NoCredentialsError(), "no credentials (endpoint http://s3.test:9000); set AWS_ACCESS_KEY_ID"),
])
def test_errors_name_the_url_the_endpoint_and_what_to_check(monkeypatch, exc, said):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://s3.test:9000")
    message = str(_explain("s3://b/k.onnx", exc))
    assert message.startswith("s3://b/k.onnx: ") and said in message and "\n" not in message


def test_a_listing_version_changes_with_any_object():
    a = Listing("s3://b/p/", (("p/a.png", "e1", 10), ("p/b.png", "e2", 20)))
    assert a.version == Listing("s3://b/p/", (("p/a.png", "e1", 10), ("p/b.png", "e2", 20))).version
    assert a.version != Listing("s3://b/p/", (("p/a.png", "e1", 10), ("p/b.png", "e3", 20))).version
    assert a.version != Listing("s3://b/p/", (("p/a.png", "e1", 10),)).version
    assert a.is_prefix and not Listing("s3://b/p/a.png", (("p/a.png", "e1", 10),)).is_prefix


def test_an_s3_key_keeps_its_question_marks_and_hashes_and_an_https_query_gets_its_own_directory():
    # In an s3:// key, '?' and '#' are characters of the key: two such objects never share a mirror.
    assert layout.remote_copy("s3://b/frames/a#1.png") == "results/remote/s3/b/frames/a#1.png"
    assert layout.remote_copy("s3://b/frames/a#2.png") == "results/remote/s3/b/frames/a#2.png"
    assert layout.remote_copy("s3://b/frames/a?x.png") == "results/remote/s3/b/frames/a?x.png"
    # An https:// query names another file at the same path; the fragment is never sent; credentials stay out.
    one, two = layout.remote_copy("https://h/dl/m.onnx?v=1"), layout.remote_copy("https://h/dl/m.onnx?v=2#top")
    assert one != two and one.endswith("/m.onnx") and one.startswith("results/remote/https/h/dl/q")
    assert layout.remote_copy("https://user:secret@h:8443/m.onnx") == "results/remote/https/h_8443/m.onnx"
