"""Differentiable ``scipy.optimize``: gradients *through* the solution, by implicit differentiation.

SciPy's solver runs on plain values (tracked arguments detached; the results of the caller's
``fun`` are read raw, so it may close over tracked arrays, or use gradarray itself, as
``jac=True`` with ``fun = ga.value_and_grad(f)`` does). The solution x*
is then returned as a GradArray whose gradient comes from the implicit function theorem: x*
satisfies an optimality condition G(x*, p) = 0 in the tracked values p that ``fun`` reads
(``args=(p,)``, closures, globals), so

    dx*/dp = -J^{-1} dG/dp,   J = dG/dx at x*,   and the VJP is  g -> -(dG/dp)^T J^{-T} g.

G is recorded on the tape at x* (so ``dG/dp`` is a backward pass through the caller's code), J is
computed once at the solution by gradarray (n backward passes, n = the size of x), and the VJP
solves with it (``np.linalg.solve``; dense, for problems of modest size).

* ``minimize``, ``minimize_scalar``: G = grad_x f (computed by gradarray from ``fun``, whatever
  ``jac`` the solver used), J = the Hessian. ``least_squares``: G = grad_x of the cost
  0.5 sum rho(r^2) (all ``loss`` functions), J its Hessian.
* ``root``, ``fsolve``, ``newton``, ``brentq``/``brenth``/``bisect``/``ridder``/``toms748``,
  ``root_scalar``: G = F, J = the Jacobian of F.
* Bounds: components of x* at an active bound (at it, with the gradient pushing outward;
  ``least_squares``' own ``active_mask``) stay there when p moves: zero gradient; the free
  components solve with the free block of J.

Calls whose only tracked values hide in ``fun`` (closures, bound objects, globals; plain ``x0``
and ``args``) are routed here too (``_closures.route_callables``).

Results are SciPy's (``OptimizeResult``, ``RootResults``, tuples with ``full_output``) with the
solution replaced by the tracked x*; ``minimize``'s ``.fun`` is f(x*, p) recorded (its gradient is
df/dp, the envelope theorem). The solution does not depend on the starting point: a call whose
only tracked values are ``x0`` (or a bracket) returns SciPy's plain result.

Not supported: ``constraints`` when the solution depends on tracked values (a clear error: the KKT
system is not implemented); non-square systems in ``root`` (``method="lm"`` with m != n); second
derivatives through a solution (``create_graph``, ``ga.hessian``): they would need derivatives of J
along x*(p), so the backward raises instead of returning a wrong value. The accuracy of the
gradient is that of the solution: solve with tight tolerances.

Must not know about: how the bridge installs these (``_bridge.py``).
"""
from __future__ import annotations

import inspect

import numpy as np

from .._array import GradArray, _make
from .._modes import enable_grad, is_grad_enabled
from .._registry import Primitive, defvjp
from ..functional import _to_plain, grad_of
from ._bridge import implements_scipy
from ._closures import route_callables

__all__ = ["minimize", "minimize_scalar", "least_squares", "root", "fsolve", "newton",
           "brentq", "brenth", "bisect", "ridder", "toms748", "root_scalar"]

_BRACKETING = ("brentq", "brenth", "bisect", "ridder", "toms748")


# ------------------------------------------------------------------------------- call plumbing
def _original(name):
    import scipy.optimize
    function = getattr(scipy.optimize, name)
    return getattr(function, "__gradarray_original__", function)


def _bind(name, args, kwargs):
    """The call's arguments by name, defaults filled in (SciPy's own signature)."""
    bound = inspect.signature(_original(name)).bind(*args, **kwargs)
    bound.apply_defaults()
    return bound.arguments


def _extra_args(args):
    """SciPy's ``args``: (as passed, with the tracked values detached)."""
    if args is None:
        args = ()
    args = tuple(args) if isinstance(args, tuple) else (args,)
    return args, tuple(_to_plain(list(args)))


def _plain_callable(fn, plain_extra, plain_keywords=None):
    """``fn`` for SciPy: plain arrays in, ``plain_extra`` appended, its results read raw."""
    if not callable(fn):
        return _to_plain(fn)
    plain_keywords = plain_keywords or {}

    def plain(*call_args):
        return _to_plain(fn(*call_args, *plain_extra, **plain_keywords))
    return plain


def _plain_start(x0):
    """The starting point detached (the solution does not depend on it)."""
    return np.asarray(_to_plain(x0))


def _raw(value):
    return value._data if type(value) is GradArray else value


def _scalar(value):
    """A function value as a 0-d GradArray (SciPy accepts one-element arrays and lists)."""
    value = value if type(value) is GradArray else _make(np.asarray(_to_plain(value)))
    return np.reshape(value, ()) if value.ndim else value


def _depends(function, x):
    """Does ``function`` (x -> value) read a tracked value other than x? Checked at a plain x."""
    if not is_grad_enabled():
        return False
    with enable_grad():
        value = function(_make(np.asarray(_raw(x), dtype=float)))
    leaves = value if isinstance(value, (tuple, list)) else (value,)
    return any(type(v) is GradArray and v._requires_grad for v in leaves)


# ------------------------------------------------------------------------------- the implicit VJP
def _implicit_solution(condition, x_star, active=None, what="scipy.optimize"):
    """x* as a GradArray whose gradient is the implicit function theorem's.

    ``condition(x)`` returns G(x, p) (GradArray, as many elements as x) with G(x*, p) = 0; it is
    recorded at x* (the tape reaches p), its Jacobian J = dG/dx is computed here. ``active``: a
    mask of components held at a bound (their derivative is zero).
    """
    x_star = np.array(x_star, dtype=float)
    shape, n = x_star.shape, x_star.size
    with enable_grad():
        x_leaf = _make(x_star.reshape(-1).copy(), requires_grad=True)
        G = np.reshape(condition(np.reshape(x_leaf, shape)), (-1,))
        if G.shape[0] != n:
            raise NotImplementedError(f"{what}: the gradient through a solution of {G.shape[0]} "
                                      f"equations in {n} unknowns is not implemented (square "
                                      "systems only).")
        J = np.zeros((n, n))
        for i in range(n):
            seed = np.zeros(n)
            seed[i] = 1.0
            (row,) = grad_of([G], [x_leaf], [seed], retain_graph=True)
            if row is not None:
                J[i] = _raw(row)
    x_leaf._requires_grad = False      # a constant to everyone else from now on
    free = np.ones(n, dtype=bool) if active is None else ~np.asarray(active, dtype=bool).reshape(-1)
    transposed_block = J[np.ix_(free, free)].T
    scatter = np.eye(n)[:, free]        # puts the free components back in place

    def solution_vjp(g, ans, G_value):
        # dL/dp = -(dG/dp)^T J^{-T} g: the cotangent sent into G is -J^{-T} g (free block only)
        if type(g) is GradArray and g._requires_grad:
            raise NotImplementedError(
                f"{what}: second derivatives through the solution of a solver are not "
                "implemented (they need the derivative of dG/dx along the solution).")
        g = np.reshape(g, (-1,))
        try:
            lam = np.linalg.solve(transposed_block, g[free])
        except np.linalg.LinAlgError as exc:
            raise np.linalg.LinAlgError(
                f"{what}: the Jacobian of the optimality condition is singular at the solution, "
                "so the solution is not a differentiable function of the parameters.") from exc
        return -np.dot(scatter, lam)

    solution = Primitive(lambda G_value: x_star.copy())
    defvjp(solution, solution_vjp, save="none")
    return solution(G)


def _gradient_condition(objective):
    """G(x) = grad_x f(x) recorded (create_graph), from the caller's objective."""
    def condition(x):
        (g,) = grad_of([_scalar(objective(x))], [x], create_graph=True)
        if g is None:
            raise ValueError("scipy.optimize: the objective does not depend on x")
        return g
    return condition


def _active_bounds(x, gradient, lower, upper):
    """Components at a bound with the gradient pushing outward (descent would leave the box)."""
    lower = np.broadcast_to(np.asarray(lower, dtype=float), x.shape)
    upper = np.broadcast_to(np.asarray(upper, dtype=float), x.shape)
    close = 1e-8 * (1.0 + np.abs(x))
    return ((x - lower <= close) & (gradient > 0)) | ((upper - x <= close) & (gradient < 0))


def _plain_gradient(objective, x):
    with enable_grad():
        x_leaf = _make(np.array(x, dtype=float), requires_grad=True)
        (g,) = grad_of([_scalar(objective(x_leaf))], [x_leaf])
    return np.zeros_like(x) if g is None else np.asarray(_raw(g))


def _bounds_arrays(bounds, n):
    """(lower, upper) arrays from a sequence of (min, max) pairs or a ``Bounds`` object."""
    if hasattr(bounds, "lb"):
        return (np.broadcast_to(np.asarray(bounds.lb, float), (n,)),
                np.broadcast_to(np.asarray(bounds.ub, float), (n,)))
    pairs = [(-np.inf if lo is None else lo, np.inf if hi is None else hi) for lo, hi in bounds]
    return np.array([p[0] for p in pairs], float), np.array([p[1] for p in pairs], float)


# ------------------------------------------------------------------------------- minimize
@implements_scipy("scipy.optimize", "minimize")
def minimize(*call_args, **call_kwargs):
    a = _bind("minimize", call_args, call_kwargs)
    fun, (extra, plain_extra) = a["fun"], _extra_args(a["args"])
    takes_pair = a["jac"] is True             # fun returns (f, grad f): SciPy's MemoizeJac

    def objective(x):
        value = fun(x, *extra)
        return value[0] if takes_pair else value

    plain = dict(a, fun=_plain_callable(fun, plain_extra), x0=_plain_start(a["x0"]), args=(),
                 bounds=_to_plain(a["bounds"]))
    for name in ("jac", "hess", "hessp"):
        if callable(a[name]):
            plain[name] = _plain_callable(a[name], plain_extra)
    depends = _depends(objective, plain["x0"])
    if depends and a["constraints"]:
        raise NotImplementedError("scipy.optimize.minimize: the gradient through a constrained "
                                  "solution (constraints=...) is not implemented; the objective "
                                  "depends on tracked values here.")
    result = _original("minimize")(**plain)
    if not depends:
        return result
    x_star = np.asarray(result.x, dtype=float)
    active = None
    if a["bounds"] is not None:
        active = _active_bounds(x_star, _plain_gradient(objective, x_star),
                                *_bounds_arrays(plain["bounds"], x_star.size))
    result.x = _implicit_solution(_gradient_condition(objective), x_star, active,
                                  "scipy.optimize.minimize")
    value = _scalar(objective(result.x))
    result.fun = value + (np.asarray(result.fun, dtype=float) - value._data)
    return result


@implements_scipy("scipy.optimize", "minimize_scalar")
def minimize_scalar(*call_args, **call_kwargs):
    a = _bind("minimize_scalar", call_args, call_kwargs)
    fun, (extra, plain_extra) = a["fun"], _extra_args(a["args"])
    plain = dict(a, fun=_plain_callable(fun, plain_extra), args=(), bracket=_to_plain(a["bracket"]),
                 bounds=_to_plain(a["bounds"]))
    start = plain["bounds"][0] if plain["bounds"] is not None else (
        plain["bracket"][0] if plain["bracket"] is not None else 0.0)
    objective = lambda x: fun(x, *extra)         # noqa: E731
    result = _original("minimize_scalar")(**plain)
    if not _depends(objective, start):
        return result
    x_star = np.asarray(result.x, dtype=float)
    active = None
    if plain["bounds"] is not None:
        # the bounded method stops within its tolerance (xatol + sqrt(eps)|x|) of a bound it
        # cannot cross
        near = 10 * ((a["options"] or {}).get("xatol", 1e-5) + 1.5e-8 * (1 + abs(x_star)))
        slope = _plain_gradient(objective, x_star)
        lower, upper = plain["bounds"]
        active = ((x_star - lower <= near) & (slope > 0)) | ((upper - x_star <= near) & (slope < 0))
    result.x = _implicit_solution(_gradient_condition(objective), x_star, active,
                                  "scipy.optimize.minimize_scalar")
    value = _scalar(objective(result.x))
    result.fun = value + (np.asarray(result.fun, dtype=float) - value._data)
    return result


# ------------------------------------------------------------------------------- least_squares
def _robust_loss(name, f_scale):
    """rho(z) of ``least_squares`` for z = r^2, scaled as C^2 rho(z / C^2)."""
    rho = {"linear": lambda z: z,
           "soft_l1": lambda z: 2 * ((1 + z) ** 0.5 - 1),
           "huber": lambda z: np.where(z <= 1, z, 2 * np.sqrt(np.maximum(z, 1)) - 1),
           "cauchy": lambda z: np.log1p(z),
           "arctan": lambda z: np.arctan(z)}
    if callable(name) or name not in rho:
        raise NotImplementedError(f"scipy.optimize.least_squares: loss={name!r} is not "
                                  "differentiable in gradarray (use one of the named losses).")
    return lambda z: f_scale ** 2 * rho[name](z / f_scale ** 2)


@implements_scipy("scipy.optimize", "least_squares")
def least_squares(*call_args, **call_kwargs):
    a = _bind("least_squares", call_args, call_kwargs)
    fun, (extra, plain_extra), keywords = a["fun"], _extra_args(a["args"]), a["kwargs"] or {}
    residuals = lambda x: fun(x, *extra, **keywords)     # noqa: E731
    plain_keywords = _to_plain(dict(keywords))
    plain = dict(a, fun=_plain_callable(fun, plain_extra, plain_keywords), args=(), kwargs={},
                 x0=_plain_start(a["x0"]), bounds=_to_plain(a["bounds"]))
    if callable(a["jac"]):
        plain["jac"] = _plain_callable(a["jac"], plain_extra, plain_keywords)
    result = _original("least_squares")(**plain)
    if not _depends(residuals, plain["x0"]):
        return result
    rho = _robust_loss(a["loss"], float(_raw(a["f_scale"])))

    def cost(x):
        r = _as_floating(residuals(x))
        return 0.5 * np.sum(rho(r * r))

    result.x = _implicit_solution(_gradient_condition(cost), result.x, result.active_mask != 0,
                                  "scipy.optimize.least_squares")
    r = _as_floating(residuals(result.x))
    result.fun = r + (np.asarray(result.fun, dtype=float) - r._data)
    return result


def _as_floating(value):
    from .. import _creation
    value = _creation.asarray(value)
    return value if value.dtype.kind in "fc" else value.astype(float)


# ------------------------------------------------------------------------------- root finding
def _root_condition(F):
    return lambda x: _as_floating(F(x))


@implements_scipy("scipy.optimize", "root")
def root(*call_args, **call_kwargs):
    a = _bind("root", call_args, call_kwargs)
    fun, (extra, plain_extra) = a["fun"], _extra_args(a["args"])
    takes_pair = (not callable(a["jac"]) and bool(a["jac"]) and
                  str(a["method"]).lower() in ("hybr", "lm"))     # fun returns (F, dF/dx)
    equations = lambda x: fun(x, *extra)[0] if takes_pair else fun(x, *extra)   # noqa: E731
    plain = dict(a, fun=_plain_callable(fun, plain_extra), x0=_plain_start(a["x0"]), args=())
    if callable(a["jac"]):
        plain["jac"] = _plain_callable(a["jac"], plain_extra)
    result = _original("root")(**plain)
    if not _depends(equations, plain["x0"]):
        return result
    result.x = _implicit_solution(_root_condition(equations), result.x, None,
                                  "scipy.optimize.root")
    return result


@implements_scipy("scipy.optimize", "fsolve")
def fsolve(*call_args, **call_kwargs):
    a = _bind("fsolve", call_args, call_kwargs)
    func, (extra, plain_extra) = a["func"], _extra_args(a["args"])
    plain = dict(a, func=_plain_callable(func, plain_extra), x0=_plain_start(a["x0"]), args=())
    if callable(a["fprime"]):
        plain["fprime"] = _plain_callable(a["fprime"], plain_extra)
    out = _original("fsolve")(**plain)
    equations = lambda x: func(x, *extra)          # noqa: E731
    if not _depends(equations, plain["x0"]):
        return out
    x_star = out[0] if a["full_output"] else out
    x = _implicit_solution(_root_condition(equations), x_star, None, "scipy.optimize.fsolve")
    return (x,) + tuple(out[1:]) if a["full_output"] else x


def _scalar_root(name, call_args, call_kwargs, function_name="f"):
    """The bracketing solvers: the root does not depend on the bracket, only on f's parameters."""
    a = _bind(name, call_args, call_kwargs)
    f, (extra, plain_extra) = a[function_name], _extra_args(a["args"])
    plain = dict(a, **{function_name: _plain_callable(f, plain_extra)}, args=())
    for key in ("a", "b", "x0", "x1", "bracket"):
        if key in plain:
            plain[key] = _to_plain(plain[key])
    for key in ("fprime", "fprime2"):
        if callable(plain.get(key)):
            plain[key] = _plain_callable(a[key], plain_extra)
    out = _original(name)(**plain)
    equation = lambda x: f(x, *extra)              # noqa: E731
    start = plain.get("a", plain.get("x0"))
    if name == "root_scalar":
        start = out.root
    if not _depends(equation, start):
        return out
    where = f"scipy.optimize.{name}"
    if name == "root_scalar":
        out.root = _implicit_solution(_root_condition(equation), out.root, None, where)
        return out
    full = a.get("full_output", False)
    x_star = out[0] if full else out
    x = _implicit_solution(_root_condition(equation), x_star, None, where)
    if not full:
        return x
    if hasattr(out, "_replace"):                   # newton on arrays: (root, converged, zero_der)
        return out._replace(root=x)
    out[1].root = x
    return (x,) + tuple(out[1:])


def _bracketing(name):
    def implementation(*call_args, **call_kwargs):
        return _scalar_root(name, call_args, call_kwargs)
    implementation.__name__ = name
    implementation.__doc__ = f"``scipy.optimize.{name}`` with the root tracked in f's parameters."
    return implementation


brentq, brenth, bisect, ridder, toms748 = (
    implements_scipy("scipy.optimize", name)(_bracketing(name)) for name in _BRACKETING)


@implements_scipy("scipy.optimize", "newton")
def newton(*call_args, **call_kwargs):
    return _scalar_root("newton", call_args, call_kwargs, function_name="func")


@implements_scipy("scipy.optimize", "root_scalar")
def root_scalar(*call_args, **call_kwargs):
    return _scalar_root("root_scalar", call_args, call_kwargs)


route_callables("scipy.optimize", __all__)
