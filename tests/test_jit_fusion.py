"""ga.jit's fusion of elementwise runs (gradarray/_fusion.py): which steps fuse, that fused replays
agree with the eager results (to rounding) and with finite differences, that a fused program that
disagrees is dropped for the exact one, and the device path through the stand-in's ``fuse``."""
import warnings

import numpy as np
import pytest

import gradarray as ga
import standin
from gradarray import _fusion
from gradarray.testing import numerical_vjp

numba = pytest.importorskip("numba")
pytestmark = pytest.mark.eager_only(reason="tests ga.jit itself: the jit under test must see the "
                                           "real transforms, not the harness's checking wrappers")


def chain(x):
    for _ in range(3):
        x = np.sin(x) * 1.1 + 0.1
        x = np.exp(np.tanh(x))
    return np.sum(x)


def rational(x, c):
    """Arithmetic only, with a broadcast operand and a plain-array coefficient."""
    p = ((0.3 * x - 1.2) * x + c) * x - 0.1
    q = (0.2 * x + 0.5) * x + 1.0
    r = p / q
    return np.sum(r * r)


def replays(jitted, *args, calls=4):
    """The last of ``calls`` calls of a new signature: two are traced, the rest must replay."""
    before = jitted.stats["replays"]
    results = [jitted(*args) for _ in range(calls)]
    assert jitted.stats["replays"] - before == calls - 2, jitted.stats
    return results[-1]


def assert_close(a, b, rtol=1e-11):
    for x, y in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape and x.dtype == y.dtype
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * np.max(np.abs(y)))


def test_forced_fusion_fuses_forward_and_backward_and_matches_eager_and_fd():
    x = np.linspace(0.2, 1.5, 50)
    step = ga.jit(ga.value_and_grad(chain), fuse=True)
    value, grad = replays(step, x)
    prog = step.programs()[0]
    assert prog.fusion == "2 fused kernels"          # the forward run and the backward run
    assert "for i in range(n)" in prog.kernels[0].source and "np.sin" in prog.kernels[0].source
    assert_close((value, grad), ga.value_and_grad(chain)(x))
    numeric = numerical_vjp(chain, [x], [np.ones(())], (0,))[0]
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_auto_fuses_arithmetic_on_large_float64_arrays_only():
    c = np.array(0.7)
    big = np.linspace(-1, 1, _fusion.CPU_MIN_SIZE)
    small = big[::8].copy()
    step = ga.jit(ga.value_and_grad(rational))
    assert_close(replays(step, big, c), ga.value_and_grad(rational)(big, c))
    assert_close(replays(step, small, c), ga.value_and_grad(rational)(small, c))
    by_size = {p.meta["i0"][0]: p for p in step.programs()}
    assert by_size[big.shape].kernels and by_size[big.shape].fusion.endswith("fused kernels")
    assert not by_size[small.shape].kernels            # below the size where numba pays
    # transcendental functions stay NumPy's (SIMD) kernels under "auto"
    sin_step = ga.jit(ga.value_and_grad(lambda x: np.sum(np.sin(np.cos(x)))))
    replays(sin_step, big)
    assert not sin_step.programs()[0].kernels


def test_unfused_replay_is_bit_for_bit_eager():
    big = np.linspace(-1, 1, _fusion.CPU_MIN_SIZE)
    c = np.array(0.7)
    step = ga.jit(ga.value_and_grad(rational), fuse=False)
    value, grad = replays(step, big, c)
    ev, eg = ga.value_and_grad(rational)(big, c)
    assert value == ev and np.array_equal(grad, eg)
    assert not step.programs()[0].kernels


def test_fused_replay_tracks_new_inputs():
    rng = np.random.default_rng(0)
    step = ga.jit(ga.grad(rational), fuse=True)
    c = np.array(0.7)
    for _ in range(5):
        x = rng.normal(size=300)
        assert_close(step(x, c), ga.grad(rational)(x, c))
    assert step.stats["replays"] == 3 and step.programs()[0].kernels


def test_runs_break_at_reductions_broadcasts_and_closures():
    mask = np.array([1.0, 0.0, 2.0])

    def f(x, y):
        a = np.sin(x) * 2.0 + 1.0               # run 1, shape (4, 3)
        s = np.sum(a, axis=0)                   # a reduction ends it
        b = (s * s + 1.0) * mask                # shape (3,): a new run; ``mask`` is a constant
        return np.sum(b * y[:, None].T[0])      # broadcasting of another shape

    x, y = np.linspace(0, 1, 12).reshape(4, 3), np.array([0.5, -1.0, 2.0])
    step = ga.jit(ga.value_and_grad(f, argnums=(0, 1)), fuse=True)
    value, grads = replays(step, x, y)
    ev, eg = ga.value_and_grad(f, argnums=(0, 1))(x, y)
    assert_close((value,) + tuple(grads), (ev,) + tuple(eg))
    for k in step.programs()[0].kernels:
        assert "sum" not in k.source


def test_a_fused_program_that_disagrees_is_dropped(monkeypatch):
    real_build = _fusion.NumbaFuser.build

    def wrong_build(self, inputs, outputs):
        kernel = real_build(self, inputs, outputs)
        run = kernel.run
        kernel.run = lambda *a: tuple(v * (1 + 1e-6) for v in run(*a))      # a subtly wrong kernel
        return kernel

    monkeypatch.setattr(_fusion.NumbaFuser, "build", wrong_build)
    x = np.linspace(0.2, 1.5, 50)
    step = ga.jit(ga.value_and_grad(chain), fuse=True)
    value, grad = replays(step, x)
    prog = step.programs()[0]
    assert not prog.kernels and "differs from the eager result" in prog.fusion
    ev, eg = ga.value_and_grad(chain)(x)
    assert value == ev and np.array_equal(grad, eg)


def test_guards_still_choose_the_branch_in_fused_programs():
    def f(x):
        y = np.sin(x) * 2.0 + 1.0
        if np.sum(y) > 20:
            return np.sum(y * y * 0.5)
        return np.sum(y * 3.0 - 1.0)

    step = ga.jit(ga.grad(f), fuse=True)
    low, high = np.full(10, 0.1), np.full(10, 1.2)
    for x in (low, low, low, high, high, high, low):
        assert_close(step(x), ga.grad(f)(x))
    assert len(step.programs()) == 2 and all(p.kernels for p in step.programs())


def test_fusion_in_the_node_form_grad_of_jit():
    f = ga.jit(lambda x: np.sum(np.tanh(x * 1.5 - 0.2) * x), fuse=True)
    x = np.linspace(-1, 1, 40)
    for _ in range(4):
        g = ga.grad(f)(x)
    assert f.stats["replays"] == 2 and f.programs()[0].kernels
    assert_close(g, ga.grad(lambda x: np.sum(np.tanh(x * 1.5 - 0.2) * x))(x))


def test_float32_is_not_fused_by_numba_but_stays_right():
    x = np.linspace(0.2, 1.5, 50, dtype=np.float32)
    step = ga.jit(ga.value_and_grad(chain), fuse=True)
    value, grad = replays(step, x)
    assert not step.programs()[0].kernels and grad.dtype == np.float32
    ev, eg = ga.value_and_grad(chain)(x)
    assert value == ev and np.array_equal(grad, eg)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_device_runs_fuse_through_the_namespace_fuse(dtype):
    """The CuPy path: one ``xp.fuse`` kernel per run, here on the stand-in device array."""
    def f(x):
        y = np.exp(np.sin(x) * 0.5 + 0.25)
        return np.sum(np.real(y * np.conj(y)))

    host = np.linspace(0.1, 1.0, 30).astype(dtype)
    if np.dtype(dtype).kind == "c":
        host = host + 0.3j * host[::-1]
    x = standin.asarray(host)
    step = ga.jit(ga.value_and_grad(f))
    with standin.recording() as calls:
        value, grad = replays(step, x)
    assert ("namespace", "fuse", ()) in calls
    prog = step.programs()[0]
    assert prog.kernels and "xp.sin" in prog.kernels[0].source
    ev, eg = ga.value_and_grad(f)(x)
    assert type(grad) is standin.StandinArray and grad.dtype == eg.dtype
    rtol = 1e-5 if dtype is np.float32 else 1e-12
    assert_close((np.asarray(value.get() if hasattr(value, "get") else value), grad.get()),
                 (np.asarray(ev.get() if hasattr(ev, "get") else ev), eg.get()), rtol=rtol)


def test_a_run_numba_cannot_type_stays_unfused_and_the_rest_fuses():
    def f(x, z):
        a = (x * 2.0 + 1.0) * x                   # fuses
        b = np.less(z * 1.5, z + 1.0)              # complex ordering: numba cannot type it
        return np.sum(a) + np.sum(np.where(b, 1.0, 0.0))

    x = np.linspace(0, 1, 20)
    z = (x + 0.5j).astype(np.complex128)
    step = ga.jit(ga.grad(f), fuse=True)
    replays(step, x, z)
    prog = step.programs()[0]
    assert prog.kernels and all("<" not in k.source for k in prog.kernels)
    assert np.array_equal(step(x, z), ga.grad(f)(x, z))


def test_fuse_argument_is_checked():
    with pytest.raises(ValueError, match="fuse must be"):
        ga.jit(chain, fuse="yes")


def test_sym_refuses_what_is_not_elementwise():
    s = _fusion.Sym("in", (0,), (3,), np.dtype(np.float64))
    assert isinstance(np.sin(s) * 2 + s, _fusion.Sym)
    for bad in (lambda: bool(s > 0), lambda: np.sum(s), lambda: s[0], lambda: np.add.reduce(s),
                lambda: s * np.ones(3), lambda: float(s)):
        with pytest.raises(_fusion.NotFusible):
            bad()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.divide(1.0, s).dtype == np.float64      # dtype found without a warning


def _random_model(rng, depth=6):
    """A random elementwise expression of x (arithmetic, math functions, where, a closure
    constant), as a NumPy function: what legacy models are made of."""
    unary = [np.sin, np.tanh, np.exp, lambda a: a * a, np.negative, lambda a: 1.0 / (1.0 + a * a),
             np.cos, lambda a: np.where(a > 0.3, a, 0.5 * a)]
    binary = [np.add, np.subtract, np.multiply, lambda a, b: a / (1.5 + b * b), np.maximum]
    plan = [(int(rng.integers(2)), int(rng.integers(8)), float(rng.uniform(-1, 1)))
            for _ in range(depth)]

    def model(x):
        values = [x]
        for kind, k, c in plan:
            a = values[-1]
            if kind == 0:
                values.append(unary[k % len(unary)](a) + c)
            else:
                values.append(binary[k % len(binary)](a, values[k % len(values)] * c))
        return np.sum(values[-1] * values[len(values) // 2])
    return model


@pytest.mark.parametrize("seed", range(8))
def test_random_elementwise_models_fused_agree_with_eager_and_differences(seed):
    rng = np.random.default_rng(seed)
    model = _random_model(rng)
    x = rng.uniform(-1, 1, 37)
    step = ga.jit(ga.value_and_grad(model), fuse=True)
    value, grad = replays(step, x)
    assert step.programs()[0].kernels, step.programs()[0].fusion
    assert_close((value, grad), ga.value_and_grad(model)(x), rtol=1e-10)
    numeric = numerical_vjp(model, [x], [np.ones(())], (0,))[0]
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)
