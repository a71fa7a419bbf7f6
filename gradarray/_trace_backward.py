"""``ga.jit``: a backward pass recorded as steps that replay without nodes.

While ``gradarray.jit`` traces a call, ``_tape.backward`` hands its pass to ``traced_backward``. It
walks the same nodes in the same order as ``_tape._backward`` (the newest first, a node used once
handed straight to the next step, gradients summed in place into buffers the engine owns) and does
every computation through ``tracer.unit(step, *values)``: the step runs now, on raw arrays, and is
recorded for replay. The steps are the rules' VJPs themselves (a VJP is one step, so whatever it
computes from the saved values, masks and index arrays included, is recomputed on replay) and the
engine's own small operations (``_add``, ``_fit``, ``_dense`` ... below).

A composite that the tracer recorded as one unit (``Tracer.opaque``) created its nodes inside the
unit; on replay those nodes do not exist, so the whole group goes back in one step
(``opaque_backward``: the replayed composite keeps its local graph and runs the engine on it).
Its sums into values that other nodes feed too start from what those received before, and it
runs where the eager pass runs its nodes when that keeps the eager order of the sums
(``_Pass.runs_now``), so that the replay gives the eager values to the last bit; when the eager
pass runs other nodes between the group's own, the sums can be ordered otherwise (last bits).
What is refused (the call then finishes eagerly): ``create_graph`` (higher derivatives),
``x.backward()`` into ``.grad`` (use the functional API), tensor hooks, saved-value hooks, anomaly
mode, a freed graph, and a group whose internal nodes are reached other than through its results.
"""
from __future__ import annotations

import bisect
import heapq

import numpy as np

from ._array import GradArray, _make, _unwrap_arg
from ._gradients import MaskedGradient, SparseGradient, fit_gradient
from ._modes import _state
from ._tape import NODE_HOOKS, PACKED_NODES, _zeros_like_meta, backward, vjps_for_edges
from ._versions import _check_versions

__all__ = ["traced_backward", "opaque_backward"]


# ------------------------------------------------------------------------------ recorded steps
def _add(a, b):
    return a + b


def _values(m):
    return m.values


def _keep(m):
    return m.keep


def _mask(g, keep):
    return MaskedGradient(np.where(keep, g, 0), keep)


def _copy(g):
    return g.copy()


def _dense(s):
    return s.dense()


def _raw_of(x):
    return x._data


def _fit(g, shape, dtype, where):
    return fit_gradient(g, shape, dtype, None, where)


def _masked_sum(a, b):
    return MaskedGradient(a.values + b.values, a.keep | b.keep)


def _iadd(a, b):
    a += b
    return a


def _iadd_sparse(a, s):
    s.add_into(a, s.index, s.values)
    return a


def _add_sparse(a, s):
    a = a.copy()
    s.add_into(a, s.index, s.values)
    return a


def _is_plain(g):
    return type(g) is not MaskedGradient and type(g) is not SparseGradient and hasattr(g, "shape")


def _fill_missing(out_meta, grads):
    grads = [g.values if type(g) is MaskedGradient else g for g in grads]
    filled = []
    for g, meta in zip(grads, out_meta):
        if g is None and meta is not None:
            g = _zeros_like_meta(meta[0], meta[1], grads)
        filled.append(g)
    return tuple(filled)


def _vjps(rule, g, ans, args, kwargs, wheres):
    """``_tape._call_vjps`` for raw gradients, on unwrapped saved values: one result per edge."""
    if kwargs is None and rule.vjps is not None:
        vjps = rule.vjps
        return [None if (f := vjps[w]) is None else f(g, ans, *args) for w in wheres]
    return vjps_for_edges(rule, wheres, g, ans, args, kwargs or {})


class _GroupSpec:
    """Static part of a composite's backward step: which of its exposed values are roots, which
    key each tracked argument's gradient goes to."""

    __slots__ = ("roots", "keys", "n_keys", "retain", "key")

    def __init__(self, roots, keys, n_keys, retain):
        self.roots, self.keys, self.n_keys, self.retain = tuple(roots), tuple(keys), n_keys, retain
        self.key = ("group", self.roots, self.keys, n_keys, retain)


def opaque_backward(spec, state, gs, seeds):
    """Replay: backward through the local graph a replayed composite kept (``opaque_replay``);
    ``seeds[key]``: the gradient its target had received before (see ``_Pass.run_group``)."""
    leaves_in, exposed = state
    cap = {id(leaf): None for leaf in leaves_in if leaf is not None}
    seeded = set()
    for leaf, key in zip(leaves_in, spec.keys):
        if leaf is not None and key >= 0 and seeds[key] is not None and key not in seeded:
            cap[id(leaf)] = seeds[key]
            seeded.add(key)
    backward([exposed[j] for j in spec.roots], list(gs), retain_graph=spec.retain, capture=cap)
    out = [None] * spec.n_keys
    for leaf, key in zip(leaves_in, spec.keys):
        if leaf is not None and key >= 0 and cap[id(leaf)] is not None:
            g = cap[id(leaf)]
            out[key] = g if out[key] is None else out[key] + g
    return out


# ------------------------------------------------------------------------------ the pass
def traced_backward(tracer, engine, roots, root_grads, retain_graph, create_graph, capture):
    """Record ``_tape._backward(roots, root_grads, ...)`` (see the module docstring)."""
    if retain_graph is None:
        retain_graph = create_graph
    why, nodes = _refusal(roots, create_graph, capture)
    groups = {}
    if why is None:
        groups, why = _groups(tracer, nodes, roots, capture)
    if why is not None:
        tracer.refuse(why)
        return engine(roots, root_grads, retain_graph, create_graph, capture)
    _Pass(tracer, groups, retain_graph, capture, engine).run(roots, root_grads)
    return None


def _refusal(roots, create_graph, capture):
    if create_graph:
        return "higher-order derivatives (create_graph: hessian, jvp, grad of grad) run eagerly", ()
    if capture is None:
        return "x.backward() into .grad inside the function (use ga.grad / ga.value_and_grad)", ()
    if _state.watch is not None:
        return "anomaly mode or the profiler is on", ()
    seen, stack = set(), [r._node for r in roots if r._node is not None]
    for r in roots:
        if r._node is None and getattr(r, "_hooks", None):
            return "tensor hooks", ()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node.args is None:
            return "a graph already freed by an earlier backward", ()
        if NODE_HOOKS.get(node) or node in PACKED_NODES:
            return "tensor hooks or saved-value hooks", ()
        for e in node.edges:
            t = e[1]
            if type(t) is GradArray:
                if getattr(t, "_hooks", None):
                    return "tensor hooks", ()
            elif t not in seen:
                stack.append(t)
    return None, seen


class _Group:
    """The nodes one composite created, what it exposed ((node, k) -> position in its replay
    output) and where its arguments' gradients go (``targets``; ``per_arg``: index per argument)."""

    __slots__ = ("nodes", "state", "exposed", "targets", "keys", "per_arg")


def _groups(tracer, nodes, roots, capture):
    """node -> _Group for the nodes created inside composites recorded as one unit."""
    if not tracer.groups:
        return {}, None
    ranges = sorted(range(len(tracer.groups)), key=lambda i: tracer.groups[i][0])
    his = [tracer.groups[i][0] for i in ranges]
    made, of = {}, {}
    for node in nodes:
        pos = bisect.bisect_left(his, node.seq) - 1
        if pos < 0:
            continue
        i = ranges[pos]
        hi, lo = tracer.groups[i][:2]
        if not hi < node.seq < lo:
            continue
        group = made.get(i)
        if group is None:
            group = made[i] = _new_group(tracer.groups[i])
        group.nodes.add(node)
        of[node] = group
    captured = {k[0] for k in capture if type(k) is tuple}
    for r in roots:
        g = of.get(r._node)
        if g is not None and (r._node, r._out_index) not in g.exposed:
            return of, "a composite's internal value is differentiated directly"
    for node in nodes:
        group = of.get(node)
        if group is not None and node in captured:
            return of, "a gradient is requested inside a composite"
        for e in node.edges:
            t, k = e[1], e[2]
            key = id(t) if type(t) is GradArray else (t, k)
            target_group = None if type(t) is GradArray else of.get(t)
            if group is not None and target_group is not group and key not in group.keys:
                return of, "a composite reads a tracked value that is not one of its arguments"
            if target_group is not None and target_group is not group and key not in target_group.exposed:
                return of, "a value computed inside a composite is used without being returned"
    return of, None


def _new_group(entry):
    _, _, state, gas, before, exposed, flags = entry
    group = _Group()
    group.nodes, group.state = set(), state
    group.exposed = {}
    for j, x in enumerate(exposed):
        if x is not None and x[0] is not None:
            group.exposed.setdefault(x, j)
    group.keys, group.targets = {}, []
    per_arg = []
    for ga, (node, k, _), (_, tracked, _, _) in zip(gas, before, flags):
        if not tracked:
            per_arg.append(-1)
            continue
        key = (node, k) if node is not None else id(ga)
        if key not in group.keys:
            group.keys[key] = len(group.targets)
            group.targets.append((node, k) if node is not None else ga)
        per_arg.append(group.keys[key])
    group.per_arg = per_arg
    return group



class _Pass:
    """One recorded backward pass (the loop of ``_tape._backward``, raw gradients only)."""

    def __init__(self, tracer, groups, retain_graph, capture, engine):
        self.unit = tracer.unit
        self.tracer, self.groups, self.retain, self.capture = tracer, groups, retain_graph, capture
        self.engine = engine
        self.captured = {k[0] for k in capture if type(k) is tuple}
        self.grads, self.heap, self.owned = {}, [], set()

    def run(self, roots, root_grads):
        U, grads, heap, owned = self.unit, self.grads, self.heap, self.owned
        for r, g in zip(roots, root_grads):
            node = r._node
            if node is None:
                self.to_leaf(r, g)
                continue
            slot = grads.get(node)
            if slot is None:
                slot = grads[node] = [None] * node.n_out
                heapq.heappush(heap, (node.seq, node))
            k = r._out_index
            slot[k] = g if slot[k] is None else U(_add, slot[k], g)
        node = next_g = None
        g_owned = next_owned = False
        while True:
            if node is None:
                if not heap:
                    break
                node = heapq.heappop(heap)[1]
                if node not in grads:
                    node = None
                    continue
                group = self.groups.get(node)
                if group is not None:
                    self.run_group(group, {})
                    node = None
                    continue
                node_grads = grads.pop(node)
                if self.captured and node in self.captured:
                    self.capture_node(node, node_grads)
                    node = None
                    continue
                g_out = node_grads[0] if node.n_out == 1 else U(_fill_missing, node.out_meta,
                                                               node_grads)
                g_owned = (node, 0) in owned
            else:
                group = self.groups.get(node)
                if group is not None:       # handed straight to us
                    if self.runs_now(group, node):
                        self.run_group(group, {node: [g_out]})
                    else:
                        grads[node] = [g_out]
                        heapq.heappush(heap, (node.seq, node))
                    node = None
                    continue
            current, node = node, None
            if current.versions:
                _check_versions(current)
            vjps, keep = current.vjps, None
            if type(g_out) is MaskedGradient:
                if vjps is not None:
                    keep = U(_keep, g_out)
                g_out = U(_values, g_out)
            modifies_g = current.rule.modifies_g
            if vjps is not None:
                raw, ans = current.raw, current.ans
                results = None
            else:
                if modifies_g and not g_owned:
                    g_out = U(_copy, g_out)
                args = current.args
                if current.kwargs is None and current.rule.vjps is not None:
                    args = [a._data if type(a) is GradArray else a for a in args] \
                        if current.rule.save_args else list(args)
                    kwargs = None
                else:
                    args = [_unwrap_arg(a) for a in args] if current.rule.save_args else list(args)
                    kwargs = {k: _unwrap_arg(v) for k, v in (current.kwargs or {}).items()}
                results = iter(U(_vjps, current.rule, g_out, current.ans, args, kwargs,
                                 tuple(e[0] for e in current.edges), pure=not modifies_g))
            for where, t, k, shape, dtype in current.edges:
                if results is None:
                    f = vjps[where]
                    if f is None:
                        continue
                    g = U(f, g_out, ans, *raw)
                    if keep is not None and getattr(g, "shape", None) == keep.shape:
                        g = U(_mask, g, keep)
                else:
                    g = next(results)
                    if type(g) is GradArray:
                        g = U(_raw_of, g)
                if g is None:
                    continue
                try:
                    fits = g.dtype is dtype and g.shape == shape
                except AttributeError:
                    fits = False
                if not fits:
                    g = U(_fit, g, shape, dtype, where)
                g_is_owned = g is g_out and modifies_g
                if type(t) is not GradArray:
                    if t.uses == 1 and node is None and t.n_out == 1 and t not in grads \
                            and t not in self.captured:
                        node = t
                        if type(g) is SparseGradient:
                            g, g_is_owned = U(_dense, g), True
                        next_g, next_owned = g, g_is_owned
                        continue
                    self.to_node(t, k, g, g_is_owned)
                else:
                    self.to_leaf(t, g)
            if not self.retain:
                current.args = current.ans = current.versions = current.raw = current.vjps = None
                if current.kwargs:
                    current.kwargs = {}
            g_out, next_g = next_g, None
            g_owned, next_owned = next_owned, False

    def to_node(self, t, k, g, g_is_owned):
        slot = self.grads.get(t)
        if slot is None:
            slot = self.grads[t] = [None] * t.n_out
            heapq.heappush(self.heap, (t.seq, t))
        if g_is_owned and slot[k] is None:
            self.owned.add((t, k))
        slot[k] = self.sum_into(slot[k], g, (t, k))

    def to_leaf(self, leaf, g):
        if type(g) is MaskedGradient:
            g = self.unit(_values, g)
        if id(leaf) in self.capture:
            self.capture[id(leaf)] = self.sum_into(self.capture[id(leaf)], g, id(leaf))

    def runs_now(self, group, node):
        """A group whose ``node`` was handed straight to the pass: run it now, or let it wait in
        the heap behind the newer nodes there? The eager pass runs ``node`` now, with the nodes it
        hands straight on, and the rest of the group after the newer nodes. The group runs in one
        step, so what it sends out is summed in the eager order (to the last bit) when it runs
        now if those first nodes send gradients out of the group, else when it waits; it waits
        whenever a waiting node can still send it gradients (so that it runs once)."""
        first = min(n.seq for n in group.nodes)
        if not any(seq < first and n in self.grads for seq, n in self.heap):
            return True                     # nothing newer waits: the eager order either way
        if self.fed_later(group, first):
            return False
        while node is not None:             # the nodes the eager pass runs before the heap
            handed, out = None, False
            for e in node.edges:
                t = e[1]
                out = out or type(t) is GradArray or t not in group.nodes
                if handed is None and type(t) is not GradArray and t.uses == 1 and \
                        t.n_out == 1 and t not in self.grads and t not in self.captured:
                    handed = t
            if out:
                return True
            node = handed if handed in group.nodes else None
        return False

    def fed_later(self, group, first):
        """Can a node that waits in the heap still send gradients into the group (through nodes
        newer than the group's, ``first`` the newest's seq)?"""
        stack = [n for seq, n in self.heap if seq < first and n in self.grads]
        seen = set()
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            for e in node.edges:
                t = e[1]
                if type(t) is GradArray:
                    continue
                if t in group.nodes:
                    return True
                if t.seq < first:
                    stack.append(t)
        return False

    def received(self, target):
        """The gradient a group's target (a (node, k) pair or a leaf) holds now, if it is a plain
        array (a seed for the group's sum), else None."""
        if type(target) is tuple:
            slot = self.grads.get(target[0])
            g = None if slot is None else slot[target[1]]
        else:
            g = self.capture.get(id(target))
        return g if g is not None and _is_plain(g) else None

    def replace(self, target, g, seed):
        key = target if type(target) is tuple else id(target)
        if g is not seed:
            self.owned.discard(key)         # the engine's buffer, not ours to add into
        if type(target) is tuple:
            self.grads[target[0]][target[1]] = g
        else:
            self.capture[key] = g

    def capture_node(self, node, node_grads):
        for k, g in enumerate(node_grads):
            if type(g) is MaskedGradient:
                g = self.unit(_values, g)
            if (node, k) in self.capture and g is not None:
                old = self.capture[(node, k)]
                self.capture[(node, k)] = g if old is None else self.unit(_add, old, g)

    def sum_into(self, current, g, key):
        """``_gradients._sum_into``, each computation a recorded step."""
        U, owned = self.unit, self.owned
        if current is None:
            if type(g) is SparseGradient:
                owned.add(key)
                return U(_dense, g)
            return g
        if type(current) is MaskedGradient or type(g) is MaskedGradient:
            if type(current) is MaskedGradient and type(g) is MaskedGradient:
                return U(_masked_sum, current, g)
            if type(current) is MaskedGradient:
                current = U(_values, current)
                owned.discard(key)
            if type(g) is MaskedGradient:
                g = U(_values, g)
        sparse = type(g) is SparseGradient
        if key in owned:
            return U(_iadd_sparse if sparse else _iadd, current, g, pure=False)
        owned.add(key)
        return U(_add_sparse if sparse else _add, current, g)

    def run_group(self, group, pending):
        """Every node of a composite at once: the gradients its results received go back through
        the composite's nodes in one step (now with the engine, on replay with opaque_backward)."""
        for node in list(self.grads):
            if node in group.nodes:
                pending[node] = self.grads.pop(node)
        roots, root_index, gs = [], [], []
        for node, node_grads in pending.items():
            for k, g in enumerate(node_grads):
                if g is not None:
                    roots.append(_make(None, node, True, k))     # a handle: backward reads the node
                    root_index.append(group.exposed[(node, k)])
                    gs.append(g)
        # What a target received before seeds the group's sum: the eager pass adds the
        # composite's contributions one by one to it, and (a + b) + c rounds differently from
        # a + (b + c). A node target's seed is a root of the inner pass (its slot starts there).
        seeds = [self.received(t) for t in group.targets]
        cap = {}
        for t, seed in zip(group.targets, seeds):
            if type(t) is tuple:
                cap[t] = None
                if seed is not None:
                    roots.append(_make(None, t[0], True, t[1]))
                    gs.append(seed)
            else:
                cap[id(t)] = seed
        n_exposed = len(root_index)
        self.tracer.depth += 1
        try:
            self.engine(roots, gs, True, False, cap)
        finally:
            self.tracer.depth -= 1
        values = [cap[t if type(t) is tuple else id(t)] for t in group.targets]
        spec = _GroupSpec(root_index, group.per_arg, len(group.targets), self.retain)
        tpl = (spec, self.tracer.slot(group.state),
               tuple(self.tracer.template(g) for g in gs[:n_exposed]),
               tuple(self.tracer.template(g) for g in seeds))
        self.tracer.record(opaque_backward, tpl, None, values, False, check=False,
                           guard_scalars=False)
        for target, g, seed in zip(group.targets, values, seeds):
            if g is None:
                continue
            if seed is not None:            # the sum: it replaces what the target had
                self.replace(target, g, seed)
            elif type(target) is tuple:
                self.to_node(target[0], target[1], g, False)
            else:
                self.to_leaf(target, g)
        if not self.retain:
            for node in group.nodes:
                node.args = node.ans = node.versions = node.raw = node.vjps = None

