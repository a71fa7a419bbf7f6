"""The array API namespace of GradArray (https://data-apis.org/array-api/, version 2024.12).

``GradArray.__array_namespace__()`` returns this module, so libraries written against the standard
(SciPy with ``SCIPY_ARRAY_API=1``, anything calling ``array_api_compat.array_namespace(x)``) compute
with GradArrays and keep the tape: ``scipy.special.logsumexp(x)`` on a tracked ``x`` can be
differentiated.

Every function calls the NumPy function of the same meaning on GradArrays, so recording goes through
the normal dispatch and the rules of ``gradarray.overrides``; this module only translates the
standard's names and signatures (``concat``, ``permute_dims``, ``pow``, ``acos``,
``std(correction=)``, ``sort(descending=)``, ...). Results are always GradArrays, also when NumPy
returns a scalar or a plain array (e.g. all inputs were Python scalars). Creation functions take
``device=`` ("cpu", "cuda", ...). ``linalg`` and ``fft`` are ``gradarray.linalg`` and
``gradarray.fft``.
"""
from __future__ import annotations

import builtins
import sys

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from . import _backend
from . import _creation as _c
from . import fft, linalg  # noqa: F401  (the standard's extensions, as attributes of the namespace)
from ._array import GradArray
from ._tables import bind_upper

__array_api_version__ = "2024.12"

# ------------------------------------------------------------------------------- constants, dtypes
e = np.e
pi = np.pi
inf = np.inf
nan = np.nan
newaxis = None

bool = np.bool_  # noqa: A001  (the standard's name)
int8, int16, int32, int64 = np.int8, np.int16, np.int32, np.int64
uint8, uint16, uint32, uint64 = np.uint8, np.uint16, np.uint32, np.uint64
float32, float64 = np.float32, np.float64
complex64, complex128 = np.complex64, np.complex128


def _ga(x):
    """``x`` as a GradArray (results of NumPy calls on scalars or on untracked plain arrays)."""
    if type(x) is GradArray:
        return x
    if type(x) is tuple:
        return tuple(_ga(v) for v in x)
    return _c.asarray(x)


def _dtype_of(x):
    return x.dtype if hasattr(x, "dtype") and not isinstance(x, type) else np.dtype(x)


# ------------------------------------------------------------------------------- data types
def astype(x, dtype, /, *, copy=True, device=None):
    out = x.astype(dtype, copy=copy)
    return out if device is None else out.to_device(device)


def can_cast(from_, to, /):
    return np.can_cast(_dtype_of(from_), to)


def finfo(type, /):  # noqa: A002
    return np.finfo(_dtype_of(type))


def iinfo(type, /):  # noqa: A002
    return np.iinfo(_dtype_of(type))


def result_type(*arrays_and_dtypes):
    return np.result_type(*(a if isinstance(a, (builtins.bool, int, float, complex)) else _dtype_of(a)
                            for a in arrays_and_dtypes))


_KINDS = {"bool": "b", "signed integer": "i", "unsigned integer": "u", "integral": "iu",
          "real floating": "f", "complex floating": "c", "numeric": "iufc"}


def isdtype(dtype, kind):
    if isinstance(kind, tuple):
        return builtins.any(isdtype(dtype, k) for k in kind)
    dtype = np.dtype(dtype)
    if isinstance(kind, str):
        if kind not in _KINDS:
            raise ValueError(f"isdtype: unknown kind {kind!r}")
        return dtype.kind in _KINDS[kind]
    return dtype == np.dtype(kind)


# ------------------------------------------------------------------------------- creation
asarray = _c.asarray
from_dlpack = _c.from_dlpack


def _float_default(dtype):
    return np.float64 if dtype is None else dtype


def zeros(shape, *, dtype=None, device=None):
    return _c.zeros(shape, _float_default(dtype), device=device)


def ones(shape, *, dtype=None, device=None):
    return _c.ones(shape, _float_default(dtype), device=device)


def empty(shape, *, dtype=None, device=None):
    return _c.empty(shape, _float_default(dtype), device=device)


def full(shape, fill_value, *, dtype=None, device=None):
    if type(fill_value) is GradArray:          # a 0-d array as the fill value keeps its gradient
        dtype = dtype or fill_value.dtype
        return zeros(shape, dtype=dtype, device=device or fill_value.device) + fill_value.astype(dtype)
    return _c.full(shape, fill_value, dtype, device=device)


def arange(start, /, stop=None, step=1, *, dtype=None, device=None):
    if stop is None:
        start, stop = 0, start
    return _c.arange(start, stop, step, dtype, device=device)


def linspace(start, stop, /, num, *, dtype=None, device=None, endpoint=True):
    return _c.linspace(start, stop, num, endpoint, dtype, device=device)


def eye(n_rows, n_cols=None, /, *, k=0, dtype=None, device=None):
    return _c.eye(n_rows, n_cols, k, _float_default(dtype), device=device)


def _like(make):
    def like(x, /, *, dtype=None, device=None):
        return make(x, dtype, device=device)
    like.__name__ = make.__name__
    return like


zeros_like = _like(_c.zeros_like)
ones_like = _like(_c.ones_like)
empty_like = _like(_c.empty_like)


def full_like(x, /, fill_value, *, dtype=None, device=None):
    return _c.full_like(x, fill_value, dtype, device=device)


def meshgrid(*arrays, indexing="xy"):
    return list(np.meshgrid(*arrays, indexing=indexing))


def tril(x, /, *, k=0):
    return np.tril(x, k)


def triu(x, /, *, k=0):
    return np.triu(x, k)


# ------------------------------------------------------------------------------- elementwise
def _elementwise(np_func, name):
    def f(*args):
        return _ga(np_func(*args))
    f.__name__ = name
    f.__doc__ = f"Array API ``{name}``: ``np.{np_func.__name__}`` on GradArrays."
    return f


_ELEMENTWISE = {
    # the standard's name -> NumPy's function, where they differ
    "acos": np.arccos, "acosh": np.arccosh, "asin": np.arcsin, "asinh": np.arcsinh,
    "atan": np.arctan, "atan2": np.arctan2, "atanh": np.arctanh, "pow": np.power,
    "bitwise_invert": np.invert, "bitwise_left_shift": np.left_shift,
    "bitwise_right_shift": np.right_shift,
}
for _name in ("abs", "add", "bitwise_and", "bitwise_or", "bitwise_xor", "ceil", "conj", "copysign",
              "cos", "cosh", "divide", "equal", "exp", "expm1", "floor", "floor_divide", "greater",
              "greater_equal", "hypot", "imag", "isfinite", "isinf", "isnan", "less", "less_equal",
              "log", "log1p", "log2", "log10", "logaddexp", "logical_and", "logical_not",
              "logical_or", "logical_xor", "maximum", "minimum", "multiply", "negative",
              "nextafter", "not_equal", "positive", "real", "reciprocal", "remainder", "sign",
              "signbit", "sin", "sinh", "square", "sqrt", "subtract", "tan", "tanh", "trunc"):
    _ELEMENTWISE[_name] = getattr(np, _name)
for _name, _func in _ELEMENTWISE.items():
    globals()[_name] = _elementwise(_func, _name)
del _name, _func


def round(x, /):  # noqa: A001
    return _ga(np.round(x))


def clip(x, /, min=None, max=None):  # noqa: A002
    if min is None and max is None:
        return np.copy(x)
    return _ga(np.clip(x, min, max))


# ------------------------------------------------------------------------------- linear algebra
def matmul(x1, x2, /):
    return _ga(np.matmul(x1, x2))


def matrix_transpose(x, /):
    return np.swapaxes(x, -1, -2)


def tensordot(x1, x2, /, *, axes=2):
    return _ga(np.tensordot(x1, x2, axes=axes))


def vecdot(x1, x2, /, *, axis=-1):
    if axis != -1:       # np.vecdot contracts the last axis; its axis= keyword is a gufunc option
        x1 = np.moveaxis(x1, normalize_axis_index(axis, np.ndim(x1)), -1)
        x2 = np.moveaxis(x2, normalize_axis_index(axis, np.ndim(x2)), -1)
    return _ga(np.vecdot(x1, x2))


# ------------------------------------------------------------------------------- manipulation
def broadcast_arrays(*arrays):
    return list(np.broadcast_arrays(*arrays))


def broadcast_to(x, /, shape):
    return np.broadcast_to(x, shape)


def concat(arrays, /, *, axis=0):
    if axis is None:
        return np.concatenate([np.reshape(a, (-1,)) for a in arrays])
    return np.concatenate(list(arrays), axis=axis)


def expand_dims(x, /, axis=0):
    return np.expand_dims(x, axis)


def flip(x, /, *, axis=None):
    return np.flip(x, axis=axis)


def moveaxis(x, source, destination, /):
    return np.moveaxis(x, source, destination)


def permute_dims(x, /, axes):
    return np.transpose(x, axes)


def repeat(x, repeats, /, *, axis=None):
    return np.repeat(x, repeats, axis=axis)


def reshape(x, /, shape, *, copy=None):
    out = np.reshape(x, shape)
    return np.copy(out) if copy else out


def roll(x, /, shift, *, axis=None):
    return np.roll(x, shift, axis=axis)


def squeeze(x, /, axis):
    return np.squeeze(x, axis=axis)


def stack(arrays, /, *, axis=0):
    return np.stack(list(arrays), axis=axis)


def tile(x, repetitions, /):
    return np.tile(x, repetitions)


def unstack(x, /, *, axis=0):
    x = np.moveaxis(x, axis, 0) if axis != 0 else x
    return tuple(x[i] for i in range(x.shape[0]))


# ------------------------------------------------------------------------------- indexing, search
def take(x, indices, /, *, axis=None):
    return np.take(x, indices, axis=axis)


def take_along_axis(x, indices, /, *, axis=-1):
    return np.take_along_axis(x, indices, axis=axis)


def argmax(x, /, *, axis=None, keepdims=False):
    return _ga(np.argmax(x, axis=axis, keepdims=keepdims))


def argmin(x, /, *, axis=None, keepdims=False):
    return _ga(np.argmin(x, axis=axis, keepdims=keepdims))


def count_nonzero(x, /, *, axis=None, keepdims=False):
    return _ga(np.count_nonzero(x, axis=axis, keepdims=keepdims))


def nonzero(x, /):
    return _ga(tuple(np.nonzero(x)))


def searchsorted(x1, x2, /, *, side="left", sorter=None):
    return _ga(np.searchsorted(x1, x2, side=side, sorter=sorter))


def where(condition, x1, x2, /):
    return _ga(np.where(condition, x1, x2))


def unique_all(x, /):
    return np.unique_all(x)


def unique_counts(x, /):
    return np.unique_counts(x)


def unique_inverse(x, /):
    return np.unique_inverse(x)


def unique_values(x, /):
    return np.unique_values(x)


# ------------------------------------------------------------------------------- sorting
def argsort(x, /, *, axis=-1, descending=False, stable=True):
    if not descending:
        return np.argsort(x, axis=axis, kind="stable" if stable else None)
    # stable descending order: sort the reversed array ascending, then map indices back
    rev = np.argsort(np.flip(x, axis=axis), axis=axis, kind="stable" if stable else None)
    return (x.shape[axis] - 1) - np.flip(rev, axis=axis)


def sort(x, /, *, axis=-1, descending=False, stable=True):
    out = np.sort(x, axis=axis, kind="stable" if stable else None)
    return np.flip(out, axis=axis) if descending else out


# ------------------------------------------------------------------------------- statistics
def _reduction(np_func, name):
    def f(x, /, *, axis=None, keepdims=False):
        return _ga(np_func(x, axis=axis, keepdims=keepdims))
    f.__name__ = name
    return f


max = _reduction(np.max, "max")  # noqa: A001
min = _reduction(np.min, "min")  # noqa: A001
mean = _reduction(np.mean, "mean")
all = _reduction(np.all, "all")  # noqa: A001
any = _reduction(np.any, "any")  # noqa: A001


def sum(x, /, *, axis=None, dtype=None, keepdims=False):  # noqa: A001
    return _ga(np.sum(x, axis=axis, dtype=dtype, keepdims=keepdims))


def prod(x, /, *, axis=None, dtype=None, keepdims=False):
    return _ga(np.prod(x, axis=axis, dtype=dtype, keepdims=keepdims))


def std(x, /, *, axis=None, correction=0.0, keepdims=False):
    return _ga(np.std(x, axis=axis, ddof=correction, keepdims=keepdims))


def var(x, /, *, axis=None, correction=0.0, keepdims=False):
    return _ga(np.var(x, axis=axis, ddof=correction, keepdims=keepdims))


def _cumulative(np_func):
    def f(x, /, *, axis=None, dtype=None, include_initial=False):
        if axis is None:
            if x.ndim > 1:
                raise ValueError("axis must be given for arrays with more than one dimension")
            axis = 0
        out = np_func(x, axis=axis, dtype=dtype)
        if include_initial:       # prepend the empty sum (0) or empty product (1)
            first = [slice(None)] * out.ndim
            first[axis] = slice(0, 1)
            initial = (_c.zeros_like if np_func is np.cumsum else _c.ones_like)(out[tuple(first)])
            out = np.concatenate([initial, out], axis=axis)
        return out
    return f


cumulative_sum = _cumulative(np.cumsum)
cumulative_prod = _cumulative(np.cumprod)


def diff(x, /, *, axis=-1, n=1, prepend=None, append=None):
    kwargs = {}
    if prepend is not None:
        kwargs["prepend"] = prepend
    if append is not None:
        kwargs["append"] = append
    return np.diff(x, n=n, axis=axis, **kwargs)


# ------------------------------------------------------------------------------- inspection
class _Info:
    """What ``__array_namespace_info__()`` returns."""

    def capabilities(self):
        return {"boolean indexing": True, "data-dependent shapes": True, "max dimensions": 64}

    def default_device(self):
        return _backend.CPU

    def devices(self):
        devices = [_backend.CPU]
        try:
            import cupy
            devices += [_backend.Device(f"cuda:{i}") for i in range(cupy.cuda.runtime.getDeviceCount())]
        except Exception:      # no CuPy or no GPU
            pass
        return devices

    def default_dtypes(self, *, device=None):
        return {"real floating": float64, "complex floating": complex128, "integral": int64,
                "indexing": int64}

    def dtypes(self, *, device=None, kind=None):
        every = {"bool": bool, "int8": int8, "int16": int16, "int32": int32, "int64": int64,
                 "uint8": uint8, "uint16": uint16, "uint32": uint32, "uint64": uint64,
                 "float32": float32, "float64": float64, "complex64": complex64,
                 "complex128": complex128}
        if kind is None:
            return every
        return {k: v for k, v in every.items() if isdtype(v, kind)}


def __array_namespace_info__():
    return _Info()


# ------------------------------------------------------------------------------- subnamespaces


bind_upper(array_namespace=sys.modules[__name__])
