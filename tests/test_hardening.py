"""Engine hardening: each test here failed before the fix it guards (issue 11).

Silent wrong values first (nesting, pullbacks, shapes, complex outputs, foreign array types), then
crashes, then memory/time/threads (the bounded soak part lives in test_soak.py).
"""
import copy
import pickle
import threading

import numpy as np
import pytest

import gradarray as ga
from gradarray.testing import gradcheck


# ------------------------------------------------------------------ nesting through closures
def test_grad_nests_through_a_closure():
    # d/dx [x * d/dy (x * y)] = d/dx x^2 = 2x
    f = lambda x: x * ga.grad(lambda y: x * y)(2.0)
    assert ga.grad(f)(1.0) == pytest.approx(2.0)
    assert ga.grad(f)(3.0) == pytest.approx(6.0)


def test_grad_nests_through_a_non_differentiated_argument():
    g = lambda x: ga.grad(lambda a, b: np.sin(a * b), argnums=1)(x, 0.3)
    x = 0.5
    expected = np.cos(0.3 * x) - 0.3 * x * np.sin(0.3 * x)      # d/dx [x cos(0.3 x)]
    assert ga.grad(g)(x) == pytest.approx(expected)


def test_closure_over_a_users_tracked_leaf_keeps_the_tape():
    w = ga.asarray(np.array([1.0, 2.0]), requires_grad=True)
    inner = ga.grad(lambda y: np.sum(w * y ** 2))(np.array([3.0, 4.0]))   # 2 w y
    assert isinstance(inner, ga.GradArray) and inner.requires_grad
    np.sum(inner).backward()
    np.testing.assert_allclose(w.grad.numpy(), [6.0, 8.0])


def test_inner_result_independent_of_outer_values_stays_plain():
    x_outer = []

    def f(x):
        x_outer.append(ga.grad(lambda y: np.sum(y ** 2))(np.array([1.0, 2.0])))
        return np.sum(x * 2.0)
    ga.grad(f)(np.ones(2))
    assert type(x_outer[0]) is np.ndarray


def test_value_and_grad_nests_and_jacobian_of_closure():
    def f(x):
        value, g = ga.value_and_grad(lambda y: np.sum(x * y ** 2))(np.array([1.0, 2.0]))
        return value + np.sum(g)                        # sum(x * [1, 4]) + sum(2 x y)
    np.testing.assert_allclose(ga.grad(f)(np.array([1.0, 1.0])), [1.0 + 2.0, 4.0 + 4.0])
    jac = ga.jacobian(lambda x: ga.grad(lambda y: np.sum(x * y ** 2))(np.array([1.0, 2.0])))(
        np.array([3.0, 5.0]))
    np.testing.assert_allclose(jac, np.diag([2.0, 4.0]))


# ------------------------------------------------------------------ vjp / jvp
def test_vjp_pullback_with_a_tracked_cotangent_is_differentiable():
    x0 = np.array([0.3, 1.2, -0.7])
    _, pullback = ga.vjp(np.sin, x0)
    # d/dc sum((cos(x) c)^2) = 2 cos(x)^2 c
    c0 = np.array([1.0, 2.0, 3.0])
    got = ga.grad(lambda c: np.sum(pullback(c)[0] ** 2))(c0)
    np.testing.assert_allclose(got, 2 * np.cos(x0) ** 2 * c0)


def test_gauss_newton_vector_product_via_vjp_of_jvp():
    A = np.array([[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]])
    r = lambda x: np.tanh(A @ x)
    x0, v = np.array([0.2, -0.1]), np.array([1.0, 0.5])
    _, jv = ga.jvp(r, (x0,), (v,))
    _, pullback = ga.vjp(r, x0)
    (gnvp,) = pullback(jv)
    J = ga.jacobian(r)(x0)
    np.testing.assert_allclose(gnvp, J.T @ J @ v, rtol=1e-10)


def test_vjp_of_vjp():
    x0 = np.array([0.4, -0.3])
    f = lambda x: np.exp(x) * x
    u = np.array([1.0, 2.0])
    second = ga.grad(lambda x: np.sum(ga.vjp(f, x)[1](u)[0]))(x0)       # d/dx sum(u f'(x))
    np.testing.assert_allclose(second, u * np.exp(x0) * (x0 + 2))


def test_forward_over_reverse_hessian_vector_product():
    f = lambda x: np.sum(np.sin(x) * x ** 2)
    x0, v = np.array([0.5, -1.0, 2.0]), np.array([1.0, 0.0, -2.0])
    H = ga.hessian(f)(x0)
    hvp_fwd_rev = ga.jvp(ga.grad(f), (x0,), (v,))[1]
    hvp_rev_fwd = ga.grad(lambda x: ga.jvp(f, (x,), (v,))[1])(x0)
    np.testing.assert_allclose(hvp_fwd_rev, H @ v, rtol=1e-10)
    np.testing.assert_allclose(hvp_rev_fwd, H @ v, rtol=1e-10)
    jac_of_jvp = ga.jacobian(lambda x: ga.jvp(np.sin, (x,), (v,))[1])(x0)
    np.testing.assert_allclose(jac_of_jvp, np.diag(-np.sin(x0) * v), atol=1e-12)


@pytest.mark.parametrize("primal, tangent, error", [
    (np.zeros(3), np.ones(1), ValueError),
    (np.zeros(3), np.ones((3, 1)), ValueError),
    (np.zeros(3), np.ones(3, dtype=complex), TypeError),
    (np.zeros(3), np.ones(3, dtype=np.float32), TypeError),
    (np.zeros(3), np.ones(3, dtype=int), TypeError),
])
def test_jvp_rejects_a_tangent_that_does_not_match(primal, tangent, error):
    with pytest.raises(error, match="tangent 0"):
        ga.jvp(np.sin, (primal,), (tangent,))


def test_jvp_needs_one_tangent_per_primal_leaf():
    with pytest.raises(ValueError, match="tangents"):
        ga.jvp(lambda a, b: a * b, (np.ones(2), np.ones(2)), (np.ones(2),))
    assert ga.jvp(np.sin, (0.5,), (1.0,))[1] == pytest.approx(np.cos(0.5))


def test_vjp_rejects_a_cotangent_of_the_wrong_shape():
    _, pullback = ga.vjp(np.sin, np.zeros(3))
    with pytest.raises(ValueError, match="cotangent"):
        pullback(np.ones(1))


# ------------------------------------------------------------------ shapes of gradients
def test_custom_vjp_returning_the_wrong_shape_raises_naming_the_function():
    @ga.custom_vjp
    def double(x):
        return 2 * x

    @double.defvjp
    def _(g, ans, x):
        return (np.ravel(2 * g)[:-1],)          # one element short

    x = ga.asarray(np.ones(4), requires_grad=True)
    with pytest.raises(ValueError, match="double.*shape \\(3,\\).*shape \\(4,\\)"):
        np.sum(double(x)).backward()


def test_custom_vjp_returning_a_reshapeable_but_wrong_shape_raises():
    @ga.custom_vjp
    def ident(x):
        return x * 1.0

    @ident.defvjp
    def _(g, ans, x):
        return (np.reshape(g, (3, 2)),)         # same size, wrong shape: used to be reshaped

    x = ga.asarray(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match="ident"):
        np.sum(ident(x)).backward()


def test_broadcast_gradients_are_still_reduced():
    x = ga.asarray(np.ones((1, 3)), requires_grad=True)
    np.sum(x * np.ones((4, 3))).backward()
    np.testing.assert_allclose(x.grad.numpy(), [[4.0, 4.0, 4.0]])


def test_assigning_grad_checks_shape_and_dtype():
    x = ga.asarray(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match="shape"):
        x.grad = np.zeros(4)
    with pytest.raises(TypeError, match="dtype"):
        x.grad = np.zeros(3, dtype=np.float32)
    with pytest.raises(TypeError, match="None or an array"):
        x.grad = [0.0, 0.0, 0.0]
    x.grad = np.full(3, 2.0)                     # right shape and dtype: accepted and accumulated
    np.sum(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0, 3.0])
    x.grad = None
    assert x.grad is None


# ------------------------------------------------------------------ complex outputs
def test_grad_of_a_complex_scalar_output_raises():
    with pytest.raises(TypeError, match="real scalar output"):
        ga.grad(lambda z: np.sum(z * (1 + 2j)))(np.ones(2))
    # the explicit real part is fine
    np.testing.assert_allclose(ga.grad(lambda z: np.real(np.sum(z * (1 + 2j))))(np.ones(2)), [1, 1])


def test_backward_of_a_0d_complex_result():
    s = ga.asarray(np.array(1 + 2j), requires_grad=True)
    (np.imag(s) * 2.0).backward()
    assert complex(s.grad.numpy()) == pytest.approx(2j)
    A = ga.asarray(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    p = np.prod(np.linalg.eigvals(A))
    (np.real(p) * 2.0 + np.imag(p) * 3.0).backward()        # prod(eigvals) = det
    np.testing.assert_allclose(A.grad.numpy(), 2.0 * np.array([[4.0, -3.0], [-2.0, 1.0]]),
                               atol=1e-10)


# ------------------------------------------------------------------ foreign array types
class Wrapper:
    """A container that implements NumPy's protocols and wraps whatever array it holds (as xarray
    and pandas do)."""

    def __init__(self, data):
        self.data = data

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = [x.data if isinstance(x, Wrapper) else x for x in inputs]
        return Wrapper(getattr(ufunc, method)(*inputs, **kwargs))

    def __array_function__(self, func, types, args, kwargs):
        return Wrapper(func(*[_unwrap(a) for a in args], **kwargs))


def _unwrap(a):
    if isinstance(a, (list, tuple)):
        return type(a)(_unwrap(x) for x in a)
    return a.data if isinstance(a, Wrapper) else a


@pytest.mark.parametrize("order", ["gradarray first", "wrapper first"])
def test_foreign_containers_wrap_gradarrays_and_keep_the_tape(order):
    x = ga.asarray(np.array([1.0, 2.0]), requires_grad=True)
    w = Wrapper(np.array([3.0, 4.0]))
    out = x * w if order == "gradarray first" else w * x
    assert isinstance(out, Wrapper) and isinstance(out.data, ga.GradArray)
    out2 = np.multiply(x, w)
    assert isinstance(out2, Wrapper)
    stacked = np.concatenate([x, w])            # __array_function__ defers too
    assert isinstance(stacked, Wrapper)
    np.sum(out.data).backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 4.0])


# ------------------------------------------------------------------ copies, pickles, cycles
@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy])
def test_copy_of_a_leaf_is_an_independent_leaf(copier):
    x = ga.asarray(np.array([1.0, 2.0]), requires_grad=True)
    np.sum(x * 3.0).backward()
    y = copier(x)
    assert y.is_leaf and y.requires_grad
    np.testing.assert_allclose(y.grad.numpy(), [3.0, 3.0])
    assert y.grad._data is not x.grad._data
    np.sum(y * 5.0).backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])        # the original is untouched
    np.testing.assert_allclose(y.grad.numpy(), [8.0, 8.0])
    with ga.no_grad():
        y[0] = 10.0
    assert x.numpy()[0] == 1.0


def test_copy_of_a_computed_array_stays_on_the_tape():
    x = ga.asarray(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 2.0
    np.sum(copy.deepcopy(h)).backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_pickle_keeps_values_and_leaf_requires_grad():
    x = ga.asarray(np.array([1.0, 2.0]), requires_grad=True)
    x2 = pickle.loads(pickle.dumps(x))
    assert x2.requires_grad and x2.is_leaf
    h2 = pickle.loads(pickle.dumps(x * 2.0))     # documented: a computed array comes back untracked
    assert not h2.requires_grad
    np.testing.assert_allclose(h2.numpy(), [2.0, 4.0])


def test_backward_with_create_graph_warns_about_the_cycle():
    x = ga.asarray(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.warns(RuntimeWarning, match="reference cycle"):
        np.sum(x ** 3).backward(create_graph=True)
    assert x.grad.requires_grad


# ------------------------------------------------------------------ threads
def test_eight_threads_backward_into_one_shared_leaf_is_exact():
    w = ga.asarray(np.ones(50), requires_grad=True)
    barrier = threading.Barrier(8)
    errors = []

    def work():
        try:
            barrier.wait()
            for _ in range(40):
                np.sum(np.sin(w) * 2.0).backward()
        except Exception as exc:      # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    np.testing.assert_allclose(w.grad.numpy(), 8 * 40 * 2.0 * np.cos(1.0), rtol=1e-12)


def test_two_threads_backward_through_one_graph_get_a_clear_error_or_the_right_result():
    for _ in range(20):
        x = ga.asarray(np.linspace(0, 1, 200), requires_grad=True)
        y = x
        for _ in range(30):
            y = np.sin(y) * 1.01
        loss = np.sum(y)
        outcomes = []

        def run():
            try:
                loss.backward()
                outcomes.append("ok")
            except RuntimeError as exc:
                assert "second time" in str(exc)
                outcomes.append("error")
        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["error", "ok"]
        expected = ga.grad(lambda v: np.sum(_chain(v)))(np.linspace(0, 1, 200))
        np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)


def _chain(y):
    for _ in range(30):
        y = np.sin(y) * 1.01
    return y


def test_gradcheck_still_passes_through_nested_closures():
    x0 = np.array([0.3, -0.2])
    assert gradcheck(lambda x: ga.grad(lambda y: np.sum(np.sin(x * y)))(np.array([1.0, 2.0])), x0)


# ------------------------------------------------------------------ trace_numpy
def test_trace_numpy_with_numpy_random_inside():
    rng_outside = np.random.default_rng(1)

    @ga.trace_numpy
    def noisy(x):
        noise = np.random.randn(3)                      # legacy global generator
        noise = noise + np.random.RandomState(0).normal(size=3)
        noise = noise + np.random.default_rng(0).normal(size=3) + rng_outside.normal(size=3)
        out = np.zeros(3)
        out[:] = x * 2.0 + 0.0 * noise
        return np.sum(out)
    for draw in (np.random.randn(3), None):
        assert draw is None or type(draw) is np.ndarray
    np.testing.assert_allclose(ga.grad(noisy)(np.ones(3)), [2.0, 2.0, 2.0])


def test_trace_numpy_pad_is_wrapped_once():
    x = ga.asarray(np.ones(2), requires_grad=True)
    with ga.trace_numpy():
        padded = np.pad(x, 1)
    assert type(padded._data) is np.ndarray
    np.sum(padded * 2.0).backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_trace_numpy_entered_in_one_thread_leaves_others_alone():
    stop = threading.Event()
    errors, kinds = [], set()

    def allocate():
        while not stop.is_set():
            try:
                kinds.add(type(np.zeros(2)))
                kinds.add(type(np.asarray([1.0])))
            except Exception as exc:     # KeyError: 'zeros' before the fix
                errors.append(exc)
                return
    other = threading.Thread(target=allocate)
    other.start()
    try:
        for _ in range(300):
            with ga.trace_numpy():
                assert type(np.zeros(1)) is ga.GradArray
    finally:
        stop.set()
        other.join()
    assert not errors
    assert kinds == {np.ndarray}


def test_trace_numpy_leaves_numpy_unchanged_after_a_late_import():
    import subprocess
    import sys
    code = (
        "import numpy as np, gradarray as ga\n"
        "zeros, asarray = np.zeros, np.asarray\n"
        "@ga.trace_numpy\n"
        "def f(x):\n"
        "    import scipy.optimize\n"            # first imported inside the mode
        "    return np.sum(x ** 2)\n"
        "ga.grad(f)(np.ones(2))\n"
        "assert np.zeros is zeros and np.asarray is asarray\n"
        "import scipy.optimize\n"
        "for method in ('BFGS', 'CG', 'L-BFGS-B'):\n"
        "    r = scipy.optimize.minimize(lambda v: float(np.sum((v - 1) ** 2)), np.zeros(2), method=method)\n"
        "    assert np.allclose(r.x, 1, atol=1e-4), (method, r.x)\n"
        "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_functions_that_return_their_argument_still_differentiate():
    # the transformation's own leaves stop requiring grad after its forward pass; an output that
    # *is* that leaf must still count
    x0 = np.array([1.0, 2.0])
    assert ga.grad(lambda x: x)(2.0) == 1.0
    np.testing.assert_allclose(ga.vjp(lambda x: x, x0)[1](np.array([3.0, 4.0]))[0], [3.0, 4.0])
    np.testing.assert_allclose(ga.jvp(np.atleast_1d, (x0,), (np.array([5.0, 6.0]),))[1], [5.0, 6.0])
    np.testing.assert_allclose(ga.jacobian(np.real_if_close)(x0), np.eye(2))


# ------------------------------------------------------------------ lists of GradArrays
LIST_CASES = {
    "append": lambda a, b, c: np.append([a, b], c),
    "add": lambda a, b, c: np.add([a, b], c),
    "multiply_kw": lambda a, b, c: np.multiply([a, b], c, dtype=np.float64),
    "where": lambda a, b, c: np.where(c > 0, [a, b], c),
    "polyval": lambda a, b, c: np.polyval([a[0], b[1], 2.0], c),
    "interp": lambda a, b, c: np.interp(c, [0.0, 1.0, 2.0], [a[0], b[0], np.float64(3.0)]),
    "clip": lambda a, b, c: np.clip([a, b], c - 1.0, 5.0),
    "average_of_a_list": lambda a, b, c: np.average([a, b], axis=0, weights=c),
    "concatenate_mixed": lambda a, b, c: np.concatenate([a, [1.0, 2.0], b * c]),
    "stack_mixed": lambda a, b, c: np.stack([a, np.ones(2), b]) * c,
}


@pytest.mark.parametrize("name", sorted(LIST_CASES))
def test_lists_holding_gradarrays_keep_every_gradient(name):
    build = LIST_CASES[name]
    c = ga.asarray(np.array([0.5, 1.5]))                # a GradArray: the call dispatches
    a0, b0 = np.array([0.3, -0.4]), np.array([1.1, 0.2])
    loss = lambda a, b: np.sum(np.sin(build(a, b, c)))
    assert gradcheck(loss, a0, b0)
    ga_a, ga_b = ga.grad(loss, argnums=(0, 1))(a0, b0)
    assert np.any(ga_a != 0) and np.any(ga_b != 0)


def test_a_tracked_argument_without_a_rule_raises_instead_of_a_zero_gradient():
    x = np.array([1.5, 4.5, 2.0, 7.0])
    with pytest.raises(TypeError, match="np.percentile: argument 'q' is tracked"):
        ga.grad(lambda q: np.percentile(x, q))(30.0)
    scipy_special = pytest.importorskip("scipy.special")
    with pytest.raises(TypeError, match="scipy.special.jv: argument 'v'"):
        ga.grad(lambda v: scipy_special.jv(v, 1.3))(0.5)


def test_sign_of_a_tracked_complex_array_is_differentiable():
    # np.sign(z) = z / |z| on complex input: it used to come back untracked (a silent constant)
    z0 = np.array([1 + 1j, 2 - 0.5j, -0.3 + 2j])
    np.testing.assert_allclose(np.sign(ga.asarray(z0)).numpy(), np.sign(z0))
    assert gradcheck(lambda z: np.sign(z) * np.array([1.0, 2.0, 3.0]), z0)
    z = ga.asarray(np.array([0j, 1 + 1j]), requires_grad=True)
    np.sum(np.real(np.sign(z))).backward()
    np.testing.assert_allclose(z.grad.numpy(), [0.0, (1 - 1j) / (2 * np.sqrt(2))])
    assert not np.sign(ga.asarray(np.array([-1.0, 2.0]), requires_grad=True)).requires_grad
