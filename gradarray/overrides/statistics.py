"""Rules for the statistics built on reductions: median, quantile, percentile (and their
nan-versions), average, cov and corrcoef.

Owns: the order-statistics VJP (``_order_statistics_grad``), NumPy's ``method=`` virtual indices,
the sort-based nanquantile composite for backends without one, and the composites average, cov
and corrcoef, written with differentiable ``np.*`` calls (sum, mean, matmul, ...).
Must not know about: how the reductions it calls are differentiated (it calls them through
``np.*``); from ``reductions`` it borrows only the argument helpers ``_raw``, ``_given``, ``_axes``.

Documented choices at non-differentiable points:

- median/quantile/percentile: the gradient goes to the one or two order statistics that the result
  interpolates, with the interpolation weights; with ties the order of ``argsort`` decides which
  of the equal elements receives it. A tracked ``q`` raises in backward (no rule for it).
- median/quantile/percentile of a slice holding a NaN: NumPy returns NaN (for every ``q`` and
  ``method``); the whole gradient of that result goes to the first NaN of the slice, the element
  np.max/argmax pick (PyTorch's median sends it to the NaN it returns, too), with weight 1.
- nan* functions: NaN positions get zero gradient.

Backends without a NumPy function (CuPy 13): nanquantile/nanpercentile/nanmedian on device arrays
are composites (sort + gathers) that give NumPy's values; on NumPy data NumPy's own function runs.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from .._backend import create_like, is_host_array
from .._array import GradArray, _make
from .._dispatch import apply_function
from .._registry import defvjp, implements, no_gradient, rule_for
from .indexing import scatter_index
from .reductions import _NoValue, _axes, _given, _raw


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
    lo, hi = order[rows, lo], order[rows, hi]       # positions in the unsorted slice
    if not nan and n and x.dtype.kind in "fc":
        # a NaN makes the result NaN: the slice's gradient goes to its first NaN alone
        isnan = np.isnan(xs)
        has_nan = np.any(isnan, axis=1)
        lo = np.where(has_nan, np.argmax(isnan, axis=1), lo)
        w, t = np.where(has_nan, 1, w).astype(x.dtype), np.where(has_nan, 0, t).astype(x.dtype)
    G = np.reshape(g, v.shape)
    grad = (scatter_index(G * w, pos[rows, lo], (x.size,))
            + scatter_index(G * t, pos[rows, hi], (x.size,)))
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
        result = _make(create_like(np.full, x, out_shape, np.nan, dtype=dtype))
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

    defvjp(func, vjp, no_gradient(f"np.{func.__name__}", "q"), save="args")
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
    if not hasattr(a, "shape"):          # array_like data beside tracked weights
        a = np.asarray(a, like=_raw(weights) if weights is not None else None)
    if weights is None:
        avg = np.mean(a, axis=axis, keepdims=keepdims)
        scale = a.size // avg.size if avg.size else 0
        if returned:
            return avg, _make(np.full_like(_raw(avg), scale))
        return avg
    if a.shape != weights.shape:
        if axis is None:
            raise TypeError("Axis must be specified when shapes of a and weights differ.")
        axes = normalize_axis_tuple(axis, a.ndim, argname="axis")
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
