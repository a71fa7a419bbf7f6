"""GradArray: the array type users hold, and how raw backend arrays are wrapped.

Owns: the :class:`GradArray` class (attributes, conversions, devices, repr, indexing entry points),
``_make`` (wrapping without checks, the hot path), and the helpers that wrap or unwrap results.
NumPy's protocols and the operators (``__array_ufunc__``, ``__array_function__``, ``__add__`` ...)
are installed on the class by ``_dispatch``, and ``backward()`` by ``_tape``: this module must not
know about nodes, rules or dispatch. Indexing, creation and the array-API namespace are reached
through ``_tables.upper`` (bound by the modules that define them).
"""
from __future__ import annotations

import warnings

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from . import _backend
from ._modes import GradientLostWarning, _state, _strict
from ._tables import ShapeDtype, upper

_new = object.__new__


def _make(data, node=None, requires_grad=False, out_index=0, version=None):
    """Wrap a raw backend array without any checks (hot path)."""
    a = _new(GradArray)
    a._data = data
    a._node = node
    a._requires_grad = requires_grad
    a._out_index = out_index
    a._version = [0] if version is None else version
    a._view_of = None
    a._grad = None
    return a


def _as_raw_result(result):
    """NumPy reductions return NumPy scalars: re-wrap them as 0-d arrays."""
    if isinstance(result, np.generic):
        return np.asarray(result)
    return result


def _is_array_result(obj):
    return hasattr(obj, "shape") and hasattr(obj, "dtype") and \
        not isinstance(obj, (ShapeDtype, np.dtype, type))


def wrap_untracked(result):
    """Wrap every array in a (possibly nested) result as an untracked GradArray."""
    if type(result) is tuple or type(result) is list:
        return type(result)(wrap_untracked(r) for r in result)
    if isinstance(result, tuple) and hasattr(result, "_fields"):          # namedtuple results
        return type(result)(*(wrap_untracked(r) for r in result))
    if isinstance(result, np.generic):
        if isinstance(result, (np.bool_, np.integer, np.floating, np.complexfloating)):
            return _make(np.asarray(result))
        return result
    if _is_array_result(result) and not isinstance(result, GradArray):
        return _make(result)
    return result


def _dtype_can_require_grad(dtype) -> bool:
    return dtype.kind in "fc"


class GradArray(NDArrayOperatorsMixin):
    """An array that records NumPy calls made on it so that gradients can flow back.

    Create one with :func:`gradarray.asarray` (``requires_grad=True`` for a leaf you differentiate
    with respect to). Every ``np.*`` call on it returns GradArrays; ``backward()`` fills ``.grad``.
    """

    # _hooks (register_hook, retain_grad) is set only on arrays that have hooks: read with getattr
    __slots__ = ("_data", "_node", "_requires_grad", "_out_index", "_version", "_view_of", "_grad",
                 "_hooks", "__weakref__")

    __array_priority__ = 100

    def __init__(self, data, requires_grad=False):
        raise TypeError("create GradArrays with gradarray.asarray(data, requires_grad=...) "
                        "or gradarray.array(...)")

    # ---------------------------------------------------------------- basic attributes
    @property
    def data(self):
        """The raw backend array (numpy or cupy), shared, not copied; it carries no gradient."""
        if _state.tracer is not None:       # ga.jit: the values leave the tape (a guard)
            _state.tracer.guard("array", self, None)
        return self._data

    @property
    def shape(self):
        return self._data.shape

    @shape.setter
    def shape(self, value):
        raise AttributeError("assigning to .shape is not supported on a GradArray; use "
                             "x = x.reshape(new_shape)")

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def ndim(self):
        return self._data.ndim

    @property
    def size(self):
        return self._data.size

    @property
    def itemsize(self):
        return self._data.itemsize

    @property
    def nbytes(self):
        return self._data.nbytes

    @property
    def strides(self):
        return self._data.strides

    @property
    def flags(self):
        return self._data.flags

    @property
    def device(self):
        return _backend.device_of(self._data)

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        self.requires_grad_(flag)

    def requires_grad_(self, flag: bool = True):
        """Mark a leaf array as one to differentiate with respect to (in place); returns self."""
        flag = bool(flag)
        if self._node is not None and not flag:
            raise RuntimeError("requires_grad can only be switched off on a leaf; use .detach() to "
                               "get an untracked copy of a computed array")
        if flag and not _dtype_can_require_grad(self._data.dtype):
            raise TypeError(_int_grad_message(self._data.dtype))
        self._requires_grad = flag or self._node is not None
        return self

    @property
    def grad(self):
        """The gradient accumulated by ``backward()`` (None until then); same shape and dtype."""
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is None:
            self._grad = None
            return
        if type(value) is not GradArray:
            if not (hasattr(value, "shape") and hasattr(value, "dtype")):
                raise TypeError(f"x.grad must be None or an array, not {type(value).__name__}")
            value = _make(value)
        if value.shape != self.shape:
            raise ValueError(f"assigned grad has shape {value.shape} but the array has shape "
                             f"{self.shape}; they must match")
        if value.dtype != self.dtype:
            raise TypeError(f"assigned grad has dtype {value.dtype} but the array has dtype "
                            f"{self.dtype}; convert it with .astype({self.dtype})")
        if value.device != self.device:
            raise ValueError(f"assigned grad is on device {value.device} but the array is on "
                             f"{self.device}; move it with .to_device(...)")
        self._grad = value

    @property
    def grad_fn(self):
        return self._node

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def T(self):
        return np.transpose(self)

    @property
    def mT(self):
        if self.ndim < 2:
            raise ValueError("matrix transpose .mT needs an array with at least 2 dimensions")
        return np.swapaxes(self, -1, -2)

    @property
    def real(self):
        return np.real(self)

    @real.setter
    def real(self, value):
        if self.dtype.kind != "c":
            self[...] = value
        else:
            self[...] = value + 1j * np.imag(self)

    @property
    def imag(self):
        return np.imag(self)

    @imag.setter
    def imag(self, value):
        if self.dtype.kind != "c":
            raise TypeError("cannot set the imaginary part of a real array")
        self[...] = np.real(self) + 1j * value

    @property
    def flat(self):
        return np.ravel(self)

    # ---------------------------------------------------------------- conversion
    def detach(self):
        """The same values (sharing memory), cut from the tape."""
        return _make(self._data, version=self._version)

    def numpy(self):
        """A host (CPU) NumPy copy of the values, without gradient tracking."""
        host = _backend.to_host(self._data)
        if _state.tracer is not None:
            _state.tracer.guard("array", self, None)
        return host.copy() if host is self._data else host

    def item(self, *args):
        if self._data.size != 1 and not args:
            raise ValueError(f"item() needs an array with one element, this one has shape {self.shape}")
        value = self._values().item(*args)
        if _state.tracer is not None:
            _state.tracer.guard(("item",) + args, self, value)
        return value

    def tolist(self):
        value = self._values().tolist()
        if _state.tracer is not None:
            _state.tracer.guard("tolist", self, value)
        return value

    def _values(self):
        """The raw data, computed first when it is a lazy (Dask) graph: an explicit read."""
        return _backend.to_host(self._data) if _backend.is_lazy(self._data) else self._data

    def __array__(self, dtype=None, copy=None):
        if not _backend.is_host_array(self._data):
            raise TypeError(
                f"implicit conversion of a GradArray on device {self.device} to a NumPy array is not "
                "allowed; use .numpy() for an explicit host copy (which is cut from the tape)")
        if self._requires_grad:
            message = ("a GradArray that requires grad was converted to a plain numpy array "
                       "(np.asarray/np.array or a C extension); the gradient cannot flow through the "
                       "result. Use .detach() or .numpy() to make the cut explicit, or keep the value "
                       "a GradArray. A list of GradArrays handed to a NumPy function with no other "
                       "GradArray argument is converted by NumPy itself (it never dispatches): "
                       "stack it first, np.stack([...]) or ga.asarray([...]).")
            if _strict[0]:
                raise RuntimeError(message)
            warnings.warn(message, GradientLostWarning, stacklevel=2)
        data = self._data
        if _state.tracer is not None:
            _state.tracer.guard("array", self, None)
        if dtype is not None and data.dtype != dtype:
            return data.astype(dtype)
        if copy:
            return data.copy()
        return data

    def __dlpack__(self, /, *, stream=None, max_version=None, dl_device=None, copy=None):
        # only the keywords given are forwarded: a producer that predates one raises TypeError,
        # which tells the consumer to retry without it (the DLPack protocol)
        given = {"stream": stream, "max_version": max_version, "dl_device": dl_device, "copy": copy}
        return self._data.__dlpack__(**{k: v for k, v in given.items() if v is not None})

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    def to_device(self, device, /, *, stream=None):
        """The same values on another device; differentiable (the gradient moves back)."""
        return upper.to_device(self, device)

    def to(self, device):
        return self.to_device(device)

    def cpu(self):
        return self.to_device("cpu")

    def cuda(self, n=None):
        return self.to_device("cuda" if n is None else f"cuda:{n}")

    def __float__(self):
        self._warn_if_tracked("float()")
        value = float(self._scalar("float"))
        if _state.tracer is not None:       # ga.jit: a value read in Python becomes a guard
            _state.tracer.guard("float", self, value)
        return value

    def __int__(self):
        self._warn_if_tracked("int()")
        value = int(self._scalar("int"))
        if _state.tracer is not None:
            _state.tracer.guard("int", self, value)
        return value

    def __complex__(self):
        self._warn_if_tracked("complex()")
        value = complex(self._scalar("complex"))
        if _state.tracer is not None:
            _state.tracer.guard("complex", self, value)
        return value

    def _warn_if_tracked(self, what):
        """float()/int() of a tracked value (also how NumPy stores it into a plain ndarray element)
        cuts the tape: say so. ``.item()`` is the explicit, silent way to read a value."""
        if self._requires_grad and _state.enabled:
            message = (f"{what} of a GradArray that requires grad returns a plain number, which carries "
                       "no gradient (NumPy also does this when a tracked value is stored into a plain "
                       "ndarray). Use .item() to read a value on purpose, or keep it a GradArray.")
            if _strict[0]:
                raise RuntimeError(message)
            warnings.warn(message, GradientLostWarning, stacklevel=3)

    def __index__(self):
        if self._data.dtype.kind not in "iub":
            raise TypeError(f"only integer arrays can be used as an index, not {self.dtype}")
        value = int(self._scalar("index"))
        if _state.tracer is not None:
            _state.tracer.guard("int", self, value)
        return value

    def __bool__(self):
        if self._data.size != 1:
            raise ValueError(f"the truth value of an array with {self._data.size} elements is "
                             "ambiguous; use a.any() or a.all()")
        value = bool(self._data)
        if _state.tracer is not None:
            _state.tracer.guard("bool", self, value)
        return value

    def _scalar(self, what):
        if self._data.size != 1:
            raise TypeError(f"only arrays with one element can be converted to a Python {what}, "
                            f"this one has shape {self.shape}")
        data = self._values()
        return data.item() if hasattr(data, "item") else data

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d array")
        return len(self._data)

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        for i in range(self._data.shape[0]):
            yield self[i]

    def __hash__(self):
        raise TypeError("GradArray is unhashable (like numpy.ndarray)")

    def __copy__(self):
        return self._independent_copy() if self._node is None else np.copy(self)

    def __deepcopy__(self, memo):
        return self._independent_copy() if self._node is None else np.copy(self)

    def _independent_copy(self):
        """copy.copy/deepcopy of a leaf (PyTorch's rule): a new leaf with the same requires_grad,
        its own memory and a copy of ``.grad``; backward through it never reaches the original.
        A computed array is copied with ``np.copy`` (recorded: the copy stays on the tape)."""
        leaf = _make(self._data.copy(), requires_grad=self._requires_grad)
        if self._grad is not None:
            leaf._grad = _make(self._grad._data.copy())
        return leaf

    def __reduce__(self):
        values = self._data if _backend.is_lazy(self._data) else self.numpy()    # Dask: the graph
        return (upper.rebuild, (values, str(self.device), self._requires_grad and self._node is None))

    # ---------------------------------------------------------------- repr
    def __repr__(self):
        if _backend.is_lazy(self._data):       # a Dask graph: show it, never compute it
            body = repr(self._data)
        else:
            body = repr(_backend.to_host(self._data)) if _backend.is_host_array(self._data) \
                else f"array({_backend.to_host(self._data)!r})"
        if body.startswith("array("):
            body = "GradArray(" + body[len("array("):-1]
        else:
            body = f"GradArray({body}"
        body = body.replace("\n      ", "\n          ")
        extras = []
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self._node is not None:
            extras.append(f"grad_fn={self._node!r}")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        if extras:
            body = body + ", " + ", ".join(extras)
        return body + ")"

    def __str__(self):
        if _backend.is_lazy(self._data):
            return str(self._data)
        return str(_backend.to_host(self._data))

    def __format__(self, spec):
        if self._data.ndim == 0:
            return format(self._values().item(), spec)
        return str(self)

    # ---------------------------------------------------------------- NumPy protocols
    # __array_ufunc__, __array_function__ and the operators are installed by _dispatch

    def __array_namespace__(self, /, *, api_version=None):
        return upper.array_namespace(api_version)

    # ---------------------------------------------------------------- indexing
    def __getitem__(self, index):
        if _state.tracer is not None:       # ga.jit records the read
            return _state.tracer.getitem(upper.getitem, self, index)
        return upper.getitem(self, index)

    def __setitem__(self, index, value):
        if _state.tracer is not None:       # ga.jit records the write
            return _state.tracer.setitem(upper.setitem, self, index, value)
        upper.setitem(self, index, value)


def _int_grad_message(dtype):
    return (f"only floating-point and complex arrays can require gradients, not {dtype}; "
            "convert first, e.g. ga.asarray(x, dtype=np.float64, requires_grad=True)")



def _unwrap_seq(seq):
    return type(seq)(x._data if type(x) is GradArray else x for x in seq)


def _unwrap_arg(a):
    """The raw data of a GradArray argument, or of the GradArrays in a list/tuple argument."""
    ta = type(a)
    if ta is GradArray:
        return a._data
    if (ta is list or ta is tuple) and any(type(x) is GradArray for x in a):
        return _unwrap_seq(a)
    return a
