"""Rules for reductions and cumulative reductions: sum, mean, prod, var, std, max/min/ptp (and their
nan-versions), cumsum/cumprod/cumulative_sum/cumulative_prod, counting and histograms.

The statistics built on them (median, quantile, percentile, average, cov, corrcoef) are in
``statistics.py``, which uses the argument helpers below (``_raw``, ``_given``, ``_axes``).

Conventions shared by the rules below (``g`` is the upstream gradient, shaped like the output):

- ``_expand(g)`` reshapes ``g`` to the keepdims shape so that it broadcasts against the input.
- ``where=`` masks: masked-out elements get zero gradient. A boolean GradArray passed as ``where``
  is unwrapped before the call (it carries no gradient; see ``_reduction``).
- Masks, orders and counts are computed on the raw data (they are piecewise constant in the input),
  so under ``create_graph=True`` only the part of a VJP that depends on values is recorded.
- Complex inputs follow the engine's convention ``grad = dL/dRe + i dL/dIm``: for a holomorphic
  reduction ``grad = g * conj(d out / d x)``; var/std of a complex array are real and get
  ``grad = 2 g (x - mean) / (N - ddof)``.

Documented choices at non-differentiable points:

- max/min/amax/amin/nanmax/nanmin (and ptp): ties share the gradient evenly (like PyTorch's amax).
  A slice whose result comes from ``initial=`` gives zero gradient. max/min/amax/amin propagate
  NaN: a slice holding a NaN returns it, and its whole gradient goes to its first NaN (the element
  argmax/argmin pick; PyTorch's choice). nanmax/nanmin skip NaNs; an all-NaN slice gives zero
  gradient. ptp = max - min: on a slice holding a NaN both terms pick the same NaN, so the chain
  rule gives it g - g = 0 (as for a constant slice).
- prod/cumprod with zeros: exact first derivatives (no division by zero); second derivatives are
  exact away from zeros.
- std where the variance is zero: the gradient is 0 (a subgradient), not NaN.
- nan* functions: NaN positions get zero gradient.

Backends without a NumPy function (CuPy 13): cumulative_sum/prod on device arrays are composites
(cumsum/cumprod) that give NumPy's values; on NumPy data NumPy's own function runs. Internal calls
never forward a keyword at its default value (CuPy's mean has no ``where=``, for instance).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from .._backend import call as _backend_call, create_like, is_host_array
from .._modes import is_grad_enabled
from .._array import GradArray, _make
from .._dispatch import apply_function
from .._registry import conj, defvjp, implements, nondifferentiable, rule_for
from .ufunc_methods import _single_axis

_NoValue = np._NoValue


# ------------------------------------------------------------------------------------------ helpers
def _raw(x):
    """Raw data of a GradArray (for masks and orders, which carry no gradient)."""
    return x._data if type(x) is GradArray else x


def _given(value, default):
    """NumPy's ``<no value>`` default marker -> our default."""
    return default if value is _NoValue else value


def _axes(axis, ndim):
    """``axis`` (None, int or tuple, possibly negative) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    return tuple(sorted(normalize_axis_tuple(axis, ndim))) if ndim else ()


def _kept_shape(shape, axis):
    """Shape of the reduction of an array of ``shape`` over ``axis`` with keepdims=True."""
    axes = _axes(axis, len(shape))
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _expand_reduced(g, shape, axis, keepdims):
    """Re-insert the reduced axes of ``g`` (size 1) so it broadcasts against the input shape."""
    if _given(keepdims, False):
        return g
    return np.reshape(g, _kept_shape(shape, axis))


def _count(shape, axis, valid):
    """Number of elements reduced into each output (keepdims shape); ``valid`` is True or a mask."""
    if valid is True:
        n = 1
        for a in _axes(axis, len(shape)):
            n *= shape[a]
        return n
    return np.sum(np.broadcast_to(valid, shape), axis=axis, keepdims=True)


def _mask(where, a=None, nan=False):
    """Elements that take part in a reduction: ``where`` and, for nan-functions, not NaN."""
    where = _given(where, True)
    if where is not True:
        where = _raw(where)
    if not nan:
        return where
    valid = ~np.isnan(_raw(a))
    return valid if where is True else valid & where


def _apply_mask(grad, valid):
    return grad if valid is True else np.where(valid, grad, 0)


def _reduction(func, *vjps, save):
    """Register a reduction's rule; a GradArray ``where=`` mask is passed on as raw data.

    (With save="none"/"ans" the engine would otherwise replace it by a shape placeholder.)
    """
    defvjp(func, *vjps, save=save)
    rule = rule_for(func)

    def impl(*args, **kwargs):
        where = kwargs.get("where")
        if type(where) is GradArray:
            kwargs = {**kwargs, "where": where._data}
        return apply_function(func, rule, args, kwargs)

    impl.__name__ = func.__name__
    implements(func)(impl)


def _tracked(x):
    return type(x) is GradArray and x._requires_grad and is_grad_enabled()


# ------------------------------------------------------------------------------------- sum and mean
def _broadcast_to(g, shape):
    """``np.broadcast_to(g, shape)``; on Dask data with chunks along the new axes (Dask's own puts
    the whole broadcast shape in one chunk)."""
    return _backend_call(np.broadcast_to, g, shape)


def _sum_vjp(g, ans, a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
    return _apply_mask(_broadcast_to(_expand_reduced(g, a.shape, axis, keepdims), a.shape),
                       _mask(where))


def _nansum_vjp(g, ans, a, axis=None, dtype=None, out=None, keepdims=False, initial=None,
                where=True):
    return _apply_mask(_broadcast_to(_expand_reduced(g, a.shape, axis, keepdims), a.shape),
                       _mask(where, a, nan=True))


def _mean_grad(g, a, axis, keepdims, valid):
    n = _count(a.shape, axis, valid)
    if valid is not True:
        n = np.maximum(n, 1)                  # empty slices: the gradient is masked out anyway
    return _apply_mask(_broadcast_to(_expand_reduced(g, a.shape, axis, keepdims) / n, a.shape),
                       valid)


def _mean_vjp(g, ans, a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    return _mean_grad(g, a, axis, keepdims, _mask(where))


def _nanmean_vjp(g, ans, a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    return _mean_grad(g, a, axis, keepdims, _mask(where, a, nan=True))


_reduction(np.sum, _sum_vjp, save="none")
_reduction(np.mean, _mean_vjp, save="none")
_reduction(np.nansum, _nansum_vjp, save="args")
_reduction(np.nanmean, _nanmean_vjp, save="args")


# --------------------------------------------------------------------------------------------- prod
def _prod_of_others(x, axis):
    """prod_{j != i} x_j over the reduced axes, for every i, without dividing by zero.

    No zero in the slice: prod / x_i. Exactly one zero: the product of the non-zeros at the zero,
    0 elsewhere. Two or more zeros: 0 everywhere.
    """
    zero = _raw(x) == 0
    nonzero = np.where(zero, 1, x)
    p = np.prod(nonzero, axis=axis, keepdims=True)
    zeros = np.sum(zero, axis=axis, keepdims=True)
    return np.where(zero, p * (zeros == 1), p * (zeros == 0) / nonzero)


def _prod_grad(g, a, axis, keepdims, initial, valid):
    x = a if valid is True else np.where(valid, a, 1)
    others = _prod_of_others(x, axis)
    initial = _given(initial, None)
    if initial is not None:
        others = others * initial
    return _apply_mask(_expand_reduced(g, a.shape, axis, keepdims) * conj(others), valid)


def _prod_vjp(g, ans, a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
    return _prod_grad(g, a, axis, keepdims, initial, _mask(where))


def _nanprod_vjp(g, ans, a, axis=None, dtype=None, out=None, keepdims=False, initial=None,
                 where=True):
    valid = _mask(where, a, nan=True)
    return _prod_grad(g, a, axis, keepdims, initial, valid)


_reduction(np.prod, _prod_vjp, save="args")
_reduction(np.nanprod, _nanprod_vjp, save="args")


# ------------------------------------------------------------------------------------ var and std
def _var_grad(g, a, axis, keepdims, ddof, correction, where, mean, nan):
    """d var / dx = 2 (x - mean) / (N - ddof), for real and complex x (the mean's term sums to 0)."""
    ddof = _given(correction, None) if _given(correction, None) is not None else ddof
    valid = _mask(where, a, nan)
    mean = _given(mean, None)
    if mean is None:
        average = np.nanmean if nan else np.mean
        where = _mask(where)
        # where= only when given: CuPy's mean/nanmean have no where keyword
        mask = {} if where is True else {"where": where}
        mean = average(a, axis=axis, keepdims=True, **mask)
    d = _apply_mask(a - mean, valid)
    n = _count(a.shape, axis, valid)
    # an array divided by N - ddof = 0 gives inf/NaN with a warning, like the forward value
    return _expand_reduced(g, a.shape, axis, keepdims) * d * 2 / (n - ddof)


def _var_vjp(g, ans, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True,
             mean=None, correction=None):
    return _var_grad(g, a, axis, keepdims, ddof, correction, where, mean, nan=False)


def _nanvar_vjp(g, ans, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True,
                mean=None, correction=None):
    return _var_grad(g, a, axis, keepdims, ddof, correction, where, mean, nan=True)


def _std_to_var(g, ans):
    """d std = d var / (2 std); where std == 0 (constant slice) the gradient is 0, not NaN."""
    zero = _raw(ans) == 0
    return np.where(zero, 0, g / (2 * np.where(zero, 1, ans)))


def _std_vjp(g, ans, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True,
             mean=None, correction=None):
    return _var_grad(_std_to_var(g, ans), a, axis, keepdims, ddof, correction, where, mean, False)


def _nanstd_vjp(g, ans, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True,
                mean=None, correction=None):
    return _var_grad(_std_to_var(g, ans), a, axis, keepdims, ddof, correction, where, mean, True)


_reduction(np.var, _var_vjp, save="args")
_reduction(np.nanvar, _nanvar_vjp, save="args")
_reduction(np.std, _std_vjp, save="both")
_reduction(np.nanstd, _nanstd_vjp, save="both")


# -------------------------------------------------------------------------------------- max and min
def _extremum_grad(g, ans, a, axis, keepdims, where, propagate_nan):
    """The gradient goes to the elements equal to the result, shared evenly between ties.

    NaN never equals the result, so nanmax/nanmin skip NaNs; a slice whose result comes from
    ``initial`` (or, for nanmax/nanmin, an all-NaN slice) sends no gradient. max/min return the
    first NaN of a slice (``propagate_nan``): the gradient goes to it alone, not shared, as argmax.
    """
    x = _raw(a)
    hit = x == np.reshape(_raw(ans), _kept_shape(a.shape, axis))
    valid = _mask(where)
    if valid is not True:
        hit = hit & valid
    if propagate_nan and x.size and x.dtype.kind in "fc":
        nan = np.isnan(x) if valid is True else np.isnan(x) & valid
        # the first NaN of a slice is the one with the smallest flat index (C order): flat indices
        # grow with the reduced axes' indices when the kept ones are fixed; no NaN: none matches
        pos = np.reshape(np.arange(x.size, like=x), x.shape)
        hit = hit | (pos == np.min(np.where(nan, pos, x.size), axis=axis, keepdims=True))
    ties = np.maximum(np.sum(hit, axis=axis, keepdims=True), 1)
    return _expand_reduced(g, a.shape, axis, keepdims) * (hit / ties).astype(g.dtype)


def _extremum_vjp(g, ans, a, axis=None, out=None, keepdims=False, initial=None, where=True):
    return _extremum_grad(g, ans, a, axis, keepdims, where, propagate_nan=True)


def _nan_extremum_vjp(g, ans, a, axis=None, out=None, keepdims=False, initial=None, where=True):
    return _extremum_grad(g, ans, a, axis, keepdims, where, propagate_nan=False)


for _f in (np.max, np.min, np.amax, np.amin):
    _reduction(_f, _extremum_vjp, save="both")
for _f in (np.nanmax, np.nanmin):
    _reduction(_f, _nan_extremum_vjp, save="both")


@implements(np.ptp)
def ptp(a, axis=None, out=None, keepdims=_NoValue):
    """max - min (ties share the gradient as in max/min; a slice holding a NaN gets 0)."""
    keepdims = _given(keepdims, False)
    result = np.max(a, axis=axis, keepdims=keepdims) - np.min(a, axis=axis, keepdims=keepdims)
    if out is not None:
        out[...] = result
        return out
    return result


# ------------------------------------------------------------------------- cumulative sum / product
def _reverse_cumsum(g, axis):
    """sum_{i >= k} g_i along ``axis``: the adjoint of cumsum."""
    return np.flip(np.cumsum(np.flip(g, axis), axis), axis)


def _flat_axis(a, axis):
    """cumsum/cumprod with axis=None work on the flattened array."""
    return (np.reshape(a, (-1,)), 0) if axis is None else (a, axis)


def _cumsum_vjp(g, ans, a, axis=None, dtype=None, out=None):
    return np.reshape(_reverse_cumsum(g, 0 if axis is None else axis), a.shape)


def _nancumsum_vjp(g, ans, a, axis=None, dtype=None, out=None):
    grad = np.reshape(_reverse_cumsum(g, 0 if axis is None else axis), a.shape)
    return np.where(np.isnan(_raw(a)), 0, grad)


def _cumprod_grad(g, x, y, axis):
    """VJP of y = cumprod(x) along ``axis``, exact with zeros.

    d y_i / d x_k = prod_{j <= i, j != k} x_j for i >= k. Before the first zero of the slice
    (x_k != 0) that is y_i / x_k, so grad_k = sum_{i>=k} g_i conj(y_i) / conj(x_k). At the first
    zero z it is y'_i, the cumprod of x with x_z replaced by 1. After the first zero every product
    contains x_z = 0, so the gradient is 0.
    """
    zero = _raw(x) == 0
    seen = np.cumsum(zero, axis=axis)               # zeros up to and including position k
    before = seen == 0
    first = zero & (seen == 1)
    safe = np.where(before, x, 1)
    grad = np.where(before, _reverse_cumsum(g * conj(y), axis) / conj(safe), 0)
    y_first = np.cumprod(np.where(first, 1, x), axis=axis)
    return grad + np.where(first, _reverse_cumsum(g * conj(y_first), axis), 0)


def _cumprod_vjp(g, ans, a, axis=None, dtype=None, out=None):
    x, ax = _flat_axis(a, axis)
    return np.reshape(_cumprod_grad(g, x, ans, ax), a.shape)


def _nancumprod_vjp(g, ans, a, axis=None, dtype=None, out=None):
    x, ax = _flat_axis(a, axis)
    nan = np.isnan(_raw(x))
    grad = _cumprod_grad(g, np.where(nan, 1, x), ans, ax)      # NaN counts as 1
    return np.reshape(np.where(nan, 0, grad), a.shape)


defvjp(np.cumsum, _cumsum_vjp, save="none")
defvjp(np.nancumsum, _nancumsum_vjp, save="args")
defvjp(np.cumprod, _cumprod_vjp, save="both")
defvjp(np.nancumprod, _nancumprod_vjp, save="both")
if hasattr(np, "cumulative_sum"):
    # NumPy 2.1's array-API spelling: cumulative_sum(x, /, *, axis, dtype, out, include_initial)
    def _cumulative_vjp(g, ans, x, *, axis=None, dtype=None, out=None, include_initial=False):
        ax = 0 if axis is None else axis
        if include_initial:                        # drop the leading initial entry
            g = g[(slice(None),) * (ax % g.ndim) + (slice(1, None),)]
        return _reverse_cumsum(g, ax)

    defvjp(np.cumulative_sum, _cumulative_vjp, save="none")

if hasattr(np, "cumulative_prod"):
    def _cumulative_prod_vjp(g, ans, x, *, axis=None, dtype=None, out=None, include_initial=False):
        ax = 0 if axis is None else axis
        if include_initial:                        # drop the leading initial entry (1)
            keep = (slice(None),) * (ax % g.ndim) + (slice(1, None),)
            g, ans = g[keep], ans[keep]
        return _cumprod_grad(g, x, ans, ax)

    defvjp(np.cumulative_prod, _cumulative_prod_vjp, save="both")


def _cumulative_on_device(func, cumulate, initial):
    """cumulative_sum/prod for backends without them (CuPy 13): cumsum/cumprod, with the initial
    value (0 or 1) prepended along the axis for include_initial=True. NumPy keeps its own rule."""
    rule = rule_for(func)

    def impl(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
        raw = _raw(x)
        if is_host_array(raw):
            kwargs = dict(axis=axis, dtype=dtype, out=out, include_initial=include_initial)
            return apply_function(func, rule, (x,), kwargs)
        x = np.atleast_1d(x)        # NumPy's steps: 0-d counts as 1-d, then accumulate's one axis
        if axis is None:
            if x.ndim > 1:
                raise ValueError("For arrays which have more than one dimension ``axis`` "
                                 "argument is required.")
            axis = 0
        axis = _single_axis("accumulate", axis, x.ndim)
        y = cumulate(x, axis=axis, **({} if dtype is None else {"dtype": dtype}))
        if include_initial:
            shape = tuple(1 if i == axis % y.ndim else n for i, n in enumerate(y.shape))
            first = _make(create_like(np.full, raw, shape, initial, dtype=y.dtype))
            y = np.concatenate((first, y), axis=axis)
        if out is not None:
            out[...] = y
            return out
        return y

    implements(func)(impl)


if hasattr(np, "cumulative_sum"):
    _cumulative_on_device(np.cumulative_sum, np.cumsum, 0)
if hasattr(np, "cumulative_prod"):
    _cumulative_on_device(np.cumulative_prod, np.cumprod, 1)


# ------------------------------------------------------------------------ counting and histograms
nondifferentiable(np.count_nonzero, np.all, np.any, np.digitize, np.histogram_bin_edges)


def _bincount_weights_vjp(g, ans, x, weights=None, minlength=0):
    return g[x]                         # out[b] = sum_{i: x_i = b} w_i


defvjp(np.bincount, None, _bincount_weights_vjp, save="args")

# np.histogram, np.histogram2d and np.histogramdd (differentiable weights, built on bincount's rule)
# are in histograms.py
