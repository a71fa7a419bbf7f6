"""``ga.jit``'s programs: the recorded steps of one traced call, compared and compiled.

A program is a list of steps recorded by ``gradarray._tracer.Tracer``: ``("call", name, fn, args,
kwargs, pure, post)`` (``name = fn(*args, **kwargs)``; arguments are templates in which ``Slot``
names a value), ``("item", name, source, k)`` and ``("guard", kind, name, expected)``. Values are
named ``i0``... (inputs), ``v0``... (results of steps) and ``c0``... (constants: arrays the program
reads but did not compute). ``Program.key`` describes the steps with their static arguments, so
that two traces of the same path compare equal; ``Program.compile`` turns the steps into the source
of one Python function (steps whose results are unused dropped, values deleted after their last
use so NumPy reuses their memory, ``lambda g, ...: g`` steps made aliases) and compiles it.
Must not know about: how steps are recorded (``_tracer``) or the jit's cache (``gradarray.jit``).
"""
from __future__ import annotations

import keyword

import numpy as np

from ._array import GradArray, _is_array_result, _make
from ._gradients import MaskedGradient, SparseGradient
from ._tables import ShapeDtype

__all__ = ["Program", "GuardFailed", "Slot", "static_key", "same_values", "output_template"]

class GuardFailed(Exception):
    """A guard of a recorded program does not hold for this call: it takes another path."""


class Slot:
    """A named value of the program inside an argument template."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


def _is_raw_array(x):
    return _is_array_result(x) and not isinstance(x, (np.generic, GradArray, SparseGradient,
                                                      MaskedGradient))


def _registrable(x):
    """Values named by identity: arrays and values no cache interns (never ints, bools, None)."""
    t = type(x)
    return (t is float or t is complex or t is SparseGradient or t is MaskedGradient
            or t is GradArray or isinstance(x, (np.floating, np.complexfloating)) or _is_raw_array(x))


def copy_of(x):
    return x.copy()


def static_key(x):
    """A comparable description of a template: equal for two traces that did the same thing."""
    t = type(x)
    if t is Slot:
        return ("$", x.name)
    if t is tuple or t is list:
        return (t.__name__,) + tuple(static_key(y) for y in x)
    if t is dict:
        return ("dict",) + tuple((k, static_key(v)) for k, v in x.items())
    if t in (int, float, complex, bool, str, bytes) or x is None or x is Ellipsis:
        return (t.__name__, x)
    if t is slice:
        return ("slice", static_key(x.start), static_key(x.stop), static_key(x.step))
    if t is ShapeDtype:
        return ("shapedtype", tuple(x.shape), str(x.dtype))
    if isinstance(x, np.dtype):
        return ("dtype", x.str)
    if isinstance(x, np.generic):
        return ("scalar", x.dtype.str, x.tobytes())
    if isinstance(x, np.ndarray):          # guard snapshots
        return ("array", x.shape, x.dtype.str, x.tobytes())
    key = getattr(x, "key", None)
    if type(key) is tuple:                 # _Opaque, backward specs
        return key
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return (t.__name__,) + tuple(static_key(y) for y in x)
    return ("id", id(x))                   # functions, rules, types: the same object


# ------------------------------------------------------------------------------------ programs
def plain_value(raw):
    """A 0-d NumPy array as the NumPy scalar NumPy code would have returned."""
    return raw[()] if type(raw) is np.ndarray and raw.ndim == 0 else raw


class Wrap:
    """An output that the caller receives converted: ``how`` is ``_make`` (an untracked
    GradArray) or ``plain_value``."""

    __slots__ = ("slot", "how")

    def __init__(self, slot, how=_make):
        self.slot, self.how = slot, how

    @property
    def key(self):
        return ("wrap", static_key(self.slot), self.how is _make)


def output_template(tracer, obj, unwrap):
    """The outputs of the traced call as a template (``unwrap``: GradArrays become raw arrays)."""
    t = type(obj)
    if t is tuple or t is list:
        return t([output_template(tracer, x, unwrap) for x in obj])
    if t is dict:
        return {k: output_template(tracer, v, unwrap) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return t(*[output_template(tracer, x, unwrap) for x in obj])
    if t is GradArray:
        if obj._requires_grad:
            tracer.refuse("the function returns a GradArray that requires grad (its graph cannot "
                          "be replayed); return plain values, or differentiate inside the jit")
        slot = tracer.template(obj._data)
        if not unwrap:
            return Wrap(slot)
        return Wrap(slot, plain_value) if obj._data.ndim == 0 else slot
    if _is_raw_array(obj) or _registrable(obj):
        return tracer.template(obj)
    return obj


def same_values(a, b):
    """Same shape, dtype and values (NaN equal to NaN)."""
    try:
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    except (AttributeError, TypeError, ValueError):
        return a is b


def _ne(a, b):
    if type(a) is type(b) and a == b:
        return False
    if isinstance(a, (float, complex)) and isinstance(b, (float, complex)):
        return not (a != a and b != b)
    return True


def _ne_arr(a, snap):
    return not same_values(a, snap)


def _slots_in(tpl, into):
    t = type(tpl)
    if t is Slot:
        into.add(tpl.name)
    elif t is tuple or t is list or (isinstance(tpl, tuple) and hasattr(tpl, "_fields")):
        for x in tpl:
            _slots_in(x, into)
    elif t is dict:
        for x in tpl.values():
            _slots_in(x, into)
    elif t is Wrap:
        into.add(tpl.slot.name)
    return into


def _op_key(op):
    if op[0] == "call":
        _, out, fn, args, kwargs, pure, post = op
        return ("call", out, static_key(fn), static_key(args), static_key(kwargs), pure, post is None)
    if op[0] == "guard":
        return ("guard", static_key(op[1]), op[2], static_key(op[3]))
    return op


_INLINE = (int, bool, str, type(None))
_FIRST = (lambda a: a).__code__.co_code


def _returns_first(fn):
    code = getattr(fn, "__code__", None)
    return code is not None and code.co_code == _FIRST and code.co_argcount >= 1


def _with_dels(lines, keep):
    """The lines with ``del`` after the last read of each value (NumPy then reuses its memory,
    as in hand-written code where temporaries die soon); the outputs are kept."""
    last, local = {}, {bound for _, _, bound in lines if bound is not None}
    for n, (_, reads, bound) in enumerate(lines):
        for name in reads:
            last[name] = n
        if bound is not None:
            last.setdefault(bound, n)
    out, dying = [], []
    for n, (text, reads, bound) in enumerate(lines):
        out.append(text)
        if dying:                       # freed one step late: after the next allocation, as in
            out.append("del " + ", ".join(dying))   # ``x = f(x)`` (fewer page faults)
        dying = sorted(x for x in set(reads) | {bound} if x in local and last.get(x) == n
                       and x not in keep)
    return out


class _Emitter:
    """Source lines for a program's steps: statics go to the module namespace ``env``."""

    def __init__(self, program, modes):
        self.program, self.modes = program, modes
        self.env = {"_GF": GuardFailed, "_ne": _ne, "_ne_arr": _ne_arr, "_cp": copy_of,
                    "_mk": _make, "_pv": plain_value}
        self.statics = {}

    def static(self, x):
        t = type(x)
        if t in _INLINE or x is Ellipsis or (t is float and np.isfinite(x)):
            return repr(x)
        if t is tuple and all(type(y) in _INLINE for y in x):
            return repr(x)
        name = self.statics.get(id(x))
        if name is None:
            name = self.statics[id(x)] = f"s{len(self.statics)}"
            self.env[name] = x
        return name

    def render(self, tpl):
        t = type(tpl)
        if t is Slot:
            return tpl.name
        if not _slots_in(tpl, set()):
            return self.static(tpl)
        if t is tuple:
            return "(" + "".join(self.render(x) + ", " for x in tpl) + ")"
        if t is list:
            return "[" + ", ".join(self.render(x) for x in tpl) + "]"
        if t is dict:
            return "{" + ", ".join(f"{self.static(k)}: {self.render(v)}" for k, v in tpl.items()) + "}"
        return f"{self.static(t)}(" + ", ".join(self.render(x) for x in tpl) + ")"

    def prologue(self, needed):
        """Constants: the caller's arrays and private copies in ``env``; buffers ``f`` fills are
        copied afresh at the start of each call."""
        p, lines = self.program, []
        for k, (c, snap, mode) in enumerate(zip(p.consts, p.snaps, self.modes)):
            if f"c{k}" not in needed:
                continue
            if mode == "rw":
                self.env[f"c{k}_s"] = snap
                lines.append((f"c{k} = _cp(c{k}_s)", (), f"c{k}"))
            else:
                if mode == "ro" and isinstance(snap, np.ndarray):
                    snap.setflags(write=False)
                self.env[f"c{k}"] = c if mode == "ext" else snap
        return lines

    def lines(self, live, needed, keep, lines, reuse_live=None):
        """Source of the live steps (in order), with ``del`` after each value's last use."""
        p = self.program
        reuse = p.reuse(reuse_live or live, keep)
        for n in sorted(live):
            op = p.ops[n]
            if op[0] == "call":
                _, out, fn, args, kwargs, _, post = op
                reads = _slots_in(args, _slots_in(kwargs, set()))
                if _returns_first(fn) and args and type(args[0]) is Slot and not kwargs \
                        and post is None:
                    lines.append((f"{out} = {args[0].name}", reads, out))    # lambda g, ...: g
                    continue
                parts = [self.render(a) for a in args]
                for k, v in (kwargs or {}).items():
                    if k.isidentifier() and not keyword.iskeyword(k):
                        parts.append(f"{k}={self.render(v)}")
                    else:
                        parts.append(f"**{{{self.static(k)}: {self.render(v)}}}")
                if n in reuse:
                    parts.append(f"out={reuse[n]}")
                rhs = f"{self.static(fn)}({', '.join(parts)})"
                if post is not None:
                    rhs = f"{self.static(post)}({rhs})"
                bound = out if out in needed else None
                lines.append((rhs if bound is None else f"{out} = {rhs}", reads, bound))
            elif op[0] == "item":
                lines.append((f"{op[1]} = {op[2]}[{op[3]}]", (op[2],), op[1]))
            else:
                lines.append((f"if {p._guard(op, self.static)}: raise _GF", (op[2],), None))
        return _with_dels(lines, keep)

    @staticmethod
    def function(name, params, body):
        return f"def {name}({', '.join(params)}):\n" + "\n".join("    " + x for x in body) + "\n"

    def compile(self, source):
        exec(compile(source, "<ga.jit program>", "exec"), self.env)    # noqa: S102
        return self.env


class Program:
    """The recorded steps of one traced call, compiled to a Python function of the raw inputs.

    ``key``: equal for two traces that made the same calls in the same order with the same static
    arguments and guard outcomes (array constants are compared separately, ``consts``/``snaps``).
    ``written[k]``: constant ``k`` was modified in place during the trace.
    """

    def __init__(self, tracer, out_tpl):
        self.ops = self.recorded = tracer.ops
        self.kernels, self.kernel_outputs = [], set()     # fused kernels (``compile``'s rewrite)
        self.fusion = None                                  # what fusion did (``gradarray.jit``)
        self.consts, self.snaps = list(tracer.consts), list(tracer.snaps)
        self.written = [not same_values(c, s) for c, s in zip(self.consts, self.snaps)]
        self.n_inputs = tracer.n_inputs
        self.cotangents = self.n_inputs      # inputs from here on are a backward's cotangents
        self.fresh = tracer.fresh
        self.meta = tracer.meta
        self.backward = self.split = None
        self.folded = set()
        self.out_tpl = out_tpl
        self.key = (tuple(_op_key(op) for op in self.ops), static_key(out_tpl), len(self.consts))
        self.run = self.source = None

    def compile(self, modes, split=None, rewrite=None):
        """``modes[k]``: "ext" (the caller's array, read by reference), "ro" (a value f made: a
        private read-only copy) or "rw" (a buffer f made and fills: a fresh copy per call).

        With ``split`` (the first step of a backward pass whose cotangents are the inputs from
        ``cotangents`` on; ``out_tpl`` is then (outputs, gradients)): ``run`` is the forward part,
        returning (outputs, saved), and ``backward(saved, cotangents)`` the rest.
        ``rewrite(ops, meta, split, keep, immutable)`` -> ``(ops, split, kernels, stored)``
        transforms the steps after constant folding (``gradarray._fusion.fuse_runs``). A program can be compiled
        again (with or without ``rewrite``): each compile starts from the recorded steps."""
        emit = _Emitter(self, modes)
        self.ops, self.split = self.recorded, split
        self.kernels, self.kernel_outputs = [], set()
        if split is not None:
            split -= self._fold(emit, modes)
        else:
            self._fold(emit, modes)
        if rewrite is not None:
            keep = _slots_in(self.out_tpl, set())
            immutable = {f"i{k}" for k in range(self.cotangents)} | self.folded | {
                f"c{k}" for k, m in enumerate(modes) if m != "rw"}
            self.ops, split, self.kernels, self.kernel_outputs = rewrite(
                self.ops, self.meta, split, keep, immutable)
        if split is None:
            outputs = _slots_in(self.out_tpl, set())
            live, needed = self._live(range(len(self.ops)), set(outputs))
            params = [f"i{k}" for k in range(self.n_inputs)]
            body = emit.lines(live, needed, outputs, emit.prologue(needed)) + [
                f"return {self._outputs(self.out_tpl, modes, emit.render)}"]
            self.source = emit.function("replay", params, body)
            self.run = emit.compile(self.source)["replay"]
            return self.run
        fwd_tpl, bwd_tpl = self.out_tpl
        cots = [f"i{k}" for k in range(self.cotangents, self.n_inputs)]
        live_b, needed_b = self._live(range(split, len(self.ops)), _slots_in(bwd_tpl, set()))
        bound = {op[1] for n, op in enumerate(self.ops) if n in live_b and op[0] != "guard"}
        reads = set()
        for n in live_b:
            op = self.ops[n]
            reads |= _slots_in(op[3], _slots_in(op[4], set())) if op[0] == "call" else {op[2]}
        carried = sorted(reads - bound - set(cots))
        outputs = _slots_in(fwd_tpl, set()) | set(carried)
        live_f, needed_f = self._live(range(split), set(outputs))
        needed = needed_f | needed_b
        saved = "(" + "".join(f"{x}, " for x in carried) + ")"
        body = emit.lines(live_f, needed, outputs, emit.prologue(needed), live_f | live_b) + [
            f"return {self._outputs(fwd_tpl, modes, emit.render)}, {saved}"]
        back = [f"{saved} = saved", "(" + "".join(f"{x}, " for x in cots) + ") = cotangents"]
        back += emit.lines(live_b, needed, _slots_in(bwd_tpl, set()), [], live_f | live_b) + [
            f"return {self._outputs(bwd_tpl, modes, emit.render)}"]
        self.source = (emit.function("forward", [f"i{k}" for k in range(self.cotangents)], body)
                       + emit.function("backward", ["saved", "cotangents"], back))
        env = emit.compile(self.source)
        self.run, self.backward = env["forward"], env["backward"]
        return self.run

    def _fold(self, emit, modes):
        """Constant folding: pure steps that read only private constants (values ``f`` made, never
        the caller's arrays) and folded values run once, here; their results become read-only
        constants of the program. Not folded: anything a writing step or an output reaches."""
        known = {f"c{k}" for k, m in enumerate(modes) if m == "ro"}
        made, producer = {}, {}
        for n, op in enumerate(self.ops):
            if op[0] == "call" and op[5] and op[1] is not None:
                reads = _slots_in(op[3], _slots_in(op[4], set()))
                if reads and reads <= known | made.keys():
                    made[op[1]], producer[op[1]] = n, reads
            elif op[0] == "item" and op[2] in made:
                made[op[1]], producer[op[1]] = n, {op[2]}
        stack = list(_slots_in(self.out_tpl, set()))
        for op in self.ops:
            if op[0] == "call" and not op[5]:
                stack.extend(_slots_in(op[3], _slots_in(op[4], set())))
        while stack:
            name = stack.pop()
            if made.pop(name, None) is not None:
                stack.extend(producer[name])
        kept = {}
        for name, n in sorted(made.items(), key=lambda item: item[1]):
            if producer[name] <= known | kept.keys():     # consumers of unfolded values stay
                kept[name] = n
        made = kept
        self.folded = set(made)
        if not made:
            return 0
        values = {f"c{k}": snap for k, (snap, m) in enumerate(zip(self.snaps, modes)) if m == "ro"}
        fill = lambda t: values[t.name] if type(t) is Slot else (      # noqa: E731
            type(t)(fill(x) for x in t) if type(t) in (tuple, list) else
            {k: fill(v) for k, v in t.items()} if type(t) is dict else t)
        for n in sorted(made.values()):
            op = self.ops[n]
            if op[0] == "item":
                value = values[op[2]][op[3]]
            else:
                value = op[2](*fill(op[3]), **fill(op[4] or {}))
                value = op[6](value) if op[6] is not None else value
            if isinstance(value, np.ndarray) and value.flags.writeable:
                value = value.view()
                value.setflags(write=False)
            values[op[1]] = emit.env[op[1]] = value
        gone = set(made.values())
        self.ops = [op for n, op in enumerate(self.ops) if n not in gone]
        return len([n for n in gone if n < (self.split if self.split is not None else n + 1)])

    def _live(self, indices, needed):
        """The steps among ``indices`` that the values in ``needed`` (updated) depend on, with
        every guard and every step that writes into memory."""
        live = set()
        for n in reversed(list(indices)):
            op = self.ops[n]
            if op[0] == "guard":
                live.add(n)
                needed.add(op[2])
            elif op[0] == "item":
                if op[1] in needed:
                    live.add(n)
                    needed.add(op[2])
            elif not op[5] or (op[1] is not None and op[1] in needed):
                live.add(n)
                _slots_in(op[3], needed)
                _slots_in(op[4], needed)
        return live, needed

    def reuse(self, live, outputs):
        """{step: value}: ufunc steps that write into a dying input buffer (``out=``) instead of
        allocating. Only buffers made by ufuncs and read only by ufuncs (and guards) qualify:
        nothing can then hold a view of them or a reference to them."""
        readers, ufunc_steps = {}, set()
        for n in sorted(live):
            op = self.ops[n]
            if op[0] == "call" and isinstance(op[2], np.ufunc) and not op[4] and op[6] is None:
                ufunc_steps.add(n)
            reads = _slots_in(op[3], _slots_in(op[4], set())) if op[0] == "call" else {op[2]}
            for name in reads:
                readers.setdefault(name, []).append(n)
        reuse = {}
        for name, meta in self.fresh.items():
            if name in self.folded or name in self.kernel_outputs:
                continue
            steps = readers.get(name)
            if not steps or name in outputs or not all(
                    n in ufunc_steps or self.ops[n][0] == "guard" for n in steps):
                continue
            last = steps[-1]
            op = self.ops[last]
            if last in ufunc_steps and last not in reuse and self.fresh.get(op[1]) == meta \
                    and any(type(a) is Slot and a.name == name for a in op[3]):
                reuse[last] = name
        return reuse

    @staticmethod
    def _guard(op, static):
        _, kind, v, expected = op
        if kind == "bool":
            return f"bool({v}) is not {expected!r}"
        if kind in ("float", "int", "complex"):
            return f"_ne({kind}({v}.item()), {static(expected)})"
        if kind == "tolist":
            return f"_ne({v}.tolist(), {static(expected)})"
        if kind == "array":
            return f"_ne_arr({v}, {static(expected)})"
        if kind == "shape":
            return f"{v}.shape != {static(expected)}"
        if kind == "len":
            return f"len({v}) != {expected!r}"
        if kind == "eq":
            return f"_ne({v}, {static(expected)})"
        return f"_ne({v}.item(*{static(tuple(kind[1:]))}), {static(expected)})"     # ("item", ...)

    def _outputs(self, tpl, modes, render):
        t = type(tpl)
        if t is Slot and tpl.name.startswith("c") and modes[int(tpl.name[1:])] == "ro":
            return f"_cp({tpl.name})"       # a fresh copy, as the eager call returns a new array
        if t is Wrap:
            return f"{'_mk' if tpl.how is _make else '_pv'}({self._outputs(tpl.slot, modes, render)})"
        if t is tuple or t is list or t is dict or (isinstance(tpl, tuple) and hasattr(tpl, "_fields")):
            items = tpl.items() if t is dict else enumerate(tpl)
            parts = [(k, self._outputs(v, modes, render)) for k, v in items]
            if t is dict:
                return "{" + ", ".join(f"{render(k)}: {p}" for k, p in parts) + "}"
            inner = "".join(p + ", " for _, p in parts)
            if t is tuple:
                return f"({inner})"
            if t is list:
                return f"[{inner}]"
            return f"{render(t)}({inner})"
        return render(tpl)
