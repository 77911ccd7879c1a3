"""edgeconv.isolated: a vendor library's call in a process of its own (the HTP compile step)."""

import time

import pytest

from edgeconv import isolated
from edgeconv.errors import ConversionError


def test_the_answer_comes_back_and_a_conversion_error_keeps_its_words(tmp_path):
    assert isolated.call("os.path:join", "join", 60, "a", "b") == "a/b"
    missing = tmp_path / "m.onnx"
    with pytest.raises(ConversionError, match=rf"^{missing}: model file not found; check `input_model`"):
        isolated.call("edgeconv.onnx_io:load_onnx", "load", 60, str(missing))


def test_a_crash_is_named_with_its_signal():
    with pytest.raises(ConversionError, match=r"^onnxruntime-qnn \(HTP compile\) was killed by SIGABRT \(signal 6\): the tool crashed"):
        isolated.call("os:abort", "onnxruntime-qnn (HTP compile)", 60)


def test_a_call_past_its_limit_is_stopped():
    started = time.monotonic()
    with pytest.raises(ConversionError, match=r"^onnxruntime-qnn \(HTP compile\) did not finish within 2 s and was stopped$"):
        isolated.call("time:sleep", "onnxruntime-qnn (HTP compile)", 2, 600)
    assert time.monotonic() - started < 20


def test_another_exception_is_reported_with_its_type():
    with pytest.raises(ConversionError, match=r"^unexpected JSONDecodeError in json:loads: Expecting property name"):
        isolated.call("json:loads", "json", 60, "{not json")
