"""Backends: which array library holds the raw data, and on which device.

A GradArray wraps a *raw* array of some backend: ``numpy.ndarray`` on the CPU, ``cupy.ndarray`` on a
GPU, or any array type registered with :func:`register_backend` (the test suite registers a stand-in
device array this way).  Nothing outside this module needs to know which backend it is talking to:
forward and backward code call public ``np.*`` functions, which NumPy dispatches to the raw array's
own ``__array_function__`` / ``__array_ufunc__``.

CuPy is imported lazily, the first time a ``"cuda"`` device is asked for or a CuPy array is seen.
Dask (``gradarray/_dask.py``) is a *deferred* backend (:func:`defer_backend`): registered the first
time ``device="dask"`` is asked for or a Dask array is seen, so importing gradarray never imports
Dask. It is also *lazy* (``LAZY``): its arrays are task graphs, so the core never reads their values
(``lazy_backend`` finds them among a call's arguments, ``backend.no_compute`` guards the call).
"""
from __future__ import annotations

import sys

import numpy as np

__all__ = ["Device", "register_backend", "device_of", "to_device", "backend_for_device",
           "is_host_array", "namespace_for_device", "special_namespace_of", "create_like"]


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

    def __init__(self, name, array_type, namespace, device_of, from_host, to_host, special=None):
        self.name = name                  # device type prefix, e.g. "cuda"
        self.array_type = array_type      # raw array class
        self.namespace = namespace        # module-like object with zeros/ones/arange/... (may be a callable returning one)
        self.device_of = device_of        # raw -> Device
        self.from_host = from_host        # (numpy array, Device) -> raw
        self.to_host = to_host            # raw -> numpy array
        self.special = special            # scipy.special-like namespace (or a callable giving it)

    def xp(self):
        return self.namespace() if callable(self.namespace) and not hasattr(self.namespace, "zeros") \
            else self.namespace

    def special_xp(self):
        """The backend's ``scipy.special``-like namespace (``cupyx.scipy.special``), or None."""
        special = self.special
        return special() if callable(special) and not hasattr(special, "gamma") else special

    # a lazy backend (Dask) sets these: its devices have no index, host arrays mix with its arrays,
    # ``no_compute(what)`` is a context manager under which computing its graphs raises
    lazy = False
    no_compute = None
    call = None             # call(func, args, kwargs): a forward call on its arrays, guarded


_BACKENDS: dict[str, Backend] = {}     # device type -> backend
_BY_TYPE: dict[type, Backend] = {}      # raw array type -> backend
LAZY: dict[type, Backend] = {}          # raw array type -> backend, for lazy backends (Dask) only
_DEFERRED: dict[str, tuple] = {}        # device type -> (module prefix of its array types, registrar)


def register_backend(name, array_type, namespace, device_of, from_host, to_host, special=None):
    """Teach gradarray a new device type (e.g. a stand-in device array for tests). ``special``: the
    backend's ``scipy.special``-like namespace (or a callable returning it), if it has one."""
    backend = Backend(name, array_type, namespace, device_of, from_host, to_host, special)
    _BACKENDS[name] = backend
    _BY_TYPE[array_type] = backend
    return backend


def defer_backend(name, module_prefix, registrar):
    """Register backend ``name`` on first use: ``registrar()`` (which imports the array library and
    calls :func:`register_backend`) runs the first time device ``name`` is asked for or an array
    whose type's module starts with ``module_prefix`` is seen."""
    _DEFERRED[name] = (module_prefix, registrar)


def _deferred_backend_of_type(t):
    module = getattr(t, "__module__", "") or ""
    for prefix, registrar in _DEFERRED.values():
        if module.startswith(prefix):
            registrar()
            return _BY_TYPE.get(t)
    return None


def _deferred_device(kind):
    if kind in _DEFERRED and kind not in _BACKENDS:
        _DEFERRED[kind][1]()


def lazy_backend(*groups):
    """The lazy backend (Dask) of the first raw array of a lazy type in ``groups`` (each an iterable
    of raw values, looked through one level of lists and tuples), or None. Cheap while no lazy
    backend is registered."""
    if not LAZY:
        return None
    for values in groups:
        for v in values:
            backend = LAZY.get(type(v))
            if backend is not None:
                return backend
            if type(v) is list or type(v) is tuple:
                for w in v:
                    backend = LAZY.get(type(w))
                    if backend is not None:
                        return backend
    return None


def call(func, *args, **kwargs):
    """``func(*args, **kwargs)``; with a lazy backend's raw array among the arguments, through that
    backend's ``call`` (Dask: NumPy's meaning for functions whose Dask namesake differs or is
    missing, e.g. ``pinv``, ``svd(full_matrices=False)``). For rules that call NumPy on raw data."""
    lazy = lazy_backend(args, kwargs.values()) if LAZY else None
    return func(*args, **kwargs) if lazy is None else lazy.call(func, args, kwargs)


def is_lazy(raw) -> bool:
    """Is ``raw`` an array of a lazy backend (a Dask array: a graph, whose values are not here)?"""
    return bool(LAZY) and type(raw) in LAZY


def mixes_with_host(devices) -> bool:
    """Host NumPy arrays and one lazy backend's arrays (Dask takes NumPy operands as constants)."""
    others = [d for d in devices if d != CPU]
    return len(others) == 1 and len(others) < len(devices) and \
        getattr(_BACKENDS.get(others[0].type), "lazy", False)


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

    def special():
        import cupyx.scipy.special
        return cupyx.scipy.special

    return register_backend(
        "cuda", cp.ndarray, cp,
        device_of=lambda raw: Device(f"cuda:{raw.device.id}"),
        from_host=from_host,
        to_host=lambda raw: raw.get(),
        special=special,
    )


def _backend_of_raw(raw):
    return backend_of_type(type(raw))


def backend_of_type(t):
    """The registered backend of raw arrays of type ``t`` (registering CuPy's on first sight), or
    None."""
    backend = _BY_TYPE.get(t)
    if backend is None and "cupy" in sys.modules and t.__module__.startswith("cupy"):
        backend = _register_cupy()
        backend = _BY_TYPE.get(t, backend)
    if backend is None and _DEFERRED:
        backend = _deferred_backend_of_type(t)
    return backend


def is_foreign_array_type(t) -> bool:
    """A type that takes part in NumPy's protocols but that gradarray does not wrap (xarray's
    DataArray, pandas objects, ...): NumPy's protocol says to return NotImplemented to it, so that
    it can wrap GradArrays itself."""
    if issubclass(t, (np.ndarray, np.generic)) or t in _BY_TYPE:
        return False
    if t.__module__.startswith("cupy"):
        return False
    if _DEFERRED and _deferred_backend_of_type(t) is not None:
        return False
    return getattr(t, "__array_ufunc__", None) is not None or hasattr(t, "__array_function__")


def is_host_array(raw) -> bool:
    return isinstance(raw, (np.ndarray, np.generic))


def special_namespace_of(raw):
    """The ``scipy.special``-like namespace whose functions run on ``raw``'s device backend
    (``cupyx.scipy.special`` for CuPy), or None (host data, or a backend without one)."""
    if isinstance(raw, (np.ndarray, np.generic)) or not hasattr(raw, "shape"):
        return None
    backend = _backend_of_raw(raw)
    return None if backend is None else backend.special_xp()


# NumPy 2 hands ``device=None`` to the ``like=`` array's __array_function__ for these (np.full(...,
# like=x) calls x's full(..., device=None)), and CuPy's full/ones/eye take no ``device``
_DEVICE_KEYWORD_CREATION = frozenset({"full", "ones", "eye"})


def create_like(func, like, *args, **kwargs):
    """``func(*args, like=like, **kwargs)`` for a NumPy creation function and a raw array ``like``.
    On a registered device backend, full/ones/eye are the backend namespace's own (``cupy.full``):
    through ``like=`` NumPy 2 would pass them a ``device`` keyword that CuPy's lack."""
    name = getattr(func, "__name__", "")
    if name in _DEVICE_KEYWORD_CREATION and not isinstance(like, (np.ndarray, np.generic)) \
            and kwargs.get("device") is None:
        backend = _backend_of_raw(like)
        own = None if backend is None else getattr(backend.xp(), name, None)
        if own is not None:
            kwargs.pop("device", None)
            return own(*args, **kwargs)
    return func(*args, like=like, **kwargs)


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
        _deferred_device(kind)
        if kind in _BACKENDS:
            if _BACKENDS[kind].lazy:            # a Dask array's chunks live on no one device
                return Device(kind)
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
    _deferred_device(device.type)
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
    lazy = LAZY.get(type(raw)) if LAZY else None
    if lazy is not None:            # an explicit move off Dask computes, even inside a guarded call
        with lazy.allow_compute():
            host = to_host(raw)
    else:
        host = to_host(raw)
    if device.type == "cpu":
        return host
    return backend_for_device(device).from_host(host, device)
