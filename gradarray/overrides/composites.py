"""NumPy functions that are Python code starting with ``np.asarray``: composites and direct rules.

Running NumPy's own code on a GradArray would drop the tape (or fail on a device array), so each
function here is either re-written with differentiable ``np.*`` calls (``implements``: the tape is
made of the primitives it calls, so every order of derivative works) or given a rule of its own
(``defvjp``: the forward value is NumPy's exactly). Constants are created next to the data with
``like=`` so the same code runs on any backend.

The ``np.poly*`` functions, ``np.vander`` and ``np.roots`` are in ``polynomials.py``, which uses the
constant helpers below (``_const``, ``_first_gradarray``, ``_as_gradarray``, ``_raw``).
"""
from __future__ import annotations

import math
import operator

import numpy as np
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from .._array import GradArray, wrap_untracked
from .._registry import Primitive, conj, defvjp, defvjp_joint, implements, nondifferentiable
from .indexing import scatter_index

# rounding is piecewise constant; index helpers return integers
nondifferentiable(np.round, np.around, np.fix, np.tril_indices_from, np.triu_indices_from)

_NoValue = np._NoValue


def _raw(x):
    """The backend array under a GradArray (to create constants on the same device)."""
    return x._data if type(x) is GradArray else x


def _first_gradarray(*objs):
    for o in objs:
        if type(o) is GradArray:
            return o
        if isinstance(o, (list, tuple)):
            found = _first_gradarray(*o)
            if found is not None:
                return found
    return None


def _const(value, ref, dtype=None):
    """``value`` as an array on ``ref``'s device (GradArrays are kept as they are)."""
    if type(value) is GradArray:
        return value if dtype is None else value.astype(dtype)
    return np.asarray(value, dtype=dtype, like=_raw(ref))


def _as_gradarray(value, ref):
    """``value`` as a GradArray on ``ref``'s device (constants become untracked GradArrays)."""
    return value if type(value) is GradArray else wrap_untracked(_const(value, ref))


def _along(v, axis, ndim):
    """A 1-D array shaped to broadcast along ``axis`` of an ``ndim``-dimensional array."""
    shape = [1] * ndim
    shape[axis] = -1
    return np.reshape(v, tuple(shape))


def _slice_along(axis, ndim, s):
    index = [slice(None)] * ndim
    index[axis] = s
    return tuple(index)


# --------------------------------------------------------------------------- differences and sums
@implements(np.diff)
def _diff(a, n=1, axis=-1, prepend=_NoValue, append=_NoValue):
    ref = _first_gradarray(a, prepend, append)
    a = _const(a, ref)
    if n == 0:
        return a
    if n < 0:
        raise ValueError(f"order must be non-negative but got {n}")
    if a.ndim == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    axis = normalize_axis_index(axis, a.ndim)
    parts = []
    for extra in (prepend, None, append):
        if extra is None:
            parts.append(a)
        elif extra is not _NoValue:
            extra = _const(extra, ref)
            if extra.ndim == 0:
                shape = list(a.shape)
                shape[axis] = 1
                extra = np.broadcast_to(extra, tuple(shape))
            parts.append(extra)
    if len(parts) > 1:
        a = np.concatenate(parts, axis=axis)
    hi, lo = _slice_along(axis, a.ndim, slice(1, None)), _slice_along(axis, a.ndim, slice(None, -1))
    for _ in range(n):
        a = np.not_equal(a[hi], a[lo]) if a.dtype == bool else a[hi] - a[lo]
    return a


@implements(np.ediff1d)
def _ediff1d(ary, to_end=None, to_begin=None):
    ref = _first_gradarray(ary, to_end, to_begin)
    ary = np.reshape(_const(ary, ref), (-1,))
    parts = [ary[1:] - ary[:-1]]
    if to_begin is not None:
        parts.insert(0, np.reshape(_const(to_begin, ref, ary.dtype), (-1,)))
    if to_end is not None:
        parts.append(np.reshape(_const(to_end, ref, ary.dtype), (-1,)))
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


@implements(np.trapezoid)
def _trapezoid(y, x=None, dx=1.0, axis=-1):
    """sum over the intervals of width d of the mean of the two end values."""
    ref = _first_gradarray(y, x, dx)
    y = _const(y, ref)
    axis = normalize_axis_index(axis, y.ndim)
    if x is None:
        d = dx
    else:
        x = _const(x, ref)
        d = _along(np.diff(x), axis, y.ndim) if x.ndim == 1 else np.diff(x, axis=axis)
    hi, lo = _slice_along(axis, y.ndim, slice(1, None)), _slice_along(axis, y.ndim, slice(None, -1))
    return np.sum(d * (y[hi] + y[lo]) / 2.0, axis=axis)


@implements(np.gradient)
def _gradient(f, *varargs, axis=None, edge_order=1):
    """Second-order central differences inside, first- or second-order one-sided at the edges, for
    uniform (scalar) or non-uniform (coordinate array) spacing; the formulas are NumPy's."""
    ref = _first_gradarray(f, varargs)
    f = _const(f, ref)
    if f.dtype.kind not in "fc":
        f = f.astype(np.float64)
    n = f.ndim
    axes = tuple(range(n)) if axis is None else normalize_axis_tuple(axis, n)
    if len(varargs) == 0:
        spacings = [1.0] * len(axes)
    elif len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        spacings = list(varargs) * len(axes)
    elif len(varargs) == len(axes):
        spacings = list(varargs)
    else:
        raise TypeError("invalid number of arguments")
    if edge_order not in (1, 2):
        raise ValueError("'edge_order' greater than 2 not supported")
    outs = []
    for ax, h in zip(axes, spacings):
        if f.shape[ax] < edge_order + 1:
            raise ValueError("Shape of array too small to calculate a numerical gradient, at "
                             "least (edge_order + 1) elements are required.")

        def at(s):
            return f[_slice_along(ax, n, s)]

        if np.ndim(h) == 0:
            # uniform spacing
            inner = (at(slice(2, None)) - at(slice(None, -2))) / (2.0 * h)
            if edge_order == 1:
                first = (at(slice(1, 2)) - at(slice(0, 1))) / h
                last = (at(slice(-1, None)) - at(slice(-2, -1))) / h
            else:
                first = (-1.5 * at(slice(0, 1)) + 2.0 * at(slice(1, 2)) - 0.5 * at(slice(2, 3))) / h
                last = (0.5 * at(slice(-3, -2)) - 2.0 * at(slice(-2, -1)) + 1.5 * at(slice(-1, None))) / h
        else:
            h = _const(h, ref)
            if h.ndim != 1 or h.shape[0] != f.shape[ax]:
                raise ValueError("when 1d, distances must match the length of the corresponding "
                                 "dimension")
            dx = np.diff(h)
            d1, d2 = _along(dx[:-1], ax, n), _along(dx[1:], ax, n)
            inner = (-d2 / (d1 * (d1 + d2)) * at(slice(None, -2))
                     + (d2 - d1) / (d1 * d2) * at(slice(1, -1))
                     + d1 / (d2 * (d1 + d2)) * at(slice(2, None)))
            if edge_order == 1:
                first = (at(slice(1, 2)) - at(slice(0, 1))) / dx[0]
                last = (at(slice(-1, None)) - at(slice(-2, -1))) / dx[-1]
            else:
                d1, d2 = dx[0], dx[1]
                first = (-(2.0 * d1 + d2) / (d1 * (d1 + d2)) * at(slice(0, 1))
                         + (d1 + d2) / (d1 * d2) * at(slice(1, 2))
                         - d1 / (d2 * (d1 + d2)) * at(slice(2, 3)))
                d1, d2 = dx[-2], dx[-1]
                last = (d2 / (d1 * (d1 + d2)) * at(slice(-3, -2))
                        - (d2 + d1) / (d1 * d2) * at(slice(-2, -1))
                        + (2.0 * d2 + d1) / (d2 * (d1 + d2)) * at(slice(-1, None)))
        outs.append(np.concatenate([first, inner, last], axis=ax))
    return outs[0] if len(axes) == 1 else tuple(outs)


# ------------------------------------------------------------------------------------------ interp
def _interp_pieces(x, xp, period):
    """Which interval each point of x falls in (computed on raw values: it carries no gradient).

    Returns the knots (lo, hi) of its interval as indices into xp, which points lie left/right of
    all knots, and constant shifts: with `period`, x is taken modulo the period and the sorted knots
    are extended by one on each side, so x_used = x + sx, knot_lo = xp[lo] + c_lo, knot_hi = xp[hi] + c_hi.
    """
    x, xp = _raw(x), _raw(xp)
    if period is None:
        n = xp.shape[0]
        i = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, max(n - 2, 0))
        return i, np.minimum(i + 1, n - 1), x < xp[0], x > xp[-1], 0, 0, 0
    period = abs(period)
    xm = np.mod(x, period)
    order = np.argsort(np.mod(xp, period))
    order = np.concatenate([order[-1:], order, order[:1]])
    knots = np.mod(xp, period)[order]
    knots = np.concatenate([knots[:1] - period, knots[1:-1], knots[-1:] + period])
    i = np.clip(np.searchsorted(knots, xm, side="right") - 1, 0, knots.shape[0] - 2)
    lo, hi = order[i], order[i + 1]
    return lo, hi, False, False, xm - x, knots[i] - xp[lo], knots[i + 1] - xp[hi]


def _interp_vjp(g, ans, x, xp, fp, left=None, right=None, period=None):
    """Inside [xp_lo, xp_hi]: f = fp_lo + (fp_hi - fp_lo) * w, w = (x - xp_lo) / (xp_hi - xp_lo).
    Outside the knots f is `left`/`right` (default fp[0]/fp[-1]), which x and xp do not move."""
    xp = np.asarray(xp, like=_raw(g)) if isinstance(xp, (list, tuple)) else xp
    fp = np.asarray(fp, like=_raw(g)) if isinstance(fp, (list, tuple)) else fp
    lo, hi, is_left, is_right, sx, c_lo, c_hi = _interp_pieces(x, xp, period)
    x = x + sx
    xp_lo, xp_hi = xp[lo] + c_lo, xp[hi] + c_hi
    fp_lo, fp_hi = fp[lo], fp[hi]
    width = xp_hi - xp_lo
    width = width + (_raw(width) == 0)             # a one-knot xp has no interval
    slope = (fp_hi - fp_lo) / width
    w = (x - xp_lo) / width
    inside = ~(is_left | is_right) if period is None else True
    gi = g * inside
    n = np.shape(fp)[0]
    g_x = gi * conj(slope)
    g_xp = (scatter_index(gi * conj(slope * (w - 1)), lo, (n,))
            + scatter_index(gi * conj(-slope * w), hi, (n,)))
    # weights of fp_lo and fp_hi; outside, the default left/right values are fp[0] / fp[-1]
    w_lo = conj(1 - w) * inside
    w_hi = conj(w) * inside
    if period is None:
        if left is None:
            w_lo = w_lo + is_left          # lo = 0 there
        if right is None:
            w_hi = w_hi + is_right         # hi = n - 1 there
    g_fp = scatter_index(g * w_lo, lo, (n,)) + scatter_index(g * w_hi, hi, (n,))
    g_left = None if left is None or period is not None else g * is_left
    g_right = None if right is None or period is not None else g * is_right
    return g_x, g_xp, g_fp, g_left, g_right, None


defvjp_joint(np.interp, _interp_vjp, save="args")


# ------------------------------------------------------------------------------- elementwise
@implements(np.sinc)
def _sinc(x):
    """sin(pi x) / (pi x). Near 0 the Taylor series 1 - t/6 + t^2/120 - t^3/5040 (t = (pi x)^2,
    exact to rounding for |x| < 1e-3) replaces the quotient, whose derivatives are 0/0 there."""
    small = np.abs(_raw(x)) < 1e-3
    y = np.pi * np.where(small, 1.0, x)
    t = (np.pi * x) ** 2
    return np.where(small, 1 - t / 6 + t * t / 120 - t * t * t / 5040, np.sin(y) / y)


def _i1_raw(x):
    """Modified Bessel function I1 (the derivative of np.i0), for real x, on raw arrays.

    |x| < 20: the power series I1(x) = sum_k (x/2)^(2k+1) / (k! (k+1)!) (all terms positive).
    |x| >= 20: the asymptotic series (DLMF 10.40.1)
        I1(x) ~ e^x / sqrt(2 pi x) * sum_k (-1)^k a_k / x^k,  a_k = prod_{j<=k} (4 - (2j-1)^2) / (k! 8^k),
    whose terms are still decreasing at k = 25 for x >= 20 (relative error < 1e-16).
    I1 is odd.
    """
    ax = np.abs(x)
    xs = np.minimum(ax, 20.0)
    q = xs * xs / 4
    term = xs / 2
    series = term
    for k in range(1, 48):
        term = term * q / (k * (k + 1))
        series = series + term
    xl = np.maximum(ax, 20.0)
    term = np.ones_like(xl)
    asym = term
    for k in range(1, 26):
        term = term * ((2 * k - 1) ** 2 - 4) / (8 * k * xl)
        asym = asym + term
    with np.errstate(over="ignore"):
        asym = np.exp(xl) / np.sqrt(2 * np.pi * xl) * asym
    return np.sign(x) * np.where(ax < 20, series, asym)


_i1 = Primitive(_i1_raw)


def _i1_vjp(g, ans, x):
    """I1' = I0 - I1 / x, with I1(x) / x -> 1/2 at x = 0."""
    at0 = x == 0
    return g * (np.i0(x) - ans / (x + at0) - 0.5 * at0)


defvjp(_i1, _i1_vjp, save="both")
defvjp(np.i0, lambda g, ans, x: g * _i1(x), save="args")


def _nan_to_num_vjp(g, ans, x, copy=True, nan=0.0, posinf=None, neginf=None):
    """The gradient passes where x was finite; replaced values are constants."""
    if x.dtype.kind == "c":
        return np.real(g) * np.isfinite(np.real(x)) + 1j * np.imag(g) * np.isfinite(np.imag(x))
    return g * np.isfinite(x)


defvjp(np.nan_to_num, _nan_to_num_vjp, save="args")


def _angle_vjp(g, ans, z, deg=False):
    """theta = atan2(y, x): d/dx = -y/|z|^2, d/dy = x/|z|^2, so grad = g (-y + i x)/|z|^2 = g i / conj(z).
    The angle of a real number (0 or pi) is piecewise constant."""
    scale = 180.0 / np.pi if deg else 1.0
    if z.dtype.kind != "c":
        return g * 0
    return g * (1j * scale) / np.conj(z)


defvjp(np.angle, _angle_vjp, save="args")
# unwrap adds multiples of the period that are piecewise constant in p
defvjp(np.unwrap, lambda g, ans, p, *args, **kwargs: g, save="none")


# -------------------------------------------------------------------------------------------- clip
def _clip_raw(a, lo, hi):
    return np.clip(a, lo, hi)


_clip = Primitive(_clip_raw)


def _clip_vjp(g, ans, a, lo, hi):
    """clip = minimum(maximum(a, lo), hi): a passes where lo <= a <= hi, lo where a < lo (unless
    lo > hi), hi where a > hi or lo > hi (NumPy returns hi when the bounds cross)."""
    keep = True
    g_lo = g_hi = None
    if lo is not None:
        keep = keep & (a >= lo)
        g_lo = g * ((a < lo) & ((lo <= hi) if hi is not None else True))
    if hi is not None:
        keep = keep & (a <= hi)
        g_hi = g * ((a > hi) | ((lo > hi) if lo is not None else False))
    return g * keep, g_lo, g_hi


defvjp_joint(_clip, _clip_vjp, save="args")


@implements(np.clip)
def _clip_composite(a, a_min=_NoValue, a_max=_NoValue, out=None, *, min=_NoValue, max=_NoValue,
                    **kwargs):
    lo = a_min if min is _NoValue else min
    hi = a_max if max is _NoValue else max
    lo = None if lo is _NoValue else lo
    hi = None if hi is _NoValue else hi
    if kwargs:
        raise TypeError(f"np.clip: keyword(s) {', '.join(kwargs)} are not supported on GradArrays")
    result = _clip(a, lo, hi)
    if out is None:
        return result
    out[...] = result
    return out


# ------------------------------------------------------------------------------ grids and ranges
@implements(np.meshgrid)
def _meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    if indexing not in ("xy", "ij"):
        raise ValueError("Valid values for `indexing` are 'xy' and 'ij'.")
    ref = _first_gradarray(xi)
    n = len(xi)
    shapes = [[1] * n for _ in range(n)]
    for i in range(n):
        shapes[i][i] = -1
    if indexing == "xy" and n > 1:
        shapes[0][0], shapes[0][1] = 1, -1
        shapes[1][0], shapes[1][1] = -1, 1
    out = [np.reshape(_const(x, ref), tuple(s)) for x, s in zip(xi, shapes)]
    if not sparse:
        out = list(np.broadcast_arrays(*out))
    if copy:
        out = [np.copy(o) for o in out]
    return tuple(out)


def _dtype_of(v):
    return v.dtype if hasattr(v, "dtype") else np.result_type(v)


@implements(np.linspace)
def _linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *, device=None):
    """start + (stop - start) * k / div, k = 0 .. num-1; the last sample is exactly stop."""
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    ref = _first_gradarray(start, stop)
    dt = np.result_type(_dtype_of(start), _dtype_of(stop), float(num))
    start, stop = _const(start, ref, dt), _const(stop, ref, dt)
    div = num - 1 if endpoint else num
    delta = stop - start
    shape = (num,) + (1,) * np.ndim(delta)
    k = np.reshape(np.arange(num, dtype=dt, like=_raw(ref)), shape)
    step = delta / div if div > 0 else delta * math.nan
    y = start + k * (step if div > 0 else delta)
    if endpoint and num > 1:
        y[-1, ...] = stop
    y = _place_and_cast(y, axis, dtype)
    return (y, step) if retstep else y


def _place_and_cast(y, axis, dtype):
    """The last steps shared by linspace and geomspace: samples axis to ``axis``, then NumPy's cast
    (integer dtypes round towards -inf)."""
    if axis != 0:
        y = np.moveaxis(y, 0, axis)
    if dtype is not None:
        if np.dtype(dtype).kind in "iu":
            y = np.floor(y)
        y = y.astype(dtype)
    return y


@implements(np.logspace)
def _logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    y = np.linspace(start, stop, num=num, endpoint=endpoint, axis=axis)
    if np.ndim(base) > 0:
        base = np.expand_dims(base, axis)
    y = np.power(base, y)
    return y if dtype is None else y.astype(dtype)


@implements(np.geomspace)
def _geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """sign * exp(linspace(log|start|, log|stop|)), with the end points exact. The common sign
    (or complex phase) of start and stop is a constant."""
    ref = _first_gradarray(start, stop)
    dt = np.result_type(_dtype_of(start), _dtype_of(stop), float(num))
    start, stop = _const(start, ref, dt), _const(stop, ref, dt)
    if bool(np.any(_raw(start) == 0)) or bool(np.any(_raw(stop) == 0)):
        raise ValueError("Geometric sequence cannot include zero")
    sign = _raw(start) / np.abs(_raw(start))       # +-1, or the complex phase of start
    start, stop = start / sign, stop / sign
    y = np.copy(np.exp(np.linspace(np.log(start), np.log(stop), num=num, endpoint=endpoint)))
    if num > 0:
        y[0, ...] = start
        if endpoint and num > 1:
            y[-1, ...] = stop
    return _place_and_cast(y * sign, axis, dtype)


# ----------------------------------------------------------------------- applying a Python function
@implements(np.apply_along_axis)
def _apply_along_axis(func1d, axis, arr, *args, **kwargs):
    """func1d on every 1-D slice along ``axis``. Each slice is indexed from the GradArray (so it
    stays on the tape); the results are stacked and their dimensions take the place of ``axis``:
    the output has shape arr.shape[:axis] + result.shape + arr.shape[axis+1:], as NumPy's."""
    arr = _const(arr, _first_gradarray(arr))
    axis = normalize_axis_index(axis, arr.ndim)
    moved = np.moveaxis(arr, axis, -1)
    outer = moved.shape[:-1]
    if 0 in outer:
        raise ValueError("Cannot apply_along_axis when any iteration dimensions are 0")
    results = [_as_gradarray(func1d(moved[index + (Ellipsis,)], *args, **kwargs), arr)
               for index in np.ndindex(*outer)]
    first = results[0]
    out = np.stack(results)
    if out.dtype != first.dtype:            # NumPy stores every result in an array of the first's dtype
        out = out.astype(first.dtype)
    out = np.reshape(out, outer + first.shape)
    k = first.ndim
    return np.moveaxis(out, tuple(range(len(outer), len(outer) + k)), tuple(range(axis, axis + k)))


@implements(np.apply_over_axes)
def _apply_over_axes(func, a, axes):
    """func(a, axis) for each axis in turn; a result that lost the axis gets it back (size 1)."""
    val = _const(a, _first_gradarray(a))
    n = val.ndim
    for axis in ((axes,) if np.ndim(axes) == 0 else axes):
        axis = axis + n if axis < 0 else axis
        res = func(val, axis)
        if res.ndim != val.ndim:
            res = np.expand_dims(res, axis)
            if res.ndim != val.ndim:
                raise ValueError("function is not returning an array of the correct shape")
        val = res
    return val


def _is_condition_array(c):
    """NumPy's test whether ``condlist[0]`` is a condition itself (else condlist is one condition)."""
    return isinstance(c, (list, np.ndarray)) or (hasattr(c, "shape") and c.ndim > 0)


@implements(np.piecewise)
def _piecewise(x, condlist, funclist, *args, **kw):
    """Where condition k holds, y = funclist[k](x[cond_k]) (or the constant funclist[k]); a later
    condition overrides an earlier one, and with one function more than conditions the last one
    applies where none holds. Each piece is written into zeros with setitem, so an element's
    gradient flows through the piece that produced it only."""
    ref = _first_gradarray(x, condlist)
    x = _as_gradarray(x, ref)
    if np.isscalar(condlist) or (not _is_condition_array(condlist[0]) and x.ndim != 0):
        condlist = [condlist]
    # conditions are raw boolean arrays: they select, they carry no gradient
    conds = [_raw(_const(c, ref, dtype=bool)) for c in condlist]
    if len(conds) == len(funclist) - 1:
        conds.append(np.logical_not(np.any(np.stack(conds), axis=0)))
    elif len(conds) != len(funclist):
        raise ValueError(f"with {len(conds)} condition(s), either {len(conds)} or "
                         f"{len(conds) + 1} functions are expected")
    y = np.zeros_like(x)
    for cond, func in zip(conds, funclist):
        if not callable(func):
            y[cond] = func
        else:
            vals = x[cond]
            if vals.size > 0:
                y[cond] = func(vals, *args, **kw)
    return y


# ---------------------------------------------------------------------------- non-differentiable
# predicates, bit packing and calendar arithmetic give integers/booleans/dates; writing values to a
# file is not a path a gradient can take (the functions receive the raw data, no conversion warning)
nondifferentiable(np.isneginf, np.isposinf, np.packbits, np.unpackbits, np.busday_count,
                  np.busday_offset, np.is_busday, np.datetime_as_string,
                  np.save, np.savez, np.savez_compressed, np.savetxt)
