"""Differentiable ``scipy.integrate`` (see the package docstring and ``_bridge.py``).

Sampled-data quadrature (``trapezoid``, ``simpson``, ``cumulative_trapezoid``,
``cumulative_simpson``, ``romb``) is written again with ``np.*`` calls, following SciPy 1.17's
formulas term by term (Simpson's rule with Cartwright's correction of the last interval for an even
number of samples), so the values are SciPy's and the gradient flows to ``y``, ``x`` and ``dx``.

The initial value problems (``solve_ivp``, ``odeint``) live in ``integrate_ode.py``, imported here.

Must not know about: how the bridge installs these (``_bridge.py``).
"""
from __future__ import annotations

import operator

import numpy as np

from .. import _creation
from .._array import GradArray
from ._bridge import implements_scipy
from . import integrate_ode  # noqa: F401  (registers solve_ivp and odeint)

__all__ = ["trapezoid", "simpson", "cumulative_trapezoid", "cumulative_simpson", "romb"]


def _floating(a):
    """``a`` (array, list, scalar, GradArray) as a GradArray of a floating dtype."""
    a = _creation.asarray(a)
    return a if a.dtype.kind in "fc" else a.astype(np.float64)


def _along(nd, axis, index):
    """An index tuple that applies ``index`` along ``axis`` of an ``nd``-dimensional array."""
    full = [slice(None)] * nd
    full[axis] = index
    return tuple(full)


def _safe_divide(num, den):
    """``num / den`` where ``den != 0``, else 0 (SciPy's ``np.true_divide(..., where=den != 0)``);
    the masked branch never divides by zero, so its gradient is finite."""
    nonzero = den != 0
    return np.where(nonzero, num / np.where(nonzero, den, 1.0), 0.0)


def _spacing_along(x, y, axis):
    """Sample spacings ``diff(x)`` shaped to broadcast against ``y``'s intervals along ``axis``."""
    x = _floating(x)
    if x.ndim == 1:
        shape = [1] * y.ndim
        shape[axis] = -1
        return np.reshape(np.diff(x), tuple(shape))
    if x.ndim != y.ndim:
        raise ValueError("If given, shape of x must be 1-D or the same as y.")
    return np.diff(np.broadcast_to(x, y.shape), axis=axis)


# ---------------------------------------------------------------------------------- trapezoid
@implements_scipy("scipy.integrate", "trapezoid")
def trapezoid(y, x=None, dx=1.0, axis=-1):
    y = _floating(y)
    axis = operator.index(axis) % y.ndim
    upper, lower = y[_along(y.ndim, axis, slice(1, None))], y[_along(y.ndim, axis, slice(None, -1))]
    d = dx if x is None else _spacing_along(x, y, axis)
    return np.sum(d * (upper + lower) / 2.0, axis=axis)


@implements_scipy("scipy.integrate", "cumulative_trapezoid")
def cumulative_trapezoid(y, x=None, dx=1.0, axis=-1, initial=None):
    y = _floating(y)
    axis = operator.index(axis) % y.ndim
    if y.shape[axis] == 0:
        raise ValueError("At least one point is required along `axis`.")
    if x is None:
        d = dx
    else:
        d = _spacing_along(x, y, axis)
        if d.shape[axis] != y.shape[axis] - 1:
            raise ValueError("If given, length of x along axis must be the same as y.")
    upper, lower = y[_along(y.ndim, axis, slice(1, None))], y[_along(y.ndim, axis, slice(None, -1))]
    result = np.cumsum(d * (upper + lower) / 2.0, axis=axis)
    if initial is None:
        return result
    if type(initial) is GradArray or not np.isscalar(initial):
        raise ValueError("`initial` parameter should be a scalar.")
    if initial != 0:
        raise ValueError("`initial` must be `None` or `0`.")
    shape = list(result.shape)
    shape[axis] = 1
    return np.concatenate([np.zeros(tuple(shape), dtype=result.dtype), result], axis=axis)


# ---------------------------------------------------------------------------------- Simpson
def _basic_simpson(y, stop, x, dx, axis):
    """Composite Simpson over the sample pairs starting at 0, 2, ... < ``stop`` (SciPy's
    ``_basic_simpson``; for uneven spacing h0, h1 of a pair the weights are
    (h0+h1)/6 * (2 - h1/h0, (h0+h1)^2/(h0 h1), 2 - h0/h1))."""
    nd = y.ndim
    y0 = y[_along(nd, axis, slice(0, stop, 2))]
    y1 = y[_along(nd, axis, slice(1, stop + 1, 2))]
    y2 = y[_along(nd, axis, slice(2, stop + 2, 2))]
    if x is None:
        return np.sum(y0 + 4.0 * y1 + y2, axis=axis) * (dx / 3.0)
    h = np.diff(x, axis=axis)
    h0 = h[_along(nd, axis, slice(0, stop, 2))]
    h1 = h[_along(nd, axis, slice(1, stop + 1, 2))]
    hsum, hprod = h0 + h1, h0 * h1
    h0_over_h1 = _safe_divide(h0, h1)
    terms = hsum / 6.0 * (y0 * (2.0 - _safe_divide(1.0, h0_over_h1))
                          + y1 * (hsum * _safe_divide(hsum, hprod))
                          + y2 * (2.0 - h0_over_h1))
    return np.sum(terms, axis=axis)


@implements_scipy("scipy.integrate", "simpson")
def simpson(y, x=None, *, dx=1.0, axis=-1):
    y = _floating(y)
    nd = y.ndim
    axis = operator.index(axis) % nd
    n = y.shape[axis]
    if x is not None:
        x = _floating(x)
        if x.ndim == 1:
            shape = [1] * nd
            shape[axis] = x.shape[0]
            x = np.reshape(x, tuple(shape))
        elif x.ndim != nd:
            raise ValueError("If given, shape of x must be 1-D or the same as y.")
        if x.shape[axis] != n:
            raise ValueError("If given, length of x along axis must be the same as y.")
    if n % 2 == 1:
        return _basic_simpson(y, n - 2, x, dx, axis)
    last, before_last = y[_along(nd, axis, -1)], y[_along(nd, axis, -2)]
    if n == 2:               # one interval: the trapezoid rule
        width = dx if x is None else x[_along(nd, axis, -1)] - x[_along(nd, axis, -2)]
        return 0.5 * width * (last + before_last)
    # Simpson on the first n-1 samples, then the last interval from the parabola through the last
    # three samples (Cartwright 2017, eq. 8; spacings h0 = x[-2]-x[-3], h1 = x[-1]-x[-2]):
    #   alpha y[-1] + beta y[-2] - eta y[-3]
    result = _basic_simpson(y, n - 3, x, dx, axis)
    if x is None:
        h0 = h1 = np.float64(dx) if type(dx) is not GradArray else dx
    else:
        spacing = np.diff(x, axis=axis)
        h0, h1 = spacing[_along(nd, axis, -2)], spacing[_along(nd, axis, -1)]
    alpha = _safe_divide(2 * h1 ** 2 + 3 * h0 * h1, 6 * (h1 + h0))
    beta = _safe_divide(h1 ** 2 + 3.0 * h0 * h1, 6 * h0)
    eta = _safe_divide(1 * h1 ** 3, 6 * h0 * (h0 + h1))
    return result + (alpha * last + beta * before_last - eta * y[_along(nd, axis, -3)])


def _cumulative_simpson_pieces(y, dx):
    """Integrals over the first interval of each consecutive triple of samples (last axis), from
    the parabola through the triple: x21/6 * ((3 - x21/x31) f1 + (3 + x21^2/(x31 x32) + x21/x31) f2
    - x21^2/(x31 x32) f3); with equal spacing this is d/3 * (5/4 f1 + 2 f2 - 1/4 f3)."""
    x21, x32 = dx[..., :-1], dx[..., 1:]
    f1, f2, f3 = y[..., :-2], y[..., 1:-1], y[..., 2:]
    x31 = x21 + x32
    r31 = x21 / x31
    r3132 = r31 * (x21 / x32)
    return x21 / 6 * ((3 - r31) * f1 + (3 + r3132 + r31) * f2 - r3132 * f3)


def _interleave_simpson(y, dx):
    """Cumulative sums of the interval integrals: interval 2j from the triple starting there,
    interval 2j+1 (and the last one) from the triple ending there (read backwards)."""
    forward = _cumulative_simpson_pieces(y, dx)
    backward = np.flip(_cumulative_simpson_pieces(np.flip(y, axis=-1), np.flip(dx, axis=-1)),
                       axis=-1)
    n_intervals = forward.shape[-1] + 1
    take_forward = (np.arange(n_intervals) % 2 == 0) & (np.arange(n_intervals) < n_intervals - 1)
    # piece k of `forward` covers interval k; piece k of `backward` covers interval k+1
    fwd = np.concatenate([forward, forward[..., -1:]], axis=-1)
    bwd = np.concatenate([backward[..., :1], backward], axis=-1)
    return np.cumsum(np.where(take_forward, fwd, bwd), axis=-1)


@implements_scipy("scipy.integrate", "cumulative_simpson")
def cumulative_simpson(y, *, x=None, dx=1.0, axis=-1, initial=None):
    y = _floating(y)
    shape = y.shape
    axis = operator.index(axis)
    if not -y.ndim <= axis < y.ndim:
        raise ValueError(f"`axis={axis}` is not valid for `y` with `y.ndim={y.ndim}`.")
    axis %= y.ndim
    if shape[axis] < 3:
        result = np.moveaxis(cumulative_trapezoid(y, x, dx=dx, axis=axis), axis, -1)
    else:
        ylast = np.moveaxis(y, axis, -1)
        if x is not None:
            x = _floating(x)
            if not (x.shape == shape or (x.ndim == 1 and x.shape[0] == shape[axis])):
                raise ValueError("If given, shape of `x` must be the same as `y` or 1-D with the "
                                 "same length as `y` along `axis`.")
            x = np.broadcast_to(x, ylast.shape) if x.ndim == 1 else np.moveaxis(x, axis, -1)
            spacing = np.diff(x, axis=-1)
            if np.any(spacing._data <= 0):
                raise ValueError("Input x must be strictly increasing.")
        else:
            dx = _floating(dx)
            if not (dx.ndim == 0 or dx.shape == shape[:axis] + (1,) + shape[axis + 1:]):
                raise ValueError("If provided, `dx` must either be a scalar or have the same shape "
                                 "as `y` but with only 1 point along `axis`.")
            final = shape[:axis] + (shape[axis] - 1,) + shape[axis + 1:]
            spacing = np.moveaxis(np.broadcast_to(dx, final), axis, -1)
        result = _interleave_simpson(ylast, spacing)
    if initial is not None:
        initial = _floating(initial)
        one_point = shape[:axis] + (1,) + shape[axis + 1:]
        if not (initial.ndim == 0 or initial.shape == one_point):
            raise ValueError("If provided, `initial` must either be a scalar or have the same "
                             "shape as `y` but with only 1 point along `axis`.")
        initial = np.moveaxis(np.broadcast_to(initial, one_point), axis, -1)
        result = np.concatenate([initial, result + initial], axis=-1)
    return np.moveaxis(result, -1, axis)


# ---------------------------------------------------------------------------------- Romberg
@implements_scipy("scipy.integrate", "romb")
def romb(y, dx=1.0, axis=-1, show=False):
    if show:
        raise NotImplementedError("scipy.integrate.romb: show=True is not supported on tracked "
                                  "arrays; call it on plain data to print the table.")
    y = _floating(y)
    nd = y.ndim
    intervals = y.shape[axis] - 1
    levels = max(intervals - 1, 0).bit_length() if intervals > 1 else 0
    if intervals < 1 or (1 << levels) != intervals:
        raise ValueError("Number of samples must be one plus a non-negative power of 2.")
    h = intervals * dx
    # trapezoid estimates with 1, 2, 4, ... intervals, then Richardson extrapolation
    table = [[(y[_along(nd, axis, 0)] + y[_along(nd, axis, -1)]) / 2.0 * h]]
    step = intervals
    for i in range(1, levels + 1):
        start = step >> 1
        midpoints = y[_along(nd, axis, slice(start, intervals, step))]
        row = [0.5 * (table[i - 1][0] + h * np.sum(midpoints, axis=axis))]
        for j in range(1, i + 1):
            previous = row[j - 1]
            row.append(previous + (previous - table[i - 1][j - 1]) / ((1 << (2 * j)) - 1))
        table.append(row)
        step >>= 1
        h = h / 2.0
    return table[levels][levels]
