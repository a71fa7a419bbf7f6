"""Differentiable ``scipy.interpolate``: interpolators built on tracked data, and SciPy's own
interpolators evaluated at tracked points.

Two ways legacy code meets a GradArray here, both covered:

* ``CubicSpline(x, y_tracked)``, ``interp1d(x, y_tracked)``, ``RegularGridInterpolator(points,
  values_tracked)``, ``make_interp_spline``, ``PchipInterpolator``, ``CubicHermiteSpline``,
  ``PPoly``, ``BSpline``: SciPy's constructor runs on the plain values (its validation, its
  attributes), then the object's class is switched to a subclass that holds the tracked arrays and
  evaluates them with ``np.*`` calls (``interpolate_bspline.tracked_instance``). It stays an
  instance of SciPy's class (``isinstance``, ``.x``, ``.axis``, subclasses the caller wrote).
* ``spl(x_tracked)`` on an interpolator built from plain data: its ``__call__`` is wrapped
  (``PPoly``/``BPoly``, ``BSpline``, ``interp1d``, ``RegularGridInterpolator``), so the value is
  differentiable in the query points (the slope of the piecewise polynomial there).

The maths: a cubic spline's slopes s solve a tridiagonal system A s = b(y), with A from the knots
and the boundary conditions (SciPy's formulas, rebuilt: not-a-knot, clamped, natural, explicit
first/second derivatives, periodic) and b linear in y; the solve is ``sparse_solver`` (the VJP is
the transposed solve, O(n)). The piecewise-cubic coefficients then follow from (y, s) by
``CubicHermiteSpline``'s formulas, composed with ``np.*`` calls. Coefficients are corrected to
SciPy's own by a constant of the size of rounding, so values are SciPy's. ``PchipInterpolator``'s
slopes (weighted harmonic means with sign tests) are composed with ``np.where``. Evaluation is
Horner's scheme on the coefficients of each point's interval. ``interp1d`` kinds: linear, nearest,
nearest-up, previous, next, and the spline kinds through ``make_interp_spline``.
``RegularGridInterpolator``: methods linear/slinear (multilinear weights over the 2^d corners)
and nearest.

Not supported when tracked (a clear error): the knots/sites ``x`` and ``points``, tracked boundary
condition values and ``fill_value``; ``roots``/``solve``/``extend`` of tracked piecewise
polynomials; ``RegularGridInterpolator`` methods cubic/quintic/pchip. ``Akima1DInterpolator`` on
tracked data is not covered (SciPy's own runs: a ``GradientLostWarning``); evaluated at tracked
points it is (a ``PPoly``).

Must not know about: how the bridge installs these (``_bridge.py``).
"""
from __future__ import annotations

import math

import numpy as np

from .._array import GradArray
from ._bridge import implements_scipy_method
from . import interpolate_bspline, interpolate_grid  # noqa: F401  (B-splines; grids, interp1d)
from .interpolate_bspline import (call_layout, connect, copy_with, floating, raw,
                                  refuse_tracked, scipy_method, sparse_solver,
                                  tracked_coefficients, tracked_instance)

__all__ = ["ppoly_evaluate", "TrackedPPoly"]


# ------------------------------------------------------------------------- piecewise polynomials
def _derivative_coefficients(c, nu):
    """Coefficients (highest power first) of the nu-th derivative of each piece."""
    if nu == 0:
        return c
    order = c.shape[0] - nu
    if order <= 0:
        return c[:1] * 0.0
    factor = np.array([math.perm(m + nu - 1, nu) for m in range(order, 0, -1)], dtype=float)
    return c[:order] * factor.reshape((-1,) + (1,) * (c.ndim - 1))


def ppoly_evaluate(c, x, xq, nu=0, extrapolate=True):
    """The piecewise polynomial (c (k+1, m, ...), breakpoints x (m+1,)) at the points xq (q,):
    Horner's scheme in xq - x[i] on the coefficients of each point's interval; shape (q, ...)."""
    c = _derivative_coefficients(c, nu)
    x = np.asarray(x, dtype=float)
    if extrapolate == "periodic":
        xq = x[0] + (xq - x[0]) % (x[-1] - x[0])
        extrapolate = False
    xq_raw = raw(xq)
    direction = 1.0 if x[-1] >= x[0] else -1.0
    pieces = c.shape[1]
    interval = np.clip(np.searchsorted(direction * x, direction * xq_raw, side="right") - 1,
                       0, pieces - 1)
    trailing = (1,) * (c.ndim - 2)
    offset = np.reshape(xq - x[interval], (-1,) + trailing)
    value = c[0, interval]
    for j in range(1, c.shape[0]):
        value = value * offset + c[j, interval]
    if not extrapolate:
        low, high = min(x[0], x[-1]), max(x[0], x[-1])
        outside = np.reshape((xq_raw < low) | (xq_raw > high), (-1,) + trailing)
        value = np.where(outside, np.nan, value)
    return value


def _ppoly_call(self, c, x, nu=0, extrapolate=None):
    if extrapolate is None:
        extrapolate = self.extrapolate
    x = floating(x)
    points = np.reshape(x, (-1,))
    out = connect(ppoly_evaluate(c, self._x, points, nu, extrapolate), points)
    return call_layout(out, x.shape, x.ndim, self.axis)


def _antiderivative_coefficients(c, x):
    """One antiderivative, zero at x[0] and continuous: powers raised by one, then each piece's
    constant is the previous piece's value at their common breakpoint (a cumulative sum)."""
    order = c.shape[0]
    scale = np.arange(order, 0, -1, dtype=float).reshape((-1,) + (1,) * (c.ndim - 1))
    raised = c / scale
    widths = np.diff(np.asarray(x, dtype=float)).reshape((-1,) + (1,) * (c.ndim - 2))
    end_values = raised[0]
    for j in range(1, order):
        end_values = end_values * widths + raised[j]
    end_values = end_values * widths
    constants = np.concatenate([end_values[:1] * 0.0, np.cumsum(end_values[:-1], axis=0)], axis=0)
    return np.concatenate([raised, constants[None]], axis=0)


class TrackedPPoly:
    """Methods of a ``PPoly`` (``CubicSpline``...) whose coefficients ``_c`` are a GradArray."""

    c = tracked_coefficients

    def __call__(self, x, nu=0, extrapolate=None):
        return _ppoly_call(self, self._c, x, nu, extrapolate)

    def derivative(self, nu=1):
        if nu < 0:
            return self.antiderivative(-nu)
        return copy_with(self, _c=_derivative_coefficients(self._c, nu))

    def antiderivative(self, nu=1):
        if nu <= 0:
            return self.derivative(-nu)
        c = self._c
        for _ in range(nu):
            c = _antiderivative_coefficients(c, self._x)
        extrapolate = False if self.extrapolate == "periodic" else self.extrapolate
        return copy_with(self, _c=c, extrapolate=extrapolate)

    def integrate(self, a, b, extrapolate=None):
        return _ppoly_integrate(self, self._c, a, b, extrapolate)

    def _not_tracked(self, *args, **kwargs):
        raise NotImplementedError("scipy.interpolate: roots/solve/extend of a piecewise polynomial "
                                  "with tracked coefficients are not differentiable in gradarray. "
                                  "Call them on a spline built from detached data.")

    roots = solve = extend = _not_tracked


def _ppoly_integrate(self, c, a, b, extrapolate=None):
    """The definite integral F(b) - F(a) with the antiderivative F (differentiable in c, a, b)."""
    if extrapolate is None:
        extrapolate = self.extrapolate
    if extrapolate == "periodic":
        raise NotImplementedError("scipy.interpolate: integrate with periodic extrapolation is not "
                                  "differentiable in gradarray.")
    F = _antiderivative_coefficients(c, self._x)
    ends = floating([a, b]) if isinstance(a, GradArray) or isinstance(b, GradArray) else \
        np.asarray([a, b], dtype=float)
    values = ppoly_evaluate(F, self._x, ends, 0, extrapolate)
    return values[1] - values[0]


def _ppoly_of(self):
    """A plain ``PPoly`` for a ``BPoly`` (Bernstein basis), ``self`` otherwise."""
    import scipy.interpolate
    if isinstance(self, scipy.interpolate.BPoly):
        return scipy.interpolate.PPoly.from_bernstein_basis(self)
    return self


@implements_scipy_method("scipy.interpolate._interpolate", "_PPolyBase", "__call__")
def _piecewise_at_tracked_points(self, x, nu=0, extrapolate=None):
    plain = _ppoly_of(self)
    return _ppoly_call(plain, plain._c, x, nu, self.extrapolate if extrapolate is None
                       else extrapolate)


@implements_scipy_method("scipy.interpolate._interpolate", "PPoly", "integrate")
def _ppoly_integrate_tracked_bounds(self, a, b, extrapolate=None):
    return _ppoly_integrate(self, self._c, a, b, extrapolate)


@implements_scipy_method("scipy.interpolate._interpolate", "PPoly", "__init__")
def _ppoly_with_tracked_coefficients(self, c, x, extrapolate=None, axis=0):
    refuse_tracked("scipy.interpolate.PPoly", x=x)
    c = floating(c)
    scipy_method("scipy.interpolate._interpolate", "PPoly", "__init__")(self, c._data, x,
                                                                     extrapolate, axis)
    if axis != 0:
        c = np.moveaxis(np.moveaxis(c, axis + 1, 0), axis + 1, 0)
    tracked_instance(self, TrackedPPoly, _c=c)


# ------------------------------------------------------------------------- cubic Hermite splines
def _hermite_coefficients(x, y, slopes):
    """CubicHermiteSpline's pieces: with m = (y[i+1]-y[i])/h and t = (s[i] + s[i+1] - 2m)/h,
    c = (t/h, (m - s[i])/h - t, s[i], y[i]) (highest power first)."""
    h = np.diff(np.asarray(x, dtype=float)).reshape((-1,) + (1,) * (y.ndim - 1))
    secant = np.diff(y, axis=0) / h
    t = (slopes[:-1] + slopes[1:] - 2 * secant) / h
    return np.stack([t / h, (secant - slopes[:-1]) / h - t, slopes[:-1], y[:-1]])


def _track_hermite(self, x, y, slopes):
    """Finish a SciPy Hermite-type spline built on plain data: tracked coefficients, corrected to
    SciPy's values."""
    c = _hermite_coefficients(x, y, slopes)
    c = c + (self._c - c._data)
    tracked_instance(self, TrackedPPoly, _c=c)


@implements_scipy_method("scipy.interpolate._cubic", "CubicHermiteSpline", "__init__")
def _hermite_with_tracked_data(self, x, y, dydx, axis=0, extrapolate=None):
    refuse_tracked("scipy.interpolate.CubicHermiteSpline", x=x)
    y, dydx = floating(y), floating(dydx)
    scipy_method("scipy.interpolate._cubic", "CubicHermiteSpline", "__init__")(
        self, raw(x), y._data, dydx._data, axis, extrapolate)
    _track_hermite(self, raw(x), np.moveaxis(y, self.axis, 0), np.moveaxis(dydx, self.axis, 0))


def _pchip_edge(h0, h1, m0, m1):
    """PCHIP's one-sided three-point end slope, set to 0 if its sign differs from m0's and to
    3 m0 if it overshoots where the data change monotonicity."""
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    wrong_sign = raw(np.sign(d)) != raw(np.sign(m0))
    overshoot = (raw(np.sign(m0)) != raw(np.sign(m1))) & (np.abs(raw(d)) > 3.0 * np.abs(raw(m0)))
    return np.where(wrong_sign, 0.0, np.where(overshoot, 3.0 * m0, d))


def _pchip_slopes(x, y):
    """Fritsch-Carlson slopes: 0 at local extrema or flat secants, else the weighted harmonic mean
    1/((w1/m[k-1] + w2/m[k]) / (w1 + w2)), w1 = 2h[k] + h[k-1], w2 = h[k] + 2h[k-1]."""
    h = np.diff(np.asarray(x, dtype=float)).reshape((-1,) + (1,) * (y.ndim - 1))
    m = np.diff(y, axis=0) / h
    if y.shape[0] == 2:
        return np.concatenate([m, m], axis=0)
    m_raw = raw(m)
    flat = (np.sign(m_raw[1:]) != np.sign(m_raw[:-1])) | (m_raw[1:] == 0) | (m_raw[:-1] == 0)
    w1, w2 = 2 * h[1:] + h[:-1], h[1:] + 2 * h[:-1]
    safe_before = np.where(flat, 1.0, m[:-1])
    safe_after = np.where(flat, 1.0, m[1:])
    interior = np.where(flat, 0.0, (w1 + w2) / (w1 / safe_before + w2 / safe_after))
    first = _pchip_edge(h[0], h[1], m[0], m[1])
    last = _pchip_edge(h[-1], h[-2], m[-1], m[-2])
    return np.concatenate([first[None], interior, last[None]], axis=0)


@implements_scipy_method("scipy.interpolate._cubic", "PchipInterpolator", "__init__")
def _pchip_with_tracked_data(self, x, y, axis=0, extrapolate=None):
    refuse_tracked("scipy.interpolate.PchipInterpolator", x=x)
    y = floating(y)
    scipy_method("scipy.interpolate._cubic", "PchipInterpolator", "__init__")(
        self, raw(x), y._data, axis, extrapolate)
    ymoved = np.moveaxis(y, self.axis, 0)
    _track_hermite(self, raw(x), ymoved, _pchip_slopes(raw(x), ymoved))


# ------------------------------------------------------------------------- CubicSpline
def _boundary_conditions(bc_type, trailing):
    """[start, end], each "not-a-knot", "periodic" or (order, plain value of shape trailing)."""
    def one(bc):
        if isinstance(bc, str):
            if bc == "clamped":
                return (1, np.zeros(trailing))
            if bc == "natural":
                return (2, np.zeros(trailing))
            return bc
        order, value = bc
        return (order, np.broadcast_to(np.asarray(value), trailing))
    if isinstance(bc_type, str):
        return [one(bc_type), one(bc_type)]
    return [one(bc) for bc in bc_type]


def _spline_slopes(x, y, bc):
    """The slopes s at the knots of SciPy's CubicSpline (y: (n, r), tracked): the tridiagonal
    system dx[i] s[i-1] + 2 (dx[i-1] + dx[i]) s[i] + dx[i-1] s[i+1] = 3 (dx[i] m[i-1]
    + dx[i-1] m[i]) (m: secant slopes) closed by the boundary rows (cyclic when periodic)."""
    n = len(x)
    dx = np.diff(x)
    m = np.diff(y, axis=0) / dx[:, None]
    if n == 2 and bc[0] in ("not-a-knot", "periodic"):
        bc = [(1, m[0]), bc[1]]
    if n == 2 and bc[1] in ("not-a-knot", "periodic"):
        bc = [bc[0], (1, m[0])]
    if n == 3 and bc[0] == "periodic":
        t = np.sum(m / dx[:, None], axis=0) / np.sum(1.0 / dx)
        return np.stack([t, t, t])
    if bc[0] == "periodic":          # unknowns s[0..n-2], s[n-1] = s[0]; neighbours wrap around
        size = n - 1
        rows, cols, vals, rhs = [], [], [], []
        for i in range(size):
            before, after = dx[(i - 1) % size], dx[i]
            rows += [i, i, i]
            cols += [(i - 1) % size, i, (i + 1) % size]
            vals += [after, 2 * (before + after), before]
        idx = np.arange(size)
        rhs = 3 * (dx[idx][:, None] * m[(idx - 1) % size] + dx[(idx - 1) % size][:, None] * m[idx])
        s = sparse_solver(_sparse((vals, (rows, cols)), size))(rhs)
        return np.concatenate([s, s[:1]], axis=0)
    if n == 3 and bc[0] == bc[1] == "not-a-knot":    # the parabola through the three points
        A = np.array([[1.0, 1.0, 0.0], [dx[1], 2 * (dx[0] + dx[1]), dx[0]], [0.0, 1.0, 1.0]])
        rhs = np.stack([2 * m[0], 3 * (dx[0] * m[1] + dx[1] * m[0]), 2 * m[1]])
        return sparse_solver(A)(rhs)
    rows, cols, vals = [], [], []
    for i in range(1, n - 1):
        rows += [i, i, i]
        cols += [i - 1, i, i + 1]
        vals += [dx[i], 2 * (dx[i - 1] + dx[i]), dx[i - 1]]
    interior = 3 * (dx[1:, None] * m[:-1] + dx[:-1, None] * m[1:])
    first_row, first_rhs = _boundary_row(bc[0], x, y, dx, m, start=True)
    last_row, last_rhs = _boundary_row(bc[1], x, y, dx, m, start=False)
    for row, entries in ((0, first_row), (n - 1, last_row)):
        for col, val in entries:
            rows.append(row)
            cols.append(col % n)
            vals.append(val)
    width = y.shape[1]
    rhs = np.concatenate([np.broadcast_to(first_rhs, (1, width)), interior,
                          np.broadcast_to(last_rhs, (1, width))], axis=0)
    return sparse_solver(_sparse((vals, (rows, cols)), n))(rhs)


def _boundary_row(bc, x, y, dx, m, start):
    """Row entries [(column, value)] and right-hand side of one end's condition (SciPy's)."""
    if start:
        i, j, near, far = 0, 1, dx[0], dx[min(1, len(dx) - 1)]
    else:
        i, j, near, far = -1, -2, dx[-1], dx[max(-2, -len(dx))]
    if bc == "not-a-knot":
        d = x[2] - x[0] if start else x[-1] - x[-3]
        if start:
            rhs = ((near + 2 * d) * far * m[0] + near ** 2 * m[1]) / d
        else:
            rhs = (near ** 2 * m[-2] + (2 * d + near) * far * m[-1]) / d
        return [(i, far), (j, d)], rhs
    order, value = bc
    value = floating(value).reshape((1, -1)) if type(value) is GradArray else \
        np.reshape(np.asarray(value, dtype=float), (1, -1))
    if order == 1:
        return [(i, 1.0)], value
    # second derivative v: 2 h s[end] + h s[next] = -/+ v h^2 / 2 + 3 (y[next] - y[end]) (signed)
    sign = -1.0 if start else 1.0
    secant = (y[1] - y[0]) if start else (y[-1] - y[-2])
    return [(i, 2 * near), (j, near)], sign * 0.5 * value * near ** 2 + 3 * secant


def _sparse(triplets, size):
    import scipy.sparse
    return scipy.sparse.coo_matrix(triplets, shape=(size, size)).tocsc()


@implements_scipy_method("scipy.interpolate._cubic", "CubicSpline", "__init__")
def _cubic_spline_with_tracked_data(self, x, y, axis=0, bc_type="not-a-knot", extrapolate=None):
    refuse_tracked("scipy.interpolate.CubicSpline", x=x, bc_type=bc_type)
    y = floating(y)
    x = np.asarray(raw(x), dtype=float)
    scipy_method("scipy.interpolate._cubic", "CubicSpline", "__init__")(self, x, y._data, axis,
                                                                     bc_type, extrapolate)
    ymoved = np.moveaxis(y, self.axis, 0)
    trailing = tuple(ymoved.shape[1:])
    flat = np.reshape(ymoved, (len(x), -1))
    slopes = _spline_slopes(x, flat, _boundary_conditions(bc_type, trailing))
    _track_hermite(self, x, ymoved, np.reshape(slopes, ymoved.shape))

