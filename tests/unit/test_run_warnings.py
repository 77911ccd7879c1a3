"""The warnings of a run's steps, recapped at its end (src/edgeconv/run_warnings.py): only the step
records this run wrote, the same message of several models on one line."""

import json
import os
import time

from edgeconv.run_warnings import recap, warnings_since


def _record(root, model, step, warnings, age_s=0.0, touched=False):
    path = root / model / "records" / f"{step}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    then = time.time() - age_s
    started = time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(then))
    path.write_text(json.dumps({"step": step, "model": model, "started": started,
                                **({"warnings": warnings} if warnings else {})}))
    if not touched:  # as written then; touched: as `snakemake --touch` leaves it (written then, mtime now)
        os.utime(path, (then, then))


def test_only_the_records_of_this_run_and_one_line_per_message(tmp_path):
    started = time.time()
    for name in ("a", "b", "c", "d", "e"):
        _record(tmp_path, name, "prepare_calibration", ["input 'x' has no calibration data"])
    _record(tmp_path, "a", "simplify", ["onnxsim crashed on this model: SIGSEGV (signal 11); onnxslim used"])
    _record(tmp_path, "a", "convert_ir", [])
    _record(tmp_path, "old", "prepare_calibration", ["from an earlier run"], age_s=3600)
    _record(tmp_path, "touched", "prepare_calibration", ["from an earlier run, touched"], age_s=3600, touched=True)
    (tmp_path / "a" / "records" / "broken.json").write_text("{")
    assert len(warnings_since(tmp_path, started)) == 6
    text = recap(tmp_path, started)
    lines = text.splitlines()
    assert lines[0] == ("edgeconv: 6 warning(s) from the steps of this run "
                        "(each step record keeps its own, under `warnings`):")
    assert lines[1] == "  warning: prepare_calibration (a, b, c and 2 more): input 'x' has no calibration data"
    assert lines[2] == "  warning: simplify (a): onnxsim crashed on this model: SIGSEGV (signal 11); onnxslim used"
    assert len(lines) == 3 and text.endswith("\n") and "earlier run" not in text


def test_no_warnings_print_nothing(tmp_path):
    _record(tmp_path, "a", "convert_ir", [])
    assert recap(tmp_path, time.time() - 60) == ""
    assert recap(tmp_path / "missing", 0) == ""
