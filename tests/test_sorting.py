"""Sorting and selection: sort/partition/sort_complex/unique gradients, and the index-returning
functions, which give untracked integer arrays usable as indices."""
import numpy as np
import pytest

import gradarray as ga
from gradarray.testing import gradcheck, gradgradcheck

R = np.random.default_rng(7)
X2 = R.standard_normal((3, 5))                       # distinct values: no ties
X1 = R.standard_normal(6)


def _host(backend, r):
    return backend.to_host(r._data if isinstance(r, ga.GradArray) else r)


def check(backend, f, x, **kw):
    xb = backend.asarray(x)
    np.testing.assert_allclose(_host(backend, f(ga.asarray(xb))), f(x))
    assert gradcheck(f, xb, **kw)


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_sort(backend, axis):
    check(backend, lambda x: np.sort(x, axis=axis), X2)
    check(backend, lambda x: np.sort(x, axis=axis, kind="stable"), X2)


def test_sort_1d_float32_complex(backend):
    check(backend, np.sort, X1)
    check(backend, np.sort, X1.astype(np.float32))
    xc = X1 + 1j * X1[::-1]
    check(backend, np.sort, xc)


def test_sort_ties_permutation(backend):
    """Documented: tied values are routed as argsort orders them; the result's values do not
    depend on it and every element gets exactly the gradient of the slot it went to."""
    x = np.array([2.0, 1.0, 2.0, 0.5])
    xg = ga.asarray(backend.asarray(x), requires_grad=True)
    w = np.array([1.0, 10.0, 100.0, 1000.0])
    np.sum(np.sort(xg) * backend.asarray(w)).backward()
    np.testing.assert_allclose(_host(backend, xg.grad)[[3, 1]], [1.0, 10.0])
    assert sorted(_host(backend, xg.grad)[[0, 2]]) == [100.0, 1000.0]


@pytest.mark.parametrize("kth,axis", [(2, -1), ((0, 3), 1), (1, 0), (4, None)])
def test_partition(backend, kth, axis):
    x = backend.asarray(X2)
    got = _host(backend, np.partition(ga.asarray(x), kth, axis=axis))
    ref = np.partition(X2, kth, axis=axis)
    for k in np.atleast_1d(kth):        # the kth entries are fixed; the others are only bounded
        np.testing.assert_allclose(np.take(got, k, axis=-1 if axis is None else axis),
                                   np.take(ref, k, axis=-1 if axis is None else axis))
    assert gradcheck(lambda x: np.partition(x, kth, axis=axis), x)


def test_sort_complex(backend):
    check(backend, np.sort_complex, X1)
    xc = X2 + 1j * X2[::-1]
    check(backend, np.sort_complex, xc)


def test_unique_values_gradient(backend):
    """Unique values are gathered from the first occurrence: the copies get 0 (documented)."""
    x = np.array([3.0, 1.0, 3.0, 2.0, 1.0, 5.0])
    xb = backend.asarray(x)
    u = np.unique(ga.asarray(xb))
    np.testing.assert_allclose(_host(backend, u), np.unique(x))
    xg = ga.asarray(xb, requires_grad=True)
    np.sum(np.unique(xg) * backend.asarray(np.array([1.0, 2.0, 3.0, 4.0]))).backward()
    np.testing.assert_allclose(_host(backend, xg.grad), [3.0, 1.0, 0.0, 2.0, 0.0, 4.0])
    assert gradcheck(np.unique, backend.asarray(X1))


def test_unique_extra_outputs(backend):
    x = np.array([[3.0, 1.0], [3.0, 1.0], [2.0, 0.0]])
    xg = ga.asarray(backend.asarray(x), requires_grad=True)
    vals, idx, inv, cnt = np.unique(xg, return_index=True, return_inverse=True,
                                    return_counts=True)
    ref = np.unique(x, return_index=True, return_inverse=True, return_counts=True)
    for got, r in zip((vals, idx, inv, cnt), ref):
        np.testing.assert_array_equal(_host(backend, got), r)
    assert vals.requires_grad and not idx.requires_grad and not cnt.requires_grad
    rows = np.unique(xg, axis=0)
    np.testing.assert_array_equal(_host(backend, rows), np.unique(x, axis=0))
    assert gradcheck(lambda x: np.unique(x, axis=1), backend.asarray(X2))
    res = np.unique_all(xg)
    np.testing.assert_array_equal(_host(backend, res.values), np.unique_all(x).values)
    np.testing.assert_array_equal(_host(backend, res.counts), np.unique_all(x).counts)
    assert res.values.requires_grad
    # CuPy 13 has no unique_values: gradarray supplies it for GradArrays only, so the finite
    # differences (which call f on raw arrays) get a GradArray too
    assert gradcheck(lambda x: np.unique_values(ga.asarray(x)), backend.asarray(X1))


def test_index_functions_untracked(backend):
    x = ga.asarray(backend.asarray(X2), requires_grad=True)
    for f in (np.argsort, np.argmax, np.argmin, np.nanargmax, np.nanargmin, np.argwhere,
              np.flatnonzero, lambda a: np.argpartition(a, 2)):
        r = f(x)
        assert not r.requires_grad and r.dtype.kind in "iu"
        np.testing.assert_array_equal(_host(backend, r), f(X2))
    nz = np.nonzero(x > 0)
    assert all(not i.requires_grad for i in nz)
    edges = ga.asarray(backend.asarray(np.array([-1.0, 0.0, 1.0])), requires_grad=True)
    s = np.searchsorted(edges, x)
    np.testing.assert_array_equal(_host(backend, s), np.searchsorted([-1.0, 0.0, 1.0], X2))
    keys = np.lexsort((x[0], x[1]))
    np.testing.assert_array_equal(_host(backend, keys), np.lexsort((X2[0], X2[1])))


def test_gather_by_index_results(backend):
    """x[np.argmax(x)] and take-by-argsort work with the untracked integer GradArrays."""
    xb = backend.asarray(X1)
    assert gradcheck(lambda x: x[np.argmax(x)] * x[np.argsort(x)[1:3]], xb)
    xg = ga.asarray(xb, requires_grad=True)
    (xg[np.argmax(xg)] - xg[np.argmin(xg)]).backward()
    g = _host(backend, xg.grad)
    assert g[np.argmax(X1)] == 1 and g[np.argmin(X1)] == -1 and np.sum(np.abs(g)) == 2


def test_sort_methods_and_gradgrad(backend):
    x = backend.asarray(X2)
    assert gradgradcheck(lambda x: np.sort(x, axis=1) ** 2, x)
    assert gradgradcheck(lambda x: np.partition(x, 1, axis=0) * np.sort(x, axis=0), x)
    xg = ga.asarray(x, requires_grad=True)
    y = xg * 1.0
    y.sort(axis=1)                       # in-place method, still on the tape
    np.testing.assert_allclose(_host(backend, y), np.sort(X2, axis=1))
    np.sum(y * backend.asarray(np.arange(5.0))).backward()
    expected = np.empty_like(X2)
    np.put_along_axis(expected, np.argsort(X2, axis=1), np.arange(5.0)[None, :], axis=1)
    np.testing.assert_allclose(_host(backend, xg.grad), expected)


def test_sort_keywords_any_backend(backend):
    """Keywords that only pick NumPy's algorithm are dropped or mapped (CuPy takes kind=None or
    "stable" in sort/argsort and no kind in partition), so these calls work on a device array."""
    xg = ga.asarray(backend.asarray(X2), requires_grad=True)
    for kw in ({"kind": "quicksort"}, {"kind": "heapsort"}, {"kind": "mergesort"},
               {"stable": True}, {"kind": None, "order": None}):
        np.testing.assert_array_equal(_host(backend, np.sort(xg, axis=0, **kw)),
                                      np.sort(X2, axis=0, **kw))
        np.testing.assert_array_equal(_host(backend, np.argsort(xg.detach(), **kw)),
                                      np.argsort(X2, **kw))
    np.testing.assert_array_equal(_host(backend, np.argsort(xg, kind="stable")),
                                  np.argsort(X2, kind="stable"))
    p = np.partition(xg, 2, kind="introselect")
    np.testing.assert_array_equal(_host(backend, p)[:, 2], np.partition(X2, 2)[:, 2])
    i = np.argpartition(xg, 1, axis=0, kind="introselect")
    np.testing.assert_array_equal(_host(backend, i)[1], np.argpartition(X2, 1, axis=0)[1])
    y = xg * 1.0
    y.partition(1)                       # the method passes kind="introselect" explicitly
    np.sum(y[:, 1]).backward()
    expected = np.zeros_like(X2)
    expected[np.arange(3), np.argsort(X2, axis=1)[:, 1]] = 1
    np.testing.assert_allclose(_host(backend, xg.grad), expected)


def test_unique_keywords_any_backend(backend):
    """sorted=/equal_nan= at their defaults are not forwarded (CuPy's unique has no sorted=);
    sorted=False reaches NumPy, whose order then may differ from the sorted one."""
    xi = np.array([5, 1, 5, 3, 1])
    xg = ga.asarray(backend.asarray(xi))
    np.testing.assert_array_equal(_host(backend, np.unique(xg, sorted=True, equal_nan=True)),
                                  np.unique(xi))
    got = _host(backend, np.unique(xg, sorted=False))
    if backend.name == "numpy":
        np.testing.assert_array_equal(got, np.unique(xi, sorted=False))
    else:
        np.testing.assert_array_equal(np.sort(got), np.unique(xi))
    res = np.unique_counts(xg)
    np.testing.assert_array_equal(np.sort(_host(backend, res.values)), [1, 3, 5])
