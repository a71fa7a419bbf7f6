"""scipy.optimize through gradarray (gradarray/scipy/optimize.py): the solution of a solver is
differentiable in the tracked parameters the objective/equations read (implicit function theorem),
checked against finite differences of the whole SciPy solve (tight solver tolerances), and against
the analytic implicit derivative where a solver cannot converge tightly enough for them."""
import numpy as np
import pytest

import gradarray as ga
from gradarray.testing import gradcheck

so = pytest.importorskip("scipy.optimize")
from scipy.optimize import brentq, minimize, root  # noqa: E402

pytestmark = pytest.mark.filterwarnings("error::gradarray.GradientLostWarning")

rng = np.random.default_rng(2)
_M = rng.standard_normal((3, 3))
A = _M @ _M.T + 3.0 * np.eye(3)
P0 = np.array([1.0, -0.5, 2.0])


def objective(x, p):
    """Strongly convex: grad = A x - p + x^3, so dx*/dp = (A + 3 diag(x*^2))^{-1}."""
    return 0.5 * x @ A @ x - p @ x + 0.25 * np.sum(x ** 4)


def gradient(x, p):
    return A @ x - p + x ** 3


def hessian(x, p):
    return A + np.diag(3.0 * x ** 2)


def _tracked(a):
    return ga.asarray(a, requires_grad=True)


def _implicit_jacobian(x_star):
    return np.linalg.inv(hessian(x_star, None))


# ------------------------------------------------------------------------------ minimize
@pytest.mark.parametrize("method", ["trust-exact", "Newton-CG", "L-BFGS-B", "SLSQP"])
def test_minimize_solution_gradient_against_finite_differences(method):
    kwargs = {"jac": gradient, "tol": 1e-14}
    if method in ("trust-exact", "Newton-CG"):
        kwargs["hess"] = hessian
    result = minimize(objective, np.zeros(3), args=(_tracked(P0),), method=method, **kwargs)
    reference = minimize(objective, np.zeros(3), args=(P0,), method=method, **kwargs)
    assert type(result.x) is ga.GradArray and result.x.requires_grad
    np.testing.assert_array_equal(result.x.numpy(), reference.x)
    np.testing.assert_allclose(result.fun.numpy(), reference.fun)
    gradcheck(lambda p: minimize(objective, np.zeros(3), args=(p,), method=method, **kwargs).x,
              ga.asarray(P0), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("method", ["BFGS", "Nelder-Mead", "Powell", "CG"])
def test_minimize_loose_solvers_match_the_implicit_derivative(method):
    """These stop short of machine precision, so finite differences of the solve are noisy; the
    gradient is the implicit derivative at the point the solver returned."""
    jacobian = ga.jacobian(lambda p: minimize(objective, np.zeros(3), args=(p,), method=method).x)
    x_star = minimize(objective, np.zeros(3), args=(P0,), method=method).x
    np.testing.assert_allclose(jacobian(P0), _implicit_jacobian(x_star), rtol=1e-6, atol=1e-8)


def test_minimize_value_and_grad_jac_closures_and_envelope():
    # jac=True with gradarray's own value_and_grad: the forward solve must still work
    fun = ga.value_and_grad(objective)
    result = minimize(fun, np.zeros(3), args=(P0,), jac=True, method="BFGS")
    assert result.success and type(result.x) is np.ndarray          # nothing tracked: SciPy's
    gradcheck(lambda p: minimize(fun, np.zeros(3), args=(p,), jac=True, method="trust-exact",
                                 hess=ga.hessian(objective), tol=1e-14).x,
              ga.asarray(P0), atol=1e-5)
    # a closure over tracked parameters, plain x0: still routed, still differentiable
    p = _tracked(P0)
    result = minimize(lambda x: objective(x, p), [0.0, 0.0, 0.0], method="SLSQP",
                      jac=lambda x: gradient(x, p), tol=1e-14)
    result.x.sum().backward()
    np.testing.assert_allclose(p.grad, _implicit_jacobian(result.x.numpy()).sum(axis=0), rtol=1e-6)
    # the optimal value: d f(x*(p), p) / dp = df/dp = -x* (envelope theorem)
    value = minimize(objective, np.zeros(3), args=(_tracked(P0),), jac=gradient, tol=1e-12)
    g = ga.grad(lambda q: minimize(objective, np.zeros(3), args=(q,), jac=gradient,
                                   tol=1e-12).fun)(P0)
    np.testing.assert_allclose(g, -value.x.numpy(), rtol=1e-6)


def test_minimize_with_bounds_and_untracked_start():
    bounds = [(0.0, None), (-1.0, 1.0), (None, 0.2)]

    def solve(p):
        return minimize(objective, np.zeros(3), args=(p,), jac=gradient, method="L-BFGS-B",
                        bounds=bounds, options={"gtol": 1e-13, "ftol": 1e-16}).x
    x = solve(_tracked(P0))
    assert x.numpy()[2] == 0.2                                       # an active bound
    gradcheck(solve, ga.asarray(P0), atol=1e-4, rtol=1e-3)
    # exactly: the free block of the implicit derivative, zero for the component held at 0.2
    free = [0, 1]
    expected = np.zeros((3, 3))
    expected[np.ix_(free, free)] = np.linalg.inv(hessian(x.numpy(), None)[np.ix_(free, free)])
    np.testing.assert_allclose(ga.jacobian(solve)(P0), expected, rtol=1e-7, atol=1e-12)
    # only x0 tracked: the solution does not depend on it, SciPy's plain result comes back
    plain = minimize(objective, _tracked(np.zeros(3)), args=(P0,), jac=gradient)
    assert type(plain.x) is np.ndarray


def test_minimize_refusals():
    with pytest.raises(NotImplementedError, match="constraints"):
        minimize(objective, np.zeros(3), args=(_tracked(P0),),
                 constraints=[{"type": "eq", "fun": lambda x, p: x[0]}])
    with pytest.raises(NotImplementedError, match="second derivatives"):
        ga.hessian(lambda p: np.sum(minimize(objective, np.zeros(3), args=(p,), jac=gradient,
                                             method="BFGS").x ** 2))(P0)


def test_minimize_scalar_unbounded_and_bounded():
    def f(x, c):
        return (x - c) ** 2 + x ** 4
    for kwargs, expected_zero in (({"tol": 1e-12}, False),
                                  ({"bounds": (-1.0, 2.0), "method": "bounded",
                                    "options": {"xatol": 1e-10}}, False),
                                  ({"bounds": (-1.0, 0.2), "method": "bounded"}, True)):
        result = so.minimize_scalar(f, args=(_tracked(0.7),), **kwargs)
        assert result.x.requires_grad
        gradcheck(lambda c: so.minimize_scalar(f, args=(c,), **kwargs).x, ga.asarray(0.7),
                  atol=1e-4)
        g = ga.grad(lambda c: so.minimize_scalar(f, args=(c,), **kwargs).x)(0.7)
        assert (g == 0) == expected_zero


# ------------------------------------------------------------------------------ least squares
T = np.linspace(0.0, 2.0, 10)
DATA = 2.0 * np.exp(-1.3 * T) + 0.05 * rng.standard_normal(10)


def residuals(q, y):
    return q[0] * np.exp(-q[1] * T) - y


@pytest.mark.parametrize("loss", ["linear", "soft_l1", "huber", "cauchy", "arctan"])
def test_least_squares_losses(loss):
    tight = {"xtol": 1e-15, "ftol": 1e-15, "gtol": 1e-15, "loss": loss, "f_scale": 0.1}
    result = so.least_squares(residuals, [1.0, 1.0], args=(_tracked(DATA),), **tight)
    reference = so.least_squares(residuals, [1.0, 1.0], args=(DATA,), **tight)
    np.testing.assert_array_equal(result.x.numpy(), reference.x)
    np.testing.assert_allclose(result.fun.numpy(), reference.fun)
    gradcheck(lambda y: so.least_squares(residuals, [1.0, 1.0], args=(y,), **tight).x,
              ga.asarray(DATA), atol=1e-4, rtol=5e-3, eps=1e-5)


def test_least_squares_bounds_and_kwargs():
    def solve(y):
        return so.least_squares(lambda q, data=None: residuals(q, data), x0=[1.0, 2.0],
                                kwargs={"data": y}, bounds=([0.0, 1.35], [5.0, 5.0]),
                                xtol=1e-15, ftol=1e-15, gtol=1e-15).x
    x = solve(_tracked(DATA))
    assert np.isclose(x.numpy()[1], 1.35)                            # the lower bound is active
    assert ga.grad(lambda y: solve(y)[1])(DATA).max() == 0
    gradcheck(solve, ga.asarray(DATA), atol=1e-4, rtol=5e-3, eps=1e-5)


# ------------------------------------------------------------------------------ roots
def equations(x, p):
    return [x[0] + 0.5 * (x[0] - x[1]) ** 3 - p[0], 0.5 * (x[1] - x[0]) ** 3 + x[1] - p[1]]


def test_root_and_fsolve():
    p = [1.0, 0.3]
    result = root(equations, np.zeros(2), args=(_tracked(p),), tol=1e-13)
    np.testing.assert_array_equal(result.x.numpy(), root(equations, np.zeros(2), args=(p,),
                                                         tol=1e-13).x)
    gradcheck(lambda q: root(equations, np.zeros(2), args=(q,), tol=1e-13).x, ga.asarray(p))
    gradcheck(lambda q: root(equations, [0.0, 0.0], args=(q,), method="lm", tol=1e-13).x,
              ga.asarray(p))
    gradcheck(lambda q: so.fsolve(equations, np.zeros(2), args=(q,), xtol=1e-13), ga.asarray(p))
    x, info, ier, message = so.fsolve(equations, np.zeros(2), args=(_tracked(p),),
                                      full_output=True)
    assert x.requires_grad and ier == 1


@pytest.mark.parametrize("name", ["brentq", "brenth", "bisect", "ridder", "toms748"])
def test_bracketing_root_finders(name):
    def f(x, c):
        return x ** 3 + c * x - 1.0
    solver = getattr(so, name)
    gradcheck(lambda c: solver(f, 0.0, 2.0, args=(c,), xtol=1e-14), ga.asarray(0.7))
    x, info = solver(f, 0.0, 2.0, args=(_tracked(0.7),), full_output=True)
    assert type(x) is ga.GradArray and info.root is x
    # dx/dc = -(df/dc) / (df/dx) = -x / (3 x^2 + c)
    x0 = x.numpy()
    np.testing.assert_allclose(ga.grad(lambda c: solver(f, 0.0, 2.0, args=(c,), xtol=1e-14))(0.7),
                               -x0 / (3 * x0 ** 2 + 0.7), rtol=1e-8)


def test_newton_root_scalar_and_early_bound_names():
    def f(x, c):
        return x ** 3 + c * x - 1.0
    gradcheck(lambda c: so.newton(f, 1.0, args=(c,), tol=1e-14), ga.asarray(0.7))
    gradcheck(lambda c: so.newton(f, np.array([1.0, 0.5]), args=(c,), tol=1e-14),
              ga.asarray([0.7, 1.5]))
    gradcheck(lambda c: so.root_scalar(f, args=(c,), bracket=(0, 2), xtol=1e-14).root,
              ga.asarray(0.7))
    # brentq was bound at import time (top of this module), and a closure holds the parameter
    c = _tracked(0.7)
    x = brentq(lambda x: x ** 3 + c * x - 1.0, 0.0, 2.0)
    x.backward()
    np.testing.assert_allclose(c.grad, -x.numpy() / (3 * x.numpy() ** 2 + 0.7), rtol=1e-8)
