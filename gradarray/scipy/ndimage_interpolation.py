"""Differentiable ``scipy.ndimage`` interpolation: ``map_coordinates``, ``shift``, ``zoom``,
``affine_transform``, ``spline_filter``, ``spline_filter1d`` (imported by ``ndimage.py``), in the
input and in the geometry (coordinates, shift, matrix, offset), every spline order 0-5, every mode.

SciPy's kernel (``NI_GeometricTransform`` / ``NI_ZoomShift``) is rewritten here with differentiable
NumPy calls and the same floating-point steps, so values agree with SciPy's to rounding. Along each
axis a point at coordinate c (plus the prepadding SciPy adds for 'nearest' and 'grid-constant') is
first mapped into the array by the mode (``_map_coordinate``: a reflection or a shift, slope -1 or
+1; 'constant' sends points outside [0, n-1] to cval), then reads order + 1 consecutive taps, each
mapped into the array (mirror extension for 'constant' and 'wrap', the mode's own otherwise;
'grid-constant' reads cval outside), weighted by the centred B-spline of the distance,
beta_order(c - tap). The value is the tensor product over axes (``map_coordinates``,
``affine_transform``) or, for the separable ``shift`` and ``zoom``, the same weights applied axis by
axis. Hence:
  * d input: the adjoint of a gather (scatter-add of weight * g onto the taps' elements);
  * d coordinates: the spatial derivative of the interpolant, sum over taps of
    data[tap] * beta'(c - tap) * slope of the mode's mapping. At knots of the linear spline
    (order 1, integer coordinates) the one-sided derivative from the right is used.
With ``prefilter`` (order > 1) the data are first replaced by their B-spline coefficients
(``spline_filter``): a linear filter along each axis, run by SciPy. Its adjoint: for lines of at
most 64 samples the exact matrix (SciPy's filter applied to the identity, cached); for longer lines the
identity S^T = D S D^-1, D = diag(1/2, 1, ..., 1, 1/2) for the 'mirror', 'wrap', 'constant',
'grid-constant' boundary and D = I for the others (checked numerically to 1e-15), so the adjoint is
SciPy's filter again (O(n) per line). ``cval`` takes no gradient (a tracked cval raises).
"""
from __future__ import annotations

import functools
import importlib
import itertools
import warnings

import numpy as np

from .._array import GradArray
from .._registry import Primitive, defvjp
from ._bridge import implements_scipy
from ._signal_common import host_only, lift, raw, refuse, tracked

__all__ = ["map_coordinates", "shift", "zoom", "affine_transform", "spline_filter",
           "spline_filter1d", "finish_output"]

_MODES = ("nearest", "wrap", "reflect", "grid-mirror", "mirror", "constant", "grid-wrap",
          "grid-constant")
_SMALL_LINE = 64


def _ndimage():
    return importlib.import_module("scipy.ndimage")


def finish_output(result, output, name):
    """Honour ``output=``: a dtype casts, a GradArray receives the result (recorded)."""
    if output is None:
        return result
    if type(output) is GradArray:
        output[...] = result
        return output
    if isinstance(output, np.ndarray):
        raise TypeError(f"scipy.ndimage.{name}: output= a NumPy array cannot hold a gradient; "
                        "leave output=None and use the returned GradArray")
    return _like_input(result, np.dtype(output))


def _like_input(result, dtype):
    """The result in SciPy's output dtype (integers rounded half away from zero, as SciPy does)."""
    if result.dtype == dtype:
        return result
    if dtype.kind not in "iub":
        return result.astype(dtype)
    low = 0 if dtype.kind != "i" else np.iinfo(dtype).min
    rounded = np.trunc(np.where(result > 0, result + 0.5, result - 0.5 if low < 0 else 0))
    return np.clip(rounded, low, np.iinfo(dtype).max).astype(dtype)


# ------------------------------------------------------------------------------ spline prefilter
def _spline_raw(x, order, axis, mode):
    return _ndimage().spline_filter1d(x, order, axis, output=np.float64, mode=mode)


@functools.lru_cache(maxsize=64)
def _spline_matrix(n, order, mode):
    """Column j: SciPy's spline filter of the unit vector e_j (lines up to 64 samples)."""
    return _spline_raw(np.eye(n), order, 0, mode)


def _spline_vjp(g, ans, x, order, axis, mode):
    n = x.shape[axis]
    if n <= _SMALL_LINE:
        transposed = np.tensordot(_spline_matrix(n, order, mode), g, axes=([0], [axis]))
        return np.moveaxis(transposed, 0, axis)
    # S^T = D S D^-1 (see the module docstring)
    ends = np.ones(n)
    if mode in ("mirror", "wrap", "constant", "grid-constant"):
        ends[0] = ends[-1] = 0.5
    shape = [1] * len(g.shape)
    shape[axis] = n
    ends = np.reshape(ends, shape)
    return ends * spline_filter_along(g / ends, order, axis, mode)


spline_filter_along = Primitive(_spline_raw)
spline_filter_along.__name__ = "scipy.ndimage.spline_filter1d"
defvjp(spline_filter_along, _spline_vjp, None, None, None, save="args")


def _check_order(order):
    if order < 0 or order > 5:
        raise RuntimeError("spline order not supported")


@implements_scipy("scipy.ndimage", "spline_filter1d")
def spline_filter1d(input, order=3, axis=-1, output=np.float64, mode="mirror"):
    _check_order(order)
    host_only("scipy.ndimage.spline_filter1d", input)
    x = lift(input)
    if order in (0, 1):
        result = x.astype(np.complex128 if x.dtype.kind == "c" else np.float64)
    else:
        result = spline_filter_along(x, order, axis % x.ndim, mode)
    return finish_output(result, output, "spline_filter1d")


@implements_scipy("scipy.ndimage", "spline_filter")
def spline_filter(input, order=3, output=np.float64, mode="mirror"):
    if order < 2 or order > 5:
        raise RuntimeError("spline order not supported")
    host_only("scipy.ndimage.spline_filter", input)
    x = lift(input)
    for axis in range(x.ndim):
        x = spline_filter_along(x, order, axis, mode)
    return finish_output(x, output, "spline_filter")


def _coefficients(x, order, mode, cval, prefilter):
    """What SciPy interpolates: the input, or its spline coefficients after the prepadding SciPy
    adds for 'nearest' and 'grid-constant'; and the number of samples prepadded."""
    if not (prefilter and order > 1):
        return x, 0
    npad = 12 if mode in ("nearest", "grid-constant") else 0
    if mode == "nearest":
        x = np.pad(x, npad, mode="edge")
    elif mode == "grid-constant":
        x = np.pad(x, npad, mode="constant", constant_values=cval)
    for axis in range(x.ndim):
        x = spline_filter_along(x, order, axis, mode)
    return x, npad


# ------------------------------------------------------------------------- one axis of the kernel
def _map_coordinate(c, n, mode):
    """SciPy's ``map_coordinate``: where a coordinate outside [0, n-1] reads, and the slope
    (+1, -1 or 0) of that mapping. Float arrays in, same steps as the C code."""
    c = np.array(c, dtype=np.float64)
    out, slope = c.copy(), np.ones_like(c)
    low, high = c < 0, c > n - 1
    outside = low | high
    if mode == "constant":
        out[outside], slope[outside] = -1.0, 0.0
        return out, slope
    if mode == "nearest":
        out[low], out[high], slope[outside] = 0.0, n - 1.0, 0.0
        return out, slope
    if n <= 1:
        out[outside], slope[outside] = 0.0, 0.0
        return out, slope
    v, w = c[low], c[high]
    if mode == "mirror":
        s2 = 2 * n - 2
        v = s2 * np.trunc(-v / s2) + v
        back = v <= 1 - n
        out[low], slope[low] = np.where(back, v + s2, -v), np.where(back, 1.0, -1.0)
        w = w - s2 * np.trunc(w / s2)
        flip = w >= n
        out[high], slope[high] = np.where(flip, s2 - w, w), np.where(flip, -1.0, 1.0)
    elif mode in ("reflect", "grid-mirror"):
        s2 = 2 * n
        v = np.where(v < -s2, s2 * np.trunc(-v / s2) + v, v)
        back, tiny = v < -n, v > -1e-15
        out[low] = np.where(back, v + s2, np.where(tiny, 1e-15, -v) - 1)
        slope[low] = np.where(back, 1.0, np.where(tiny, 0.0, -1.0))
        w = w - s2 * np.trunc(w / s2)
        flip = w >= n
        out[high], slope[high] = np.where(flip, s2 - w - 1, w), np.where(flip, -1.0, 1.0)
    elif mode == "wrap":
        out[low] = v + (n - 1) * (np.trunc(-v / (n - 1)) + 1)
        out[high] = w - (n - 1) * np.trunc(w / (n - 1))
    elif mode == "grid-wrap":
        out[low] = v + n * (np.trunc((-1 - v) / n) + 1)
        out[high] = w - n * np.trunc(w / n)
    return out, slope


# the centred B-spline of each order as pieces on a = |y|: (upper end, polynomial)
_PIECES = {
    1: [(1.0, lambda a: 1.0 - a)],
    2: [(0.5, lambda a: 0.75 - a * a), (1.5, lambda a: 0.5 * (1.5 - a) ** 2)],
    3: [(1.0, lambda a: (a * a * (a - 2.0) * 3.0 + 4.0) / 6.0),
        (2.0, lambda a: (2.0 - a) ** 3 / 6.0)],
    4: [(0.5, lambda a: (a * a) * ((a * a) * 0.25 - 0.625) + 115.0 / 192.0),
        (1.5, lambda a: a * (a * (a * (5.0 / 6.0 - a / 6.0) - 1.25) + 5.0 / 24.0) + 55.0 / 96.0),
        (2.5, lambda a: (a - 2.5) ** 4 / 24.0)],
    5: [(1.0, lambda a: (a * a) * ((a * a) * (0.25 - a / 12.0) - 0.5) + 0.55),
        (2.0, lambda a: a * (a * (a * (a * (a / 24.0 - 0.375) + 1.25) - 1.75) + 0.625) + 0.425),
        (3.0, lambda a: (3.0 - a) ** 5 / 120.0)],
}


def _bspline(y, order):
    """beta_order(y), differentiable in y. At a knot the piece is the one y enters when it grows,
    so derivatives there are the ones from the right (order 1 at integer coordinates; the spline
    is C^1 for order >= 2): pieces are [lower, upper) in |y| for y >= 0, (lower, upper] for
    y < 0."""
    y_raw = raw(y)
    right = y_raw >= 0
    a = y * np.where(right, 1.0, -1.0)
    a_raw = np.abs(y_raw)
    total, lower = 0.0, 0.0
    for upper, piece in _PIECES[order]:
        inside = np.where(right, (a_raw >= lower) & (a_raw < upper),
                          (a_raw > lower) & (a_raw <= upper))
        total = total + np.where(inside, piece(a), 0.0)
        lower = upper
    return total


class _Axis:
    """The taps one axis of the kernel reads for coordinates ``c`` (any shape P): ``index``
    (P + (order+1,), into the data), ``weights`` (same shape, differentiable in c; None for order
    0), ``whole_cval`` (P: points that are cval altogether), ``tap_cval`` ('grid-constant' taps
    outside the data, else None)."""

    def __init__(self, c, n, order, mode, npad):
        c_raw = np.asarray(raw(c), dtype=np.float64) + npad
        if mode in ("grid-constant", "nearest"):
            cc, slope = c_raw, np.ones_like(c_raw)
            self.whole_cval = np.zeros(c_raw.shape, dtype=bool)
        else:
            cc, slope = _map_coordinate(c_raw, n, mode)
            self.whole_cval = ~(cc > -1.0)
        start = np.floor(cc if order & 1 else cc + 0.5).astype(np.intp) - order // 2
        taps = start[..., None] + np.arange(order + 1)
        self.tap_cval = None
        if mode == "grid-constant":
            self.tap_cval = (taps < 0) | (taps >= n)
            self.index = np.clip(taps, 0, n - 1)
        else:
            tap_mode = "mirror" if mode in ("constant", "wrap") else mode
            self.index = _map_coordinate(taps, n, tap_mode)[0].astype(np.intp)
        self.weights = None
        if order > 0:
            # the mapped coordinate: SciPy's value exactly, derivative = slope of the mapping
            position = cc + slope * (c - raw(c)) if type(c) is GradArray else cc
            self.weights = _bspline(position[..., None] - taps, order)


def _validated(name, input, mode, cval, order):
    _check_order(order)
    if mode not in _MODES:
        raise RuntimeError(f"boundary mode not supported: {mode!r}")
    host_only(f"scipy.ndimage.{name}", input)
    if tracked(cval):
        refuse(f"scipy.ndimage.{name}", "cval")
    x = lift(input)
    if x.ndim < 1:
        raise RuntimeError("input and output rank must be > 0")
    return x


def _at_points(data, coordinates, order, mode, cval, npad):
    """The tensor-product interpolation at points: ``coordinates[h]`` along axis h."""
    axes = [_Axis(c, n, order, mode, npad) for c, n in zip(coordinates, data.shape)]
    flat = np.reshape(data, -1)
    strides = np.cumprod((1,) + data.shape[:0:-1])[::-1]
    total = None
    for taps in itertools.product(range(order + 1), repeat=data.ndim):   # SciPy's order
        position = sum(ax.index[..., t] * int(s) for ax, t, s in zip(axes, taps, strides))
        term = np.take(flat, position)
        if mode == "grid-constant":
            outside = np.any([ax.tap_cval[..., t] for ax, t in zip(axes, taps)], axis=0)
            term = np.where(outside, cval, term)
        for ax, t in zip(axes, taps):
            if ax.weights is not None:
                term = term * ax.weights[..., t]
        total = term if total is None else total + term
    whole = np.any([ax.whole_cval for ax in axes], axis=0)
    return np.where(whole, cval, total) if np.any(whole) else total


def _separable(data, coordinates, order, mode, cval, npad):
    """The same interpolation for a grid: ``coordinates[h]`` (1-d) along axis h, axis by axis."""
    whole = np.zeros((1,) * data.ndim, dtype=bool)
    for h, c in enumerate(coordinates):
        ax = _Axis(c, data.shape[h], order, mode, npad)
        shape = [1] * data.ndim
        shape[h] = -1
        total = None
        for t in range(order + 1):
            term = np.take(data, ax.index[:, t], axis=h)
            if ax.tap_cval is not None:
                term = np.where(np.reshape(ax.tap_cval[:, t], shape), cval, term)
            if ax.weights is not None:
                term = term * np.reshape(ax.weights[:, t], shape)
            total = term if total is None else total + term
        data = total
        whole = whole | np.reshape(ax.whole_cval, shape)
    return np.where(whole, cval, data) if np.any(whole) else data


# ------------------------------------------------------------------------------- the functions
@implements_scipy("scipy.ndimage", "map_coordinates")
def map_coordinates(input, coordinates, output=None, order=3, mode="constant", cval=0.0,
                    prefilter=True):
    x = _validated("map_coordinates", input, mode, cval, order)
    coordinates = lift(coordinates)
    if coordinates.dtype.kind == "c":
        raise TypeError("Complex type not supported")
    if coordinates.ndim < 2 or coordinates.shape[0] != x.ndim:
        raise RuntimeError("invalid shape for coordinate array")
    data, npad = _coefficients(x, order, mode, raw(cval), prefilter)
    result = _at_points(data, [coordinates[h] for h in range(x.ndim)], order, mode, raw(cval),
                        npad)
    return finish_output(_like_input(result, x.dtype), output, "map_coordinates")


@implements_scipy("scipy.ndimage", "shift")
def shift(input, shift, output=None, order=3, mode="constant", cval=0.0, prefilter=True):
    x = _validated("shift", input, mode, cval, order)
    shifts = lift(shift)
    shifts = np.broadcast_to(shifts, (x.ndim,)) if shifts.ndim == 0 else shifts
    if shifts.shape != (x.ndim,):
        raise RuntimeError("sequence argument must have length equal to input rank")
    data, npad = _coefficients(x, order, mode, raw(cval), prefilter)
    # SciPy: cc = k + (-shift)
    grid = [np.arange(n, dtype=np.float64) + (-shifts[h]) for h, n in enumerate(x.shape)]
    result = _separable(data, grid, order, mode, raw(cval), npad)
    return finish_output(_like_input(result, x.dtype), output, "shift")


@implements_scipy("scipy.ndimage", "zoom")
def zoom(input, zoom, output=None, order=3, mode="constant", cval=0.0, prefilter=True, *,
         grid_mode=False):
    x = _validated("zoom", input, mode, cval, order)
    if tracked(zoom) or (isinstance(zoom, (list, tuple)) and any(map(tracked, zoom))):
        refuse("scipy.ndimage.zoom", "zoom", "the zoom factor sets the output shape")
    factors = _ndimage()._ni_support._normalize_sequence(raw(zoom), x.ndim)
    out_shape = tuple(int(round(n * z)) for n, z in zip(x.shape, factors))
    if all(z == 1 for z in factors) and prefilter:
        return finish_output(np.copy(x), output, "zoom")
    data, npad = _coefficients(x, order, mode, raw(cval), prefilter)
    if grid_mode and mode in ("constant", "wrap"):
        warnings.warn(f"It is recommended to use mode = grid-{mode} instead of {mode} when "
                      "grid_mode is True.", stacklevel=2)
    divisor = np.array(out_shape) - (0 if grid_mode else 1)
    numerator = np.array(x.shape) - (0 if grid_mode else 1)
    steps = np.divide(numerator, divisor, out=np.ones(x.ndim), where=divisor != 0)
    grid = []
    for n, step in zip(out_shape, steps):
        k = np.arange(n, dtype=np.float64)
        grid.append((k + 0.5) * step - 0.5 if grid_mode else k * step)
    result = _separable(data, grid, order, mode, raw(cval), npad)
    return finish_output(_like_input(result, x.dtype), output, "zoom")


@implements_scipy("scipy.ndimage", "affine_transform")
def affine_transform(input, matrix, offset=0.0, output_shape=None, output=None, order=3,
                     mode="constant", cval=0.0, prefilter=True):
    x = _validated("affine_transform", input, mode, cval, order)
    out_shape = tuple(x.shape if output_shape is None else output_shape)
    matrix = lift(matrix)
    matrix = matrix if matrix.dtype == np.float64 else matrix.astype(np.float64)
    ndim = x.ndim
    if matrix.ndim not in (1, 2) or matrix.shape[0] < 1:
        raise RuntimeError("no proper affine matrix provided")
    if matrix.ndim == 2 and matrix.shape[1] == ndim + 1 and matrix.shape[0] in (ndim, ndim + 1):
        if matrix.shape[0] == ndim + 1 and not np.all(raw(matrix)[ndim] == [0] * ndim + [1]):
            raise ValueError("Expected homogeneous transformation matrix with bottom row "
                             f"{[0] * ndim + [1]}")
        offset, matrix = matrix[:ndim, ndim], matrix[:ndim, :ndim]
    if matrix.shape[0] != ndim:
        raise RuntimeError("affine matrix has wrong number of rows")
    if matrix.ndim == 2 and matrix.shape[1] != len(out_shape):
        raise RuntimeError("affine matrix has wrong number of columns")
    offset = lift(offset)
    offset = np.broadcast_to(offset, (ndim,)) if offset.ndim == 0 else offset
    data, npad = _coefficients(x, order, mode, raw(cval), prefilter)
    if matrix.ndim == 1:
        # SciPy runs its zoom/shift kernel: cc = (k + offset / matrix) * matrix
        grid = [(np.arange(n, dtype=np.float64) + offset[h] / matrix[h]) * matrix[h]
                for h, n in enumerate(out_shape)]
        result = _separable(data, grid, order, mode, raw(cval), npad)
    else:
        # SciPy's sum order: offset first, then the output coordinates one by one
        index = np.indices(out_shape, dtype=np.float64)
        coordinates = []
        for h in range(ndim):
            c = offset[h] + index[0] * matrix[h, 0]
            for k in range(1, len(out_shape)):
                c = c + index[k] * matrix[h, k]
            coordinates.append(c)
        result = _at_points(data, coordinates, order, mode, raw(cval), npad)
    return finish_output(_like_input(result, x.dtype), output, "affine_transform")
