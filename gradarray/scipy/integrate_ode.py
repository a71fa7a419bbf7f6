"""Differentiable ``scipy.integrate.solve_ivp`` and ``odeint``: gradients with respect to the
initial state ``y0`` and to every tracked value the right-hand side reads (``args=(p,)``, or a
closure over tracked arrays), by replaying the integrator's own steps on the tape.

How: SciPy integrates on plain data (the tracked values detached, ``fun``'s results read raw),
which fixes the accepted step times ``t_0 < t_1 < ...``. The same explicit Runge-Kutta steps are
then taken again with GradArrays (``fun(t, y, *args)`` is the caller's legacy NumPy code, called on
GradArrays), using the tableau of SciPy's own solver class (``A``, ``B``, ``C``; the dense-output
matrix ``P`` of RK45/RK23 or DOP853's extra stages for ``t_eval``), so the tape holds exactly the
discrete computation whose result SciPy returned. The gradient is the exact derivative of that
discrete solution (discretise-then-differentiate). The replayed values equal SciPy's up to
rounding; the returned ``.y`` is SciPy's array plus the (untracked) rounding difference, so the
forward values are SciPy's bit for bit.

* ``solve_ivp`` with ``RK45`` (default), ``RK23``, ``DOP853``: the steps SciPy accepted.
* ``solve_ivp`` with ``Radau``, ``BDF``, ``LSODA`` and ``odeint`` (LSODA, not replayable): the
  values are the requested solver's; the gradient is that of an RK45 replay on the steps RK45
  accepts at the same ``rtol``/``atol`` (``odeint``'s defaults 1.49e-8). Its accuracy follows the
  tolerance; on stiff problems the explicit replay takes many steps (slow, memory-hungry).

Why replay and not the adjoint ODE (solving ``lambda' = -J_y^T lambda``, ``mu' = -J_p^T lambda``
backwards with SciPy, the VJPs from gradarray, y(t) from the forward dense output). Both measured
on Lotka-Volterra (2 states, 4 parameters in ``args``, t in [0, 10], loss = sum of the states at
20 ``t_eval`` points; rtol = tol, atol = tol/1000 at 1e-3, else tol). Relative error of the
gradient against central differences of the whole SciPy computation at the same tolerance ("FD")
and against the true sensitivity (central differences at tol 1e-12), and the time of one
forward+backward (the plain forward alone: 3 ms, 9 ms, 22 ms)::

    tol     replay RK45: vs FD, vs true, time     adjoint RK45: vs FD, vs true, time
    1e-3    3e-1,  9e-2,  0.05 s                  2e-1,  2e-2,  0.14 s
    1e-6    4e-6,  4e-6,  0.15 s                  6e-6,  1e-6,  0.22 s
    1e-9    8e-9,  1e-9,  0.74 s                  8e-9,  8e-10, 0.67 s

Both are as accurate as the tolerance allows (finite differences of an adaptive solver are
themselves only that accurate: "FD vs true" is 2e-1, 4e-6, 8e-9), at a similar cost. The replay
was chosen because it differentiates exactly what was computed (a gradient consistent with the
returned values, second derivatives included), and because it needs no list of parameters:
``y0``, ``args`` and whatever tracked arrays ``fun`` reads through closures or globals are on the
tape like any other value, while the adjoint can only accumulate ``mu`` for parameters it is
handed. The adjoint's advantage, memory independent of the number of steps, matters for long
integrations of large systems: the replay keeps every stage on the tape (O(steps x stages x n)).

A call whose only tracked values hide in ``fun`` (a closure over tracked parameters, plain ``y0``)
reaches this module too: ``_closures.route_callables`` looks inside callables for them.

Not supported when tracked: ``events`` and ``dense_output=True`` (a clear error), gradients with
respect to the time arguments (``t_span``, ``t_eval``, ``t`` raise). Second derivatives work (the
replay is a composition of recorded NumPy calls).

Must not know about: how the bridge installs these (``_bridge.py``).
"""
from __future__ import annotations

import numpy as np

from .. import _creation
from .._array import GradArray
from .._modes import is_grad_enabled
from ..functional import _to_plain
from ._bridge import holds_gradarray, implements_scipy
from ._closures import route_callables

__all__ = ["solve_ivp", "odeint"]

_ODEINT_TOL = 1.49012e-8           # odeint's default rtol and atol


def _raw(v):
    return v._data if type(v) is GradArray else v


def _tracked(v):
    return type(v) is GradArray and v.requires_grad


def _refuse_tracked_times(function, **times):
    for name, value in times.items():
        if value is not None and holds_gradarray([value]):
            raise TypeError(f"{function}: argument {name!r} holds a tracked array, but gradients "
                            "with respect to the time points are not implemented. Pass plain "
                            "times (.detach() or a plain array).")


def _plain_function(fn, args):
    """``fn(t, y)`` for SciPy's solver: plain arguments in, plain arrays out (``fn`` may close
    over tracked arrays, or use gradarray itself: its results are read raw)."""
    def plain(*call_args):
        return _to_plain(fn(*call_args, *args))
    return plain


def _floating(a):
    a = _creation.asarray(a)
    return a if a.dtype.kind in "fc" else a.astype(np.float64)


# ----------------------------------------------------------------------------------- the replay
class _Replay:
    """The explicit Runge-Kutta steps of ``solver_class`` between the times ``ts``, on the tape.

    ``rhs(t, y)`` returns a GradArray. ``states()`` gives y at every ``ts``; ``at(t_eval)`` the
    solver's dense output at the requested times (each point from the step SciPy used for it).
    """

    def __init__(self, solver_class, rhs, ts, y0):
        self.cls = solver_class
        self.rhs = rhs
        self.ts = np.asarray(ts, dtype=float)
        self.y = [y0]
        self.stages = []             # per step: the stage derivatives K (GradArray, (stages, n))
        f = rhs(self.ts[0], y0)
        for k in range(len(self.ts) - 1):
            t, h = self.ts[k], self.ts[k + 1] - self.ts[k]
            y_new, K = self._step(t, self.y[-1], f, h)
            self.y.append(y_new)
            self.stages.append(K)
            f = K[-1]                # first same as last

    def _step(self, t, y, f, h):
        """One step of SciPy's ``rk_step``: K_s = f(t + c_s h, y + h sum_j a_sj K_j), then
        y_new = y + h sum_s b_s K_s and f_new = f(t + h, y_new) appended as the last stage."""
        A, B, C = self.cls.A, self.cls.B, self.cls.C
        K = [f]
        for s in range(1, self.cls.n_stages):
            K.append(self.rhs(t + C[s] * h, y + _combination(A[s, :s], K, h)))
        y_new = y + _combination(B, K, h)
        K.append(self.rhs(t + h, y_new))
        return y_new, K

    def states(self):
        return np.stack(self.y, axis=1)

    def at(self, t_eval):
        """Dense output at ``t_eval``: the point t goes to the first step whose end is at or
        past t in the direction of integration (SciPy's assignment in ``solve_ivp``)."""
        t_eval = np.asarray(t_eval, dtype=float)
        if t_eval.size == 0:
            return self.y[0][:, None][:, :0]
        direction = 1.0 if self.ts[-1] >= self.ts[0] else -1.0
        step_of = np.searchsorted(direction * self.ts[1:], direction * t_eval, side="left")
        step_of = np.minimum(step_of, len(self.ts) - 2)
        columns = []
        for k in np.unique(step_of):
            points = t_eval[step_of == k]
            columns.append(self._dense(k, points))
        return np.concatenate(columns, axis=1)

    def _dense(self, k, points):
        t_old, t_new = self.ts[k], self.ts[k + 1]
        h = t_new - t_old
        x = (points - t_old) / h
        y_old, K = self.y[k], self.stages[k]
        if self.cls.__name__ == "DOP853":
            return self._dense_dop853(y_old, self.y[k + 1], K, t_old, h, x)
        # RK23/RK45: y = y_old + h Q [x, x^2, ..., x^(order+1)] with Q = K^T P
        Q = np.dot(np.stack(K, axis=1), self.cls.P)
        powers = np.cumprod(np.tile(x, (Q.shape[1], 1)), axis=0)
        return y_old[:, None] + h * np.dot(Q, powers)

    def _dense_dop853(self, y_old, y_new, K, t_old, h, x):
        """DOP853's interpolant: three extra stages, then the nested form
        y = y_old + x (F0 + (1-x) (F1 + x (F2 + (1-x) (F3 + ...))))."""
        K = list(K)
        for a, c in zip(self.cls.A_EXTRA, self.cls.C_EXTRA):
            K.append(self.rhs(t_old + c * h, y_old + _combination(a[:len(K)], K, h)))
        f_old, f_new = K[0], K[self.cls.n_stages]
        delta = y_new - y_old
        F = [delta, h * f_old - delta, 2 * delta - h * (f_new + f_old)]
        F += list(h * np.dot(self.cls.D, np.stack(K, axis=0)))
        y = 0.0
        for i, f in enumerate(reversed(F)):
            y = (y + f[:, None]) * (x if i % 2 == 0 else 1 - x)
        return y_old[:, None] + y


def _combination(weights, vectors, h):
    """h * sum_j w_j v_j over the nonzero weights (the tableaus are sparse)."""
    total = None
    for w, v in zip(weights, vectors):
        if w != 0:
            total = w * v if total is None else total + w * v
    return total * h


def _rhs_on_tape(fun, args):
    """``fun(t, y, *args)`` as the replay calls it: the result as a floating GradArray (legacy
    right-hand sides often return lists of tracked scalars)."""
    def rhs(t, y):
        return np.reshape(_floating(fun(t, y, *args)), y.shape)
    return rhs


def _with_scipy_values(replayed, scipy_values):
    """The replayed (tracked) array carrying SciPy's exact values: add the rounding difference as
    a constant."""
    return replayed + (np.asarray(scipy_values) - replayed._data)


def _depends_on_tape(fun, t0, y0, args):
    """Does the solution depend on a tracked value: ``y0``, ``args``, or what ``fun`` reads?"""
    if not is_grad_enabled():
        return False
    if _tracked(y0) or any(_tracked(a) for a in args if type(a) is GradArray):
        return True
    return _tracked(_floating(fun(t0, _creation.asarray(_raw(y0)), *args)))


# ----------------------------------------------------------------------------------- solve_ivp
@implements_scipy("scipy.integrate", "solve_ivp")
def solve_ivp(fun, t_span, y0, method="RK45", t_eval=None, dense_output=False, events=None,
              vectorized=False, args=None, **options):
    import scipy.integrate
    from scipy.integrate._ivp.ivp import METHODS
    _refuse_tracked_times("scipy.integrate.solve_ivp", t_span=t_span, t_eval=t_eval)
    if args is not None:
        try:
            args = tuple(args)
        except TypeError as exc:
            raise TypeError(f"Supplied 'args' cannot be unpacked. Please supply `args` as a tuple "
                            f"(e.g. `args=({args},)`)") from exc
    # SciPy itself hands ``args`` to fun, jac and events: only their results are made plain
    plain_args = None if args is None else tuple(_to_plain(list(args)))
    args = args or ()
    plain_options = {name: _plain_function(v, ()) if name == "jac" and callable(v)
                     else _to_plain(v) for name, v in options.items()}
    y0 = _floating(y0)
    if not _depends_on_tape(fun, t_span[0], y0, args):
        return scipy.integrate.solve_ivp(_plain_function(fun, ()), t_span, y0._data,
                                         method=method, t_eval=t_eval, dense_output=dense_output,
                                         events=events, vectorized=vectorized, args=plain_args,
                                         **plain_options)
    if events is not None or dense_output:
        raise NotImplementedError("scipy.integrate.solve_ivp: events and dense_output=True are "
                                  "not differentiable in gradarray; the solution depends on a "
                                  "tracked value here. Integrate without them (use t_eval).")
    result = scipy.integrate.solve_ivp(_plain_function(fun, ()), t_span, y0._data,
                                       method=method, t_eval=t_eval, dense_output=True,
                                       vectorized=vectorized, args=plain_args, **plain_options)
    solver_class = METHODS.get(method) if isinstance(method, str) else method
    if solver_class in _replayable_classes():
        steps = result.sol.ts
    else:
        tolerances = {k: plain_options[k] for k in ("rtol", "atol", "max_step", "first_step")
                      if k in plain_options}
        steps, solver_class = _rk45_steps(fun, plain_args or (), t_span, y0, result.t[-1],
                                          tolerances)
    replay = _Replay(solver_class, _rhs_on_tape(fun, args), steps, y0)
    y = replay.states() if t_eval is None and steps is result.sol.ts else replay.at(result.t)
    result.y = _with_scipy_values(y, result.y)
    result.sol = None
    return result


def _replayable_classes():
    from scipy.integrate._ivp.rk import DOP853, RK23, RK45
    return (RK45, RK23, DOP853)


def _rk45_steps(fun, plain_args, t_span, y0, t_end, tolerances):
    """The steps RK45 accepts on the same problem (the gradient of a non-replayable solver)."""
    import scipy.integrate
    from scipy.integrate._ivp.rk import RK45
    if "rtol" in tolerances:    # RK45 refuses rtol < 100 eps (with a warning)
        tolerances["rtol"] = np.maximum(tolerances["rtol"], 100 * np.finfo(float).eps)
    reference = scipy.integrate.solve_ivp(_plain_function(fun, plain_args), (t_span[0], t_end),
                                          y0._data, method="RK45", **tolerances)
    if not reference.success:
        raise RuntimeError("scipy.integrate: the RK45 integration that gradarray replays for the "
                           f"gradient failed ({reference.message}); the problem may be too stiff.")
    return reference.t, RK45


# ----------------------------------------------------------------------------------- odeint
@implements_scipy("scipy.integrate", "odeint")
def odeint(func, y0, t, args=(), Dfun=None, col_deriv=0, full_output=0, ml=None, mu=None,
           rtol=None, atol=None, tcrit=None, h0=0.0, hmax=0.0, hmin=0.0, ixpr=0, mxstep=0,
           mxhnil=0, mxordn=12, mxords=5, printmessg=0, tfirst=False):
    import scipy.integrate
    _refuse_tracked_times("scipy.integrate.odeint", t=t, tcrit=tcrit)
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    plain_args = tuple(_to_plain(list(args)))
    rtol, atol = _to_plain(rtol), _to_plain(atol)
    y0 = np.reshape(_floating(y0), (-1,))
    as_t_first = func if tfirst else (lambda t_, y_, *a: func(y_, t_, *a))
    plain_dfun = None if Dfun is None else _plain_function(Dfun, ())
    out = scipy.integrate.odeint(_plain_function(func, ()), y0._data, t, plain_args, plain_dfun,
                                 col_deriv, full_output, ml, mu, rtol, atol, tcrit, h0, hmax, hmin,
                                 ixpr, mxstep, mxhnil, mxordn, mxords, printmessg, tfirst)
    values = out[0] if full_output else out
    t = np.asarray(t, dtype=float)
    if not _depends_on_tape(as_t_first, t[0], y0, args) or len(t) < 2:
        return out
    tolerances = {"rtol": _ODEINT_TOL if rtol is None else rtol,
                  "atol": _ODEINT_TOL if atol is None else atol}
    if hmax:
        tolerances["max_step"] = hmax
    steps, solver_class = _rk45_steps(as_t_first, plain_args, (t[0], t[-1]), y0, t[-1],
                                      tolerances)
    replay = _Replay(solver_class, _rhs_on_tape(as_t_first, args), steps, y0)
    y = _with_scipy_values(np.transpose(replay.at(t)), values)
    return (y, out[1]) if full_output else y


route_callables("scipy.integrate", __all__)
