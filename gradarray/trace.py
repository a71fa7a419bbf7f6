"""``trace_numpy``: differentiate legacy code that allocates arrays and fills them.

NumPy never dispatches its creation functions (``np.zeros(n)``, ``np.array([...])``) to GradArray,
so legacy code such as ::

    def rhs(x, y, a, b, c, d):
        return np.array([a * x - b * x * y, d * x * y - c * y])    # np.array of tracked values

    def simulate(p):
        out = np.zeros((n, 2))                                     # a plain buffer ...
        for i in range(n - 1):
            out[i + 1] = out[i] + dt * rhs(*out[i], *p)            # ... filled with tracked values

loses the tape (NumPy converts the GradArrays to plain numbers, with a GradientLostWarning).
Inside ``with ga.trace_numpy():`` (or on a function decorated with ``@ga.trace_numpy``) the
``numpy`` module's creation functions are temporarily replaced:

- allocations — ``zeros ones empty full eye identity arange linspace logspace geomspace`` and
  ``zeros_like ones_like empty_like full_like`` — return untracked GradArrays, so that writing tracked
  values into them (or into arrays computed from them: ``u = np.sin(np.linspace(...));
  v = u.copy(); v[1:-1] = tracked``) records the writes (``full``/``full_like`` with a tracked fill
  value are tracked; ``linspace`` with tracked end points dispatches to its rule as usual);
- ``np.array(obj)`` (a fresh copy, the default ``copy=True``) returns a GradArray; nested lists of
  GradArrays are stacked with ``np.stack`` so the tape is kept;
- conversions — ``asarray asanyarray ascontiguousarray asfortranarray`` and ``np.array(obj,
  copy=False/None)`` — return GradArrays when ``obj`` contains GradArrays (``np.asarray(x)`` is ``x``)
  and plain NumPy arrays otherwise; raw device arrays (CuPy) become GradArrays on their device.

Limits, honestly:

- The mode belongs to the thread (and ``contextvars`` context) that entered it: other threads get
  NumPy's own behaviour, also while the wrappers are installed. Python code running in the mode's
  context that looks ``np.zeros`` up on the ``numpy`` module at call time gets the wrappers
  (NumPy's own functions mostly import from ``numpy._core`` directly and are unaffected;
  ``numpy.polynomial`` does use ``np.array``/``np.empty`` and so works on GradArrays in the mode).
- Compiled modules (``numpy.random``'s generators, SciPy's extensions) never get the wrappers: while
  the mode is active, their global ``np`` is a view of NumPy with the original functions, so
  ``np.random.randn`` and ``default_rng(0).normal(...)`` work and return plain arrays (random draws
  are constants for the tape).
- Names bound before the mode starts (``from numpy import zeros``) are not replaced. A name bound
  while it is active (a module first imported inside a traced function) keeps a wrapper, which
  behaves exactly like the NumPy function outside the mode.
- ``float(x)``, ``x.item()``, ``math.*`` on tracked values, and methods of plain ndarrays called
  with GradArrays (``a.dot(x)``) still cut the tape.
- Allocations go to the CPU unless ``trace_numpy(device="cuda")`` names another device.
- Calls made by gradarray itself (its rules allocate raw arrays with ``np.zeros_like`` & co.) and
  calls made while recording is off (``ga.no_grad()``, a backward pass) get NumPy's own behaviour.

Outside the mode nothing is installed: it costs nothing when not used. Modes nest; the original
functions are restored exactly when the last active mode (in any thread) exits, also when an
exception is raised.
"""
from __future__ import annotations

import contextvars
import functools
import sys
import threading
import types

import numpy as np

from . import _backend
from ._modes import is_grad_enabled
from ._array import GradArray, _make
from ._creation import _contains_gradarray, _is_backend_array, asarray as _ga_asarray
from ._registry import implements

__all__ = ["trace_numpy", "is_tracing"]



# numpy.polynomial's as_series asks np.common_type of the coefficient arrays: a dtype query, answered
# from the dtypes alone (works for any backend). TODO(lead): belongs with the dtype queries in
# overrides (``nondifferentiable`` cannot serve: its result, a scalar type, is wrapped as an array).
@implements(np.common_type)
def _common_type(*arrays):
    return np.common_type(*(_orig_empty(0, a.dtype) for a in arrays))


_orig_empty = np.empty

_lock = threading.RLock()
_local = threading.local()
# where allocations go, one entry per active (nested) mode of this thread/context
_devices = contextvars.ContextVar("gradarray_trace_numpy_devices", default=())
_installs = [0]                 # active modes in all threads; wrappers are installed while > 0
_swapped_np: list = []          # (compiled module, its global name bound to numpy) while installed


def is_tracing() -> bool:
    """True while a ``trace_numpy`` mode is active in this thread (and context)."""
    return bool(_devices.get())


def _orig(name):
    return _ORIGINALS[name]


def _place(raw):
    """Wrap a freshly allocated host array, moved to the device of the innermost mode."""
    devices = _devices.get()
    device = devices[-1] if devices else None
    if device is not None and device != _backend.CPU:
        _local.moving = True          # the backend's own np.array calls must get plain arrays
        try:
            raw = _backend.to_device(raw, device)
        finally:
            _local.moving = False
    return _make(raw)


# ----------------------------------------------------------------------------------- allocations
# gradarray modules that run NumPy's Python code *in* the mode on purpose (numpy.polynomial's
# wrappers, the decorator form of the mode): their calls are the user's
_TRACED_CALLERS = frozenset({"gradarray.polynomial", "gradarray.trace"})


def _plain_call(depth=2):
    """True when a wrapper must behave exactly like NumPy: the mode is not active in this context,
    nothing is being recorded, or the call comes from gradarray itself (VJPs and the engine allocate
    raw arrays with np.zeros_like & co), directly or through NumPy's own Python code (``np.pad`` on
    raw data inside a rule calls ``np.asarray`` and ``np.empty``)."""
    if not _devices.get() or not is_grad_enabled() or getattr(_local, "moving", False):
        return True
    frame = sys._getframe(depth)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("gradarray.") and module not in _TRACED_CALLERS:
            return True
        if not module.startswith("numpy."):
            return False            # user code (possibly through numpy.polynomial & co.)
        frame = frame.f_back
    return False


def _allocation(name):
    def wrapper(*args, **kwargs):
        if _plain_call() or kwargs.get("like") is not None:   # NumPy dispatches like= itself
            return _orig(name)(*args, **kwargs)
        out = _orig(name)(*args, **kwargs)
        return out if type(out) is GradArray else _place(out)    # tracked end points: dispatched
    wrapper.__name__ = name
    return wrapper


def _like_allocation(name):
    def wrapper(a, *args, **kwargs):
        if _plain_call():
            return _orig(name)(a, *args, **kwargs)
        if type(a) is GradArray:                          # same device and shape, never tracked
            return _make(_orig(name)(a._data, *args, **kwargs))
        return _place(_orig(name)(a, *args, **kwargs))
    wrapper.__name__ = name
    return wrapper


def _filled(out, value):
    """``out`` (untracked) filled with a tracked ``value``: the write is recorded."""
    out[...] = value
    return out


def _full(shape, fill_value, dtype=None, order="C", **kwargs):
    if _plain_call() or kwargs.get("like") is not None:
        return _orig("full")(shape, fill_value, dtype, order, **kwargs)
    if type(fill_value) is GradArray:
        zeros = _orig("zeros_like")(fill_value._data, shape=shape, dtype=dtype)   # fill's device
        return _filled(_make(zeros), fill_value)
    return _place(_orig("full")(shape, fill_value, dtype, order, **kwargs))


def _full_like(a, fill_value, dtype=None, *args, **kwargs):
    if _plain_call():
        return _orig("full_like")(a, fill_value, dtype, *args, **kwargs)
    if type(fill_value) is GradArray:
        raw = a._data if type(a) is GradArray else a
        zeros = _orig("zeros_like")(raw, dtype, *args, **kwargs)
        return _filled(_make(zeros) if type(a) is GradArray else _place(zeros), fill_value)
    if type(a) is GradArray:
        return _make(_orig("full_like")(a._data, fill_value, dtype, *args, **kwargs))
    return _place(_orig("full_like")(a, fill_value, dtype, *args, **kwargs))


# ----------------------------------------------------------------------------------- conversions
def _with_ndmin(out, ndmin):
    if out.ndim < ndmin:
        out = np.reshape(out, (1,) * (ndmin - out.ndim) + out.shape)
    return out


def _keeps_array(obj):
    """GradArrays (and lists of them) and raw device arrays (CuPy: no implicit host copy) are kept
    as GradArrays rather than converted to NumPy."""
    return _contains_gradarray(obj) or (not isinstance(obj, (np.ndarray, np.generic)) and
                                        _is_backend_array(obj))


def _array(obj, dtype=None, *, copy=True, order="K", subok=False, ndmin=0, like=None):
    if like is not None or _plain_call():
        return _orig("array")(obj, dtype, copy=copy, order=order, subok=subok, ndmin=ndmin, like=like)
    if _keeps_array(obj):
        return _with_ndmin(_ga_asarray(obj, dtype=dtype, copy=copy), ndmin)
    raw = _orig("array")(obj, dtype, copy=copy, order=order, subok=subok, ndmin=ndmin)
    # np.array(...) allocates a new buffer that the code may fill: make it able to hold the tape
    return _place(raw) if copy is True else raw


def _conversion(name):
    def wrapper(a, dtype=None, *args, **kwargs):
        if kwargs.get("like") is None and _keeps_array(a) and not _plain_call():
            return _ga_asarray(a, dtype=dtype, copy=kwargs.get("copy"))
        return _orig(name)(a, dtype, *args, **kwargs)
    wrapper.__name__ = name
    return wrapper


_WRAPPERS = {
    **{name: _allocation(name) for name in ("zeros", "ones", "empty", "eye", "identity", "arange",
                                             "linspace", "logspace", "geomspace")},
    **{name: _like_allocation(name) for name in ("zeros_like", "ones_like", "empty_like")},
    "full": _full,
    "full_like": _full_like,
    "array": _array,
    **{name: _conversion(name) for name in ("asarray", "asanyarray", "ascontiguousarray",
                                             "asfortranarray")},
}


# the functions the wrappers replace, captured once: a wrapper bound somewhere while the mode was
# active keeps working (as the original) after it ends
_ORIGINALS = {name: getattr(np, name) for name in _WRAPPERS}


class _PlainNumpy(types.ModuleType):
    """What compiled modules see as ``np`` while the mode is installed: NumPy with its original
    creation functions (Cython code such as numpy.random's casts their results to ndarray)."""

    def __getattr__(self, name):
        original = _ORIGINALS.get(name)
        return original if original is not None else getattr(np, name)


_PLAIN_NUMPY = _PlainNumpy("numpy")


def _compiled_modules_using_numpy():
    """(module, global name) for every loaded extension module with a global bound to numpy."""
    found = []
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None) or ""
        if not path.endswith((".so", ".pyd")):
            continue
        for name, value in list(vars(module).items()):
            if value is np:
                found.append((module, name))
    return found


# ----------------------------------------------------------------------------------- the mode
def _install():
    for name, wrapper in _WRAPPERS.items():
        setattr(np, name, wrapper)
    _swapped_np[:] = _compiled_modules_using_numpy()
    for module, name in _swapped_np:
        setattr(module, name, _PLAIN_NUMPY)


def _uninstall():
    for name, original in _ORIGINALS.items():
        setattr(np, name, original)
    for module, name in _swapped_np:
        setattr(module, name, np)
    _swapped_np.clear()


def _enter(device):
    with _lock:
        if _installs[0] == 0:
            _install()
        _installs[0] += 1
    return _devices.set(_devices.get() + (device,))


def _exit(token):
    _devices.reset(token)
    with _lock:
        _installs[0] -= 1
        if _installs[0] == 0:
            _uninstall()


class _TraceNumpy:
    """The object returned by ``trace_numpy()``: a context manager that also decorates functions."""

    def __init__(self, device=None):
        self.device = _backend.parse_device(device)
        self._tokens = []

    def __enter__(self):
        self._tokens.append(_enter(self.device))
        return self

    def __exit__(self, *exc):
        _exit(self._tokens.pop())
        return False

    def __call__(self, func):
        device = self.device

        @functools.wraps(func)
        def traced(*args, **kwargs):
            with _TraceNumpy(device):
                return func(*args, **kwargs)
        return traced


def trace_numpy(func=None, *, device=None):
    """Make NumPy's creation functions return GradArrays (see the module docstring).

    Use as ``with ga.trace_numpy(): ...``, ``@ga.trace_numpy`` or ``@ga.trace_numpy(device="cuda")``.
    ``device``: where ``np.zeros(...)`` and friends allocate (default: the CPU).
    """
    if func is not None:
        if not callable(func):
            raise TypeError("trace_numpy(func): func must be callable; pass device= by keyword")
        return _TraceNumpy(device)(func)
    return _TraceNumpy(device)
