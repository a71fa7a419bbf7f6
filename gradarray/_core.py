"""The tape: GradArray, graph nodes, dispatch of NumPy calls, and the backward pass.

Everything on the hot path lives in this one module so that a ufunc call costs a handful of
attribute reads. The derivative rules themselves live in ``gradarray/overrides``, ``linalg`` and
``fft``; they are registered into the registries defined here (see ``_registry.py`` for the API).

Vocabulary
- *raw* array: the backend array a GradArray wraps (numpy.ndarray, cupy.ndarray, ...).
- *node*: one recorded call. It keeps the rule, the saved values the rule asked for, and one *edge*
  per tracked input. An edge points at the node that produced that input (or at the leaf GradArray
  itself), so the graph keeps alive only what backward needs.
- *rule*: a :class:`Rule` — one VJP function per differentiable argument (or one joint VJP).
"""
from __future__ import annotations

import heapq
import itertools
import threading
import warnings

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from . import _backend

class _ThreadState(threading.local):
    """Per-thread settings; class attributes are the defaults every new thread starts with."""
    enabled = True      # grad mode


_state = _ThreadState()


# --------------------------------------------------------------------------------------------------
# grad mode (thread-local)
# --------------------------------------------------------------------------------------------------
def is_grad_enabled() -> bool:
    return _state.enabled


def _set_grad_enabled(flag: bool) -> bool:
    previous = _state.enabled
    _state.enabled = flag
    return previous


class _GradModeContext:
    """Base of ``no_grad`` / ``enable_grad``: a context manager that also decorates functions."""

    _flag = True

    def __enter__(self):
        self._previous = _set_grad_enabled(self._flag)
        return self

    def __exit__(self, *exc):
        _set_grad_enabled(self._previous)
        return False

    def __call__(self, func):
        import functools

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with type(self)():
                return func(*args, **kwargs)
        return wrapper


class no_grad(_GradModeContext):
    """Run NumPy code without recording a tape (thread-local)."""
    _flag = False


class enable_grad(_GradModeContext):
    """Re-enable recording inside a ``no_grad`` block (thread-local)."""
    _flag = True


class set_grad_enabled(_GradModeContext):
    def __init__(self, mode: bool):
        self._flag = bool(mode)

    def __call__(self, func):  # pragma: no cover - same as base, kept for symmetry
        return super().__call__(func)


# --------------------------------------------------------------------------------------------------
# strict mode: what happens when a tracked array is converted to a plain ndarray
# --------------------------------------------------------------------------------------------------
class GradientLostWarning(UserWarning):
    """A tracked GradArray was converted to a plain array; gradients cannot flow through it."""


_strict = [False]


def set_strict(flag: bool = True) -> bool:
    """In strict mode, converting a tracked GradArray to a plain ndarray raises instead of warning."""
    previous = _strict[0]
    _strict[0] = bool(flag)
    return previous


# --------------------------------------------------------------------------------------------------
# rules and registries
# --------------------------------------------------------------------------------------------------
class Rule:
    """How to differentiate one NumPy callable.

    ``vjps[i](g, ans, *args, **kwargs)`` returns the gradient for positional argument ``i`` (None when
    that argument is not differentiable); alternatively ``joint(g, ans, *args, **kwargs)`` returns a
    tuple with one entry per positional argument. ``g`` is the upstream gradient (a tuple for
    multi-output functions, zeros filled in for outputs that got none). A gradient for a sequence
    argument (``np.concatenate([a, b])``) is a list, one entry per element.

    ``save``: which forward values the node keeps — "args", "ans", "both" or "none". With "none" or
    "ans", array arguments reach the rule as :class:`ShapeDtype` placeholders (shape/dtype/ndim/size).
    ``params``: the names of the VJP's positional parameters after (g, ans), so that a tracked array
    passed by keyword is routed to the right gradient.
    ``view``: the forward result may share memory with argument 0 (reshape, transpose, basic
    indexing): it then shares the version counter, so in-place writes are seen through the view.
    """

    __slots__ = ("vjps", "joint", "save_args", "save_ans", "params", "view", "name", "keep")

    def __init__(self, vjps=None, joint=None, save="args", params=None, view=False, name=None,
                 needs=None):
        if (vjps is None) == (joint is None):
            raise ValueError("a rule needs either per-argument vjps or one joint vjp")
        if save not in ("args", "ans", "both", "none"):
            raise ValueError(f"save must be 'args', 'ans', 'both' or 'none', not {save!r}")
        self.vjps = tuple(vjps) if vjps is not None else None
        self.joint = joint
        self.save_args = save in ("args", "both")
        self.save_ans = save in ("ans", "both")
        self.params = params or {}
        self.view = view
        self.name = name
        # ``needs[i]``: the argument positions VJP i reads. From it, ``keep`` maps the positions of
        # the tracked inputs of a call to the arguments worth saving: ``x * 3.0`` with only x
        # tracked saves 3.0, not x (less memory, and x may then be modified in place).
        self.keep = _keep_table(needs) if needs is not None and self.save_args else {}


# NumPy callable -> Rule.  Ufuncs and array functions share one dict: a ufunc object and a function
# object never collide.
RULES: dict = {}
# NumPy function -> Python implementation that receives GradArrays (composites, custom wrappers).
IMPLEMENTATIONS: dict = {}
# (ufunc, method) -> implementation for reduce/accumulate/outer/at/reduceat; method -> generic impl.
UFUNC_METHODS: dict = {}
# Callables that compute untracked results (step functions, predicates, index queries).
NONDIFFERENTIABLE: set = set()
# ufunc -> composite used for non-NumPy data, where the backend lacks the ufunc (CuPy 13 has no
# vecdot/matvec/vecmat, and cannot look up scipy.special's private _zeta by name).
DEVICE_UFUNC_FALLBACKS: dict = {}


def _keep_table(needs):
    """{positions of the tracked inputs: (keep argument 0?, keep argument 1?, ...)}; a missing
    entry means: keep every argument."""
    table = {}
    positions = [i for i, n in enumerate(needs) if n is not None]
    for mask in range(1, 1 << len(positions)):
        tracked = tuple(p for k, p in enumerate(positions) if mask >> k & 1)
        kept = frozenset(j for p in tracked for j in needs[p])
        if kept != frozenset(range(len(needs))):
            table[tracked] = tuple(j in kept for j in range(len(needs)))
    return table


class ShapeDtype:
    """Stands in for an argument whose value a rule does not need (only its shape and dtype)."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape = shape
        self.dtype = dtype

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        n = 1
        for s in self.shape:
            n *= s
        return n

    def __repr__(self):
        return f"ShapeDtype({self.shape}, {self.dtype})"


# --------------------------------------------------------------------------------------------------
# graph nodes
# --------------------------------------------------------------------------------------------------
# creation numbers, counting down: the newest node has the smallest, so it pops first from a min-heap
_node_seq = itertools.count(0, -1)


class Node:
    """One recorded call.

    edges: tuple of (where, target, out_index, shape, dtype) — ``where`` is the positional index of the
    argument, ``(index, element)`` for an element of a sequence argument, or a keyword name;
    ``target`` is the producing Node or, for a leaf, the leaf GradArray.
    """

    __slots__ = ("rule", "edges", "args", "kwargs", "ans", "versions", "n_out", "out_meta", "seq",
                 "uses", "raw", "vjps", "__weakref__")

    def __init__(self, rule, edges, args, kwargs, ans, versions, n_out, out_meta):
        # nodes are numbered in creation order, which is a topological order of the graph
        self.seq = next(_node_seq)
        # how many edges point at this node; backward hands a node used once straight to its
        # only consumer's successor step, without the heap
        self.uses = 0
        for e in edges:
            t = e[1]
            if type(t) is not GradArray:
                t.uses += 1
        self.rule = rule
        self.edges = edges
        self.args = args
        self.kwargs = kwargs
        self.ans = ans
        self.versions = versions
        self.n_out = n_out
        self.out_meta = out_meta      # ((shape, dtype), ...) of the outputs, to fill missing grads
        self.raw = self.vjps = None   # set for _UfuncNode only

    @property
    def freed(self):
        """True once backward has released the saved values (args is None only then)."""
        return self.args is None

    @property
    def name(self):
        return self.rule.name

    def __repr__(self):
        return f"<{self.rule.name}Backward>"

    def release(self):
        self.args = self.ans = self.versions = self.raw = self.vjps = None
        if self.kwargs:
            self.kwargs = {}


class _UfuncNode(Node):
    """A node recorded by the ufunc hot path: one or two positional inputs, one output.

    ``raw``: the saved arguments as raw arrays (``args`` keeps the GradArrays, for create_graph);
    ``vjps``: the rule's VJPs that backward calls on them (None once released). The class
    attributes stand in for slots whose value is always the same here.
    """

    __slots__ = ()
    kwargs = None
    n_out = 1
    out_meta = None


# --------------------------------------------------------------------------------------------------
# GradArray
# --------------------------------------------------------------------------------------------------
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
    a.grad = None
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

    __slots__ = ("_data", "_node", "_requires_grad", "_out_index", "_version", "_view_of", "grad",
                 "__weakref__")

    __array_priority__ = 100

    def __init__(self, data, requires_grad=False):
        raise TypeError("create GradArrays with gradarray.asarray(data, requires_grad=...) "
                        "or gradarray.array(...)")

    # ---------------------------------------------------------------- basic attributes
    @property
    def data(self):
        """The raw backend array (numpy or cupy), shared, not copied; it carries no gradient."""
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
        return host.copy() if host is self._data else host

    def item(self, *args):
        if self._data.size != 1 and not args:
            raise ValueError(f"item() needs an array with one element, this one has shape {self.shape}")
        return self._data.item(*args)

    def tolist(self):
        return self._data.tolist()

    def __array__(self, dtype=None, copy=None):
        if not _backend.is_host_array(self._data):
            raise TypeError(
                f"implicit conversion of a GradArray on device {self.device} to a NumPy array is not "
                "allowed; use .numpy() for an explicit host copy (which is cut from the tape)")
        if self._requires_grad:
            message = ("a GradArray that requires grad was converted to a plain numpy array "
                       "(np.asarray/np.array or a C extension); the gradient cannot flow through the "
                       "result. Use .detach() or .numpy() to make the cut explicit, or keep the value "
                       "a GradArray.")
            if _strict[0]:
                raise RuntimeError(message)
            warnings.warn(message, GradientLostWarning, stacklevel=2)
        data = self._data
        if dtype is not None and data.dtype != dtype:
            return data.astype(dtype)
        if copy:
            return data.copy()
        return data

    def __dlpack__(self, *args, **kwargs):
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    def to_device(self, device, /, *, stream=None):
        """The same values on another device; differentiable (the gradient moves back)."""
        from ._creation import to_device as _to
        return _to(self, device)

    def to(self, device):
        return self.to_device(device)

    def cpu(self):
        return self.to_device("cpu")

    def cuda(self, n=None):
        return self.to_device("cuda" if n is None else f"cuda:{n}")

    def __float__(self):
        self._warn_if_tracked("float()")
        return float(self._scalar("float"))

    def __int__(self):
        self._warn_if_tracked("int()")
        return int(self._scalar("int"))

    def __complex__(self):
        self._warn_if_tracked("complex()")
        return complex(self._scalar("complex"))

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
        return int(self._scalar("index"))

    def __bool__(self):
        if self._data.size != 1:
            raise ValueError(f"the truth value of an array with {self._data.size} elements is "
                             "ambiguous; use a.any() or a.all()")
        return bool(self._data)

    def _scalar(self, what):
        if self._data.size != 1:
            raise TypeError(f"only arrays with one element can be converted to a Python {what}, "
                            f"this one has shape {self.shape}")
        return self._data.item() if hasattr(self._data, "item") else self._data

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
        return np.copy(self)

    def __deepcopy__(self, memo):
        return np.copy(self)

    def __reduce__(self):
        from ._creation import _rebuild
        return (_rebuild, (self.numpy(), str(self.device), self._requires_grad and self._node is None))

    # ---------------------------------------------------------------- repr
    def __repr__(self):
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
        return str(_backend.to_host(self._data))

    def __format__(self, spec):
        if self._data.ndim == 0:
            return format(self._data.item(), spec)
        return str(self)

    # ---------------------------------------------------------------- NumPy protocols
    # __array_ufunc__ is _array_ufunc, defined below with the ufunc hot path

    def __array_function__(self, func, types, args, kwargs):
        impl = IMPLEMENTATIONS.get(func)
        if impl is not None:
            return impl(*args, **kwargs)
        rule = RULES.get(func)
        if rule is not None:
            return apply_function(func, rule, args, kwargs)
        from ._creation import LIKE_CREATION, create_like
        if func in LIKE_CREATION:
            return create_like(func, self, args, kwargs)
        return apply_untracked(func, args, kwargs)

    def __array_namespace__(self, /, *, api_version=None):
        from . import array_api
        return array_api

    # ---------------------------------------------------------------- indexing
    def __getitem__(self, index):
        from .overrides.indexing import getitem
        return getitem(self, index)

    def __setitem__(self, index, value):
        from .overrides.indexing import setitem
        setitem(self, index, value)


def _int_grad_message(dtype):
    return (f"only floating-point and complex arrays can require gradients, not {dtype}; "
            "convert first, e.g. ga.asarray(x, dtype=np.float64, requires_grad=True)")


# --------------------------------------------------------------------------------------------------
# applying a recorded primitive
# --------------------------------------------------------------------------------------------------
def _edge_target(x):
    node = x._node
    return x if node is None else node


def _check_devices(raws):
    """Raise a clear error when arrays from different devices meet in one call."""
    kinds = {}
    for r in raws:
        if isinstance(r, np.ndarray):
            if r.ndim == 0:
                continue
            kinds.setdefault(_backend.CPU, None)
        elif _is_array_result(r) and not isinstance(r, np.generic):
            kinds.setdefault(_backend.device_of(r), None)
    if len(kinds) > 1:
        names = " and ".join(sorted(kinds))
        raise ValueError(f"arrays on different devices ({names}) cannot be mixed in one operation; "
                         "move them first with .to_device(...)")


def _host_scalar_for_device(x):
    """A 0-d host array (e.g. ``np.sum(w) / 2`` of host weights in legacy code) used with device
    data: CuPy accepts NumPy scalars but refuses 0-d ndarrays, so pass the scalar."""
    if type(x) is np.ndarray and x.ndim == 0:
        return x[()]
    return x


def _device_constants(container):
    """``_host_scalar_for_device`` over the arguments of a call (one level into sequences)."""
    if type(container) is dict:
        return {k: _device_constants_one(v) for k, v in container.items()}
    return type(container)(_device_constants_one(a) for a in container)


def _device_constants_one(a):
    if type(a) is list or type(a) is tuple:
        return type(a)(_host_scalar_for_device(x) for x in a)
    return _host_scalar_for_device(a)


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """``GradArray.__array_ufunc__``, also called directly by the arithmetic operators.

    The hot path — a plain call with one or two inputs on the host and one array output — runs
    here without further Python calls: call the ufunc on the raw data, record a node, wrap the
    result.
    """
    n = len(inputs)
    if method != "__call__" or kwargs or n > 2:
        return _ufunc_other_call(ufunc, method, inputs, kwargs)
    x = inputs[0]
    if n == 1:
        # x is a GradArray (the only input that can have dispatched here); on a device, the type
        # of the result sends the call to the general path
        dx = x._data
        result = ufunc(dx)
        if not (x._requires_grad and _state.enabled and type(result) is _ndarray):
            return _finish_ufunc(ufunc, inputs, result, x._requires_grad)
        rule = RULES.get(ufunc)
        if rule is None:
            return _finish_ufunc(ufunc, inputs, result, True)
        t = x._node
        if t is None:
            t = x
        else:
            t.uses += 1
        edges = ((0, t, x._out_index, dx.shape, dx.dtype),)
        key = _KEY0
        gx = x
    else:
        y = inputs[1]
        tx, ty = type(x), type(y)
        dx = x._data if tx is GradArray else x
        dy = y._data if ty is GradArray else y
        if not ((tx is GradArray or ty is GradArray) and (type(dx) is _ndarray or tx in _SCALARS)
                and (type(dy) is _ndarray or ty in _SCALARS)):
            return _apply_ufunc_general(ufunc, inputs, None)
        result = ufunc(dx, dy)
        rx = tx is GradArray and x._requires_grad
        ry = ty is GradArray and y._requires_grad
        if not ((rx or ry) and _state.enabled and type(result) is _ndarray):
            return _finish_ufunc(ufunc, inputs, result, rx or ry)
        rule = RULES.get(ufunc)
        if rule is None:
            return _finish_ufunc(ufunc, inputs, result, True)
        if rx:
            t = x._node
            if t is None:
                t = x
            else:
                t.uses += 1
            ex = (0, t, x._out_index, dx.shape, dx.dtype)
        if ry:
            t = y._node
            if t is None:
                t = y
            else:
                t.uses += 1
            ey = (1, t, y._out_index, dy.shape, dy.dtype)
        if rx and ry:
            edges, key = (ex, ey), _KEY01
        elif rx:
            edges, key = (ex,), _KEY0
        else:
            edges, key = (ey,), _KEY1
        gx = x if tx is GradArray else None
        gy = y if ty is GradArray else None

    # the node: saved arguments (raw for backward, as passed for create_graph), version stamps
    versions = ()
    if rule.save_args:
        keep = rule.keep.get(key)     # None: keep every argument
        if n == 1:
            if keep is None or keep[0]:
                saved, raw = inputs, (dx,)
                versions = ((x._version, x._version[0], dx),)
            else:
                saved = raw = _NO_ARGS[1]
        else:
            if keep is None:
                saved, raw = inputs, (dx, dy)
            else:
                k0, k1 = keep[0], keep[1]
                saved = (x if k0 else None, y if k1 else None)
                raw = (dx if k0 else None, dy if k1 else None)
                if not k0:
                    gx = None
                if not k1:
                    gy = None
            if gx is not None:
                v = gx._version
                versions = ((v, v[0], dx),)
            if gy is not None:
                v = gy._version
                versions += ((v, v[0], dy),)
    else:
        saved = raw = _NO_ARGS[n]
    out_version = [0]
    node = _new(_UfuncNode)
    node.seq = next(_node_seq)
    node.uses = 0
    node.rule = rule
    node.vjps = rule.vjps
    node.edges = edges
    node.args = saved
    node.raw = raw
    if rule.save_ans:
        node.ans = result
        versions += ((out_version, 0, result),)
    else:
        node.ans = None
    node.versions = versions

    out = _new(GradArray)
    out._data = result
    out._node = node
    out._requires_grad = True
    out._out_index = 0
    out._version = out_version
    out._view_of = None
    out.grad = None
    return out


GradArray.__array_ufunc__ = _array_ufunc


def _ufunc_other_call(ufunc, method, inputs, kwargs):
    """Ufunc calls off the hot path: keywords, more than two inputs, ufunc methods."""
    if method == "__call__":
        if kwargs:
            return _ufunc_with_kwargs(ufunc, inputs, kwargs)
        return _apply_ufunc_general(ufunc, inputs, None)
    impl = UFUNC_METHODS.get((ufunc, method)) or UFUNC_METHODS.get(method)
    if impl is None:
        raise TypeError(f"np.{ufunc.__name__}.{method} is not supported on GradArrays")
    return impl(ufunc, *inputs, **kwargs)


def apply_ufunc(ufunc, inputs, kwargs=None):
    """Call ``ufunc`` on the raw data of ``inputs`` and record a node.

    ``kwargs`` are forward-only options (dtype, casting, order); out= and where= are handled by
    ``overrides.ufunc_methods`` on top of this function.
    """
    if kwargs or len(inputs) > 2 or (len(inputs) == 1 and type(inputs[0]) is not GradArray):
        return _apply_ufunc_general(ufunc, inputs, kwargs)
    return _array_ufunc(None, ufunc, "__call__", *inputs)


_ndarray = np.ndarray
_SCALARS = frozenset({int, float, complex, bool, np.float64, np.float32, np.complex128, np.complex64,
                      np.int64, np.int32, np.bool_})
_KEY0, _KEY1, _KEY01 = (0,), (1,), (0, 1)     # positions of the tracked inputs of a call


def _finish_ufunc(ufunc, inputs, result, tracked):
    """The fast paths' exits without a node: untracked, non-differentiable, or unusual results."""
    if not tracked or not _state.enabled:
        return _wrap_plain(result)
    rule = RULES.get(ufunc)
    if rule is None:
        if ufunc in NONDIFFERENTIABLE:
            return _wrap_plain(result)
        raise _missing_rule(ufunc, _ufunc_name(ufunc))
    return _record_ufunc_general(ufunc, rule, inputs, result)


def _apply_ufunc_general(ufunc, inputs, kwargs):
    datas = []
    tracked = False
    host = True
    for x in inputs:
        if type(x) is GradArray:
            d = x._data
            if x._requires_grad:
                tracked = True
            if host and type(d) is not np.ndarray:
                host = False
            datas.append(d)
        else:
            datas.append(x)
    if not host:
        fallback = DEVICE_UFUNC_FALLBACKS.get(ufunc)
        if fallback is not None:
            return fallback(*inputs, **(kwargs or {}))
        _check_devices(datas)
        datas = [_host_scalar_for_device(d) for d in datas]
        inputs = tuple(_host_scalar_for_device(x) for x in inputs)     # as saved for backward
    result = ufunc(*datas, **kwargs) if kwargs else ufunc(*datas)
    return _finish_ufunc(ufunc, inputs, result, tracked)


def _record_ufunc_general(ufunc, rule, inputs, result):
    edges = []
    versions = []
    save_args = rule.save_args
    for i, x in enumerate(inputs):
        if type(x) is GradArray:
            if x._requires_grad:
                d = x._data
                edges.append((i, x._node or x, x._out_index, d.shape, d.dtype))
            if save_args:
                versions.append((x._version, x._version[0], x._data))
    saved = inputs if save_args else _NO_ARGS[len(inputs)]
    if type(result) is tuple:
        results = tuple(_as_raw_result(r) for r in result)
        ans = results if rule.save_ans else None
        node = Node(rule, tuple(edges), saved, None, ans, versions, len(results),
                    tuple((r.shape, r.dtype) for r in results))
        outs = tuple(_make(r, node, _dtype_can_require_grad(r.dtype), k) for k, r in enumerate(results))
        if rule.save_ans:
            versions.extend((o._version, 0, o._data) for o in outs)
        return outs
    result = _as_raw_result(result)
    node = Node(rule, tuple(edges), saved, None, result if rule.save_ans else None, versions, 1, None)
    out = _make(result, node, True)
    if rule.save_ans:
        versions.append((out._version, 0, out._data))
    return out


# what a ufunc rule that saves no arguments receives in their place
_NO_ARGS = tuple((None,) * n for n in range(8))


def _wrap_plain(result):
    if type(result) is tuple:
        return tuple(_make(_as_raw_result(r)) for r in result)
    return _make(_as_raw_result(result))


def _ufunc_name(ufunc):
    """``np.sin`` for NumPy's ufuncs, ``scipy.special.erf`` for SciPy's, else the bare name."""
    name = ufunc.__name__
    if getattr(np, name, None) is ufunc:
        return f"np.{name}"
    try:
        import scipy.special as sc
        for candidate in (name, getattr(ufunc, "__qualname__", name)):
            if getattr(sc, candidate, None) is ufunc:
                return f"scipy.special.{candidate}"
        for public in dir(sc):
            if getattr(sc, public) is ufunc:
                return f"scipy.special.{public}"
    except ImportError:
        pass
    return name


def _missing_rule(func, name):
    return TypeError(
        f"{name} has no gradient rule in gradarray, so it cannot be differentiated. Register one with "
        f"`@gradarray.defvjp({name})` (see gradarray.defvjp), call it on .detach()-ed values if no "
        "gradient is needed, or open an issue.")


def _ufunc_with_kwargs(ufunc, inputs, kwargs):
    """Ufunc call with out=, where=, dtype=, ... (rarer; built on apply_ufunc)."""
    from .overrides.ufunc_methods import ufunc_call_with_kwargs
    return ufunc_call_with_kwargs(ufunc, inputs, kwargs)


def _unwrap_seq(seq):
    return type(seq)(x._data if type(x) is GradArray else x for x in seq)


def apply_function(func, rule, args, kwargs):
    """Call a NumPy function on raw data and record a node for ``rule``."""
    if "out" in kwargs and kwargs["out"] is not None:
        from .overrides.ufunc_methods import function_with_out
        return function_with_out(func, args, kwargs)
    raw_args = list(args)
    edges = []
    saved = []
    for i, a in enumerate(args):
        ta = type(a)
        if ta is GradArray:
            raw_args[i] = a._data
            saved.append(a)
            if a._requires_grad:
                edges.append((i, _edge_target(a), a._out_index, a._data.shape, a._data.dtype))
        elif (ta is list or ta is tuple) and any(type(x) is GradArray for x in a):
            raw_args[i] = _unwrap_seq(a)
            for k, x in enumerate(a):
                if type(x) is GradArray:
                    saved.append(x)
                    if x._requires_grad:
                        edges.append(((i, k), _edge_target(x), x._out_index, x._data.shape, x._data.dtype))
    raw_kwargs = kwargs
    for name, v in kwargs.items():
        if type(v) is GradArray:
            if raw_kwargs is kwargs:
                raw_kwargs = dict(kwargs)
            raw_kwargs[name] = v._data
            saved.append(v)
            if v._requires_grad:
                if name not in rule.params:
                    raise TypeError(f"{_func_name(func)}: a tracked array passed as keyword {name!r} "
                                    "has no gradient rule; pass it positionally or register a rule")
                edges.append((name, _edge_target(v), v._out_index, v._data.shape, v._data.dtype))
    if saved and not all(_backend.is_host_array(s._data) for s in saved):
        args, kwargs = _device_constants(args), _device_constants(kwargs)
        raw_args, raw_kwargs = _device_constants(raw_args), _device_constants(raw_kwargs)
        _check_devices([s._data for s in saved])
    result = func(*raw_args, **raw_kwargs)
    if not edges or not _state.enabled:
        out = wrap_untracked(result)
        if rule.view and type(out) is GradArray and saved:
            _share_version(out, args[0])
        return out
    return _record(rule, result, edges, args, kwargs, saved)


def _share_version(out, source):
    if type(source) is GradArray and _may_share_memory(out._data, source._data):
        out._version = source._version


def _may_share_memory(a, b):
    """np.may_share_memory dispatches to the backend (CuPy has it); unknown backends: assume yes."""
    try:
        return bool(np.may_share_memory(a, b))
    except (TypeError, NotImplementedError):
        return True


def _placeholder(x):
    """What a rule that saves no argument values receives for GradArray ``x``: its shape and dtype
    if it is differentiable; integer and boolean arrays (masks, indices) are kept as raw data."""
    if x._data.dtype.kind in "fc":
        return ShapeDtype(x._data.shape, x._data.dtype)
    return x._data


def _placeholder_args(args):
    out = []
    for a in args:
        if type(a) is GradArray:
            out.append(_placeholder(a))
        elif (type(a) is list or type(a) is tuple) and any(type(x) is GradArray for x in a):
            out.append(type(a)(_placeholder(x) if type(x) is GradArray else x for x in a))
        else:
            out.append(a)
    return tuple(out)


def _placeholder_kwargs(kwargs):
    if not any(type(v) is GradArray for v in kwargs.values()):
        return kwargs
    return {k: _placeholder(v) if type(v) is GradArray else v for k, v in kwargs.items()}


def _record(rule, result, edges, args, kwargs, saved):
    """Create the node for a function call and wrap its outputs."""
    versions = [(s._version, s._version[0], s._data) for s in saved] if rule.save_args else []
    if rule.save_args:
        node_args, node_kwargs = tuple(args), kwargs
    else:
        node_args, node_kwargs = _placeholder_args(args), _placeholder_kwargs(kwargs)
    multi = isinstance(result, (tuple, list))
    if multi:
        raws = [_as_raw_result(r) if _is_array_result(r) or isinstance(r, np.generic) else r
                for r in result]
        node = Node(rule, tuple(edges), node_args, node_kwargs, tuple(raws) if rule.save_ans else None,
                    versions, len(raws), tuple((r.shape, r.dtype) if _is_array_result(r) else None
                                               for r in raws))
        outs = []
        for k, r in enumerate(raws):
            if _is_array_result(r):
                differentiable = _dtype_can_require_grad(r.dtype)
                o = _make(r, node if differentiable else None, differentiable, k)
                if rule.save_ans:
                    versions.append((o._version, 0, o._data))
                outs.append(o)
            else:
                outs.append(r)
        if isinstance(result, tuple) and hasattr(result, "_fields"):
            return type(result)(*outs)
        return type(result)(outs)
    raw = _as_raw_result(result)
    node = Node(rule, tuple(edges), node_args, node_kwargs, raw if rule.save_ans else None, versions,
                1, None)
    out = _make(raw, node, True)
    if rule.save_ans:
        versions.append((out._version, 0, out._data))
    if rule.view and type(args[0]) is GradArray:
        _share_version(out, args[0])
    return out


def apply_untracked(func, args, kwargs):
    """A NumPy function without a rule: fine while no input needs a gradient, else a clear error."""
    tracked = False
    raw_args = []
    for a in args:
        if type(a) is GradArray:
            tracked = tracked or a._requires_grad
            raw_args.append(a._data)
        elif (type(a) is list or type(a) is tuple) and any(type(x) is GradArray for x in a):
            tracked = tracked or any(type(x) is GradArray and x._requires_grad for x in a)
            raw_args.append(_unwrap_seq(a))
        else:
            raw_args.append(a)
    raw_kwargs = {}
    for k, v in kwargs.items():
        if type(v) is GradArray:
            tracked = tracked or v._requires_grad
            raw_kwargs[k] = v._data
        elif (type(v) is list or type(v) is tuple) and any(type(x) is GradArray for x in v):
            tracked = tracked or any(type(x) is GradArray and x._requires_grad for x in v)
            raw_kwargs[k] = _unwrap_seq(v)
        else:
            raw_kwargs[k] = v
    if tracked and func not in NONDIFFERENTIABLE and _state.enabled:
        raise _missing_rule(func, _func_name(func))
    arrays = [a for a in raw_args if _is_array_result(a)]
    if not all(_backend.is_host_array(a) for a in arrays):
        raw_args, raw_kwargs = _device_constants(raw_args), _device_constants(raw_kwargs)
        _check_devices(arrays)
    out_arg = raw_kwargs.get("out")
    result = func(*raw_args, **raw_kwargs)
    if out_arg is not None and type(kwargs.get("out")) is GradArray:
        note_write(kwargs["out"]._version, kwargs["out"]._data)
        return kwargs["out"]
    return wrap_untracked(result)


def _func_name(func):
    module = getattr(func, "__module__", "") or ""
    name = getattr(func, "__name__", repr(func))
    if module.startswith("numpy"):
        module = module.replace("numpy._core.", "numpy.").replace("numpy.lib._", "numpy.")
        sub = module.split(".")[1] if "." in module else ""
        if sub in ("linalg", "fft", "polynomial", "random"):
            return f"np.{sub}.{name}"
        return f"np.{name}"
    return f"{module}.{name}" if module else name


# --------------------------------------------------------------------------------------------------
# backward
# --------------------------------------------------------------------------------------------------
def _unwrap_arg(a):
    ta = type(a)
    if ta is GradArray:
        return a._data
    if (ta is list or ta is tuple) and any(type(x) is GradArray for x in a):
        return _unwrap_seq(a)
    return a


def _check_versions(node):
    for counter, seen, raw in node.versions:
        if counter[0] != seen and _writes_overlap(counter, seen, raw):
            raise RuntimeError(
                f"an array saved for the backward pass of {node.rule.name} was modified in place "
                f"afterwards (version {counter[0]}, expected {seen}), so its gradient cannot be "
                "computed. Copy the array (x = x.copy()) before modifying it in place, or move the "
                "in-place operation before the array is used.")


# --------------------------------------------------------------------------------------------------
# version counters: [count] shared by an array and its views; writes are logged with the byte range
# they touched, so that writing into one row of a buffer does not invalidate another row saved for
# backward (the time-loop pattern ``traj[i + 1] = f(traj[i])``).
# --------------------------------------------------------------------------------------------------
def note_write(version, region):
    """Record an in-place write into memory counted by ``version``; ``region``: the raw array view
    that was written (None when unknown: then every saved array of this memory counts as touched)."""
    version[0] += 1
    if len(version) == 1:
        version.append([])
    version[1].append((version[0], None if region is None else _byte_bounds(region)))


def _byte_bounds(raw):
    """(low, high) byte addresses spanned by ``raw``, or None when they cannot be known."""
    try:
        if isinstance(raw, (np.ndarray, np.generic)):
            if isinstance(raw, np.generic):
                return None
            return np.lib.array_utils.byte_bounds(raw)
        interface = getattr(raw, "__cuda_array_interface__", None)
        if interface is None:
            return None
        low = high = interface["data"][0]
        itemsize = raw.dtype.itemsize
        strides = interface.get("strides") or None
        shape = interface["shape"]
        if any(s == 0 for s in shape):
            return (low, low)
        if strides is None:
            n = 1
            for s in shape:
                n *= s
            return (low, low + n * itemsize)
        for s, st in zip(shape, strides):
            if st < 0:
                low += (s - 1) * st
            else:
                high += (s - 1) * st
        return (low, high + itemsize)
    except Exception:     # unknown array type: be conservative
        return None


def _writes_overlap(version, seen, raw):
    """Did any write after version ``seen`` touch the memory of ``raw``?"""
    log = version[1] if len(version) > 1 else ()
    later = [bounds for v, bounds in log if v > seen]
    if len(later) < version[0] - seen:          # a write that was not logged: assume it overlaps
        return True
    mine = _byte_bounds(raw)
    if mine is None:
        return True
    for bounds in later:
        if bounds is None or (bounds[0] < mine[1] and mine[0] < bounds[1]):
            return True
    return False


def _fill_missing(node, grads):
    """Multi-output nodes: outputs that received no gradient contribute zeros."""
    if node.n_out == 1:
        return grads[0]
    filled = []
    for g, meta in zip(grads, node.out_meta):
        if g is None and meta is not None:
            shape, dtype = meta
            g = _zeros_like_meta(shape, dtype, grads)
        filled.append(g)
    return tuple(filled)


def _zeros_like_meta(shape, dtype, grads):
    like = _as_raw_result(next(g for g in grads if g is not None))
    return np.zeros(shape, dtype=dtype, like=like)     # not zeros_like: CuPy reads shape=() as "like's"


def _call_vjps(node, g, create_graph):
    """Gradients for each edge of ``node`` given its output gradient ``g``."""
    rule = node.rule
    if node.freed:
        raise RuntimeError(
            f"trying to run backward through the graph a second time (at {node.rule.name}): the saved "
            "values were freed after the first backward. Pass retain_graph=True to the first "
            "backward() if you need to call it twice.")
    if node.versions:
        _check_versions(node)
    args = node.args
    if node.kwargs is None and rule.vjps is not None and not create_graph:
        # hot path: a ufunc node (positional inputs only, one VJP per input)
        if rule.save_args:
            args = [a._data if type(a) is GradArray else a for a in args]
        vjps = rule.vjps
        ans = node.ans
        return [None if (f := vjps[e[0]]) is None else f(g, ans, *args) for e in node.edges]
    kwargs = node.kwargs or {}
    ans = node.ans
    if create_graph:
        if ans is not None:
            ans = (tuple(_make(a, node, True, k) for k, a in enumerate(ans)) if node.n_out > 1
                   else _make(ans, node, True))
    else:
        if rule.save_args:
            args = [_unwrap_arg(a) for a in args]
            if node.kwargs and any(type(v) is GradArray for v in kwargs.values()):
                kwargs = {k: _unwrap_arg(v) for k, v in kwargs.items()}
    results = []
    if rule.joint is not None:
        out = rule.joint(g, ans, *args, **kwargs)
        if type(out) is not tuple:      # a single-argument function's joint VJP may return the array
            out = (out,)
        for e in node.edges:
            where = e[0]
            if type(where) is int:
                results.append(out[where])
            elif type(where) is tuple:
                part = out[where[0]]
                results.append(None if part is None else part[where[1]])
            else:
                results.append(out[rule.params[where]])
        return results
    vjps = rule.vjps
    cache = {}
    for e in node.edges:
        where = e[0]
        if type(where) is int:
            f = vjps[where] if where < len(vjps) else None
            results.append(None if f is None else f(g, ans, *args, **kwargs))
        elif type(where) is tuple:
            i, k = where
            if i not in cache:
                f = vjps[i] if i < len(vjps) else None
                cache[i] = None if f is None else f(g, ans, *args, **kwargs)
            results.append(None if cache[i] is None else cache[i][k])
        else:
            i = rule.params[where]
            f = vjps[i] if i < len(vjps) else None
            results.append(None if f is None else f(g, ans, *args, **kwargs))
    return results


def fit_gradient(g, shape, dtype):
    """Sum a gradient over broadcast dimensions and cast it to the input's shape and dtype.

    A real input that met complex values gets the real part (the PyTorch convention: the gradient of
    a real loss with respect to a real input is real).
    """
    gshape = g.shape
    if gshape != shape:
        lead = len(gshape) - len(shape)
        if lead < 0:
            g = np.broadcast_to(g, shape)
        else:
            axes = tuple(range(lead)) + tuple(
                lead + i for i, s in enumerate(shape) if s == 1 and gshape[lead + i] != 1)
            if axes:
                g = np.sum(g, axis=axes)
            if g.shape != shape:
                g = np.reshape(g, shape)
    gdtype = g.dtype
    if gdtype != dtype:
        if gdtype.kind == "c" and dtype.kind != "c":
            g = np.real(g)
        if g.dtype != dtype:
            g = g.astype(dtype)
    return g


def _accumulate(old, new):
    return new if old is None else old + new


def backward(roots, root_grads, retain_graph=None, create_graph=False, capture=None):
    """Run the backward pass from ``roots`` (GradArrays) seeded with ``root_grads``.

    Nodes are numbered in creation order, and every consumer of a value was created after it, so
    processing the nodes that received a gradient from the newest to the oldest (a heap keyed by
    creation number) handles each node after all its consumers: no graph discovery pass, no
    recursion, linear in the graph size for chains.

    ``capture``: None to accumulate into the ``.grad`` of every leaf reached (``y.backward()``), or a
    dict whose keys are ``id(leaf)`` of leaf GradArrays and ``(node, out_index)`` pairs; their
    gradients are stored as the dict's values instead, no ``.grad`` is touched and the graph is not
    followed past a captured node (``ga.grad`` / ``vjp``).
    """
    if retain_graph is None:
        retain_graph = create_graph
    captured_nodes = () if capture is None else {k[0] for k in capture if type(k) is tuple}
    grads = {}          # node -> list of per-output gradients received so far
    heap = []           # (seq, node): seq is minus the creation number, so the newest pops first
    previous_mode = _set_grad_enabled(create_graph)
    try:
        for r, g in zip(roots, root_grads):
            node = r._node
            if node is None:
                _send_to_leaf(r, g, create_graph, capture)
                continue
            slot = grads.get(node)
            if slot is None:
                slot = grads[node] = [None] * node.n_out
                heapq.heappush(heap, (node.seq, node))
            k = r._out_index
            slot[k] = g if slot[k] is None else slot[k] + g
        heappop, heappush = heapq.heappop, heapq.heappush
        node = next_g = None    # the next node to run; g_out: the gradient of its output(s)
        while True:
            if node is None:
                if not heap:
                    break
                node = heappop(heap)[1]
                node_grads = grads.pop(node)
                if captured_nodes and node in captured_nodes:
                    for k, g in enumerate(node_grads):
                        if (node, k) in capture and g is not None:
                            capture[(node, k)] = _accumulate(capture[(node, k)], g)
                    node = None
                    continue
                g_out = node_grads[0] if node.n_out == 1 else _fill_missing(node, node_grads)
            current, node = node, None
            vjps = current.vjps
            if vjps is not None and not create_graph:
                # hot path: a ufunc node; its VJPs are called in the edge loop below, on the raw
                # saved values
                for counter, seen, _ in current.versions:
                    if counter[0] != seen:
                        _check_versions(current)        # raises if the write touched saved memory
                raw = current.raw
                ans = current.ans
                unary = len(raw) == 1
                input_grads = None
            else:
                input_grads = iter(_call_vjps(current, g_out, create_graph))
                if not retain_graph and current.kwargs:
                    current.kwargs = {}
            for where, t, k, shape, dtype in current.edges:
                if input_grads is None:
                    f = vjps[where]
                    if f is None:
                        continue
                    g = f(g_out, ans, raw[0]) if unary else f(g_out, ans, raw[0], raw[1])
                else:
                    g = next(input_grads)
                    if type(g) is GradArray and not create_graph:
                        g = g._data
                if g is None:
                    continue
                if g.dtype is not dtype or g.shape != shape:
                    g = fit_gradient(g, shape, dtype)
                if type(t) is not GradArray:
                    if t.uses == 1 and node is None and t.n_out == 1 and t not in grads \
                            and t not in captured_nodes:
                        # t's only consumer is the current node: t is complete, run it next
                        node = t
                        next_g = g
                        continue
                    slot = grads.get(t)
                    if slot is None:
                        slot = grads[t] = [None] * t.n_out
                        heappush(heap, (t.seq, t))
                    slot[k] = g if slot[k] is None else slot[k] + g
                else:
                    _send_to_leaf(t, g, create_graph, capture)
            if not retain_graph:
                # current.release(), inlined (kwargs were released above)
                current.args = current.ans = current.versions = current.raw = current.vjps = None
            g_out, next_g = next_g, None    # the gradient of the node handed over, if any
    finally:
        _set_grad_enabled(previous_mode)


def _send_to_leaf(leaf, g, create_graph, capture):
    if capture is None:
        _accumulate_leaf(leaf, g, create_graph)
    elif id(leaf) in capture:
        capture[id(leaf)] = _accumulate(capture[id(leaf)], g)


def _accumulate_leaf(leaf, g, create_graph):
    """Add ``g`` into ``leaf.grad``.

    Without create_graph the stored gradient is a private copy: a VJP may hand back the very array
    it received (``add``), a read-only broadcast view (``sum``), or an array shared with another
    leaf, and users zero or scale ``.grad`` in place.
    """
    if create_graph:
        gg = g if type(g) is GradArray else _make(_as_raw_result(g))
        leaf.grad = gg if leaf.grad is None else leaf.grad + gg
        return
    if type(g) is GradArray:
        g = g._data
    if leaf.grad is None:
        leaf.grad = _make(_as_raw_result(g).copy())
    else:
        leaf.grad = _make(_as_raw_result(leaf.grad._data + g))


def _seed_for(root, gradient):
    if gradient is None:
        if root._data.size != 1:
            raise RuntimeError(
                f"backward() without a gradient argument needs a scalar output; this one has shape "
                f"{root.shape}. Reduce it first (e.g. y.sum().backward()) or pass gradient=<array of "
                "that shape>.")
        return np.ones_like(root._data)
    if type(gradient) is GradArray:
        seed = gradient
    else:
        seed = _make(_backend.to_device(gradient, root.device) if not np.isscalar(gradient)
                     else np.full_like(root._data, gradient))
    if seed.shape != root.shape:
        raise ValueError(f"gradient has shape {seed.shape} but the output has shape {root.shape}")
    return seed


def _backward_method(self, gradient=None, retain_graph=None, create_graph=False):
    """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf this array depends on."""
    if not self._requires_grad:
        raise RuntimeError(
            "backward() called on an array that does not require grad: none of the arrays it was "
            "computed from has requires_grad=True (create inputs with ga.asarray(x, "
            "requires_grad=True)), or it was computed under ga.no_grad().")
    seed = _seed_for(self, gradient)
    if not create_graph and type(seed) is GradArray:
        seed = seed._data
    elif create_graph and type(seed) is not GradArray:
        seed = _make(seed)
    backward([self], [seed], retain_graph=retain_graph, create_graph=create_graph)


GradArray.backward = _backward_method


# --------------------------------------------------------------------------------------------------
# arithmetic operators: call the ufunc path directly instead of going through NumPy's dispatch
# (about a microsecond per operator on small arrays). Operands of other types fall back to the
# NDArrayOperatorsMixin methods, which honour __array_ufunc__ = None and reflected operators.
# --------------------------------------------------------------------------------------------------
_FAST_OPERANDS = frozenset({GradArray, int, float, complex, bool, np.ndarray, np.float64,
                            np.float32, np.complex128, np.complex64, np.int64, np.int32, np.bool_})


def _install_operator(name, ufunc):
    mixin_forward = getattr(NDArrayOperatorsMixin, f"__{name}__")
    mixin_reflected = getattr(NDArrayOperatorsMixin, f"__r{name}__")

    def forward(self, other):
        if type(other) in _FAST_OPERANDS:
            return _array_ufunc(self, ufunc, "__call__", self, other)
        return mixin_forward(self, other)

    def reflected(self, other):
        if type(other) in _FAST_OPERANDS:
            return _array_ufunc(self, ufunc, "__call__", other, self)
        return mixin_reflected(self, other)

    forward.__name__, reflected.__name__ = f"__{name}__", f"__r{name}__"
    setattr(GradArray, forward.__name__, forward)
    setattr(GradArray, reflected.__name__, reflected)


for _name, _ufunc in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                      ("truediv", np.true_divide), ("pow", np.power), ("matmul", np.matmul)):
    _install_operator(_name, _ufunc)


def _neg(self):
    return _array_ufunc(self, np.negative, "__call__", self)


GradArray.__neg__ = _neg
