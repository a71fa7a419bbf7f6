"""The engine (gradarray/_tape.py, _versions.py, _dispatch.py, _array.py, _registry.py, _creation.py): tape, backward, grad mode, version
counters, dispatch errors, rule registration, and the GradArray object itself.

Only the most basic rules (add, multiply, sin, exp, sum, ...) are used, so that these tests do not
depend on the rule families being written elsewhere.
"""
import pickle
import threading
import time
import warnings

import numpy as np
import pytest

import gradarray as ga
from gradarray._tables import IMPLEMENTATIONS, NONDIFFERENTIABLE, RULES
from gradarray.testing import gradcheck, gradgradcheck


@pytest.fixture
def scratch_registry():
    """A test may add or remove rules; the registries are restored afterwards."""
    saved = dict(RULES), dict(IMPLEMENTATIONS), set(NONDIFFERENTIABLE)
    yield
    RULES.clear(), RULES.update(saved[0])
    IMPLEMENTATIONS.clear(), IMPLEMENTATIONS.update(saved[1])
    NONDIFFERENTIABLE.clear(), NONDIFFERENTIABLE.update(saved[2])


def leaf(values, backend=None, dtype=None):
    host = np.array(values, dtype=dtype)
    if host.dtype.kind not in "fc":
        host = host.astype(float)
    return ga.asarray(host if backend is None else backend.asarray(host), requires_grad=True)


# ------------------------------------------------------------------ backward
def test_backward_on_scalar(backend):
    x = leaf([0.5, -1.0, 2.0], backend)
    np.sum(np.sin(x) * x).backward()
    h = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(backend.to_host(x.grad), np.sin(h) + h * np.cos(h))
    assert x.grad.shape == x.shape and x.grad.device == x.device


def test_backward_accumulates_into_grad():
    x = leaf([1.0, 2.0])
    np.sum(x * x).backward()
    np.sum(x * 3.0).backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0 + 3.0, 4.0 + 3.0])


def test_non_scalar_backward_needs_gradient():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="scalar output.*gradient="):
        np.sin(x).backward()


def test_backward_with_gradient_argument(backend):
    x = leaf([0.1, 0.2, 0.3], backend)
    v = np.array([1.0, -2.0, 0.5])
    np.sin(x).backward(gradient=backend.asarray(v))
    np.testing.assert_allclose(backend.to_host(x.grad), v * np.cos([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="shape"):
        np.sin(x).backward(gradient=np.ones(4))


def test_backward_on_untracked_array_is_an_error():
    x = ga.asarray(np.ones(2))
    with pytest.raises(RuntimeError, match="does not require grad"):
        np.sum(x * x).backward()


def test_retain_graph_and_second_backward():
    x = leaf([1.0, 2.0])
    y = np.sum(np.sin(x) * x)
    y.backward(retain_graph=True)
    first = x.grad.numpy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_deep_chain_has_no_recursion_limit():
    n = 100_000
    x = leaf(1.0)
    y = x
    start = time.perf_counter()
    for _ in range(n):
        y = y * 1.00001
    y.backward()
    elapsed = time.perf_counter() - start
    np.testing.assert_allclose(x.grad.item(), 1.00001 ** n, rtol=1e-9)
    assert elapsed < 30, f"forward+backward of a {n}-node chain took {elapsed:.1f} s"


def test_shared_subexpression_gradients_add_up(backend):
    x = leaf([0.3, 0.7], backend)
    s = np.sin(x)
    np.sum(s * s + s).backward()
    h = np.array([0.3, 0.7])
    np.testing.assert_allclose(backend.to_host(x.grad), (2 * np.sin(h) + 1) * np.cos(h))


# ------------------------------------------------------------------ in-place and version counters
def test_modifying_saved_array_in_place_is_detected():
    x = leaf([1.0, 2.0])
    y = x * 1.0
    z = np.sin(y)               # saves y for backward
    y += 1.0
    with pytest.raises(RuntimeError, match="modified in place"):
        np.sum(z).backward()


def test_setitem_into_saved_array_is_detected():
    x = leaf([1.0, 2.0])
    y = x * 1.0
    z = y * y
    y[0] = 5.0
    with pytest.raises(RuntimeError, match="modified in place"):
        np.sum(z).backward()


def test_in_place_on_leaf_is_an_error():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="leaf"):
        x += 1.0
    with pytest.raises(RuntimeError, match="leaf"):
        x[0] = 3.0
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])      # refused before writing


def test_in_place_on_computed_array_keeps_gradient(backend):
    def f(x):
        y = x * 2.0
        y += np.sin(x)
        y *= x
        return y
    gradcheck(f, backend.asarray([0.4, -1.2, 2.0]))


# ------------------------------------------------------------------ grad mode
def test_no_grad_and_optimizer_step():
    x = leaf([1.0, -2.0])
    loss = np.sum(x * x)
    loss.backward()
    with ga.no_grad():
        y = np.sin(x)
        assert not y.requires_grad and y.grad_fn is None
        x -= 0.25 * x.grad            # optimiser step on a leaf is allowed here
    assert x.is_leaf and x.requires_grad
    np.testing.assert_allclose(x.numpy(), [0.5, -1.0])
    assert ga.is_grad_enabled()


def test_enable_grad_inside_no_grad_and_decorators():
    x = leaf([1.0])
    with ga.no_grad():
        assert not ga.is_grad_enabled()
        with ga.enable_grad():
            assert np.sin(x).requires_grad
        assert not np.sin(x).requires_grad

    @ga.no_grad()
    def untracked(v):
        return v * 2.0

    assert not untracked(x).requires_grad
    with ga.set_grad_enabled(False):
        assert not (x * 2.0).requires_grad
    assert (x * 2.0).requires_grad


def test_grad_mode_is_thread_local():
    x = leaf([1.0])
    entered, done = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with ga.no_grad():
            entered.set()
            done.wait(5)
            seen["thread"] = (x * 2.0).requires_grad

    t = threading.Thread(target=worker)
    t.start()
    entered.wait(5)
    seen["main"] = (x * 2.0).requires_grad     # main thread, while the worker is inside no_grad
    done.set()
    t.join()
    assert seen == {"main": True, "thread": False}


# ------------------------------------------------------------------ dtypes, scalars, broadcasting
def test_integer_and_bool_arrays_cannot_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        ga.asarray(np.arange(3), requires_grad=True)
    with pytest.raises(TypeError, match="floating-point"):
        ga.asarray(np.array([True, False])).requires_grad_()
    with pytest.raises(TypeError, match="floating-point"):
        ga.arange(3, requires_grad=True)


def test_mixing_python_scalars_and_ndarrays():
    x = leaf([1.0, 2.0])
    a = np.array([3.0, 4.0])
    for y in (a + x, x + 2.0, np.float64(2.0) * x, 2.0 - x, x / a):
        assert type(y) is ga.GradArray and y.requires_grad
    np.sum(a * x + np.float64(2.0) * x + 1.0).backward()
    np.testing.assert_allclose(x.grad.numpy(), a + 2.0)


def test_broadcasting_gradients_reduce_to_input_shape(backend, rng):
    a = backend.asarray(rng.standard_normal((3, 1)))
    b = backend.asarray(rng.standard_normal((4,)))
    c = backend.asarray(rng.standard_normal((2, 1, 1)))
    gradcheck(lambda a, b, c: a * b + c * np.sin(b), a, b, c)
    x, y = leaf(np.ones((3, 1)), backend), leaf(np.ones(4), backend)
    np.sum(x * y).backward()
    assert x.grad.shape == (3, 1) and y.grad.shape == (4,)


def test_float32_stays_float32(backend):
    x = leaf([1.0, 2.0], backend, dtype=np.float32)
    y = np.sum(np.exp(x) * 2.0 + x)       # Python floats do not promote float32
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32
    gradcheck(lambda x: np.sin(x) * x, backend.asarray(np.array([0.5, 1.5], np.float32)))


def test_complex_convention(backend):
    """PyTorch's convention: for L = sum |z|^2, z.grad = dL/dRe z + i dL/dIm z = 2 z."""
    zh = np.array([1.0 + 2.0j, -0.5 + 0.25j])
    z = leaf(zh, backend)
    loss = np.sum(z * np.conj(z))          # real-valued (imaginary part 0)
    loss.backward(gradient=1.0)            # seed 1: differentiate the real part
    np.testing.assert_allclose(backend.to_host(z.grad), 2 * zh)
    # so z - lr * z.grad is a gradient-descent step
    with ga.no_grad():
        z -= 0.1 * z.grad
    assert np.sum(np.abs(backend.to_host(z.data)) ** 2) < np.sum(np.abs(zh) ** 2)


def test_complex_holomorphic_and_real_input(backend):
    gradcheck(lambda z: z * np.exp(z) + np.sin(z), backend.asarray([0.3 + 0.4j, -1.0 + 0.1j]))
    # a real input meeting complex values gets a real gradient
    gradcheck(lambda x: x * (1.0 + 2.0j) * x, backend.asarray([0.5, -1.5]))


# ------------------------------------------------------------------ losing the tape
def test_np_asarray_of_tracked_warns_or_raises_in_strict_mode():
    x = leaf([1.0, 2.0])
    with pytest.warns(ga.GradientLostWarning):
        np.asarray(x)
    previous = ga.set_strict(True)
    try:
        with pytest.raises(RuntimeError, match="requires grad"):
            np.asarray(x)
    finally:
        ga.set_strict(previous)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.asarray(x.detach())              # explicit cut: no warning
        np.asarray(ga.asarray(np.ones(2)))  # untracked: no warning


def test_unsupported_function_with_tracked_input_raises(scratch_registry, backend):
    for f in (np.sinh, np.sum):        # a ufunc and an array function, with their rules removed
        RULES.pop(f, None)
        IMPLEMENTATIONS.pop(f, None)
        NONDIFFERENTIABLE.discard(f)
    x = leaf([0.5, 1.0], backend)
    with pytest.raises(TypeError, match=r"np\.sinh.*defvjp"):
        np.sinh(x)
    with pytest.raises(TypeError, match=r"np\.sum.*defvjp"):
        np.sum(x)
    # the same functions on untracked inputs just run
    u = ga.asarray(backend.asarray([0.5, 1.0]))
    np.testing.assert_allclose(backend.to_host(np.sinh(u).data), np.sinh([0.5, 1.0]))
    np.testing.assert_allclose(np.sum(u).item(), 1.5)
    with ga.no_grad():
        assert not np.sinh(x).requires_grad


# ------------------------------------------------------------------ registering rules
def test_defvjp_on_numpy_function(scratch_registry, backend):
    RULES.pop(np.sinh, None)
    IMPLEMENTATIONS.pop(np.sinh, None)
    out = ga.defvjp(np.sinh, lambda g, ans, x: g * (np.exp(x) + np.exp(-x)) / 2, save="args")
    assert out is np.sinh
    x = backend.asarray([0.2, -0.7])
    gradcheck(np.sinh, x)
    gradgradcheck(np.sinh, x)          # the VJP is made of np.* calls, so it is differentiable too


def test_custom_vjp_joint(backend):
    @ga.custom_vjp
    def softplus(x):                   # runs on raw arrays
        return np.log(1.0 + np.exp(x))

    @softplus.defvjp()                 # no arguments: decorator for a joint VJP
    def _(g, ans, x):
        return (g / (1.0 + np.exp(-x)),)

    x = backend.asarray([-1.0, 0.0, 2.0])
    assert type(softplus(x)) is type(x)          # raw in, raw out
    gradcheck(softplus, x)
    gradgradcheck(softplus, x)


def test_custom_vjp_docstring_decorator_form():
    @ga.custom_vjp
    def clipped_sqrt(x):
        return np.sqrt(np.maximum(x, 1e-12))

    @clipped_sqrt.defvjp
    def _(g, ans, x):
        return (g / (2 * ans),)

    gradcheck(clipped_sqrt, np.array([0.5, 2.0]))


def test_primitive_with_per_argument_vjps(backend):
    @ga.primitive
    def mul_add(x, y, c):
        return x * y + c

    mul_add.defvjp(lambda g, ans, x, y, c: g * y, lambda g, ans, x, y, c: g * x, None, save="args")
    x, y = backend.asarray([1.0, 2.0]), backend.asarray([3.0, -1.0])
    gradcheck(lambda x, y: mul_add(x, y, 5.0), x, y)
    gradgradcheck(lambda x, y: mul_add(x, y, 5.0), x, y)


def test_defvjp_on_plain_python_function_returns_primitive():
    def cube(x):
        return x * x * x

    prim = ga.defvjp(cube, lambda g, ans, x: 3.0 * g * x * x, save="args")
    assert isinstance(prim, ga.Primitive)
    gradcheck(prim, np.array([0.5, -2.0]))


def test_primitive_without_rule_refuses_tracked_input():
    prim = ga.primitive(lambda x: x * 2.0)
    assert prim(ga.asarray(np.ones(2))).requires_grad is False
    with pytest.raises(TypeError, match="defvjp"):
        prim(leaf([1.0]))


# ------------------------------------------------------------------ the GradArray object
def test_detach_and_requires_grad_():
    x = leaf([1.0, 2.0])
    y = np.sin(x)
    d = y.detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    assert np.shares_memory(d.data, y.data)
    assert not y.is_leaf and y.grad_fn is not None
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    u = ga.asarray(np.ones(2))
    assert u.requires_grad_() is u and u.requires_grad and u.is_leaf
    u.requires_grad = False
    assert not u.requires_grad


def test_repr():
    x = leaf([1.0, 2.0])
    assert "requires_grad=True" in repr(x)
    assert "grad_fn=" in repr(np.sin(x))
    assert "grad_fn" not in repr(ga.asarray(np.ones(2))) and "requires_grad" not in repr(ga.asarray(np.ones(2)))


def test_conversions():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    host = x.numpy()
    assert type(host) is np.ndarray
    host[0, 0] = 100.0                                  # a copy
    assert x.numpy()[0, 0] == 1.0
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert len(x) == 2
    s = np.sum(x)
    assert s.item() == 10.0 and float(s) == 10.0 and int(s) == 10 and bool(s)
    assert complex(s) == 10.0
    i = ga.asarray(np.int64(1))
    assert [10, 20, 30][i] == 20 and ga.asarray(np.arange(4))[i].item() == 1
    with pytest.raises(TypeError):
        [1, 2][ga.asarray(1.0)]
    with pytest.raises(ValueError, match="ambiguous"):
        bool(x)
    with pytest.raises((TypeError, ValueError)):
        float(x)
    with pytest.raises(TypeError):
        len(s)


def test_iteration_keeps_the_tape():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    rows = list(x)
    assert len(rows) == 2 and all(type(r) is ga.GradArray and r.requires_grad for r in rows)
    np.sum(rows[0] * 2.0 + rows[1] * 3.0).backward()
    np.testing.assert_allclose(x.grad.numpy(), [[2.0, 2.0], [3.0, 3.0]])


def test_like_creation_returns_gradarray(backend):
    x = leaf([1.0, 2.0], backend)
    for z in (np.zeros(3, like=x), np.ones((2, 2), like=x), np.arange(3.0, like=x),
              np.full(2, 7.0, like=x), np.eye(2, like=x)):
        assert type(z) is ga.GradArray and not z.requires_grad and z.device == x.device


def test_creation_functions_with_requires_grad():
    for x in (ga.zeros(3, requires_grad=True), ga.ones((2, 2), requires_grad=True),
              ga.full(2, 1.5, requires_grad=True), ga.linspace(0, 1, 4, requires_grad=True),
              ga.eye(2, requires_grad=True), ga.arange(0.0, 3.0, requires_grad=True),
              ga.zeros_like(np.ones(3), requires_grad=True), ga.array([1.0, 2.0], requires_grad=True)):
        assert x.requires_grad and x.is_leaf and x.device == "cpu"
    x = ga.ones(3, requires_grad=True)
    np.sum(x * x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, 2.0])
    with pytest.raises(TypeError, match="GradArray"):
        ga.GradArray(np.ones(2))


def test_asarray_copy_semantics():
    h = np.ones(3)
    assert np.shares_memory(ga.asarray(h).data, h)
    assert not np.shares_memory(ga.array(h).data, h)
    assert ga.asarray(h, dtype=np.float32).dtype == np.float32


def test_pickle_round_trip():
    x = leaf([1.0, 2.0])
    y = pickle.loads(pickle.dumps(x))
    assert type(y) is ga.GradArray and y.requires_grad and y.is_leaf
    np.testing.assert_array_equal(y.numpy(), [1.0, 2.0])
    z = pickle.loads(pickle.dumps(np.sin(x)))     # the graph is not pickled
    assert not z.requires_grad
    np.testing.assert_allclose(z.numpy(), np.sin([1.0, 2.0]))
