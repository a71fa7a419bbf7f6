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
same function (CuPy lacks a few functions; the stand-in does not model those gaps).

``register()`` teaches gradarray the device type ``"standin"`` (``ga.zeros(3, device="standin")``).
"""
from __future__ import annotations

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
             np.geomspace, np.eye, np.identity, np.tri, np.frombuffer, np.fromiter, np.fromfunction,
             np.fromstring, np.loadtxt, np.genfromtxt}

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
        for k, x in enumerate(inputs + tuple(kwargs.get("out", ()) or ())):
            if _foreign(x):
                return NotImplemented
            if isinstance(x, (list, tuple)) and not (method == "at" and k == 1):
                raise _unsupported(x)
        if method == "at":
            # ufunc.at(a, indices, b): indices are an index (host arrays allowed, as in a[...])
            raw_inputs = (_unwrap(inputs[0], True), _index(inputs[1])) + _unwrap(inputs[2:], True)
        else:
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
        return _wrap(fn(*_unwrap(args, True), **{k: _unwrap(v, True) for k, v in kwargs.items()}))
    create.__name__ = name
    return create


namespace = types.SimpleNamespace(
    ndarray=StandinArray, asarray=asarray, array=asarray,
    **{name: _creator(name) for name in (
        "zeros", "ones", "empty", "full", "arange", "linspace", "eye", "identity", "zeros_like",
        "ones_like", "empty_like", "full_like")},
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
