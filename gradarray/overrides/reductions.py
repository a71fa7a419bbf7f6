"""Rules for reductions, cumulative reductions and statistics.

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
  A slice whose result is NaN (max) or whose result comes from ``initial=`` gives zero gradient.
- prod/cumprod with zeros: exact first derivatives (no division by zero); second derivatives are
  exact away from zeros.
- std where the variance is zero: the gradient is 0 (a subgradient), not NaN.
- median/quantile/percentile: the gradient goes to the one or two order statistics that the result
  interpolates, with the interpolation weights; with ties the order of ``argsort`` decides which
  of the equal elements receives it. ``q`` itself is not differentiable.
- nan* functions: NaN positions get zero gradient.

Backends without a NumPy function (CuPy 13): nanquantile/nanpercentile/nanmedian and
cumulative_sum/prod on device arrays are composites (sort + gathers; cumsum/cumprod) that give
NumPy's values; on NumPy data NumPy's own function runs. Internal calls never forward a keyword at
its default value (CuPy's mean has no ``where=``, for instance).
"""
from __future__ import annotations

import numpy as np

from .._backend import is_host_array
from .._core import (GradArray, NONDIFFERENTIABLE, _make, apply_function, apply_untracked,
                     is_grad_enabled)
from .._registry import conj, defvjp, implements, nondifferentiable, rule_for
from .indexing import scatter_index

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
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(sorted(int(a) % ndim for a in axes)) if ndim else ()


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
def _sum_vjp(g, ans, a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
    return _apply_mask(np.broadcast_to(_expand_reduced(g, a.shape, axis, keepdims), a.shape),
                       _mask(where))


def _nansum_vjp(g, ans, a, axis=None, dtype=None, out=None, keepdims=False, initial=None,
                where=True):
    return _apply_mask(np.broadcast_to(_expand_reduced(g, a.shape, axis, keepdims), a.shape),
                       _mask(where, a, nan=True))


def _mean_grad(g, a, axis, keepdims, valid):
    n = _count(a.shape, axis, valid)
    if valid is not True:
        n = np.maximum(n, 1)                  # empty slices: the gradient is masked out anyway
    return _apply_mask(np.broadcast_to(_expand_reduced(g, a.shape, axis, keepdims) / n, a.shape),
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
def _extremum_vjp(g, ans, a, axis=None, out=None, keepdims=False, initial=None, where=True):
    """The gradient goes to the elements equal to the result, shared evenly between ties.

    NaN never equals the result, so nanmax/nanmin skip NaNs; a slice whose result is NaN or comes
    from ``initial`` sends no gradient.
    """
    hit = _raw(a) == np.reshape(_raw(ans), _kept_shape(a.shape, axis))
    valid = _mask(where)
    if valid is not True:
        hit = hit & valid
    ties = np.maximum(np.sum(hit, axis=axis, keepdims=True), 1)
    return _expand_reduced(g, a.shape, axis, keepdims) * (hit / ties).astype(g.dtype)


for _f in (np.max, np.min, np.amax, np.amin, np.nanmax, np.nanmin):
    _reduction(_f, _extremum_vjp, save="both")


@implements(np.ptp)
def ptp(a, axis=None, out=None, keepdims=_NoValue):
    """max - min (ties share the gradient as in max/min)."""
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
        if axis is None:
            if raw.ndim > 1:
                raise ValueError("For arrays which have more than one dimension ``axis`` "
                                 "argument is required.")
            axis = 0
        y = cumulate(x, axis=axis, **({} if dtype is None else {"dtype": dtype}))
        if include_initial:
            shape = tuple(1 if i == axis % y.ndim else n for i, n in enumerate(y.shape))
            first = _make(np.full(shape, initial, dtype=y.dtype, like=raw))
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


# ------------------------------------------------------------------------ median and quantiles
def _reduction_layout(x, axis):
    """(reduced axes, kept axes, elements per slice, number of slices) of reducing ``x`` over
    ``axis``: the order statistics below work on (batch, n) with the reduced axes last."""
    axes = _axes(axis, x.ndim)
    kept = tuple(i for i in range(x.ndim) if i not in axes)
    n = 1
    for i in axes:
        n *= x.shape[i]
    return axes, kept, n, (x.size // n if n else 0)


def _order_statistics_grad(g, a, axis, ranks_statistic, nan):
    """VJP of median/quantile/percentile (and their nan-versions).

    Each result interpolates two adjacent order statistics: (1 - t) s[lo] + t s[hi] of the sorted
    slice s. The "virtual index" lo + t is read off by applying the same statistic (same q, same
    method) to the ranks 0..n-1, so every ``method=`` NumPy offers is covered. The gradient is
    scattered back to the elements that sort to positions lo and hi.
    """
    x = _raw(a)
    shape = x.shape
    axes, kept, n, batch = _reduction_layout(x, axis)
    # reduced axes last, flattened to (batch, n); pos maps each entry to its flat index in x
    perm = kept + axes
    xs = np.reshape(np.transpose(x, perm), (batch, n))
    pos = np.reshape(np.transpose(np.reshape(np.arange(x.size, like=x), shape), perm), (batch, n))
    order = np.argsort(xs, axis=1)
    ranks = np.broadcast_to(np.arange(n, dtype=np.float64, like=x), (batch, n))
    if nan:   # NaNs sort last: they get NaN ranks, which the nan-statistic skips
        ranks = np.where(np.isnan(np.take_along_axis(xs, order, axis=1)), np.nan, ranks)
    v = ranks_statistic(ranks)                      # q-shape + (batch,)
    valid = ~np.isnan(v)                            # all-NaN slices send no gradient
    v = np.where(valid, v, 0)
    lo = np.floor(v)
    t = np.where(valid, v - lo, 0).astype(x.dtype)
    w = np.where(valid, 1 - t, 0).astype(x.dtype)
    lo = lo.astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    rows = np.arange(batch, like=x)
    G = np.reshape(g, v.shape)
    grad = (scatter_index(G * w, pos[rows, order[rows, lo]], (x.size,))
            + scatter_index(G * t, pos[rows, order[rows, hi]], (x.size,)))
    return np.reshape(grad, shape)


# Virtual index V of the q-quantile among n sorted values, per NumPy's ``method=`` (Hyndman & Fan):
# continuous methods interpolate s[floor V] and s[floor V + 1]; the others pick one element.
_HF_ALPHA_BETA = {"interpolated_inverted_cdf": (0, 1), "hazen": (0.5, 0.5), "weibull": (0, 0),
                  "median_unbiased": (1 / 3.0, 1 / 3.0), "normal_unbiased": (3 / 8.0, 3 / 8.0)}


def _discrete_index(index, take_floor):
    """floor(index) where ``take_floor(fraction, index)``, else floor(index) + 1; at least 0."""
    prev = np.floor(index)
    return np.maximum(np.where(take_floor(index - prev, index), prev, prev + 1), 0)


def _virtual_index(n, q, method):
    """(V, discrete): V as in NumPy's quantile; ``discrete`` when V is an index (no interpolation)."""
    if method == "linear":
        return (n - 1) * q, False
    if method == "lower":
        return np.floor((n - 1) * q), True
    if method == "higher":
        return np.ceil((n - 1) * q), True
    if method == "nearest":
        return np.around((n - 1) * q), True      # halves to even, as NumPy
    if method == "midpoint":
        return 0.5 * (np.floor((n - 1) * q) + np.ceil((n - 1) * q)), False
    if method == "averaged_inverted_cdf":
        return n * q - 1, False
    if method == "inverted_cdf":
        return _discrete_index(n * q - 1, lambda frac, _: frac == 0), True
    if method == "closest_observation":       # the nearest even order statistic (1-based) at ties
        odd_floor = lambda frac, i: (frac == 0) & (np.floor(i) % 2 == 1)  # noqa: E731
        return _discrete_index(n * q - 1.5, odd_floor), True
    if method in _HF_ALPHA_BETA:
        alpha, beta = _HF_ALPHA_BETA[method]
        return n * q + (alpha + q * (1 - alpha - beta)) - 1, False
    raise ValueError(f"{method!r} is not a valid method")


def _nan_quantile_composite(a, q, axis, method, keepdims, out):
    """nanquantile (q in [0, 1]) built from sort, for backends without it (CuPy 13 lacks
    nanquantile/nanpercentile): NaNs sort last, so the n non-NaN values of a slice are
    s[0], ..., s[n-1] of the sorted slice s, and the result interpolates them as NumPy does.
    The gradient flows through the sort's gather (same convention as the rule above)."""
    x = _raw(a)
    if type(a) is not GradArray:
        a = _make(x)
    shape, ndim = x.shape, x.ndim
    axes, kept, size, batch = _reduction_layout(x, axis)
    q = np.asarray(_raw(q), dtype=np.float64, like=x)
    if not bool(np.all((q >= 0) & (q <= 1))):
        raise ValueError("Quantiles must be in the range [0, 1]")
    out_shape = q.shape + (tuple(1 if i in axes else shape[i] for i in range(ndim))
                           if _given(keepdims, False) else tuple(shape[i] for i in kept))
    dtype = x.dtype if x.dtype.kind in "fc" else np.dtype(np.float64)
    if size == 0 or batch == 0:
        result = _make(np.full(out_shape, np.nan, dtype=dtype, like=x))
    else:
        xs = np.reshape(np.transpose(a, kept + axes), (batch, size))
        if xs.dtype != dtype:
            xs = xs.astype(dtype)
        s = np.sort(xs, axis=1)                                    # NaNs last
        n = np.reshape(np.sum(~np.isnan(_raw(xs)), axis=1), (1, batch)).astype(np.float64)
        qv = np.reshape(q, (-1, 1))
        v, discrete = _virtual_index(n, qv, method)
        rows = np.arange(batch, like=x)
        last = size - 1

        def at(i):                 # s[row, i] for an index array i shaped (len(q), batch)
            return s[rows, np.clip(i, 0, last).astype(np.intp)]

        if discrete:
            result = at(v)
        else:
            # NumPy's _get_indexes: past the last valid value take it (prev = -1), below 0 the
            # first; gamma is then NumPy's too, although low == high makes it irrelevant
            prev = np.floor(v)
            above, below = v >= n - 1, v < 0
            prev = np.where(below, 0, np.where(above, -1, prev))
            gamma = v - prev
            if method == "averaged_inverted_cdf":
                gamma = np.where(gamma == 0, 0.5, 1.0)
            elif method == "midpoint":
                gamma = np.where(v % 1 == 0, 0.0, 0.5)
            lo = np.where(prev < 0, n - 1, prev)
            hi = np.where(prev < 0, n - 1, np.where(below, 0, prev + 1))
            t = gamma.astype(dtype)
            low, high = at(lo), at(hi)
            diff = high - low
            result = np.where(t >= 0.5, high - diff * (1 - t), low + diff * t)   # NumPy's _lerp
        empty = n == 0
        if bool(np.any(empty)):
            import warnings
            warnings.warn("All-NaN slice encountered", RuntimeWarning, stacklevel=3)
            result = np.where(empty, np.nan, result)
        result = np.reshape(result, out_shape)
    if out is not None:
        out[...] = result
        return out
    return result


def _quantile_rule(func):
    """Rule for quantile/percentile and their nan-versions: func(a, q, axis, ..., method, ...)."""
    nan = func in (np.nanquantile, np.nanpercentile)
    scale = 100 if func in (np.percentile, np.nanpercentile) else 1

    def vjp(g, ans, a, q, axis=None, out=None, overwrite_input=False, method="linear",
            keepdims=False, *, weights=None, interpolation=None):
        if weights is not None:
            raise NotImplementedError(f"np.{func.__name__}: the gradient with weights= is not "
                                      "implemented")
        method = interpolation if interpolation is not None else method
        how = {} if method == "linear" else {"method": method}
        stat = lambda r: func(r, _raw(q), axis=1, **how)  # noqa: E731
        return _order_statistics_grad(g, a, axis, stat, nan)

    defvjp(func, vjp, None, save="args")
    rule = rule_for(func)

    def impl(a, q, axis=None, out=None, overwrite_input=False, *args, **kwargs):
        if nan and not is_host_array(_raw(a)):
            return _nan_quantile_on_device(func, scale, a, q, axis, out, *args, **kwargs)
        # overwrite_input would reorder the saved input behind the tape's back
        return apply_function(func, rule, (a, q, axis, out, False) + args, kwargs)

    implements(func)(impl)


def _nan_quantile_on_device(func, scale, a, q, axis=None, out=None, method="linear",
                            keepdims=_NoValue, *, weights=None, interpolation=None):
    if weights is not None:
        raise NotImplementedError(f"np.{func.__name__} with weights= is not available on this "
                                  "backend (it has no nanquantile)")
    method = interpolation if interpolation is not None else method
    q = _raw(q)
    if scale != 1:
        q = np.asarray(q, dtype=np.float64, like=_raw(a)) / scale
    return _nan_quantile_composite(a, q, axis, method, keepdims, out)


def _median_rule(func):
    nan = func is np.nanmedian

    def vjp(g, ans, a, axis=None, out=None, overwrite_input=False, keepdims=False):
        return _order_statistics_grad(g, a, axis, lambda r: func(r, axis=1), nan)

    defvjp(func, vjp, save="args")
    rule = rule_for(func)

    def impl(a, axis=None, out=None, overwrite_input=False, keepdims=False):
        if nan and not is_host_array(_raw(a)):     # as nanquantile: the same composite
            return _nan_quantile_composite(a, 0.5, axis, "linear", keepdims, out)
        return apply_function(func, rule, (a, axis, out, False, keepdims), {})

    implements(func)(impl)


for _f in (np.quantile, np.nanquantile, np.percentile, np.nanpercentile):
    _quantile_rule(_f)
for _f in (np.median, np.nanmedian):
    _median_rule(_f)


# ------------------------------------------------------------------------------------- average
@implements(np.average)
def average(a, axis=None, weights=None, returned=False, *, keepdims=_NoValue):
    """Weighted mean; differentiable in ``a`` and in ``weights``."""
    keepdims = _given(keepdims, False)
    if weights is None:
        avg = np.mean(a, axis=axis, keepdims=keepdims)
        scale = a.size // avg.size if avg.size else 0
        if returned:
            return avg, _make(np.full_like(_raw(avg), scale))
        return avg
    if a.shape != weights.shape:
        if axis is None:
            raise TypeError("Axis must be specified when shapes of a and weights differ.")
        axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
        axes = tuple(int(ax) % a.ndim for ax in axes)
        if weights.shape != tuple(a.shape[ax] for ax in axes):
            raise ValueError("Shape of weights must be consistent with shape of a along "
                             "specified axis.")
        if list(axes) != sorted(axes):
            weights = np.transpose(weights, np.argsort(axes))
        # weights broadcast along the other axes
        weights = np.reshape(weights, tuple(s if ax in axes else 1 for ax, s in enumerate(a.shape)))
    scale = np.sum(weights, axis=axis, keepdims=keepdims)
    if np.any(_raw(scale) == 0):
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")
    avg = np.sum(a * weights, axis=axis, keepdims=keepdims) / scale
    if returned:
        if scale.shape != avg.shape:
            scale = np.broadcast_to(scale, avg.shape)
        return avg, scale
    return avg


# ----------------------------------------------------------------------------- cov and corrcoef
def _as_rows(x, rowvar, dtype, like):
    """``x`` as a 2-D array of variables (rows) by observations, like np.cov's preprocessing."""
    if type(x) is not GradArray:
        x = np.asarray(x, like=_raw(like))
    if x.ndim > 2:
        raise ValueError("m has more than 2 dimensions")
    if x.dtype != dtype:
        x = x.astype(dtype)
    if x.ndim < 2:
        x = np.reshape(x, (1, x.size))
    if not rowvar and x.shape[0] != 1:
        x = x.T
    return x


@implements(np.cov)
def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *,
        dtype=None):
    """Covariance as a composite of differentiable primitives (NumPy's own code calls asarray).

    Differentiable in m, y and (as weights of the mean and the products) aweights/fweights.
    """
    if ddof is not None and ddof != int(ddof):
        raise ValueError("ddof must be integer")
    like = m if type(m) is GradArray else y
    if dtype is None:
        dtype = np.result_type(np.dtype(getattr(m, "dtype", np.float64)),
                               np.dtype(getattr(y, "dtype", np.float64)), np.float64)
    X = _as_rows(m, rowvar, dtype, like)
    if y is not None:
        X = np.concatenate((X, _as_rows(y, rowvar, dtype, like)), axis=0)
    if ddof is None:
        ddof = 0 if bias else 1
    w = None
    if fweights is not None:
        w = fweights
    if aweights is not None:
        w = aweights if w is None else w * aweights
    avg, w_sum = average(X, axis=1, weights=w, returned=True)
    w_sum = w_sum[0]
    if w is None:
        fact = X.shape[1] - ddof
    elif ddof == 0:
        fact = w_sum
    elif aweights is None:
        fact = w_sum - ddof
    else:
        fact = w_sum - ddof * np.sum(w * aweights) / w_sum
    if fact <= 0:
        import warnings
        warnings.warn("Degrees of freedom <= 0 for slice", RuntimeWarning, stacklevel=2)
        fact = 0.0
    X = X - np.reshape(avg, (-1, 1))
    X_w = X if w is None else X * w
    c = np.matmul(X, np.conjugate(X_w).T) / fact
    # NumPy squeezes: (1, 1) -> 0-d for a single variable
    return np.reshape(c, tuple(s for s in c.shape if s != 1))


@implements(np.corrcoef)
def corrcoef(x, y=None, rowvar=True, bias=_NoValue, ddof=_NoValue, *, dtype=None):
    """Correlation coefficients: cov / (std_i std_j), clipped to [-1, 1] like NumPy."""
    c = cov(x, y, rowvar, dtype=dtype)
    if c.ndim == 0:
        return c / c
    i = np.arange(c.shape[0], like=_raw(c))
    d = c[i, i]
    std = np.sqrt(np.real(d) if d.dtype.kind == "c" else d)
    c = c / np.reshape(std, (-1, 1)) / np.reshape(std, (1, -1))
    if c.dtype.kind == "c":
        return np.clip(np.real(c), -1, 1) + 1j * np.clip(np.imag(c), -1, 1)
    return np.clip(c, -1, 1)


# ------------------------------------------------------------------------ counting and histograms
nondifferentiable(np.count_nonzero, np.all, np.any, np.digitize, np.histogram_bin_edges)


def _bincount_weights_vjp(g, ans, x, weights=None, minlength=0):
    return g[x]                         # out[b] = sum_{i: x_i = b} w_i


defvjp(np.bincount, None, _bincount_weights_vjp, save="args")


def _counts_only(func, weights_at):
    """Histograms: counts are piecewise constant in the samples (zero gradient, untracked); a
    tracked ``weights=`` would need a gradient, which is refused rather than silently dropped."""
    NONDIFFERENTIABLE.add(func)

    def impl(*args, **kwargs):
        weights = kwargs.get("weights", args[weights_at] if len(args) > weights_at else None)
        if _tracked(weights):
            raise TypeError(f"np.{func.__name__}: the gradient with respect to weights= is not "
                            "implemented; use np.bincount(np.digitize(x, edges), weights=w) for "
                            "a differentiable weighted histogram, or detach the weights")
        return apply_untracked(func, args, kwargs)

    implements(func)(impl)


_counts_only(np.histogram, 4)
_counts_only(np.histogram2d, 5)
_counts_only(np.histogramdd, 4)
