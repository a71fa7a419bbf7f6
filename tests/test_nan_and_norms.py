"""Regression tests: NaN inputs of reductions and selections send the gradient where NumPy's value
comes from, and second derivatives of complex np.linalg.norm with ord other than None/2/'fro'.

NaN conventions (see the module docstrings of overrides/reductions.py, statistics.py, ufuncs.py):
max/min/median/quantile of a slice holding a NaN return NaN and send the whole gradient to the
first NaN of the slice (argmax's choice); maximum/minimum send it to the NaN operand, fmax/fmin to
the other one; nan-functions skip NaNs; sort/partition gathers follow argsort (NaNs last).
"""
import warnings

import numpy as np
import pytest

import gradarray as ga
from gradarray.testing import gradcheck, gradgradcheck

nan = np.nan
# row 0: two NaNs (the first at column 1); row 1: no NaN, a tie for the max (2.0) and the min;
# row 2: one NaN at the end
XN = np.array([[3.0, nan, -1.0, nan, 0.5],
               [2.0, -4.0, 2.0, -4.0, 1.0],
               [0.25, 1.5, -2.0, 0.75, nan]])
# the same NaNs, no ties (for the order statistics, checked against finite differences)
XS = np.where(np.isnan(XN), nan, np.random.default_rng(7).standard_normal(XN.shape))


class NumpyBackend:
    """For the NumPy-only checks (keywords CuPy lacks): the ``backend`` fixture's interface."""
    asarray = staticmethod(np.asarray)
    to_host = staticmethod(np.asarray)


def _grad(backend, f, x, seed=None):
    """Gradient of sum(f(x) * seed) (seed: ones) at the host array ``x``, as a host array."""
    xg = ga.asarray(backend.asarray(x), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        y = f(xg)
        (np.sum(y) if seed is None else np.sum(y * backend.asarray(seed))).backward()
    return backend.to_host(xg.grad._data)


def _slices(x, axis):
    """(view of x as (..., n) with the reduced axes last, function mapping such an array back)."""
    axes = tuple(range(x.ndim)) if axis is None else (axis,) if isinstance(axis, int) else axis
    axes = tuple(a % x.ndim for a in axes)
    perm = [i for i in range(x.ndim) if i not in axes] + sorted(axes)
    moved = np.transpose(x, perm)
    flat = moved.reshape(moved.shape[:x.ndim - len(axes)] + (-1,))
    return flat, lambda a: np.transpose(a.reshape(moved.shape), np.argsort(perm))


def _expected_extremum(x, axis, pick, nan_propagates=True):
    """Reference: first NaN of a slice (if NaNs propagate), else the ties of the result share."""
    flat, back = _slices(x, axis)
    g = np.zeros_like(flat)
    for idx in np.ndindex(flat.shape[:-1]):
        row, out = flat[idx], g[idx]
        if nan_propagates and np.isnan(row).any():
            out[np.argmax(np.isnan(row))] = 1.0
        elif not np.isnan(row).all():
            hit = row == pick(row[~np.isnan(row)])
            out[hit] = 1.0 / hit.sum()
    return back(g)


# ------------------------------------------------------------------------------------ max and min
@pytest.mark.parametrize("func", [np.max, np.min, np.amax, np.amin])
def test_max_min_nan_gradient_goes_to_the_nan(backend, func):
    np.testing.assert_array_equal(_grad(backend, func, np.array([nan, 1.0, 2.0])), [1, 0, 0])
    np.testing.assert_array_equal(_grad(backend, func, np.array([1.0, nan, 2.0, nan])),
                                  [0, 1, 0, 0])               # several NaNs: argmax's, the first
    np.testing.assert_array_equal(_grad(backend, func, np.array(nan)), 1.0)


@pytest.mark.parametrize("func, pick", [(np.max, np.max), (np.min, np.min), (np.amax, np.max)])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_max_min_nan_axis_keepdims_ties(backend, func, pick, axis, keepdims):
    got = _grad(backend, lambda x: func(x, axis=axis, keepdims=keepdims), XN)
    np.testing.assert_allclose(got, _expected_extremum(XN, axis, pick))


def test_max_min_nan_3d_axes(backend):
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    x[0, 2, 1] = x[0, 1, 3] = x[1, 0, 0] = nan
    for axis in [(0, 2), (1, 2), (0, 1), None]:
        got = _grad(backend, lambda a: np.max(a, axis=axis), x)
        np.testing.assert_array_equal(got, _expected_extremum(x, axis, np.max), err_msg=str(axis))


def test_max_nan_where_initial():
    """where= (NumPy only: CuPy's max has no where=): a masked-out NaN is ignored."""
    x = np.array([[nan, 1.0, 3.0], [2.0, nan, 0.0]])
    m = np.array([[False, True, True], [True, True, True]])
    got = _grad(NumpyBackend, lambda a: np.max(a, axis=1, where=m, initial=-10.0), x)
    np.testing.assert_array_equal(got, [[0, 0, 1], [0, 1, 0]])
    got = _grad(NumpyBackend, lambda a: np.max(a, axis=1, initial=nan), np.array([[1.0, 2.0]]))
    np.testing.assert_array_equal(got, [[0, 0]])          # the NaN comes from initial=


@pytest.mark.parametrize("func, pick", [(np.nanmax, np.max), (np.nanmin, np.min)])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_nanmax_nanmin_skip_nan(backend, func, pick, axis):
    got = _grad(backend, lambda x: func(x, axis=axis), XN)
    np.testing.assert_allclose(got, _expected_extremum(XN, axis, pick, nan_propagates=False))


def test_max_reduce_ufunc_method_nan(backend):
    np.testing.assert_array_equal(_grad(backend, np.maximum.reduce, np.array([2.0, nan, 1.0])),
                                  [0, 1, 0])


def test_max_min_without_nan_unchanged(backend):
    x = np.random.default_rng(3).standard_normal((3, 4))
    for func in (np.max, np.min):
        assert gradcheck(lambda a: func(a, axis=1), backend.asarray(x))
    ties = np.array([1.0, 3.0, 3.0, 0.0])
    np.testing.assert_array_equal(_grad(backend, np.max, ties), [0, 0.5, 0.5, 0])


def test_ptp_nan():
    """ptp = max - min: both pick the first NaN, so it gets g - g = 0 (documented)."""
    np.testing.assert_array_equal(_grad(NumpyBackend, np.ptp, np.array([1.0, nan, 2.0])), [0, 0, 0])
    got = _grad(NumpyBackend, lambda x: np.ptp(x, axis=1), XN)
    np.testing.assert_allclose(got, _expected_extremum(XN, 1, np.max)
                               - _expected_extremum(XN, 1, np.min))


# --------------------------------------------------------------------------- maximum and minimum
@pytest.mark.parametrize("func, expect_x, expect_y", [
    (np.maximum, [1, 0, 1, 0.5], [0, 1, 0, 0.5]),         # the NaN operand (the first if both)
    (np.minimum, [1, 0, 1, 0.5], [0, 1, 0, 0.5]),
    (np.fmax, [0, 1, 1, 0.5], [1, 0, 0, 0.5]),            # the non-NaN operand (the first if both)
    (np.fmin, [0, 1, 1, 0.5], [1, 0, 0, 0.5])])
def test_maximum_minimum_fmax_fmin_nan(backend, func, expect_x, expect_y):
    x = ga.asarray(backend.asarray([nan, 1.0, nan, 2.0]), requires_grad=True)
    y = ga.asarray(backend.asarray([2.0, nan, nan, 2.0]), requires_grad=True)
    np.sum(func(x, y)).backward()
    np.testing.assert_array_equal(backend.to_host(x.grad._data), expect_x)
    np.testing.assert_array_equal(backend.to_host(y.grad._data), expect_y)


def test_maximum_nan_with_scalar_operand(backend):
    v = np.array([nan, 1.0, 3.0])
    np.testing.assert_array_equal(_grad(backend, lambda x: np.maximum(x, 2.0), v), [1, 0, 1])
    np.testing.assert_array_equal(_grad(backend, lambda x: np.minimum(0.0, x), v), [1, 0, 0])
    np.testing.assert_array_equal(_grad(backend, lambda x: np.fmax(x, 2.0), v), [0, 0, 1])
    np.testing.assert_array_equal(_grad(backend, lambda x: np.fmin(nan, x), v), [0, 1, 1])


# ------------------------------------------------------------------------------ sort and selection
def test_sort_partition_take_along_axis_nan(backend):
    """Each output position's gradient goes to the element NumPy put there (NaNs sort last)."""
    x = np.array([[3.0, nan, -1.0, nan, 0.5], [nan, 2.0, -4.0, 1.0, 0.0]])
    w = np.random.default_rng(2).standard_normal(x.shape)
    order = np.argsort(x, axis=1)
    expected = np.zeros_like(x)
    np.put_along_axis(expected, order, w, axis=1)
    np.testing.assert_array_equal(_grad(backend, lambda a: np.sort(a, axis=1), x, w), expected)
    tal = lambda a: np.take_along_axis(a, np.argsort(a, axis=1), axis=1)  # noqa: E731
    np.testing.assert_array_equal(_grad(backend, tal, x, w), expected)
    # partition: the kth position holds the kth smallest, NaNs beyond the non-NaN values
    for kth in (2, 3, 4):
        seed = np.zeros_like(x)
        seed[:, kth] = 1.0
        got = _grad(backend, lambda a: np.partition(a, kth, axis=1), x, seed)
        expected = np.zeros_like(x)
        np.put_along_axis(expected, order[:, kth:kth + 1], 1.0, axis=1)
        if kth >= 3:      # row 0 holds 2 NaNs: which one lands at positions 3, 4 is arbitrary
            assert np.all(got[0][~np.isnan(x[0])] == 0) and got[0].sum() == 1
            got, expected = got[1:], expected[1:]
        np.testing.assert_array_equal(got, expected, err_msg=f"kth={kth}")


# ----------------------------------------------------------------------- median and quantiles
STATISTICS = [
    (np.median, {}, 1),
    (np.quantile, {"q": 0.3}, 1),
    (np.quantile, {"q": [0.1, 0.5, 0.9]}, 3),
    (np.percentile, {"q": 70.0, "method": "lower"}, 1),
    (np.percentile, {"q": [25.0, 60.0], "method": "midpoint"}, 2),
    (np.quantile, {"q": 0.4, "method": "inverted_cdf"}, 1)]


@pytest.mark.parametrize("func, kw, nq", STATISTICS)
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_median_quantile_nan_gradient_goes_to_first_nan(backend, func, kw, nq, axis):
    """A slice holding a NaN has a NaN result; its whole gradient goes to the first NaN (weight 1
    per q, like max), the other slices keep their exact gradient."""
    q = kw.get("q")
    kw = {k: v for k, v in kw.items() if k != "q"}
    f = (lambda x: func(x, axis=axis, **kw)) if q is None else \
        (lambda x: func(x, q, axis=axis, **kw))
    got = _grad(backend, f, XS)
    flat_x, _ = _slices(XS, axis)
    flat_g, _ = _slices(got, axis)
    for idx in np.ndindex(flat_x.shape[:-1]):
        row, grow = flat_x[idx], flat_g[idx]
        if np.isnan(row).any():
            expected = np.zeros_like(row)
            expected[np.argmax(np.isnan(row))] = nq
        else:                       # the same statistic on this slice alone
            single = (lambda r: func(r, **kw)) if q is None else (lambda r: func(r, q, **kw))
            expected = _grad(backend, single, row)
            assert gradcheck(single, backend.asarray(row))
        np.testing.assert_allclose(grow, expected, err_msg=str(idx))


@pytest.mark.parametrize("func, args", [(np.nanmedian, ()), (np.nanquantile, ([0.2, 0.7],)),
                                        (np.nanpercentile, (40.0,))])
def test_nan_statistics_skip_nan(backend, func, args):
    got = _grad(backend, lambda x: func(x, *args, axis=1), XS)
    assert np.all(got[np.isnan(XS)] == 0) and np.all(np.isfinite(got))
    for i in range(XS.shape[0]):
        row = XS[i][~np.isnan(XS[i])]
        expected = _grad(backend, lambda r: func(r, *args), row)
        np.testing.assert_allclose(got[i][~np.isnan(XS[i])], expected)


# ------------------------------------------------------------------------ norms, second order
def _rand(*shape, complex_):
    """Generic values (no zeros, no ties of |x|, of row/column sums or of singular values)."""
    rng = np.random.default_rng(sum(shape) + 100 * complex_)
    x = rng.standard_normal(shape)
    return x + 1j * rng.standard_normal(shape) if complex_ else x


@pytest.mark.parametrize("ord", [1, 3, np.inf, -np.inf, -1, 0.5])
@pytest.mark.parametrize("complex_", [False, True])
def test_vector_norm_second_order(ord, complex_):
    x = _rand(5, complex_=complex_)
    for f in (lambda a: np.linalg.norm(a, ord=ord), lambda a: np.linalg.vector_norm(a, ord=ord)):
        assert gradcheck(f, x)
        assert gradgradcheck(f, x)
    x2 = _rand(3, 4, complex_=complex_)
    f = lambda a: np.linalg.norm(a, ord=ord, axis=1, keepdims=True)  # noqa: E731
    assert gradcheck(f, x2) and gradgradcheck(f, x2)
    f = lambda a: np.linalg.vector_norm(a, ord=ord, axis=(0, 1))  # noqa: E731
    assert gradcheck(f, x2) and gradgradcheck(f, x2)


@pytest.mark.parametrize("ord", [1, -1, np.inf, -np.inf, "nuc"])
@pytest.mark.parametrize("complex_", [False, True])
def test_matrix_norm_second_order(ord, complex_):
    x = _rand(3, 4, complex_=complex_)
    f = lambda a: np.linalg.norm(a, ord=ord)  # noqa: E731
    assert gradcheck(f, x) and gradgradcheck(f, x)
    x3 = _rand(2, 3, 3, complex_=complex_)
    f = lambda a: np.linalg.matrix_norm(a, ord=ord)  # noqa: E731
    assert gradcheck(f, x3) and gradgradcheck(f, x3)


@pytest.mark.parametrize("complex_", [False, True])
def test_vector_norm_second_order_device(backend, complex_):
    x = backend.asarray(_rand(2, 4, complex_=complex_))
    for ord in (1, 3, np.inf):
        f = lambda a: np.linalg.vector_norm(a, ord=ord, axis=-1)  # noqa: E731
        assert gradgradcheck(f, x)
        assert gradgradcheck(lambda a: np.linalg.norm(a, ord=ord, axis=-1), x)


def test_running_maximum_with_nan_sends_the_gradient_to_the_first_nan():
    x = ga.asarray(np.array([3.0, np.nan, 1.0, np.nan, 2.0]), requires_grad=True)
    np.sum(np.maximum.accumulate(x)).backward()       # [3, nan, nan, nan, nan]
    np.testing.assert_array_equal(x.grad.numpy(), [1, 4, 0, 0, 0])
    y = ga.asarray(np.array([3.0, 1.0, 2.0, 0.5]), requires_grad=True)
    np.sum(np.minimum.accumulate(y)).backward()       # [3, 1, 1, 0.5]
    np.testing.assert_array_equal(y.grad.numpy(), [1, 2, 0, 1])
