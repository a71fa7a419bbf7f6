"""The tape: graph nodes and the backward pass.

Owns: :class:`Node` (one recorded call) and ``_UfuncNode`` (the ufunc hot path's node),
``backward`` (the reverse sweep that calls the rules' VJPs and fills ``.grad``), tensor hooks
(``register_hook``, ``retain_grad``) and ``GradArray.backward``. The version counters live in
``_versions``, the gradient values it moves (sparse, masked, fitted) in ``_gradients``.
Must not know about: how calls are dispatched or which rules exist (it calls whatever rule a node
holds); rule files, creation and the functional API stand above it.
"""
from __future__ import annotations

import heapq
import itertools
import threading
import warnings
import weakref

import numpy as np

from . import _backend
from ._array import GradArray, _as_raw_result, _make, _unwrap_arg
from ._gradients import MaskedGradient, SparseGradient, _sum_into, fit_gradient
from ._modes import _set_grad_enabled, _state
from ._versions import _check_versions

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

    def name(self):
        """The recorded operation (``"sin"``, ``"np.linalg.solve"``), as PyTorch's ``grad_fn.name()``."""
        return self.rule.name

    @property
    def next_functions(self):
        """One ``(producer, output index)`` per tracked input, PyTorch-style: the producer is a
        :class:`Node`, or a :class:`LeafRef` for a leaf (``.variable`` is the leaf)."""
        return tuple((t if type(t) is not GradArray else LeafRef(t), k)
                     for _, t, k, _, _ in self.edges)

    @property
    def saved(self):
        """``(shape, dtype)`` of every array this node keeps for backward (empty once freed)."""
        values = []
        for v in (self.raw if self.raw is not None else self.args or ()):
            values.append(v)
        if self.ans is not None:
            values.extend(self.ans if isinstance(self.ans, tuple) else (self.ans,))
        return [(tuple(v.shape), v.dtype) for v in (x._data if type(x) is GradArray else x
                                                     for x in values)
                if hasattr(v, "shape") and hasattr(v, "dtype") and not isinstance(v, type)]

    @property
    def saved_nbytes(self):
        """Bytes held by the arrays saved for backward."""
        return sum(int(np.prod(shape)) * np.dtype(dtype).itemsize for shape, dtype in self.saved)

    def __repr__(self):
        return f"<{self.rule.name}Backward>"

    def release(self):
        self.args = self.ans = self.versions = self.raw = self.vjps = None
        if self.kwargs:
            self.kwargs = {}


class LeafRef:
    """A leaf in ``Node.next_functions`` (PyTorch's AccumulateGrad): ``.variable`` is the leaf."""

    __slots__ = ("variable",)

    def __init__(self, variable):
        self.variable = variable

    def name(self):
        return "AccumulateGrad"

    def __repr__(self):
        return f"<AccumulateGrad shape={self.variable.shape}>"


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



def _fill_missing(node, grads):
    """Multi-output nodes: outputs that received no gradient contribute zeros."""
    if node.n_out == 1:
        return grads[0]
    grads = [g.values if type(g) is MaskedGradient else g for g in grads]
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
    return vjps_for_edges(rule, (e[0] for e in node.edges), g, ans, args, kwargs)


def vjps_for_edges(rule, wheres, g, ans, args, kwargs):
    """One gradient per edge position in ``wheres`` (an argument index, ``(index, element)`` of a
    sequence argument, or a keyword name): the joint VJP's entries, or each argument's own VJP
    (called once per sequence argument). Shared with the jit's recorded backward."""
    results = []
    if rule.joint is not None:
        out = rule.joint(g, ans, *args, **kwargs)
        if type(out) is not tuple:      # a single-argument function's joint VJP may return the array
            out = (out,)
        for where in wheres:
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
    for where in wheres:
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

    Backward passes run one at a time in the process (``_BACKWARD_LOCK``): threads that run backward
    into one shared leaf then add every contribution to ``.grad``, and a second backward through a
    graph that another thread is freeing gets the clear "second time" error instead of half-freed
    nodes. Forward recording stays concurrent.
    """
    with _BACKWARD_LOCK:
        if _state.tracer is not None:       # ga.jit records the pass as replayable steps
            return _state.tracer.backward(_backward, roots, root_grads, retain_graph, create_graph,
                                          capture)
        lazy = _backend.lazy_backend([r._data for r in roots], root_grads) if _backend.LAZY else None
        if lazy is None:
            _backward(roots, root_grads, retain_graph, create_graph, capture)
        else:       # a Dask graph: backward builds the gradient graph and must not compute
            with lazy.no_compute("backward"):
                _backward(roots, root_grads, retain_graph, create_graph, capture)


# re-entrant: a VJP may itself call ga.grad (a custom_vjp written with the functional API)
_BACKWARD_LOCK = threading.RLock()


def _backward(roots, root_grads, retain_graph, create_graph, capture):
    if retain_graph is None:
        retain_graph = create_graph
    captured_nodes = () if capture is None else {k[0] for k in capture if type(k) is tuple}
    grads = {}          # node -> list of per-output gradients received so far
    heap = []           # (seq, node): seq is minus the creation number, so the newest pops first
    # (node, k) / id(leaf) whose gradient buffer the engine created and may add into in place
    owned = None if create_graph else set()
    hooked = {}         # id(leaf) -> [leaf, summed gradient] for leaves with hooks (run at the end)
    watch = _state.watch
    previous_mode = _set_grad_enabled(create_graph)
    try:
        for r, g in zip(roots, root_grads):
            node = r._node
            if node is None:
                _send_to_leaf(r, g, create_graph, capture, owned, hooked)
                continue
            slot = grads.get(node)
            if slot is None:
                slot = grads[node] = [None] * node.n_out
                heapq.heappush(heap, (node.seq, node))
            k = r._out_index
            slot[k] = g if slot[k] is None else slot[k] + g
        heappop, heappush = heapq.heappop, heapq.heappush
        node = next_g = None    # the next node to run; g_out: the gradient of its output(s)
        g_owned = next_owned = False    # is g_out a buffer the engine owns (may be written into)?
        while True:
            if node is None:
                if not heap:
                    break
                node = heappop(heap)[1]
                node_grads = grads.pop(node)
                if captured_nodes and node in captured_nodes:
                    for k, g in enumerate(node_grads):
                        if type(g) is MaskedGradient:
                            g = g.values
                        if (node, k) in capture and g is not None:
                            capture[(node, k)] = _accumulate(capture[(node, k)], g)
                    node = None
                    continue
                g_out = node_grads[0] if node.n_out == 1 else _fill_missing(node, node_grads)
                g_owned = owned is not None and (node, 0) in owned
            current, node = node, None
            # the WeakKeyDictionaries' own dicts: an empty check is a plain dict's truth value
            if _node_hooks_data and current in NODE_HOOKS:
                g_out = _node_hooks(current, g_out)
            if _packed_nodes_data and current in PACKED_NODES and current.args is not None:
                PACKED_NODES.pop(current)(current, create_graph)
            if watch is not None:
                watch.before(current)
            vjps = current.vjps
            keep = None
            if type(g_out) is MaskedGradient:
                if vjps is not None:        # elementwise: mask the input gradients again below
                    keep = g_out.keep
                g_out = g_out.values
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
                if current.rule.modifies_g and not create_graph and not g_owned:
                    g_out = g_out.copy()        # the VJP writes into it: give it a buffer of its own
                input_grads = iter(_call_vjps(current, g_out, create_graph))
                if not retain_graph and current.kwargs:
                    current.kwargs = {}
            for where, t, k, shape, dtype in current.edges:
                if input_grads is None:
                    f = vjps[where]
                    if f is None:
                        continue
                    g = f(g_out, ans, raw[0]) if unary else f(g_out, ans, raw[0], raw[1])
                    if keep is not None and getattr(g, "shape", None) == keep.shape:
                        g = MaskedGradient(np.where(keep, g, 0), keep)
                else:
                    g = next(input_grads)
                    if type(g) is GradArray and not create_graph:
                        g = g._data
                if g is None:
                    continue
                try:
                    fits = g.dtype is dtype and g.shape == shape
                except AttributeError:      # a Python number: fit_gradient makes it an array
                    fits = False
                if not fits:
                    g = fit_gradient(g, shape, dtype, current, where)
                if watch is not None:
                    watch.input_grad(current, where, g)
                # a modifies_g VJP that returns the buffer it was handed passes its ownership on
                g_is_owned = owned is not None and g is g_out and current.rule.modifies_g
                if type(t) is not GradArray:
                    if t.uses == 1 and node is None and t.n_out == 1 and t not in grads \
                            and t not in captured_nodes:
                        # t's only consumer is the current node: t is complete, run it next
                        node = t
                        if type(g) is SparseGradient:
                            g, g_is_owned = g.dense(), True
                        next_g, next_owned = g, g_is_owned
                        continue
                    slot = grads.get(t)
                    if slot is None:
                        slot = grads[t] = [None] * t.n_out
                        heappush(heap, (t.seq, t))
                    if g_is_owned and slot[k] is None:
                        owned.add((t, k))
                    slot[k] = _sum_into(slot[k], g, owned, (t, k))
                else:
                    _send_to_leaf(t, g, create_graph, capture, owned, hooked)
            if watch is not None:
                watch.after(current)
            if not retain_graph:
                # current.release(), inlined (kwargs were released above)
                current.args = current.ans = current.versions = current.raw = current.vjps = None
            g_out, next_g = next_g, None    # the gradient of the node handed over, if any
            g_owned, next_owned = next_owned, False
        for leaf, g in hooked.values():     # leaves with hooks: the hooks see the pass's total
            _send_to_leaf(leaf, _run_hooks(leaf._hooks, g), create_graph, capture, owned, None)
    finally:
        _set_grad_enabled(previous_mode)


def _send_to_leaf(leaf, g, create_graph, capture, owned, hooked):
    if type(g) is MaskedGradient:
        g = g.values
    if _backend.LAZY and _backend.is_lazy(leaf._data):     # Dask: the leaf's own chunks
        g = _backend.LAZY[type(leaf._data)].leaf_gradient(g, leaf._data)
    if hooked is not None and getattr(leaf, "_hooks", None):
        entry = hooked.get(id(leaf))
        if type(g) is SparseGradient:
            g = g.dense()
        if entry is None:
            hooked[id(leaf)] = [leaf, g]
        else:
            entry[1] = entry[1] + g
        return
    if capture is None:
        _accumulate_leaf(leaf, g, create_graph, owned)
    elif id(leaf) in capture:
        capture[id(leaf)] = _sum_into(capture[id(leaf)], g, owned, id(leaf))


def _accumulate_leaf(leaf, g, create_graph, owned):
    """Add ``g`` into ``leaf.grad``.

    Without create_graph the stored gradient is a private copy: a VJP may hand back the very array
    it received (``add``), a read-only broadcast view (``sum``), or an array shared with another
    leaf, and users zero or scale ``.grad`` in place. A ``.grad`` created during this backward pass
    is the engine's own buffer, so later contributions of the same pass are added into it in place.
    """
    if create_graph:
        gg = g if type(g) is GradArray else _make(_as_raw_result(g))
        leaf._grad = gg if leaf._grad is None else leaf._grad + gg
        return
    if type(g) is GradArray:
        g = g._data
    key = id(leaf)
    if leaf._grad is None:
        if type(g) is SparseGradient:
            g = g.dense()
        else:
            g = _as_raw_result(g).copy()
        leaf._grad = _make(g)
        owned.add(key)
    elif key in owned:
        leaf._grad._data = _sum_into(leaf._grad._data, g, owned, key)
    else:
        if type(g) is SparseGradient:
            g = g.dense()
        leaf._grad = _make(_as_raw_result(leaf._grad._data + g))


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


# --------------------------------------------------------------------------------------------------
# tensor hooks: fn(grad) -> replacement or None, on an array's gradient (PyTorch's register_hook)
# --------------------------------------------------------------------------------------------------
NODE_HOOKS = weakref.WeakKeyDictionary()     # node -> {output index: [hook, ...]}
# node -> unpack(node, create_graph): its saved values went through gradarray.graph's pack hooks
PACKED_NODES = weakref.WeakKeyDictionary()
_node_hooks_data, _packed_nodes_data = NODE_HOOKS.data, PACKED_NODES.data


class RemovableHandle:
    """What ``register_hook`` returns: ``.remove()`` takes the hook away again."""

    __slots__ = ("_hooks", "_hook")

    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _register_hook(self, hook):
    """Call ``hook(grad)`` with this array's gradient during backward; a non-None return value
    replaces the gradient. On a leaf it sees the total gradient of a backward pass before it is
    accumulated into ``.grad``; on a computed array, the gradient of this output before it flows
    to the inputs. Returns a handle with ``.remove()``."""
    if not self._requires_grad:
        raise RuntimeError("cannot register a hook on an array that does not require grad")
    if not callable(hook):
        raise TypeError(f"register_hook needs a callable, not {type(hook).__name__}")
    if self._node is None:
        hooks = getattr(self, "_hooks", None)
        if hooks is None:
            hooks = self._hooks = []
    else:
        hooks = NODE_HOOKS.setdefault(self._node, {}).setdefault(self._out_index, [])
    hooks.append(hook)
    return RemovableHandle(hooks, hook)


def _retain_grad(self):
    """Keep the gradient of this computed array in ``.grad`` after backward (accumulated like a
    leaf's); on a leaf it does nothing (leaves keep theirs anyway)."""
    if self._node is None:
        return
    if not self._requires_grad:
        raise RuntimeError("retain_grad() on an array that does not require grad")
    target = weakref.ref(self)

    def keep(g):
        array = target()
        if array is not None:
            raw = g._data
            array._grad = _make(raw.copy()) if array._grad is None else _make(array._grad._data + raw)
    keep.retains_grad = True
    hooks = NODE_HOOKS.setdefault(self._node, {}).setdefault(self._out_index, [])
    if not any(getattr(h, "retains_grad", False) for h in hooks):
        hooks.append(keep)


def _run_hooks(hooks, g):
    """Run tensor hooks on a raw gradient; returns the (possibly replaced) raw gradient."""
    if type(g) in (SparseGradient, MaskedGradient):
        g = g.dense() if type(g) is SparseGradient else g.values
    for hook in list(hooks):
        result = hook(g if type(g) is GradArray else _make(g))
        if result is not None:
            if getattr(result, "shape", None) != g.shape:
                raise ValueError(f"a hook returned a gradient of shape {getattr(result, 'shape', None)}"
                                 f" for an array of shape {g.shape}; hooks must keep the shape")
            g = result if type(g) is GradArray else (
                result._data if type(result) is GradArray else result)
    return g


def _node_hooks(node, g_out):
    """Apply the hooks registered on ``node``'s outputs to its incoming gradient(s)."""
    per_output = NODE_HOOKS.get(node)
    if not per_output:
        return g_out
    if node.n_out == 1:
        hooks = per_output.get(0)
        return _run_hooks(hooks, g_out) if hooks else g_out
    g_out = list(g_out)
    for k, hooks in per_output.items():
        if hooks and g_out[k] is not None:
            g_out[k] = _run_hooks(hooks, g_out[k])
    return tuple(g_out)


GradArray.register_hook = _register_hook
GradArray.retain_grad = _retain_grad


def _backward_method(self, gradient=None, retain_graph=None, create_graph=False):
    """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf this array depends on."""
    if not self._requires_grad:
        raise RuntimeError(
            "backward() called on an array that does not require grad: none of the arrays it was "
            "computed from has requires_grad=True (create inputs with ga.asarray(x, "
            "requires_grad=True)), or it was computed under ga.no_grad().")
    if create_graph:
        warnings.warn(
            "backward(create_graph=True) stores a recorded gradient in .grad: the leaf then refers to "
            "a graph that refers back to the leaf (a reference cycle, freed only by the garbage "
            "collector). Prefer ga.grad_of(y, [x], create_graph=True), which returns the gradients, "
            "or set x.grad = None once you are done with it.", RuntimeWarning, stacklevel=2)
    seed = _seed_for(self, gradient)
    if not create_graph and type(seed) is GradArray:
        seed = seed._data
    elif create_graph and type(seed) is not GradArray:
        seed = _make(seed)
    backward([self], [seed], retain_graph=retain_graph, create_graph=create_graph)


GradArray.backward = _backward_method
