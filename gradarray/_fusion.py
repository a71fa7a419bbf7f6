"""``ga.jit``'s fusion: runs of elementwise steps of a compiled program become one kernel.

A *run* is a stretch of consecutive steps of a program (its forward or its backward part) each of
which is elementwise over arrays of one shape: a ufunc call, or a VJP or engine step that computes
nothing but ufuncs of its array arguments. Which steps qualify is found by calling them on ``Sym``
values, which record the ufuncs they meet and refuse everything else (reductions, reshapes, value
reads such as ``bool(x)``, in-place writes, raw arrays from a closure): a step that touches any of
those is not fused. A run of two or more operations becomes one ``("call", k, kernel, inputs)``
step and one ``("item", v, k, j)`` step per value that a later step, a guard or the program's
outputs read; values used only inside the run are never stored.

Kernels (``fuser_for`` picks one per run, from the type of the run's arrays):
- CuPy, or any device namespace with ``fuse``: the run as one Python function of the namespace's
  ufuncs, compiled by ``xp.fuse`` into one GPU kernel (multiple outputs, no temporaries).
- NumPy with numba installed: the run as one compiled loop that computes every value of an
  element in registers and writes the stored ones in one pass. Under ``fuse="auto"`` only for
  arithmetic (NumPy's SIMD math functions are faster than a loop of scalar ones) on float64 and
  complex128 runs of at least ``CPU_MIN_SIZE`` elements (below that, NumPy's calls are cheap);
  ``bench/bench.py --only fusion`` measures it. numexpr was measured and rejected: on this
  project's machines one numexpr expression ran slower than NumPy's calls for it.

A later run recomputes cheap values of earlier runs from their inputs rather than reading them,
so that the forward pass need not store what the backward pass can recompute.

Fused kernels round differently from NumPy's kernels (last bits), so ``gradarray.jit`` replays a
fused program against the eager result, within ``close_outputs``' tolerance, before it uses it, and
keeps the unfused program otherwise.
Must not know about: the jit's cache or tracing (``gradarray.jit``, ``_tracer``).
"""
from __future__ import annotations

import importlib
import importlib.util
import itertools
import math

import numpy as np

from ._backend import backend_of_type
from ._trace_program import Slot, _slots_in

_numba = []             # the numba module once imported (or None): importing it takes ~0.3 s,
                        # so it happens when a program first has a NumPy run to fuse

__all__ = ["NotFusible", "Sym", "fuse_runs", "fuser_for", "might_fuse", "CPU_MIN_SIZE"]

CPU_MIN_SIZE = 1 << 16
_SCALARS = (bool, int, float, complex)
_kernel_ids = itertools.count()


class NotFusible(Exception):
    """A step (or a run) cannot be part of a fused kernel."""


# ------------------------------------------------------------------------------ symbolic values
def _refuse(*_args, **_kwargs):
    raise NotFusible("not elementwise")


class Sym:
    """A symbolic elementwise value: ``op`` is ``"in"`` (input ``args[0]`` of the run), a ufunc or
    ``"where"``; ``args`` are Syms and scalar constants. NumPy calls on a Sym record the ufunc;
    anything that is not an elementwise ufunc of Syms and scalars raises ``NotFusible``."""

    __slots__ = ("op", "args", "shape", "dtype")

    def __init__(self, op, args, shape, dtype):
        self.op, self.args, self.shape, self.dtype = op, args, shape, dtype

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return math.prod(self.shape)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs or ufunc.nout != 1:
            raise NotFusible(f"{ufunc.__name__}.{method} with {sorted(kwargs)}")
        return _apply(ufunc, inputs)

    def __array_function__(self, func, types, args, kwargs):
        if func is np.where and len(args) == 3 and not kwargs:
            return _apply("where", args)
        raise NotFusible(getattr(func, "__name__", repr(func)))

    def copy(self):          # every value a kernel returns is a new array
        return self

    def conjugate(self):
        return np.conjugate(self)

    conj = conjugate
    __add__ = lambda a, b: np.add(a, b)                 # noqa: E731
    __radd__ = lambda a, b: np.add(b, a)                # noqa: E731
    __sub__ = lambda a, b: np.subtract(a, b)            # noqa: E731
    __rsub__ = lambda a, b: np.subtract(b, a)           # noqa: E731
    __mul__ = lambda a, b: np.multiply(a, b)            # noqa: E731
    __rmul__ = lambda a, b: np.multiply(b, a)           # noqa: E731
    __truediv__ = lambda a, b: np.divide(a, b)          # noqa: E731
    __rtruediv__ = lambda a, b: np.divide(b, a)         # noqa: E731
    __pow__ = lambda a, b: np.power(a, b)               # noqa: E731
    __rpow__ = lambda a, b: np.power(b, a)              # noqa: E731
    __neg__ = lambda a: np.negative(a)                  # noqa: E731
    __pos__ = lambda a: np.positive(a)                  # noqa: E731
    __abs__ = lambda a: np.absolute(a)                  # noqa: E731
    __lt__ = lambda a, b: np.less(a, b)                 # noqa: E731
    __le__ = lambda a, b: np.less_equal(a, b)           # noqa: E731
    __gt__ = lambda a, b: np.greater(a, b)              # noqa: E731
    __ge__ = lambda a, b: np.greater_equal(a, b)        # noqa: E731
    __eq__ = lambda a, b: np.equal(a, b)                # noqa: E731
    __ne__ = lambda a, b: np.not_equal(a, b)            # noqa: E731
    __and__ = lambda a, b: np.logical_and(a, b) if a.dtype == bool else _refuse()   # noqa: E731
    __or__ = lambda a, b: np.logical_or(a, b) if a.dtype == bool else _refuse()     # noqa: E731
    __invert__ = lambda a: np.logical_not(a) if a.dtype == bool else _refuse()      # noqa: E731
    __hash__ = object.__hash__
    # a value read, a write, an index or a conversion is not elementwise
    __bool__ = __float__ = __int__ = __index__ = __complex__ = __len__ = __iter__ = _refuse
    __getitem__ = __setitem__ = __array__ = _refuse
    __iadd__ = __isub__ = __imul__ = __itruediv__ = __ipow__ = _refuse


def _is_constant(x):
    return type(x) in _SCALARS or (isinstance(x, np.generic) and x.dtype.kind in "biufc")


def _apply(op, inputs):
    shapes, samples = [], []
    for x in inputs:
        if type(x) is Sym:
            shapes.append(x.shape)
            samples.append(np.ones(1, x.dtype))
        elif _is_constant(x):
            samples.append(x)
        else:
            raise NotFusible(f"an operand of type {type(x).__name__}")
    if not shapes:
        raise NotFusible("no array operand")
    try:
        with np.errstate(all="ignore"):
            dtype = (np.where(*samples) if op == "where" else op(*samples)).dtype
        shape = np.broadcast_shapes(*shapes)
    except (TypeError, ValueError) as exc:
        raise NotFusible(str(exc)) from None
    return Sym(op, tuple(inputs), shape, dtype)


def _graph(outputs, stop=None):
    """The operation nodes the outputs depend on, inputs first, and how often each is used
    (not looking past the values in ``stop``, a dict name -> Sym)."""
    order, uses, seen = [], {}, set() if stop is None else {id(s) for s in stop.values()}
    stack = [(s, False) for s in reversed(outputs)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for a in node.args:
            if type(a) is Sym and a.op != "in":
                uses[id(a)] = uses.get(id(a), 0) + 1
                stack.append((a, False))
    return [n for n in order if n.op != "in"], uses


# ------------------------------------------------------------------------------ kernels
class CupyFuser:
    """One ``xp.fuse`` kernel per run (CuPy: a single GPU kernel with several outputs)."""

    min_size = 0

    def __init__(self, xp):
        self.xp = xp

    def accepts(self, dtype):
        return dtype.kind in "biufc"

    def takes(self, op):
        return True

    def recompute(self, order):
        """Recompute rather than store and reload (the GPU is bound by memory, not arithmetic)."""
        return len(order) <= 32

    def build(self, inputs, outputs):
        """A kernel of the run's inputs (their ``Sym("in")`` leaves) returning the outputs."""
        env, names, lines = {"xp": self.xp}, {}, []

        def ref(x):
            if type(x) is Sym:
                return f"a{x.args[0]}" if x.op == "in" else names[id(x)]
            return _literal(x, env)

        order, _ = _graph(outputs)
        for s in order:
            fname = "where" if s.op == "where" else s.op.__name__
            if not hasattr(self.xp, fname):
                raise NotFusible(f"{fname} is not in {getattr(self.xp, '__name__', 'the namespace')}")
            names[id(s)] = f"t{len(lines)}"
            lines.append(f"    t{len(lines)} = xp.{fname}({', '.join(ref(a) for a in s.args)})")
        result = ", ".join(ref(s) for s in outputs)
        source = (f"def fused({', '.join(f'a{k}' for k in range(len(inputs)))}):\n" + "\n".join(lines)
                  + f"\n    return {result}\n")
        exec(compile(source, "<ga.jit fused kernel>", "exec"), env)      # noqa: S102
        fused = self.xp.fuse(env["fused"])
        if len(outputs) == 1:
            return _Kernel(lambda *a: (fused(*a),), source)
        return _Kernel(lambda *a: tuple(fused(*a)), source)


# numba scalar code for each operation (arguments are temporaries' names, never expressions)
_ARITHMETIC_FORMS = {
    np.add: "{} + {}", np.subtract: "{} - {}", np.multiply: "{} * {}", np.divide: "{} / {}",
    np.power: "{} ** {}", np.negative: "-{}", np.positive: "+{}", np.square: "{0} * {0}",
    np.reciprocal: "1.0 / {}", np.less: "{} < {}", np.less_equal: "{} <= {}",
    np.greater: "{} > {}", np.greater_equal: "{} >= {}", np.equal: "{} == {}",
    np.not_equal: "{} != {}", np.logical_and: "{} and {}", np.logical_or: "{} or {}",
    np.logical_not: "not {}", "where": "{1} if {0} else {2}", np.absolute: "abs({})",
    np.conjugate: "{}.conjugate()",
}
_MATH_FORMS = {getattr(np, name): f"np.{name}({{}})" for name in (
    "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh",
    "arccosh", "arctanh", "exp", "expm1", "log", "log1p", "log10", "sqrt")}
_MATH_FORMS[np.arctan2] = "np.arctan2({}, {})"


class NumbaFuser:
    """NumPy runs: one numba-compiled loop per run, every stored value written in the same pass.
    Under "auto" arithmetic only (NumPy's SIMD math functions beat a loop of scalar ones: bench)
    on float64/complex128 runs of at least ``CPU_MIN_SIZE`` elements; compiling costs ~0.2 s per
    kernel, once per program."""

    min_size = CPU_MIN_SIZE
    arithmetic_only = True

    def __init__(self, numba):
        self.numba = numba

    def accepts(self, dtype):
        return dtype in (np.float64, np.complex128, np.bool_)

    def takes(self, op):
        return op in _ARITHMETIC_FORMS or (op in _MATH_FORMS and not self.arithmetic_only)

    def recompute(self, order):
        """Recompute a few arithmetic operations rather than store and reload (a store and a load
        of a large array cost more than them); math functions are stored."""
        return len(order) <= 16 and all(s.op in _ARITHMETIC_FORMS for s in order)

    def build(self, inputs, outputs):
        """A kernel of the run's inputs (their ``Sym("in")`` leaves) returning the outputs; the
        loop is compiled here, for the inputs' types (a run numba cannot type is not fused)."""
        order, _ = _graph(outputs)
        env, names, body = {"np": np}, {}, []
        scalars, shape = {}, outputs[0].shape

        def ref(x):
            if type(x) is Sym:
                if x.op == "in":
                    k = x.args[0]
                    if x.shape != shape:
                        scalars[k] = x.dtype
                    return f"a{k}" if x.shape != shape else f"a{k}[i]"
                return names[id(x)]
            return _literal(x, env)

        for s in order:
            form = _ARITHMETIC_FORMS.get(s.op) or _MATH_FORMS.get(s.op)
            if form is None:
                raise NotFusible(f"no scalar form for {getattr(s.op, '__name__', s.op)}")
            if s.op is np.conjugate and s.dtype.kind != "c":
                form = "{}"
            names[id(s)] = f"t{len(body)}"
            body.append(f"t{len(body)} = {form.format(*(ref(a) for a in s.args))}")
        body += [f"o{m}[i] = {ref(s)}" for m, s in enumerate(outputs)]
        params = [f"a{k}" for k in range(len(inputs))] + [f"o{m}" for m in range(len(outputs))]
        source = (f"def fused(n, {', '.join(params)}):\n    for i in range(n):\n"
                  + "".join(f"        {line}\n" for line in body))
        exec(compile(source, "<ga.jit fused kernel>", "exec"), env)      # noqa: S102
        loop = self.numba.njit(error_model="numpy", cache=False)(env["fused"])
        dtypes, size = [s.dtype for s in outputs], math.prod(shape)
        try:                        # compile now, for these types (empty arrays: no work)
            loop(0, *[x.dtype.type(1) if x.shape != shape else np.empty(0, x.dtype)
                      for x in inputs], *[np.empty(0, d) for d in dtypes])
        except Exception as exc:    # noqa: BLE001  (numba cannot type an operation)
            raise NotFusible(f"numba: {type(exc).__name__}") from None

        def kernel(*inputs):
            flat = [x.dtype.type(x) if k in scalars else np.ascontiguousarray(x).reshape(-1)
                    for k, x in enumerate(inputs)]
            outs = [np.empty(shape, d) for d in dtypes]
            loop(size, *flat, *[o.reshape(-1) for o in outs])
            return tuple(outs)

        return _Kernel(kernel, source)


def _literal(x, env):
    """A constant in generated code: its literal, or a name bound in ``env``."""
    if isinstance(x, np.generic):
        if x.dtype not in (np.float64, np.complex128, np.int64, np.bool_):
            raise NotFusible(f"a {x.dtype} constant")
        x = x.item()
    if type(x) in _SCALARS and (type(x) is not float or math.isfinite(x)):
        return repr(x)
    name = f"k{len(env)}"
    env[name] = x
    return name


class _Kernel:
    """A fused kernel: ``kernel(*inputs)`` returns the tuple of stored values; ``source`` shows what
    it computes."""

    __slots__ = ("run", "source", "key")

    def __init__(self, run, source):
        self.run, self.source = run, source
        self.key = ("fused kernel", source)

    def __call__(self, *inputs):
        return self.run(*inputs)

    def __repr__(self):
        return f"<fused kernel:\n{self.source}>"


def fuser_for(array_type, force=False):
    """The fuser for runs over arrays of ``array_type`` (None: no fusion there). ``force``: no
    minimum size (for tests, and for users who measured that it pays on their arrays)."""
    if array_type is np.ndarray:
        if not _numba:
            _numba.append(importlib.import_module("numba") if importlib.util.find_spec("numba")
                          else None)
        if _numba[0] is None:
            return None
        fuser = NumbaFuser(_numba[0])
    else:
        backend = backend_of_type(array_type)
        xp = backend.xp() if backend is not None else None
        if xp is None or not callable(getattr(xp, "fuse", None)):
            return None
        fuser = CupyFuser(xp)
    if force:
        fuser.min_size, fuser.arithmetic_only = 0, False
    return fuser


# ------------------------------------------------------------------------------ runs
def _reads(op):
    if op[0] == "call":
        return _slots_in(op[3], _slots_in(op[4], set()))
    return {op[2]}


def _own(fn):
    """Steps that may be called on Syms: ufuncs and gradarray's own VJPs and engine steps (a VJP
    a user registered might keep what it is given)."""
    return isinstance(fn, np.ufunc) or (getattr(fn, "__module__", None) or "").startswith("gradarray")


def _alias(value):
    return value        # compiled as ``name = value`` (``_trace_program._returns_first``)


class _Plan:
    """What the runs of one program share: the expressions of the values earlier runs computed
    (a later run may recompute a cheap one instead of reading it), and the count of writing steps
    seen (an expression over arrays that a step may have written since cannot be recomputed)."""

    def __init__(self, meta, force, immutable):
        self.meta, self.force, self.immutable = meta, force, immutable
        self.exprs = {}             # name -> (Sym, the run that computed it)
        self.writes = 0


class _Run:
    """Consecutive elementwise steps over arrays of one shape and type, as Syms over the run's
    inputs (``inputs[k]`` names the value of ``Sym("in", (k,))``)."""

    def __init__(self, plan):
        self.plan = plan
        self.ops, self.produced, self.env, self.inputs, self.added = [], [], {}, [], []
        self.leaf_reads = []        # values of earlier runs read as inputs (they must be stored)
        self.shape = self.type = self.fuser = None
        self.writes_at_end = None

    def add(self, op):
        """Take ``op`` into the run if it is elementwise over the run's arrays (else False)."""
        if op[0] != "call" or op[1] is None or not op[5] or op[4] or op[6] is not None or \
                not _own(op[2]):
            return False
        meta = self.plan.meta.get(op[1])
        if meta is None:
            return False
        shape, dtype, atype = meta
        if self.fuser is None:
            fuser = fuser_for(atype, self.plan.force)
            if fuser is None or math.prod(shape) < fuser.min_size:
                return False
            self.shape, self.type, self.fuser = shape, atype, fuser
        elif shape != self.shape or atype is not self.type:
            return False
        marks = len(self.inputs), len(self.added), len(self.leaf_reads)
        try:
            result = op[2](*self._fill(op[3]))
        except Exception:       # noqa: BLE001  (NotFusible, or the step needs real values)
            result = None
        if type(result) is not Sym or result.shape != shape or result.dtype != dtype or \
                not all(self.fuser.takes(s.op) for s in _graph([result], stop=self.env)[0]):
            for name in self.added[marks[1]:]:
                del self.env[name]
            del self.inputs[marks[0]:], self.added[marks[1]:], self.leaf_reads[marks[2]:]
            if not self.ops:
                self.fuser = None
            return False
        self.env[op[1]] = result
        self.ops.append(op)
        self.produced.append(op[1])
        return True

    def _fill(self, tpl):
        t = type(tpl)
        if t is Slot:
            return self._value(tpl.name)
        if t is tuple or t is list:
            return t(self._fill(x) for x in tpl)
        return tpl

    def _value(self, name):
        sym = self.env.get(name)
        if sym is not None:
            return sym
        found = self.plan.exprs.get(name)
        if found is not None:
            if self._can_recompute(*found):
                sym = self.env[name] = self._copy(found[0], found[1], {})
                self.added.append(name)
                return sym
            self.leaf_reads.append(name)
        meta = self.plan.meta.get(name)
        if meta is None or meta[0] not in (self.shape, ()) or not self.fuser.accepts(meta[1]) or \
                (meta[2] is not self.type and not (meta[0] == () and issubclass(meta[2], np.generic))):
            raise NotFusible(f"operand {name}")
        sym = self.env[name] = Sym("in", (len(self.inputs),), meta[0], meta[1])
        self.inputs.append(name)
        self.added.append(name)
        return sym

    def _can_recompute(self, sym, run):
        """A value an earlier run computed, recomputed here from that run's inputs: if it is cheap
        (``fuser.recompute``), of this run's shape and type, and no step wrote since into an
        input it depends on (inputs of the program and read-only constants are never written)."""
        if sym.op == "in" or sym.shape != self.shape or run.type is not self.type:
            return False
        order, _ = _graph([sym])
        if not self.fuser.recompute(order):
            return False
        if self.plan.writes == run.writes_at_end:
            return True
        leaves = {run.inputs[a.args[0]] for s in order for a in s.args
                  if type(a) is Sym and a.op == "in"}
        return leaves <= self.plan.immutable

    def _copy(self, sym, run, memo):
        if id(sym) not in memo:
            if sym.op == "in":
                memo[id(sym)] = self._value(run.inputs[sym.args[0]])
            else:
                args = tuple(self._copy(a, run, memo) if type(a) is Sym else a for a in sym.args)
                memo[id(sym)] = Sym(sym.op, args, sym.shape, sym.dtype)
        return memo[id(sym)]

    def finish(self):
        """The run is complete: later runs may recompute its values."""
        self.writes_at_end = self.plan.writes
        for name in self.produced:
            self.plan.exprs[name] = (self.env[name], self)

    def fused(self, stored, kernels):
        """The run as one kernel step and its ``item`` steps (``stored``: the values to return),
        or None if the fuser cannot build it."""
        # a stored value that is one of the run's inputs (``lambda g, ...: g``) stays an alias
        aliases = [("call", x, _alias, (Slot(self.inputs[self.env[x].args[0]]),), None, True, None)
                   for x in stored if self.env[x].op == "in"]
        stored = [x for x in stored if self.env[x].op != "in"]
        outputs = [self.env[name] for name in stored]
        order, _ = _graph(outputs)
        if len(order) < 2 or any(not self.fuser.accepts(s.dtype) for s in order):
            return None
        try:
            kernel = self.fuser.build([self.env[x] for x in self.inputs], outputs)
        except NotFusible:
            return None
        kernels.append(kernel)
        name = f"f{next(_kernel_ids)}"
        return [("call", name, kernel, tuple(Slot(x) for x in self.inputs), None, True, None)] + [
            ("item", x, name, j) for j, x in enumerate(stored)] + aliases


def fuse_runs(ops, meta, split, keep, immutable=frozenset(), force=False):
    """``(ops, split, kernels, stored)``: the steps with each run of two or more elementwise
    operations replaced by a fused kernel step, within the forward part ``[0, split)`` and the
    backward part (``split``: None for a program without one). A run recomputes cheap values of
    earlier runs instead of reading them, so that they need not be stored. ``keep``: the names
    the program returns; ``immutable``: names of arrays no step writes (inputs, read-only
    constants); ``stored``: the names the kernels return."""
    plan = _Plan(meta, force, immutable)
    parts = [(0, len(ops))] if split is None else [(0, split), (split, len(ops))]
    items = []                      # ("op", op) and ("run", run), in program order
    for lo, hi in parts:
        if lo == split:
            items.append(("split", None))
        run = _Run(plan)
        for n in range(lo, hi):
            if run.add(ops[n]):
                continue
            if run.ops:
                run.finish()
                items.append(("run", run))
                run = _Run(plan)
            if not run.add(ops[n]):
                items.append(("op", ops[n]))
                if ops[n][0] == "call" and not ops[n][5]:
                    plan.writes += 1
        if run.ops:
            run.finish()
            items.append(("run", run))
    unfused = set()
    while True:                     # a run that cannot be built runs its steps as they were
        out, kernels, stored_all, failed = _emit(items, keep, unfused)
        if not failed:
            break
        unfused |= failed
    new_split = next((k for k, op in enumerate(out) if op is None), None)
    return [op for op in out if op is not None], new_split, kernels, stored_all


def _emit(items, keep, unfused):
    """The steps with the runs not in ``unfused`` fused, and the runs that could not be."""
    needed = set(keep)              # values of runs that something reads as they are
    for kind, x in items:
        if kind == "op":
            needed |= _reads(x)
        elif kind == "run":
            needed |= set(x.leaf_reads) if id(x) not in unfused else _reads_of(x.ops)
    out, kernels, stored_all, failed = [], [], set(), set()
    for kind, x in items:
        if kind == "split":
            out.append(None)
        elif kind == "op":
            out.append(x)
        elif id(x) in unfused:
            out.extend(x.ops)
        else:
            stored = [name for name in x.produced if name in needed]
            steps = x.fused(stored, kernels)
            if steps is None:
                failed.add(id(x))
                continue
            stored_all.update(stored)
            out.extend(steps)
    return out, kernels, stored_all, failed


def _reads_of(ops):
    names = set()
    for op in ops:
        names |= _reads(op)
    return names

def might_fuse(meta, force=False):
    """Whether any array of a program (``meta``: name -> (shape, dtype, type)) is large enough for
    its backend's fuser: the jit compiles a fused variant only then."""
    sizes = {}
    for shape, _, atype in meta.values():
        sizes[atype] = max(sizes.get(atype, 0), math.prod(shape))
    for atype, size in sizes.items():
        if issubclass(atype, np.generic) or (atype is np.ndarray and not force and
                                             size < CPU_MIN_SIZE):     # (numba not imported)
            continue
        fuser = fuser_for(atype, force)
        if fuser is not None and size >= fuser.min_size:
            return True
    return False
