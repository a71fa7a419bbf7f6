"""A stand-in device array for CI: behaves like ``cupy.ndarray`` as far as gradarray can tell.

``StandinArray`` wraps a NumPy array (the "device memory") and copies CuPy's rules:

- no implicit device -> host copy: ``__array__`` raises TypeError, so ``np.asarray(x)`` fails;
  ``x.get()`` is the explicit copy;
- ``np.*`` calls dispatch through ``__array_ufunc__`` / ``__array_function__`` and return stand-in
  arrays (NumPy scalars come back as 0-d arrays, as CuPy returns them);
- mixing with a plain NumPy array that is not 0-d raises TypeError (CuPy: "Unsupported type
  <class 'numpy.ndarray'>"), except where CuPy copies host data to the device itself: creation
  functions called with ``like=``, index arrays, and values assigned with ``x[...] = host``.

So a derivative rule that calls ``np.asarray``, ``float()`` on an array, or builds a host array with
``np.zeros(shape)`` and mixes it with device data fails loudly here exactly as it would on a GPU.
Functions are computed by NumPy on the wrapped data: that models CuPy's own implementation of the
same function. What CuPy 13 refuses although NumPy accepts it (missing functions and ufuncs, missing
keywords, ufunc-method limits, 0-d host arrays in ufuncs, the ``zeros_like(shape=())`` quirk) is
refused here the same way: see the table "CuPy's limits" below.

``register()`` teaches gradarray the device type ``"standin"`` (``ga.zeros(3, device="standin")``).
"""
from __future__ import annotations

import inspect
import types

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

__all__ = ["StandinArray", "StandinDevice", "namespace", "register", "asarray"]


class StandinDevice:
    """Like ``cupy.cuda.Device``: the only thing gradarray reads is ``.id``."""

    __slots__ = ("id",)

    def __init__(self, id=0):
        self.id = id

    def __eq__(self, other):
        return isinstance(other, StandinDevice) and other.id == self.id

    def __hash__(self):
        return hash(("standin", self.id))

    def __repr__(self):
        return f"<StandinDevice {self.id}>"


_DEVICE = StandinDevice(0)

# NumPy functions CuPy also runs with host data as input: they copy it to the device (like= calls).
_CREATION = {np.array, np.asarray, np.asanyarray, np.ascontiguousarray, np.asfortranarray,
             np.require, np.zeros, np.ones, np.empty, np.full, np.arange, np.linspace, np.logspace,
             np.eye, np.identity, np.tri, np.frombuffer, np.fromiter, np.fromfunction,
             np.fromstring, np.loadtxt, np.genfromtxt}


# ==================================================================================================
# CuPy's limits: what CuPy 13.x refuses although NumPy accepts it, each entry as verified against
# CuPy 13.x's source by the project's CuPy-compatibility review (quoted per entry). The stand-in refuses the same things, with the same kind of error, so that code
# relying on them fails in CI rather than on a GPU. Only verified limits belong here.
# ==================================================================================================

# NumPy ufuncs CuPy has no namesake of. CuPy's __array_ufunc__ looks ``ufunc.__name__`` up in
# ``cupy`` and ``cupyx.scipy.special``; a miss returns NotImplemented, so NumPy raises TypeError.
# (Review: "CuPy 13.6 lacks ... vecdot, matvec, vecmat ... spacing, bitwise_count, isnat".)
CUPY_LACKS_UFUNCS = frozenset({"spacing", "bitwise_count", "isnat", "matvec", "vecmat", "vecdot"})


def _cupy_ufunc_names():
    """The ufunc names the lookup finds: NumPy's ufuncs but the ones above, and scipy.special's
    public ufunc names (which of those cupyx.scipy.special lacks was not verified, so all are
    allowed; a private name such as sc.zeta's ``_zeta`` is not found, review item F)."""
    names = {f.__name__ for f in vars(np).values() if isinstance(f, np.ufunc)} - CUPY_LACKS_UFUNCS
    try:
        import scipy.special as sc
    except ImportError:
        return frozenset(names)
    return frozenset(names | {n for n, f in vars(sc).items()
                              if isinstance(f, np.ufunc) and not n.startswith("_")})


CUPY_UFUNC_NAMES = _cupy_ufunc_names()

# CuPy's __array_ufunc__ accepts device arrays and Python/NumPy scalars as ufunc inputs: a 0-d
# numpy.ndarray returns NotImplemented (TypeError), except in these six comparisons, where CuPy
# turns it into a scalar first (review: "NOT 0-d numpy.ndarray, except in the 6 comparison ufuncs").
# A tuple, list or slice argument also returns NotImplemented (review, item A).
CUPY_0D_HOST_OK = frozenset({"greater", "greater_equal", "less", "less_equal", "equal", "not_equal"})

# Ufunc methods CuPy implements, by ufunc name; others raise NotImplementedError as CuPy's do
# (review: "reduce/accumulate only for add & multiply; reduceat only add; `at` only for add,
# subtract, maximum, minimum, bitwise and/or/xor").
CUPY_UFUNC_METHODS = {
    "reduce": frozenset({"add", "multiply"}),
    "accumulate": frozenset({"add", "multiply"}),
    "reduceat": frozenset({"add"}),
    "at": frozenset({"add", "subtract", "maximum", "minimum", "bitwise_and", "bitwise_or",
                     "bitwise_xor"}),
}

# Data types cupy.add.at accepts (review: "`add.at` dtypes only int32, float16, float32, float64,
# uint32, uint64 (no complex)"); others raise TypeError.
CUPY_ADD_AT_DTYPES = frozenset(np.dtype(t) for t in (np.int32, np.float16, np.float32, np.float64,
                                                      np.uint32, np.uint64))

# NumPy functions CuPy 13.6 lacks, as CuPy's __array_function__ looks them up: by the function's
# ``__module__`` and ``__name__`` (numpy.<sub>.<name> -> cupy.<sub>.<name>); a miss returns
# NotImplemented, so NumPy raises TypeError. Aliases whose ``__name__`` CuPy has work on CuPy and are
# not listed: np.concat (concatenate), np.permute_dims (transpose); np.pow is a ufunc ("power").
CUPY_LACKS_FUNCTIONS = frozenset(
    [("numpy", name) for name in """
        insert geomspace nanquantile nanpercentile cumulative_sum cumulative_prod unstack astype
        matrix_transpose unique_values unique_counts unique_inverse unique_all trapezoid block
        apply_over_axes einsum_path polyder polyint polydiv""".split()]
    + [("numpy.linalg", name) for name in """
        vector_norm matrix_norm svdvals trace outer tensordot vecdot matmul diagonal cross
        matrix_transpose cond multi_dot""".split()])

# Keywords (or positional parameters of that name) CuPy's signature lacks: CuPy's
# __array_function__ passes the caller's keywords on, so they raise TypeError. NumPy hands over
# exactly what the caller wrote, so even a default value passed explicitly (where=True) fails.
# Review: "cupy.sort(a, axis, kind) only; cupy.argsort(a, axis, kind); cupy.partition(a, kth,
# axis); cupy.argpartition(a, kth, axis); cupy.unique has no `sorted=`; cupy.sum/mean/var/std have
# no where/initial/correction/mean kwargs". The nan-reductions (not in the review's quote) follow
# CuPy 13's signatures nansum/nanmean(a, axis, dtype, out, keepdims) and
# nanvar/nanstd(a, axis, dtype, out, ddof, keepdims).
CUPY_LACKS_KEYWORDS = {
    np.sort: ("order", "stable"),
    np.argsort: ("order", "stable"),
    np.partition: ("kind", "order"),
    np.argpartition: ("kind", "order"),
    np.unique: ("sorted",),
    np.sum: ("initial", "where"),
    np.mean: ("where",),
    np.var: ("where", "mean", "correction"),
    np.std: ("where", "mean", "correction"),
    np.nansum: ("initial", "where"),
    np.nanmean: ("where",),
    np.nanvar: ("where", "mean", "correction"),
    np.nanstd: ("where", "mean", "correction"),
}

# cupy.sort: "kind: None or 'stable'" (review); another value raises NotImplementedError.
CUPY_SORT_KINDS = (None, "stable")

# cupy.zeros_like & co. use ``shape if shape else a.shape``: shape=() gives ``a``'s own shape
# (review item H).
CUPY_LIKE_SHAPE_QUIRK = frozenset({np.zeros_like, np.ones_like, np.empty_like, np.full_like})


def _cupy_call_check(func, args, kwargs):
    """Raise as CuPy would for a NumPy function called on device arrays; returns the keyword
    arguments to use (the like-functions' shape quirk rewrites ``shape``)."""
    if (getattr(func, "__module__", None), getattr(func, "__name__", None)) in CUPY_LACKS_FUNCTIONS:
        return NotImplemented
    lacks = CUPY_LACKS_KEYWORDS.get(func)
    if lacks or func is np.sort or func in CUPY_LIKE_SHAPE_QUIRK:
        bound = inspect.signature(func).bind(*args, **kwargs).arguments
        for name in lacks or ():
            if name in bound:
                raise TypeError(f"{func.__name__}() got an unexpected keyword argument {name!r} "
                                "(stand-in device array: CuPy's signature has no such parameter)")
        if func is np.sort and bound.get("kind") not in CUPY_SORT_KINDS:
            raise NotImplementedError(f"kind={bound['kind']!r} is not supported by cupy.sort "
                                      "(stand-in device array)")
        if func in CUPY_LIKE_SHAPE_QUIRK and "shape" in kwargs and not kwargs["shape"]:
            kwargs = dict(kwargs, shape=None)          # (shape passed positionally: not modelled)
    return kwargs


def _cupy_ufunc_check(ufunc, method, inputs):
    """NotImplemented (-> TypeError) or an exception where CuPy's __array_ufunc__ refuses; else the
    inputs, with 0-d host arrays of the comparisons turned into scalars as CuPy does."""
    name = ufunc.__name__
    if name not in CUPY_UFUNC_NAMES:
        return NotImplemented
    checked = []
    for x in inputs:
        if isinstance(x, (tuple, list, slice)):
            return NotImplemented
        if isinstance(x, np.ndarray):
            if x.ndim != 0:
                raise _unsupported(x)
            if name not in CUPY_0D_HOST_OK:
                return NotImplemented
            x = x.item()
        checked.append(x)
    if method in CUPY_UFUNC_METHODS and name not in CUPY_UFUNC_METHODS[method]:
        raise NotImplementedError(f"`{name}.{method}` is not supported yet (stand-in device array, "
                                  "like CuPy)")
    if method == "at" and name == "add":
        _check_add_at_dtype(inputs[0])
    return tuple(checked)


def _check_add_at_dtype(a):
    if type(a) is StandinArray and a.dtype not in CUPY_ADD_AT_DTYPES:
        raise TypeError(f"add.at does not support dtype {a.dtype} (stand-in device array, like "
                        "CuPy: int32, float16, float32, float64, uint32, uint64 only)")


# ndarray methods CuPy arrays have too; they run on the wrapped data and re-wrap the result.
_METHODS = frozenset("""
    all any argmax argmin argpartition argsort astype choose clip compress conj conjugate copy cumprod
    cumsum diagonal dot fill flatten max mean min nonzero partition prod ptp put ravel repeat reshape
    round searchsorted sort squeeze std sum swapaxes take trace transpose var view
""".split())


def _unsupported(obj):
    return TypeError(f"Unsupported type {type(obj)} (the stand-in device array, like CuPy, does not "
                     "mix with host NumPy arrays: move them to the device first)")


def _unwrap(obj, strict):
    """StandinArray -> its NumPy data, recursively through lists and tuples.

    ``strict``: a non-0-d NumPy array among the arguments is an error (host data mixed with device
    data). NumPy scalars and 0-d arrays are fine, as in CuPy.
    """
    if type(obj) is StandinArray:
        return obj._a
    if isinstance(obj, np.ndarray):
        if strict and obj.ndim != 0:
            raise _unsupported(obj)
        return obj
    if type(obj) is tuple or type(obj) is list:
        return type(obj)(_unwrap(o, strict) for o in obj)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_unwrap(o, strict) for o in obj))
    return obj


def _wrap(result):
    """NumPy results -> StandinArrays, recursively; NumPy scalars become 0-d arrays (CuPy style)."""
    if isinstance(result, np.ndarray):
        return StandinArray(result)
    if isinstance(result, np.generic) and isinstance(result, (np.bool_, np.number)):
        return StandinArray(np.asarray(result))
    if type(result) is tuple or type(result) is list:
        return type(result)(_wrap(r) for r in result)
    if isinstance(result, tuple) and hasattr(result, "_fields"):
        return type(result)(*(_wrap(r) for r in result))
    return result


def _foreign(obj):
    """Another array library's type (e.g. GradArray): defer to it with NotImplemented."""
    t = type(obj)
    return (t is not StandinArray and not isinstance(obj, (np.ndarray, np.generic))
            and (hasattr(t, "__array_ufunc__") or hasattr(t, "__array_function__")))


def _index(idx):
    """Index arrays may be stand-ins or host NumPy arrays (CuPy copies the latter to the device)."""
    if type(idx) is tuple:
        return tuple(_index(i) for i in idx)
    if type(idx) is StandinArray:
        return idx._a
    if _foreign(idx):
        raise TypeError(f"the stand-in device array cannot be indexed with {type(idx).__name__}")
    return idx


class StandinArray(NDArrayOperatorsMixin):
    """A NumPy array pretending to live on a device (see the module docstring)."""

    __slots__ = ("_a",)

    def __init__(self, a):
        if not isinstance(a, np.ndarray):
            raise TypeError("StandinArray wraps a numpy.ndarray; use standin.asarray(host)")
        self._a = a

    # ------------------------------------------------------------------ attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: self._a.flags)
    device = property(lambda self: _DEVICE)
    T = property(lambda self: StandinArray(self._a.T))
    mT = property(lambda self: StandinArray(np.swapaxes(self._a, -1, -2)))

    @property
    def real(self):
        return StandinArray(self._a.real)

    @real.setter
    def real(self, value):
        self._a.real = _unwrap(value, strict=True)

    @property
    def imag(self):
        return StandinArray(self._a.imag)

    @imag.setter
    def imag(self, value):
        self._a.imag = _unwrap(value, strict=True)

    def __getattr__(self, name):
        if name in _METHODS:
            method = getattr(self._a, name)

            def call(*args, **kwargs):
                return _wrap(method(*_unwrap(args, True), **{k: _unwrap(v, True)
                                                                 for k, v in kwargs.items()}))
            call.__name__ = name
            return call
        raise AttributeError(f"'StandinArray' object has no attribute {name!r}")

    # ------------------------------------------------------------------ host transfer
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to "
                        "construct a NumPy array explicitly. (stand-in device array, like CuPy)")

    def get(self):
        """Explicit device -> host copy."""
        return self._a.copy()

    def item(self, *args):
        return self._a.item(*args)

    def tolist(self):
        return self._a.tolist()

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __complex__(self):
        return complex(self._a)

    def __index__(self):
        return self._a.__index__()

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        for i in range(self._a.shape[0]):
            yield _wrap(self._a[i])

    def __repr__(self):
        return "standin_" + repr(self._a)

    def __str__(self):
        return str(self._a)

    def __reduce__(self):
        return (_from_host, (self._a.copy(),))

    __hash__ = None

    # ------------------------------------------------------------------ indexing
    def __getitem__(self, idx):
        return _wrap(self._a[_index(idx)])

    def __setitem__(self, idx, value):
        # CuPy copies a host value to the device; other array types are refused
        if _foreign(value):
            raise TypeError(f"cannot assign {type(value).__name__} into a stand-in device array")
        self._a[_index(idx)] = _unwrap(value, strict=False)

    # ------------------------------------------------------------------ NumPy protocols
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        for x in inputs + tuple(kwargs.get("out", ()) or ()):
            if _foreign(x):
                return NotImplemented
        inputs = _cupy_ufunc_check(ufunc, method, inputs)
        if inputs is NotImplemented:
            return NotImplemented
        raw_inputs = _unwrap(inputs, strict=True)
        raw_kwargs = {k: _unwrap(v, strict=True) for k, v in kwargs.items()}
        result = getattr(ufunc, method)(*raw_inputs, **raw_kwargs)
        out = kwargs.get("out")
        if out is not None:
            # written in place: hand back the caller's own out arrays
            if isinstance(result, tuple):
                return tuple(o if r is _unwrap(o, False) else _wrap(r) for o, r in zip(out, result))
            if len(out) == 1 and result is _unwrap(out[0], False):
                return out[0]
        return _wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        for t in types:
            if not (issubclass(t, StandinArray) or issubclass(t, np.ndarray)):
                return NotImplemented
        kwargs = _cupy_call_check(func, args, kwargs)
        if kwargs is NotImplemented:
            return NotImplemented
        strict = func not in _CREATION
        raw_args = _unwrap(args, strict)
        raw_kwargs = {k: _unwrap(v, strict) for k, v in kwargs.items()}
        result = func(*raw_args, **raw_kwargs)
        out = kwargs.get("out")
        if type(out) is StandinArray and result is out._a:
            return out
        return _wrap(result)


# ----------------------------------------------------------------------------------------------
# a CuPy-like namespace for creation on the device
# ----------------------------------------------------------------------------------------------
def _from_host(host):
    return StandinArray(np.array(host, copy=True))


def asarray(obj, dtype=None):
    if type(obj) is StandinArray:
        return obj if dtype is None or obj.dtype == np.dtype(dtype) else obj.astype(dtype)
    return StandinArray(np.array(obj, dtype=dtype, copy=True))


def _creator(name):
    fn = getattr(np, name)

    def create(*args, **kwargs):
        if fn in CUPY_LIKE_SHAPE_QUIRK:
            kwargs = _cupy_call_check(fn, args, kwargs)
        return _wrap(fn(*_unwrap(args, True), **{k: _unwrap(v, True) for k, v in kwargs.items()}))
    create.__name__ = name
    return create


class _DeviceUfunc:
    """``cupy.add`` & co. called directly (not through ``np.add``): ``.at`` takes any index that
    ``a[index]`` takes, tuples and host index arrays included, as ``cupy.add.at`` does."""

    def __init__(self, ufunc):
        self.ufunc = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        return self.ufunc(*args, **kwargs)       # dispatches to StandinArray.__array_ufunc__

    def at(self, a, indices, b=None):
        if type(a) is not StandinArray:
            raise TypeError(f"{self.__name__}.at: the target must be a stand-in device array")
        if self.__name__ not in CUPY_UFUNC_METHODS["at"]:
            raise NotImplementedError(f"`{self.__name__}.at` is not supported yet (stand-in)")
        if self.__name__ == "add":
            _check_add_at_dtype(a)
        if _foreign(b):
            raise TypeError(f"{self.__name__}.at: cannot take {type(b).__name__} values")
        self.ufunc.at(a._a, _index(indices), *(() if b is None else (_unwrap(b, False),)))


namespace = types.SimpleNamespace(
    ndarray=StandinArray, asarray=asarray, array=asarray,
    **{name: _creator(name) for name in (
        "zeros", "ones", "empty", "full", "arange", "linspace", "eye", "identity", "zeros_like",
        "ones_like", "empty_like", "full_like")},
    **{name: _DeviceUfunc(getattr(np, name)) for name in CUPY_UFUNC_METHODS["at"]},
)


def register():
    """Register the stand-in with gradarray as device type ``"standin"`` (idempotent)."""
    import gradarray as ga
    ga.register_backend(
        "standin", StandinArray, namespace,
        device_of=lambda raw: ga.Device(f"standin:{raw.device.id}"),
        from_host=lambda host, device: _from_host(host),
        to_host=lambda raw: raw.get(),
    )
