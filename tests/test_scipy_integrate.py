"""scipy.integrate on GradArrays (gradarray/scipy/integrate.py, integrate_ode.py): sampled-data
quadrature equals SciPy and is differentiable in y, x and dx; solve_ivp/odeint are differentiable
in y0 and in the parameters the right-hand side reads (args or closures), checked against finite
differences of the whole SciPy computation at tight tolerances."""
import numpy as np
import pytest

import gradarray as ga
from gradarray.testing import gradcheck, gradgradcheck

scipy_integrate = pytest.importorskip("scipy.integrate")
from scipy.integrate import cumulative_simpson, odeint, simpson, solve_ivp, trapezoid  # noqa: E402

pytestmark = pytest.mark.filterwarnings("error::gradarray.GradientLostWarning")

rng = np.random.default_rng(0)
Y = rng.standard_normal((2, 7))
X = np.sort(rng.uniform(0.0, 3.0, 7))


def _tracked(a):
    return ga.asarray(a, requires_grad=True)


# ------------------------------------------------------------------------------ quadrature
QUADRATURE = [trapezoid, simpson, scipy_integrate.cumulative_trapezoid, cumulative_simpson]


@pytest.mark.parametrize("rule", QUADRATURE, ids=lambda f: f.__name__)
@pytest.mark.parametrize("n", [2, 3, 4, 7])
def test_quadrature_values_and_gradients(rule, n):
    y, x = Y[:, :n], X[:n]
    for kwargs in ({}, {"x": x}, {"dx": 0.3}, {"x": list(x)}):
        np.testing.assert_allclose(rule(ga.asarray(y), **kwargs).numpy(), rule(y, **kwargs),
                                   rtol=1e-13, atol=1e-13)
        gradcheck(lambda a: rule(a, **kwargs), ga.asarray(y))
    gradcheck(lambda a, b: rule(a, x=b), ga.asarray(y), ga.asarray(x))       # tracked samples
    gradcheck(lambda b: rule(y, x=b), ga.asarray(x))                        # plain y, tracked x
    gradcheck(lambda d: rule(y, dx=d), ga.asarray(0.25))                    # tracked spacing


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_quadrature_axes_and_shapes(axis):
    y = rng.standard_normal((3, 6, 4))
    x1 = np.sort(rng.uniform(0, 1, y.shape[axis]))
    xfull = np.sort(rng.uniform(0, 1, y.shape), axis=axis)
    for rule in QUADRATURE:
        for x in (None, x1, xfull):
            np.testing.assert_allclose(rule(ga.asarray(y), x=x, axis=axis).numpy(),
                                       rule(y, x=x, axis=axis), rtol=1e-12, atol=1e-13)
    gradcheck(lambda a: simpson(a, x=xfull, axis=axis), ga.asarray(y))
    gradcheck(lambda a: cumulative_simpson(a, x=x1, axis=axis, initial=1.5), ga.asarray(y))


def test_legacy_mixes_lists_python_and_numpy_scalars():
    a, b = _tracked(1.2), np.float64(0.5)
    values = [a, 2.0 * a, b, 1.0, a ** 2]             # a list holding tracked scalars
    got = trapezoid(values, dx=b)
    np.testing.assert_allclose(got.numpy(), trapezoid([1.2, 2.4, 0.5, 1.0, 1.44], dx=0.5))
    got.backward()
    np.testing.assert_allclose(a.grad, 0.5 * (0.5 + 1.0 + 0.5 * 2 * 1.2 + 1.0))
    gradcheck(lambda t: scipy_integrate.simpson(y=[t, 1.0, t * 3.0, np.float64(2.0)],
                                                x=[0.0, 0.5, 1.5, 2.0]), ga.asarray(0.7))
    out = scipy_integrate.cumulative_trapezoid(ga.asarray(Y), X, initial=0)
    np.testing.assert_allclose(out.numpy(), scipy_integrate.cumulative_trapezoid(Y, X, initial=0))
    with pytest.raises(ValueError):
        scipy_integrate.cumulative_trapezoid(ga.asarray(Y), initial=1.0)


@pytest.mark.parametrize("n", [2, 3, 5, 9])
def test_romb(n):
    y = rng.standard_normal((2, n))
    np.testing.assert_allclose(scipy_integrate.romb(ga.asarray(y), dx=0.2).numpy(),
                               scipy_integrate.romb(y, dx=0.2), rtol=1e-13)
    gradcheck(lambda a, d: scipy_integrate.romb(a, d, axis=1), ga.asarray(y), ga.asarray(0.2))
    with pytest.raises(ValueError):
        scipy_integrate.romb(ga.asarray(np.ones(6)))


# ------------------------------------------------------------------------------ ODEs
def lotka_volterra(t, y, p):
    a, b, c, d = p                                   # legacy style: unpack, return a list
    return [a * y[0] - b * y[0] * y[1], -c * y[1] + d * y[0] * y[1]]


P0 = np.array([1.0, 0.5, 1.2, 0.3])
Y0 = np.array([2.0, 1.0])
T_EVAL = np.linspace(0.0, 3.0, 5)
TIGHT = {"rtol": 1e-10, "atol": 1e-10}


@pytest.mark.parametrize("method", ["RK45", "RK23", "DOP853", "Radau", "LSODA"])
def test_solve_ivp_values_and_gradients(method):
    # the finite differences re-run the whole adaptive solve: tolerances tight enough for them
    tol = {"RK23": 1e-7, "Radau": 1e-8}.get(method, 1e-10)
    tol = {"rtol": tol, "atol": tol}
    t_eval = np.linspace(0.0, 1.5, 4)
    reference = solve_ivp(lotka_volterra, (0, 1.5), Y0, method=method, t_eval=t_eval,
                          args=(P0,), **tol)
    result = solve_ivp(lotka_volterra, (0, 1.5), _tracked(Y0), method=method, t_eval=t_eval,
                       args=(_tracked(P0),), **tol)
    assert type(result.y) is ga.GradArray and result.y.requires_grad
    np.testing.assert_array_equal(result.y.numpy(), reference.y)    # SciPy's values, exactly
    np.testing.assert_array_equal(result.t, reference.t)
    assert result.success and result.sol is None

    def states(y0, p):
        return solve_ivp(lotka_volterra, (0, 1.5), y0, method=method, t_eval=t_eval, args=(p,),
                         **tol).y
    gradcheck(states, ga.asarray(Y0), ga.asarray(P0), atol=1e-4 if tol["rtol"] > 1e-9 else 1e-5,
              rtol=1e-4)


def test_solve_ivp_steps_output_and_closure_over_tracked_parameters():
    p = _tracked(P0)
    rhs = lambda t, y: lotka_volterra(t, y, p)       # noqa: E731  (plain y0: routed by the closure)
    result = solve_ivp(rhs, [0.0, 3.0], [2.0, 1.0], **TIGHT)
    reference = solve_ivp(lambda t, y: lotka_volterra(t, y, P0), [0.0, 3.0], [2.0, 1.0], **TIGHT)
    np.testing.assert_array_equal(result.y.numpy(), reference.y)
    np.sum(result.y[:, -1]).backward()
    assert p.grad is not None and np.all(np.isfinite(p.grad))
    gradcheck(lambda q: solve_ivp(lambda t, y: lotka_volterra(t, y, q), (0, 1), Y0,
                                  t_eval=[0.5, 1.0], **TIGHT).y, ga.asarray(P0), atol=1e-5)


def test_solve_ivp_second_derivatives_and_backwards_in_time():
    def decay(t, y, k):
        return -k * y
    gradgradcheck(lambda k, y0: solve_ivp(decay, (0, 1), y0, args=(k,), t_eval=[0.5, 1.0],
                                          rtol=1e-10, atol=1e-12).y,
                  ga.asarray([0.7, 1.3]), ga.asarray([1.0, 2.0]), atol=1e-4)
    out = solve_ivp(decay, (1.0, 0.0), _tracked([1.0, 2.0]), args=(np.float64(0.5),),
                    t_eval=[1.0, 0.4, 0.0], rtol=1e-10, atol=1e-12).y
    np.testing.assert_allclose(out.numpy()[:, -1], [np.exp(0.5), 2 * np.exp(0.5)], rtol=1e-8)


def test_solve_ivp_refuses_what_it_cannot_differentiate():
    with pytest.raises(NotImplementedError, match="events"):
        solve_ivp(lotka_volterra, (0, 1), _tracked(Y0), args=(P0,),
                  events=lambda t, y, p: y[0] - 1.5)
    with pytest.raises(NotImplementedError, match="dense_output"):
        solve_ivp(lotka_volterra, (0, 1), _tracked(Y0), args=(P0,), dense_output=True)
    with pytest.raises(TypeError, match="t_span"):
        solve_ivp(lotka_volterra, (0, _tracked(1.0)), Y0, args=(P0,))
    # nothing tracked: SciPy's own run, args handed to the events as SciPy does
    plain = solve_ivp(lotka_volterra, (0, 1), ga.asarray(Y0), args=(P0,),
                      events=lambda t, y, p: y[0] - 2.1)
    assert type(plain.y) is np.ndarray and len(plain.t_events[0]) == 1


def test_solve_ivp_implicit_method_with_a_jacobian_taking_args():
    def jacobian(t, y, p):
        a, b, c, d = p
        return np.array([[a - b * y[1], -b * y[0]], [d * y[1], -c + d * y[0]]])
    result = solve_ivp(lotka_volterra, (0, 1), Y0, method="BDF", jac=jacobian,
                       args=(_tracked(P0),), t_eval=[0.5, 1.0], rtol=1e-9, atol=1e-9)
    reference = solve_ivp(lotka_volterra, (0, 1), Y0, method="BDF", jac=jacobian, args=(P0,),
                          t_eval=[0.5, 1.0], rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(result.y.numpy(), reference.y)
    assert result.y.requires_grad


def test_odeint_values_and_gradients():
    def legacy(y, t, p):
        return np.stack([p[0] * y[0] - p[1] * y[0] * y[1], -p[2] * y[1] + p[3] * y[0] * y[1]])
    reference = odeint(legacy, Y0, T_EVAL, args=(P0,))
    result = odeint(legacy, list(Y0), T_EVAL, args=(_tracked(P0),))
    assert result.shape == (len(T_EVAL), 2) and result.requires_grad
    np.testing.assert_array_equal(result.numpy(), reference)
    gradcheck(lambda y0, p: odeint(legacy, y0, T_EVAL, args=(p,), rtol=1e-11, atol=1e-11),
              ga.asarray(Y0), ga.asarray(P0), atol=1e-5)
    # tfirst, full_output, and a scalar state tracked through a global-free closure
    y, info = odeint(lotka_volterra, _tracked(Y0), T_EVAL, args=(P0,), tfirst=True, full_output=1)
    assert "nfe" in info and y.requires_grad
    k = _tracked(0.8)
    gradcheck(lambda kk: odeint(lambda y, t: -kk * y, 2.0, [0.0, 0.5, 1.0]), ga.asarray(0.8))
    np.testing.assert_allclose(odeint(lambda y, t: -k * y, 2.0, [0.0, 1.0]).numpy()[-1],
                               [2.0 * np.exp(-0.8)], rtol=1e-7)
