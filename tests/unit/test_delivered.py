"""The table that ends `make demo` and `edgeconv convert`: what was published, and how it checked."""

import json

from edgeconv.delivered import NEXT, rows, table


def _info(path, artifact, cosine, steps, resolved=None, verified=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "artifact": {artifact: "0" * 64}, "resolved_config": resolved or {},
        "verification": {"artifact": verified or artifact, "outputs": {"out": {"cosine": cosine}, "aux": {"cosine": 1.0}}},
        "steps": [{"step": s, "duration_s": d} for s, d in steps],
    }))


def test_one_row_per_published_artifact_with_its_check_and_time(tmp_path):
    results = tmp_path / "results"
    _info(results / "openvino" / "m.buildinfo.json", "results/openvino/m.xml", 0.999912, [("a", 1.2), ("b", 2.0)],
          {"convert_ir": {"compress_to_fp16": True}})
    _info(results / "openvino" / "m.int8.buildinfo.json", "results/openvino/m.int8.xml", 0.98765, [("q", 10.4)])
    _info(results / "rvc2" / "m.superblob.buildinfo.json", "results/rvc2/m.superblob", 0.99999, [("c", 5.5)],
          verified="results/intermediate/m/rvc2/m.xml")
    (results / "intermediate" / "m").mkdir(parents=True)
    found = rows(results)
    assert [(r["artifact"], r["target"], r["precision"], r["check"], r["seconds"]) for r in found] == [
        ("results/openvino/m.xml", "openvino", "FP16", "cosine 0.99991", "3"),
        ("results/openvino/m.int8.xml", "openvino", "INT8", "cosine 0.98765", "10"),
        ("results/rvc2/m.superblob", "rvc2", "FP16", "cosine 0.99999 (IR)", "6"),
    ]
    assert rows(results, target="rvc2", units=["m"])[0]["artifact"] == "results/rvc2/m.superblob"
    text = table(found)
    assert text.splitlines()[0].split() == ["artifact", "target", "precision", "check", "seconds"]
    assert "snakemake --report report.html" in NEXT and "edgeconv convert <target> --path" in NEXT
    assert "no published artifacts" in table([])
