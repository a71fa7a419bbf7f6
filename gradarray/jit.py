"""``ga.jit(f)``: record a call once, replay it as a flat program of raw NumPy (or CuPy) calls.

    step = ga.jit(ga.value_and_grad(loss))      # or ga.jit(ga.grad(loss)), ga.jit(f), @ga.jit
    for _ in range(1000):
        value, g = step(w, X, y)                # calls 3, 4, ...: no GradArrays, no nodes

**Signature.** A call's signature is the structure of its arguments, the shape, dtype, strides and
device of each array, which arrays are the same object, every other argument's value (Python
numbers, strings, tuples of them: *static*, part of the key; pass arrays for values that change)
and grad mode. Unhashable non-array arguments make the call run eagerly.

**Tracing, validation, replay.** The first call of a signature runs eagerly while a ``Tracer``
records it (``_trace_program``). The second call runs eagerly too and is recorded again; the two
recordings must be the same program, with the same constants (arrays ``f`` read but did not compute
from its inputs). Then the first program is replayed on the second call's inputs and must give its
results. From the third call on, the program replays: forward and backward are one compiled Python
function of the raw inputs. Array arguments reach ``f`` as untracked GradArrays while it is traced,
so that everything computed from them is recorded.

**Fusion** (``fuse=``, ``_fusion``): after validation the program is compiled again with runs of
elementwise steps fused into one kernel each (``cupy.fuse``; numba loops on NumPy), and that
variant replaces the exact one only if its replay agrees with the eager result within rounding.

**Guards.** Each value Python reads during the trace (``bool()`` of a comparison in an ``if``,
``float()``, ``int()``, ``.item()``, ``.tolist()``, indexing with a computed integer,
``np.asarray``/``.data``/``.numpy()``, the shape of a data-dependent result such as ``np.nonzero``,
an integer a NumPy function returned) is checked at the same point of the replay; when one differs
the call is traced again as another branch. At most ``max_programs`` (8) programs per function;
beyond that, calls that match none run eagerly (one ``JitWarning``).

**Refused** (the signature then always runs eagerly, one ``JitWarning`` with the reason): values
computed outside the tape that change between calls (``np.random`` draws, NumPy on global state),
writes into the caller's arrays or into arrays ``f`` did not create, returning a GradArray that
requires grad, higher derivatives (``create_graph``: ``hessian``, ``jvp``, grad of grad), ``.backward()``
into ``.grad`` inside ``f`` (use the functional API), hooks, anomaly mode, and a replay that does not
reproduce the eager result.

Composition: ``ga.jit(ga.grad(f))``, ``ga.jit(ga.value_and_grad(f))`` and ``ga.jit(ga.jacobian(f))``
are recorded with their backward pass and replay as one function. A jitted function called with
arrays that require grad (``ga.grad(ga.jit(f))``, ``ga.vjp``, ``jitted(w).backward()``) records
``f`` and its backward pass with the cotangents as inputs, compiles the two parts separately, and
returns outputs connected to the caller's graph through one node whose VJP is the compiled
backward; when a higher derivative records that VJP (``create_graph``: ``ga.hessian(ga.jit(f))``),
it differentiates an eager recomputation of ``f`` instead. A jitted function called while another
is traced is part of that trace.
Must not know about: dispatch or the tape's internals (the tracer and the recorded backward do).
"""
from __future__ import annotations

import functools
import threading
import warnings

import numpy as np

from . import functional as F
from ._array import GradArray, _is_array_result, _make
from ._dispatch import recorded
from ._fusion import fuse_runs, might_fuse
from ._modes import _state
from ._tables import Rule
from ._tape import Node, _node_seq, backward
from ._trace_program import GuardFailed, Program, output_template, plain_value, same_values
from ._tracer import Tracer

__all__ = ["jit", "JitWarning", "Jitted"]


class JitWarning(UserWarning):
    """``ga.jit`` runs (some) calls of a function eagerly; the message says why."""


def jit(fn=None, *, max_programs=8, fuse="auto"):
    """Record ``fn`` once per signature and replay later calls as raw backend calls (see the
    module docstring for guards, what is refused and how it composes with grad).

    ``fuse``: "auto" fuses runs of elementwise steps into one kernel where that pays (CuPy:
    every run, with ``cupy.fuse``; NumPy, with numba installed: arithmetic on float64/complex128
    arrays of 2**16 elements or more); True fuses every run a fuser takes, math functions and
    small arrays included; False never fuses (replays are then the eager NumPy calls, bit for
    bit). A fused program is used only after it reproduced the eager result within rounding
    (``_same_outputs``); ``programs()[k].fusion`` says what fusion did."""
    if fuse not in ("auto", True, False):
        raise ValueError(f"ga.jit: fuse must be 'auto', True or False, not {fuse!r}")
    if fn is None:
        return functools.partial(jit, max_programs=max_programs, fuse=fuse)
    return Jitted(fn, max_programs, fuse)


class _Eager(Exception):
    """This call cannot be traced (the message says why); it runs eagerly."""


class _Entry:
    __slots__ = ("ready", "pending", "refused")

    def __init__(self):
        self.ready, self.pending, self.refused = [], [], None


def _probe_transforms():
    def f(x):
        return x
    return {F.grad(f).__code__: "grad", F.value_and_grad(f).__code__: "value_and_grad",
            F.jacobian(f).__code__: "jacobian"}


_TRANSFORMS = _probe_transforms()


class Jitted:
    """A jitted function: ``__call__`` replays, traces or runs eagerly; ``programs()`` lists the
    compiled programs (their ``.source`` is the replayed Python code)."""

    def __init__(self, fn, max_programs, fuse="auto"):
        functools.update_wrapper(self, fn)
        self.fn, self.max_programs, self.fuse = fn, max_programs, fuse
        self.cache = {}
        self.lock = threading.Lock()
        self.warned = set()
        self.stats = {"replays": 0, "traces": 0, "eager": 0}
        code = getattr(fn, "__code__", None)
        self.transform = None
        if code in _TRANSFORMS:
            cells = dict(zip(code.co_freevars, (c.cell_contents for c in fn.__closure__)))
            self.transform = (_TRANSFORMS[code], cells["f"], cells["argnums"], cells["has_aux"])

    def programs(self):
        return [p for e in self.cache.values() for p in e.ready]

    def __get__(self, obj, objtype=None):       # @ga.jit on a method: ``self`` is static
        return self if obj is None else functools.partial(self, obj)

    def __call__(self, *args, **kwargs):
        if _state.tracer is not None:           # inside another traced call: part of its trace
            return self.fn(*args, **kwargs)
        key = None if kwargs else _fast_key(args)
        if key is not None:                     # positional NumPy arrays only: the common case
            arrays = args
            leaves, tree = list(args), (tuple, ((tuple, tuple(None for _ in args)), (dict, ())))
        else:
            try:
                leaves, tree = _flatten((args, kwargs))
                key, arrays, tracked = _signature(leaves, tree)
            except _Eager as why:
                return self._eager(str(why), args, kwargs)
            if tracked:
                return self._call_tracked(key, args, kwargs, leaves, tree, arrays, tracked)
        entry = self.cache.get(key)
        if entry is not None:
            if entry.refused:
                return self._eager(None, args, kwargs, arrays, leaves)
            for prog in entry.ready:
                try:
                    out = prog.run(*arrays)
                except GuardFailed:
                    continue
                self.stats["replays"] += 1
                return out
        with self.lock:
            if entry is None:
                if self._count() >= self.max_programs:
                    return self._eager(f"more than {self.max_programs} programs (signatures and "
                                       "branches): the cache is full", args, kwargs, arrays, leaves)
                entry = self.cache.setdefault(key, _Entry())
            elif self._count() >= self.max_programs:
                return self._eager(f"more than {self.max_programs} programs (guards keep failing: "
                                   "a value read in Python changes between calls)", args, kwargs,
                                   arrays, leaves)
        return self._trace(entry, args, kwargs, leaves, tree, arrays)

    def _call_tracked(self, key, args, kwargs, leaves, tree, arrays, tracked):
        """Arrays that require grad (``ga.grad(ga.jit(f))``, ``jitted(w).backward()``): the
        outputs are connected to the caller's graph through one node, whose VJP is the recorded
        backward program (see ``_NodeState``)."""
        entry = self.cache.get(key)
        inputs = [leaves[p] for p in tracked]
        if entry is not None and not entry.refused:
            for prog in entry.ready:
                try:
                    outs, saved = prog.run(*arrays)
                except GuardFailed:
                    continue
                self.stats["replays"] += 1
                return _rebuild(prog.out_tree, _connect(outs, prog.tracked_out, inputs, _NodeState(
                    prog.backward, saved, None, (self, args, kwargs, tracked))))
        with self.lock:
            if entry is None and self._count() < self.max_programs:
                entry = self.cache.setdefault(key, _Entry())
        if entry is None or entry.refused or self._count() >= self.max_programs:
            return self._eager(None if entry is not None and entry.refused else
                               f"more than {self.max_programs} programs", args, kwargs)
        return self._trace(entry, args, kwargs, leaves, tree, arrays, tracked)

    def _count(self):
        return sum(len(e.ready) + len(e.pending) for e in self.cache.values())

    def _eager(self, why, args, kwargs, arrays=(), leaves=()):
        """Run ``f`` as it is; with plain arrays only, its results are returned as a traced call
        returns them (untracked GradArrays unwrapped), so that every call has the same types."""
        if why is not None:
            self._warn(why)
        self.stats["eager"] += 1
        out = self.fn(*args, **kwargs)
        if arrays and not any(type(x) is GradArray for x in leaves):
            return _unwrap_outputs(out)
        return out

    def _warn(self, why):
        if why not in self.warned:
            self.warned.add(why)
            name = getattr(self.fn, "__name__", "f")
            warnings.warn(f"ga.jit({name}): {why}; these calls run eagerly.", JitWarning,
                          stacklevel=4)

    # ------------------------------------------------------------------------------ tracing
    def _trace(self, entry, args, kwargs, leaves, tree, arrays, tracked=()):
        self.stats["traces"] += 1
        tracer = Tracer()
        for raw in arrays:
            tracer.add_input(raw)
        before = [raw.copy() for raw in arrays]
        diff = self.transform[2] if self.transform else None
        wrapped = _wrap_leaves(leaves, diff, args)
        local = [_make(leaves[p]._data, requires_grad=True) for p in tracked]
        for p, leaf in zip(tracked, local):
            wrapped[p] = leaf
        wrapped = _rebuild(tree, wrapped)
        plain = not any(type(x) is GradArray for x in leaves)
        lo = next(_node_seq)
        _state.tracer = tracer
        try:
            if self.transform is None:
                out = self.fn(*wrapped[0], **wrapped[1])
            else:
                out = _traced_transform(tracer, self.transform, wrapped[0], wrapped[1])
            if tracked:
                node_parts = _trace_node_backward(tracer, out, local)
        except Exception as exc:        # noqa: BLE001  (also raised eagerly? then that error)
            if _state.tracer is tracer:
                _state.tracer = None
            out = self._eager(None, args, kwargs, arrays, leaves)
            entry.refused = f"the function fails when traced ({type(exc).__name__}: {exc})"
            self._warn(entry.refused)
            return out
        finally:
            if _state.tracer is tracer:
                _state.tracer = None
        if tracer.refused is None and not all(same_values(a, b) for a, b in zip(arrays, before)):
            tracer.refuse("the function writes into its input arrays")
        if tracked:
            result, out_tpl, compare = _node_outputs(tracer, node_parts, local, lo,
                                                     [leaves[p] for p in tracked],
                                                     (self, args, kwargs, tracked))
        else:
            out_tpl = output_template(tracer, out, plain) if tracer.refused is None else None
            result = compare = _unwrap_outputs(out) if plain else out
        if tracer.refused is not None:
            entry.refused = tracer.refused
            self._warn(tracer.refused)
            # connected through the trace's local leaves only: run f on the caller's arrays
            return self._eager(None, args, kwargs) if tracked else result
        prog = Program(tracer, out_tpl)
        if tracked:
            prog.split, prog.cotangents, prog.tracked_out = node_parts[:3]
            prog.out_tree = node_parts[4]
        del tracer
        with self.lock:
            match = next((p for p in entry.pending if p.key == prog.key), None)
            if match is None:
                entry.pending.append(prog)
                return result
            entry.pending.remove(match)
        why = self._validate(match, prog, arrays, compare, self.fuse)
        if why is not None:
            entry.refused = why
            self._warn(why)
        else:
            with self.lock:
                entry.ready.append(match)
        return result

    @staticmethod
    def _validate(first, second, arrays, result, fuse=False):
        """Promote ``first`` (traced on an earlier call) after ``second`` recorded the same steps:
        constants classified, compiled, and replayed on this call's inputs (must give ``result``).
        Then, with ``fuse``, compiled again with fused kernels, kept if its replay gives
        ``result`` within rounding (else the unfused program stays; ``first.fusion`` says why)."""
        modes = []
        for c1, c2, s1, s2, w1, w2 in zip(first.consts, second.consts, first.snaps, second.snaps,
                                          first.written, second.written):
            if c1 is c2:
                if w1 or w2:
                    return "the function writes into an array it did not create (a global buffer)"
                modes.append("ext")
            elif same_values(s1, s2):
                modes.append("rw" if w1 or w2 else "ro")
            else:
                return ("a value computed outside the tape changes between calls (np.random, "
                        "NumPy on plain arrays or on global state): it cannot be frozen")
        split = getattr(first, "split", None)
        if split is not None and any(op[0] == "guard" for op in first.ops[split:]):
            return "a value is read in Python during the backward pass"
        first.compile(modes, split)
        why = _replay_differs(first, arrays, result, split, fused=False)
        if why is not None or not fuse or not might_fuse(first.meta, force=fuse is True):
            return why
        first.compile(modes, split, functools.partial(fuse_runs, force=fuse is True))
        if not first.kernels:
            first.fusion = "nothing to fuse"
            return None
        first.fusion = _replay_differs(first, arrays, result, split, fused=True)
        if first.fusion is not None:        # keep the exact, unfused program
            first.compile(modes, split)
        else:
            first.fusion = f"{len(first.kernels)} fused kernels"
        return None


def _replay_differs(prog, arrays, result, split, fused):
    """None if ``prog`` replayed on ``arrays`` gives ``result`` (the eager call's); else why not."""
    try:
        replayed = prog.run(*arrays)
        if split is not None:       # the backward part, with the trace's cotangents (ones)
            replayed = (replayed[0], prog.backward(replayed[1], result[2]))
            result = result[:2]
    except GuardFailed:
        return "the recorded program does not replay its own trace (a guard fails)"
    except Exception as exc:        # noqa: BLE001  (a fused kernel its backend refuses)
        if not fused:
            raise
        return f"a fused kernel failed ({type(exc).__name__}: {exc})"
    if not _same_outputs(replayed, result, fused):
        return ("the recorded program does not reproduce the eager result (a computation "
                "outside the recorded steps)" if not fused else
                "the fused program differs from the eager result by more than rounding")
    return None


# ------------------------------------------------------------------------------ arguments
def _flatten(obj, leaves=None):
    """Leaves of nested tuples/lists/dicts and a hashable description of the nesting."""
    if leaves is None:
        leaves = []
        return leaves, _flatten(obj, leaves)
    t = type(obj)
    if t is tuple or t is list or (isinstance(obj, tuple) and hasattr(obj, "_fields")):
        return (t, tuple(_flatten(x, leaves) for x in obj))
    if t is dict:
        return (dict, tuple((k, _flatten(v, leaves)) for k, v in obj.items()))
    leaves.append(obj)
    return None


def _rebuild(tree, leaves, pos=None):
    if pos is None:
        pos = [0]
    if tree is None:
        pos[0] += 1
        return leaves[pos[0] - 1]
    t, parts = tree
    if t is dict:
        return {k: _rebuild(p, leaves, pos) for k, p in parts}
    items = [_rebuild(p, leaves, pos) for p in parts]
    return t(*items) if hasattr(t, "_fields") else t(items)


def _is_array(x):
    return _is_array_result(x) and not isinstance(x, np.generic)


def _fast_key(args):
    """The signature of a call with NumPy arrays only (distinct objects), or None."""
    parts = []
    for a in args:
        if type(a) is not np.ndarray:
            return None
        parts.append((a.shape, a.dtype, a.strides))
    if len(args) > 1 and len(set(map(id, args))) != len(args):
        return None
    return ("fast", tuple(parts), _state.enabled)


def _signature(leaves, tree):
    """(hashable key, raw arrays in order) of a call; _Eager when it cannot be traced."""
    keys, arrays, seen, tracked = [], [], {}, []
    for pos, x in enumerate(leaves):
        t = type(x)
        if t is GradArray:
            if x._requires_grad and _state.enabled:
                tracked.append(pos)
            raw = x._data
        elif _is_array(x):
            raw = x
        else:
            try:
                hash(x)
            except TypeError:
                raise _Eager(f"an argument of type {t.__name__} is neither an array nor "
                             "hashable") from None
            keys.append((t, x))
            continue
        if not hasattr(raw, "copy") or getattr(raw, "dask", None) is not None:
            raise _Eager(f"arrays of type {type(raw).__name__} are not supported")
        if type(raw) is np.ndarray:
            keys.append((t, np.ndarray, raw.shape, raw.dtype, raw.strides, seen.setdefault(
                id(raw), len(arrays))))
        else:
            keys.append((t, type(raw), raw.shape, raw.dtype, getattr(raw, "strides", None),
                         str(getattr(raw, "device", "")), seen.setdefault(id(raw), len(arrays))))
        arrays.append(raw)
    return (tree, tuple(keys), tuple(tracked), _state.enabled), arrays, tracked


def _wrap_leaves(leaves, argnums, args):
    """Raw arrays reach ``f`` as untracked GradArrays (all that is computed from them is then
    recorded), except the arguments a recognised ``grad`` differentiates (``_prepare`` makes
    those leaves)."""
    keep = set()
    if argnums is not None:
        nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
        first = 0
        for i, a in enumerate(args):
            count = len(_flatten(a)[0])
            if i in nums or i - len(args) in nums:
                keep.update(range(first, first + count))
            first += count
    return [_make(x) if _is_array(x) and type(x) is not GradArray and i not in keep else x
            for i, x in enumerate(leaves)]


def _unwrap_outputs(out):
    t = type(out)
    if t is tuple or t is list:
        return t(_unwrap_outputs(x) for x in out)
    if t is dict:
        return {k: _unwrap_outputs(v) for k, v in out.items()}
    if isinstance(out, tuple) and hasattr(out, "_fields"):
        return t(*[_unwrap_outputs(x) for x in out])
    if t is GradArray and not out._requires_grad:
        return plain_value(out._data)
    return out


# Relative tolerance of a fused program against the eager result, by float size: fused kernels
# evaluate the same formulas with other rounding (numba's and CUDA's math functions, no
# intermediate stores); a wrong kernel is off by far more. The absolute part is scaled by the
# largest magnitude of each output, so that values that cancel to near zero compare normwise.
_FUSED_RTOL = {2: 1e-2, 4: 1e-4, 8: 1e-9, 16: 1e-9}


def _same_outputs(a, b, fused=False):
    """Unfused: equal to 1e-9 relative. Fused: equal within ``_FUSED_RTOL`` normwise."""
    if type(a) is not type(b):
        return False
    t = type(a)
    if t is tuple or t is list or (isinstance(a, tuple) and hasattr(a, "_fields")):
        return len(a) == len(b) and all(_same_outputs(x, y, fused) for x, y in zip(a, b))
    if t is dict:
        return a.keys() == b.keys() and all(_same_outputs(a[k], b[k], fused) for k in a)
    if t is GradArray:
        return _same_outputs(a._data, b._data, fused)
    if _is_array_result(a):
        try:
            if a.shape != b.shape or a.dtype != b.dtype:
                return False
            if a.dtype.kind not in "fc":
                return bool(np.array_equal(a, b))
            if not fused:
                return bool(np.allclose(a, b, rtol=1e-9, atol=0, equal_nan=True))
            rtol = _FUSED_RTOL[np.dtype(a.dtype).itemsize // (2 if a.dtype.kind == "c" else 1)]
            finite = np.isfinite(b)
            scale = float(np.max(np.abs(b[finite]))) if b.size and bool(np.any(finite)) else 0.0
            return bool(np.allclose(a, b, rtol=rtol, atol=rtol * scale, equal_nan=True))
        except (TypeError, ValueError):
            return False
    try:
        return bool(a == b) or (a != a and b != b)
    except (TypeError, ValueError):
        return a is b


# ------------------------------------------------------------------------------ node form
def _trace_node_backward(tracer, out, local):
    """Record the backward pass of ``out`` with respect to the local leaves, its cotangents
    (ones) as extra inputs. Returns (split step, first cotangent input, tracked output positions,
    output leaves, tree, gradients, cotangents)."""
    out_leaves, tree = _flatten(out)
    outs = [j for j, o in enumerate(out_leaves) if type(o) is GradArray and o._requires_grad]
    cots = [np.ones_like(out_leaves[j]._data) for j in outs]
    first = tracer.n_inputs
    for c in cots:
        tracer.add_input(c)
    split = len(tracer.ops)
    cap = {id(leaf): None for leaf in local}
    if outs:
        backward([out_leaves[j] for j in outs], cots, retain_graph=True, capture=cap)
    grads = []
    for leaf in local:
        g = cap[id(leaf)]
        if g is None:
            g = tracer.unit(np.zeros_like, leaf._data) if _state.tracer is tracer else \
                np.zeros_like(leaf._data)
        grads.append(g)
    return split, first, outs, out_leaves, tree, grads, cots


def _node_outputs(tracer, parts, local, lo, inputs, call):
    """The traced call's result (connected through a node whose VJP uses the trace's own graph),
    the output template (forward leaves, gradients) and what the validation compares."""
    _, _, outs, out_leaves, tree, grads, cots = parts
    hi = next(_node_seq)
    if tracer.refused is None and F.reaches_other_leaf(
            [out_leaves[j] for j in outs], {id(leaf) for leaf in local},
            lambda node: hi < node.seq < lo):           # nodes of this trace only
        tracer.refuse("the function reads an array that requires grad and is not an argument")
    raws = [o._data if j in outs else o for j, o in enumerate(out_leaves)]
    state = _NodeState(None, ([out_leaves[j] for j in outs], local), None, call)
    result = _rebuild(tree, _connect(raws, outs, inputs, state))
    if tracer.refused is not None:
        return result, None, None
    fwd = [tracer.template(o._data) if j in outs else output_template(tracer, o, False)
           for j, o in enumerate(out_leaves)]
    return result, (fwd, [tracer.template(g) for g in grads]), (raws, grads, cots)


class _NodeState:
    """What the VJP of a jitted call's node needs: the compiled backward and the values the
    forward saved (or, for a call that was traced, its own graph), and the call itself, recomputed
    eagerly when a higher derivative records the backward (create_graph)."""

    __slots__ = ("bwd", "saved", "local", "call")

    def __init__(self, bwd, saved, local, call):
        self.bwd, self.saved, self.local, self.call = bwd, saved, local, call
        if bwd is None:
            self.saved, self.local = None, saved

    def backward(self, gs):
        if self.bwd is not None:
            return tuple(self.bwd(self.saved, gs))
        outs, leaves = self.local
        return tuple(F.grad_of(outs, leaves, list(gs), retain_graph=True))

    def recompute(self, inputs, gs):
        jitted, args, kwargs, positions = self.call
        leaves, tree = _flatten((args, kwargs))
        # ``positions``: the arguments that required grad at the call. One that does not any more
        # (a vjp's leaf, retired once its pullback was made) is recomputed from a local leaf, so
        # that the recorded derivative depends on the cotangents as the eager one does; the leaf
        # is retired too afterwards (as functional._retire: a constant to outer transformations)
        local = [None if type(x) is GradArray and x._requires_grad else
                 _make(x._data if type(x) is GradArray else x, requires_grad=True) for x in inputs]
        inputs = [x if leaf is None else leaf for x, leaf in zip(inputs, local)]
        for p, x in zip(positions, inputs):
            leaves[p] = x
        a, kw = _rebuild(tree, leaves)
        out = _flatten(jitted.fn(*a, **kw))[0]
        outs = [o for o in out if type(o) is GradArray and o._requires_grad]
        grads = tuple(F.grad_of(outs, list(inputs), list(gs), create_graph=True))
        for leaf in local:
            if leaf is not None:
                leaf._requires_grad = False
        return grads


def _jit_vjp(g, ans, *inputs, state):
    gs = list(g) if type(g) is tuple else [g]
    if any(type(x) is GradArray for x in gs):       # create_graph: differentiate a recomputation
        return state.recompute(inputs, gs)
    return state.backward(gs)


_JIT_RULE = Rule(joint=_jit_vjp, save="args", name="jit")


def _connect(raws, outs, inputs, state):
    """The output leaves, those at ``outs`` computed from ``inputs`` through one new node."""
    leaves = list(raws)
    if outs:
        edges = tuple((k, x if x._node is None else x._node, x._out_index, x._data.shape,
                       x._data.dtype) for k, x in enumerate(inputs))
        versions = [(x._version, x._version[0], x._data) for x in inputs]
        node = Node(_JIT_RULE, edges, tuple(inputs), {"state": state}, None, versions, len(outs),
                    tuple((raws[j].shape, raws[j].dtype) for j in outs))
        for k, j in enumerate(outs):
            leaves[j] = _make(raws[j], node, True, k)
        recorded(node, leaves[outs[0]])
    return leaves


# ------------------------------------------------------------------------------ transforms
def _plain_raw(raw):
    return raw[()] if isinstance(raw, np.ndarray) and raw.ndim == 0 else raw


def _item(raw):
    return raw.item()


def _stack_rows(rows, shape):
    return np.reshape(np.stack([np.asarray(x) if np.isscalar(x) else x for x in rows]), shape)


def _zeros_block(raw, shape):
    return np.zeros_like(raw, shape=shape)


def _traced_transform(tracer, transform, args, kwargs):
    """``grad`` / ``value_and_grad`` / ``jacobian`` of ``f`` as ``functional`` computes them, with
    the steps that functional does on raw arrays (``_plain_value``, ``.item()``, stacking rows)
    recorded too."""
    kind, f, argnums, has_aux = transform

    def step(fn, *a):
        return tracer.unit(fn, *a) if _state.tracer is tracer else fn(*a)

    new_args, per_arg, single = F._prepare(args, argnums)
    out = f(*new_args, **kwargs)
    aux = None
    name = kind if kind != "jacobian" else "jacobian"
    if has_aux:
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"{name}(has_aux=True): the function must return (value, aux)")
        out, aux = out
    F._output_check(out, name)
    flat = [i for inputs, _ in per_arg for i in inputs]
    if kind != "jacobian":
        if out.size != 1:
            raise TypeError(f"{name} needs a function with a scalar output; this one returned "
                            f"shape {out.shape}. Use ga.jacobian for vector outputs.")
        if out.dtype.kind == "c":
            raise TypeError(f"{name} needs a real scalar output; this function returned a complex "
                            f"value ({out.dtype})")
    nested = F._records_for_outer(flat, [out])
    if nested:
        tracer.refuse("higher-order derivatives (create_graph: hessian, jvp, grad of grad) run "
                      "eagerly")

    def finish(i, g):
        if nested:
            return i.finish(g, True)
        if g is None:
            g = step(np.zeros_like, i.value._data)
        raw = g._data if type(g) is GradArray else g
        if i.kind == "gradarray":
            return _make(raw)
        return step(_item, raw) if i.kind == "python" else raw

    def rebuild(values):
        grads, k = [], 0
        for inputs, rb in per_arg:
            grads.append(rb(values[k:k + len(inputs)]))
            k += len(inputs)
        return grads[0] if single else tuple(grads)

    if kind == "jacobian":
        rows = [[] for _ in flat]
        eye = np.eye(out.size, dtype=out.dtype, like=out._data) if out.size else None
        for k in range(out.size):
            seed = np.reshape(eye[k], out.shape)
            gs = F.grad_of(out, [i.value for i in flat], _make(seed) if nested else seed,
                           retain_graph=True, create_graph=nested)
            for r, i, g in zip(rows, flat, gs):
                r.append(finish(i, g))
        F._retire(flat)
        blocks = [step(_stack_rows, r, out.shape + i.value.shape) if r else
                  step(_zeros_block, i.value._data, out.shape + i.value.shape)
                  for r, i in zip(rows, flat)]
        grads = rebuild(blocks)
        return (grads, aux if nested else F._to_plain(aux)) if has_aux else grads
    raw_grads = F.grad_of(out, [i.value for i in flat], create_graph=nested)
    F._retire(flat)
    grads = rebuild([finish(i, g) for i, g in zip(flat, raw_grads)])
    value = out if nested else step(_plain_raw, out._data)
    if has_aux and not nested:
        aux = F._to_plain(aux)
    if kind == "grad":
        return (grads, aux) if has_aux else grads
    return ((value, aux), grads) if has_aux else (value, grads)
