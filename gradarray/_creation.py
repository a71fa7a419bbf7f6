"""Creating GradArrays: asarray/array, NumPy-style creation functions with ``device=``, ``like=``,
device moves and DLPack."""
from __future__ import annotations

import numpy as np

from . import _backend
from ._array import GradArray, _dtype_can_require_grad, _int_grad_message, _make
from ._registry import Primitive, defvjp
from ._tables import bind_upper

__all__ = ["asarray", "array", "zeros", "ones", "empty", "full", "arange", "linspace", "eye",
           "identity", "zeros_like", "ones_like", "empty_like", "full_like", "to_device",
           "from_dlpack", "tensor"]


def _finish(raw, requires_grad):
    if requires_grad and not _dtype_can_require_grad(raw.dtype):
        raise TypeError(_int_grad_message(raw.dtype))
    return _make(raw, requires_grad=bool(requires_grad))


def _contains_gradarray(obj):
    if type(obj) is GradArray:
        return True
    if isinstance(obj, (list, tuple)):
        return any(_contains_gradarray(o) for o in obj)
    return False


def _stack_nested(obj):
    """``[[a, b], [c, d]]`` with GradArrays inside: build it with np.stack so the tape is kept."""
    if isinstance(obj, (list, tuple)):
        parts = [_stack_nested(o) for o in obj]
        devices = {p.device for p in parts if type(p) is GradArray}
        device = devices.pop() if len(devices) == 1 else None
        parts = [p if type(p) is GradArray else asarray(p, device=device) for p in parts]
        return np.stack(parts)
    return obj


def asarray(obj, dtype=None, device=None, copy=None, requires_grad=False):
    """A GradArray from ``obj`` (array, GradArray, nested list, scalar, CuPy/DLPack array).

    ``device``: "cpu", "cuda", "cuda:N" (default: where ``obj`` lives; host data goes to the CPU).
    ``copy``: True always copies, False never does (error when a copy is needed), None copies only
    when needed. ``requires_grad=True`` makes a leaf that collects ``.grad``.
    """
    device = _backend.parse_device(device)
    if type(obj) is GradArray:
        out = obj
        if dtype is not None and np.dtype(dtype) != out.dtype:
            if copy is False:
                raise ValueError("asarray(copy=False) cannot change the dtype without copying")
            out = out.astype(dtype)
        if device is not None and device != out.device:
            if copy is False:
                raise ValueError("asarray(copy=False) cannot move an array to another device")
            out = to_device(out, device)
        if copy and out is obj:
            out = np.copy(obj)
        if requires_grad and not out.requires_grad:
            if out._node is not None:
                raise RuntimeError("requires_grad=True can only be set on a leaf array")
            out.requires_grad_(True)
        return out
    if _contains_gradarray(obj):
        out = _stack_nested(obj)
        return asarray(out, dtype=dtype, device=device, copy=False if copy is None else copy,
                       requires_grad=requires_grad)
    if isinstance(obj, (np.ndarray, np.generic)) or not hasattr(obj, "__dlpack__") and \
            not _is_backend_array(obj):
        raw = np.array(obj, dtype=dtype, copy=copy)
    else:
        raw = obj
        if dtype is not None and raw.dtype != np.dtype(dtype):
            raw = raw.astype(dtype)
        elif copy:
            raw = raw.copy()
        if not _is_backend_array(raw):
            raw = _from_dlpack_raw(raw)
    if device is not None:
        moved = _backend.to_device(raw, device)
        if moved is not raw and copy is False:
            raise ValueError(f"asarray(copy=False) cannot move data to {device}")
        raw = moved
    return _finish(raw, requires_grad)


def array(obj, dtype=None, device=None, copy=True, requires_grad=False):
    """Like :func:`asarray` but copies by default (as ``np.array`` does)."""
    return asarray(obj, dtype=dtype, device=device, copy=copy, requires_grad=requires_grad)


tensor = array


def _is_backend_array(obj):
    if isinstance(obj, np.ndarray):
        return True
    try:
        _backend.device_of(obj)
        return True
    except TypeError:
        return False


def _from_dlpack_raw(obj):
    kind, device_id = obj.__dlpack_device__()
    if kind == 1:       # kDLCPU
        return np.from_dlpack(obj)
    cp = _backend._register_cupy() and __import__("cupy")
    return cp.from_dlpack(obj)


def from_numpy(a):
    """A GradArray sharing memory with the NumPy array ``a`` (``torch.from_numpy``): writes through
    the GradArray (``x[...] = v``, ``x.add_(1)``) are visible in ``a``. Writes made to ``a``
    directly are not seen by gradarray's version counters: do not change ``a`` while a value
    computed from it is saved for backward. ``x.numpy()`` is the way back (a copy: a cut from the
    tape); ``x.data`` is the shared raw array itself."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, not {type(a).__name__}; use "
                        "ga.asarray for other inputs")
    return _make(a)


def from_dlpack(x, /, *, device=None, copy=None, requires_grad=False):
    """A GradArray sharing memory with any DLPack producer (PyTorch, JAX, CuPy, NumPy)."""
    raw = _from_dlpack_raw(x)
    return asarray(raw, device=device, copy=copy, requires_grad=requires_grad)


# ----------------------------------------------------------------------------- creation functions
def _create(name, args, kwargs, device, requires_grad):
    device = _backend.parse_device(device) or _backend.CPU
    xp = _backend.namespace_for_device(device)
    if device.type == "cuda" and device.index is not None:
        import cupy
        with cupy.cuda.Device(device.index):
            raw = getattr(xp, name)(*args, **kwargs)
    else:
        raw = getattr(xp, name)(*args, **kwargs)
    return _finish(raw, requires_grad)


def zeros(shape, dtype=float, *, device=None, requires_grad=False):
    return _create("zeros", (shape,), {"dtype": dtype}, device, requires_grad)


def ones(shape, dtype=float, *, device=None, requires_grad=False):
    return _create("ones", (shape,), {"dtype": dtype}, device, requires_grad)


def empty(shape, dtype=float, *, device=None, requires_grad=False):
    return _create("empty", (shape,), {"dtype": dtype}, device, requires_grad)


def full(shape, fill_value, dtype=None, *, device=None, requires_grad=False):
    return _create("full", (shape, fill_value), {"dtype": dtype}, device, requires_grad)


def arange(start, stop=None, step=None, dtype=None, *, device=None, requires_grad=False):
    args = (start,) if stop is None and step is None else (start, stop) if step is None else (start, stop, step)
    return _create("arange", args, {"dtype": dtype}, device, requires_grad)


def linspace(start, stop, num=50, endpoint=True, dtype=None, *, device=None, requires_grad=False):
    return _create("linspace", (start, stop, num), {"endpoint": endpoint, "dtype": dtype}, device,
                   requires_grad)


def eye(N, M=None, k=0, dtype=float, *, device=None, requires_grad=False):
    return _create("eye", (N, M, k), {"dtype": dtype}, device, requires_grad)


def identity(n, dtype=float, *, device=None, requires_grad=False):
    return eye(n, dtype=dtype, device=device, requires_grad=requires_grad)


def _like(name, x, dtype, device, requires_grad, *extra):
    raw = x._data if type(x) is GradArray else x
    raw = getattr(np, name)(raw, *extra, dtype=dtype)
    if device is not None:
        raw = _backend.to_device(raw, _backend.parse_device(device))
    return _finish(raw, requires_grad)


def zeros_like(x, dtype=None, *, device=None, requires_grad=False):
    return _like("zeros_like", x, dtype, device, requires_grad)


def ones_like(x, dtype=None, *, device=None, requires_grad=False):
    return _like("ones_like", x, dtype, device, requires_grad)


def empty_like(x, dtype=None, *, device=None, requires_grad=False):
    return _like("empty_like", x, dtype, device, requires_grad)


def full_like(x, fill_value, dtype=None, *, device=None, requires_grad=False):
    return _like("full_like", x, dtype, device, requires_grad, fill_value)


# ``np.zeros(3, like=x)``: NumPy strips ``like`` before calling __array_function__, so the device is
# taken from the GradArray that received the call.
LIKE_CREATION = {np.array, np.asarray, np.asanyarray, np.ascontiguousarray, np.asfortranarray,
                 np.zeros, np.ones, np.empty, np.full, np.arange, np.eye, np.identity,
                 np.frombuffer, np.fromfunction, np.fromiter, np.fromstring, np.loadtxt,
                 np.genfromtxt, np.require, np.tri}


def create_like(func, like, args, kwargs):
    if func in (np.array, np.asarray, np.asanyarray) and args and _contains_gradarray(args[0]):
        return asarray(args[0], dtype=kwargs.get("dtype"))
    raw = _backend.create_like(func, like._data, *args, **kwargs)
    if type(raw) is GradArray:
        return raw
    return _make(raw)


# ----------------------------------------------------------------------------- device moves
def _move(raw, dst, src):
    return _backend.to_device(raw, dst)


move = Primitive(_move)
defvjp(move, lambda g, ans, x, dst, src: move(g, src, dst), save="none")


def to_device(x, device):
    """Differentiable move of ``x`` to ``device`` (the gradient travels back to x's device)."""
    device = _backend.parse_device(device)
    if type(x) is not GradArray:
        return asarray(x, device=device)
    src = x.device
    if src == device:
        return x
    return move(x, device, src)


def _rebuild(host, device, requires_grad):
    return asarray(host, device=None if device == "cpu" else device, requires_grad=requires_grad)


bind_upper(to_device=to_device, rebuild=_rebuild, create_like=create_like,
           like_creation=frozenset(LIKE_CREATION), asarray=asarray)
