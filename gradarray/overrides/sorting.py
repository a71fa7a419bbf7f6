"""Rules for sorting and selection.

sort, partition and sort_complex are gathers ``x[idx]`` along an axis, with ``idx`` from
argsort/argpartition computed on the raw data; the gather is ``take_index``, whose adjoint
``scatter_index`` sends each gradient entry back to the element it came from (the pair gives
derivatives of any order). Equal elements: the values of the result do not depend on which of them
goes where; the gradient goes to the element argsort put there (the sort is not differentiable at
ties, any choice is a valid one-sided derivative).

``np.unique`` returns values gathered from the first occurrence of each value, so its values are
differentiable: the gradient of a unique value goes to the first element that holds it (documented
choice; the other copies get 0). Index, inverse and count outputs are untracked integers.

Functions that return indices (argsort, argmax, nonzero, searchsorted, ...) are non-differentiable:
their results are untracked integer GradArrays, usable as indices (``x[np.argmax(x)]``).
"""
from __future__ import annotations

import numpy as np

from .._core import apply_untracked, wrap_untracked
from .._registry import implements, nondifferentiable
from .indexing import take_index
from .reductions import _tracked

nondifferentiable(np.argsort, np.argmax, np.argmin, np.nanargmax, np.nanargmin, np.argpartition,
                  np.argwhere, np.nonzero, np.flatnonzero, np.searchsorted, np.lexsort)


def along_axis_index(idx, axis):
    """Index tuple ``t`` with ``x[t] == np.take_along_axis(x, idx, axis)`` (idx shaped like x)."""
    ndim = idx.ndim
    axis = axis % ndim
    t = []
    for d in range(ndim):
        if d == axis:
            t.append(idx)
        else:
            shape = [1] * ndim
            shape[d] = idx.shape[d]
            t.append(np.reshape(np.arange(idx.shape[d], like=idx), tuple(shape)))
    return tuple(t)


def _gather_sorted(a, axis, arg, *args, **kwargs):
    """``a`` rearranged along ``axis`` by ``arg`` (argsort/argpartition) of its raw data."""
    if axis is None:
        a = np.reshape(a, (-1,))
        axis = -1
    idx = arg(a._data, *args, axis=axis, **kwargs)
    return take_index(a, along_axis_index(idx, axis))


@implements(np.sort)
def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    if not _tracked(a):
        return apply_untracked(np.sort, (a,), dict(axis=axis, kind=kind, order=order, stable=stable))
    return _gather_sorted(a, axis, np.argsort, kind=kind, order=order, stable=stable)


@implements(np.partition)
def partition(a, kth, axis=-1, kind="introselect", order=None):
    if not _tracked(a):
        return apply_untracked(np.partition, (a, kth), dict(axis=axis, kind=kind, order=order))
    return _gather_sorted(a, axis, np.argpartition, kth, kind=kind, order=order)


@implements(np.sort_complex)
def sort_complex(a):
    """Sort by real part, then imaginary part, along the last axis; the result is complex."""
    if not _tracked(a):
        return apply_untracked(np.sort_complex, (a,), {})
    if a.dtype.kind != "c":
        a = a.astype(np.result_type(a.dtype, np.complex64))
    return _gather_sorted(a, -1, np.argsort)


@implements(np.unique)
def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, *,
           equal_nan=True, sorted=True):
    kwargs = dict(return_index=return_index, return_inverse=return_inverse,
                  return_counts=return_counts, axis=axis, equal_nan=equal_nan, sorted=sorted)
    if not _tracked(ar):
        return apply_untracked(np.unique, (ar,), kwargs)
    kwargs["return_index"] = True
    raw = np.unique(ar._data, **kwargs)
    first = raw[1]
    if axis is None:
        values = np.reshape(ar, (-1,))[first]
    else:
        values = ar[(slice(None),) * (axis % ar.ndim) + (first,)]
    rest = [first] if return_index else []
    rest += list(raw[2:])
    if not rest:
        return values
    return (values,) + tuple(wrap_untracked(r) for r in rest)


# The array-API spellings are thin wrappers around np.unique (verified safe: they only call unique
# and pack a namedtuple), so NumPy's own code runs on GradArrays and reaches ``unique`` above.
for _f in (np.unique_values, np.unique_counts, np.unique_inverse, np.unique_all):
    implements(_f)(_f._implementation)
