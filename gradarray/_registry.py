"""Registering derivative rules: the one place where a NumPy callable meets its rule.

Rule files in ``gradarray/overrides``, ``gradarray/linalg`` and ``gradarray/fft`` use:

    defvjp(np.sin, lambda g, ans, x: g * conj(np.cos(x)))          # one vjp per positional argument
    defvjp(np.multiply, lambda g, ans, x, y: g * conj(y), lambda g, ans, x, y: g * conj(x))
    defvjp_joint(np.linalg.solve, solve_vjp)                        # one vjp returning every gradient
    implements(np.mean)(mean_composite)                             # composite made of primitives
    nondifferentiable(np.argmax, np.floor, ...)                     # computed, never tracked

A VJP receives the upstream gradient ``g``, the forward output ``ans`` (only when the rule asked to
save it) and the forward arguments exactly as the caller passed them, and returns the gradient for
its argument *before* broadcasting is undone — the engine sums over broadcast dimensions and casts
to the input's dtype. VJPs are written with ``np.*`` calls so that they run on any backend and are
themselves recorded under ``create_graph=True``.
"""
from __future__ import annotations

import dis
import functools
import inspect

import numpy as np

from ._tables import (DEVICE_UFUNC_FALLBACKS, IMPLEMENTATIONS, NONDIFFERENTIABLE, Rule, RULES,
                      UFUNC_METHODS)
from ._array import GradArray
from ._dispatch import _func_name, _missing_rule, apply_function, apply_untracked

__all__ = ["defvjp", "defvjp_joint", "implements", "nondifferentiable", "Primitive", "primitive",
           "custom_vjp", "conj", "rule_for", "no_gradient"]


def no_gradient(function, argument, why="gradarray has no rule for it"):
    """The VJP to register for an argument that takes real values but whose gradient gradarray does
    not compute (``q`` of ``np.quantile``, the order ``v`` of ``scipy.special.jv``): a tracked value
    there raises in backward, naming the function and argument, instead of getting a silent zero
    (``None`` in a rule means "never tracked", e.g. integer or boolean arguments)."""
    def vjp(*args, **kwargs):
        raise TypeError(f"{function}: argument {argument!r} is tracked, but {why}, so its gradient "
                        f"cannot be computed. Pass it as a constant (.detach() or a plain array).")
    vjp.no_gradient = argument          # read by the coverage report
    return vjp


def conj(x):
    """Complex conjugate that costs nothing for real arrays (rules use it in every product)."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        return x.conjugate() if isinstance(x, complex) else x
    return np.conjugate(x) if dtype.kind == "c" else x


def _param_names(vjp):
    """Names of a VJP's parameters after (g, ans): lets a tracked keyword argument find its gradient."""
    try:
        params = list(inspect.signature(vjp).parameters.values())
    except (TypeError, ValueError):
        return {}
    names = {}
    for i, p in enumerate(params[2:]):
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names[p.name] = i
    return names


_LOADS = ("LOAD_FAST", "LOAD_DEREF", "LOAD_CLOSURE")


def _needed_arguments(vjps):
    """For each VJP, the positions of the arguments (after g, ans) that its body reads.

    Read once from the bytecode at registration. Conservative: a VJP whose code cannot be read, or
    that takes ``*args``/``**kwargs``, counts as needing every argument. None for such a rule.
    """
    needs = []
    for v in vjps:
        if v is None:
            needs.append(None)
            continue
        code = getattr(v, "__code__", None)
        if code is None or code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS):
            return None
        params = code.co_varnames[2:code.co_argcount]
        used = set(code.co_cellvars)
        for ins in dis.get_instructions(code):
            if ins.opname.startswith(_LOADS):
                used.update(ins.argval if isinstance(ins.argval, tuple) else (ins.argval,))
        needs.append(tuple(i for i, p in enumerate(params) if p in used))
    return tuple(needs)


def _is_numpy_callable(func):
    import numpy as np
    return isinstance(func, np.ufunc) or (getattr(func, "__module__", "") or "").startswith("numpy")


def defvjp(func, *vjps, save="both", view=False, name=None):
    """Give ``func`` one VJP per positional argument (``None`` for a non-differentiable argument).

    ``func`` is a NumPy function or ufunc (registered for dispatch, returned unchanged), a
    :class:`Primitive`, or a plain Python function, which is then wrapped into a Primitive and
    returned (``f = ga.defvjp(f, vjp)``). Called with only ``func``, it returns a decorator for a
    *joint* VJP that returns a tuple with one gradient per positional argument::

        @ga.defvjp(np.my_function)
        def _(g, ans, x, y):
            return g * y, g * x
    """
    if not vjps:
        def decorator(joint):
            defvjp_joint(func, joint, save=save, view=view, name=name)
            return joint
        return decorator
    params = {}
    for v in vjps:
        if v is not None:
            params = _param_names(v)
            break
    rule = Rule(vjps=vjps, save=save, params=params, view=view, name=name or _rule_name(func),
                needs=_needed_arguments(vjps))
    return _install(func, rule)


def defvjp_joint(func, joint, save="both", view=False, name=None):
    """Give ``func`` one VJP that returns the gradients of all positional arguments at once."""
    rule = Rule(joint=joint, save=save, params=_param_names(joint), view=view,
                name=name or _rule_name(func))
    return _install(func, rule)


def _rule_name(func):
    return getattr(func, "__name__", None) or type(func).__name__


def _install(func, rule):
    if isinstance(func, Primitive):
        func.rule = rule
        return func
    if _is_numpy_callable(func) or func in IMPLEMENTATIONS:
        RULES[func] = rule
        IMPLEMENTATIONS.pop(func, None)
        return func
    # a user's own Python function: it is never dispatched by NumPy, so wrap it
    prim = Primitive(func)
    prim.rule = rule
    return prim


def rule_for(func):
    """The registered Rule of a NumPy callable or Primitive, or None."""
    if isinstance(func, Primitive):
        return func.rule
    return RULES.get(func)


def implements(func):
    """Register a composite implementation of ``func`` that receives GradArrays (decorator)."""
    def decorator(impl):
        IMPLEMENTATIONS[func] = impl
        return impl
    return decorator


def implements_ufunc_method(method, ufunc=None):
    """Register an implementation of ``ufunc.method`` (all ufuncs when ``ufunc`` is None)."""
    def decorator(impl):
        UFUNC_METHODS[method if ufunc is None else (ufunc, method)] = impl
        return impl
    return decorator


def implements_on_devices(ufunc):
    """Register a composite (written with np.* calls) that replaces ``ufunc`` on non-NumPy data,
    for ufuncs a device backend lacks (decorator). On NumPy data the ufunc and its rule run."""
    def decorator(impl):
        DEVICE_UFUNC_FALLBACKS[ufunc] = impl
        return impl
    return decorator


def nondifferentiable(*funcs):
    """Mark callables whose outputs carry no gradient (comparisons, rounding, index queries)."""
    NONDIFFERENTIABLE.update(funcs)


def _contains_gradarray(args, kwargs):
    for a in args:
        if type(a) is GradArray:
            return True
        if (type(a) is list or type(a) is tuple) and any(type(x) is GradArray for x in a):
            return True
    for v in kwargs.values():
        if type(v) is GradArray:
            return True
    return False


class Primitive:
    """A function computed on raw arrays whose gradient comes from a registered rule.

    Callable on raw arrays (just runs the function) and on GradArrays (runs it on the raw data and
    records a node). gradarray's own internal operations (indexing, scatter, device moves) and users'
    ``custom_vjp`` functions are Primitives.
    """

    def __init__(self, fn, rule=None):
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.rule = rule

    def __call__(self, *args, **kwargs):
        if not _contains_gradarray(args, kwargs):
            return self.fn(*args, **kwargs)
        if self.rule is None:
            tracked = any(type(a) is GradArray and a.requires_grad for a in args) or any(
                type(v) is GradArray and v.requires_grad for v in kwargs.values())
            if tracked:
                raise _missing_rule(self.fn, _func_name(self.fn))
            return apply_untracked(self.fn, args, kwargs)
        return apply_function(self.fn, self.rule, args, kwargs)

    def defvjp(self, *vjps, save="both"):
        """Attach the backward rule.

        ``@prim.defvjp`` (or ``prim.defvjp(fn)``): ``fn(g, ans, *args)`` is a joint VJP returning one
        gradient per positional argument (a tuple; a bare array for a one-argument function).
        ``prim.defvjp(vjp0, vjp1, ...)`` with several functions: one VJP per argument.
        """
        if len(vjps) == 1 and callable(vjps[0]):
            defvjp_joint(self, vjps[0], save=save)
            return vjps[0]
        return defvjp(self, *vjps, save=save)

    def __repr__(self):
        return f"<gradarray primitive {self.__name__}>"


def primitive(fn):
    """Decorator: make ``fn`` a Primitive, computed on raw arrays, to which a rule is attached later."""
    return Primitive(fn)


def custom_vjp(fn):
    """Decorator for a Python function with a hand-written backward::

        @ga.custom_vjp
        def clipped_sqrt(x):              # runs on raw arrays, not recorded
            return np.sqrt(np.maximum(x, 1e-12))

        @clipped_sqrt.defvjp
        def _(g, ans, x):                 # joint VJP: one gradient per positional argument
            return (g / (2 * ans),)
    """
    return Primitive(fn)
