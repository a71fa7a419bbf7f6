"""Which SciPy functions gradarray differentiates (the SciPy half of ``python -m gradarray.coverage``).

Every public callable of the SciPy modules below gets one status:

- ``differentiable``: an implementation registered through the bridge (``implements_scipy``) or a
  rule on the ufunc (``scipy.special``); the arguments it differentiates follow in parentheses when
  the rule says (``rule in x; not in a`` for ``gammainc``);
- ``differentiable (distribution)``: a ``scipy.stats`` distribution whose methods
  (``logpdf``/``pdf``/``cdf``/... ) have formulas in ``gradarray.scipy.stats``;
- ``non-differentiable``: runs on GradArrays, its result carries no gradient (step functions);
- ``unsupported``: SciPy's own function runs; a tracked argument gives a ``GradientLostWarning``
  (an error in strict mode), never a silent constant.

Must not know about: how any rule works; it only reads the registries.
"""
from __future__ import annotations

import importlib
import inspect

import numpy as np

from .._bridge import IMPLEMENTATIONS, METHOD_IMPLEMENTATIONS
from .._tables import NONDIFFERENTIABLE, RULES

SCIPY_MODULES = ("scipy.special", "scipy.stats", "scipy.linalg", "scipy.signal", "scipy.ndimage",
                 "scipy.integrate", "scipy.interpolate", "scipy.optimize", "scipy.fft")
SCIPY_STATUSES = ("differentiable", "non-differentiable", "unsupported")
STATUS_MEANINGS = (
    ("differentiable", "a rule (scipy.special ufuncs; the positions of the arguments it "
     "differentiates follow when not all are) or an implementation installed by the bridge"),
    ("differentiable (distribution)", "a scipy.stats distribution whose methods (logpdf, pdf, cdf, "
     "... ) have formulas in gradarray.scipy.stats"),
    ("non-differentiable", "runs on GradArrays; its result carries no gradient"),
    ("unsupported", "SciPy's own function runs; a tracked argument gives a GradientLostWarning (an "
     "error in strict mode), never a silent constant"),
)


def _public(module_name):
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    out = {}
    for name in sorted(set(names)):
        obj = getattr(module, name, None)
        if obj is None or inspect.ismodule(obj) or not callable(obj):
            continue
        if inspect.isclass(obj) and issubclass(obj, (Warning, Exception)):
            continue
        out[name] = obj
    return out


def _ufunc_for(module_name, name, obj):
    """The ufunc behind ``scipy.special.<name>`` (a wrapper of it in SciPy's array-API mode)."""
    if isinstance(obj, np.ufunc):
        return obj
    if module_name == "scipy.special":
        ufuncs = importlib.import_module("scipy.special._ufuncs")
        candidate = getattr(ufuncs, name, None)
        if isinstance(candidate, np.ufunc):
            return candidate
    return None


def _rule_arguments(rule):
    """" in 0, 1; not in 2" from a rule's per-argument VJPs (positions), or "" for a joint rule."""
    if rule.vjps is None:
        return ""
    yes = [str(i) for i, f in enumerate(rule.vjps) if f is not None and
           not hasattr(f, "no_gradient")]
    no = [str(i) for i, f in enumerate(rule.vjps) if f is not None and hasattr(f, "no_gradient")]
    if not no and len(yes) == len(rule.vjps):
        return ""
    text = f" (in argument {', '.join(yes)}" if yes else " (in no argument"
    return text + (f"; not in {', '.join(no)})" if no else ")")


def _distributions():
    """The class names of the distributions with formulas (``norm_gen`` ...)."""
    try:
        formulas = importlib.import_module("gradarray.scipy.stats_distributions")
    except ImportError:
        return set()
    return set(getattr(formulas, "CONTINUOUS", ())) | set(getattr(formulas, "DISCRETE", ()))


def status_of(module_name, name, obj, distributions=frozenset()):
    bridged = IMPLEMENTATIONS.get(module_name, {})
    if name in bridged:
        return "differentiable"
    ufunc = _ufunc_for(module_name, name, obj)
    if ufunc is not None:
        if ufunc in RULES:
            return "differentiable" + _rule_arguments(RULES[ufunc])
        if ufunc in NONDIFFERENTIABLE:
            return "non-differentiable"
        return "unsupported"
    cls_name = type(obj).__name__
    if cls_name in distributions or any(cls == cls_name for _, cls in METHOD_IMPLEMENTATIONS):
        return "differentiable (distribution)"
    if inspect.isclass(obj) and any(cls == obj.__name__ for _, cls in METHOD_IMPLEMENTATIONS):
        return "differentiable"
    return "unsupported"


def scipy_report(modules=SCIPY_MODULES):
    """``{module: {qualified name: status}}`` for the SciPy modules that are installed."""
    distributions = _distributions()
    out = {}
    for module_name in modules:
        try:
            functions = _public(module_name)
        except ImportError:
            continue
        out[module_name] = {f"{module_name}.{name}": status_of(module_name, name, obj, distributions)
                            for name, obj in functions.items()}
    return out


def scipy_totals(rep):
    """``{module: (total, differentiable)}``."""
    return {m: (len(t), sum(s.startswith("differentiable") for s in t.values()))
            for m, t in rep.items()}
