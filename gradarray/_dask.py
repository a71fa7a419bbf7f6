"""Dask as a backend: GradArrays over Dask arrays, whose forward and backward passes stay lazy.

``ga.asarray(dask_array, requires_grad=True)`` (or ``ga.zeros(..., device="dask")``, or
``ga.asarray(host, device="dask")``) wraps a ``dask.array.Array``. Every ``np.*`` call then builds
Dask graph instead of computing, backward builds the gradient graph, and ``x.grad`` is a GradArray
over a Dask array with ``x``'s chunks. Nothing runs until the user asks: ``x.grad.compute()``,
``ga.compute(x.grad, w.grad)`` (one shared graph run), ``x.numpy()``, ``float(loss)``.

Devices: a Dask-backed GradArray is on device ``"dask"`` (no index: its chunks live wherever the
scheduler puts them). Host NumPy arrays mix with it as constants, as they do with Dask itself;
``to_device("cpu")`` computes (an explicit, differentiable move). Dask arrays whose chunks are CuPy
arrays are also device ``"dask"``: gradients run on CuPy chunk by chunk, where CuPy runs the
function (host constants must then be moved to the GPU first, as with CuPy).

The guarantee that nothing computes: every call that gradarray makes on Dask data (a rule's forward
function, a composite's Python code, a whole backward pass) runs under :func:`no_compute`, under
which running a Dask graph raises :class:`DaskComputeError` naming the function (and the NumPy
function that Dask lacks, when Dask would have computed to fall back to NumPy). The user's own
``float(loss)``, ``.compute()``, ``.numpy()`` are explicit and run.

Registered lazily (``_backend.defer_backend``): importing gradarray does not import Dask.
"""
from __future__ import annotations

import contextlib
import sys
import threading

import numpy as np

from . import _backend
from ._array import GradArray, _make
from ._dispatch import _func_name
from ._gradients import MaskedGradient, SparseGradient

__all__ = ["DaskComputeError", "no_compute", "allow_compute", "call", "compute", "register",
           "DEVICE"]

DEVICE = _backend.Device("dask")


class DaskComputeError(NotImplementedError):
    """A step that Dask cannot run lazily: gradarray would have had to compute a Dask graph on its
    own (see :func:`no_compute`), or Dask does not implement the NumPy function at all."""


# --------------------------------------------------------------------------------------------------
# the no-compute guard: while a thread runs gradarray code on Dask data, the configured scheduler
# is a function that refuses that thread (and hands every other thread's graphs to the scheduler
# that was configured before, so other threads keep computing).
# --------------------------------------------------------------------------------------------------
_local = threading.local()
_lock = threading.Lock()
_ABSENT = object()          # no scheduler was configured
_installed = [0, _ABSENT]   # threads inside a guard, the scheduler configured before the first one
_ALLOWED = object()         # pushed by allow_compute(): an explicit compute inside a guard


def _stack():
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def _install():
    import dask
    with _lock:
        _installed[0] += 1
        if _installed[0] == 1:
            previous = dask.config.config.get("scheduler", _ABSENT)
            _installed[1] = _ABSENT if previous is _refusing_get else previous
            dask.config.set(scheduler=_refusing_get)


def _uninstall():
    import dask
    with _lock:
        _installed[0] -= 1
        if _installed[0] == 0:
            if dask.config.config.get("scheduler") is _refusing_get:
                if _installed[1] is _ABSENT:
                    dask.config.config.pop("scheduler", None)
                else:
                    dask.config.set(scheduler=_installed[1])
            _installed[1] = _ABSENT


@contextlib.contextmanager
def no_compute(what):
    """Run gradarray's own code on Dask data: computing a Dask graph in this thread raises
    :class:`DaskComputeError` naming ``what`` (a NumPy function, or "backward")."""
    stack = _stack()
    stack.append(what)
    if len(stack) == 1:
        _install()
    try:
        yield
    finally:
        stack.pop()
        if not stack:
            _uninstall()


@contextlib.contextmanager
def guarded(what):
    """:func:`no_compute`, and an error that Dask raises names the function (or gradient rule) it
    was running for: "np.linalg.qr on Dask arrays: qr currently supports only tall-and-skinny..."."""
    with no_compute(what):
        try:
            yield
        except DaskComputeError:
            raise
        except (NotImplementedError, ValueError, TypeError, IndexError) as exc:
            renamed = _named(exc, what)
            if renamed is None:
                raise
            raise renamed from exc


def _named(exc, what):
    """``exc`` raised by Dask, re-raised with the NumPy function's or rule's name in front."""
    tb, last, node = exc.__traceback__, None, None
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_globals.get("__name__") == "gradarray._tape" and \
                frame.f_code.co_name in ("_call_vjps", "_backward"):
            node = frame.f_locals.get("node" if frame.f_code.co_name == "_call_vjps" else "current")
        last, tb = frame, tb.tb_next
    message = str(exc)
    if last is None or not str(last.f_globals.get("__name__", "")).startswith("dask") or \
            "on Dask arrays" in message:
        return None
    if getattr(node, "rule", None) is not None:
        where = f"the gradient rule of {node.rule.name}"
    elif callable(what):
        where = _func_name(what)
    elif isinstance(what, str) and what != "backward":
        where = what
    else:
        return None
    try:
        return type(exc)(f"{where} on Dask arrays (a limit of dask.array): {message}")
    except Exception:
        return NotImplementedError(f"{where} on Dask arrays (a limit of dask.array): {message}")


def allow_compute():
    """An explicit compute asked for by the user (``to_device("cpu")``) inside a guarded call: the
    innermost entry of the guard's stack allows it."""
    return no_compute(_ALLOWED)


def _previous_scheduler():
    import dask.base
    import dask.threaded
    previous = _installed[1]
    if previous is not _ABSENT and previous is not None:
        return dask.base.get_scheduler(scheduler=previous)
    if "distributed" in sys.modules:
        try:
            return dask.base.get_scheduler(scheduler="distributed")
        except (RuntimeError, ValueError):
            pass
    return dask.threaded.get


def _refusing_get(dsk, keys, **kwargs):
    """The scheduler installed while a guard is active."""
    stack = getattr(_local, "stack", None)
    if stack and stack[-1] is not _ALLOWED:
        raise DaskComputeError(_refusal(stack[-1]))
    return _previous_scheduler()(dsk, keys, **kwargs)


def _refusal(what):
    """The message: which function asked for values, and why Dask would have computed."""
    missing = node = None
    frame = sys._getframe(2)
    while frame is not None:
        code = frame.f_code.co_name
        if missing is None and code == "handle_nonmatching_names":
            missing = frame.f_locals.get("func")
        elif node is None and code in ("_call_vjps", "_backward") and \
                frame.f_globals.get("__name__") == "gradarray._tape":
            node = frame.f_locals.get("node" if code == "_call_vjps" else "current")
        frame = frame.f_back
    if node is not None and getattr(node, "rule", None) is not None:
        where = f"the gradient rule of {node.rule.name}"
    elif callable(what):
        where = _func_name(what)
    else:
        where = str(what)
    if missing is not None:
        why = (f"calls {_func_name(missing)}, which Dask does not implement for Dask arrays (Dask "
               "would compute the whole array to run NumPy's version on it)")
    else:
        why = ("needs the values of a Dask array (a branch on data, float()/bool()/.item(), or a "
               "copy to the host)")
    return (f"{where} {why}; gradarray never computes a Dask graph on its own: forward and backward "
            "stay lazy until you call .compute(). Compute the inputs first (x.compute()) and "
            "differentiate this step on NumPy, or express it with functions Dask implements.")


# --------------------------------------------------------------------------------------------------
# forward calls on Dask data
# --------------------------------------------------------------------------------------------------
_SIGNATURES = {}


def call(func, args, kwargs):
    """``func(*args, **kwargs)`` on Dask data (what dispatch runs for a rule's forward function),
    under :func:`no_compute`. Dask's functions take fewer parameters than NumPy's: when Dask refuses
    the call, it is retried with the arguments left at NumPy's defaults dropped (``order="C"``,
    ``mode="reduced"``, ``rcond=None``: what gradarray's composites pass on), and an error that
    remains names the function and what Dask does not take."""
    override = _OVERRIDES.get(func)
    with guarded(func):
        if override is not None:
            return override(*args, **kwargs)
        if not _implemented(func):
            raise DaskComputeError(
                f"{_func_name(func)} on Dask arrays: Dask does not implement this NumPy function "
                "(dask.array has no namesake; Dask would compute the whole array to run NumPy's "
                "version on it), and gradarray never computes a Dask graph on its own. Compute the "
                "input first (x.compute()) or use functions Dask implements.")
        try:
            return func(*args, **kwargs)
        except TypeError as exc:
            retry = _without_defaults(func, args, kwargs)
            if retry is None:
                raise
            try:
                return func(*retry[0], **retry[1])
            except TypeError as again:
                given = ", ".join(f"{k}={v!r}" for k, v in retry[1].items()
                                  if not hasattr(v, "shape"))
                raise TypeError(
                    f"{_func_name(func)} on Dask arrays: Dask's version of this function refused "
                    f"the arguments ({given or 'positional only'}): {again}. This is a limit of "
                    "dask.array; call it with the arguments Dask supports, or compute the input "
                    "first.") from exc


def _implemented(func):
    """Does Dask's ``__array_function__`` have its own version of NumPy function ``func``? (The
    lookup Dask makes: ``_HANDLED_FUNCTIONS``, else the namesake in dask.array's submodule.)
    Functions that are not NumPy's (gradarray's primitives) run on Dask arrays as they are."""
    module = getattr(func, "__module__", None) or ""
    if not module.startswith("numpy") or isinstance(func, np.ufunc) or \
            not hasattr(func, "_implementation") and not module.startswith("numpy._core"):
        return True
    import dask.array as namespace
    from dask.array.core import _HANDLED_FUNCTIONS
    if func in _HANDLED_FUNCTIONS:
        return True
    for sub in module.split(".")[1:]:
        if sub.startswith("_"):
            continue
        namespace = getattr(namespace, sub, None)
        if namespace is None:
            return False
    own = getattr(namespace, func.__name__, None)
    return own is not None and own is not func


def _without_defaults(func, args, kwargs):
    """(args, kwargs) with every argument after the first passed by name and those equal to
    NumPy's default dropped; an integer ``shape`` of reshape becomes a tuple. None when that
    changes nothing."""
    import inspect
    sig = _SIGNATURES.get(func)
    if sig is None:
        try:
            sig = _SIGNATURES[func] = inspect.signature(func)
        except (TypeError, ValueError):
            return None
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError:
        return None
    items = list(bound.arguments.items())
    if not items:
        return None
    changed = len(args) > 1                     # positional arguments passed by name from now on
    first, rest = items[0], {}
    for name, v in items[1:]:
        p = sig.parameters[name]
        if p.kind is p.VAR_KEYWORD:
            rest.update(v)
        elif p.kind is p.VAR_POSITIONAL:
            return None
        elif _is_default(v, p.default):
            changed = True
        else:
            rest[name] = v
    if func is np.reshape and isinstance(rest.get("shape"), (int, np.integer)):
        rest["shape"], changed = (rest["shape"],), True
    return ((first[1],), rest) if changed else None


def _cholesky(a, upper=False):
    import dask.array as da
    return da.linalg.cholesky(a, lower=not upper)       # Dask's default is the upper factor


def _svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    import dask.array as da
    if full_matrices and a.shape[-1] != a.shape[-2] and compute_uv:
        raise NotImplementedError(
            "np.linalg.svd(full_matrices=True) on Dask arrays (a limit of dask.array): Dask "
            "computes the reduced SVD only; pass full_matrices=False")
    if hermitian:
        raise NotImplementedError("np.linalg.svd(hermitian=True) on Dask arrays: Dask has no "
                                  "eigendecomposition (dask.array.linalg lacks eigh)")
    u, s, vh = da.linalg.svd(a)
    return type(np.linalg.svd(np.eye(1)))(u, s, vh) if compute_uv else s


def _qr(a, mode="reduced"):
    import dask.array as da
    if mode not in ("reduced", "r") and not (mode == "complete" and a.shape[-2] <= a.shape[-1]):
        raise NotImplementedError(f"np.linalg.qr(mode={mode!r}) on Dask arrays (a limit of "
                                  "dask.array): Dask computes the reduced QR only")
    q, r = da.linalg.qr(a)
    return r if mode == "r" else type(np.linalg.qr(np.eye(1)))(q, r)


def _pinv(a, rcond=None, hermitian=False, **kwargs):
    """NumPy's pinv (same cutoff) from Dask's reduced svd: V diag(1/s) U^H."""
    import dask.array as da
    if a.ndim != 2:
        raise NotImplementedError("np.linalg.pinv on Dask arrays (a limit of dask.array): 2-D only")
    rtol = kwargs.get("rtol")
    if rcond is None:
        rcond = 1e-15 if "rtol" not in kwargs else (
            max(a.shape) * np.finfo(a.dtype).eps if rtol is None else rtol)
    u, s, vh = da.linalg.svd(a)
    keep = s > rcond * da.max(s)
    s_inv = da.where(keep, 1 / da.where(keep, s, 1), 0)
    return (da.conj(vh).T * s_inv) @ da.conj(u).T


def _broadcast_to(array, shape, subok=False):
    """Dask's broadcast_to puts each new (or stretched) axis in one chunk: a gradient broadcast to
    a large array's shape would be one huge chunk. Here those axes get Dask's "auto" chunks."""
    import dask.array as da
    shape = tuple(shape) if np.iterable(shape) else (shape,)
    lead = len(shape) - array.ndim
    auto = da.core.normalize_chunks("auto", shape, dtype=array.dtype)
    chunks = tuple(auto[i] if i < lead or array.shape[i - lead] != shape[i] else
                   array.chunks[i - lead] for i in range(len(shape)))
    return da.broadcast_to(array, shape, chunks=chunks)


def _split(ary, indices_or_sections, axis=0):
    import dask.array as da
    n = ary.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        if n % indices_or_sections:
            raise ValueError("array split does not result in an equal division")
        step = n // indices_or_sections
        cuts = list(range(step, n, step))
    else:
        cuts = list(indices_or_sections)
    bounds = [0] + [min(max(c + n if c < 0 else c, 0), n) for c in cuts] + [n]
    index = [slice(None)] * ary.ndim
    pieces = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        index[axis] = slice(lo, max(lo, hi))
        pieces.append(ary[tuple(index)])
    return pieces


def _inner(a, b):
    import dask.array as da
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return da.tensordot(a, b, axes=([-1], [-1]))


# NumPy functions whose Dask namesake differs in what it returns: Dask's own call with NumPy's
# meaning (Dask's cholesky returns the upper factor by default, its svd and qr plain tuples)
_OVERRIDES = {np.linalg.cholesky: _cholesky, np.linalg.svd: _svd, np.linalg.qr: _qr,
              np.linalg.pinv: _pinv, np.split: _split, np.inner: _inner,
              np.broadcast_to: _broadcast_to,
              np.copy: lambda a, order="K", subok=False: a.copy(),
              np.size: lambda a, axis=None: a.size if axis is None else a.shape[axis],
              np.isrealobj: lambda x: getattr(x, "dtype", np.dtype(float)).kind != "c"}


def _is_default(value, default):
    if value is default:
        return True
    if type(value) in (int, float, str, bool) and type(default) in (int, float, str, bool):
        return value == default
    return False


# --------------------------------------------------------------------------------------------------
# explicit computes: GradArray.compute(), ga.compute(...)
# --------------------------------------------------------------------------------------------------
def _concrete(value):
    """A computed chunk-type array (NumPy, CuPy) with NumPy scalars as 0-d arrays."""
    return np.asarray(value) if isinstance(value, np.generic) else value


def compute(*arrays, **kwargs):
    """Compute several GradArrays (or Dask arrays) in one graph run, sharing their common work
    (``ga.compute(loss, w.grad, b.grad)``); returns untracked GradArrays over the computed chunk
    type (NumPy, or CuPy for CuPy-backed Dask arrays). ``kwargs`` go to ``dask.compute``
    (``scheduler="threads"``...). Arrays that are not lazy come back detached."""
    import dask
    raws = [a._data if type(a) is GradArray else a for a in arrays]
    lazy = [i for i, r in enumerate(raws) if _backend.is_lazy(r)]
    with allow_compute():
        values = dask.compute(*[raws[i] for i in lazy], **kwargs) if lazy else ()
    for i, v in zip(lazy, values):
        raws[i] = _concrete(v)
    return tuple(_make(r) if hasattr(r, "shape") and hasattr(r, "dtype") else r for r in raws)


def _compute_method(self, **kwargs):
    """The values, computed: an untracked GradArray over the chunk type (NumPy, or CuPy for
    CuPy-backed Dask arrays). On a lazy backend (Dask) this runs the graph (``kwargs`` go to
    ``dask.compute``); on NumPy/CuPy the values are already there and it is ``detach()``."""
    if not _backend.is_lazy(self._data):
        return self.detach()
    return compute(self, **kwargs)[0]


def _persist_method(self, **kwargs):
    """Dask's ``persist``: start computing the graph (on a cluster: keep the chunks in worker
    memory) and return an untracked GradArray over the persisted Dask array. Elsewhere ``detach()``."""
    if not _backend.is_lazy(self._data):
        return self.detach()
    import dask
    with allow_compute():
        (raw,) = dask.persist(self._data, **kwargs)
    return _make(raw)


GradArray.compute = _compute_method
GradArray.persist = _persist_method


# --------------------------------------------------------------------------------------------------
# the backend
# --------------------------------------------------------------------------------------------------
def _to_host(raw):
    """A NumPy array of the values: runs the graph (raises under a guard)."""
    value = _concrete(raw.compute())
    return value if isinstance(value, np.ndarray) else _backend.to_host(value)


def _from_host(host, device):
    import dask.array as da
    return da.from_array(np.asarray(host), chunks="auto")


def _leaf_gradient(g, leaf):
    """A gradient for Dask leaf ``leaf`` (raw, or recorded under create_graph) with ``leaf``'s chunks."""
    import dask.array as da
    if type(g) is SparseGradient:
        g = g.dense()
    elif type(g) is MaskedGradient:
        g = g.values
    if type(g) is GradArray:
        return g
    if isinstance(g, (np.ndarray, np.generic)):
        return da.from_array(np.asarray(g), chunks=leaf.chunks)
    if type(g) is da.Array and g.chunks != leaf.chunks and g.shape == leaf.shape:
        return g.rechunk(leaf.chunks)
    return g


class _Namespace:
    """``dask.array`` as the backend's creation namespace, with NumPy's argument orders."""

    def __init__(self, da):
        self._da = da
        self.ndarray = da.Array
        self.add = _ScatterUfunc()

    def __getattr__(self, name):
        return getattr(self._da, name)

    def eye(self, N, M=None, k=0, dtype=float):
        return self._da.eye(N, M=M, k=k, dtype=dtype)

    def identity(self, n, dtype=float):
        return self._da.eye(n, dtype=dtype)

    def asarray(self, obj, dtype=None):
        return self._da.asarray(obj, dtype=dtype)

    array = asarray


class _ScatterUfunc:
    """``xp.add`` of the Dask namespace: ``add.at(out, index, values)`` (used by the indexing
    rules' scatter) writes into ``out`` lazily (``out`` is rebound to a new graph)."""

    __name__ = "add"

    def __call__(self, *args, **kwargs):
        return np.add(*args, **kwargs)

    def at(self, out, index, values):
        scatter_add(out, index, values)


def _is_int_array(i):
    if type(i) is list:
        i = np.asarray(i)
    return hasattr(i, "dtype") and i.dtype.kind in "iu" and getattr(i, "ndim", 0) > 0


def _expand(index, ndim):
    """The items of ``index`` with the Ellipsis (or the missing trailing axes) as full slices."""
    items = list(index) if type(index) is tuple else [index]
    consumed = sum(1 for i in items if i is not None and i is not Ellipsis)
    fill = [slice(None)] * (ndim - consumed)
    for j, i in enumerate(items):
        if i is Ellipsis:
            return items[:j] + fill + items[j + 1:]
    return items + fill


def scatter_add(out, index, values):
    """``out[index] += values`` with repeated integer indices accumulating (``np.add.at``), built
    lazily with Dask's setitem. A NumPy integer index is split on the host into layers without
    repeats (as many layers as the most repeated index); each layer is one Dask setitem."""
    items = _expand(index, out.ndim)
    values = np.broadcast_to(values, out[tuple(items)].shape)
    if any(i is None for i in items):           # Dask's setitem takes no np.newaxis: drop the
        position, drop = 0, []                  # length-1 axes they made in ``values``
        for i in items:
            if i is None:
                drop.append(position)
            if not (type(i) is int or isinstance(i, np.integer)):
                position += 1
        values = np.squeeze(values, axis=tuple(drop))
        items = [i for i in items if i is not None]
    arrays = [k for k, i in enumerate(items) if _is_int_array(i)]
    if not arrays:
        target = tuple(items)
        out[target] = out[target] + values
        return
    if len(arrays) > 1:
        raise NotImplementedError(
            "gradient of x[i, j, ...] with several integer index arrays on a Dask array: Dask has "
            "no pointwise scatter; index one axis at a time")
    k = arrays[0]
    if _backend.is_lazy(items[k]):
        raise NotImplementedError(
            "gradient of x[index] with a Dask integer index array: the scatter that adds the "
            "gradient back needs the index values (repeated indices accumulate); pass the index "
            "as a NumPy array")
    idx = np.asarray(items[k])
    if idx.ndim != 1:
        raise NotImplementedError(
            "gradient of x[index] with a multi-dimensional integer index array on a Dask array: "
            "Dask indexes with one-dimensional integer arrays only; index with idx.ravel() and "
            "reshape the result")
    axis = vaxis = 0                        # the axis idx indexes in out, the one it makes in values
    for i in items[:k]:
        if type(i) is int or isinstance(i, np.integer):
            axis += 1
        else:
            axis, vaxis = axis + 1, vaxis + 1
    idx = np.where(idx < 0, idx + out.shape[axis], idx)
    order = np.argsort(idx, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(idx[order])) + 1]
    rank = np.empty(len(idx), dtype=np.intp)         # 0 for an index's first occurrence, 1 ...
    rank[order] = np.arange(len(idx)) - np.repeat(starts, np.diff(np.r_[starts, len(idx)]))
    for layer in range(int(rank.max()) + 1 if len(idx) else 0):
        positions = np.flatnonzero(rank == layer)
        target = list(items)
        target[k] = idx[positions]
        target = tuple(target)
        source = [slice(None)] * values.ndim
        source[vaxis] = positions
        out[target] = out[target] + values[tuple(source)]


def register():
    """Register Dask as device type ``"dask"`` (idempotent; imports dask.array)."""
    existing = _backend._BACKENDS.get("dask")
    if existing is not None:
        return existing
    import dask.array as da
    backend = _backend.register_backend(
        "dask", da.Array, _Namespace(da), device_of=lambda raw: DEVICE, from_host=_from_host,
        to_host=_to_host)
    backend.lazy = True
    backend.no_compute = guarded
    backend.call = call
    backend.allow_compute = allow_compute
    backend.leaf_gradient = _leaf_gradient
    _backend.LAZY[da.Array] = backend
    return backend


_backend.defer_backend("dask", "dask.array", register)
