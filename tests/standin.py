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
same function. What the installed CuPy refuses although NumPy accepts it (missing functions and
ufuncs, missing keywords, ufunc loops and methods, 0-d host arrays in ufuncs, the
``zeros_like(shape=())`` quirk) is refused here the same way: the oracle (gradarray/_cupy_oracle.py)
derives it from the ``cupy``/``cupyx`` modules; see "CuPy's limits" below.

``register()`` teaches gradarray the device type ``"standin"`` (``ga.zeros(3, device="standin")``).
"""
from __future__ import annotations

import contextlib
import inspect
import os
import types

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from gradarray._cupy_oracle import (UFUNC_METHODS, CupyOracle, cupy_oracle, numpy_callables,
                                    ufunc_names)

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
# CuPy's limits: what the installed CuPy refuses although NumPy accepts it, derived from the ``cupy``
# and ``cupyx`` modules by gradarray's oracle (gradarray/_cupy_oracle.py: names, signatures, ufunc
# keywords, loops and methods; importing CuPy needs no GPU). Without CuPy, the oracle is read from
# the snapshot tests/cupy_api_snapshot.json (test_cupy_oracle.py checks it against the live one).
# The stand-in refuses the same things, with the same kind of error, so that code relying on them
# fails in CI rather than on a GPU. The few rules below marked "not introspectable" are behaviour
# inside CuPy's functions, read from CuPy 14.2's sources.
# ==================================================================================================
SNAPSHOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cupy_api_snapshot.json")
ORACLE = cupy_oracle() or CupyOracle.from_snapshot(SNAPSHOT)

# Every backend call the stand-in sees, while a test collects them (``recording()``): tuples
# ("function", numpy function, keyword names), ("ufunc", ufunc, method, keyword names),
# ("namespace", name, keyword names). tests/test_cupy_oracle.py checks each against the oracle.
_RECORDS = []


@contextlib.contextmanager
def recording():
    """Collect the backend calls made on stand-in data inside the block (a list of records)."""
    records = []
    _RECORDS.append(records)
    try:
        yield records
    finally:
        _RECORDS.remove(records)


def _record(*entry):
    for records in _RECORDS:
        records.append(entry)


def _derived_tables():
    """The oracle's answers as tables, for the tests that read them."""
    ufuncs = sorted({f.__name__ for f in vars(np).values() if isinstance(f, np.ufunc)})
    found = {n for n in ufunc_names() if ORACLE.ufunc(n) is not None}
    methods = {m: frozenset(n for n in ufuncs if n in found and m in ORACLE.ufunc(n).methods)
               for m in UFUNC_METHODS}
    lacks = frozenset((f.__module__, f.__name__) for f in numpy_callables()
                      if ORACLE.function(f) is None)
    keywords = {f: ORACLE.missing_keywords(f) for f in numpy_callables()}
    return (frozenset(n for n in ufuncs if n not in found), frozenset(found), methods, lacks,
            {f: k for f, k in keywords.items() if k})


# CUPY_LACKS_UFUNCS: NumPy ufuncs without a namesake in cupy or cupyx.scipy.special (CuPy's
# __array_ufunc__ returns NotImplemented, so NumPy raises TypeError). CUPY_UFUNC_NAMES: the ufunc
# names the lookup finds (NumPy's and scipy.special's). CUPY_UFUNC_METHODS: {method: NumPy ufunc
# names whose CuPy namesake implements it}. CUPY_LACKS_FUNCTIONS: (module, name) of the NumPy
# functions __array_function__ does not find. CUPY_LACKS_KEYWORDS: {NumPy function: its keywords
# CuPy's signature lacks} (NumPy hands over what the caller wrote, so where=True fails too).
(CUPY_LACKS_UFUNCS, CUPY_UFUNC_NAMES, CUPY_UFUNC_METHODS, CUPY_LACKS_FUNCTIONS,
 CUPY_LACKS_KEYWORDS) = _derived_tables()

# Not introspectable (CuPy 14.2's core.pyx, __array_ufunc__): ufunc inputs may be device arrays,
# scalars or numpy.ndarray; a tuple, list or slice returns NotImplemented; a numpy.ndarray reaches
# CuPy's kernel, which refuses it (TypeError), except a 0-d one in these six comparisons, which
# CuPy turns into a scalar first.
CUPY_0D_HOST_OK = frozenset({"greater", "greater_equal", "less", "less_equal", "equal", "not_equal"})

# Not introspectable (CuPy 14.2's _routines_indexing.pyx, _scatter_op_single): the data types each
# ``ufunc.at`` takes; others raise TypeError.
_AT_INTS = (np.int32, np.int64, np.uint32, np.uint64)
CUPY_AT_DTYPES = {name: frozenset(np.dtype(t) for t in dtypes) for name, dtypes in {
    "add": _AT_INTS + (np.float16, np.float32, np.float64),
    "subtract": (np.int32, np.uint32),
    "maximum": _AT_INTS + (np.float32, np.float64),
    "minimum": _AT_INTS + (np.float32, np.float64),
    "bitwise_and": _AT_INTS, "bitwise_or": _AT_INTS, "bitwise_xor": _AT_INTS}.items()}

# Not introspectable (cupy/_sorting/sort.py): cupy.sort takes kind None or 'stable' only, another
# value raises NotImplementedError.
CUPY_SORT_KINDS = (None, "stable")

# Not introspectable (cupy/_statistics/histogram.py): cupy.histogram takes integer and array bins
# only; a string (an estimator such as "auto") raises NotImplementedError.
CUPY_INT_OR_ARRAY_BINS = frozenset({np.histogram})

# Not introspectable (cupy/_creation/basic.py): cupy.zeros_like & co. use ``shape if shape else
# a.shape``, so shape=() gives ``a``'s own shape.
CUPY_LIKE_SHAPE_QUIRK = frozenset({np.zeros_like, np.ones_like, np.empty_like, np.full_like})


def _cupy_call_check(func, args, kwargs):
    """Raise as CuPy would for a NumPy function called on device arrays; returns the keyword
    arguments to use (the like-functions' shape quirk rewrites ``shape``)."""
    _record("function", func, tuple(sorted(kwargs)))
    error = ORACLE.check_function_call(func, args, kwargs)
    if error is NotImplemented:
        return NotImplemented
    if error is not None:
        raise TypeError(f"{error} (stand-in device array, like CuPy {ORACLE.version})")
    if func is np.sort or func in CUPY_LIKE_SHAPE_QUIRK or func in CUPY_INT_OR_ARRAY_BINS:
        bound = inspect.signature(func).bind(*args, **kwargs).arguments
        if func in CUPY_INT_OR_ARRAY_BINS and isinstance(bound.get("bins"), str):
            raise NotImplementedError("only integer and array bins are implemented (stand-in "
                                      "device array, like cupy.histogram)")
        if func is np.sort and bound.get("kind") not in CUPY_SORT_KINDS:
            raise NotImplementedError(f"kind={bound['kind']!r} is not supported by cupy.sort "
                                      "(stand-in device array)")
        if func in CUPY_LIKE_SHAPE_QUIRK and "shape" in kwargs and not kwargs["shape"]:
            kwargs = dict(kwargs, shape=None)          # (shape passed positionally: not modelled)
    return kwargs


def _cupy_ufunc_check(ufunc, method, inputs, kwargs):
    """NotImplemented (-> TypeError) or an exception where CuPy's __array_ufunc__ refuses; else the
    inputs, with 0-d host arrays of the comparisons turned into scalars as CuPy does."""
    name = ufunc.__name__
    _record("ufunc", ufunc, method, tuple(sorted(kwargs)))
    if ORACLE.ufunc(name) is None:
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
    if "out" in kwargs and len(kwargs["out"]) != 1:     # core.pyx: one out array only
        raise ValueError("The 'out' parameter must have exactly one array value (stand-in, like "
                         "CuPy)")
    plain = {k: v for k, v in kwargs.items() if k != "out"}
    error = ORACLE.check_ufunc_call(ufunc, method, tuple(checked), plain)
    if error is NotImplemented:
        return NotImplemented
    if error is not None:
        raise type(error)(f"{error} (stand-in device array, like CuPy {ORACLE.version})")
    if method == "at":
        _check_at_dtype(name, inputs[0])
    return tuple(checked)


def _check_at_dtype(name, a):
    if type(a) is StandinArray and a.dtype not in CUPY_AT_DTYPES[name]:
        raise TypeError(f"cupy.{name}.at only supports "
                        f"{', '.join(sorted(str(d) for d in CUPY_AT_DTYPES[name]))} as data type "
                        f"(stand-in device array), not {a.dtype}")


# ndarray methods CuPy arrays have too (derived: cupy.ndarray's public methods that numpy.ndarray
# has); they run on the wrapped data and re-wrap the result.
_METHODS = frozenset(n for n in ORACLE.ndarray_methods if callable(getattr(np.ndarray, n, None)))


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
        inputs = _cupy_ufunc_check(ufunc, method, inputs, kwargs)
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
    _record("namespace", "asarray", ("dtype",) if dtype is not None else ())
    if type(obj) is StandinArray:
        return obj if dtype is None or obj.dtype == np.dtype(dtype) else obj.astype(dtype)
    return StandinArray(np.array(obj, dtype=dtype, copy=True))


def _creator(name):
    fn = getattr(np, name)

    def create(*args, **kwargs):
        _record("namespace", name, tuple(sorted(kwargs)))
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
        _record("namespace", f"{self.__name__}.at", ())
        if self.__name__ not in CUPY_UFUNC_METHODS["at"]:
            raise NotImplementedError(f"`{self.__name__}.at` is not supported yet (stand-in)")
        _check_at_dtype(self.__name__, a)
        if _foreign(b):
            raise TypeError(f"{self.__name__}.at: cannot take {type(b).__name__} values")
        self.ufunc.at(a._a, _index(indices), *(() if b is None else (_unwrap(b, False),)))


class _Namespace(types.SimpleNamespace):
    """The stand-in's ``cupy`` (``cupy.linalg``, ``cupy.fft``): the creation functions and ufuncs
    above; any other name exists exactly when the oracle says CuPy has it (the NumPy function,
    which dispatches to the stand-in), so ``hasattr(namespace, "insert")`` answers as CuPy would."""

    def __getattr__(self, name):
        module = vars(self).get("_module", np)
        target = getattr(module, name, None) if not name.startswith("_") else None
        if not callable(target) or (ORACLE.ufunc(name) if isinstance(target, np.ufunc)
                                    else ORACLE.function(target)) is None:
            raise AttributeError(f"CuPy {ORACLE.version} has no {module.__name__}.{name} (stand-in)")

        def call(*args, **kwargs):
            _record("namespace", f"{module.__name__}.{name}", tuple(sorted(kwargs)))
            return target(*args, **kwargs)
        call.__name__ = name
        return call


def fuse(fn=None, *, kernel_name=None):
    """``cupy.fuse``: here the function runs as it is, on stand-in arrays (CuPy compiles it into
    one kernel). Like CuPy's fused kernels, it takes device arrays and scalars only, no keywords."""
    if fn is None:
        return lambda f: fuse(f, kernel_name=kernel_name)

    def fused(*args):
        _record("namespace", "fuse", ())
        for a in args:
            if not isinstance(a, (StandinArray, bool, int, float, complex, np.generic)):
                raise TypeError(f"cupy.fuse: cannot take an argument of type {type(a).__name__}")
        out = fn(*args)
        if type(out) is not tuple:
            return out
        # CuPy's fused kernels give every output the broadcast shape of all the arrays
        # (cupy/cupy#8381): an output of another shape comes back broadcast
        shape = np.broadcast_shapes(*(a.shape for a in args + out if isinstance(a, StandinArray)))
        return tuple(o if o.shape == shape else _wrap(np.array(np.broadcast_to(o._a, shape)))
                     for o in out)
    fused.__name__ = kernel_name or fn.__name__
    return fused


class _Special:
    """The stand-in's ``cupyx.scipy.special``: exactly the names the oracle finds there, each
    computing SciPy's function of that name on the device data (raw stand-in arrays only, as a
    cupyx ufunc takes no GradArray)."""

    def __getattr__(self, name):
        if name not in ORACLE.special_names:
            raise AttributeError(f"cupyx.scipy.special {ORACLE.version} has no {name} (stand-in)")
        import scipy.special
        import scipy.special._ufuncs as ufuncs
        func = ufuncs._zeta if name == "zeta" else getattr(scipy.special, name)   # Hurwitz zeta

        def call(*args, **kwargs):
            _record("namespace", f"cupyx.scipy.special.{name}", tuple(sorted(kwargs)))
            if any(_foreign(a) for a in args):
                raise TypeError(f"cupyx.scipy.special.{name}: unsupported argument type (stand-in)")
            return _wrap(func(*_unwrap(args, True), **kwargs))
        call.__name__ = name
        return call


namespace = _Namespace(
    ndarray=StandinArray, asarray=asarray, array=asarray, fuse=fuse,
    linalg=_Namespace(_module=np.linalg), fft=_Namespace(_module=np.fft),
    **{name: _creator(name) for name in (
        "zeros", "ones", "empty", "full", "arange", "linspace", "eye", "identity", "zeros_like",
        "ones_like", "empty_like", "full_like")},
    **{name: _DeviceUfunc(getattr(np, name)) for name in CUPY_UFUNC_METHODS["at"]},
)
special = _Special()


def register():
    """Register the stand-in with gradarray as device type ``"standin"`` (idempotent)."""
    import gradarray as ga
    ga.register_backend(
        "standin", StandinArray, namespace,
        device_of=lambda raw: ga.Device(f"standin:{raw.device.id}"),
        from_host=lambda host, device: _from_host(host),
        to_host=lambda raw: raw.get(),
        special=special,
    )
