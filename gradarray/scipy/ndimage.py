"""Differentiable ``scipy.ndimage`` filters (see the package docstring and ``_bridge.py``): the
linear filters ``correlate1d``, ``convolve1d``, ``correlate``, ``convolve``, ``gaussian_filter1d``,
``gaussian_filter``, ``uniform_filter1d``, ``uniform_filter``, ``sobel``, ``prewitt``, ``laplace``,
``gaussian_laplace``, ``gaussian_gradient_magnitude``, and the selections ``median_filter``,
``rank_filter``, ``percentile_filter``, ``minimum_filter``, ``maximum_filter``. Interpolation
(``map_coordinates``, ``shift``, ``zoom``, ``affine_transform``, ``spline_filter``) lives in
``ndimage_interpolation.py``.

Linear filters. With E the boundary extension of the input along each filtered axis (mode, cval; a
gather: every extended position copies one input element or the constant), a correlation is a
'valid' correlation of the extended input, out[i] = sum_j conj(w[j]) (E x)[i + j] (ndimage
conjugates complex weights; convolutions flip the weights and move the origin, as SciPy does). The
forward runs SciPy's own kernel; the adjoints are
    d x = E^T F(g, w)                      F: the full convolution of g with the weights, then E
                                           folded back (each extended position's gradient added
                                           onto the element it copies; the constant gets none),
    d w = sum_i conj(g[i]) (E x)[i + j]    a 'valid' correlation of the extended input with g,
written with differentiable primitives (``signal_convolve``, gathers and scatter-adds), so every
order of derivative works. ``cval`` takes no gradient (a tracked cval raises).

Selections (median/rank/percentile/min/max): the output copies one element of each window (or
cval), so the gradient goes to that element; with ties, to one of the tied elements. The window
positions are materialised (memory: input size times footprint size).
"""
from __future__ import annotations

import importlib
from typing import NamedTuple

import numpy as np

from .._registry import Primitive, defvjp
from ..overrides.indexing import scatter_index
from ._bridge import implements_scipy
from .ndimage_interpolation import finish_output as _finish  # also registers interpolation
from ._signal_common import host_only, lift, raw, refuse, tracked
from .signal_convolve import convolve_full, correlate_valid

__all__ = ["correlate1d", "convolve1d", "correlate", "convolve", "gaussian_filter1d",
           "gaussian_filter", "uniform_filter1d", "uniform_filter", "sobel", "prewitt", "laplace",
           "gaussian_laplace", "gaussian_gradient_magnitude", "median_filter", "rank_filter",
           "percentile_filter", "minimum_filter", "maximum_filter", "extend", "source_index"]

# ndimage's boundary modes for filters as np.pad modes
_PAD_MODES = {"reflect": "symmetric", "grid-mirror": "symmetric", "mirror": "reflect",
              "nearest": "edge", "wrap": "wrap", "grid-wrap": "wrap",
              "constant": "constant", "grid-constant": "constant"}


def _scipy(module="scipy.ndimage"):
    return importlib.import_module(module)


def source_index(n, before, after, mode):
    """For an axis of length ``n`` extended by ``before``/``after`` positions the way ndimage's
    filters extend it: the element each position copies (-1 for the constant)."""
    if mode not in _PAD_MODES:
        raise RuntimeError(f"boundary mode not supported: {mode!r}")
    positions = np.arange(n)
    if _PAD_MODES[mode] == "constant":
        return np.pad(positions, (before, after), constant_values=-1)
    return np.pad(positions, (before, after), mode=_PAD_MODES[mode])


def _modes(mode, ndim):
    return [mode] * ndim if isinstance(mode, str) else list(mode)


def extend(x, margins, mode, cval):
    """``x`` extended by ``margins[a] = (before, after)`` along each axis ``a`` (a gather, so
    differentiable in ``x``); ``mode`` one mode or one per axis."""
    for a, ((before, after), m) in enumerate(zip(margins, _modes(mode, len(margins)))):
        if before == 0 and after == 0:
            continue
        index = source_index(x.shape[a], before, after, m)
        if np.any(index < 0):
            slab = list(x.shape)
            slab[a] = 1
            x = np.concatenate([x, np.full(slab, cval, dtype=x.dtype)], axis=a)
            index = np.where(index < 0, x.shape[a] - 1, index)
        x = np.take(x, index, axis=a)
    return x


def _fold(g, margins, mode, shape):
    """Adjoint of :func:`extend`: each extended position's gradient added onto its element."""
    for a, ((before, after), m) in enumerate(zip(margins, _modes(mode, len(margins)))):
        if before == 0 and after == 0:
            continue
        index = source_index(shape[a], before, after, m)
        keep = np.nonzero(index >= 0)[0]
        if len(keep) < len(index):
            g = np.take(g, keep, axis=a)
        target = list(g.shape)
        target[a] = shape[a]
        g = scatter_index(g, (slice(None),) * a + (index[keep],), tuple(target))
    return g


# -------------------------------------------------------------------------------- linear filters
class _Filter(NamedTuple):
    """One SciPy linear filter call (passed to the primitive as a constant)."""
    kind: str           # "correlate" (n-d weights), "correlate1d", "uniform1d"
    axis: int           # the filtered axis of the 1-d kinds
    mode: str
    cval: object
    origins: tuple      # one per input axis ("correlate"), or (origin,)

    def run(self, x, w):
        nd = _scipy()
        if self.kind == "correlate1d":
            return nd.correlate1d(x, w, self.axis, mode=self.mode, cval=self.cval,
                                  origin=self.origins[0])
        if self.kind == "uniform1d":
            return nd.uniform_filter1d(x, len(w), self.axis, mode=self.mode, cval=self.cval,
                                       origin=self.origins[0])
        return nd.correlate(x, w, mode=self.mode, cval=self.cval, origin=list(self.origins))

    def weights_nd(self, w, ndim):
        """The weights with a length-1 axis for every input axis a 1-d filter leaves alone."""
        if self.kind == "correlate":
            return w
        shape = [1] * ndim
        shape[self.axis] = -1
        return np.reshape(w, shape)

    def margins(self, wshape):
        """(before, after) per axis: the filter's centre is at size // 2 + origin."""
        origins = self.origins if self.kind == "correlate" else [
            self.origins[0] if a == self.axis else 0 for a in range(len(wshape))]
        return [(n // 2 + o, n - 1 - (n // 2 + o)) for n, o in zip(wshape, origins)]


def _filter_vjp_input(g, ans, x, w, spec):
    w = spec.weights_nd(w, len(g.shape))
    return _fold(convolve_full(g, w), spec.margins(w.shape), spec.mode, x.shape)


def _filter_vjp_weights(g, ans, x, w, spec):
    wnd = spec.weights_nd(w, len(g.shape))
    extended = extend(x, spec.margins(wnd.shape), spec.mode, spec.cval)
    return np.reshape(correlate_valid(extended, g), w.shape)


linear_filter = Primitive(lambda x, w, spec: spec.run(x, w))
linear_filter.__name__ = "scipy.ndimage.correlate"
defvjp(linear_filter, _filter_vjp_input, _filter_vjp_weights, None, save="args")


def _input(name, input, cval=0.0):
    host_only(f"scipy.ndimage.{name}", input)
    if tracked(cval):
        refuse(f"scipy.ndimage.{name}", "cval")
    return lift(input)


def _weights(weights):
    w = lift(weights)
    return w if w.dtype.kind in "fc" else w.astype(np.float64)


def _norm_axis(axis, ndim):
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim)
    return axis % ndim


@implements_scipy("scipy.ndimage", "correlate1d")
def correlate1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    x, w = _input("correlate1d", input, cval), _weights(weights)
    spec = _Filter("correlate1d", _norm_axis(axis, x.ndim), mode, raw(cval), (int(origin),))
    return _finish(linear_filter(x, w, spec), output, "correlate1d")


@implements_scipy("scipy.ndimage", "convolve1d")
def convolve1d(input, weights, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    # SciPy: correlate with the reversed weights, origin mirrored (one more for even lengths);
    # complex weights pre-conjugated to undo correlate1d's conjugation
    w = _weights(weights)[::-1]
    w = np.conjugate(w) if w.dtype.kind == "c" else w
    origin = -origin - (0 if w.shape[0] & 1 else 1)
    return correlate1d(input, w, axis, output, mode, cval, origin)


def _nd_filter(name, input, weights, output, mode, cval, origin, axes, convolution):
    x, w = _input(name, input, cval), _weights(weights)
    support = _scipy("scipy.ndimage._ni_support")
    axes = support._check_axes(axes, x.ndim)
    if len(axes) < x.ndim:
        if w.ndim != len(axes):
            raise RuntimeError(f"weights.ndim ({w.ndim}) must match len(axes) ({len(axes)})")
        w = np.expand_dims(w, tuple(a for a in range(x.ndim) if a not in axes))
    origins = [0] * x.ndim
    for o, a in zip(support._normalize_sequence(origin, len(axes)), axes):
        origins[a] = int(o)
    if convolution:
        w = np.flip(w)
        w = np.conjugate(w) if w.dtype.kind == "c" else w
        origins = [-o - (0 if n & 1 else 1) for o, n in zip(origins, w.shape)]
    spec = _Filter("correlate", 0, mode, raw(cval), tuple(origins))
    return _finish(linear_filter(x, w, spec), output, name)


@implements_scipy("scipy.ndimage", "correlate")
def correlate(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    return _nd_filter("correlate", input, weights, output, mode, cval, origin, axes, False)


@implements_scipy("scipy.ndimage", "convolve")
def convolve(input, weights, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    return _nd_filter("convolve", input, weights, output, mode, cval, origin, axes, True)


@implements_scipy("scipy.ndimage", "gaussian_filter1d")
def gaussian_filter1d(input, sigma, axis=-1, order=0, output=None, mode="reflect", cval=0.0,
                      truncate=4.0, *, radius=None):
    if tracked(sigma):
        refuse("scipy.ndimage.gaussian_filter1d", "sigma")
    sigma = float(raw(sigma))
    radius = int(truncate * sigma + 0.5) if radius is None else radius
    if not isinstance(radius, (int, np.integer)) or radius < 0:
        raise ValueError("Radius must be a nonnegative integer.")
    # SciPy's own kernel, reversed since it is applied by correlation
    weights = _scipy("scipy.ndimage._filters")._gaussian_kernel1d(sigma, order, radius)[::-1]
    return correlate1d(input, weights, axis, output, mode, cval, 0)


def _per_axis(value, count):
    return _scipy("scipy.ndimage._ni_support")._normalize_sequence(value, count)


@implements_scipy("scipy.ndimage", "gaussian_filter")
def gaussian_filter(input, sigma, order=0, output=None, mode="reflect", cval=0.0, truncate=4.0,
                    *, radius=None, axes=None):
    x = _input("gaussian_filter", input, cval)
    if tracked(sigma) or (isinstance(sigma, (list, tuple)) and any(map(tracked, sigma))):
        refuse("scipy.ndimage.gaussian_filter", "sigma")
    axes = _scipy("scipy.ndimage._ni_support")._check_axes(axes, x.ndim)
    n = len(axes)
    sigmas = [float(raw(s)) for s in _per_axis(raw(sigma), n)]
    passes = [(a, s, o, m, r) for a, s, o, m, r in zip(
        axes, sigmas, _per_axis(order, n), _per_axis(mode, n), _per_axis(radius, n)) if s > 1e-15]
    result = x
    for axis, s, o, m, r in passes:
        result = gaussian_filter1d(result, s, axis, o, None, m, cval, truncate, radius=r)
    return _finish(result if passes else np.copy(x), output, "gaussian_filter")


@implements_scipy("scipy.ndimage", "uniform_filter1d")
def uniform_filter1d(input, size, axis=-1, output=None, mode="reflect", cval=0.0, origin=0):
    x = _input("uniform_filter1d", input, cval)
    if size < 1:
        raise RuntimeError("incorrect filter size")
    # SciPy's running mean; its adjoint is that of a correlation with ones / size
    spec = _Filter("uniform1d", _norm_axis(axis, x.ndim), mode, raw(cval), (int(origin),))
    return _finish(linear_filter(x, np.full(int(size), 1.0 / size), spec), output,
                   "uniform_filter1d")


@implements_scipy("scipy.ndimage", "uniform_filter")
def uniform_filter(input, size=3, output=None, mode="reflect", cval=0.0, origin=0, *, axes=None):
    x = _input("uniform_filter", input, cval)
    axes = _scipy("scipy.ndimage._ni_support")._check_axes(axes, x.ndim)
    n = len(axes)
    passes = [(a, s, o, m) for a, s, o, m in zip(
        axes, _per_axis(size, n), _per_axis(origin, n), _per_axis(mode, n)) if s > 1]
    result = x
    for axis, s, o, m in passes:
        result = uniform_filter1d(result, int(s), axis, None, m, cval, o)
    return _finish(result if passes else np.copy(x), output, "uniform_filter")


def _derivative_filter(name, input, axis, output, mode, cval, smoothing):
    x = _input(name, input, cval)
    axis = _norm_axis(axis, x.ndim)
    modes = _per_axis(mode, x.ndim)
    result = correlate1d(x, [-1, 0, 1], axis, None, modes[axis], cval, 0)
    for other in range(x.ndim):
        if other != axis:
            result = correlate1d(result, smoothing, other, None, modes[other], cval, 0)
    return _finish(result, output, name)


@implements_scipy("scipy.ndimage", "sobel")
def sobel(input, axis=-1, output=None, mode="reflect", cval=0.0):
    return _derivative_filter("sobel", input, axis, output, mode, cval, [1, 2, 1])


@implements_scipy("scipy.ndimage", "prewitt")
def prewitt(input, axis=-1, output=None, mode="reflect", cval=0.0):
    return _derivative_filter("prewitt", input, axis, output, mode, cval, [1, 1, 1])


def _sum_over_axes(name, input, output, mode, cval, axes, term):
    x = _input(name, input, cval)
    axes = _scipy("scipy.ndimage._ni_support")._check_axes(axes, x.ndim)
    if not axes:
        return _finish(np.copy(x), output, name)
    modes = _per_axis(mode, len(axes))
    result = term(x, axes[0], modes[0])
    for a, m in zip(axes[1:], modes[1:]):
        result = result + term(x, a, m)
    return _finish(result, output, name)


@implements_scipy("scipy.ndimage", "laplace")
def laplace(input, output=None, mode="reflect", cval=0.0, *, axes=None):
    return _sum_over_axes("laplace", input, output, mode, cval, axes,
                          lambda x, a, m: correlate1d(x, [1, -2, 1], a, None, m, cval, 0))


def _gaussian_derivative(x, sigma, axis, derivative, mode, cval, kwargs):
    order = [0] * x.ndim
    order[axis] = derivative
    return gaussian_filter(x, sigma, order, None, mode, cval, **kwargs)


def _sigmas_for(x, sigma, axes):
    axes = _scipy("scipy.ndimage._ni_support")._check_axes(axes, x.ndim)
    sigma = _per_axis(raw(sigma), len(axes))
    full = [0] * x.ndim
    for s, a in zip(sigma, axes):
        full[a] = s
    return full


@implements_scipy("scipy.ndimage", "gaussian_laplace")
def gaussian_laplace(input, sigma, output=None, mode="reflect", cval=0.0, *, axes=None, **kwargs):
    x = lift(input)
    sigmas = _sigmas_for(x, sigma, axes)
    return _sum_over_axes("gaussian_laplace", x, output, mode, cval, axes, lambda x, a, m:
                          _gaussian_derivative(x, sigmas, a, 2, m, cval, kwargs))


@implements_scipy("scipy.ndimage", "gaussian_gradient_magnitude")
def gaussian_gradient_magnitude(input, sigma, output=None, mode="reflect", cval=0.0, *, axes=None,
                                **kwargs):
    x = lift(input)
    squares = _sum_over_axes(
        "gaussian_gradient_magnitude", x, None, mode, cval, axes,
        lambda x, a, m: _gaussian_derivative(x, sigma, a, 1, m, cval, kwargs) ** 2)
    return _finish(np.sqrt(squares), output, "gaussian_gradient_magnitude")


# ------------------------------------------------------------------------------------ selections
def _select(name, input, rank, size, footprint, output, mode, cval, origin, axes, operation):
    """The element of each window of the given rank (SciPy's rank filters), as a gather."""
    x = _input(name, input, cval)
    if x.dtype.kind == "c":
        raise TypeError("Complex type not supported")
    support = _scipy("scipy.ndimage._ni_support")
    axes = support._check_axes(axes, x.ndim)
    if footprint is None:
        if size is None:
            raise RuntimeError("no footprint or filter size provided")
        footprint = np.ones(support._normalize_sequence(size, len(axes)), dtype=bool)
    footprint = np.asarray(footprint, dtype=bool)
    if len(axes) < x.ndim:
        footprint = np.expand_dims(footprint, tuple(a for a in range(x.ndim) if a not in axes))
    origins = [0] * x.ndim
    for o, a in zip(support._normalize_sequence(origin, len(axes)), axes):
        origins[a] = int(o)
    modes = [mode] * x.ndim if isinstance(mode, str) else [mode[axes.index(a)] if a in axes
                                                           else "reflect" for a in range(x.ndim)]
    count = int(footprint.sum())
    if operation == "median":
        rank = count // 2
    elif operation == "percentile":
        percentile = rank + 100.0 if rank < 0 else rank
        if not 0 <= percentile <= 100:
            raise RuntimeError("invalid percentile")
        rank = count - 1 if percentile == 100.0 else int(float(count) * percentile / 100.0)
    rank = rank + count if rank < 0 else rank
    if not 0 <= rank < count:
        raise RuntimeError("rank not within filter footprint size")
    margins = [(n // 2 + o, n - 1 - (n // 2 + o)) for n, o in zip(footprint.shape, origins)]
    if any(before < 0 or after < 0 for before, after in margins):
        raise ValueError("invalid origin")
    # flat positions of x, extended like the data; x.size stands for the constant
    positions = np.reshape(np.arange(x.size), x.shape)
    windows = np.lib.stride_tricks.sliding_window_view(
        extend(positions, margins, modes, x.size), footprint.shape)[..., footprint]
    values = np.concatenate([np.reshape(raw(x), -1), np.reshape(np.asarray(raw(cval), x.dtype), 1)])
    chosen = np.argpartition(values[windows], rank, axis=-1)[..., rank:rank + 1]
    chosen = np.take_along_axis(windows, chosen, axis=-1)[..., 0]
    source = np.concatenate([np.reshape(x, -1), np.full(1, raw(cval), dtype=x.dtype)])
    return _finish(np.take(source, chosen), output, name)


@implements_scipy("scipy.ndimage", "median_filter")
def median_filter(input, size=None, footprint=None, output=None, mode="reflect", cval=0.0, origin=0,
                  *, axes=None):
    return _select("median_filter", input, 0, size, footprint, output, mode, cval, origin, axes,
                   "median")


@implements_scipy("scipy.ndimage", "rank_filter")
def rank_filter(input, rank, size=None, footprint=None, output=None, mode="reflect", cval=0.0,
                origin=0, *, axes=None):
    return _select("rank_filter", input, int(rank), size, footprint, output, mode, cval, origin,
                   axes, "rank")


@implements_scipy("scipy.ndimage", "percentile_filter")
def percentile_filter(input, percentile, size=None, footprint=None, output=None, mode="reflect",
                      cval=0.0, origin=0, *, axes=None):
    return _select("percentile_filter", input, percentile, size, footprint, output, mode, cval,
                   origin, axes, "percentile")


@implements_scipy("scipy.ndimage", "minimum_filter")
def minimum_filter(input, size=None, footprint=None, output=None, mode="reflect", cval=0.0,
                   origin=0, *, axes=None):
    return _select("minimum_filter", input, 0, size, footprint, output, mode, cval, origin, axes,
                   "rank")


@implements_scipy("scipy.ndimage", "maximum_filter")
def maximum_filter(input, size=None, footprint=None, output=None, mode="reflect", cval=0.0,
                   origin=0, *, axes=None):
    return _select("maximum_filter", input, -1, size, footprint, output, mode, cval, origin, axes,
                   "rank")
