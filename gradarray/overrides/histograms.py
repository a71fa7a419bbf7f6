"""Differentiable histograms: ``np.histogram``, ``np.histogram2d`` and ``np.histogramdd`` with a
tracked ``weights=``, ``density=True`` and tracked edges (``np.bincount``'s rule is in
``reductions.py``; these composites are built on it).

A histogram is linear in its weights: bin ``b`` holds the sum of the weights of the samples that fall
in it. The bin of every sample is computed on the raw data with NumPy's rule (``edges[i] <= x <
edges[i + 1]``, the last bin closed, samples outside the edges dropped) and the counts are
``np.bincount(bin, weights=w)``, so ``d hist[b] / d w[i]`` is 1 when sample i is in bin b.
``density=True`` divides by the bin widths and by the total, both recorded.

The sample positions: the counts are piecewise constant in them, so their gradient is **zero almost
everywhere** — the correct derivative away from the bin edges (on an edge it does not exist; a sample
that is moved across one changes the counts by a jump). That is the gradient given, not an error.
The samples still matter where NumPy computes the edges from them (``bins`` an integer or a string
and no ``range=``: ``linspace(min(x), max(x))``): those edges are recorded from ``np.min``/``np.max``,
so the returned edges, and with ``density=True`` the widths, carry the gradient of the extreme
samples. A tracked ``range=`` or tracked explicit edges (``bins=array``) carry theirs likewise
(NumPy dispatches on ``a``, ``bins`` and ``weights`` only: with a plain ``a`` and no other GradArray
there, a tracked ``range=`` is converted by NumPy itself, with a GradientLostWarning).
The forward values are NumPy's (edges and unweighted counts come from NumPy's own call on the raw
data; weighted sums from ``np.bincount``, which can differ from NumPy's blockwise sums in the last
bit). Without a tracked argument NumPy's function runs unchanged.
"""
from __future__ import annotations

import builtins

import numpy as np

from .._array import GradArray, wrap_untracked
from .._dispatch import apply_untracked
from .._modes import is_grad_enabled
from .._registry import implements

__all__ = []


def _raw(x):
    return x._data if type(x) is GradArray else x


def _raw_nested(x):
    """``x`` with every GradArray (also inside lists and tuples) replaced by its raw data."""
    if type(x) is list or type(x) is tuple:
        return type(x)(_raw_nested(v) for v in x)
    return _raw(x)


def _any_tracked(*objs):
    for x in objs:
        if type(x) is GradArray and x._requires_grad:
            return True
        if (type(x) is list or type(x) is tuple) and _any_tracked(*x):
            return True
    return False


def _tracked(x):
    return type(x) is GradArray and x._requires_grad


# ------------------------------------------------------------------------------------------ pieces
def _bins_of(raw_x, raw_edges):
    """The bin of each sample (NumPy's rule); samples outside the edges get the extra bin ``n``."""
    n = raw_edges.shape[0] - 1
    idx = np.searchsorted(raw_edges, raw_x, side="right") - 1
    idx = np.where(raw_x == raw_edges[-1], n - 1, idx)           # the last bin is closed
    return np.where((idx >= 0) & (idx < n), idx, n), n


def _weighted_counts(flat, weights, total):
    """``sum of weights per bin`` over ``total`` bins; ``flat == total`` marks dropped samples."""
    w = np.reshape(weights, (-1,))
    if w.dtype.kind == "c":                  # np.bincount sums real weights only
        return (_weighted_counts(flat, np.real(w), total)
                + 1j * _weighted_counts(flat, np.imag(w), total))
    return np.bincount(flat, weights=w, minlength=total + 1)[:total]


def _edges(column, bins, range_, raw_edges):
    """The edges NumPy used, recorded when they depend on tracked values, else the raw ones."""
    if np.ndim(bins) == 1:                   # explicit edges: NumPy uses them as they are
        return bins if _tracked(bins) else raw_edges
    if range_ is not None:
        lo, hi = range_[0], range_[1]
    elif _tracked(column) and column.size > 0:
        lo, hi = np.min(column), np.max(column)
    else:
        return raw_edges
    if not (_tracked(lo) or _tracked(hi)):
        return raw_edges
    if bool(_raw(lo) == _raw(hi)):           # NumPy widens an empty range by 1/2 on each side
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, raw_edges.shape[0], dtype=raw_edges.dtype)


def _widths(edges):
    """``np.diff(edges)`` as float64 (NumPy's density divides by ``np.array(diff, float)``)."""
    db = np.diff(edges)
    return db if db.dtype == np.float64 else db.astype(np.float64)


# --------------------------------------------------------------------------------------- histogram
@implements(np.histogram)
def _histogram(a, bins=10, range=None, density=None, weights=None):
    args = (a, bins, range, density, weights)
    if not (is_grad_enabled() and _any_tracked(a, bins, range, weights)):
        return apply_untracked(np.histogram, args, {})
    raw_a, raw_w = _raw(a), _raw(weights)
    # NumPy's own call gives the edges (and its checks and errors) and the unweighted counts
    raw_counts, raw_edges = np.histogram(raw_a, _raw_nested(bins), _raw_nested(range),
                                         weights=raw_w)
    column = np.reshape(a, (-1,)) if _tracked(a) else a
    edges = _edges(column, bins, range, raw_edges)
    if _tracked(weights):
        flat, n = _bins_of(np.reshape(raw_a, (-1,)), raw_edges)
        counts = _weighted_counts(flat, weights, n)
        if counts.dtype != weights.dtype:
            counts = counts.astype(weights.dtype)    # NumPy's counts have the weights' dtype
    else:
        counts = raw_counts
    if density:
        counts = counts / _widths(edges) / np.sum(counts)
    return wrap_untracked((counts, edges))


# ------------------------------------------------------------------------------------ histogramdd
def _columns(sample, D):
    """The D coordinate columns of ``sample`` as NumPy reads it: an (N, D) array, a 1-D array (one
    coordinate), or a sequence of D coordinate arrays."""
    if hasattr(sample, "shape"):
        if len(sample.shape) == 2:
            return [sample[:, i] for i in range(D)]
        return [np.reshape(sample, (-1,))]
    if D == 1 and np.ndim(sample[0]) == 0:   # a flat list of numbers: one coordinate
        return [sample]
    return list(sample)


def _histogramdd_impl(sample, bins=10, range=None, density=None, weights=None):
    raw_hist, raw_edges = np.histogramdd(_raw_nested(sample), _raw_nested(bins),
                                         _raw_nested(range), weights=_raw(weights))
    D = len(raw_edges)
    try:
        len(bins)
    except TypeError:
        bins = D * [bins]
    ranges = (None,) * D if range is None else range
    columns = [c if hasattr(c, "shape") else np.asarray(c, like=raw_edges[0])
               for c in _columns(sample, D)]
    edges = [_edges(columns[i], bins[i], ranges[i], raw_edges[i]) for i in builtins.range(D)]
    if _tracked(weights):
        flat, total, outside = 0, 1, False
        for column, raw_e in zip(columns, raw_edges):
            idx, n = _bins_of(np.reshape(_raw(column), (-1,)), raw_e)
            outside = outside | (idx == n)
            flat, total = flat * n + idx, total * n
        flat = np.where(outside, total, flat)
        shape = tuple(e.shape[0] - 1 for e in raw_edges)
        hist = np.reshape(_weighted_counts(flat, weights, total), shape)
    else:
        hist = raw_hist
    if density:
        s = np.sum(hist)
        for i in builtins.range(D):
            shape = [1] * D
            shape[i] = raw_edges[i].shape[0] - 1
            hist = hist / np.reshape(_widths(edges[i]), shape)
        hist = hist / s
    return hist, edges


@implements(np.histogramdd)
def _histogramdd(sample, bins=10, range=None, density=None, weights=None):
    if not (is_grad_enabled() and _any_tracked(sample, bins, range, weights)):
        # density and weights by keyword: CuPy's histogramdd has them in the other order
        return apply_untracked(np.histogramdd, (_raw_nested(sample), _raw_nested(bins),
                                                _raw_nested(range)),
                               dict(density=density, weights=_raw(weights)))
    return wrap_untracked(_histogramdd_impl(sample, bins, range, density, weights))


@implements(np.histogram2d)
def _histogram2d(x, y, bins=10, range=None, density=None, weights=None):
    if not (is_grad_enabled() and _any_tracked(x, y, bins, range, weights)):
        return apply_untracked(np.histogram2d, (x, y, _raw_nested(bins), _raw_nested(range)),
                               dict(density=density, weights=weights))
    try:                                     # NumPy's reading of ``bins``
        n = len(bins)
    except TypeError:
        n = 1
    if n != 1 and n != 2:
        bins = [bins, bins]                  # one array of edges for both coordinates
    hist, edges = _histogramdd_impl([x, y], bins, range, density, weights)
    return wrap_untracked((hist, edges[0], edges[1]))
