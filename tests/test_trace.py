"""trace_numpy: allocate-then-fill legacy code keeps the tape; the numpy module is restored exactly."""
import threading
import warnings

import numpy as np
import pytest

import gradarray as ga
from gradarray.testing import gradcheck
from gradarray.trace import _WRAPPERS, is_tracing, trace_numpy


def _numpy_functions():
    return {name: getattr(np, name) for name in _WRAPPERS}


@pytest.fixture(autouse=True)
def no_leaks():
    before = _numpy_functions()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ga.GradientLostWarning)   # a lost tape fails the test
        yield
    assert _numpy_functions() == before and not is_tracing()


# ------------------------------------------------------------------------- legacy functions (plain NumPy)
def fill_loop(x):
    out = np.zeros(len(x))
    for i in range(len(x)):
        out[i] = np.sin(x[i]) * x[i]
    return out


def lotka_volterra_rhs(state, a, b, c, d):
    x, y = state[0], state[1]
    return np.array([a * x - b * x * y, d * x * y - c * y])


def euler(params, n=15, dt=0.05):
    state = np.array([1.0, 0.5])
    for _ in range(n):
        state = state + dt * lotka_volterra_rhs(state, *params)
    return state


def build_matrix(p):
    m = np.eye(3)
    m[0, 1] = p[0]
    m[1, 2] = p[1] * p[0]
    m[2] = np.full(3, p[1])
    return m @ np.ones_like(p, shape=(3,))


@pytest.mark.parametrize("legacy", [fill_loop, euler, build_matrix])
def test_legacy_functions_differentiate(backend, legacy):
    if legacy is euler:
        p = np.array([1.1, 0.4, 0.9, 0.2])
    else:
        p = np.array([0.3, -0.8, 1.4])[: 2 if legacy is build_matrix else 3]
    if backend.name != "numpy":
        pytest.skip("trace_numpy allocates on the CPU unless device= is given (see test_device)")
    gradcheck(trace_numpy(legacy), backend.asarray(p))


def test_without_the_mode_the_tape_is_lost_loudly():
    x = ga.asarray(np.array([0.1, 0.2]), requires_grad=True)
    with pytest.raises(ga.GradientLostWarning):
        out = np.zeros(2)
        out[:] = np.sin(x)
    # storing a tracked element into a plain ndarray warns at the assignment (NumPy goes through
    # float()), and the functional API then refuses the disconnected result
    with warnings.catch_warnings():
        warnings.simplefilter("always", ga.GradientLostWarning)
        with pytest.warns(ga.GradientLostWarning, match="plain number"):
            with pytest.raises(TypeError, match="trace_numpy"):
                ga.grad(lambda t: np.sum(fill_loop(t)))(np.array([0.1, 0.2]))


def test_decorator_forms_and_context_manager():
    x = np.array([0.2, 0.7])
    g1 = ga.grad(lambda t: np.sum(trace_numpy(fill_loop)(t)))(x)
    g2 = ga.grad(lambda t: np.sum(trace_numpy()(fill_loop)(t)))(x)

    def with_block(t):
        with trace_numpy():
            return np.sum(fill_loop(t))
    g3 = ga.grad(with_block)(x)
    expected = np.sin(x) + x * np.cos(x)
    for g in (g1, g2, g3):
        assert np.allclose(g, expected)


def test_creation_semantics_inside_the_mode():
    t = ga.asarray(np.array([1.0, 2.0]), requires_grad=True)
    plain = np.arange(3.0)
    with trace_numpy():
        assert np.asarray(t) is t
        assert type(np.zeros(2)) is ga.GradArray and not np.zeros(2).requires_grad
        assert type(np.array([1.0, 2.0])) is ga.GradArray             # a fresh buffer
        assert type(np.asarray(plain)) is np.ndarray                  # conversions of plain data
        assert type(np.array(plain, copy=None)) is np.ndarray
        assert np.array([t, t]).requires_grad and np.array([t, t]).shape == (2, 2)
        assert np.array(t, ndmin=3).shape == (1, 1, 2)
        assert np.array([[t[0], 1.0], [2.0, t[1]]]).requires_grad
        assert np.full(3, t[0]).requires_grad and np.full_like(plain, t[1]).requires_grad
        z = np.zeros_like(t)
        assert type(z) is ga.GradArray and not z.requires_grad
        assert np.array([1, 2], dtype=np.float32).dtype == np.float32
        assert np.zeros(3, dtype=int).dtype.kind == "i"
        assert type(np.zeros(2, like=plain)) is np.ndarray
        with ga.no_grad():                       # nothing is recorded: NumPy's own behaviour
            assert type(np.zeros(2)) is np.ndarray


def test_nesting_and_restoring_on_exceptions():
    zeros = np.zeros
    with trace_numpy():
        with trace_numpy():
            assert np.zeros is not zeros
        assert np.zeros is not zeros and is_tracing()
    assert np.zeros is zeros
    with pytest.raises(ZeroDivisionError):
        with trace_numpy():
            1 / 0
    assert np.zeros is zeros

    @trace_numpy
    def fails():
        raise ValueError("boom")
    with pytest.raises(ValueError):
        fails()
    assert np.zeros is zeros


def test_backward_inside_the_mode():
    x0 = np.array([0.5, 1.5])
    with trace_numpy():
        x = ga.asarray(x0, requires_grad=True)
        y = np.sum(fill_loop(x))
        y.backward()
        g = ga.grad(lambda t: np.sum(fill_loop(t)))(x0)
    expected = np.sin([0.5, 1.5]) + np.array([0.5, 1.5]) * np.cos([0.5, 1.5])
    assert np.allclose(x.grad.numpy(), expected) and np.allclose(g, expected)
    assert type(g) is np.ndarray


def test_second_order_through_filled_buffers():
    x = np.array([0.3, 0.9])
    h = ga.hessian(lambda t: np.sum(trace_numpy(fill_loop)(t)))(x)
    assert np.allclose(h, np.diag(2 * np.cos(x) - x * np.sin(x)))


def test_device(backend):
    if backend.name == "numpy":
        pytest.skip("device= matters for device backends")
    x = backend.asarray(np.array([0.2, 0.4]))
    device = ga.asarray(x).device
    gradcheck(trace_numpy(device=device)(fill_loop), x)


def test_other_threads_do_not_see_the_mode():
    # the mode belongs to the thread that entered it (issue 11, point 15)
    seen = []
    with trace_numpy():
        th = threading.Thread(target=lambda: seen.append(type(np.zeros(1))))
        th.start()
        th.join()
        assert type(np.zeros(1)) is ga.GradArray
    assert seen == [np.ndarray]


def test_trajectory_buffer_time_loop():
    """``traj[i + 1] = traj[i] + dt * f(traj[i])``: NumPy scalars/rows read from a buffer that is
    written later. Needs the engine to stop treating reads of rows/elements whose memory is never
    written again as invalidated (see the report: version counter shared by every view)."""
    def integrate(k, n=8, dt=0.1):
        traj = np.zeros((n, 2))
        traj[0] = [1.0, 0.0]
        for i in range(n - 1):
            pos, vel = traj[i]
            traj[i + 1] = traj[i] + dt * np.array([vel, -k[0] * pos])
        return traj[-1]
    try:
        gradcheck(trace_numpy(integrate), np.array([2.0]))
    except RuntimeError as exc:
        if "modified in place" in str(exc):
            pytest.xfail("engine: element views of a buffer share its version counter (reported)")
        raise
