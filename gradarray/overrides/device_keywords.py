"""NumPy keywords a device backend's function lacks, adapted by gradarray on device data.

CuPy calls its own function with the caller's keywords, and CuPy 14.2's signatures lack many of
NumPy 2's: ``where=``/``initial=`` of the reductions, ``mean=``/``correction=`` of var/std,
``keepdims=`` of count_nonzero, ``min=``/``max=`` of clip, ``mode=`` of take, ``axis=`` of lexsort
and trim_zeros, ``weights=`` of percentile/quantile, ``count=`` of unpackbits, ``upper=`` of
cholesky, ``hermitian=``/``rtol=`` of pinv, svd and matrix_rank, ``out=`` of the FFTs,
``out=``/``order=``/``casting=`` of einsum, ``device=``/``subok=`` of the creation-like functions, ``shape=`` given by keyword to
reshape/unravel_index, and argmax's third positional argument is ``dtype`` in CuPy. (The oracle,
gradarray/_cupy_oracle.py, derives the list from CuPy's signatures; tests/test_device_coverage.py
checks that every missing keyword is adapted here or by the function's own composite.)

On device data (:func:`~gradarray.overrides.device_fallbacks.on_devices`) a keyword with its neutral
value (``where=True``, ``out=None``, ``hermitian=False`` ...) is dropped, a keyword that changes the
result is computed from functions CuPy has (``np.sum(x, where=m)`` is ``np.sum(np.where(m, x, 0))``),
so the result stays differentiable; on NumPy data nothing changes.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from .. import fft as _fft, linalg as _linalg  # noqa: F401  (their rules first: they are wrapped)
from .._array import GradArray, wrap_untracked
from .._backend import create_like, device_of, parse_device
from .device_fallbacks import _host_path, on_devices

__all__ = ["DEVICE_KEYWORDS"]

_NO = np._NoValue
# keyword -> its values that mean "as if not given"; a callable answers for other values
_NEUTRAL = {"where": (True,), "initial": (_NO,), "keepdims": (False, _NO), "out": (None,),
            "mean": (_NO,), "correction": (_NO,), "subok": (False, True), "device": (None,),
            "kind": (None, "introselect", "sort", "table"), "mode": ("raise",), "weights": (None,),
            "count": (None,), "hermitian": (False,), "upper": (False,), "rtol": (_NO,),
            "rcond": (None,), "order": ("K", "C", "F", "A"), "casting": ("safe",),
            "min": (_NO,), "max": (_NO,), "axis": (), "shape": ()}

# NumPy function -> the keywords adapted on device data (also read by the coverage report)
DEVICE_KEYWORDS: dict = {}


def _neutral(name, value):
    for v in _NEUTRAL.get(name, ()):
        if value is v or (type(value) in (bool, str) and type(v) is type(value) and value == v):
            return True
    return False


def adapt(func, keywords, emulate=None, positional=None):
    """On device data, drop ``keywords`` at neutral values and compute the others with
    ``emulate(*args, **kwargs)``; ``positional``: index of an argument to pass by keyword."""
    host = _host_path(func)

    def trigger(args, kwargs):
        return (kwargs and any(k in kwargs for k in keywords)) or (
            positional is not None and len(args) > positional[0])

    @on_devices(func, "keywords: " + ", ".join(keywords), trigger=trigger)
    def adapted(*args, **kwargs):
        if positional is not None and len(args) > positional[0]:
            kwargs[positional[1]] = args[positional[0]]
            args = args[:positional[0]] + args[positional[0] + 1:]
        kept = {k: v for k, v in kwargs.items() if not (k in keywords and _neutral(k, v))}
        if emulate is None or not any(k in kept for k in keywords):
            return host(*args, **kept)
        return emulate(*args, **kept)
    DEVICE_KEYWORDS[func] = tuple(keywords)
    return adapted


def _ga(x):
    """``x`` as a GradArray (raw device arrays and lists become untracked ones)."""
    return x if type(x) is GradArray else wrap_untracked(x)


def _on(x, ref):
    """``x`` (a mask, indices, a Python value, a host array) as a GradArray on ``ref``'s device."""
    if type(x) is GradArray:
        return x
    raw = x if hasattr(x, "shape") and not isinstance(x, np.ndarray) else \
        np.asarray(x, like=ref._data)
    return wrap_untracked(raw)


def _finish(result, out):
    if out is None:
        return result
    target = out[0] if type(out) is tuple else out
    target[...] = result
    return target


def _keep(result, keepdims, axis, ndim):
    """Drop the reduced axes of a keepdims result unless ``keepdims``."""
    if keepdims is True:
        return result
    axes = tuple(range(ndim)) if axis is None else normalize_axis_tuple(axis, ndim)
    return np.squeeze(result, axis=axes) if axes else result


# ----------------------------------------------------------------------------- reductions
def _fold(func, identity, combine):
    """sum/prod/nansum/nanprod with where= (masked entries become the identity) and initial=."""
    def emulate(a, axis=None, dtype=None, out=None, keepdims=_NO, initial=_NO, where=True):
        a = _ga(a)
        if where is not True:
            a = np.where(_on(where, a), a, identity)
        result = func(a, axis=axis, dtype=dtype, keepdims=keepdims is True)
        if initial is not _NO:
            result = combine(result, initial)
        return _finish(result, out)
    return emulate


for _f, _identity, _combine in ((np.sum, 0, np.add), (np.nansum, 0, np.add),
                                (np.prod, 1, np.multiply), (np.nanprod, 1, np.multiply)):
    adapt(_f, ("initial", "where"), _fold(_f, _identity, _combine))


def _extreme(ufunc, nan):
    """max/min (and the nan-versions): ufunc.reduce with initial=/where=, which gradarray computes
    on devices; the nan-versions leave NaN out (an all-NaN or empty slice without ``initial``
    gives NaN with NumPy's warning, not its error)."""
    def emulate(a, axis=None, out=None, keepdims=_NO, initial=_NO, where=True):
        a = _ga(a)
        where = where if where is True else _on(where, a)
        if not nan:
            kwargs = {} if initial is _NO else {"initial": initial}
            result = ufunc.reduce(a, axis=axis, keepdims=keepdims is True, where=where, **kwargs)
            return _finish(result, out)
        valid = np.logical_not(np.isnan(a))
        if where is not True:
            valid = np.logical_and(valid, where)
        fill = (-np.inf if ufunc is np.maximum else np.inf) if initial is _NO else initial
        result = ufunc.reduce(np.where(valid, a, fill), axis=axis, keepdims=keepdims is True)
        if initial is _NO:
            found = np.any(valid, axis=axis, keepdims=keepdims is True)
            result = np.where(found, result, np.nan)
        else:
            result = ufunc(result, initial)
        return _finish(result, out)
    return emulate


for _f, _u, _nan in ((np.max, np.maximum, False), (np.amax, np.maximum, False),
                     (np.min, np.minimum, False), (np.amin, np.minimum, False),
                     (np.nanmax, np.maximum, True), (np.nanmin, np.minimum, True)):
    adapt(_f, ("initial", "where"), _extreme(_u, _nan))


def _all_any(func):
    def emulate(a, axis=None, out=None, keepdims=_NO, *, where=True):
        a = _ga(a)
        where = where if where is True else _on(where, a)
        if func is np.all:
            a = np.logical_or(a, np.logical_not(where))
        else:
            a = np.logical_and(a, where)
        return _finish(func(a, axis=axis, keepdims=keepdims is True), out)
    return emulate


adapt(np.all, ("where",), _all_any(np.all))
adapt(np.any, ("where",), _all_any(np.any))


def _valid(a, where, nan):
    valid = np.broadcast_to(_on(where, a), a.shape) if where is not True else None
    if nan:
        finite = np.logical_not(np.isnan(a))
        valid = finite if valid is None else np.logical_and(valid, finite)
    return valid


def _float_dtype(a, dtype):
    if dtype is not None:
        return dtype
    return np.float64 if a.dtype.kind in "biu" else None


def _mean(nan):
    def emulate(a, axis=None, dtype=None, out=None, keepdims=_NO, *, where=True):
        a = _ga(a)
        valid = _valid(a, where, nan)
        dtype = _float_dtype(a, dtype)
        total = np.sum(a if valid is None else np.where(valid, a, 0), axis=axis, dtype=dtype,
                       keepdims=True)
        n = np.sum(np.ones_like(a, dtype=np.intp) if valid is None else valid, axis=axis,
                   keepdims=True)
        return _finish(_keep(total / n, keepdims, axis, a.ndim), out)
    return emulate


adapt(np.mean, ("where",), _mean(False))
adapt(np.nanmean, ("where",), _mean(True))


def _variance(sqrt, nan):
    def emulate(a, axis=None, dtype=None, out=None, ddof=0, keepdims=_NO, *, where=True,
                mean=_NO, correction=_NO):
        if correction is not _NO:
            if ddof != 0:
                raise ValueError("ddof and correction can't be provided simultaneously.")
            ddof = correction
        a = _ga(a)
        valid = _valid(a, where, nan)
        dtype = _float_dtype(a, dtype)
        if mean is _NO:
            mean = _mean(nan)(a, axis=axis, dtype=dtype, keepdims=True, where=where)
        d = a - mean
        sq = np.real(d * np.conj(d)) if d.dtype.kind == "c" else d * d
        total = np.sum(sq if valid is None else np.where(valid, sq, 0), axis=axis, dtype=dtype,
                       keepdims=True)
        n = np.sum(np.ones_like(a, dtype=np.intp) if valid is None else valid, axis=axis,
                   keepdims=True)
        result = total / np.maximum(n - ddof, 0)
        return _finish(_keep(np.sqrt(result) if sqrt else result, keepdims, axis, a.ndim), out)
    return emulate


for _f, _sqrt, _nan in ((np.var, False, False), (np.std, True, False), (np.nanvar, False, True),
                        (np.nanstd, True, True)):
    adapt(_f, ("where", "mean", "correction"), _variance(_sqrt, _nan))


def _count_nonzero(a, axis=None, *, keepdims=False):
    return np.sum(np.not_equal(_ga(a), 0), axis=axis, keepdims=keepdims, dtype=np.intp)


adapt(np.count_nonzero, ("keepdims",), _count_nonzero)


# ---------------------------------------------------------------------- selection and sorting
def _clip(a, a_min=_NO, a_max=_NO, out=None, *, min=_NO, max=_NO, **kwargs):
    lo = min if a_min is _NO else a_min
    hi = max if a_max is _NO else a_max
    return np.clip(a, None if lo is _NO else lo, None if hi is _NO else hi, out=out, **kwargs)


adapt(np.clip, ("min", "max"), _clip)
adapt(np.isin, ("kind",), lambda element, test_elements, assume_unique=False, invert=False,
      kind=None: np.isin(element, test_elements, assume_unique, invert))


def _lexsort(keys, axis=-1):
    keys = [_ga(k) for k in keys] if type(keys) is list or type(keys) is tuple else _ga(keys)
    ndim = (keys[0] if type(keys) is list else keys[0]).ndim
    axis = normalize_axis_index(axis, ndim)
    moved = tuple(np.moveaxis(k, axis, -1) for k in keys)      # a tuple: NumPy dispatches on it
    return np.moveaxis(np.lexsort(moved), -1, axis)


adapt(np.lexsort, ("axis",), _lexsort)


def _take(a, indices, axis=None, out=None, mode="raise"):
    a = _ga(a)
    n = a.size if axis is None else a.shape[normalize_axis_index(axis, a.ndim)]
    indices = _on(indices, a)
    if mode == "clip":
        indices = np.clip(indices, 0, n - 1)
    elif mode == "wrap":
        indices = np.mod(indices, n)
    else:
        raise ValueError(f"clipmode must be one of 'clip', 'raise', or 'wrap' (got {mode!r})")
    return np.take(a, indices, axis=axis, out=out)


adapt(np.take, ("mode",), _take)


def _trim_zeros(filt, trim="fb", axis=None):
    filt = _ga(filt)
    axes = tuple(range(filt.ndim)) if axis is None else normalize_axis_tuple(axis, filt.ndim)
    trim = trim.lower()
    index = [slice(None)] * filt.ndim
    nonzero = np.not_equal(filt, 0)
    for ax in axes:
        others = tuple(i for i in range(filt.ndim) if i != ax)
        where = np.flatnonzero(np.any(nonzero, axis=others) if others else nonzero)
        if where.size == 0:
            index[ax] = slice(0, 0)
            continue
        start = int(where[0]) if "f" in trim else 0
        stop = int(where[-1]) + 1 if "b" in trim else filt.shape[ax]
        index[ax] = slice(start, stop)
    return filt[tuple(index)]


adapt(np.trim_zeros, ("axis",), _trim_zeros)


def _weighted_quantile(scale):
    """quantile/percentile with ``weights=`` (NumPy allows method="inverted_cdf" only): the
    smallest sorted value whose cumulative weight reaches q (CuPy's functions take no weights)."""
    def emulate(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False,
                *, weights=None):
        if method != "inverted_cdf":
            raise ValueError("Only method 'inverted_cdf' supports weights")
        a, w = _ga(a), _ga(weights)
        if axis is None:
            a, w, axis = np.reshape(a, (-1,)), np.reshape(np.broadcast_to(w, a.shape), (-1,)), 0
        axis = normalize_axis_index(axis, a.ndim)
        w = np.broadcast_to(w, a.shape) if w.ndim == a.ndim else np.moveaxis(
            np.broadcast_to(w, a.shape[:axis] + a.shape[axis + 1:] + w.shape), -1, axis)
        a, w = np.moveaxis(a, axis, -1), np.moveaxis(w, axis, -1)
        order = np.argsort(a, axis=-1)
        values = np.take_along_axis(a, order, axis=-1)
        cdf = np.cumsum(np.take_along_axis(w, order, axis=-1), axis=-1)
        cdf = cdf / cdf[..., -1:]
        q = _on(q, a) / scale
        qs = np.reshape(q, q.shape + (1,) * (values.ndim - 1) + (1,))
        index = np.sum(np.less(cdf, qs), axis=-1, keepdims=True)
        index = np.minimum(index, values.shape[-1] - 1)
        result = np.take_along_axis(np.broadcast_to(values, index.shape[:-1] + values.shape[-1:]),
                                    index, axis=-1)[..., 0]
        if keepdims:
            result = np.expand_dims(result, axis + q.ndim)
        return _finish(result, out)
    return emulate


adapt(np.quantile, ("weights",), _weighted_quantile(1))
adapt(np.percentile, ("weights",), _weighted_quantile(100))


# handled by the functions' own composites (sorting.py): stable=True is CuPy's kind="stable";
# introselect is NumPy's only partition kind; CuPy's unique always sorts (valid for sorted=False)
DEVICE_KEYWORDS.update({np.sort: ("stable",), np.argsort: ("stable",), np.partition: ("kind",),
                        np.argpartition: ("kind",), np.unique: ("sorted",)})


# ----------------------------------------------------------------- copies, shapes, creation
adapt(np.copy, ("subok",))
adapt(np.broadcast_to, ("subok",))
adapt(np.broadcast_arrays, ("subok",))


def _same_device(func):
    """device= on a device backend: the array's own device is accepted (then dropped)."""
    def emulate(*args, device=None, **kwargs):
        here = device_of(_ga(args[0])._data)
        if parse_device(device) != here:
            raise ValueError(f"np.{func.__name__}: device={device!r} on an array on {here}: "
                             "move it with .to_device() instead")
        return func(*args, **kwargs)
    return emulate


for _f in (np.astype, np.zeros_like, np.ones_like, np.empty_like, np.full_like):
    adapt(_f, ("device",), _same_device(_f))


def _unpackbits(a, axis=None, count=None, bitorder="big"):
    bits = np.unpackbits(a, axis=axis, bitorder=bitorder)
    ax = 0 if axis is None else normalize_axis_index(axis, bits.ndim)
    n = bits.shape[ax]
    if count < 0:
        count = n + count
        if count < 0:
            raise ValueError("-count larger than number of elements")
    if count <= n:
        return bits[(slice(None),) * ax + (slice(0, count),)]
    pad = list(bits.shape)
    pad[ax] = count - n
    return np.concatenate([bits, np.zeros(pad, dtype=bits.dtype, like=_ga(bits)._data)], axis=ax)


adapt(np.unpackbits, ("count",), _unpackbits, positional=(2, "count"))
adapt(np.reshape, ("shape",), lambda a, shape, **kwargs: np.reshape(a, shape, **kwargs))
adapt(np.unravel_index, ("shape",),
      lambda indices, shape, order="C": np.unravel_index(indices, shape, order))
for _f in (np.argmax, np.argmin, np.nanargmax, np.nanargmin):
    adapt(_f, ("out",), None, positional=(2, "out"))        # CuPy: (a, axis, dtype, out, ...)


# ----------------------------------------------------------------------------------- linalg
def _mH(a):
    return np.conj(np.swapaxes(a, -1, -2))


def _cholesky(a, *, upper=False):
    # NumPy's upper=True reads the upper triangle of a: the lower one of a^H
    return _mH(np.linalg.cholesky(_mH(_ga(a))))


def _lower_hermitian(a):
    """The Hermitian matrix NumPy's hermitian=True reads from ``a`` (eigh: its lower triangle)."""
    lower = np.tril(a, -1)
    diagonal = np.real(np.diagonal(a, axis1=-2, axis2=-1))
    eye = create_like(np.eye, a._data, a.shape[-1], dtype=a.dtype)
    return lower + _mH(lower) + diagonal[..., None] * eye


def _svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    return np.linalg.svd(_lower_hermitian(_ga(a)), full_matrices, compute_uv)


def _pinv(a, rcond=None, hermitian=False, *, rtol=_NO):
    a = _ga(a)
    if hermitian:
        a = _lower_hermitian(a)
    if rcond is None:
        if rtol is None:
            rcond = max(a.shape[-2:]) * np.finfo(a.dtype).eps
        else:
            rcond = 1e-15 if rtol is _NO else rtol
    elif rtol is not _NO:
        raise ValueError("`rtol` and `rcond` can't be both set.")
    return np.linalg.pinv(a, rcond)


def _matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    A = _ga(A)
    if A.ndim < 2:
        return np.any(np.not_equal(A, 0)).astype(np.intp)
    if hermitian:
        A = _lower_hermitian(A)
    S = np.linalg.svd(A, compute_uv=False)
    if tol is None:
        if rtol is None:
            rtol = max(A.shape[-2:]) * np.finfo(S.dtype).eps
        tol = np.max(S, axis=-1, keepdims=True) * rtol
    else:
        tol = _on(tol, S)[..., None]
    return np.sum(np.greater(S, tol), axis=-1, dtype=np.intp)


adapt(np.linalg.cholesky, ("upper",), _cholesky)
adapt(np.linalg.pinv, ("hermitian", "rtol", "rcond"), _pinv)
adapt(np.linalg.svd, ("hermitian",), _svd)
adapt(np.linalg.matrix_rank, ("hermitian", "rtol"), _matrix_rank)


# ----------------------------------------------------------------------------------- einsum
def _einsum(*operands, out=None, **kwargs):
    return _finish(np.einsum(*operands, **kwargs), out)


adapt(np.einsum, ("out", "order", "casting"), _einsum)     # CuPy: dtype= and optimize= only


# -------------------------------------------------------------------------------------- fft
def _fft_out(func):
    def emulate(*args, out=None, **kwargs):
        return _finish(func(*args, **kwargs), out)
    return emulate


for _name in ("fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft", "rfft2", "irfft2",
              "rfftn", "irfftn", "hfft", "ihfft"):
    adapt(getattr(np.fft, _name), ("out",), _fft_out(getattr(np.fft, _name)))
