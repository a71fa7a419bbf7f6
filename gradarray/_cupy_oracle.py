"""What CuPy runs for a NumPy call, read from the installed ``cupy``/``cupyx`` modules: the oracle.

Importing CuPy needs no GPU (only creating device arrays does), so everything here works on a CPU-only
machine. It answers the questions NumPy's dispatch asks CuPy 14 (``cupy/_core/core.pyx``):

- ``ndarray.__array_function__`` looks a NumPy function up by ``__module__`` and ``__name__``
  (``numpy.linalg.norm`` -> ``cupy.linalg.norm``); a miss, or CuPy re-exporting NumPy's own object,
  returns NotImplemented (NumPy raises TypeError). Otherwise it calls the CuPy function with the
  caller's arguments exactly as written, so a keyword CuPy's signature lacks is a TypeError.
  :meth:`CupyOracle.function` gives the CuPy function and its parameters (``inspect.signature``).
- ``ndarray.__array_ufunc__`` looks a ufunc up by ``__name__`` in ``cupy``, then in
  ``cupyx.scipy.special``; for ``reduce``/``accumulate``/``reduceat``/``at``/``outer`` it takes that
  method of the CuPy ufunc. :meth:`CupyOracle.ufunc` gives the CuPy object, its keywords, ``nin``,
  ``nout``, ``types`` (the loops: which input dtypes it takes) and the methods it implements.

Derived, not written down: which names exist, every Python-level signature, the keywords of
``cupy.ufunc.__call__`` (parsed from the docstrings CuPy generates for its ufuncs, which all share
one ``__call__``), ufunc loops, the ufuncs with ``at`` (``ufunc._scatter_op``) and with
``reduce``/``accumulate``/``reduceat`` (each is called on a probe object: CuPy raises
NotImplementedError by name before touching its argument, else calls the probe's ``sum``/``cumsum``/...).
Not introspectable, so taken from CuPy 14.2's sources (``_kernel.pyx``): the parameters of the ufunc
methods, which Cython compiles without a signature (:data:`UFUNC_METHOD_PARAMS`).

:meth:`CupyOracle.live` reads the installed CuPy; :meth:`CupyOracle.from_snapshot` reads a JSON
snapshot written by :meth:`CupyOracle.write_snapshot` (the test suite keeps one for machines without
CuPy, and checks it against the live oracle when CuPy is installed).
"""
from __future__ import annotations

import functools
import inspect
import json
import re

import numpy as np

__all__ = ["CupyOracle", "Entry", "UFUNC_METHOD_PARAMS", "UFUNC_METHODS", "cupy_oracle",
           "numpy_callables", "ufunc_names"]

UFUNC_METHODS = ("reduce", "accumulate", "reduceat", "outer", "at")

# cupy.ufunc's methods are Cython ``def`` methods without a signature; CuPy 14.2's _kernel.pyx:
# reduce(array, axis=0, dtype=None, out=None, keepdims=False), accumulate(array, axis=0,
# dtype=None, out=None), reduceat(array, indices, axis=0, dtype=None, out=None), at(a, indices,
# b=None); outer(A, B, **kwargs) passes the keywords on to __call__.
UFUNC_METHOD_PARAMS = {
    "reduce": ("array", "axis", "dtype", "out", "keepdims"),
    "accumulate": ("array", "axis", "dtype", "out"),
    "reduceat": ("array", "indices", "axis", "dtype", "out"),
    "at": ("a", "indices", "b"),
}

_KINDS = {inspect.Parameter.POSITIONAL_ONLY: 0, inspect.Parameter.POSITIONAL_OR_KEYWORD: 1,
          inspect.Parameter.VAR_POSITIONAL: 2, inspect.Parameter.KEYWORD_ONLY: 3,
          inspect.Parameter.VAR_KEYWORD: 4}
_KIND_OF = {v: k for k, v in _KINDS.items()}


class _Default:
    def __repr__(self):
        return "..."


_DEFAULT = _Default()          # a placeholder default value in signatures rebuilt from a snapshot


class Entry:
    """What CuPy runs for one NumPy callable.

    ``kind``: "function", "ufunc" (``cupy.ufunc``), "gufunc" (``cupy.matmul``) or "opaque" (a
    builtin without a signature). ``params``: ``((name, kind, has_default), ...)``, None when not
    introspectable. For ufuncs also ``nin``, ``nout``, ``types`` and ``methods`` (those CuPy
    implements)."""

    __slots__ = ("kind", "params", "nin", "nout", "types", "methods", "_signature")

    def __init__(self, kind, params=None, nin=None, nout=None, types=None, methods=()):
        self.kind, self.params, self.nin, self.nout = kind, params, nin, nout
        self.types = tuple(types) if types is not None else None
        self.methods = frozenset(methods)
        self._signature = None

    def signature(self):
        """An ``inspect.Signature`` with these parameters (defaults are placeholders), or None."""
        if self.params is None:
            return None
        if self._signature is None:
            self._signature = inspect.Signature([
                inspect.Parameter(n, _KIND_OF[k], default=_DEFAULT if d else inspect.Parameter.empty)
                for n, k, d in self.params])
        return self._signature

    def keywords(self):
        """Names that may be passed by keyword (None: any, or not known)."""
        if self.params is None or any(k == 4 for _, k, _ in self.params):
            return None
        return frozenset(n for n, k, _ in self.params if k in (1, 3))

    def to_json(self):
        return {s: (sorted(getattr(self, s)) if s == "methods" else getattr(self, s))
                for s in self.__slots__[:-1]}

    @classmethod
    def from_json(cls, d):
        params = None if d["params"] is None else tuple(tuple(p) for p in d["params"])
        return cls(d["kind"], params, d["nin"], d["nout"], d["types"], d["methods"])


def _params_of(obj):
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    params = tuple((p.name, _KINDS[p.kind], p.default is not p.empty)
                   for p in sig.parameters.values())
    if params and params[-1][1] == 4:
        popped = _popped_keywords(obj, params[-1][0])
        if popped is not None:
            params = params[:-1] + tuple((n, 3, True) for n in popped)
    return params


def _popped_keywords(func, name):
    """For ``def f(..., **kwargs)`` that reads ``kwargs.pop('x')``/``kwargs.get('x')`` and raises
    TypeError on any other keyword (``cupy.einsum``), the names it takes; else None."""
    try:
        source = re.sub(r"#.*", "", inspect.getsource(func))        # comments out
    except (OSError, TypeError):
        return None
    if not re.search(rf"if {name}:\s*\n\s*raise TypeError", source):
        return None
    return tuple(sorted(set(re.findall(rf"{name}\.(?:pop|get)\(\s*['\"](\w+)['\"]", source))))


class _Probe:
    """Stands in for the array of a ufunc method: CuPy's reduce/accumulate/reduceat call its
    ``sum``/``prod``/``cumsum``/``cumprod``/``_add_reduceat`` where they are implemented."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _ufunc_methods(u):
    if getattr(u, "_scatter_op", None) is None and not hasattr(u, "reduce"):     # a gufunc
        return ()
    methods = {"outer"}
    if getattr(u, "_scatter_op", None) is not None:
        methods.add("at")
    for method in ("reduce", "accumulate", "reduceat"):
        try:
            getattr(u, method)(*((_Probe(), [0]) if method == "reduceat" else (_Probe(),)))
        except NotImplementedError:
            continue
        methods.add(method)
    return methods


def _ufunc_call_params(cupy):
    """The keywords of ``cupy.ufunc.__call__``, parsed from the docstring CuPy writes for each of
    its ufuncs, e.g. ``add(x1, x2, /, out=None, \\*, casting='same_kind', dtype=None)``."""
    found = set()
    for name in dir(cupy):
        u = getattr(cupy, name)
        if isinstance(u, cupy.ufunc) and u.__doc__:
            head = u.__doc__.splitlines()[0]
            found.add(tuple(sorted(set(re.findall(r"(\w+)=", head.split("/", 1)[-1])))))
    if len(found) != 1:
        raise RuntimeError(f"CuPy's ufunc docstrings disagree on the keywords of __call__: {found}")
    return (("in", 2, False),) + tuple((n, 3, True) for n in found.pop())


class CupyOracle:
    """The oracle: :meth:`function` and :meth:`ufunc` answer as CuPy's dispatch does."""

    def __init__(self, version, functions=None, ufuncs=None, cupy=None, special=None,
                 ndarray_methods=None, special_names=None):
        self.version = version
        self._functions = dict(functions or {})     # (module, name) -> Entry or None
        self._ufuncs = dict(ufuncs or {})           # ufunc name -> Entry or None
        self._cupy, self._special = cupy, special   # live: the modules (else a snapshot)
        self._ufunc_call = None
        if ndarray_methods is None and cupy is not None:
            ndarray_methods = [n for n in dir(cupy.ndarray)
                               if not n.startswith("_") and callable(getattr(cupy.ndarray, n))]
        self.ndarray_methods = frozenset(ndarray_methods or ())   # cupy.ndarray's public methods
        if special_names is None and special is not None:
            special_names = [n for n in dir(special)
                             if not n.startswith("_") and callable(getattr(special, n))]
        self.special_names = frozenset(special_names or ())       # cupyx.scipy.special's functions

    # ------------------------------------------------------------------ construction
    @classmethod
    def live(cls):
        """The oracle of the installed CuPy, or None when CuPy cannot be imported."""
        try:
            import cupy
            import cupyx.scipy.special as special
        except Exception:      # not installed, or a broken install: no oracle   # noqa: BLE001
            return None
        return cls(cupy.__version__, cupy=cupy, special=special)

    @classmethod
    def from_snapshot(cls, path):
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        return cls(data["cupy"],
                   {tuple(k.rsplit(":", 1)): None if e is None else Entry.from_json(e)
                    for k, e in data["functions"].items()},
                   {k: None if e is None else Entry.from_json(e) for k, e in data["ufuncs"].items()},
                   ndarray_methods=data["ndarray_methods"], special_names=data["special_names"])

    def snapshot(self):
        """The JSON-able snapshot of every NumPy callable of :func:`numpy_callables` and ufunc of
        :func:`ufunc_names`."""
        funcs = {}
        for f in numpy_callables():
            key = (f.__module__, f.__name__)
            e = self.function(f)
            funcs[f"{key[0]}:{key[1]}"] = None if e is None else e.to_json()
        ufuncs = {n: (None if self.ufunc(n) is None else self.ufunc(n).to_json())
                  for n in ufunc_names()}
        return {"cupy": self.version, "numpy": np.__version__, "functions": dict(sorted(funcs.items())),
                "ufuncs": dict(sorted(ufuncs.items())), "ndarray_methods": sorted(self.ndarray_methods),
                "special_names": sorted(self.special_names)}

    def write_snapshot(self, path):
        """Write :meth:`snapshot` as JSON, one function or ufunc a line."""
        parts = []
        for key, value in self.snapshot().items():
            if isinstance(value, dict):
                body = ",\n".join(f"{json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}"
                                  for k, v in value.items())
                parts.append(f"{json.dumps(key)}: {{\n{body}\n}}")
            else:
                parts.append(f"{json.dumps(key)}: {json.dumps(value)}")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("{\n" + ",\n".join(parts) + "\n}\n")

    @property
    def is_live(self):
        return self._cupy is not None

    # ------------------------------------------------------------------ questions
    def function(self, func):
        """The Entry of CuPy's namesake of the NumPy function ``func`` as ``__array_function__``
        finds it, or None (CuPy lacks it: NotImplemented, so NumPy raises TypeError)."""
        key = (getattr(func, "__module__", None) or "", getattr(func, "__name__", ""))
        if key in self._functions:
            return self._functions[key]
        if self._cupy is None:          # a snapshot that does not know it: assume it exists
            return Entry("opaque")
        entry = None
        try:
            module = functools.reduce(getattr, key[0].split(".")[1:], self._cupy)
            target = getattr(module, key[1])
        except AttributeError:
            target = None
        if callable(target) and target is not func:
            entry = self._entry(target)
        self._functions[key] = entry
        return entry

    def ufunc(self, name):
        """The Entry of what ``__array_ufunc__`` finds for a ufunc named ``name``, or None."""
        if name in self._ufuncs:
            return self._ufuncs[name]
        if self._cupy is None:          # a snapshot knows NumPy's and SciPy's ufunc names
            return None
        target = getattr(self._cupy, name, None) or getattr(self._special, name, None)
        # a submodule of that name (cupyx.scipy.special._zeta) is found, then not callable
        entry = self._entry(target) if callable(target) else None
        self._ufuncs[name] = entry
        return entry

    def _entry(self, target):
        cupy = self._cupy
        if isinstance(target, cupy.ufunc):
            if self._ufunc_call is None:
                self._ufunc_call = _ufunc_call_params(cupy)
            return Entry("ufunc", self._ufunc_call, target.nin, target.nout,
                         [t for t in target.types if _numpy_types(t)], _ufunc_methods(target))
        if type(target).__name__ == "_GUFunc":
            return Entry("gufunc", _params_of(target), target._nin, target._nout, None, ())
        params = _params_of(target)
        return Entry("function" if params is not None else "opaque", params)

    # ------------------------------------------------------------------ checks, as CuPy raises
    def check_function_call(self, func, args, kwargs):
        """None if CuPy's namesake of ``func`` takes these arguments, else the TypeError CuPy's
        call would raise (NotImplemented when CuPy lacks the function)."""
        entry = self.function(func)
        if entry is None:
            return NotImplemented
        if entry.kind == "ufunc":           # np.sinc, np.i0, np.fix are ufuncs in CuPy
            unknown = sorted(set(kwargs) - set(entry.keywords() or ()))
            return TypeError(f"Wrong arguments {({k: kwargs[k] for k in unknown})}") if unknown else None
        return _bind_error(func, entry, args, kwargs)

    def check_ufunc_call(self, ufunc, method, args, kwargs):
        """As :meth:`check_function_call`, for ``ufunc.<method>(*args, **kwargs)``; ``args`` are the
        inputs (their ``dtype`` is read, when they have one, to find a loop)."""
        entry = self.ufunc(ufunc.__name__)
        if entry is None:
            return NotImplemented
        if entry.kind == "opaque":
            return None
        if method != "__call__":
            if method not in entry.methods:
                if entry.kind != "ufunc":          # getattr(cupy.matmul, method): AttributeError
                    return NotImplemented
                return NotImplementedError(f"`cupy_{ufunc.__name__}.{method}` is not supported yet")
            if method in UFUNC_METHOD_PARAMS:
                return _bind_error(ufunc, Entry("function", tuple(
                    (n, 1, i > 0) for i, n in enumerate(UFUNC_METHOD_PARAMS[method]))), args, kwargs,
                    compare=False)
        if entry.kind != "ufunc":               # cupy.matmul, or a cupyx function
            return _bind_error(ufunc, entry, args, kwargs, compare=False)
        unknown = sorted(set(kwargs) - set(entry.keywords() or ()))
        if unknown:
            return TypeError(f"Wrong arguments {({k: kwargs[k] for k in unknown})}")
        if "dtype" not in kwargs and not _has_loop(entry, args[:entry.nin]):
            return TypeError(f"Wrong type ({[getattr(a, 'dtype', a) for a in args]}) of "
                             f"arguments for cupy_{ufunc.__name__}")
        return None

    def missing_keywords(self, func, renamed=True):
        """NumPy's keywords of ``func`` that CuPy's namesake does not take (empty when unknown).
        ``renamed=False`` leaves out the parameters CuPy has at the same position under another
        name (``np.concatenate(arrays=...)`` is ``tup`` in CuPy): they work when passed by position."""
        entry = self.function(func)
        numpy_params = _params_of(func)
        if entry is None or numpy_params is None or entry.keywords() is None:
            return frozenset()
        lacks = frozenset(n for n, k, _ in numpy_params if k in (1, 3)) - entry.keywords()
        if not renamed:
            theirs = [n for n, k, _ in entry.params if k in (0, 1)]
            mine = [n for n, k, _ in numpy_params if k in (0, 1)]
            lacks -= {n for i, n in enumerate(mine[:len(theirs)]) if theirs[i] not in mine}
        return lacks


def _bind_error(func, entry, args, kwargs, compare=True):
    sig = entry.signature()
    if sig is None:
        return None
    try:
        sig.bind(*args, **kwargs)
    except TypeError as exc:
        return TypeError(f"{func.__name__}() (CuPy's signature {sig}): {exc}")
    # a positional argument whose parameter is another one in CuPy (np.argmax(a, axis, out) is
    # cupy.argmax(a, axis, dtype, out)): refused, pass it by keyword
    numpy_params = _params_of(func) if compare else None
    if numpy_params is None:
        return None
    mine = [n for n, k, _ in numpy_params if k in (0, 1)]
    theirs = [n for n, k, _ in entry.params if k in (0, 1)]
    names_mine, names_theirs = set(mine), set(theirs)
    for i in range(1, min(len(args), len(mine), len(theirs))):
        if mine[i] != theirs[i] and (mine[i] in names_theirs or theirs[i] in names_mine):
            return TypeError(f"{func.__name__}(): positional argument {i} is {mine[i]!r} in NumPy "
                             f"but {theirs[i]!r} in CuPy (pass it by keyword)")
    return None


def _has_loop(entry, inputs):
    """Does one of the ufunc's loops take these inputs? Arrays must cast safely to the loop's
    types; scalars are taken by every loop (CuPy treats them as weak)."""
    dtypes = [getattr(x, "dtype", None) if hasattr(x, "shape") else None for x in inputs]
    if entry.types is None or all(d is None for d in dtypes):
        return True
    for t in entry.types:
        ins = t.split("->")[0]
        if len(ins) == len(dtypes) and all(d is None or np.can_cast(d, c) for d, c in zip(dtypes, ins)):
            return True
    return False


def _numpy_types(loop):
    """Whether NumPy knows every type of a loop ("ff->f"). CuPy adds bfloat16 loops ("E") when
    ml_dtypes is installed; the oracle leaves them out, so that its answers (and the snapshot) do
    not depend on that."""
    try:
        return all(np.dtype(c) is not None for c in loop.replace("->", ""))
    except TypeError:
        return False


def _dispatched(obj):
    return isinstance(obj, np.ufunc) or type(obj).__name__ == "_ArrayFunctionDispatcher" or (
        callable(obj) and hasattr(obj, "_implementation"))


def numpy_callables():
    """Every dispatched NumPy function (not ufunc) of the public namespaces, once each."""
    import numpy.lib.stride_tricks as stride_tricks
    seen = {}
    for module in (np, np.linalg, np.fft, stride_tricks):
        for name in dir(module):
            obj = getattr(module, name)
            if not name.startswith("_") and _dispatched(obj) and not isinstance(obj, np.ufunc):
                seen[id(obj)] = obj
    from ._creation import LIKE_CREATION
    for obj in LIKE_CREATION:
        seen[id(obj)] = obj
    return list(seen.values())


def ufunc_names():
    """The names of NumPy's ufuncs and of ``scipy.special``'s (private ones included)."""
    names = {f.__name__ for f in vars(np).values() if isinstance(f, np.ufunc)}
    try:
        import scipy.special._ufuncs as sc_ufuncs
    except ImportError:
        return sorted(names)
    return sorted(names | {f.__name__ for f in vars(sc_ufuncs).values() if isinstance(f, np.ufunc)})


@functools.lru_cache(maxsize=None)
def cupy_oracle():
    """The live oracle of the installed CuPy (cached), or None without CuPy."""
    return CupyOracle.live()
