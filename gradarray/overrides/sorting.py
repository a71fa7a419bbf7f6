"""Rules for sorting and selection.

sort, partition and sort_complex are gathers ``x[idx]`` along an axis, with ``idx`` from
argsort/argpartition computed on the raw data; the gather is ``take_index``, whose adjoint
``scatter_index`` sends each gradient entry back to the element it came from (the pair gives
derivatives of any order). Equal elements: the values of the result do not depend on which of them
goes where; the gradient goes to the element argsort put there (the sort is not differentiable at
ties, any choice is a valid one-sided derivative). NaN needs no special case: argsort/argpartition
put NaNs last, exactly where sort/partition put them, so a NaN output's gradient goes to a NaN.

``np.unique`` returns values gathered from the first occurrence of each value, so its values are
differentiable: the gradient of a unique value goes to the first element that holds it (documented
choice; the other copies get 0). Index, inverse and count outputs are untracked integers.

The set operations (union1d, intersect1d, setdiff1d, setxor1d) follow NumPy's code with these
gathers, so each output value is differentiable with respect to the element it was taken from:
its first occurrence, and for a value present in both inputs (union1d, intersect1d) its first
occurrence in ``ar1`` — where intersect1d's ``return_indices`` points. ``ar2`` then gets no
gradient for that value (a documented choice: the value is the same in both). ``np.isin`` is a
boolean mask, non-differentiable.

Functions that return indices (argsort, argmax, nonzero, searchsorted, ...) are non-differentiable:
their results are untracked integer GradArrays, usable as indices (``x[np.argmax(x)]``).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from .._backend import create_like, is_host_array
from .._array import GradArray, wrap_untracked
from .._dispatch import apply_untracked
from .._registry import implements, nondifferentiable
from .indexing import take_index
from .reductions import _tracked

def _raw(x):
    return x._data if type(x) is GradArray else x


nondifferentiable(np.argsort, np.argmax, np.argmin, np.nanargmax, np.nanargmin, np.argpartition,
                  np.argwhere, np.nonzero, np.flatnonzero, np.searchsorted, np.lexsort, np.isin)


def along_axis_index(idx, axis):
    """Index tuple ``t`` with ``x[t] == np.take_along_axis(x, idx, axis)`` (idx shaped like x)."""
    ndim = idx.ndim
    axis = normalize_axis_index(axis, ndim)
    t = []
    for d in range(ndim):
        if d == axis:
            t.append(idx)
        else:
            shape = [1] * ndim
            shape[d] = idx.shape[d]
            t.append(np.reshape(np.arange(idx.shape[d], like=idx), tuple(shape)))
    return tuple(t)


def _sort_kwargs(kind=None, order=None, stable=None):
    """The keywords of a sort/argsort call that change its result, spelled so CuPy accepts them.

    CuPy's sort/argsort take only ``kind`` in (None, "stable"). Every algorithm gives the same
    sorted values, so ``kind`` matters only for the order of ties in argsort: "stable"/"mergesort"
    (and ``stable=True``) become kind="stable", the unstable kinds become the default.
    ``order`` (structured arrays) is forwarded only when given.
    """
    kwargs = {}
    if stable or kind in ("stable", "mergesort"):
        kwargs["kind"] = "stable"
    if order is not None:
        kwargs["order"] = order
    return kwargs


def _partition_kwargs(kind="introselect", order=None):
    """partition/argpartition: "introselect" is NumPy's only kind (CuPy takes no ``kind``); an
    unknown kind is still forwarded so that NumPy reports it."""
    kwargs = {} if kind == "introselect" else {"kind": kind}
    if order is not None:
        kwargs["order"] = order
    return kwargs


def _gather_sorted(a, axis, arg, *args, **kwargs):
    """``a`` rearranged along ``axis`` by ``arg`` (argsort/argpartition) of its raw data."""
    if axis is None:
        a = np.reshape(a, (-1,))
        axis = -1
    axis = normalize_axis_index(axis, a.ndim)         # NumPy's error, also for a 0-d ``a``
    idx = arg(a._data, *args, axis=axis, **kwargs)
    return take_index(a, along_axis_index(idx, axis))


@implements(np.sort)
def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    kwargs = _sort_kwargs(kind, order, stable)
    if not _tracked(a):
        return apply_untracked(np.sort, (a,), dict(axis=axis, **kwargs))
    return _gather_sorted(a, axis, np.argsort, **kwargs)


@implements(np.argsort)
def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    return apply_untracked(np.argsort, (a,), dict(axis=axis, **_sort_kwargs(kind, order, stable)))


@implements(np.partition)
def partition(a, kth, axis=-1, kind="introselect", order=None):
    kwargs = _partition_kwargs(kind, order)
    if not _tracked(a):
        return apply_untracked(np.partition, (a, kth), dict(axis=axis, **kwargs))
    return _gather_sorted(a, axis, np.argpartition, _raw(kth), **kwargs)


@implements(np.argpartition)
def argpartition(a, kth, axis=-1, kind="introselect", order=None):
    return apply_untracked(np.argpartition, (a, kth), dict(axis=axis,
                                                           **_partition_kwargs(kind, order)))


@implements(np.sort_complex)
def sort_complex(a):
    """Sort by real part, then imaginary part, along the last axis; the result is complex."""
    if not _tracked(a):
        return apply_untracked(np.sort_complex, (a,), {})
    if a.dtype.kind != "c":
        a = a.astype(np.result_type(a.dtype, np.complex64))
    return _gather_sorted(a, -1, np.argsort)


def _unique_kwargs(ar, return_index, return_inverse, return_counts, axis, equal_nan, sorted):
    """np.unique's keywords, forwarding only those that differ from the defaults.

    CuPy's unique has no ``sorted=``; its result is always sorted, which is a valid result for
    sorted=False ("may vary"), so sorted=False reaches only NumPy, where it can change the order.
    """
    given = dict(return_index=return_index, return_inverse=return_inverse,
                 return_counts=return_counts, axis=axis, equal_nan=equal_nan)
    defaults = dict(return_index=False, return_inverse=False, return_counts=False, axis=None,
                    equal_nan=True)
    kwargs = {k: v for k, v in given.items() if v is not defaults[k]}
    if not sorted and is_host_array(_raw(ar)):
        kwargs["sorted"] = False
    return kwargs


@implements(np.unique)
def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, *,
           equal_nan=True, sorted=True):
    kwargs = _unique_kwargs(ar, return_index, return_inverse, return_counts, axis, equal_nan,
                            sorted)
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
# and pack a namedtuple), so NumPy's own code runs on GradArrays and reaches ``unique`` above —
# which also makes them work on device arrays although CuPy 13 has no unique_values/counts/...
for _f in (np.unique_values, np.unique_counts, np.unique_inverse, np.unique_all):
    implements(_f)(_f._implementation)


# ------------------------------------------------------------------------------------ set operations

def _set_operands(ar1, ar2):
    """Both operands as arrays on the device of the GradArray among them (lists are converted)."""
    ref = ar1 if type(ar1) is GradArray else ar2
    return tuple(a if type(a) is GradArray else np.asarray(a, like=_raw(ref)) for a in (ar1, ar2))


def _untracked_call(func, ar1, ar2, **kwargs):
    return wrap_untracked(func(_raw(ar1), _raw(ar2), **kwargs))


@implements(np.union1d)
def union1d(ar1, ar2):
    """unique(concatenate(ar1, ar2)): a value in both inputs comes from its first occurrence in ar1."""
    ar1, ar2 = _set_operands(ar1, ar2)
    return np.unique(np.concatenate((ar1, ar2), axis=None))


@implements(np.intersect1d)
def intersect1d(ar1, ar2, assume_unique=False, return_indices=False):
    """The sorted common values, each gathered from ar1 at NumPy's ``ar1_indices`` (its first
    occurrence in ar1); ar2 only decides which values are kept."""
    ar1, ar2 = _set_operands(ar1, ar2)
    if not (_tracked(ar1) or _tracked(ar2)):
        return _untracked_call(np.intersect1d, ar1, ar2, assume_unique=assume_unique,
                               return_indices=return_indices)
    _, ind1, ind2 = np.intersect1d(_raw(ar1), _raw(ar2), assume_unique=assume_unique,
                                   return_indices=True)
    # ind1 indexes the flattened ar1 (with assume_unique: NumPy's position in the concatenation,
    # which is in ar1 whenever the inputs really are unique)
    values = np.concatenate((ar1, ar2), axis=None)[ind1]
    if not return_indices:
        return values
    return values, wrap_untracked(ind1), wrap_untracked(ind2)


@implements(np.setdiff1d)
def setdiff1d(ar1, ar2, assume_unique=False):
    """The unique values of ar1 (first occurrences; with assume_unique, ar1 flattened, in order)
    that are not in ar2; ar2 only removes values and gets no gradient."""
    ar1, ar2 = _set_operands(ar1, ar2)
    if not _tracked(ar1):
        return _untracked_call(np.setdiff1d, ar1, ar2, assume_unique=assume_unique)
    base = np.ravel(ar1) if assume_unique else np.unique(ar1)
    other = _raw(ar2) if assume_unique else np.unique(_raw(ar2))
    return base[np.isin(_raw(base), other, assume_unique=True, invert=True)]


@implements(np.setxor1d)
def setxor1d(ar1, ar2, assume_unique=False):
    """The sorted values that are in exactly one input, each from its (first) occurrence there."""
    ar1, ar2 = _set_operands(ar1, ar2)
    if not (_tracked(ar1) or _tracked(ar2)):
        return _untracked_call(np.setxor1d, ar1, ar2, assume_unique=assume_unique)
    if not assume_unique:
        ar1, ar2 = np.unique(ar1), np.unique(ar2)
    aux = np.concatenate((ar1, ar2), axis=None)
    if aux.size == 0:
        return aux
    aux = aux[np.argsort(aux._data, kind="stable")]
    raw = aux._data
    edge = create_like(np.ones, raw, 1, dtype=bool)
    differs = np.concatenate((edge, raw[1:] != raw[:-1], edge))
    return aux[differs[1:] & differs[:-1]]
