"""Backends: which array library holds the raw data, and on which device.

A GradArray wraps a *raw* array of some backend: ``numpy.ndarray`` on the CPU, ``cupy.ndarray`` on a
GPU, or any array type registered with :func:`register_backend` (the test suite registers a stand-in
device array this way).  Nothing outside this module needs to know which backend it is talking to:
forward and backward code call public ``np.*`` functions, which NumPy dispatches to the raw array's
own ``__array_function__`` / ``__array_ufunc__``.

CuPy is imported lazily, the first time a ``"cuda"`` device is asked for or a CuPy array is seen.
"""
from __future__ import annotations

import sys

import numpy as np

__all__ = ["Device", "register_backend", "device_of", "to_device", "backend_for_device",
           "is_host_array", "namespace_for_device"]


class Device(str):
    """A device name that compares equal to its string form: ``x.device == "cpu"``."""

    __slots__ = ()

    @property
    def type(self):
        return self.split(":")[0]

    @property
    def index(self):
        return int(self.split(":")[1]) if ":" in self else None

    def __repr__(self):
        return f"Device({str.__repr__(self)})"


CPU = Device("cpu")


class Backend:
    """How to recognise, create and move the raw arrays of one array library."""

    def __init__(self, name, array_type, namespace, device_of, from_host, to_host):
        self.name = name                  # device type prefix, e.g. "cuda"
        self.array_type = array_type      # raw array class
        self.namespace = namespace        # module-like object with zeros/ones/arange/... (may be a callable returning one)
        self.device_of = device_of        # raw -> Device
        self.from_host = from_host        # (numpy array, Device) -> raw
        self.to_host = to_host            # raw -> numpy array

    def xp(self):
        return self.namespace() if callable(self.namespace) and not hasattr(self.namespace, "zeros") \
            else self.namespace


_BACKENDS: dict[str, Backend] = {}     # device type -> backend
_BY_TYPE: dict[type, Backend] = {}      # raw array type -> backend


def register_backend(name, array_type, namespace, device_of, from_host, to_host):
    """Teach gradarray a new device type (e.g. a stand-in device array for tests)."""
    backend = Backend(name, array_type, namespace, device_of, from_host, to_host)
    _BACKENDS[name] = backend
    _BY_TYPE[array_type] = backend
    return backend


def _cupy():
    try:
        import cupy
    except ImportError as exc:
        raise ImportError(
            "device='cuda' needs CuPy, which is an optional extra of gradarray. Install it with "
            "`pip install \"gradarray[cuda12]\"` (CUDA 12) or `pip install \"gradarray[cuda13]\"` (CUDA 13)."
        ) from exc
    return cupy


def _register_cupy():
    """Register CuPy as the 'cuda' backend; called lazily so importing gradarray never imports CuPy."""
    if "cuda" in _BACKENDS:
        return _BACKENDS["cuda"]
    cp = _cupy()

    def from_host(host, device):
        index = device.index if device.index is not None else cp.cuda.runtime.getDevice()
        with cp.cuda.Device(index):
            return cp.asarray(host)

    return register_backend(
        "cuda", cp.ndarray, cp,
        device_of=lambda raw: Device(f"cuda:{raw.device.id}"),
        from_host=from_host,
        to_host=lambda raw: raw.get(),
    )


def _backend_of_raw(raw):
    backend = _BY_TYPE.get(type(raw))
    if backend is None and "cupy" in sys.modules and type(raw).__module__.startswith("cupy"):
        backend = _register_cupy()
        backend = _BY_TYPE.get(type(raw), backend)
    return backend


def is_foreign_array_type(t) -> bool:
    """A type that takes part in NumPy's protocols but that gradarray does not wrap (xarray's
    DataArray, pandas objects, ...): NumPy's protocol says to return NotImplemented to it, so that
    it can wrap GradArrays itself."""
    if issubclass(t, (np.ndarray, np.generic)) or t in _BY_TYPE:
        return False
    if t.__module__.startswith("cupy"):
        return False
    return getattr(t, "__array_ufunc__", None) is not None or hasattr(t, "__array_function__")


def is_host_array(raw) -> bool:
    return isinstance(raw, (np.ndarray, np.generic))


def device_of(raw) -> Device:
    if isinstance(raw, (np.ndarray, np.generic)):
        return CPU
    backend = _backend_of_raw(raw)
    if backend is None:
        raise TypeError(f"gradarray does not know the array type {type(raw).__module__}.{type(raw).__name__}")
    return backend.device_of(raw)


def parse_device(device) -> Device:
    """Normalise 'cpu', 'cuda', 'cuda:1', a CuPy Device, or a Device into a Device."""
    if device is None:
        return None
    if isinstance(device, Device):
        return device
    if isinstance(device, str):
        name = device.strip().lower()
        if name == "cpu":
            return CPU
        kind = name.split(":")[0]
        if kind == "cuda":
            cp = _register_cupy() and _cupy()
            if ":" not in name:
                name = f"cuda:{cp.cuda.runtime.getDevice()}"
            return Device(name)
        if kind in _BACKENDS:
            return Device(name if ":" in name else f"{name}:0")
        raise ValueError(f"unknown device {device!r}: use 'cpu', 'cuda' or 'cuda:N'")
    # a CuPy Device object, or anything with an integer id
    if type(device).__module__.startswith("cupy"):
        _register_cupy()
        return Device(f"cuda:{device.id}")
    raise TypeError(f"device must be a string such as 'cpu' or 'cuda:0', not {type(device).__name__}")


def backend_for_device(device: Device):
    if device.type == "cpu":
        return None
    if device.type == "cuda":
        return _register_cupy()
    backend = _BACKENDS.get(device.type)
    if backend is None:
        raise ValueError(f"unknown device {device!r}")
    return backend


def namespace_for_device(device: Device):
    """The module whose zeros/ones/arange/... create raw arrays on ``device``."""
    backend = backend_for_device(device)
    return np if backend is None else backend.xp()


def to_host(raw):
    if isinstance(raw, np.ndarray):
        return raw
    if isinstance(raw, np.generic):
        return np.asarray(raw)
    backend = _backend_of_raw(raw)
    if backend is None:
        return np.asarray(raw)
    return backend.to_host(raw)


def to_device(raw, device: Device):
    """Move a raw array to ``device`` (no copy when it is already there)."""
    here = device_of(raw)
    if here == device:
        return raw
    host = to_host(raw)
    if device.type == "cpu":
        return host
    return backend_for_device(device).from_host(host, device)
