"""``ga.jit``'s recorder: one traced call becomes a list of steps on raw backend arrays.

``Tracer`` is installed in ``_modes._state.tracer`` (thread-local) while ``gradarray.jit`` runs a
call eagerly. The engine tells it about every *unit* of work at its top level (calls made by the
user's code, not by gradarray's own composites):

- ``call(func, raw_args, raw_kwargs, result)``: dispatch called the backend (a ufunc, a NumPy
  function with a rule, a Primitive, a function without a rule);
- ``implementation`` / ``ufunc_call`` / ``with_out`` -> ``opaque(fn, *args)``: a composite
  (``IMPLEMENTATIONS``, ufunc methods and keywords) is one unit, replayed by running its Python code
  on GradArrays: whatever it computes on raw data on the side is recomputed, never frozen. Thin
  wrappers around one rule, and ``out=`` into GradArrays (the call, then ``out[...] = result``),
  are recorded step by step instead;
- ``getitem`` / ``setitem``: indexing reads and in-place writes;
- ``guard(kind, array, value)``: Python read a value (``bool``, ``float``, ``.item()``, ``.data``);
- ``backward(...)``: a backward pass, recorded step by step by ``_trace_backward``.

Arrays are named by identity: the traced call's inputs (``i0``...), results of recorded units
(``v0``...), and constants (``c0``..., arrays the program reads but did not compute; the first value
seen is copied so that two traces can be compared and written buffers restored);
``_trace_program.Program`` compiles the steps.
Must not know about: the jit cache and its policy (``gradarray.jit``), any particular rule.
"""
from __future__ import annotations

import weakref

import numpy as np

from ._array import GradArray, _make
from ._gradients import MaskedGradient, SparseGradient
from ._modes import _set_grad_enabled, _state
from ._tables import RULES
from ._tape import _node_seq
from ._trace_backward import traced_backward
from ._trace_program import GuardFailed, Slot, _is_raw_array, _registrable, copy_of, static_key
from .functional import _alias
from .overrides.indexing import raw_index

__all__ = ["Tracer", "opaque_replay"]


def _normalize(result):
    """NumPy scalars in a result become 0-d arrays (as dispatch wraps them), so they have an
    identity the program can follow; returns (result, whether anything changed)."""
    if isinstance(result, (np.bool_, np.number)):
        return np.asarray(result), True
    if isinstance(result, tuple) and any(isinstance(r, (np.bool_, np.number)) for r in result):
        items = [np.asarray(r) if isinstance(r, (np.bool_, np.number)) else r for r in result]
        return (type(result)(*items) if hasattr(result, "_fields") else tuple(items)), True
    return result, False


def normalized(result):
    """What a recorded call with NumPy scalars in its result returns on replay."""
    return _normalize(result)[0]


def _snapshot(x):
    """A copy of a constant in its own memory order (a transposed view stays Fortran-ordered): the
    replay reads this copy, and NumPy picks its loops by layout (matmul: BLAS transposed or not),
    so a copy in another order can round the last bit differently."""
    try:
        return x.copy(order="K")
    except TypeError:           # an array type whose copy() takes no order
        return x.copy()


def _raw_getitem(x, index):
    r = x[index]
    return np.asarray(r) if isinstance(r, np.generic) else r


def _raw_setitem(x, index, value):
    x[index] = value


def _leaves(result):
    """The arrays, GradArrays and scalars of a (nested tuple/list) result, in order."""
    if type(result) is tuple or type(result) is list or (isinstance(result, tuple)
                                                         and hasattr(result, "_fields")):
        return [leaf for r in result for leaf in _leaves(r)]
    return [] if result is None else [result]


class _Opaque:
    """How to replay one composite: ``fn`` with the argument template; GradArray positions are
    ``(value index, tracked, modified)``."""

    __slots__ = ("fn", "args", "kwargs", "gas", "enabled", "n_leaves", "key")

    def __init__(self, fn, args, kwargs, gas, enabled, n_leaves):
        self.fn, self.args, self.kwargs, self.gas = fn, args, kwargs, tuple(gas)
        self.enabled, self.n_leaves = enabled, n_leaves
        self.key = ("opaque", id(fn), static_key(args), static_key(kwargs), self.gas, enabled,
                    n_leaves)


class _Arg:
    """Position ``k`` of the values tuple (``ga``: of the GradArray list) in an opaque template."""

    __slots__ = ("k", "ga")

    def __init__(self, k, ga):
        self.k, self.ga = k, ga

    @property
    def key(self):
        return ("arg", self.k, self.ga)


def _fill(tpl, values, gas):
    t = type(tpl)
    if t is _Arg:
        return gas[tpl.k] if tpl.ga else values[tpl.k]
    if t is tuple or t is list:
        return t(_fill(x, values, gas) for x in tpl)
    if t is dict:
        return {k: _fill(v, values, gas) for k, v in tpl.items()}
    return tpl


def opaque_replay(spec, values):
    """Run a composite on GradArrays made from this replay's values; returns the raw leaves of its
    result, the raw data of the arguments it modified in place, and the state its backward needs."""
    gas, leaves_in = [], []
    for k, tracked, modified, shares in spec.gas:
        raw = values[k]
        if tracked:
            leaf = _make(raw, requires_grad=True)
            leaves_in.append(leaf)
            gas.append(_alias(leaf) if modified else leaf)
        else:
            leaves_in.append(None)
            gas.append(_make(raw))
        if shares != len(gas) - 1:              # views of one memory share a version counter
            gas[-1]._version = gas[shares]._version
    previous = _set_grad_enabled(spec.enabled)
    try:
        result = spec.fn(*_fill(spec.args, values, gas), **_fill(spec.kwargs, values, gas))
    finally:
        _set_grad_enabled(previous)
    leaves = _leaves(result)
    if len(leaves) != spec.n_leaves:
        raise GuardFailed
    exposed = leaves + [gas[j] for j, (_, _, modified, _) in enumerate(spec.gas) if modified]
    out = [x._data if type(x) is GradArray else x for x in exposed]
    out.append((leaves_in, exposed))
    return out


class Tracer:
    """Records one call (see the module docstring). ``refuse(why)`` stops recording: the call
    finishes eagerly and the jit falls back to eager calls for this signature."""

    def __init__(self):
        self.depth = 0                 # > 0 inside a composite that is recorded as one unit
        self.names = {}                # id(object) -> its name in the program
        self.keep = []                 # named objects that cannot be weakly referenced
        self.ops = []
        self.consts, self.snaps = [], []
        self.count = 0
        self.n_inputs = 0
        self.refused = None
        self.groups = []               # composites recorded as one unit: see _trace_backward
        self.fresh = {}                # name -> (shape, dtype) of new ndarrays made by ufuncs
        self.meta = {}                 # name -> (shape, dtype, type) of each named array or scalar

    # ------------------------------------------------------------------------- naming
    def add_input(self, raw):
        name = self.name_of(raw)
        if name is None:
            name = f"i{self.n_inputs}"
            self.bind(raw, name)
        self.n_inputs += 1
        return name

    def refuse(self, why):
        if self.refused is None:
            self.refused = why
        if _state.tracer is self:
            _state.tracer = None

    def new_name(self, obj=None):
        name = f"v{self.count}"
        self.count += 1
        if obj is not None:
            self.bind(obj, name)
        return name

    def bind(self, obj, name):
        """Name ``obj`` by identity. Arrays are held weakly (a trace of large arrays frees them as
        the eager call does): a dead object's id may be reused, which ``name_of`` detects."""
        try:
            ref = weakref.ref(obj)
        except TypeError:
            self.keep.append(obj)
            ref = None
        self.names[id(obj)] = (name, ref)
        if _is_raw_array(obj) or isinstance(obj, np.generic):
            self.meta[name] = (tuple(obj.shape), obj.dtype, type(obj))

    def name_of(self, obj):
        entry = self.names.get(id(obj))
        if entry is None or (entry[1] is not None and entry[1]() is not obj):
            return None
        return entry[0]

    def slot(self, name):
        return Slot(name)

    def constant(self, x):
        if not hasattr(x, "copy"):
            self.refuse(f"an array of type {type(x).__name__} cannot be copied")
            return x
        name = f"c{len(self.consts)}"
        self.consts.append(x)
        self.snaps.append(_snapshot(x))
        self.bind(x, name)
        return name

    def template(self, obj):
        """``obj`` with every array replaced by the Slot that names it."""
        t = type(obj)
        if t is tuple or t is list:
            return t([self.template(x) for x in obj])
        if t is dict:
            return {k: self.template(v) for k, v in obj.items()}
        name = self.name_of(obj)
        if name is not None:
            return Slot(name)
        if t is GradArray:
            return self.template(obj._data)
        if _is_raw_array(obj):
            return Slot(self.constant(obj))
        if t is SparseGradient or t is MaskedGradient:
            self.refuse("an internal gradient value was computed outside the recorded steps")
        elif isinstance(obj, tuple) and hasattr(obj, "_fields"):
            return t(*[self.template(x) for x in obj])
        return obj

    # ------------------------------------------------------------------------- recording
    def record(self, fn, args_tpl, kwargs_tpl, result, pure, check=True, guard_scalars=True,
               post=None):
        """Append one step whose result is ``result`` (already computed)."""
        name = None if result is None else self.new_name(result if _registrable(result) else None)
        self.ops.append(("call", name, fn, args_tpl, kwargs_tpl, pure, post))
        if name is not None:
            self._walk(name, result, check, guard_scalars)
        return name

    def _walk(self, name, obj, check, guard_scalars):
        t = type(obj)
        if t is tuple or t is list or (isinstance(obj, tuple) and hasattr(obj, "_fields")):
            if check:
                self.ops.append(("guard", "len", name, len(obj)))
            for i, item in enumerate(obj):
                if item is None or not (_registrable(item) or type(item) in _CONTAINERS or (
                        guard_scalars and type(item) in _SCALARS)):
                    continue
                sub = self.new_name(item if _registrable(item) else None)
                self.ops.append(("item", sub, name, i))
                self._walk(sub, item, check, guard_scalars)
        elif _is_raw_array(obj):
            if check:
                self.ops.append(("guard", "shape", name, tuple(obj.shape)))
        elif guard_scalars and t in _SCALARS:
            self.ops.append(("guard", "eq", name, obj))

    def unit(self, fn, *args, pure=True):
        """Call ``fn(*args)`` and record it (the backward pass and the jit's own steps)."""
        tpl = self.template(args)
        self.depth += 1
        try:
            result = fn(*args)
        finally:
            self.depth -= 1
        if _state.tracer is self:
            self.record(fn, tpl, None, result, pure, check=False, guard_scalars=False)
        return result

    # ------------------------------------------------------------------------- engine hooks
    def call(self, func, args, kwargs, result):
        if self.depth:
            return result
        result, changed = _normalize(result)
        pure = not (kwargs and kwargs.get("out") is not None) and func not in _WRITERS
        name = self.record(func, self.template(tuple(args)),
                           self.template(dict(kwargs)) if kwargs else None, result, pure,
                           check=not isinstance(func, np.ufunc), post=normalized if changed else None)
        if type(result) is np.ndarray and not kwargs and not changed and result.base is None \
                and isinstance(func, np.ufunc):
            self.fresh[name] = (result.shape, result.dtype)     # a buffer the program may reuse
        return result

    def implementation(self, func, impl, args, kwargs):
        if self.depth or _is_flat(impl, args, kwargs):
            return impl(*args, **kwargs)
        return self.opaque(impl, *args, **kwargs)

    def ufunc_call(self, original, ufunc, method, inputs, kwargs):
        """A ufunc method, or a call with keywords: one opaque unit, except ``ufunc(..., out=o)``
        with GradArray targets, recorded as the call and ``o[...] = result`` (as
        ``overrides.ufunc_methods`` computes it), so that writes into views rewire their bases on
        the recorded tape."""
        out = _gradarray_out(kwargs) if method == "__call__" else None
        if out is None or self.depth:
            return self.opaque(original, ufunc, method, inputs, kwargs)
        rule = RULES.get(ufunc)
        if rule is not None and rule.save_args:     # the rule must not save what is overwritten
            inputs = tuple(np.copy(x) if any(x is o for o in out) else x for x in inputs)
        return self._write_out(out, ufunc(*inputs))

    def with_out(self, original, func, args, kwargs):
        """``func(..., out=o)`` (a function with a rule): the call, then ``o[...] = result``."""
        out = _gradarray_out(kwargs)
        if out is None or self.depth:
            return self.opaque(original, func, args, kwargs)
        as_tuple = type(kwargs["out"]) is tuple
        result = func(*args, **{k: v for k, v in kwargs.items() if k != "out"})
        written = self._write_out(out, result)
        return written if not as_tuple or type(written) is tuple else (written,)

    @staticmethod
    def _write_out(out, result):
        results = result if type(result) is tuple else (result,)
        written = []
        for o, r in zip(out, results):
            if o is not None:
                o[...] = r
            written.append(r if o is None else o)
        return tuple(written) if len(written) > 1 else written[0]

    def opaque(self, fn, *args, **kwargs):
        if self.depth:
            return fn(*args, **kwargs)
        gas, values, positions = [], [], []
        index = {}                      # id(GradArray) -> its position in gas
        args_tpl = self._opaque_template(args, gas, values, positions, index)
        kwargs_tpl = self._opaque_template(kwargs, gas, values, positions, index)
        before = [(g._node, g._out_index, g._requires_grad) for g in gas]
        enabled = _state.enabled
        lo = next(_node_seq)
        self.depth += 1
        try:
            result = fn(*args, **kwargs)
        finally:
            self.depth -= 1
        hi = next(_node_seq)
        if _state.tracer is not self:
            return result
        first = {}                      # id(version counter) -> the first argument sharing it
        for j, g in enumerate(gas):
            first.setdefault(id(g._version), j)
        flags = [(positions[k], b[2] and enabled, (g._node, g._out_index, g._requires_grad) != b,
                  first[id(g._version)]) for k, (g, b) in enumerate(zip(gas, before))]
        leaves = _leaves(result)
        spec = _Opaque(fn, args_tpl, kwargs_tpl, flags, enabled, len(leaves))
        name = self.new_name()
        self.ops.append(("call", name, opaque_replay, (spec, tuple(Slot(v) for v in values)), None,
                         False, None))
        exposed = leaves + [g for g, (_, _, modified, _) in zip(gas, flags) if modified]
        for i, leaf in enumerate(exposed):
            raw = leaf._data if type(leaf) is GradArray else leaf
            if raw is None or not (_registrable(raw) or type(raw) in _SCALARS):
                continue
            sub = self.new_name(raw if _registrable(raw) else None)
            self.ops.append(("item", sub, name, i))
            self._walk(sub, raw, True, True)
        state = self.new_name()
        self.ops.append(("item", state, name, -1))
        exposed = [(x._node, x._out_index) if type(x) is GradArray else None for x in exposed]
        self.groups.append((hi, lo, state, gas, before, exposed, flags))
        return result

    def _opaque_template(self, obj, gas, values, positions, index):
        t = type(obj)
        if t is tuple or t is list:
            return t([self._opaque_template(x, gas, values, positions, index) for x in obj])
        if t is dict:
            return {k: self._opaque_template(v, gas, values, positions, index)
                    for k, v in obj.items()}
        if t is GradArray:
            k = index.get(id(obj))              # the same object twice: one wrapper on replay
            if k is not None:
                return _Arg(k, True)
            positions.append(len(values))
            values.append(self.template(obj._data).name)
            index[id(obj)] = len(gas)
            gas.append(obj)
            return _Arg(len(gas) - 1, True)
        if isinstance(obj, tuple):          # a named tuple: its values are static here
            if any(type(x) is GradArray or _is_raw_array(x) for x in obj):
                self.refuse(f"a {t.__name__} holding arrays passed to a composite")
            return obj
        tpl = self.template(obj)
        if type(tpl) is Slot:
            values.append(tpl.name)
            return _Arg(len(values) - 1, False)
        return tpl

    def getitem(self, original, x, index):
        if self.depth:
            return original(x, index)
        tpl = self.template((x._data, raw_index(index)))
        out = original(x, index)
        if _state.tracer is self and self.name_of(out._data) is None:
            self.record(_raw_getitem, tpl, None, out._data, True)
        return out

    def setitem(self, original, x, index, value):
        if self.depth:
            return original(x, index, value)
        node = x._node
        protect = (_state.enabled and node is not None and node.ans is not None
                   and node.n_out == 1 and node.ans is x._data)
        tpl = self.template((x._data, raw_index(index),
                             value._data if type(value) is GradArray else value))
        original(x, index, value)
        if _state.tracer is not self:
            return None
        if protect and node.ans is not x._data:        # copy-on-write of a saved output
            self.record(copy_of, (tpl[0],), None, node.ans, True, check=False)
        self.record(_raw_setitem, tpl, None, None, False)
        return None

    def guard(self, kind, x, value):
        if self.depth:
            return
        name = self.name_of(x._data)
        if name is None:
            return                      # a constant: its value does not change
        self.ops.append(("guard", kind, name, x._data.copy() if kind == "array" else value))

    def backward(self, engine, roots, root_grads, retain_graph, create_graph, capture):
        if self.depth:
            return engine(roots, root_grads, retain_graph, create_graph, capture)
        return traced_backward(self, engine, roots, root_grads, retain_graph, create_graph, capture)


def _gradarray_out(kwargs):
    """The ``out=`` targets as a tuple when that is the only keyword and every target is a
    GradArray (or None), else None."""
    if set(kwargs) != {"out"}:
        return None
    out = kwargs["out"]
    out = out if type(out) is tuple else (out,)
    if not all(o is None or type(o) is GradArray for o in out) or all(o is None for o in out):
        return None
    return out


_SCALARS = frozenset({int, float, complex, bool, str})
_CONTAINERS = frozenset({tuple, list})
_WRITERS = frozenset(f for f in (np.copyto, np.put, np.place, np.putmask, np.fill_diagonal,
                                 getattr(np, "put_along_axis", None)) if f is not None)
_FLAT_NAMES = frozenset({"_reduction.<locals>.impl", "_record_views.<locals>.impl", "_np_where",
                         "_clip_composite"})


def _is_flat(impl, args, kwargs):
    """Composites recorded step by step instead of as one unit: thin wrappers around one rule that
    compute nothing on raw data on the side (read by hand: the reductions, the views, where, clip).
    A device-keyword wrapper (``.host``) is seen through on host data."""
    host = getattr(impl, "host", None)
    if host is not None:
        for a in (*args, *kwargs.values()):
            for x in (a if type(a) is list or type(a) is tuple else (a,)):
                raw = x._data if type(x) is GradArray else x
                if _is_raw_array(raw) and type(raw) is not np.ndarray:
                    return False            # device data: the wrapper's composite runs
        impl = getattr(host, "previous", None)
        if impl is None:
            return True                     # the host path is the rule or an untracked call
    return getattr(impl, "__qualname__", "") in _FLAT_NAMES

