"""The tape: graph nodes, version counters and the write log, and the backward pass.

Owns: :class:`Node` (one recorded call) and ``_UfuncNode`` (the ufunc hot path's node), the version
counters that detect in-place writes into saved values, ``backward`` (the reverse sweep that calls
the rules' VJPs and fills ``.grad``), and ``GradArray.backward``.
Must not know about: how calls are dispatched or which rules exist (it calls whatever rule a node
holds); rule files, creation and the functional API stand above it.
"""
from __future__ import annotations

import bisect
import heapq
import itertools
import threading
import warnings

import numpy as np

from . import _backend
from ._array import GradArray, _as_raw_result, _make, _unwrap_arg
from ._modes import _set_grad_enabled

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
        version.append(_WriteLog())
    version[1].add(version[0], None if region is None else _byte_bounds(region))


class _WriteLog:
    """The regions written into one memory, each with the version of its latest write.

    Enough to answer "was ``raw`` written after version ``seen``?": a region written again replaces
    its entry, so a parameter updated in place 20k times keeps one entry (the log grows with the
    number of distinct regions written, not with the number of writes), and a query looks only at
    the regions that start less than the longest region's length before ``raw`` ends (sorted
    starts, bisect), so the time loop ``traj[i + 1] = f(traj[i])`` checks in O(log n), not O(n).
    """

    __slots__ = ("latest", "regions", "longest", "unknown")

    def __init__(self):
        self.latest = {}        # (low, high) -> version of the latest write into it
        self.regions = []       # the same keys, sorted
        self.longest = 0
        self.unknown = 0        # version of the latest write whose region is unknown (0: none)

    def add(self, version, bounds):
        if bounds is None:
            self.unknown = version
            return
        if bounds[1] <= bounds[0]:
            return              # an empty write touches nothing
        if bounds not in self.latest:
            bisect.insort(self.regions, bounds)
            self.longest = max(self.longest, bounds[1] - bounds[0])
        self.latest[bounds] = version

    def touched_after(self, seen, bounds):
        if self.unknown > seen or bounds is None:
            return True
        low, high = bounds
        regions, latest = self.regions, self.latest
        i = bisect.bisect_left(regions, (low - self.longest,))
        end = bisect.bisect_left(regions, (high,))     # regions starting before ``high``
        while i < end:
            region = regions[i]
            if region[1] > low and latest[region] > seen:
                return True
            i += 1
        return False


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
    if len(version) == 1:           # counted but never logged: assume it did
        return True
    return version[1].touched_after(seen, _byte_bounds(raw))


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


def fit_gradient(g, shape, dtype, node=None, where=None):
    """Sum a gradient over broadcast dimensions and cast it to the input's shape and dtype.

    A real input that met complex values gets the real part (the PyTorch convention: the gradient of
    a real loss with respect to a real input is real). A gradient whose shape is not the input's
    shape broadcast (a wrong VJP) raises, naming the rule (``node``) and argument (``where``).
    """
    if type(g) is SparseGradient:
        g = g.dense()
    elif type(g) is MaskedGradient:
        g = g.values
    elif not hasattr(g, "dtype"):         # a Python number (0-d arithmetic with np.float64 gives one)
        g = np.asarray(g)
    gshape = g.shape
    if gshape != shape:
        if _broadcasts_to(shape, gshape):
            # the input was broadcast up to g's shape in the forward call: sum g back down
            lead = len(gshape) - len(shape)
            axes = tuple(range(lead)) + tuple(
                lead + i for i, s in enumerate(shape) if s == 1 and gshape[lead + i] != 1)
            if axes:
                g = np.sum(g, axis=axes)
            if g.shape != shape:
                g = np.reshape(g, shape)
        elif _broadcasts_to(gshape, shape):
            g = np.broadcast_to(g, shape)   # a VJP may return a smaller gradient (a scalar)
        else:
            name = node.rule.name if node is not None else "a rule"
            raise ValueError(
                f"the VJP of {name} returned a gradient of shape {gshape} for argument {where!r}, "
                f"which has shape {shape}; a VJP must return the argument's shape (or a shape it "
                "broadcasts to). Fix the rule registered with defvjp/custom_vjp.")
    gdtype = g.dtype
    if gdtype != dtype:
        if gdtype.kind == "c" and dtype.kind != "c":
            g = np.real(g)
        if g.dtype != dtype:
            g = g.astype(dtype)
    return g


class SparseGradient:
    """A gradient that is zero except at ``index``: what reading ``x[index]`` sends back to ``x``.

    The engine adds it into the receiving buffer in place (``add_into(buffer, index, values)``,
    supplied by the indexing rules) instead of materialising zeros of ``x``'s whole shape, so a
    loop that reads the rows of a large array one by one costs O(row) per read in backward, not
    O(array) (with ``modifies_g`` rules such as setitem, the time loop ``traj[i + 1] =
    f(traj[i])`` is linear in the steps). Only raw gradients are sparse; under create_graph the
    VJPs stay recorded calls.
    """

    __slots__ = ("values", "index", "shape", "dtype", "add_into")

    def __init__(self, values, index, shape, add_into):
        self.values = values
        self.index = index
        self.shape = shape
        self.dtype = values.dtype
        self.add_into = add_into

    def dense(self):
        values = self.values
        out = (np.zeros(self.shape, dtype=self.dtype) if _backend.is_host_array(values)
               else np.zeros(self.shape, dtype=self.dtype, like=values))
        self.add_into(out, self.index, self.values)
        return out


class MaskedGradient:
    """A gradient that is exactly zero wherever ``keep`` is False: what ``np.where(c, x, y)`` sends
    to the branch it discarded there.

    VJPs of elementwise (ufunc) nodes run on ``values`` and their results are zeroed again outside
    ``keep``, so a discarded branch contributes zero even where its own derivative is infinite:
    ``np.where(r > 0, 1 / r, 0)`` at ``r == 0`` gets the gradient of what NumPy returns (0), not
    ``0 * inf = nan`` (what PyTorch, JAX and autograd give). Non-elementwise nodes, leaves and
    create_graph see the plain ``values`` (zeros outside ``keep``).
    """

    __slots__ = ("values", "keep", "shape", "dtype")

    def __init__(self, values, keep):
        self.values = values
        self.keep = keep
        self.shape = values.shape
        self.dtype = values.dtype


def _sum_into(current, g, owned, key):
    """``current + g`` for the engine's gradient buffers.

    ``owned``: the keys whose buffer the engine created itself (a sum, a densified sparse
    gradient, a copy), which it may therefore add into in place; None under create_graph, where
    every sum must be a recorded call.
    """
    if owned is None:
        return g if current is None else current + g
    if current is None:
        if type(g) is SparseGradient:
            owned.add(key)
            return g.dense()
        return g
    if type(current) is MaskedGradient or type(g) is MaskedGradient:
        if type(current) is MaskedGradient and type(g) is MaskedGradient:
            # zero only where both contributions are
            return MaskedGradient(current.values + g.values, current.keep | g.keep)
        if type(current) is MaskedGradient:
            current = current.values
            owned.discard(key)
        if type(g) is MaskedGradient:
            g = g.values
    sparse = type(g) is SparseGradient
    if key in owned:
        if sparse:
            g.add_into(current, g.index, g.values)
        else:
            current += g
        return current
    owned.add(key)
    if sparse:
        current = current.copy()
        g.add_into(current, g.index, g.values)
        return current
    return current + g


def _broadcasts_to(small, big):
    """Does shape ``small`` broadcast to shape ``big``?"""
    lead = len(big) - len(small)
    return lead >= 0 and all(s == 1 or s == b for s, b in zip(small, big[lead:]))


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
    previous_mode = _set_grad_enabled(create_graph)
    try:
        for r, g in zip(roots, root_grads):
            node = r._node
            if node is None:
                _send_to_leaf(r, g, create_graph, capture, owned)
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
                    _send_to_leaf(t, g, create_graph, capture, owned)
            if not retain_graph:
                # current.release(), inlined (kwargs were released above)
                current.args = current.ans = current.versions = current.raw = current.vjps = None
            g_out, next_g = next_g, None    # the gradient of the node handed over, if any
            g_owned, next_owned = next_owned, False
    finally:
        _set_grad_enabled(previous_mode)


def _send_to_leaf(leaf, g, create_graph, capture, owned):
    if type(g) is MaskedGradient:
        g = g.values
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
