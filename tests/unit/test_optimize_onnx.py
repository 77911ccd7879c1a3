"""Each of the six optimizations changes the graph as described, keeps outputs, and is rolled back when it would not."""

import pytest
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgeconv.runtime import random_feeds, run_onnx
from edgeconv.steps import optimize_onnx as opt
from models import conv_net


def _ops(model):
    return [n.op_type for n in model.graph.node]


def _net(pre_nodes, pre_inits, pads=0, post=None):
    """x -> (pre_nodes ending in 'p') -> Conv -> [post] -> out."""
    rng = np.random.default_rng(3)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")
    nodes = list(pre_nodes) + [helper.make_node("Conv", ["p", "w", "b"], ["c"], pads=[pads] * 4)]
    last = "c"
    for i, (op, const) in enumerate(post or []):
        name = f"post{i}"
        pre_inits = list(pre_inits) + [numpy_helper.from_array(const, f"{name}_c")]
        nodes.append(helper.make_node(op, [last, f"{name}_c"], [name]))
        last = name
    nodes.append(helper.make_node("Identity", [last], ["out"]))
    graph = helper.make_graph(
        nodes,
        "t",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
        [w, b, *pre_inits],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def _c(name, values):
    return numpy_helper.from_array(np.asarray(values, np.float32).reshape(1, -1, 1, 1), name)


def _check_same(before, after):
    feeds = random_feeds(before)
    a, b = run_onnx(before, feeds)["out"], run_onnx(after, feeds)["out"]
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-3)


def test_substitutions():
    m = _net(
        [helper.make_node("Sub", ["x", "m"], ["s"]), helper.make_node("Div", ["s", "d"], ["p"])],
        [_c("m", [1, 2, 3]), _c("d", [2, 4, 8])],
    )
    before = onnx.ModelProto()
    before.CopyFrom(m)
    assert opt.substitute_sub_with_add(m) == 1 and opt.substitute_div_with_mul(m) == 1
    assert _ops(m)[:2] == ["Add", "Mul"]
    _check_same(before, m)


def test_fold_scale_and_shift_into_unpadded_conv():
    m = _net(
        [helper.make_node("Add", ["x", "a"], ["s"]), helper.make_node("Mul", ["s", "k"], ["p"])],
        [_c("a", [-1, -2, -3]), _c("k", [0.5, 0.25, 2])],
    )
    before = onnx.ModelProto()
    before.CopyFrom(m)
    assert opt.fuse_comb_add_mul_to_conv(m) == 1
    assert _ops(m) == ["Conv", "Identity"]
    _check_same(before, m)


def test_single_mul_folds_but_add_is_not_folded_into_padded_conv():
    m = _net([helper.make_node("Mul", ["x", "k"], ["p"])], [_c("k", [0.5, 0.25, 2])], pads=1)
    before = onnx.ModelProto()
    before.CopyFrom(m)
    assert opt.fuse_single_add_mul_to_conv(m) == 1 and _ops(m) == ["Conv", "Identity"]
    _check_same(before, m)
    padded_add = _net([helper.make_node("Add", ["x", "a"], ["p"])], [_c("a", [1, 2, 3])], pads=1)
    assert opt.fuse_single_add_mul_to_conv(padded_add) == 0


def test_split_concat_reversal_folds_into_conv_weights():
    split = numpy_helper.from_array(np.array([1, 1, 1], np.int64), "split")
    m = _net(
        [
            helper.make_node("Split", ["x", "split"], ["c0", "c1", "c2"], axis=1),
            helper.make_node("Concat", ["c2", "c1", "c0"], ["p"], axis=1),
        ],
        [split],
    )
    before = onnx.ModelProto()
    before.CopyFrom(m)
    assert opt.fuse_split_concat_to_conv(m) == 1 and _ops(m) == ["Conv", "Identity"]
    _check_same(before, m)


def test_mul_add_after_conv_become_batchnorm():
    m = _net(
        [helper.make_node("Identity", ["x"], ["p"])],
        [],
        post=[("Mul", np.array([1, 2, 3, 4], np.float32).reshape(1, 4, 1, 1)), ("Add", np.array([0.5], np.float32))],
    )
    before = onnx.ModelProto()
    before.CopyFrom(m)
    assert opt.fuse_add_mul_to_bn(m) == 1
    assert _ops(m) == ["Identity", "Conv", "BatchNormalization", "Identity"]
    _check_same(before, m)


def _doubling(weight):
    """An "optimization" that breaks the model: it doubles one weight and reports one change."""

    def corrupt(m):
        for init in m.graph.initializer:
            if init.name == weight:
                init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 2, weight))
        return 1

    return corrupt


def test_driver_keeps_good_and_rolls_back_bad_optimizations(monkeypatch):
    model = conv_net(constant_nodes=True)
    monkeypatch.setitem(opt.OPTIMIZATIONS, "fuse_add_mul_to_bn", _doubling("w1"))
    result, report = opt.optimize(model, {"substitute_div_with_mul": False}, {"x"})
    status = {r["optimization"]: r["status"] for r in report}
    assert status["substitute_div_with_mul"] == "disabled"
    assert status["fuse_add_mul_to_bn"] == "rolled back"
    assert "outputs changed" in next(r["reason"] for r in report if r["optimization"] == "fuse_add_mul_to_bn")
    feeds = random_feeds(model, {"x"})
    np.testing.assert_allclose(run_onnx(result, feeds)["out"], run_onnx(model, feeds)["out"], rtol=1e-5)


def test_model_that_cannot_run_on_random_inputs_is_left_unchanged():
    # Gather with int64 indices from the input: random indices may be out of range. The Sub would
    # become an Add, but without a reference run that cannot be checked.
    table = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "table")
    c = numpy_helper.from_array(np.ones(3, dtype=np.float32), "c")
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "idx"], ["g"]), helper.make_node("Sub", ["g", "c"], ["out"])],
        "g",
        [helper.make_tensor_value_info("idx", TensorProto.INT64, [4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [4, 3])],
        [table, c],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    result, report = opt.optimize(model, {}, set())
    assert {r["status"] for r in report} == {"skipped"}
    assert "does not run on random inputs" in report[0]["reason"]
    assert [n.op_type for n in result.graph.node] == ["Gather", "Sub"]


def test_no_match_runs_nothing(monkeypatch):
    """When no optimization applies there is nothing to check: onnxruntime is not started."""
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    monkeypatch.setattr(opt, "run_onnx", lambda *a, **k: pytest.fail("onnxruntime ran for a model nothing changed"))
    result, report = opt.optimize(model, {}, set())
    assert {r["status"] for r in report} == {"no match"}
    assert result.graph == model.graph


def test_optimizations_that_keep_the_outputs_cost_two_runs(monkeypatch):
    """The reference run and one check of all optimizations together; each alone only on failure."""
    runs = []
    real = opt.run_onnx
    monkeypatch.setattr(opt, "run_onnx", lambda m, feeds: (runs.append(1), real(m, feeds))[1])
    model = _net(
        [helper.make_node("Sub", ["x", "m"], ["s"]), helper.make_node("Div", ["s", "d"], ["p"])],
        [_c("m", [1, 2, 3]), _c("d", [2, 4, 8])],
    )
    model.graph.output[0].CopyFrom(helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4, 6, 6]))
    result, report = opt.optimize(model, {}, {"x"})
    applied = [r["optimization"] for r in report if r["status"] == "applied"]
    assert {"substitute_sub_with_add", "substitute_div_with_mul"} <= set(applied) and len(runs) == 2
    assert all(r["max_rel_error"] <= 1e-4 for r in report if r["status"] == "applied")
    _check_same(model, result)

    monkeypatch.setitem(opt.OPTIMIZATIONS, "fuse_split_concat_to_conv", _doubling("w"))
    runs.clear()
    result, report = opt.optimize(model, {}, {"x"})
    status = {r["optimization"]: r["status"] for r in report}
    assert status["fuse_split_concat_to_conv"] == "rolled back"
    assert [r["optimization"] for r in report if r["status"] == "applied"] == applied
    assert len(runs) == 2 + len(applied) + 1  # the failed joint check, then each candidate alone
    _check_same(model, result)
