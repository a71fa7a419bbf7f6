"""GradArray's array API namespace (https://data-apis.org/array-api/): versions 2025.12 and 2024.12.

``GradArray.__array_namespace__()`` returns this module, so libraries written against the standard
(SciPy with ``SCIPY_ARRAY_API=1``, anything calling ``array_api_compat.array_namespace(x)``) compute
with GradArrays and keep the tape: ``scipy.special.logsumexp(x)`` on a tracked ``x`` can be
differentiated.

Every function calls the NumPy function of the same meaning on GradArrays, so recording goes through
the normal dispatch and the rules of ``gradarray.overrides``; this module only translates the
standard's names and signatures (``concat``, ``permute_dims``, ``pow``, ``acos``,
``std(correction=)``, ``sort(descending=)``, ...). Every function has the standard's exact
signature (names, positional-only and keyword-only markers, defaults): each is a real ``def``;
the elementwise ones come from two factories, one per arity (``f(x, /)`` and ``f(x1, x2, /)``).
Results are always GradArrays, also when NumPy returns a scalar or a plain array (e.g. all inputs
were Python scalars). Creation functions take ``device=`` ("cpu", "cuda", ...). ``linalg`` and
``fft`` are the standard's extensions (``_array_api_linalg``, ``_array_api_fft``: the standard's
signatures over ``gradarray.linalg`` and ``gradarray.fft``).

Versions: this module is the 2025.12 namespace (``__array_api_version__``), and what
``x.__array_namespace__()`` returns. ``x.__array_namespace__(api_version=v)`` accepts "2021.12"
to "2025.12"; for v up to "2024.12" it returns a copy of this namespace that differs where 2025.12
broke compatibility: ``broadcast_arrays``, ``meshgrid`` and ``info.devices()`` return lists, not
tuples, and ``__array_api_version__`` is "2024.12". Other versions raise ValueError.
"""
from __future__ import annotations

import builtins
import functools
import operator
import sys
import types
from typing import NamedTuple

import numpy as np

from . import _backend
from . import _creation as _c
from . import _array_api_fft as fft
from . import _array_api_linalg as linalg
from ._array import GradArray
from ._array_api_linalg import matmul, matrix_transpose, tensordot, vecdot  # noqa: F401
from ._tables import bind_upper

__array_api_version__ = "2025.12"
_OLDER_VERSIONS = ("2021.12", "2022.12", "2023.12", "2024.12")

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


class finfo_object(NamedTuple):
    """What ``finfo`` returns: the standard's fields, the floating-point ones as Python floats."""
    bits: int
    eps: float
    max: float
    min: float
    smallest_normal: float
    dtype: np.dtype


def finfo(type, /):  # noqa: A002
    fi = np.finfo(_dtype_of(type))      # complex64 -> float32's limits, dtype float32
    return finfo_object(int(fi.bits), float(fi.eps), float(fi.max), float(fi.min),
                        float(fi.smallest_normal), fi.dtype)


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
def asarray(obj, /, *, dtype=None, device=None, copy=None):
    return _c.asarray(obj, dtype=dtype, device=device, copy=copy)


def from_dlpack(x, /, *, device=None, copy=None):
    return _c.from_dlpack(x, device=device, copy=copy)


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
    like.__name__ = like.__qualname__ = make.__name__
    return like


zeros_like = _like(_c.zeros_like)
ones_like = _like(_c.ones_like)
empty_like = _like(_c.empty_like)


def full_like(x, /, fill_value, *, dtype=None, device=None):
    return _c.full_like(x, fill_value, dtype, device=device)


def meshgrid(*arrays, indexing="xy"):
    return tuple(np.meshgrid(*arrays, indexing=indexing))      # a list before 2025.12


def tril(x, /, *, k=0):
    return np.tril(x, k)


def triu(x, /, *, k=0):
    return np.triu(x, k)


# ------------------------------------------------------------------------------- elementwise
def _unary(np_func, name):
    def f(x, /):
        return _ga(np_func(x))
    return _named(f, name, np_func)


def _binary(np_func, name):
    def f(x1, x2, /):
        return _ga(np_func(x1, x2))
    return _named(f, name, np_func)


def _named(f, name, np_func):
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"Array API ``{name}``: ``np.{np_func.__name__}`` on GradArrays."
    return f


_RENAMED = {   # the standard's name -> NumPy's, where they differ
    "acos": "arccos", "acosh": "arccosh", "asin": "arcsin", "asinh": "arcsinh", "atan": "arctan",
    "atanh": "arctanh", "atan2": "arctan2", "pow": "power", "bitwise_invert": "invert",
    "bitwise_left_shift": "left_shift", "bitwise_right_shift": "right_shift",
}
_UNARY = ("abs", "acos", "acosh", "asin", "asinh", "atan", "atanh", "bitwise_invert", "ceil",
          "conj", "cos", "cosh", "exp", "expm1", "floor", "imag", "isfinite", "isinf", "isnan",
          "log", "log1p", "log2", "log10", "logical_not", "negative", "positive", "real",
          "reciprocal", "signbit", "sin", "sinh", "square", "sqrt", "tan", "tanh", "trunc")
_BINARY = ("add", "atan2", "bitwise_and", "bitwise_left_shift", "bitwise_or", "bitwise_right_shift",
           "bitwise_xor", "copysign", "divide", "equal", "floor_divide", "greater", "greater_equal",
           "hypot", "less", "less_equal", "logaddexp", "logical_and", "logical_or", "logical_xor",
           "maximum", "minimum", "multiply", "nextafter", "not_equal", "pow", "remainder",
           "subtract")
for _arity, _names in ((_unary, _UNARY), (_binary, _BINARY)):
    for _name in _names:
        globals()[_name] = _arity(getattr(np, _RENAMED.get(_name, _name)), _name)
del _arity, _names, _name


def sign(x, /):
    x = _ga(x)
    if x.dtype.kind != "c":
        return _ga(np.sign(x))
    # complex: x / |x| (0 at 0), smooth away from 0, so written with differentiable calls
    # (np.sign's rule is a step function's); the standard's special cases follow from the division
    magnitude = np.abs(x)
    zero = magnitude == 0
    return np.where(zero, 0, x / np.where(zero, 1, magnitude)).astype(x.dtype, copy=False)


def round(x, /):  # noqa: A001
    return _ga(np.round(x))


def clip(x, /, min=None, max=None):  # noqa: A002
    if min is None and max is None:
        return np.copy(x)
    return _ga(np.clip(x, min, max))


# ------------------------------------------------------------------------------- linear algebra
# matmul, matrix_transpose, tensordot, vecdot: imported from _array_api_linalg (also linalg.*)


# ------------------------------------------------------------------------------- manipulation
def broadcast_arrays(*arrays):
    return tuple(np.broadcast_arrays(*arrays))      # a list before 2025.12


def broadcast_shapes(*shapes):
    return tuple(np.broadcast_shapes(*shapes))      # () for no shapes; ValueError if incompatible


def broadcast_to(x, /, shape):
    return np.broadcast_to(x, shape)


def concat(arrays, /, *, axis=0):
    if axis is None:
        return np.concatenate([np.reshape(a, (-1,)) for a in arrays])
    return np.concatenate(list(arrays), axis=axis)


def expand_dims(x, /, axis):
    # a tuple (2025.12) counts its positions in the result, as np.expand_dims does
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
    return np.reshape(x, shape, copy=copy)      # copy=False raises where a copy is needed


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
    # x2 may be a Python scalar (2025.12): the result is then 0-d
    return _ga(np.searchsorted(x1, x2, side=side, sorter=sorter))


def where(condition, x1, x2, /):
    return _ga(np.where(condition, x1, x2))


def isin(x1, x2, /, *, invert=False):
    # 2025.12; x1 or x2 may be a Python scalar (a scalar x1 gives a 0-d result)
    return _ga(np.isin(x1, x2, invert=invert))


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
    f.__name__ = f.__qualname__ = name
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


def cumulative_sum(x, /, *, axis=None, dtype=None, include_initial=False):
    # np.cumulative_sum: axis=None needs a 1-D x; include_initial on an empty axis gives [0]
    return _ga(np.cumulative_sum(x, axis=_one_axis(axis), dtype=dtype,
                                 include_initial=include_initial))


def cumulative_prod(x, /, *, axis=None, dtype=None, include_initial=False):
    return _ga(np.cumulative_prod(x, axis=_one_axis(axis), dtype=dtype,
                                  include_initial=include_initial))


def _one_axis(axis):
    """An int (TypeError for a tuple, as np.cumsum), or None."""
    return axis if axis is None else operator.index(axis)


def diff(x, /, *, axis=-1, n=1, prepend=None, append=None):
    kwargs = {}
    if prepend is not None:
        kwargs["prepend"] = prepend
    if append is not None:
        kwargs["append"] = append
    return np.diff(x, n=n, axis=axis, **kwargs)


# ------------------------------------------------------------------------------- inspection
class _Info:
    """What ``__array_namespace_info__()`` returns; ``sequence``: the type ``devices()`` returns
    (tuple from 2025.12 on, list before)."""

    def __init__(self, sequence=tuple):
        self._sequence = sequence

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
        return self._sequence(devices)

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


# ------------------------------------------------------------------------------- versions
def _broadcast_arrays_list(*arrays):
    return list(broadcast_arrays(*arrays))


def _meshgrid_list(*arrays, indexing="xy"):
    return list(meshgrid(*arrays, indexing=indexing))


def _info_with_lists():
    return _Info(sequence=list)


_FORMS_2024_12 = {"broadcast_arrays": _broadcast_arrays_list, "meshgrid": _meshgrid_list,
                  "__array_namespace_info__": _info_with_lists}
for _name, _func in _FORMS_2024_12.items():
    _func.__name__ = _func.__qualname__ = _name
del _name, _func


@functools.cache
def _namespace_2024_12():
    """The namespace for api_version "2021.12" to "2024.12": this one, except what 2025.12 changed
    from lists to tuples. Built on first use, so that attributes other modules add to this namespace
    after import (``special``) are in it too."""
    ns = types.ModuleType(f"{__name__}[2024.12]", __doc__)
    ns.__dict__.update((k, v) for k, v in globals().items()
                       if not (k.startswith("__") and k.endswith("__")))
    ns.__dict__.update(_FORMS_2024_12)
    ns.__array_api_version__ = "2024.12"
    return ns


def _namespace(api_version=None):
    """``GradArray.__array_namespace__(api_version=...)``."""
    if api_version is None or api_version == __array_api_version__:
        return sys.modules[__name__]
    if api_version in _OLDER_VERSIONS:
        return _namespace_2024_12()
    raise ValueError(f"gradarray supports the array API versions {', '.join(_OLDER_VERSIONS)} and "
                     f"{__array_api_version__}, not {api_version!r}")


bind_upper(array_namespace=_namespace)
