"""Tools for the tape (issue 14): from_numpy, hooks, retain_grad, graph inspection, in-place methods,
draw_graph, anomaly mode, profiler, saved-value hooks."""
import shutil

import numpy as np
import pytest

import gradarray as ga
from gradarray.testing import gradcheck


# ------------------------------------------------------------------ from_numpy
def test_from_numpy_shares_memory_both_ways():
    a = np.arange(4.0)
    x = ga.from_numpy(a)
    assert not x.requires_grad and x.data is a
    x[1] = 10.0
    x.add_(1.0)
    np.testing.assert_array_equal(a, [1.0, 11.0, 3.0, 4.0])
    a[0] = -5.0
    assert x.numpy()[0] == -5.0
    assert x.numpy() is not a                    # .numpy() is an explicit, cut copy
    with pytest.raises(TypeError, match="numpy.ndarray"):
        ga.from_numpy([1.0, 2.0])


# ------------------------------------------------------------------ hooks
def test_hooks_change_gradients_and_can_be_removed():
    x = ga.asarray(np.array([1.0, 2.0]), requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 10.0)
    y = np.sin(x)
    y.register_hook(lambda g: g + 1.0)
    np.sum(y * 3.0).backward()
    np.testing.assert_allclose(seen[0], 4.0 * np.cos([1.0, 2.0]))        # leaf hook sees the total
    np.testing.assert_allclose(x.grad.numpy(), 40.0 * np.cos([1.0, 2.0]))
    handle.remove()
    x.grad = None
    np.sum(x * 2.0).backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])
    assert len(seen) == 1


def test_leaf_hook_sees_the_sum_of_several_uses_once():
    x = ga.asarray(np.array([3.0]), requires_grad=True)
    calls = []
    x.register_hook(lambda g: calls.append(float(g.numpy()[0])))
    np.sum(x * 2.0 + x * 5.0).backward()
    assert calls == [7.0] and x.grad.numpy()[0] == 7.0


def test_hooks_with_the_functional_api():
    def f(v):
        h = v * 2.0
        h.register_hook(lambda g: g * 0.0)       # cut the gradient through h
        return np.sum(h + v ** 2)
    np.testing.assert_allclose(ga.grad(f)(np.array([1.0, 3.0])), [2.0, 6.0])


def test_retain_grad_keeps_gradients_of_computed_arrays():
    x = ga.asarray(np.array([0.5, 1.5]), requires_grad=True)
    h = np.exp(x)
    h.retain_grad()
    h.retain_grad()                               # idempotent
    y = h * h
    y.retain_grad()
    np.sum(y).backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * np.exp([0.5, 1.5]))
    np.testing.assert_allclose(y.grad.numpy(), [1.0, 1.0])
    assert h.grad.requires_grad is False


def test_graph_can_be_walked():
    w = ga.asarray(np.ones((2, 3)), requires_grad=True)
    b = ga.asarray(np.zeros(3), requires_grad=True)
    y = np.sum(np.tanh(w * 2.0 + b))
    fn = y.grad_fn
    assert fn.name() == "sum"
    (tanh, k), = fn.next_functions
    assert tanh.name() == "tanh" and k == 0
    assert [s for s in tanh.saved] == [((2, 3), np.dtype(np.float64))]     # tanh saves its output
    (add, _), = tanh.next_functions
    producers = [p for p, _ in add.next_functions]
    assert producers[0].name() == "multiply"
    assert producers[1].name() == "AccumulateGrad" and producers[1].variable is b


# ------------------------------------------------------------------ in-place methods
IN_PLACE = [
    ("add_", (np.array([1.0, -2.0, 0.5]),), lambda x, o: x + o),
    ("sub_", (0.5,), lambda x, o: x - o),
    ("mul_", (np.array([2.0, 3.0, -1.0]),), lambda x, o: x * o),
    ("div_", (4.0,), lambda x, o: x / o),
    ("pow_", (3.0,), lambda x, o: x ** o),
    ("neg_", (), lambda x: -x),
    ("clamp_", (0.2, 0.9), lambda x, lo, hi: np.clip(x, lo, hi)),
    ("clip_", (None, 0.6), lambda x, lo, hi: np.clip(x, lo, hi)),
    ("exp_", (), np.exp), ("log_", (), np.log), ("sqrt_", (), np.sqrt), ("abs_", (), np.abs),
]


@pytest.mark.parametrize("name, args, reference", IN_PLACE, ids=[c[0] for c in IN_PLACE])
def test_in_place_methods_match_their_out_of_place_twins(name, args, reference):
    x0 = np.array([0.3, 0.7, 1.1])

    def f(v):
        h = ga.asarray(v) * 1.0                    # gradcheck also calls f with plain arrays
        out = getattr(h, name)(*args)
        assert out is h
        return np.sum(h ** 2)
    expected = ga.grad(lambda v: np.sum(reference(v * 1.0, *args) ** 2))(x0)
    np.testing.assert_allclose(ga.grad(f)(x0), expected)
    assert gradcheck(f, x0)


def test_in_place_with_a_tracked_operand_and_fill_zero_copy():
    x0, y0 = np.array([0.3, 0.7]), np.array([2.0, -1.0])

    def f(x, y):
        h = ga.asarray(x) * 1.0
        h.mul_(y)                                  # saves h's old value for y's gradient
        h.add_(y, alpha=3.0)
        g = ga.zeros(2)
        g.copy_(h)
        g.fill_(np.sum(g))                         # a tracked 0-d fill value
        return np.sum(g * np.array([1.0, 2.0]))
    assert gradcheck(f, x0, y0)


def test_in_place_on_a_leaf_and_zeroing_grads():
    w = ga.asarray(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        w.add_(1.0)
    np.sum(w ** 2).backward()
    w.grad.zero_()
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 0.0])
    with ga.no_grad():
        w.sub_(0.5).mul_(2.0)                     # an optimiser step, chained
    np.testing.assert_array_equal(w.numpy(), [1.0, 3.0])
    assert w.requires_grad_(True) is w


# ------------------------------------------------------------------ draw_graph
def _legacy(w, b, x):
    return np.sum(np.tanh(x @ w + b) ** 2)


def test_draw_graph_dot_for_a_known_graph():
    w = ga.asarray(np.ones((3, 2)), requires_grad=True)
    b = ga.asarray(np.zeros(2), requires_grad=True)
    y = _legacy(w, b, np.ones((4, 3)))
    dot = ga.draw_graph(y, params={"w": w, "b": b})
    assert dot.startswith("digraph gradarray {") and dot.rstrip().endswith("}")
    boxes = [line for line in dot.splitlines() if "shape=box" in line]
    assert [line.split('label="')[1].split("\\n")[0] for line in boxes] == [
        "matmul", "add", "tanh", "power", "sum"]
    assert 'label="w\\n(3, 2) float64\\ncpu"' in dot and 'label="b\\n(2,) float64\\ncpu"' in dot
    assert "(4, 2) float64" in dot and "() float64" in dot
    assert dot.count("->") == 6                   # matmul<-w, add<-matmul, add<-b, tanh, power, sum
    assert "saved" in dot


def test_draw_graph_marks_non_finite_gradients():
    w = ga.asarray(np.array([0.0, 4.0]), requires_grad=True)
    with ga.detect_anomaly(raise_error=False):
        y = np.sum(np.sqrt(w))
        with np.errstate(divide="ignore"):
            y.backward()
    dot = ga.draw_graph(y, params={"w": w})
    assert "#f4a6a6" in dot                       # the sqrt node and the leaf whose grad is inf


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
def test_draw_graph_renders_svg(tmp_path):
    w = ga.asarray(np.ones((3, 2)), requires_grad=True)
    path = tmp_path / "graph.svg"
    ga.draw_graph(_legacy(w, 0.5, np.ones((4, 3))), params={"w": w}, path=str(path))
    text = path.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text and "tanh" in text


# ------------------------------------------------------------------ anomaly mode
def test_detect_anomaly_names_the_operation_and_the_line():
    w = ga.asarray(np.array([1.0, -1.0]), requires_grad=True)
    with ga.detect_anomaly():
        y = np.sum(np.sqrt(w * w - 1.0))          # the culprit line
        culprit = __import__("inspect").currentframe().f_lineno - 1
        with np.errstate(divide="ignore"):
            with pytest.raises(FloatingPointError) as info:
                y.backward()
    message = str(info.value)
    assert "sqrt" in message and "input 0" in message
    assert f"line {culprit}" in message and "test_tape_tools.py" in message


def test_anomaly_mode_off_costs_nothing_and_lets_nan_through():
    from gradarray._modes import _state
    assert _state.on_record is None and _state.watch is None
    w = ga.asarray(np.array([0.0]), requires_grad=True)
    with np.errstate(divide="ignore"):
        np.sum(np.sqrt(w)).backward()
    assert np.isinf(w.grad.numpy()[0])


# ------------------------------------------------------------------ profiler
def test_profiler_totals_add_up():
    w = ga.asarray(np.linspace(0, 1, 50), requires_grad=True)
    with ga.profile() as p:
        for _ in range(5):
            np.sum(np.sin(w) * np.exp(w)).backward()
    assert p.forward["sin"][0] == 5 and p.forward["exp"][0] == 5 and p.backward["multiply"][0] == 5
    fw, bw, nf, nb = p.totals()
    assert nf == 20 and nb == 20 and fw > 0 and bw > 0
    assert abs(fw - sum(r[1] for r in p.forward.values())) < 1e-12
    table = p.table()
    assert table.splitlines()[0].startswith("operation") and table.splitlines()[-1].startswith("all")
    assert p.forward["exp"][2] == 5 * 50 * 8      # output bytes


# ------------------------------------------------------------------ saved-value hooks
def test_saved_values_hooks_pack_and_unpack():
    events = []

    def pack(raw):
        events.append("pack")
        return raw.astype(np.float64).copy()

    def unpack(packed):
        events.append("unpack")
        return packed

    x0 = np.array([0.4, 1.3])
    w = ga.asarray(x0, requires_grad=True)
    with ga.graph.saved_values_hooks(pack, unpack):
        y = np.sum(np.sin(w) * np.exp(w) + np.linalg.norm(w))
    assert events and set(events) == {"pack"}
    y.backward()
    assert "unpack" in events
    np.testing.assert_allclose(w.grad.numpy(), (np.cos(x0) + np.sin(x0)) * np.exp(x0)
                               + 2 * x0 / np.linalg.norm(x0))       # the norm is summed twice
    with ga.graph.saved_values_hooks(pack, unpack):
        z = np.sum(np.sin(w) ** 3)
    with pytest.raises(RuntimeError, match="differentiated twice"):
        ga.grad_of(z, [w], create_graph=True)
