"""Differentiable ``interp1d``, ``RegularGridInterpolator`` and ``interpn`` (see
``interpolate.py`` for the two ways these meet tracked arrays: tracked data at construction,
tracked query points at evaluation).

``interp1d``: the value at x_new is read from the sorted data the way SciPy reads it — linear:
y[lo] + (y[hi] - y[lo]) (x_new - x[lo]) / (x[hi] - x[lo]); nearest/nearest-up/previous/next:
one sample (no gradient in x_new: the function is piecewise constant); spline kinds: the B-spline
of ``make_interp_spline``. ``fill_value`` and ``bounds_error`` as SciPy applies them (for
previous/next with "extrapolate" the fill is the tracked end sample).

``RegularGridInterpolator``: for linear (and slinear, the same multilinear function) the sum over
the 2^d corners of the cell of value * prod_d (w_d or 1 - w_d), with w_d = (x_d - g[i]) / (g[i+1] -
g[i]) differentiable in the points; nearest: the nearest grid value.

Must not know about: how the bridge installs these (``_bridge.py``).
"""
from __future__ import annotations

import itertools

import numpy as np

from .._array import GradArray
from ._bridge import implements_scipy, implements_scipy_method
from .interpolate_bspline import (connect, floating, raw, refuse_tracked, scipy_method,
                                  tracked_instance)

__all__ = ["TrackedInterp1d", "TrackedGridInterpolator"]

_GRID_METHODS = ("linear", "slinear", "nearest")


# ------------------------------------------------------------------------------- interp1d
def _interp1d_values(self, y, spline, x):
    """Values (q, r) at the points x (q,) of the data y (n, r) sorted like ``self.x``."""
    xr = raw(x)
    n = len(self.x)
    kind = self._kind
    if kind == "linear":
        hi = np.clip(np.searchsorted(self.x, xr), 1, n - 1)
        lo = hi - 1
        slope = (y[hi] - y[lo]) / (self.x[hi] - self.x[lo])[:, None]
        return slope * (x - self.x[lo])[:, None] + y[lo]
    if kind in ("nearest", "nearest-up"):
        return y[np.clip(np.searchsorted(self.x_bds, xr, side=self._side), 0, n - 1)]
    if kind in ("previous", "next"):
        index = np.clip(np.searchsorted(self._x_shift, xr, side=self._side), 1 - self._ind,
                        n - self._ind)
        return y[index + self._ind - 1]
    return spline(x)


def _interp1d_call(self, y, spline, x_new, fill_below=None, fill_above=None):
    x_new = floating(x_new)
    shape = x_new.shape
    x = np.reshape(x_new, (-1,))
    values = connect(_interp1d_values(self, y, spline, x), x)
    if not self._extrapolate:
        xr = raw(x)
        below, above = xr < self.x[0], xr > self.x[-1]
        if self.bounds_error and below.any():
            raise ValueError(f"A value ({xr[np.argmax(below)]}) in x_new is below the "
                             f"interpolation range's minimum value ({self.x[0]}).")
        if self.bounds_error and above.any():
            raise ValueError(f"A value ({xr[np.argmax(above)]}) in x_new is above the "
                             f"interpolation range's maximum value ({self.x[-1]}).")
        width = values.shape[1]
        below_value = self._fill_value_below if fill_below is None else fill_below
        above_value = self._fill_value_above if fill_above is None else fill_above
        values = np.where(below[:, None], np.reshape(below_value, (1, -1)) * np.ones((1, width)),
                          values)
        values = np.where(above[:, None], np.reshape(above_value, (1, -1)) * np.ones((1, width)),
                          values)
    out = np.reshape(values, shape + tuple(self._y_extra_shape))
    if self._y_axis != 0 and shape != ():
        nx, ny = len(shape), len(self._y_extra_shape)
        order = (list(range(nx, nx + self._y_axis)) + list(range(nx)) +
                 list(range(nx + self._y_axis, nx + ny)))
        out = np.transpose(out, order)
    return out


class TrackedInterp1d:
    """``interp1d`` whose data ``y``/``_y`` are GradArrays."""

    def __call__(self, x):
        return _interp1d_call(self, self._y, self._spline, x, self._tracked_fill_below,
                              self._tracked_fill_above)


@implements_scipy_method("scipy.interpolate._interpolate", "interp1d", "__call__")
def _interp1d_at_tracked_points(self, x):
    return _interp1d_call(self, self._y, getattr(self, "_spline", None), x)


@implements_scipy_method("scipy.interpolate._interpolate", "interp1d", "__init__")
def _interp1d_with_tracked_data(self, x, y, kind="linear", axis=-1, copy=True, bounds_error=None,
                                fill_value=np.nan, assume_sorted=False):
    import scipy.interpolate
    refuse_tracked("scipy.interpolate.interp1d", x=x, fill_value=fill_value)
    y = floating(y)
    x = raw(x)
    scipy_method("scipy.interpolate._interpolate", "interp1d", "__init__")(
        self, x, y._data, kind, axis, copy, bounds_error, fill_value, assume_sorted)
    if not assume_sorted:
        y = np.take(y, np.argsort(x, kind="mergesort"), axis=self.axis)
    data = np.reshape(np.moveaxis(y, self._y_axis, 0), (len(self.x), -1))
    spline = None
    if self._kind == "spline":
        spline = scipy.interpolate.make_interp_spline(self.x, data, k=self._spline.k,
                                                      check_finite=False)
    # previous/next with fill_value="extrapolate" fill with an end sample: a tracked one here
    below = above = None
    if isinstance(fill_value, str) and fill_value == "extrapolate":
        if self._kind == "previous":
            below, above = np.full(data.shape[1], np.nan), data[-1]
        elif self._kind == "next":
            below, above = data[0], np.full(data.shape[1], np.nan)
    tracked_instance(self, TrackedInterp1d, y=y, _y=data, _spline=spline,
                     _tracked_fill_below=below, _tracked_fill_above=above)


# ------------------------------------------------------------------------------- regular grids
def _points_array(xi, ndim):
    """SciPy's ``_ndim_coords_from_arrays``: a tuple of coordinate arrays is broadcast and
    stacked on a last axis; a 1-D array is read as points of ``ndim`` coordinates."""
    if isinstance(xi, tuple) and len(xi) == 1:
        xi = xi[0]
    if isinstance(xi, tuple):
        return np.stack(np.broadcast_arrays(*[floating(p) for p in xi]), axis=-1)
    xi = floating(xi)
    return np.reshape(xi, (-1, ndim)) if xi.ndim == 1 else xi


def _grid_call(self, values, xi, method=None, nu=None):
    method = self.method if method is None else method
    if method not in _GRID_METHODS or nu is not None:
        raise NotImplementedError(f"scipy.interpolate.RegularGridInterpolator: method={method!r}"
                                  f"{' with nu' if nu is not None else ''} is not differentiable "
                                  f"in gradarray; methods {_GRID_METHODS} are.")
    grid = self._grid
    ndim = len(grid)
    xi = _points_array(xi, ndim)
    if xi.shape[-1] != ndim:
        raise ValueError(f"The requested sample points xi have dimension {xi.shape[-1]} but this "
                         f"RegularGridInterpolator has dimension {ndim}")
    shape = xi.shape
    points = np.reshape(xi, (-1, ndim))
    coords = raw(points)
    if self.bounds_error:
        for d in range(ndim):
            if not np.all((grid[d][0] <= coords[:, d]) & (coords[:, d] <= grid[d][-1])):
                raise ValueError(f"One of the requested xi is out of bounds in dimension {d}")
    cells, weights = [], []
    for d in range(ndim):
        g = np.asarray(grid[d], dtype=float)
        i = np.clip(np.searchsorted(g, coords[:, d], side="right") - 1, 0, len(g) - 2)
        cells.append(i)
        weights.append((points[:, d] - g[i]) / (g[i + 1] - g[i]))
    trailing = (1,) * (values.ndim - ndim)
    if method == "nearest":
        nearest = tuple(np.where(raw(w) <= 0.5, i, i + 1) for i, w in zip(cells, weights))
        result = values[nearest]
    else:
        result = None
        for corner in itertools.product((0, 1), repeat=ndim):
            weight = None
            for w, bit in zip(weights, corner):
                factor = w if bit else 1.0 - w
                weight = factor if weight is None else weight * factor
            term = values[tuple(i + bit for i, bit in zip(cells, corner))] * \
                np.reshape(weight, (-1,) + trailing)
            result = term if result is None else result + term
    result = connect(result, points[:, 0])
    if not self.bounds_error and self.fill_value is not None:
        outside = np.zeros(len(coords), dtype=bool)
        for d in range(ndim):
            outside |= (coords[:, d] < grid[d][0]) | (coords[:, d] > grid[d][-1])
        result = np.where(np.reshape(outside, (-1,) + trailing), self.fill_value, result)
    nans = np.reshape(np.any(np.isnan(coords), axis=-1), (-1,) + trailing)
    if nans.any():
        result = np.where(nans, np.nan, result)
    return np.reshape(result, shape[:-1] + tuple(values.shape[ndim:]))


class TrackedGridInterpolator:
    """``RegularGridInterpolator`` whose ``values`` are a GradArray."""

    @property
    def values(self):
        return self._values

    def __call__(self, xi, method=None, *, nu=None):
        return _grid_call(self, self._values, xi, method, nu)


@implements_scipy_method("scipy.interpolate._rgi", "RegularGridInterpolator", "__call__")
def _grid_at_tracked_points(self, xi, method=None, *, nu=None):
    return _grid_call(self, self._values, xi, method, nu)


@implements_scipy_method("scipy.interpolate._rgi", "RegularGridInterpolator", "__init__")
def _grid_with_tracked_values(self, points, values, method="linear", bounds_error=True,
                              fill_value=np.nan, *, solver=None, solver_args=None):
    refuse_tracked("scipy.interpolate.RegularGridInterpolator", points=points,
                   fill_value=fill_value)
    if method not in _GRID_METHODS:
        raise NotImplementedError(f"scipy.interpolate.RegularGridInterpolator: method={method!r} "
                                  f"is not differentiable in gradarray for tracked values; methods "
                                  f"{_GRID_METHODS} are.")
    values = floating(values)
    scipy_method("scipy.interpolate._rgi", "RegularGridInterpolator", "__init__")(
        self, points, values._data, method, bounds_error, fill_value, solver=solver,
        solver_args=solver_args)
    if self._descending_dimensions:
        values = np.flip(values, axis=tuple(self._descending_dimensions))
    tracked_instance(self, TrackedGridInterpolator, _values=values)


@implements_scipy("scipy.interpolate", "interpn")
def interpn(points, values, xi, method="linear", bounds_error=True, fill_value=np.nan):
    import scipy.interpolate
    refuse_tracked("scipy.interpolate.interpn", points=points, fill_value=fill_value)
    if method not in _GRID_METHODS:
        raise NotImplementedError(f"scipy.interpolate.interpn: method={method!r} is not "
                                  f"differentiable in gradarray; methods {_GRID_METHODS} are.")
    values = floating(values) if type(values) is GradArray or isinstance(values, list) else \
        np.asarray(values)
    interpolator = scipy.interpolate.RegularGridInterpolator(points, values, method=method,
                                                             bounds_error=bounds_error,
                                                             fill_value=fill_value)
    return interpolator(xi)
