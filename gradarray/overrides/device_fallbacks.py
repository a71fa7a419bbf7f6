"""NumPy functions a device backend lacks, supplied by gradarray so that they run on the device.

CuPy 14.2 has no ``block``, ``einsum_path``, ``geomspace``, ``histogram_bin_edges``, ``insert``,
``nanpercentile``, ``nanquantile``, ``polyder``, ``polydiv``, ``polyint``, ``unstack``, no ufuncs
``matvec``, ``vecmat``, ``vecdot``, ``spacing``, and none of ``numpy.linalg``'s ``diagonal``,
``matrix_norm``, ``multi_dot``, ``outer``, ``svdvals``, ``tensordot``, ``trace``, ``vecdot``,
``vector_norm`` (``python -m gradarray.coverage --device cuda`` lists them, computed against the
installed CuPy: gradarray/_cupy_oracle.py). On device data gradarray runs, instead:

- its composites, which are written with functions CuPy has and never call the missing one (block,
  geomspace, insert, the polynomial and linalg functions above; nanquantile/nanpercentile sort on
  the device): :data:`DEVICE_FUNCTIONS` lists them as "composite", checked on the oracle-derived
  stand-in device array by tests/test_device_coverage.py;
- a device implementation registered here with :func:`on_devices` (einsum_path from the shapes,
  histogram_bin_edges from device reductions) or with ``implements_on_devices`` for a ufunc
  (spacing from nextafter; matvec/vecmat/vecdot in linear.py).

No host round trip: the data stays on the device (a few scalars are read, as CuPy's own
histogram reads its range). :func:`on_devices` is also how ``device_keywords.py`` adapts the NumPy
keywords CuPy's functions lack.
Must not know about: CuPy itself (nothing here imports it); which backend lacks what is asked of
the backend's namespace at call time (``hasattr(cupy, "insert")``).
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib import _histograms_impl     # NumPy's bin-width estimators (private, long stable)

from .._array import GradArray, wrap_untracked
from .._backend import _backend_of_raw, is_host_array
from .._dispatch import apply_function, apply_untracked
from .._registry import implements_on_devices
from .._tables import IMPLEMENTATIONS, RULES

__all__ = ["DEVICE_FUNCTIONS", "on_devices", "device_data", "backend_lacks"]

# NumPy function (or ufunc) -> how gradarray runs it on a device backend that lacks it (or lacks
# some of its keywords): "composite" (the composite never calls it), "device implementation",
# "ufunc composite", "keywords: ..." (device_keywords.py)
DEVICE_FUNCTIONS: dict = {}


def device_data(args, kwargs):
    """The raw data of the first array argument on a non-NumPy backend (GradArrays and raw arrays,
    also inside lists and tuples), or None when every array is NumPy's."""
    for a in (*args, *kwargs.values()):
        items = a if type(a) is list or type(a) is tuple else (a,)
        for x in items:
            raw = x._data if type(x) is GradArray else x
            if hasattr(raw, "shape") and hasattr(raw, "dtype") and not is_host_array(raw):
                return raw
    return None


def backend_lacks(func):
    """A test of raw device data: does its backend's namespace lack ``func`` (``cupy.insert``,
    ``cupy.linalg.matrix_norm``)? Unknown backends count as lacking it."""
    parts = func.__module__.split(".")[1:]

    def lacks(raw):
        backend = _backend_of_raw(raw)
        if backend is None:
            return True
        ns = backend.xp()
        for part in parts:
            ns = getattr(ns, part, None)
        return getattr(ns, func.__name__, None) is None
    return lacks


def _host_path(func):
    """What ``GradArray.__array_function__`` does with ``func`` without this module's entry."""
    previous = IMPLEMENTATIONS.get(func)
    rule = RULES.get(func)

    def host(*args, **kwargs):
        if previous is not None:
            return previous(*args, **kwargs)
        if rule is not None:
            return apply_function(func, rule, args, kwargs)
        return apply_untracked(func, args, kwargs)
    host.previous = previous
    return host


def on_devices(func, how, when=None, trigger=None):
    """Register ``impl`` (decorator) for ``func`` on device data where ``trigger(args, kwargs)``
    (a cheap test of the call, checked first) and ``when(raw)`` (a test of the device data) hold
    (default: always); elsewhere the composite, rule or untracked call runs as before.
    ``how`` describes the device path for the coverage table (:data:`DEVICE_FUNCTIONS`)."""
    def decorator(impl):
        host = _host_path(func)

        def dispatch(*args, **kwargs):
            if trigger is None or trigger(args, kwargs):
                raw = device_data(args, kwargs)
                if raw is not None and (when is None or when(raw)):
                    return impl(*args, **kwargs)
            return host(*args, **kwargs)
        dispatch.host = host            # the coverage report reads the host status through it
        dispatch.__name__ = getattr(func, "__name__", "dispatch")
        IMPLEMENTATIONS[func] = dispatch
        DEVICE_FUNCTIONS[func] = how if func not in DEVICE_FUNCTIONS else \
            f"{DEVICE_FUNCTIONS[func]}; {how}"
        return impl
    return decorator




# -------------------------------------------------- composites that never call the missing function
for _f in (np.block, np.geomspace, np.insert, np.polyder, np.polydiv, np.polyint, np.unstack,
           np.nanquantile, np.nanpercentile, np.linalg.diagonal, np.linalg.matrix_norm,
           np.linalg.multi_dot, np.linalg.outer, np.linalg.svdvals, np.linalg.tensordot,
           np.linalg.trace, np.linalg.vecdot, np.linalg.vector_norm):
    DEVICE_FUNCTIONS[_f] = "composite"
DEVICE_FUNCTIONS.update({np.matvec: "ufunc composite", np.vecmat: "ufunc composite",
                         np.vecdot: "ufunc composite"})


# ------------------------------------------------------------------------------------- spacing
@implements_on_devices(np.spacing)
def _spacing(x, out=None, **kwargs):
    """ULP of x: the distance to the next float away from zero (``spacing(-0.0)`` is the smallest
    positive subnormal, as NumPy's); NaN for infinities and NaN."""
    if kwargs:
        raise TypeError(f"np.spacing on a device backend takes no keywords {sorted(kwargs)}")
    data = x._data if type(x) is GradArray else x
    dtype = np.spacing.resolve_dtypes((np.dtype(data.dtype), None))[1]
    x = wrap_untracked(data).astype(dtype) if type(x) is not GradArray else x.detach().astype(dtype)
    away = np.where(np.less(x, 0), -np.inf, np.inf).astype(dtype)
    with np.errstate(invalid="ignore"):             # inf - inf: NaN, as np.spacing(inf)
        result = np.nextafter(x, away) - x
    if out is not None:
        target = out[0] if type(out) is tuple else out
        target[...] = result
        return target
    return result


DEVICE_FUNCTIONS[np.spacing] = "ufunc composite"


# --------------------------------------------------------------------------------- einsum_path
def _shape_only(x):
    """A host stand-in of ``x`` with its shape and dtype and no memory (a zero-stride view)."""
    raw = x._data if type(x) is GradArray else x
    if hasattr(raw, "shape") and hasattr(raw, "dtype") and not is_host_array(raw):
        return np.broadcast_to(np.zeros((), dtype=raw.dtype), raw.shape)
    return raw


@on_devices(np.einsum_path, "device implementation (the path depends on the shapes only)",
            backend_lacks(np.einsum_path))
def _einsum_path(*operands, optimize="greedy", einsum_call=False):
    return np.einsum_path(*[_shape_only(o) for o in operands], optimize=optimize,
                          einsum_call=einsum_call)


# ------------------------------------------------------------------------- histogram_bin_edges
def _outer_edges(a, range):
    """NumPy's (first, last) edges as Python floats: ``range``, else the data's min and max (one
    device read, as CuPy's histogram does), widened by 0.5 when they coincide."""
    if range is not None:
        first, last = (float(v) for v in range)
        if first > last:
            raise ValueError("max must be larger than min in range parameter.")
        if not (math.isfinite(first) and math.isfinite(last)):
            raise ValueError(f"supplied range of [{first}, {last}] is not finite")
    elif a.size == 0:
        first, last = 0.0, 1.0
    else:
        first, last = float(np.min(a)), float(np.max(a))
        if not (math.isfinite(first) and math.isfinite(last)):
            raise ValueError(f"autodetected range of [{first}, {last}] is not finite")
    if first == last:
        first, last = first - 0.5, last + 0.5
    return first, last


def _estimate(a, name, range, weights):
    """(first edge, last edge, number of bins) for the estimator ``name``, as NumPy's."""
    if weights is not None:
        raise TypeError("Automated estimation of the number of bins is not supported for "
                        "weighted data")
    first, last = _outer_edges(a, range)
    if range is not None:
        a = a[(a >= first) & (a <= last)]
    return first, last, _estimated_bins(a, name, first, last)


def _estimated_bins(a, name, first, last):
    """Number of equal bins from NumPy's estimator ``name`` (its own selector functions, which
    reach the device through np.* calls on the untracked GradArray ``a``)."""
    selectors = _histograms_impl._hist_bin_selectors
    if name not in selectors:
        raise ValueError(f"{name!r} is not a valid estimator for `bins`")
    if a.size == 0:
        return 1
    width = float(selectors[name](a, (first, last)))
    if not width:
        return 1
    if np.issubdtype(a.dtype, np.integer) and width < 1:
        width = 1
    return int(math.ceil((last - first) / width))


@on_devices(np.histogram_bin_edges, "device implementation",
            backend_lacks(np.histogram_bin_edges))
def _histogram_bin_edges(a, bins=10, range=None, weights=None):
    a = wrap_untracked(a._data if type(a) is GradArray else a).ravel()
    if isinstance(bins, str):
        first, last, n = _estimate(a, bins, range, weights)
    elif np.ndim(bins) == 1:
        edges = wrap_untracked(bins._data if type(bins) is GradArray else bins)
        if bool(np.any(edges[:-1] > edges[1:])):
            raise ValueError("`bins` must increase monotonically, when an array")
        return edges
    else:
        n = int(bins)
        if n < 1:
            raise ValueError("`bins` must be positive, when an integer")
        first, last = _outer_edges(a, range)
    dtype = np.result_type(a.dtype, np.float64 if a.dtype.kind in "biu" else a.dtype)
    return wrap_untracked(_backend_of_raw(a._data).xp().linspace(first, last, n + 1, dtype=dtype))


def _string_bins(args, kwargs):
    bins = args[1] if len(args) > 1 else kwargs.get("bins")
    return isinstance(bins, str)


@on_devices(np.histogram, "device implementation of the bin estimators (bins='auto', ...)",
            trigger=_string_bins)
def _histogram_estimated_bins(a, bins=10, range=None, density=None, weights=None):
    """np.histogram(a, "auto") on a device: CuPy's histogram takes integer and array bins only,
    so the estimator picks the number of bins (as above), and the equal bins over the same range
    are NumPy's edges (the extreme samples carry the edges' gradient, as on the host)."""
    raw = wrap_untracked(a._data if type(a) is GradArray else a).ravel()
    n = _estimate(raw, bins, range, weights)[2]
    return np.histogram(a, n, range=range, density=density, weights=weights)

