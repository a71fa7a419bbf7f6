"""The functional API (gradarray/functional.py): grad, value_and_grad, vjp, jvp, jacobian, hessian.

Expected values come from finite differences (``numerical_vjp`` / local central differences) or from
closed-form derivatives of elementary functions, never from the implementation itself.
"""
import numpy as np
import pytest

import gradarray as ga
from gradarray.testing import numerical_vjp


def fd_jacobian(f, x, eps=1e-6):
    """Central-difference Jacobian of f: R^n -> R^m on host float64 arrays."""
    x = np.asarray(x, dtype=float)
    cols = []
    for k in range(x.size):
        d = np.zeros_like(x)
        d.flat[k] = eps
        cols.append((np.asarray(f(x + d)) - np.asarray(f(x - d))).ravel() / (2 * eps))
    return np.stack(cols, axis=-1).reshape(np.shape(f(x)) + x.shape)


def loss(x):
    return np.sum(np.sin(x) * x * x)


def loss_grad(x):
    return np.cos(x) * x * x + 2 * x * np.sin(x)


# ------------------------------------------------------------------ grad / value_and_grad
def test_grad_numpy_in_numpy_out(backend):
    x = backend.asarray([0.3, -1.2, 2.0])
    g = ga.grad(loss)(x)
    assert type(g) is type(x) and g.shape == x.shape
    np.testing.assert_allclose(backend.to_host(g), loss_grad(backend.to_host(x)))


def test_grad_python_float_in_float_out():
    g = ga.grad(lambda t: np.sin(t) * t)(0.7)
    assert type(g) is float
    assert abs(g - (np.cos(0.7) * 0.7 + np.sin(0.7))) < 1e-12


def test_grad_of_gradarray_returns_gradarray():
    x = ga.asarray(np.array([0.5, 1.0]))
    g = ga.grad(loss)(x)
    assert type(g) is ga.GradArray and not g.requires_grad
    np.testing.assert_allclose(g.numpy(), loss_grad(np.array([0.5, 1.0])))


def test_value_and_grad():
    x = np.array([0.5, -0.25])
    value, g = ga.value_and_grad(loss)(x)
    assert abs(float(value) - loss(x)) < 1e-12
    assert isinstance(value, (float, np.floating))
    np.testing.assert_allclose(g, loss_grad(x))


def test_argnums_tuple_and_kwargs():
    def f(a, b, c, scale=1.0):
        return np.sum(a * np.exp(b) * scale) + c
    a, b = np.array([1.0, 2.0]), np.array([0.1, -0.3])
    ga_, gb = ga.grad(f, argnums=(0, 1))(a, b, 5.0, scale=3.0)
    np.testing.assert_allclose(ga_, 3.0 * np.exp(b))
    np.testing.assert_allclose(gb, 3.0 * a * np.exp(b))
    gc = ga.grad(f, argnums=2)(a, b, 5.0, scale=3.0)
    assert gc == 1.0
    (only_b,) = ga.grad(f, argnums=(1,))(a, b, 0.0)
    np.testing.assert_allclose(only_b, a * np.exp(b))


def test_nested_tuple_and_dict_arguments():
    def f(params, x):
        w, (b, extra) = params["w"], params["rest"]
        return np.sum(np.tanh(w * x + b) * extra)
    params = {"w": np.array([0.5, -1.0]), "rest": (np.array(0.2), 3.0)}
    x = np.array([1.0, 2.0])
    g = ga.grad(f)(params, x)
    assert set(g) == {"w", "rest"} and isinstance(g["rest"], tuple)
    assert type(g["rest"][1]) is float
    t = np.tanh(params["w"] * x + 0.2)
    np.testing.assert_allclose(g["w"], 3.0 * (1 - t * t) * x)
    np.testing.assert_allclose(g["rest"][0], np.sum(3.0 * (1 - t * t)))
    np.testing.assert_allclose(g["rest"][1], np.sum(t))


def test_has_aux():
    def f(x):
        y = np.sin(x)
        return np.sum(y), {"y": y, "n": 3}
    x = np.array([0.1, 0.2])
    g, aux = ga.grad(f, has_aux=True)(x)
    np.testing.assert_allclose(g, np.cos(x))
    assert type(aux["y"]) is np.ndarray and aux["n"] == 3
    np.testing.assert_allclose(aux["y"], np.sin(x))
    (value, aux2), g2 = ga.value_and_grad(f, has_aux=True)(x)
    np.testing.assert_allclose(value, np.sum(np.sin(x)))
    np.testing.assert_allclose(g2, np.cos(x))
    with pytest.raises(TypeError, match="has_aux"):
        ga.grad(lambda x: np.sum(x), has_aux=True)(x)


def test_unused_argument_gets_zeros():
    g = ga.grad(lambda x, y: np.sum(x * 2.0), argnums=(0, 1))(np.ones(2), np.ones(3))
    np.testing.assert_array_equal(g[1], np.zeros(3))


def test_clear_errors():
    x = np.array([1.0, 2.0])
    with pytest.raises(TypeError, match="not a GradArray|not connected"):
        ga.grad(lambda x: 3.0)(x)
    with pytest.raises(TypeError, match="not a GradArray|not connected"):
        ga.grad(lambda x: np.sum(x.numpy()))(x)
    with pytest.raises(TypeError, match="scalar output"):
        ga.grad(lambda x: x * 2.0)(x)
    with pytest.raises(TypeError, match="floating-point"):
        ga.grad(lambda x: np.sum(x))(np.arange(3))
    with pytest.raises(IndexError, match="argnums"):
        ga.grad(loss, argnums=2)(x)


# ------------------------------------------------------------------ vjp / jvp / jacobian / hessian
def f_vec(x):
    return np.sin(x) * np.sum(x * x)


def test_vjp_against_finite_differences(backend, rng):
    xh = rng.standard_normal(4)
    v = rng.standard_normal(4)
    out, pullback = ga.vjp(f_vec, backend.asarray(xh))
    np.testing.assert_allclose(backend.to_host(out), f_vec(xh))
    (g,) = pullback(backend.asarray(v))
    assert type(g) is type(backend.asarray(v))
    (expected,) = numerical_vjp(f_vec, [xh], [v], (0,))
    np.testing.assert_allclose(backend.to_host(g), expected, rtol=1e-6, atol=1e-8)
    (g2,) = pullback(backend.asarray(2 * v))            # the pullback can be called again
    np.testing.assert_allclose(backend.to_host(g2), 2 * expected, rtol=1e-6, atol=1e-8)


def test_vjp_tuple_output_and_has_aux():
    def f(x, y):
        return (x * y, np.sin(x)), "aux"
    x, y = np.array([0.5, 1.0]), np.array([2.0, 3.0])
    (p, s), pullback, aux = ga.vjp(f, x, y, has_aux=True)
    assert aux == "aux"
    gx, gy = pullback((np.ones(2), np.array([1.0, -1.0])))
    np.testing.assert_allclose(gx, y + np.array([1.0, -1.0]) * np.cos(x))
    np.testing.assert_allclose(gy, x)
    with pytest.raises(ValueError, match="cotangent"):
        pullback(np.ones(2))


def test_jacobian_against_finite_differences(rng):
    x = rng.standard_normal(3)
    J = ga.jacobian(f_vec)(x)
    assert J.shape == (3, 3)
    np.testing.assert_allclose(J, fd_jacobian(f_vec, x), rtol=1e-6, atol=1e-8)


def test_jacobian_shapes_and_argnums():
    def f(a, b):
        return np.reshape(a, (2, 1)) * b            # shape (2, 3)
    a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0])
    Ja, Jb = ga.jacobian(f, argnums=(0, 1))(a, b)
    assert Ja.shape == (2, 3, 2) and Jb.shape == (2, 3, 3)
    np.testing.assert_allclose(Ja, fd_jacobian(lambda a_: f(a_, b), a), atol=1e-8)
    np.testing.assert_allclose(Jb, fd_jacobian(lambda b_: f(a, b_), b), atol=1e-8)


def test_jvp_equals_jacobian_times_tangent(backend, rng):
    xh, th = rng.standard_normal(4), rng.standard_normal(4)
    out, tangent_out = ga.jvp(f_vec, (backend.asarray(xh),), (backend.asarray(th),))
    np.testing.assert_allclose(backend.to_host(out), f_vec(xh))
    J = fd_jacobian(f_vec, xh)
    np.testing.assert_allclose(backend.to_host(tangent_out), J @ th, rtol=1e-6, atol=1e-8)


def test_jvp_two_primals():
    def f(x, y):
        return x * np.exp(y)
    x, y = np.array([1.0, 2.0]), np.array([0.5, -0.5])
    tx, ty = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    _, t = ga.jvp(f, (x, y), (tx, ty))
    np.testing.assert_allclose(t, tx * np.exp(y) + x * np.exp(y) * ty)


def test_hessian_against_finite_differences(backend, rng):
    xh = rng.standard_normal(3)
    H = ga.hessian(loss)(backend.asarray(xh))
    H = backend.to_host(H)
    assert H.shape == (3, 3)
    np.testing.assert_allclose(H, fd_jacobian(loss_grad, xh), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(H, H.T, atol=1e-12)


def test_hessian_of_coupled_function():
    def f(x):
        return np.sum(x * x) * np.sum(np.exp(x))
    x = np.array([0.2, -0.4])
    H = ga.hessian(f)(x)
    np.testing.assert_allclose(H, fd_jacobian(ga.grad(f), x), rtol=1e-6, atol=1e-7)


def test_grad_of_grad_of_grad():
    """Third derivative of sin(t) * t: -3 sin t - t cos t."""
    f = lambda t: np.sin(t) * t          # noqa: E731
    d1, d2, d3 = ga.grad(f), ga.grad(ga.grad(f)), ga.grad(ga.grad(ga.grad(f)))
    t = 0.8
    assert abs(d1(t) - (np.sin(t) + t * np.cos(t))) < 1e-12
    assert abs(d2(t) - (2 * np.cos(t) - t * np.sin(t))) < 1e-12
    assert abs(d3(t) - (-3 * np.sin(t) - t * np.cos(t))) < 1e-12
    assert type(d3(t)) is float
