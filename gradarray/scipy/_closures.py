"""Routing SciPy calls whose only tracked values hide inside a callable argument.

The bridge sends a call to gradarray's implementation when an argument holds a GradArray. Solvers
(``solve_ivp``, ``minimize``, ``brentq``...) are often called with plain data and a function that
reads tracked parameters through a closure, a default argument, a bound object, a
``functools.partial`` or a module global::

    def rhs(t, y):
        return -k * y                 # k: a tracked GradArray
    solve_ivp(rhs, (0, 1), [1.0])     # plain arguments only

SciPy's own solver would then convert ``rhs``'s tracked results to plain arrays (a
``GradientLostWarning``). ``route_callables(module, names)`` puts a wrapper in front of the bridge's
(``after_import``, so it also covers modules imported later) that also sends such calls to the
implementation. The scan is static and cheap: it reads what the callable can reach (closure cells,
defaults, ``__self__``'s attributes, partial arguments, the globals its code names), a few levels
deep, and never calls it. A tracked value it cannot see still gives the ``GradientLostWarning``,
never a silent constant.

Must not know about: any particular solver.
"""
from __future__ import annotations

import functools
import itertools
import sys
import types

from .._array import GradArray
from .._bridge import IMPLEMENTATIONS, after_import, holds_gradarray

__all__ = ["route_callables", "reaches_tracked"]

_DEPTH = 3          # how many levels of functions/objects/containers the scan follows
_LENGTH = 1000      # how many items of one container it reads


def _holds_tracked(value, depth, seen):
    """Does ``value`` (an array, container, callable or plain object) reach a tracked GradArray?
    ``depth``: how many more hops into functions or objects' attributes the scan may take."""
    if type(value) is GradArray:
        return value._requires_grad
    if id(value) in seen or isinstance(value, (type, types.ModuleType, str, bytes, int, float,
                                               complex, bool)):
        return False
    seen.add(id(value))
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_holds_tracked(v, depth, seen) for v in itertools.islice(value, _LENGTH))
    if isinstance(value, dict):
        return any(_holds_tracked(v, depth, seen)
                   for v in itertools.islice(value.values(), _LENGTH))
    if depth <= 0:
        return False
    if callable(value):
        return _callable_reaches(value, depth - 1, seen)
    attributes = getattr(value, "__dict__", None)
    return isinstance(attributes, dict) and any(_holds_tracked(v, depth - 1, seen)
                                                for v in attributes.values())


def _names_in(code):
    """The global names a code object (and the functions defined inside it) reads."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names_in(const)
    return names


def _callable_reaches(fn, depth, seen):
    """What ``fn`` itself holds is scanned at ``depth``; each hop to another function or object
    costs one level."""
    if isinstance(fn, functools.partial):
        return (_holds_tracked(fn.args, depth, seen) or _holds_tracked(fn.keywords, depth, seen)
                or _holds_tracked(fn.func, depth, seen))
    if isinstance(fn, types.MethodType):
        return _holds_tracked(fn.__self__, depth, seen) or _holds_tracked(fn.__func__, depth, seen)
    if isinstance(fn, types.FunctionType):
        cells = [c.cell_contents for c in fn.__closure__ or () if _cell_is_set(c)]
        defaults = (fn.__defaults__ or ()) + tuple((fn.__kwdefaults__ or {}).values())
        if _holds_tracked(cells, depth, seen) or _holds_tracked(defaults, depth, seen):
            return True
        module_globals = fn.__globals__
        return any(_holds_tracked(module_globals[name], depth, seen)
                   for name in _names_in(fn.__code__) if name in module_globals)
    attributes = getattr(fn, "__dict__", None)
    if isinstance(attributes, dict) and not isinstance(fn, type):
        # an object with __call__: its attributes and its class's __call__
        return (_holds_tracked(attributes, depth, seen) or
                _holds_tracked(type(fn).__call__, depth, seen))
    return False


def _cell_is_set(cell):
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def reaches_tracked(values) -> bool:
    """Does any callable among ``values`` read a tracked GradArray (closures, globals, ...)?"""
    seen = set()
    return any(callable(v) and _callable_reaches(v, _DEPTH, seen) for v in values)


def _router(original, implementation):
    @functools.wraps(original)
    def call(*args, **kwargs):
        if holds_gradarray(args) or (kwargs and holds_gradarray(kwargs.values())) or \
                reaches_tracked(args) or (kwargs and reaches_tracked(kwargs.values())):
            return implementation(*args, **kwargs)
        return original(*args, **kwargs)
    call.__gradarray_original__ = original
    call.__gradarray_routes_callables__ = True
    return call


def route_callables(module_name, names):
    """For ``module_name.<name>`` (registered with ``implements_scipy``): also send calls whose
    callable arguments read tracked values to the implementation."""
    def install():
        module = sys.modules[module_name]
        for name in names:
            current = getattr(module, name, None)
            if current is None or getattr(current, "__gradarray_routes_callables__", False):
                continue
            original = getattr(current, "__gradarray_original__", current)
            setattr(module, name, _router(original, IMPLEMENTATIONS[module_name][name]))
    after_import(module_name, install)
