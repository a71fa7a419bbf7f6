"""Ufunc calls with ``out=`` / ``where=`` / ``dtype=``, and functions called with ``out=``.

In-place semantics: the result is computed out of place (and recorded), then written into ``out``
through ``setitem`` — which bumps the version counter and rewires ``out``'s history, so that
``x += y``, ``np.add(a, b, out=x)`` and ``np.exp(x, out=x)`` all keep correct gradients. When ``out``
is also an input whose value the rule needs (``x *= y``), that input is copied first, so the saved
value is the one from before the write.
"""
from __future__ import annotations

import numpy as np

from .._core import RULES, GradArray, _make, apply_ufunc
from .indexing import setitem

_FORWARD_ONLY = ("dtype", "casting", "order", "subok")


def _normalise_out(out):
    if out is None:
        return None
    if type(out) is not tuple:
        out = (out,)
    if all(o is None for o in out):
        return None
    return out


def _write_into(target, result):
    """Store ``result`` into ``target`` (a GradArray or a plain array) and return what to hand back."""
    if type(target) is GradArray:
        setitem(target, Ellipsis, result)
        return target
    # a plain ndarray out (``ndarray += GradArray``): its values are written; the tape continues
    # through the returned GradArray, which Python binds to the augmented-assignment target
    target[...] = result._data if type(result) is GradArray else result
    return result if type(result) is GradArray and result.requires_grad else target


def ufunc_call_with_kwargs(ufunc, inputs, kwargs):
    kwargs = dict(kwargs)
    out = _normalise_out(kwargs.pop("out", None))
    where = kwargs.pop("where", True)
    unknown = [k for k in kwargs if k not in _FORWARD_ONLY]
    if unknown:
        tracked = any(type(x) is GradArray and x.requires_grad for x in inputs)
        if tracked:
            raise TypeError(f"np.{ufunc.__name__}: the keyword(s) {', '.join(unknown)} are not "
                            "supported with gradient tracking")
        raw_inputs = [x._data if type(x) is GradArray else x for x in inputs]
        return _make(ufunc(*raw_inputs, **kwargs))
    if out is not None:
        rule = RULES.get(ufunc)
        if rule is not None and rule.save_args:
            out_ids = {id(o) for o in out if type(o) is GradArray}
            inputs = tuple(np.copy(x) if type(x) is GradArray and id(x) in out_ids else x
                           for x in inputs)
    result = apply_ufunc(ufunc, inputs, kwargs)
    if where is not True:
        where = where._data if type(where) is GradArray else where
        results = result if type(result) is tuple else (result,)
        olds = out if out is not None else (0,) * len(results)
        # NumPy leaves positions where ``where`` is False untouched (uninitialised without out=)
        masked = tuple(np.where(where, r, o if o is not None else 0) for r, o in zip(results, olds))
        result = masked if type(result) is tuple else masked[0]
    if out is None:
        return result
    results = result if type(result) is tuple else (result,)
    written = tuple(r if o is None else _write_into(o, r) for o, r in zip(out, results))
    return written if len(written) > 1 else written[0]


def function_with_out(func, args, kwargs):
    """``np.func(..., out=o)``: compute out of place, then write into ``o``."""
    kwargs = dict(kwargs)
    out = kwargs.pop("out")
    result = func(*args, **kwargs)
    if type(out) is tuple:
        return tuple(_write_into(o, r) for o, r in zip(out, result))
    return _write_into(out, result)
