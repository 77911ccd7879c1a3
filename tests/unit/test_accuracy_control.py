"""Accuracy control on a model built with exactly one sensitive layer: plain INT8 fails the gate,
the search passes it by promoting exactly that layer (HTP: to 16 bits; OpenVINO: NNCF returns it to
float), and a gate that cannot be met stops with the best figure reached."""


import numpy as np
import pytest

from edgeconv import accuracy_control as ac
from models import conv_net, sensitive_net, silu_net


def _calibration(n=16, seed=1):
    return {"x": np.random.default_rng(seed).standard_normal((n, 1, 4, 8, 8)).astype(np.float32)}


def test_split_holds_back_the_verify_samples():
    stats, held = ac.split(_calibration(16), 0.25, min_validation=6)
    assert len(held["x"]) == 6 and len(stats["x"]) == 10
    np.testing.assert_array_equal(held["x"], _calibration(16)["x"][:6])  # verify reads the first samples
    assert len(ac.split(_calibration(3), 0.9, 8)[0]["x"]) == 1
    with pytest.raises(Exception, match="at least 2 calibration samples"):
        ac.split(_calibration(1), 0.25, 1)


def test_ranking_puts_the_large_range_activation_first(tmp_path):
    model = sensitive_net(tmp_path / "s.onnx")
    candidates = ac.activation_candidates(model, {"x", "out"})
    # `g` only moves (Flatten) into the output, which stays 8-bit: it must keep the output's type.
    assert set(candidates) == {"a", "r", "wide", "b", "rb", "c"}
    ranked = ac.rank_by_sensitivity(model, _calibration(), candidates)
    assert ranked[0][0] == "wide"


def _htp_quantize(model, workdir=None):
    """What the step uses: one quantizer for the whole search, its activation ranges collected once."""
    from edgeconv.targets.qnn_htp import search_quantizer

    return search_quantizer(model, "INT8_STANDARD", True, workdir or model.parent / "quantizer")


def test_htp_search_promotes_exactly_the_sensitive_layer(tmp_path):
    pytest.importorskip("onnxruntime_qnn", reason="onnxruntime-qnn is installed by `make test` (extra 'qnn')")
    model = sensitive_net(tmp_path / "s.onnx")
    gate = {"min_cosine": 0.99}
    budget = ac.Budget(max_trials=8)
    encodings, record = ac.htp_search(model, _calibration(), gate, budget, 4, _htp_quantize(model), tmp_path,
                                      keep_8bit={"x", "out"})
    assert record["plain_int8_worst_cosine"] < 0.99  # plain INT8 fails the gate ...
    assert record["kept_higher_precision"] == ["wide"]  # ... promoting exactly `wide` passes it
    assert record["final_worst_cosine"] >= 0.99 and record["trials"][0]["passed"] is False
    assert encodings["activation_encodings"] == {"wide": [{"bitwidth": 16, "dtype": "int"}]}
    assert record["share_8bit"] == round(1 - 1 / 9, 4) and record["gate_samples"] == 4  # 6 activations, 3 weights


def test_htp_search_that_cannot_meet_the_gate_stops_with_the_best_figure(tmp_path):
    pytest.importorskip("onnxruntime_qnn", reason="onnxruntime-qnn is installed by `make test` (extra 'qnn')")
    model = sensitive_net(tmp_path / "s.onnx")
    with pytest.raises(ac.GateNotMet) as err:
        ac.htp_search(model, _calibration(), {"min_cosine": 0.999999999}, ac.Budget(max_trials=3), 4,
                      _htp_quantize(model), tmp_path, keep_8bit={"x", "out"})
    text = str(err.value)
    assert text.startswith("accuracy control (qnn_htp): the gate {'min_cosine': 0.999999999} cannot be met: measured in "
                           "onnxruntime QDQ simulation (CPU), with every candidate activation at 16 bits (6), the worst "
                           "output's cosine is ")
    assert "; with every candidate activation and weight at 16 bits (6 and 3), the worst output's cosine is" in text
    assert "on 'out'" in text and "; plain INT8 0." in text
    assert "rvc4.normalize_io_encodings" in text and "FP16_STANDARD" in text


def test_the_bounds_are_measured_first_and_a_search_that_cannot_pass_stops_at_once(tmp_path):
    """Plain INT8, then the other end: every activation at 16 bits on the CPU (which misses this gate),
    then in the target's own runtime (here a stand-in simulator that loses the output whatever the
    count) on its hardest sample, then their weights too; four trials, then the measured figures."""
    model = sensitive_net(tmp_path / "s.onnx")
    counting, runner_for = _disagreeing(_htp_quantize(model, tmp_path / "q"), 100)  # never enough
    lines = []
    with pytest.raises(ac.GateNotMet, match=r"cannot be met: measured in stand-in simulator on the hardest held-back sample, with every candidate activation at 16 bits \(6\), the worst output's cosine is -0\.99"):
        ac.htp_search(model, _calibration(), {"min_cosine": 0.99999999}, ac.Budget(max_trials=20), 4, counting,
                      tmp_path, keep_8bit={"x", "out"}, runner_for=runner_for, measured_in="stand-in simulator",
                      progress=lines.append)
    trials = [line for line in lines if line.startswith("trial ")]
    assert len(trials) == 4
    assert trials[0].startswith("trial 0 (cpu): 0 activation(s) and 0 weight(s)")
    assert trials[1].startswith("trial 1 (cpu): 6 activation(s) and 0 weight(s) of 9 at 16 bits")
    assert trials[2].startswith("trial 2 (simulator): 6 activation(s) and 0 weight(s) of 9 at 16 bits")
    assert trials[3].startswith("trial 3 (simulator): 6 activation(s) and 3 weight(s) of 9 at 16 bits")
    assert "on 1 of 4 samples" in trials[2] and "on 1 of 4 samples" in trials[3]


def test_plain_int8_that_passes_promotes_nothing(tmp_path):
    pytest.importorskip("onnxruntime_qnn", reason="onnxruntime-qnn is installed by `make test` (extra 'qnn')")
    model = tmp_path / "plain.onnx"
    conv_net(model, channels=4, size=8)  # no sensitive layer: INT8 is within cosine 0.98
    encodings, record = ac.htp_search(model, _calibration(), {"min_cosine": 0.98}, ac.Budget(), 4,
                                      _htp_quantize(model), tmp_path, keep_8bit={"x", "out"})
    assert encodings is None and record["kept_higher_precision"] == [] and len(record["trials"]) == 1


def test_the_statistics_are_collected_once_for_every_trial(tmp_path, monkeypatch):
    """A spy on onnxruntime's calibrator: one calibration for the whole search, however many trials."""
    import importlib

    ort_quantize = importlib.import_module("onnxruntime.quantization.quantize")  # the module, not its function
    made = []
    real = ort_quantize.create_calibrator

    def spy(*args, **kwargs):
        calibrator = real(*args, **kwargs)
        made.append(calibrator)
        return calibrator

    monkeypatch.setattr(ort_quantize, "create_calibrator", spy)
    model = sensitive_net(tmp_path / "s.onnx")
    lines = []
    encodings, record = ac.htp_search(model, _calibration(), {"min_cosine": 0.99}, ac.Budget(max_trials=8), 4,
                                      _htp_quantize(model, tmp_path / "q"), tmp_path, keep_8bit={"x", "out"},
                                      progress=lines.append)
    assert len(record["trials"]) >= 2 and len(made) == 1  # plain INT8, then `wide` at 16 bits
    assert record["kept_higher_precision"] == ["wide"]
    # One progress line per trial, with the figure reached, its time and the budget left.
    trial_lines = [line for line in lines if line.startswith("trial ")]
    assert len(trial_lines) == len(record["trials"])
    assert trial_lines[0].startswith("trial 0 (cpu): 0 activation(s) and 0 weight(s) of 9 at 16 bits: worst cosine ")
    assert "misses the gate" in trial_lines[0] and "trial(s)," in trial_lines[0] and " s left" in trial_lines[0]


def test_max_seconds_bounds_the_whole_search(tmp_path):
    """Trials of about 1 s and a 2.5 s budget: plain INT8 and the upper bound fit, the search's next
    trial would not; it stops before a trial would run past the budget."""
    import time

    model = sensitive_net(tmp_path / "s.onnx")
    real = _htp_quantize(model, tmp_path / "q")

    def slow(statistics, encodings, out):
        time.sleep(1.0)
        real(statistics, encodings, out)

    started = time.monotonic()
    with pytest.raises(ac.GateNotMet, match="within the budget"):
        ac.htp_search(model, _calibration(), {"min_cosine": 0.99}, ac.Budget(max_trials=50, max_seconds=2.5),
                      4, slow, tmp_path, keep_8bit={"x", "out"})
    assert time.monotonic() - started <= 2.5


def _disagreeing(quantize, needed, weights=False):
    """(quantize, runner_for): a stand-in for the HTP simulator that is stricter than the CPU: a
    trial model with fewer than ``needed`` 16-bit activations (and weights, with ``weights``) gets its
    output negated (cosine -1)."""
    from edgeconv.runtime import onnx_runner

    promoted = {}

    def counting(statistics, encodings, out):
        kinds = ("activation_encodings", "param_encodings") if weights else ("activation_encodings",)
        promoted[out] = sum(len((encodings or {}).get(kind) or {}) for kind in kinds)
        quantize(statistics, encodings, out)

    def runner_for(path):
        run, enough = onnx_runner(path), promoted[path] >= needed
        return lambda feeds: run(feeds) if enough else {k: -v for k, v in run(feeds).items()}

    return counting, runner_for


def test_the_simulator_confirms_the_cpu_choice_or_the_search_goes_on_in_it(tmp_path):
    model = sensitive_net(tmp_path / "s.onnx")
    quantize = _htp_quantize(model, tmp_path / "q")
    gate = {"min_cosine": 0.99}
    # Agreeing: the search on the CPU, its choice (`wide`) measured in the simulator, nothing more.
    counting, runner_for = _disagreeing(quantize, 1)
    _, agreed = ac.htp_search(model, _calibration(), gate, ac.Budget(max_trials=12), 4, counting, tmp_path,
                              keep_8bit={"x", "out"}, runner_for=runner_for, measured_in="stand-in simulator")
    kinds = [t["measured_in"] for t in agreed["trials"]]
    # Plain INT8 on the CPU, the upper bound there (every activation at 16 bits clears the gate by more
    # than the CPU and the simulator differ on activations), the search on the CPU, its choice confirmed.
    assert kinds[:2] == ["cpu", "cpu"] and agreed["trials"][1]["activations_16bit"] == 6
    assert kinds[-1] == "simulator" and set(kinds[2:-1]) == {"cpu"}
    assert agreed["kept_higher_precision"] == ["wide"] and agreed["trials"][-1]["chosen"]
    # Disagreeing: the simulator needs two; the search goes on above the CPU's one, and the count
    # that passes is measured in the simulator before it is chosen.
    counting, runner_for = _disagreeing(quantize, 2)
    _, corrected = ac.htp_search(model, _calibration(), gate, ac.Budget(max_trials=12), 4, counting, tmp_path,
                                 keep_8bit={"x", "out"}, runner_for=runner_for, measured_in="stand-in simulator")
    confirm = [t for t in corrected["trials"][2:] if t["measured_in"] == "simulator"]  # after the upper bound
    assert not confirm[0]["passed"] and confirm[0]["activations_16bit"] == 1
    chosen = next(t for t in corrected["trials"] if t.get("chosen"))
    assert chosen["measured_in"] == "simulator" and chosen["activations_16bit"] == 2 and chosen["passed"]
    assert corrected["kept_higher_precision"][0] == "wide" and len(corrected["activations_16bit"]) == 2


def test_activations_taken_from_the_cpu_do_not_bound_a_simulator_that_needs_weights(tmp_path):
    """The CPU passes every activation at 16 bits by far, so the upper bound takes that end from it
    without the simulator; this stand-in simulator needs one weight at 16 bits as well. The search
    does not stop at the activations: once the simulator disagrees, weights join, and the count it
    passes is measured there."""
    model = sensitive_net(tmp_path / "s.onnx")
    counting, runner_for = _disagreeing(_htp_quantize(model, tmp_path / "q"), 7, weights=True)  # 6 activations + 1
    lines = []
    _, record = ac.htp_search(model, _calibration(), {"min_cosine": 0.99}, ac.Budget(max_trials=30), 4, counting,
                              tmp_path, keep_8bit={"x", "out"}, runner_for=runner_for, measured_in="stand-in",
                              progress=lines.append)
    assert any(line.startswith("every candidate activation at 16 bits clears the gate on the CPU") for line in lines)
    assert record["trials"][1]["measured_in"] == "cpu" and record["trials"][1]["activations_16bit"] == 6
    chosen = next(t for t in record["trials"] if t.get("chosen"))
    assert chosen["measured_in"] == "simulator" and chosen["passed"]
    assert chosen["activations_16bit"] == 6 and chosen["weights_16bit"] == 1 and len(record["weights_16bit"]) == 1


def test_after_two_disagreements_the_simulator_searches_alone_and_stops_at_a_failing_sample(tmp_path):
    """The stand-in simulator needs four 16-bit activations where the CPU is content with one: after
    its second disagreement the CPU is not asked again, the simulator steps up from the last failing
    count and bisects, and a failing simulator trial stops at its first (failing) sample."""
    model = sensitive_net(tmp_path / "s.onnx")
    counting, runner_for = _disagreeing(_htp_quantize(model, tmp_path / "q"), 4)
    runs = []

    def counted(path):
        run = runner_for(path)
        runs.append(0)

        def go(feeds):
            runs[-1] += 1
            return run(feeds)
        return go

    lines = []
    _, record = ac.htp_search(model, _calibration(), {"min_cosine": 0.99}, ac.Budget(max_trials=20), 4, counting,
                              tmp_path, keep_8bit={"x", "out"}, runner_for=counted, measured_in="stand-in",
                              progress=lines.append)
    sim = [t for t in record["trials"] if t["measured_in"] == "simulator"]
    failed_twice = [i for i, t in enumerate(record["trials"]) if t["measured_in"] == "simulator" and not t["passed"]][1]
    assert {t["measured_in"] for t in record["trials"][failed_twice:]} == {"simulator"}  # the CPU is not asked again
    chosen = next(t for t in record["trials"] if t.get("chosen"))
    assert chosen["activations_16bit"] == 4 and chosen["measured_in"] == "simulator" and chosen["passed"]
    assert any(t["activations_16bit"] == 3 and not t["passed"] for t in sim)  # the count below it failed there
    for trial, n in zip(sim, runs):
        # A passing trial runs every sample; a failing one stops at its first; the upper bound's probe
        # runs the hardest sample alone.
        assert n == (4 if trial["passed"] and not trial.get("probe") else 1) and trial.get("samples_run", 4) == n
    assert any("on 1 of 4 samples" in line for line in lines)


def _head_net(path, head="Sigmoid"):
    """x -> Conv -> a -> Relu -> r -> Reshape -> b -> <head> -> y: the head's input feeds a model
    output kept at 8 bits (IO normalization), through an op that is not a pass-through."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["a"], pads=[1, 1, 1, 1], name="conv"),
         helper.make_node("Relu", ["a"], ["r"], name="relu"),
         helper.make_node("Reshape", ["r", "shape"], ["b"], name="reshape"),
         helper.make_node(head, ["b"], ["y"], name="head")],
        "head", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 64])],
        [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w"),
         numpy_helper.from_array(np.array([1, 4, 64], np.int64), "shape")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


@pytest.mark.parametrize("head", ["Sigmoid", "Relu", "Softmax"])
def test_no_candidate_conflicts_with_an_output_kept_at_8_bits(tmp_path, head):
    """onnxruntime refused a 16-bit input of any node that makes an 8-bit kept output ("Desired
    producer quant_type for y doesn't match existing type"): such tensors are no candidates, and
    every candidate that is left quantizes alone at 16 bits with the IO kept 8-bit."""
    from edgeconv.targets.qnn_htp import quantize_qdq

    model = tmp_path / "m.onnx"
    _head_net(model, head)
    candidates = ac.activation_candidates(model, {"x", "y"})
    assert "b" not in candidates and candidates == ["a", "r"]
    base = {"activation_encodings": {n: [{"bitwidth": 8, "dtype": "int"}] for n in ("x", "y")}}
    calibration = {"x": np.random.default_rng(1).standard_normal((4, 1, 3, 8, 8)).astype(np.float32)}
    for name in candidates:
        quantize_qdq(model, calibration, tmp_path / f"{name}.onnx", "INT8_STANDARD", True,
                     ac.promotion_encodings([name], base))
    with pytest.raises(ValueError, match="doesn't match existing type"):  # what the exclusion avoids
        quantize_qdq(model, calibration, tmp_path / "b.onnx", "INT8_STANDARD", True, ac.promotion_encodings(["b"], base))


def _spread_weights_net(path):
    """x -> depthwise Conv (channel gains 1 .. 0.001) -> a -> 1x1 Conv (gains 1 .. 1000, undoing
    them) -> y: the 1x1 weight's channels differ in range by 1000x, as PicoDet's depthwise weights do."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    c, gains = 8, np.logspace(0, -3, 8).astype(np.float32)
    rng = np.random.default_rng(0)
    w = rng.standard_normal((c, 1, 3, 3)).astype(np.float32) * gains[:, None, None, None]
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["a"], pads=[1, 1, 1, 1], group=c, name="dw"),
         helper.make_node("Conv", ["a", "w2"], ["y"], name="pw")],
        "spread", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c, 16, 16])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.zeros(c, np.float32), "b"),
         numpy_helper.from_array(np.diag(1 / gains).astype(np.float32)[:, :, None, None], "w2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def test_16_bit_weights_the_simulator_measures_lower_do_not_stop_the_search(tmp_path):
    """The CPU-versus-HTP gap, on a graph that shows it: the 1x1 weight at 16 bits (per tensor, as
    the HTP takes it) measures *lower* in the HTP simulator than the activations alone at 16 bits,
    while onnxruntime's CPU emulation measures it no lower. The upper bound used to be everything at
    16 bits in the simulator, which missed the gate and stopped the search; now activations alone are
    the first end (where the CPU and the simulator agree), they pass, and the search stays within
    them: its choice is measured in the simulator and passes."""
    pytest.importorskip("onnxruntime_qnn", reason="onnxruntime-qnn is installed by `make test` (extra 'qnn')")
    from edgeconv.runtime import onnx_runner
    from edgeconv.targets.qnn_htp import simulator_runner

    model = _spread_weights_net(tmp_path / "spread.onnx")
    calibration = {"x": np.random.default_rng(1).standard_normal((8, 1, 8, 16, 16)).astype(np.float32)}
    quantize, simulate = _htp_quantize(model, tmp_path / "q"), simulator_runner("sm8550")
    stats, held = ac.split(calibration, 0.25, 2)
    feeds = ac.samples_of(held)
    reference = onnx_runner(model)
    expected = [reference(f) for f in feeds]

    def worst(encodings, name):
        out = tmp_path / f"{name}.onnx"
        quantize(stats, encodings, out)
        return [ac.gate(expected, [run(f) for f in feeds], {"min_cosine": 0.9})["worst_cosine"]
                for run in (onnx_runner(out), simulate(out))]

    acts = ac.activation_candidates(model, set())
    cpu_a, sim_a = worst(ac.promotion_encodings(acts), "a16")
    cpu_aw, sim_aw = worst(ac.promotion_encodings(acts, None, ["w2"]), "a16w16")
    assert cpu_aw >= cpu_a - 1e-4 and cpu_aw > 0.999  # the CPU: 16-bit weights cost nothing
    assert sim_aw < sim_a - 0.002 and sim_a > 0.998  # the HTP: they cost cosine (0.9947 against 0.9988)
    gate = {"min_cosine": round((sim_a + sim_aw) / 2, 4)}  # activations alone pass it, everything does not
    lines = []
    encodings, record = ac.htp_search(model, calibration, gate, ac.Budget(max_trials=12), 2, quantize, tmp_path,
                                      runner_for=simulate, measured_in="QNN HTP simulator", progress=lines.append)
    bound = record["trials"][1]  # every activation at 16 bits: on the CPU, clearing the gate by > AGREEMENT
    assert bound["activations_16bit"] == len(acts) and bound["weights_16bit"] == 0 and bound["passed"]
    assert not any(t["weights_16bit"] for t in record["trials"])  # weights were never needed, nor tried
    chosen = next(t for t in record["trials"] if t.get("chosen"))
    assert chosen["measured_in"] == "simulator" and chosen["passed"] and chosen["worst_cosine"] >= gate["min_cosine"]
    assert record["weights_16bit"] == [] and set(record["activations_16bit"]) <= set(acts)
    assert set(encodings["activation_encodings"]) == set(record["activations_16bit"])


def _stepped(needed, curve):
    """A trial function over counts: passes from ``needed`` on; worst cosine from ``curve(k)``. Records the counts tried."""
    tried = []

    def trial(k):
        tried.append(k)
        return {"passed": k >= needed, "worst_cosine": curve(k)}

    return trial, tried


def test_the_aim_assumes_each_promotion_removes_the_same_share_of_the_loss():
    # loss 0.1 at 0 and 0.001 at 100: the target's loss 0.01 lies half way on that scale.
    assert ac._aimed((0, 0.9), (100, 0.999), 0.99) == 50
    assert ac._aimed((10, 0.9), (20, 0.999), 0.99) == 15
    assert ac._aimed((0, 0.9), (100, 1.0), 0.99) is not None  # a lossless end still aims
    assert ac._aimed((0, 0.9), (100, 0.95), 0.99) is None  # the upper figure misses the target: no aim
    assert ac._aimed((0, 0.995), (100, 0.999), 0.99) is None  # the lower figure already meets it
    assert ac._aimed((4, 0.9), (5, 0.999), 0.99) is None  # nothing between the two
    assert ac._aimed((0, 0.9), (100, 0.99999), 0.9001) == 1  # kept strictly inside the bracket


def test_an_aimed_search_needs_fewer_trials_and_finds_the_same_count():
    """ppocr_rec's shape: plain INT8 misses, the upper bound (47) passes, the gate is met from 20 on.
    Doubling up from 1 took ten trials there; aiming from both ends finds the same count in fewer."""
    def curve(k):
        return 0.97 + (0.028 if k >= 20 else 0.0005 * k)

    target = 0.983
    figures = {0: curve(0), 47: 0.9989}
    trial, tried = _stepped(20, curve)

    def aim(lo, hi):
        return ac._aimed((lo, figures[lo]), (hi, figures[hi]), target)

    def remembered(k):
        row = trial(k)
        figures[k] = row["worst_cosine"]
        return row

    best, exhausted = ac._ladder(remembered, 47, aim=aim)
    assert best[0] == 20 and not exhausted and 20 in tried and 19 in tried
    doubling, by_doubling = _stepped(20, curve)
    assert ac._ladder(doubling, 47)[0][0] == 20
    assert len(tried) < len(by_doubling)


@pytest.mark.parametrize("needed", [1, 2, 7, 33, 99, 100])
def test_a_poor_aim_costs_at_most_twice_bisection(needed):
    """An aim that always points just above the failing end (the worst guess) still finds the
    smallest passing count, in at most twice the trials of bisection, and never measures the upper
    end, which is known to pass."""
    import math

    trial, tried = _stepped(needed, lambda k: 0.9)
    best, _ = ac._ladder(trial, 100, aim=lambda lo, hi: lo + 1)
    if needed < 100:
        assert best[0] == needed
    else:
        assert best is None  # nothing below the upper end passed; the caller has its figure
    assert 100 not in tried and len(tried) <= 2 * math.ceil(math.log2(100))


def test_a_search_the_simulator_never_passes_stops_at_the_bound_it_measured_there(tmp_path):
    """Plain INT8 passes on the CPU, so no end was measured; a stand-in simulator loses a little of
    the output at every count (cosine about 0.985 against a gate of 0.99). At that first
    disagreement the other end is measured in the simulator, which fails it too, so the search
    stops at once with the simulator's figures and claims no CPU figure as its best (it once went
    on for a dozen trials and said "best 0.999... (cpu)" after "every candidate at 16 bits")."""
    import onnx

    from edgeconv.runtime import onnx_runner

    model = tmp_path / "plain.onnx"
    conv_net(model, channels=4, size=8)

    def runner_for(path):
        run = onnx_runner(path)

        def lossy(feeds):
            out = {}
            for name, value in run(feeds).items():
                noise = np.random.default_rng(7).standard_normal(value.shape).astype(value.dtype)
                out[name] = value + 0.18 * np.linalg.norm(value) / np.linalg.norm(noise) * noise
            return out
        return lossy

    lines = []
    io = {"x", *[o.name for o in onnx.load(model).graph.output]}
    with pytest.raises(ac.GateNotMet) as err:
        ac.htp_search(model, _calibration(), {"min_cosine": 0.99}, ac.Budget(max_trials=30), 4,
                      _htp_quantize(model, tmp_path / "q"), tmp_path, keep_8bit=io,
                      runner_for=runner_for, measured_in="stand-in simulator", progress=lines.append)
    text = str(err.value)
    assert text.startswith("accuracy control (qnn_htp): the gate {'min_cosine': 0.99} cannot be met: measured in "
                           "stand-in simulator on the hardest held-back sample, with every candidate activation at "
                           "16 bits ("), text
    assert "; plain INT8 0.98" in text and "(simulator)" in text  # the simulator's plain figure, not the CPU's
    trials = [line for line in lines if line.startswith("trial ")]
    assert trials[0].startswith("trial 0 (cpu): 0 activation(s)") and "(meets the gate)" in trials[0]
    assert trials[1].startswith("trial 1 (simulator): 0 activation(s)")
    assert all("(simulator)" in t for t in trials[2:]) and len(trials) <= 4


def test_a_not_met_search_names_a_better_cpu_figure_as_the_cpus():
    """The error of a search that found no passing count, built from its trials: the simulator's
    best, the full count only where it was measured there, the CPU's better figure as the CPU's."""
    search = ac.HtpSearch.__new__(ac.HtpSearch)
    search.confirm, search.keep_8bit, search.thresholds = True, {"x"}, {"min_cosine": 0.99}
    search.ranked, search.weights, search.reach, search.firm = ["a", "b"], ["w"], 0, True
    search.search = ac.Search("qnn_htp", search.thresholds, 8, 4, measured_in="stand-in simulator")

    def row(acts, wts, cosine, where):
        return {"activations_16bit": acts, "weights_16bit": wts, "worst_cosine": cosine, "worst_output": "out",
                "measured_in": where}

    search.search.trials = [row(0, 0, 0.995, "cpu"), row(0, 0, 0.97, "simulator"), row(1, 0, 0.997, "cpu"),
                            row(1, 0, 0.975, "simulator"), row(2, 1, 0.972, "simulator")]
    text = str(ac._not_met(search, exhausted=True))
    assert text.startswith("accuracy control (qnn_htp): the gate {'min_cosine': 0.99} was not met in stand-in "
                           "simulator: with every candidate activation and weight at 16 bits (2 and 1) the worst "
                           "output's cosine is 0.972000 on 'out'; best worst-output cosine 0.975000"), text
    assert "the CPU measured up to 0.997000 (with 1 activations and 0 weights at 16 bits)" in text
    search.search.trials = search.search.trials[:4]  # the full count never measured in the simulator
    assert "was not met in stand-in simulator at any count it measured" in str(ac._not_met(search, exhausted=True))


def test_a_convs_silu_gate_is_pinned_at_8_bits_and_nothing_else(tmp_path):
    assert ac.htp_pinned_8bit(silu_net(tmp_path / "s.onnx")) == ["g"]
    assert ac.htp_pinned_8bit(silu_net(tmp_path / "r.onnx", act="relu")) == []
    assert ac.htp_pinned_8bit(silu_net(tmp_path / "n.onnx", after_conv=False)) == []  # no Conv: it agrees
    # The height decides (measured 9 to 12 rows); ppocr_rec's SiLUs are 1 row high and stay free.
    assert ac.htp_pinned_8bit(silu_net(tmp_path / "h1.onnx", height=1, width=40)) == []
    assert ac.htp_pinned_8bit(silu_net(tmp_path / "h16.onnx", width=16)) == []
    assert ac.htp_pinned_8bit(silu_net(tmp_path / "h12.onnx", height=12, width=80)) == ["g"]


def _sim_vs_cpu(model, encodings, tmp_path, name, shape):
    from edgeconv.metrics import metrics
    from edgeconv.runtime import onnx_runner
    from edgeconv.targets.qnn_htp import quantize_qdq, simulator_runner

    x = np.random.default_rng(1).standard_normal((5, 1, *shape)).astype(np.float32) * 2
    out = tmp_path / f"{name}.onnx"
    quantize_qdq(model, {"x": x[1:]}, out, "INT8_STANDARD", True, encodings)
    cpu, sim = onnx_runner(out)({"x": x[0]})["y"], simulator_runner("sm8550")(out)({"x": x[0]})["y"]
    return metrics(cpu, sim)["cosine"]  # as verify measures it


@pytest.mark.parametrize("height,width,wrong", [(10, 10, True), (10, 40, True), (40, 10, False)])
def test_the_htp_computes_a_convs_silu_wrong_at_16_bits_and_right_with_its_gate_at_8(tmp_path, height, width, wrong):
    """The gap the pin corrects, on the smallest graph that shows it: every tensor at 16 bits, the
    simulator and onnxruntime's CPU emulation of the same QDQ model part (about 0.8 measured) when
    the Conv's output is 10 rows high, whatever its width, and agree at 40 rows; with the Sigmoid's
    output at 8 bits and the rest at 16, they agree. If a new QNN computes it right, the first
    assertion says the pin can go."""
    pytest.importorskip("onnxruntime_qnn", reason="onnxruntime-qnn is installed by `make test` (extra 'qnn')")
    model = silu_net(tmp_path / "s.onnx", height=height, width=width)
    shape = (64, height, width)
    all16 = _sim_vs_cpu(model, ac.promotion_encodings(["x", "c", "g", "y"]), tmp_path, "all16", shape)
    assert (all16 < 0.95) if wrong else (all16 > 0.9999)
    assert ac.htp_pinned_8bit(model) == (["g"] if wrong else [])
    pinned = ac.promotion_encodings(["x", "c", "y"], {"activation_encodings": {"g": [{"bitwidth": 8, "dtype": "int"}]}})
    assert _sim_vs_cpu(model, pinned, tmp_path, "pinned", shape) > 0.9999


def test_the_htp_search_keeps_the_pinned_gate_at_8_bits_in_every_trial_and_its_answer(tmp_path):
    model = silu_net(tmp_path / "s.onnx")
    seen = []
    quantize = _htp_quantize(model, tmp_path / "q")

    def spy(statistics, encodings, out):
        seen.append(encodings)
        quantize(statistics, encodings, out)

    lines = []
    x = {"x": np.random.default_rng(1).standard_normal((12, 1, 64, 10, 10)).astype(np.float32) * 2}
    encodings, record = ac.htp_search(model, x, {"min_cosine": 0.9999}, ac.Budget(max_trials=6), 4, spy, tmp_path,
                                      keep_8bit={"x"}, progress=lines.append)
    assert record["pinned_8bit"] == ["g"] and "g" not in record["kept_higher_precision"]
    assert lines[0].startswith("1 Sigmoid output(s) of a SiLU after a Conv stay 8-bit")
    assert all(e is None or e["activation_encodings"]["g"] == [{"bitwidth": 8, "dtype": "int"}] for e in seen)
    assert any(e is not None and e["activation_encodings"].get("c") == [{"bitwidth": 16, "dtype": "int"}] for e in seen)
    assert record["kept_higher_precision"] and encodings["activation_encodings"]["g"] == [{"bitwidth": 8, "dtype": "int"}]
