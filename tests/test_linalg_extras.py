"""torch.linalg extras in gradarray.linalg: forward values against NumPy/SciPy definitions and
gradients against finite differences."""
import numpy as np
import pytest

import gradarray as ga
from gradarray import linalg as gla
from gradarray.testing import gradcheck, gradgradcheck

RNG = np.random.default_rng(99)


def rand(*shape, complex_=False):
    x = RNG.standard_normal(shape)
    return x + 1j * RNG.standard_normal(shape) if complex_ else x


def host(x):
    return np.asarray(x.numpy() if isinstance(x, ga.GradArray) else x)


@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("unit", [False, True])
def test_solve_triangular(backend, upper, left, unit):
    a = rand(3, 3) + 3 * np.eye(3)
    b = rand(3, 2) if left else rand(2, 3)
    x = gla.solve_triangular(backend.asarray(a), backend.asarray(b), upper=upper, left=left,
                             unitriangular=unit)
    t = np.triu(a) if upper else np.tril(a)
    if unit:
        t = t - np.diag(np.diag(t)) + np.eye(3)
    expect = np.linalg.solve(t, b) if left else b @ np.linalg.inv(t)
    np.testing.assert_allclose(host(x), expect, rtol=1e-10, atol=1e-12)
    gradcheck(lambda a, b: gla.solve_triangular(a, b, upper=upper, left=left, unitriangular=unit),
              backend.asarray(a), backend.asarray(b))


def test_solve_triangular_batched_complex(backend):
    a = rand(2, 3, 3, complex_=True) + 3 * np.eye(3)
    gradcheck(lambda a, b: gla.solve_triangular(a, b, upper=True), backend.asarray(a),
              backend.asarray(rand(2, 3, 1, complex_=True)))


@pytest.mark.parametrize("shape", [(3, 3), (2, 3, 3)])
def test_lu_family(backend, shape):
    a = rand(*shape)
    P, L, U = gla.lu(backend.asarray(a))
    np.testing.assert_allclose(host(P) @ host(L) @ host(U), a, atol=1e-12)
    LU, piv = gla.lu_factor(backend.asarray(a))
    b = rand(*shape[:-1], 2)
    np.testing.assert_allclose(host(gla.lu_solve((LU, piv), backend.asarray(b))),
                               np.linalg.solve(a, b), atol=1e-10)
    for trans, op in ((1, lambda m: np.swapaxes(m, -1, -2)), (2, lambda m: np.conj(np.swapaxes(m, -1, -2)))):
        np.testing.assert_allclose(host(gla.lu_solve((LU, piv), backend.asarray(b), trans=trans)),
                                   np.linalg.solve(op(a), b), atol=1e-10)
    gradcheck(lambda a: gla.lu(a)[1:], backend.asarray(a))
    gradcheck(lambda a: gla.lu_factor(a)[0], backend.asarray(a))
    # gradient through the factors and the right-hand side: equals that of solve
    gradcheck(lambda a, b: gla.lu_solve(gla.lu_factor(a), b), backend.asarray(a), backend.asarray(b))


def test_lu_wide_forward(backend):
    a = rand(2, 4)
    P, L, U = gla.lu(backend.asarray(a))
    np.testing.assert_allclose(host(P) @ host(L) @ host(U), a, atol=1e-12)


def test_matrix_exp(backend):
    a = rand(2, 3, 3)
    e = gla.matrix_exp(backend.asarray(a * 2))
    import scipy.linalg
    np.testing.assert_allclose(host(e), scipy.linalg.expm(a * 2), rtol=1e-10)
    gradcheck(gla.matrix_exp, backend.asarray(a))
    gradcheck(gla.matrix_exp, backend.asarray(rand(3, 3, complex_=True)))
    gradgradcheck(gla.matrix_exp, backend.asarray(rand(2, 2)))


@pytest.fixture(params=["raising", "silent"])
def linalg_errors(request, monkeypatch):
    """'raising': NumPy's LinAlgError. 'silent': CuPy's default error mode ('ignore'), modelled by
    returning a factor with zero pivots / NaN inverses and solutions instead of raising."""
    if request.param == "silent":
        def silent(func, failed):
            def call(*args, **kwargs):
                try:
                    return func(*args, **kwargs)
                except np.linalg.LinAlgError:
                    return failed(*args)
            return call
        monkeypatch.setattr(np.linalg, "cholesky", silent(np.linalg.cholesky, lambda a: a * 0))
        monkeypatch.setattr(np.linalg, "inv", silent(np.linalg.inv, lambda a: a * np.nan))
        monkeypatch.setattr(np.linalg, "solve", silent(np.linalg.solve, lambda a, b: b * np.nan))
    return request.param


def test_ex_variants_report_info(backend, linalg_errors):
    m = rand(3, 3)
    good = m @ m.T + 3 * np.eye(3)
    bad = np.diag([1.0, -1.0, 2.0])                  # leading minor of order 2 not PD
    L, info = gla.cholesky_ex(backend.asarray(np.stack([good, bad])))
    assert host(info).tolist() == [0, 2]
    np.testing.assert_allclose(host(L)[0], np.linalg.cholesky(good))
    assert np.all(np.isnan(host(L)[1]))
    U, info = gla.cholesky_ex(backend.asarray(np.stack([good, bad])), upper=True)
    assert host(info).tolist() == [0, 2]
    np.testing.assert_allclose(host(U)[0], np.linalg.cholesky(good).T)
    sing = np.array([[1.0, 2.0, 0], [2.0, 4.0, 0], [0, 0, 1.0]])
    inv, info = gla.inv_ex(backend.asarray(np.stack([good, sing])))
    assert host(info)[0] == 0 and host(info)[1] > 0
    np.testing.assert_allclose(host(inv)[0], np.linalg.inv(good))
    assert np.all(np.isnan(host(inv)[1]))
    x, info = gla.solve_ex(backend.asarray(np.stack([good, sing])), backend.asarray(rand(2, 3, 1)))
    assert host(info)[0] == 0 and host(info)[1] > 0
    for call in (lambda: gla.inv_ex(backend.asarray(sing), check_errors=True),
                 lambda: gla.cholesky_ex(backend.asarray(bad), check_errors=True),
                 lambda: gla.solve_ex(backend.asarray(sing), backend.asarray(rand(3)),
                                      check_errors=True)):
        with pytest.raises(np.linalg.LinAlgError):
            call()
    # the good matrices keep exact gradients, the failed ones get zero (no NaN leaks)
    A = ga.asarray(backend.asarray(np.stack([good, bad])), requires_grad=True)
    L, _ = gla.cholesky_ex(A)
    np.sum(L[0]).backward()
    g = host(A.grad)
    assert np.all(np.isfinite(g)) and np.all(g[1] == 0)
    gradcheck(lambda a: gla.cholesky_ex(a)[0], backend.asarray(good))
    gradcheck(lambda a: gla.cholesky_ex(a, upper=True)[0], backend.asarray(good))
    gradcheck(lambda a: gla.inv_ex(a)[0], backend.asarray(good))
    gradcheck(lambda a, b: gla.solve_ex(a, b)[0], backend.asarray(good), backend.asarray(rand(3, 2)))
    gradcheck(lambda a, b: gla.solve_ex(a, b, left=False)[0], backend.asarray(good),
              backend.asarray(rand(2, 3)))


def test_cholesky_info_matches_leading_minors(backend):
    """info = order of the first leading minor that is not positive definite (LAPACK's potrf)."""
    m = rand(4, 4, complex_=True)
    pd = m @ m.conj().T + 4 * np.eye(4)
    cases = [pd, np.diag([1.0, 2.0, 3.0, -1.0]), np.diag([0.0, 1.0, 1.0, 1.0]),
             np.full((4, 4), np.nan), pd - 20 * np.eye(4), np.diag([2.0, 1.0, -1.0, -1.0])]
    expected = []
    for c in cases:
        k = next((k for k in range(1, 5) if not np.all(np.linalg.eigvalsh(c[:k, :k]) > 0)), 0)
        expected.append(k)
    _, info = gla.cholesky_ex(backend.asarray(np.stack(cases).astype(complex)))
    assert host(info).tolist() == expected


def test_vander(backend):
    x = rand(2, 3)
    v = gla.vander(backend.asarray(x), N=4)
    np.testing.assert_allclose(host(v)[1], np.vander(x[1], 4, increasing=True))
    np.testing.assert_allclose(host(gla.vander(backend.asarray(x[0]), increasing=False)), np.vander(x[0]))
    gradcheck(lambda x: gla.vander(x, N=4), backend.asarray(x))
    gradcheck(lambda x: gla.vander(x, increasing=False), backend.asarray(rand(3, complex_=True)))
    gradgradcheck(lambda x: gla.vander(x, N=4), backend.asarray(x[0]))


@pytest.mark.parametrize("complex_", [False, True])
def test_householder_product(backend, complex_):
    a = rand(4, 3, complex_=complex_)
    h, tau = np.linalg.qr(a, mode="raw")
    q = gla.householder_product(backend.asarray(np.ascontiguousarray(h.T)), backend.asarray(tau))
    np.testing.assert_allclose(host(q), np.linalg.qr(a)[0], atol=1e-12)
    gradcheck(gla.householder_product, backend.asarray(rand(2, 4, 3, complex_=complex_)),
              backend.asarray(rand(2, 3, complex_=complex_) * 0.5))


@pytest.mark.parametrize("hermitian", [False, True])
def test_ldl(backend, hermitian):
    a = rand(3, 3, complex_=hermitian)
    a = a + (np.conj(a.T) if hermitian else a.T) + np.diag([3.0, -4.0, 5.0])   # indefinite
    LD, piv = gla.ldl_factor(backend.asarray(a), hermitian=hermitian)
    ld = host(LD)
    L = np.tril(ld, -1) + np.eye(3)
    D = np.diag(np.diag(ld))
    np.testing.assert_allclose(L @ D @ (np.conj(L.T) if hermitian else L.T), a, atol=1e-10)
    b = rand(3, 2)
    x = gla.ldl_solve(LD, piv, backend.asarray(b), hermitian=hermitian)
    np.testing.assert_allclose(host(x), np.linalg.solve(a, b), atol=1e-10)
    gradcheck(lambda a, b: gla.ldl_solve(*gla.ldl_factor(a, hermitian=hermitian), b,
                                         hermitian=hermitian), backend.asarray(a), backend.asarray(b))
    gradcheck(lambda a: gla.ldl_factor(a, hermitian=hermitian)[0], backend.asarray(a))
