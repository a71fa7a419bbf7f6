"""Reductions, cumulative reductions and statistics: gradients against finite differences, forward
values against NumPy, and the documented conventions (ties, zeros, NaNs, zero variance)."""
import warnings

import numpy as np
import pytest

import gradarray as ga
from gradarray.testing import gradcheck, gradgradcheck

R = np.random.default_rng(42)
X2 = R.standard_normal((3, 4))                       # distinct values: no ties
X1 = R.standard_normal(5)
XC = R.standard_normal((3, 4)) + 1j * R.standard_normal((3, 4))
AXES = [None, 0, 1, -1, (0, 1)]


def _host(backend, r):
    return backend.to_host(r._data if isinstance(r, ga.GradArray) else r)


def _const(backend, arr):
    """A constant for ``f(x)``: host array for the NumPy reference call, else on x's backend."""
    on_backend = backend.asarray(arr)
    return lambda x: arr if isinstance(x, np.ndarray) else on_backend


def check(backend, f, x, *others, forward=True, **kw):
    """gradcheck of f at x (a host array), plus f(GradArray) == f(ndarray) when ``forward``.

    gradcheck's finite differences call ``f`` on raw backend arrays; for a function the device
    backend lacks (CuPy has no nanquantile, cumulative_sum, ...) gradarray supplies it only for
    GradArrays, so ``f`` then receives its argument as a GradArray.
    """
    xb = backend.asarray(x)
    if forward:
        got = f(ga.asarray(xb), *others)
        np.testing.assert_allclose(_host(backend, got), f(x, *others), rtol=1e-6, atol=1e-12)
    if backend.name != "numpy":
        f = _on_gradarray(f)
    assert gradcheck(f, xb, *others, **kw)


def _on_gradarray(f):
    return lambda x, *others: f(ga.asarray(x), *others)


def _cupy_lacks(backend, what):
    """Skip on the CuPy-like stand-in a keyword CuPy's function genuinely does not take."""
    if backend.name != "numpy":
        pytest.skip(f"CuPy 13 has no {what} (the user's forward call itself fails there)")


# ------------------------------------------------------------------------------------------ sum/mean
@pytest.mark.parametrize("func", [np.sum, np.mean])
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_sum_mean_axes(backend, func, axis, keepdims):
    check(backend, lambda x: func(x, axis=axis, keepdims=keepdims), X2)


@pytest.mark.parametrize("func", [np.sum, np.mean, np.prod])
def test_0d_and_complex(backend, func):
    check(backend, func, np.array(1.7))
    check(backend, lambda x: func(x, axis=1), XC)


def test_sum_where_initial(backend):
    _cupy_lacks(backend, "where=/initial= in cupy.sum")
    m = backend.asarray(X2 > 0)
    x = backend.asarray(X2)
    assert gradcheck(lambda x: np.sum(x, axis=0, where=m), x)
    assert gradcheck(lambda x: np.sum(x, initial=3.0), x)


def test_sum_dtype(backend):
    x = backend.asarray(X2)
    assert gradcheck(lambda x: np.sum(x, axis=1, dtype=np.complex128), x)
    x32 = backend.asarray(X2.astype(np.float32))
    assert gradcheck(lambda x: np.sum(x, axis=0, dtype=np.float64), x32)


def test_where_as_tracked_comparison(backend):
    """where= given as a GradArray mask (x > 0) is a common spelling."""
    _cupy_lacks(backend, "where= in its reductions")
    x = ga.asarray(backend.asarray(X2), requires_grad=True)
    for func in (np.sum, np.mean, np.prod, np.var, np.std, np.max):
        x.grad = None
        extra = {"initial": -5.0} if func is np.max else {}
        func(x, axis=1, where=x > -0.5, **extra).sum().backward()
        g = _host(backend, x.grad)
        assert np.all(g[X2 <= -0.5] == 0), func.__name__


def test_mean_where_float32(backend):
    _cupy_lacks(backend, "where= in cupy.mean")
    mask = _const(backend, X2 > 0)
    check(backend, lambda x: np.mean(x, axis=1, where=mask(x)), X2.astype(np.float32))


# ---------------------------------------------------------------------------------------------- prod
@pytest.mark.parametrize("axis", AXES)
def test_prod_axes(backend, axis):
    check(backend, lambda x: np.prod(x, axis=axis), X2)


@pytest.mark.parametrize("zeros", [[1], [0, 3], [1, 2, 4]])
def test_prod_with_zeros(backend, zeros):
    """Exact gradient with one and several zeros (prod is multilinear: central differences are
    exact there)."""
    x = X1.copy()
    x[zeros] = 0
    check(backend, np.prod, x)
    xb = ga.asarray(backend.asarray(x), requires_grad=True)
    np.prod(xb).backward()
    g = _host(backend, xb.grad)
    assert np.all(np.isfinite(g))
    if len(zeros) == 1:      # the product of the others at the zero, 0 elsewhere
        expected = np.zeros(5)
        expected[zeros[0]] = np.prod(np.delete(x, zeros[0]))
        np.testing.assert_allclose(g, expected)
    else:
        assert np.all(g == 0)


def test_prod_zero_rows_complex_where_initial(backend):
    x = X2.copy()
    x[1, 2] = 0
    x[2, 0] = x[2, 3] = 0
    check(backend, lambda x: np.prod(x, axis=1), x)
    xc = XC.copy()
    xc[0, 1] = 0
    check(backend, lambda x: np.prod(x, axis=1), xc)
    _cupy_lacks(backend, "initial=/where= in cupy.prod")
    check(backend, lambda x: np.prod(x, axis=0, keepdims=True, initial=2.0), x)
    m = X2 > -0.3
    assert gradcheck(lambda x: np.prod(x, axis=1, where=backend.asarray(m)), backend.asarray(x))


# ------------------------------------------------------------------------------------------- var/std
@pytest.mark.parametrize("func", [np.var, np.std])
@pytest.mark.parametrize("axis,ddof,keepdims", [(None, 0, False), (0, 1, False), (1, 0, True),
                                                (-1, 2, False), ((0, 1), 1, True)])
def test_var_std(backend, func, axis, ddof, keepdims):
    check(backend, lambda x: func(x, axis=axis, ddof=ddof, keepdims=keepdims), X2)


@pytest.mark.parametrize("func", [np.var, np.std])
def test_var_std_complex_correction_where(backend, func):
    check(backend, lambda x: func(x, axis=1), XC)
    check(backend, lambda x: func(x, axis=0), X2.astype(np.float32))
    _cupy_lacks(backend, f"correction=/where= in cupy.{func.__name__}")
    check(backend, lambda x: func(x, axis=0, correction=1), X2)
    m = X2 > -0.8
    assert gradcheck(lambda x: func(x, axis=1, where=backend.asarray(m)), backend.asarray(X2))


def test_var_with_given_mean(backend):
    _cupy_lacks(backend, "mean= in cupy.var")
    x = backend.asarray(X2)
    mean = backend.asarray(X2.mean(axis=1, keepdims=True) + 0.1)
    assert gradcheck(lambda x: np.var(x, axis=1, mean=mean), x)


def test_std_zero_variance_is_finite(backend):
    """Documented: at zero variance the gradient of std is 0, not NaN."""
    x = ga.asarray(backend.asarray(np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]])), requires_grad=True)
    np.std(x, axis=1).sum().backward()
    g = _host(backend, x.grad)
    assert np.all(g[0] == 0) and np.all(np.isfinite(g))


# ------------------------------------------------------------------------------------------- max/min
@pytest.mark.parametrize("func", [np.max, np.min, np.amax, np.amin, np.ptp])
@pytest.mark.parametrize("axis", AXES)
def test_max_min_axes(backend, func, axis):
    check(backend, lambda x: func(x, axis=axis), X2)
    check(backend, lambda x: func(x, axis=axis, keepdims=True), X2)


def test_max_ties_share_gradient_evenly(backend):
    """Documented convention (PyTorch's amax): tied maxima share the gradient evenly."""
    x = ga.asarray(backend.asarray(np.array([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, -1.0]])),
                   requires_grad=True)
    np.max(x, axis=1).sum().backward()
    np.testing.assert_allclose(_host(backend, x.grad), [[0, .5, .5, 0], [1 / 3, 1 / 3, 1 / 3, 0]])
    y = ga.asarray(backend.asarray(np.array([2.0, -1.0, -1.0])), requires_grad=True)
    np.min(y).backward()
    np.testing.assert_allclose(_host(backend, y.grad), [0, .5, .5])


def test_max_initial_and_where(backend):
    _cupy_lacks(backend, "initial=/where= in cupy.max")
    x = backend.asarray(X2)
    # initial above every element: the result does not depend on x
    xg = ga.asarray(x, requires_grad=True)
    np.max(xg, axis=1, initial=10.0).sum().backward()
    assert np.all(_host(backend, xg.grad) == 0)
    assert gradcheck(lambda x: np.max(x, axis=0, initial=-10.0), x)
    m = backend.asarray(X2 < 0.5)
    assert gradcheck(lambda x: np.max(x, axis=1, where=m, initial=-10.0), x)


def test_max_complex_and_float32(backend):
    check(backend, lambda x: np.max(x, axis=1), X2.astype(np.float32))


# ------------------------------------------------------------------------------------- nan-functions
NAN = np.zeros((3, 4))
NAN[0, 1] = NAN[2, 3] = NAN[2, 0] = np.nan


@pytest.mark.parametrize("func", [np.nansum, np.nanmean, np.nanprod, np.nanvar, np.nanstd,
                                  np.nanmax, np.nanmin, np.nanmedian])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_nan_functions(backend, func, axis):
    """x + NAN puts NaNs at fixed places: their gradient must be 0 (and the others exact)."""
    nan = _const(backend, NAN)
    f = lambda x: func(x + nan(x), axis=axis)  # noqa: E731
    check(backend, f, X2)
    xg = ga.asarray(backend.asarray(X2), requires_grad=True)
    np.sum(f(xg)).backward()
    g = _host(backend, xg.grad)
    assert np.all(g[np.isnan(NAN)] == 0) and np.all(np.isfinite(g))


def test_nan_all_nan_slice(backend):
    x = np.array([[np.nan, np.nan], [1.0, 2.0]])
    for func in (np.nanmean, np.nanmax, np.nanmedian):
        xg = ga.asarray(backend.asarray(x), requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            y = func(xg, axis=1)
            y[1].backward()
        g = _host(backend, xg.grad)
        assert np.all(g[0] == 0) and np.all(np.isfinite(g)), func.__name__


# ------------------------------------------------------------------------------------ cumsum/cumprod
@pytest.mark.parametrize("func", [np.cumsum, np.cumprod])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_cumulative(backend, func, axis):
    check(backend, lambda x: func(x, axis=axis), X2)
    check(backend, lambda x: func(x, axis=axis), XC)


@pytest.mark.parametrize("zeros", [[2], [1, 3], [0, 4]])
def test_cumprod_with_zeros(backend, zeros):
    x = X1.copy()
    x[zeros] = 0
    check(backend, np.cumprod, x)
    xc = X1 + 1j * X1[::-1]
    xc[zeros] = 0
    check(backend, np.cumprod, xc)


def test_cumprod_zeros_2d(backend):
    x = X2.copy()
    x[0, 1] = x[1, 0] = x[1, 2] = x[2, 3] = 0
    check(backend, lambda x: np.cumprod(x, axis=1), x)
    check(backend, lambda x: np.cumprod(x, axis=0), x)


@pytest.mark.parametrize("func", [np.nancumsum, np.nancumprod])
def test_nancumulative(backend, func):
    nan = _const(backend, NAN)
    f = lambda x: func(x + nan(x), axis=1)  # noqa: E731
    check(backend, f, X2)


def test_cumulative_array_api(backend):
    check(backend, lambda x: np.cumulative_sum(x, axis=1, include_initial=True), X2)
    check(backend, lambda x: np.cumulative_prod(x, axis=0), X2)
    check(backend, lambda x: np.cumulative_prod(x, axis=1, include_initial=True), X2)


# -------------------------------------------------------------------------------- median/quantiles
@pytest.mark.parametrize("axis", AXES)
def test_median(backend, axis):
    check(backend, lambda x: np.median(x, axis=axis), X2)
    check(backend, lambda x: np.median(x, axis=axis, keepdims=True), X2)


METHODS = ["linear", "lower", "higher", "nearest", "midpoint", "inverted_cdf",
           "averaged_inverted_cdf", "closest_observation", "interpolated_inverted_cdf", "hazen",
           "weibull", "median_unbiased", "normal_unbiased"]


@pytest.mark.parametrize("method", METHODS)
def test_quantile_methods(backend, method):
    q = [0.0, 0.2, 0.55, 1.0]
    check(backend, lambda x: np.quantile(x, q, axis=1, method=method), X2)


@pytest.mark.parametrize("func,q", [(np.quantile, 0.3), (np.percentile, [10.0, 75.0]),
                                    (np.nanquantile, [0.4, 0.9]), (np.nanpercentile, 50.0)])
@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, True), (-1, False), ((0, 1), True)])
def test_quantile_axes(backend, func, q, axis, keepdims):
    check(backend, lambda x: func(x, q, axis=axis, keepdims=keepdims), X2)


def test_nanquantile_with_nans(backend):
    nan = _const(backend, NAN)
    f = lambda x: np.nanquantile(x + nan(x), [0.25, 0.5], axis=1)  # noqa: E731
    check(backend, f, X2)


@pytest.mark.parametrize("method", METHODS)
def test_nanquantile_composite_matches_numpy(backend, method):
    """The sort-based nanquantile used where the backend has none (CuPy) gives NumPy's values for
    every method, with NaNs in some slices and an all-NaN slice, and exact gradients."""
    from gradarray.overrides.statistics import _nan_quantile_composite
    x = np.round(R.standard_normal((4, 5)), 1)          # rounding makes ties
    x[0, 1] = x[2, 3] = x[2, 0] = np.nan
    x[3] = np.nan
    q = [0.0, 0.1, 0.25, 0.5, 0.8, 1.0]
    with pytest.warns(RuntimeWarning, match="All-NaN"):
        got = _nan_quantile_composite(ga.asarray(backend.asarray(x)), q, 1, method, False, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = np.nanquantile(x, q, axis=1, method=method)
    np.testing.assert_allclose(_host(backend, got), ref, rtol=0, atol=1e-15)
    nan = _const(backend, np.where(np.isnan(X2), 0, NAN))
    assert gradcheck(lambda x: _nan_quantile_composite(ga.asarray(x + nan(x)), [0.3, 0.6],
                                                       (0, 1), method, True, None), backend.asarray(X2))


def test_nan_order_statistics_values(backend):
    """nanmedian/nanpercentile on a device array (composite there) agree with NumPy."""
    x = X2 + NAN
    xb = ga.asarray(backend.asarray(x))
    for f, args in ((np.nanmedian, ()), (np.nanpercentile, ([20.0, 60.0],)),
                    (np.nanquantile, (0.5,))):
        for kw in ({"axis": 0}, {"axis": 1, "keepdims": True}, {}):
            np.testing.assert_allclose(_host(backend, f(xb, *args, **kw)), f(x, *args, **kw),
                                       rtol=1e-12)


def test_median_overwrite_input_keeps_gradient(backend):
    """overwrite_input=True must not reorder the array saved for backward (x * 1 is a fresh array
    that NumPy may overwrite; the finite-difference reference must not see its input reordered)."""
    x = backend.asarray(X1)
    assert gradcheck(lambda x: np.median(x * 1.0, overwrite_input=True), x)
    assert gradcheck(lambda x: np.quantile(x * 1.0, 0.3, overwrite_input=True), x)


# -------------------------------------------------------------------------------------------- average
def test_average(backend):
    w1 = R.uniform(0.5, 2, 4)
    w2 = R.uniform(0.5, 2, (3, 4))
    x, wb1, wb2 = backend.asarray(X2), backend.asarray(w1), backend.asarray(w2)
    assert gradcheck(lambda x: np.average(x), x)
    assert gradcheck(lambda x: np.average(x, axis=0, keepdims=True), x)
    assert gradcheck(lambda x, w: np.average(x, axis=1, weights=w), x, wb1)
    assert gradcheck(lambda x, w: np.average(x, weights=w), x, wb2)
    assert gradcheck(lambda x, w: np.average(x, axis=0, weights=w, returned=True), x, wb2)
    avg, scl = np.average(ga.asarray(x), axis=1, weights=ga.asarray(wb1), returned=True)
    ref = np.average(X2, axis=1, weights=w1, returned=True)
    np.testing.assert_allclose(_host(backend, avg), ref[0])
    np.testing.assert_allclose(_host(backend, scl), ref[1])
    avg, scl = np.average(ga.asarray(x), axis=0, returned=True)
    np.testing.assert_allclose(_host(backend, scl), np.average(X2, axis=0, returned=True)[1])


# ---------------------------------------------------------------------------------------- cov/corrcoef
@pytest.mark.parametrize("kw", [{}, {"rowvar": False}, {"bias": True}, {"ddof": 2},
                                {"fweights": np.array([1, 2, 1, 3])},
                                {"aweights": np.array([0.5, 1.0, 2.0, 1.5])},
                                {"fweights": np.array([1, 2, 1, 3]),
                                 "aweights": np.array([0.5, 1.0, 2.0, 1.5])}])
def test_cov(backend, kw):
    kwb = {k: backend.asarray(v) for k, v in kw.items() if isinstance(v, np.ndarray)}
    kwb.update({k: v for k, v in kw.items() if not isinstance(v, np.ndarray)})
    if kw.get("rowvar") is False:
        kwb["fweights"] = None
    x = backend.asarray(X2)
    got = np.cov(ga.asarray(x), **kwb)
    np.testing.assert_allclose(_host(backend, got), np.cov(X2, **kw))
    assert gradcheck(lambda x: np.cov(x, **kwb), x)


def test_cov_y_complex_1d_aweights_grad(backend):
    x, y = backend.asarray(X1), backend.asarray(X1[::-1] ** 2)
    assert gradcheck(lambda x, y: np.cov(x, y), x, y)
    np.testing.assert_allclose(_host(backend, np.cov(ga.asarray(x))), np.cov(X1))
    xc = backend.asarray(XC)
    np.testing.assert_allclose(_host(backend, np.cov(ga.asarray(xc))), np.cov(XC))
    assert gradcheck(np.cov, xc)
    aw = backend.asarray(np.array([0.5, 1.0, 2.0, 1.5]))
    assert gradcheck(lambda x, w: np.cov(x, aweights=w), backend.asarray(X2), aw)


def test_corrcoef(backend):
    x = backend.asarray(X2)
    np.testing.assert_allclose(_host(backend, np.corrcoef(ga.asarray(x))), np.corrcoef(X2))
    assert gradcheck(np.corrcoef, x)
    assert gradcheck(lambda x: np.corrcoef(x, rowvar=False), x)
    assert gradcheck(lambda a, b: np.corrcoef(a, b), backend.asarray(X1),
                     backend.asarray(np.sin(X1) + X1))


# -------------------------------------------------------------------------------- gradgradcheck
@pytest.mark.parametrize("f", [
    lambda x: np.prod(x, axis=1),
    lambda x: np.mean(x, axis=0) ** 2,
    lambda x: np.var(x, axis=1, ddof=1),
    lambda x: np.std(x, axis=0),
    lambda x: np.max(x, axis=1) * np.min(x, axis=1),
    lambda x: np.cumsum(x, axis=1) ** 2,
    lambda x: np.cumprod(x, axis=0),
    lambda x: np.quantile(x, [0.3, 0.8], axis=1) ** 2,
    lambda x: np.median(x) * x,
    lambda x: np.nanvar(x, axis=0),
    lambda x: np.average(x, axis=1, weights=np.sin(x[0])),
    lambda x: np.cov(x),
    lambda x: np.ptp(x, axis=0) ** 2,
], ids=["prod", "mean", "var", "std", "maxmin", "cumsum", "cumprod", "quantile", "median",
        "nanvar", "average", "cov", "ptp"])
def test_gradgrad(backend, f):
    assert gradgradcheck(f, backend.asarray(X2))


# ---------------------------------------------------------------------- methods, untracked outputs
def test_methods(backend):
    x = backend.asarray(X2)
    assert gradcheck(lambda x: x.sum(axis=0) + x.mean(), x)
    xg = ga.asarray(x, requires_grad=True)
    (xg.std() + xg.var(axis=1).sum() + xg.max() + xg.min(axis=0).sum() + xg.prod()
     + xg.cumsum(axis=1).sum() + xg.cumprod().sum() + xg.ptp()).backward()
    ref = ga.asarray(x, requires_grad=True)
    (np.std(ref) + np.var(ref, axis=1).sum() + np.max(ref) + np.min(ref, axis=0).sum()
     + np.prod(ref) + np.cumsum(ref, axis=1).sum() + np.cumprod(ref).sum()
     + np.ptp(ref)).backward()
    np.testing.assert_allclose(_host(backend, xg.grad), _host(backend, ref.grad))


def test_nondifferentiable_outputs(backend):
    x = ga.asarray(backend.asarray(X2), requires_grad=True)
    for y in (np.count_nonzero(x > 0), np.all(x > -5), np.any(x > 5),
              np.digitize(x, backend.asarray(np.array([-1.0, 0.0, 1.0])))):
        assert not y.requires_grad
    counts, edges = np.histogram(x, bins=3)
    # counts are step functions of x; the edges NumPy computes from min/max are tracked on purpose
    # (they depend on the extreme samples), and weights= is differentiable (test_legacy_numpy.py)
    assert not counts.requires_grad
    np.testing.assert_array_equal(_host(backend, counts), np.histogram(X2, bins=3)[0])


def test_bincount_weights(backend):
    idx = backend.asarray(np.array([0, 2, 2, 1, 4, 0]))
    w = backend.asarray(R.standard_normal(6))
    assert gradcheck(lambda w: np.bincount(idx, weights=w, minlength=6), w)
    assert gradcheck(lambda w: np.bincount(idx, w), w)
