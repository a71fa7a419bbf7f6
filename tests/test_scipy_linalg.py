"""Differentiable scipy.linalg (gradarray/scipy/linalg.py and linalg_matfuncs.py), called the way
legacy code calls it: values equal to SciPy's own, gradients against finite differences in every
array argument (real and complex), second derivatives, SciPy's keyword forms, plain data mixed
with tracked arrays, and clear errors where no gradient is defined."""
import numpy as np
import pytest
import scipy.linalg
import scipy.linalg as sl
# bound before any call (conftest imported gradarray first): these names are gradarray's wrappers
from scipy.linalg import cho_factor, cho_solve, cholesky, expm, lu_factor, lu_solve, solve

import gradarray as ga
from gradarray.testing import gradcheck, gradgradcheck

pytestmark = pytest.mark.filterwarnings("error::gradarray.GradientLostWarning")

_rng = np.random.default_rng(20240611)
N = 3
A = _rng.standard_normal((N, N)) + 3 * np.eye(N)                 # well conditioned, not symmetric
S = A @ A.T + N * np.eye(N)                                       # symmetric positive definite
C = _rng.standard_normal((N, N)) + 1j * _rng.standard_normal((N, N)) + 3 * np.eye(N)
H = C @ C.conj().T + N * np.eye(N)                                # Hermitian positive definite
b = _rng.standard_normal(N)
bc = _rng.standard_normal(N) + 1j * _rng.standard_normal(N)
B2 = _rng.standard_normal((N, 2))
B4 = _rng.standard_normal((4, 2))
G = _rng.standard_normal((N, N))                                  # a generic matrix
TALL = _rng.standard_normal((4, 3))
WIDE = _rng.standard_normal((2, 3))
S_BATCH = np.stack([S, H.real])
S2, H2 = S[:2, :2], H[:2, :2]            # 2 x 2 for SciPy's slower pure-Python routines (logm)


def tracked(x):
    return ga.asarray(x, requires_grad=True)


def host(x):
    return x.numpy() if type(x) is ga.GradArray else x


def assert_same(got, ref, name):
    """Same structure, shapes, dtypes and values (to rounding) as SciPy's result."""
    if isinstance(ref, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(ref), name
        for g, r in zip(got, ref):
            assert_same(g, r, name)
    elif ref is None or isinstance(ref, (bool, int)):
        assert got == ref, name
    else:
        g = np.asarray(host(got))
        assert g.shape == np.shape(ref) and g.dtype == np.asarray(ref).dtype, (name, g.shape, g.dtype)
        np.testing.assert_allclose(g, ref, rtol=1e-10, atol=1e-12, err_msg=name)


# (name, call): call(T) wraps each input with T: the identity gives SciPy's own result
VALUE_CASES = [
    ("cholesky", lambda T: sl.cholesky(T(S))),
    ("cholesky lower complex", lambda T: sl.cholesky(T(H), lower=True)),
    ("cholesky reads the upper triangle", lambda T: sl.cholesky(T(S + np.tril(G, -1)))),
    ("cholesky lower ignores Im diag", lambda T: sl.cholesky(T(H + np.triu(C, 1) + 1j * np.eye(N)), True)),
    ("eigh reads the lower triangle", lambda T: sl.eigh(T(H + np.triu(C, 1) + 1j * np.eye(N)))),
    ("cho_factor keeps the other triangle", lambda T: sl.cho_factor(T(S + np.tril(G, -1)))),
    ("cho_factor lower complex", lambda T: sl.cho_factor(T(H), True)),
    ("cho_solve", lambda T: sl.cho_solve((T(np.linalg.cholesky(S)), True), T(B2))),
    ("solve_triangular", lambda T: sl.solve_triangular(T(A), T(b), trans=1, unit_diagonal=True)),
    ("solve_triangular complex", lambda T: sl.solve_triangular(T(C), T(bc), trans="C", lower=True)),
    ("lu_factor", lambda T: sl.lu_factor(T(A))),
    ("lu", lambda T: sl.lu(T(C))),
    ("lu permute_l", lambda T: sl.lu(T(A), permute_l=True)),
    ("lu p_indices", lambda T: sl.lu(T(A), p_indices=True)),
    ("lu wide", lambda T: sl.lu(T(WIDE))),
    ("lu_solve", lambda T: sl.lu_solve(sl.lu_factor(T(C)), T(bc), trans=2)),
    ("inv", lambda T: sl.inv(T(C))),
    ("inv diagonal (SciPy keeps the off-diagonal entries)", lambda T: sl.inv(T(A), assume_a="diagonal")),
    ("det", lambda T: sl.det(T(C))),
    ("eigh", lambda T: sl.eigh(T(S))),
    ("eigh upper complex", lambda T: sl.eigh(T(H), lower=False)),
    ("eigh subset_by_index", lambda T: sl.eigh(T(S), subset_by_index=[1, 2])),
    ("eigh subset_by_value", lambda T: sl.eigh(T(S), subset_by_value=[-np.inf, 12.0])),
    ("eigh generalized", lambda T: sl.eigh(T(H), T(S))),
    ("eigvalsh", lambda T: sl.eigvalsh(T(H))),
    ("eig", lambda T: sl.eig(T(A))),
    ("eigvals", lambda T: sl.eigvals(T(C))),
    ("svd", lambda T: sl.svd(T(TALL))),
    ("svd thin gesvd", lambda T: sl.svd(T(C), full_matrices=False, lapack_driver="gesvd")),
    ("svdvals", lambda T: sl.svdvals(T(WIDE))),
    ("qr", lambda T: sl.qr(T(TALL))),
    ("qr economic", lambda T: sl.qr(T(TALL), mode="economic")),
    ("qr r", lambda T: sl.qr(T(TALL), mode="r")),
    ("qr pivoting", lambda T: sl.qr(T(C), pivoting=True)),
    ("qr wide", lambda T: sl.qr(T(WIDE))),
    ("expm", lambda T: sl.expm(T(A))),
    ("expm complex", lambda T: sl.expm(T(C / 3))),
    ("expm_frechet", lambda T: sl.expm_frechet(T(A / 3), T(G))),
    ("logm", lambda T: sl.logm(T(S))),
    ("logm complex result", lambda T: sl.logm(T(-S))),
    ("sqrtm", lambda T: sl.sqrtm(T(S))),
    ("sqrtm complex", lambda T: sl.sqrtm(T(H))),
    ("cosm", lambda T: sl.cosm(T(A / 3))),
    ("sinm complex", lambda T: sl.sinm(T(C / 3))),
    ("tanhm", lambda T: sl.tanhm(T(A / 3))),
    ("solve_sylvester", lambda T: sl.solve_sylvester(T(A), T(S), T(C))),
    ("solve_continuous_lyapunov", lambda T: sl.solve_continuous_lyapunov(T(A - 6 * np.eye(N)), T(S))),
    ("solve_lyapunov", lambda T: sl.solve_lyapunov(T(C - 6 * np.eye(N)), T(H))),
    ("solve_discrete_lyapunov", lambda T: sl.solve_discrete_lyapunov(T(A / 5), T(S))),
    ("solve_discrete_lyapunov bilinear", lambda T: sl.solve_discrete_lyapunov(T(A / 5), T(S), "bilinear")),
    ("norm", lambda T: sl.norm(T(C))),
    ("norm nuc", lambda T: sl.norm(T(A), "nuc")),
    ("norm axis", lambda T: sl.norm(T(A), 1, 0, True)),
    ("pinv", lambda T: sl.pinv(T(TALL))),
    ("pinv rank", lambda T: sl.pinv(T(C), atol=1.0, return_rank=True)),
    ("pinvh", lambda T: sl.pinvh(T(H + np.tril(C, -1)), lower=False, rtol=0.1, return_rank=True)),
    ("lstsq", lambda T: sl.lstsq(T(TALL), T(b[:3].tolist() + [1.0]))),
    ("lstsq matrix", lambda T: sl.lstsq(T(TALL), T(B4))),
    ("lstsq wide", lambda T: sl.lstsq(T(WIDE), T(b[:2]))),
    ("lstsq gelsy", lambda T: sl.lstsq(T(TALL), T(np.ones(4)), lapack_driver="gelsy")),
    ("polar", lambda T: sl.polar(T(A))),
    ("polar left complex", lambda T: sl.polar(T(C), "left")),
    ("polar batch", lambda T: sl.polar(T(np.stack([A, G])))),
    ("block_diag", lambda T: sl.block_diag(T(A), T(b), 1.0, T(C[:2, :1]))),
    ("toeplitz", lambda T: sl.toeplitz(T(bc))),
    ("toeplitz batch", lambda T: sl.toeplitz(T(G), T(b[:2]))),
    ("circulant", lambda T: sl.circulant(T(G))),
    ("hankel", lambda T: sl.hankel(T(b), T(bc[:2]))),
]
VALUE_CASES += [(f"solve assume_a={kind}", lambda T, kind=kind: sl.solve(
    T(H + np.tril(C, -1)), T(B2), assume_a=kind)) for kind in
    (None, "gen", "sym", "her", "pos", "diagonal", "tridiagonal", "upper triangular",
     "lower triangular", "banded")]
VALUE_CASES += [(f"inv assume_a={kind} lower", lambda T, kind=kind: sl.inv(
    T(S + np.triu(G, 1)), assume_a=kind, lower=True)) for kind in ("sym", "pos", "upper triangular")]
VALUE_CASES += [
    ("solve transposed", lambda T: sl.solve(T(A), T(b), transposed=True)),
    ("batch cholesky", lambda T: sl.cholesky(T(S_BATCH))),
    ("batch solve", lambda T: sl.solve(T(S_BATCH), T(B2))),
    ("batch expm", lambda T: sl.expm(T(S_BATCH / 10))),
    ("batch sqrtm", lambda T: sl.sqrtm(T(S_BATCH))),
    ("batch solve_sylvester", lambda T: sl.solve_sylvester(T(S_BATCH), T(S), T(G))),
    ("batch eigvalsh", lambda T: sl.eigvalsh(T(S_BATCH))),
    ("batch cho_solve", lambda T: sl.cho_solve(sl.cho_factor(T(S_BATCH)), T(B2))),
]


@pytest.mark.parametrize("name,call", VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_values_equal_scipy(name, call):
    ref = call(lambda x: x)
    got = call(tracked)
    assert_same(got, ref, name)
    outs = got if isinstance(got, (tuple, list)) else (got,)
    assert any(type(o) is ga.GradArray and o.requires_grad for o in outs)


def _abs2(out):
    """|x|^2 of each output: invariant under the sign/phase that eigen/singular vectors leave free."""
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [np.abs(o) ** 2 for o in outs]


# (name, f, args): gradcheck in every floating-point array argument
GRAD_CASES = [
    ("cholesky", lambda a: sl.cholesky(a), (S,)),
    ("cholesky lower complex", lambda a: sl.cholesky(a, lower=True), (H,)),
    ("cho_factor", lambda a: sl.cho_factor(a)[0], (S,)),
    ("cho_solve", lambda c, x: cho_solve((c, False), x), (np.ascontiguousarray(np.linalg.cholesky(S).T), B2)),
    ("cho_solve complex", lambda c, x: sl.cho_solve((c, True), x), (np.linalg.cholesky(H), bc)),
    ("cho_factor then cho_solve", lambda a, x: sl.cho_solve(sl.cho_factor(a, lower=True), x), (S, b)),
    ("solve_triangular", lambda a, x: sl.solve_triangular(a, x), (A, B2)),
    ("solve_triangular lower trans unit", lambda a, x: sl.solve_triangular(
        a, x, trans="T", lower=True, unit_diagonal=True), (A, b)),
    ("solve_triangular complex", lambda a, x: sl.solve_triangular(a, x, 2, True), (C, bc)),
    ("lu_factor", lambda a: sl.lu_factor(a)[0], (A,)),
    ("lu", lambda a: sl.lu(a)[1:], (C,)),
    ("lu permute_l", lambda a: sl.lu(a, permute_l=True), (A,)),
    ("lu_solve", lambda a, x: lu_solve(lu_factor(a), x), (A, B2)),
    ("lu_solve trans complex", lambda a, x: sl.lu_solve(sl.lu_factor(a), x, trans=2), (C, bc)),
    ("solve", lambda a, x: solve(a, x), (A, b)),
    ("solve transposed", lambda a, x: sl.solve(a, x, transposed=True), (A, B2)),
    ("solve complex", lambda a, x: sl.solve(a, x), (C, bc)),
    ("solve sym", lambda a, x: sl.solve(a, x, assume_a="sym"), (A, b)),
    ("solve sym complex lower", lambda a, x: sl.solve(a, x, assume_a="sym", lower=True), (C, bc)),
    ("solve her", lambda a, x: sl.solve(a, x, assume_a="her"), (C, bc)),
    ("solve pos", lambda a, x: sl.solve(a, x, assume_a="pos", lower=True), (S + np.triu(G, 1), b)),
    ("solve pos complex", lambda a, x: sl.solve(a, x, assume_a="pos"), (H, bc)),
    ("solve gen", lambda a, x: sl.solve(a, x, assume_a="gen"), (A, b)),
    ("solve diagonal", lambda a, x: sl.solve(a, x, assume_a="diagonal"), (A, b)),
    ("solve tridiagonal", lambda a, x: sl.solve(a, x, assume_a="tridiagonal"), (A, b)),
    ("solve upper triangular", lambda a, x: sl.solve(a, x, assume_a="upper triangular"), (A, b)),
    ("inv", lambda a: sl.inv(a), (C,)),
    ("inv pos", lambda a: sl.inv(a, assume_a="pos"), (S,)),
    ("inv her lower", lambda a: sl.inv(a, assume_a="her", lower=True), (H,)),
    ("inv diagonal", lambda a: sl.inv(a, assume_a="diagonal"), (A,)),
    ("inv lower triangular", lambda a: sl.inv(a, assume_a="lower triangular"), (A,)),
    ("det", lambda a: sl.det(a), (A,)),
    ("det complex", lambda a: sl.det(a), (C,)),
    ("eigh", lambda a: _abs2(sl.eigh(a)), (S,)),
    ("eigh upper complex", lambda a: _abs2(sl.eigh(a, lower=False)), (H,)),
    ("eigh eigvals_only", lambda a: sl.eigh(a, eigvals_only=True), (H,)),
    ("eigh subset_by_index", lambda a: _abs2(sl.eigh(a, subset_by_index=[1, 2])), (S,)),
    ("eigh subset_by_value", lambda a: _abs2(sl.eigh(a, subset_by_value=(-np.inf, 12.0))), (S,)),
    ("eigh subset complex", lambda a: _abs2(sl.eigh(a, subset_by_index=(0, 0))), (H,)),
    ("eigh generalized", lambda a, m: _abs2(sl.eigh(a, m)), (A + A.T, S)),
    ("eigh generalized complex upper", lambda a, m: _abs2(sl.eigh(a, m, lower=False)), (C + C.T.conj(), H)),
    ("eigvalsh", lambda a: sl.eigvalsh(a), (S,)),
    ("eig", lambda a: _abs2(sl.eig(a)), (S + np.triu(G),)),
    ("eigvals", lambda a: sl.eigvals(a), (C,)),
    ("svd thin", lambda a: _abs2(sl.svd(a, full_matrices=False)), (TALL,)),
    ("svd values only", lambda a: sl.svd(a, compute_uv=False), (C,)),
    ("svd full, thin part used", lambda a: (lambda u, s, vh: (u * s) @ vh[:2])(*sl.svd(a)), (WIDE,)),
    ("svd complex U Vh", lambda a: (lambda u, s, vh: u @ vh)(*sl.svd(a)), (C,)),
    ("svdvals", lambda a: sl.svdvals(a), (WIDE,)),
    ("qr", lambda a: sl.qr(a), (A,)),
    ("qr economic tall", lambda a: sl.qr(a, mode="economic"), (TALL,)),
    ("qr full wide complex", lambda a: sl.qr(a), (C[:2],)),
    ("qr r", lambda a: sl.qr(a, mode="r"), (TALL,)),
    ("qr pivoting", lambda a: sl.qr(a, pivoting=True)[:2], (G,)),
    ("expm", lambda a: expm(a), (A / 3,)),
    ("expm complex", lambda a: sl.expm(a), (C / 3,)),
    ("expm batch", lambda a: sl.expm(a), (S_BATCH / 20,)),
    ("expm_frechet", lambda a, e: sl.expm_frechet(a, e), (A[:2, :2] / 3, G[:2, :2])),
    ("logm", lambda a: sl.logm(a), (S2,)),
    ("logm complex", lambda a: sl.logm(a), (H2,)),
    ("sqrtm", lambda a: sl.sqrtm(a), (S,)),
    ("sqrtm complex", lambda a: sl.sqrtm(a), (C,)),
    ("cosm", lambda a: sl.cosm(a), (A / 3,)),
    ("sinm complex", lambda a: sl.sinm(a), (C / 3,)),
    ("tanm", lambda a: sl.tanm(a), (A / 5,)),
    ("coshm", lambda a: sl.coshm(a), (A / 3,)),
    ("sinhm", lambda a: sl.sinhm(a), (A / 3,)),
    ("tanhm complex", lambda a: sl.tanhm(a), (C / 5,)),
    ("solve_sylvester", lambda a, m, q: sl.solve_sylvester(a, m, q), (A, S, G)),
    ("solve_sylvester complex", lambda a, m, q: sl.solve_sylvester(a, m, q), (C, H, G)),
    ("solve_continuous_lyapunov", lambda a, q: sl.solve_continuous_lyapunov(a, q), (A - 6 * np.eye(N), S)),
    ("solve_lyapunov complex", lambda a, q: sl.solve_lyapunov(a, q), (C - 6 * np.eye(N), G)),
    ("solve_discrete_lyapunov", lambda a, q: sl.solve_discrete_lyapunov(a, q), (A / 5, G)),
    ("solve_discrete_lyapunov complex", lambda a, q: sl.solve_discrete_lyapunov(a, q, "bilinear"),
     (C / 5, H)),
    ("norm", lambda a: sl.norm(a), (C,)),
    ("norm 2", lambda a: sl.norm(a, 2), (A,)),
    ("norm axis keepdims", lambda a: sl.norm(a, ord=1, axis=1, keepdims=True), (G,)),
    ("pinv", lambda a: sl.pinv(a), (TALL,)),
    ("pinv complex", lambda a: sl.pinv(a), (C[:2],)),
    ("pinvh", lambda a: sl.pinvh(a), (S + np.triu(G, 1),)),
    ("pinvh upper complex", lambda a: sl.pinvh(a, lower=False), (H,)),
    ("lstsq", lambda a, x: sl.lstsq(a, x)[:2], (TALL, np.arange(4.0))),
    ("lstsq matrix singular values", lambda a, x: (sl.lstsq(a, x)[0], sl.lstsq(a, x)[3]),
     (TALL, B4)),
    ("lstsq wide complex", lambda a, x: sl.lstsq(a, x)[0], (C[:2], bc[:2])),
    ("polar", lambda a: sl.polar(a), (A,)),
    ("polar tall", lambda a: sl.polar(a), (TALL,)),
    ("polar left complex", lambda a: sl.polar(a, side="left"), (C,)),
    ("polar batch", lambda a: sl.polar(a), (np.stack([A, G]),)),
    ("block_diag", lambda x, y: sl.block_diag(x, y, 2.0), (A, b)),
    ("toeplitz", lambda c, r: sl.toeplitz(c, r), (b, bc[:2])),
    ("toeplitz hermitian", lambda c: sl.toeplitz(c), (bc,)),
    ("circulant", lambda c: sl.circulant(c), (b,)),
    ("hankel", lambda c, r: sl.hankel(c, r), (b, b[:2])),
]


@pytest.mark.parametrize("name,f,args", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradients_match_finite_differences(name, f, args):
    assert gradcheck(f, *args)


SECOND_ORDER_CASES = [
    ("cholesky", lambda a: sl.cholesky(a), (S,)),
    ("cho_solve", lambda a, x: sl.cho_solve(sl.cho_factor(a), x), (S, b)),
    ("solve", lambda a, x: sl.solve(a, x), (A, b)),
    ("solve pos", lambda a, x: sl.solve(a, x, assume_a="pos"), (S, b)),
    ("solve_triangular", lambda a, x: sl.solve_triangular(a, x, lower=True), (A, b)),
    ("expm", lambda a: sl.expm(a), (A / 3,)),
    ("expm complex", lambda a: sl.expm(a), (C / 4,)),
    ("logm", lambda a: sl.logm(a), (S2 / 4,)),
    ("sqrtm", lambda a: sl.sqrtm(a), (S,)),
    ("solve_sylvester", lambda a, m, q: sl.solve_sylvester(a, m, q), (A, S, G)),
    ("solve_continuous_lyapunov", lambda a, q: sl.solve_continuous_lyapunov(a, q), (A - 6 * np.eye(N), S)),
    ("solve_discrete_lyapunov", lambda a, q: sl.solve_discrete_lyapunov(a, q), (A / 5, S)),
    ("eigh", lambda a: _abs2(sl.eigh(a)), (S,)),
    ("eigh subset", lambda a: _abs2(sl.eigh(a, subset_by_index=[0, 1])), (S,)),
    ("eigh generalized", lambda a, m: _abs2(sl.eigh(a, m)), (A + A.T, S)),
    ("svd", lambda a: _abs2(sl.svd(a, full_matrices=False)), (TALL,)),
    ("qr", lambda a: sl.qr(a), (A,)),
    ("polar", lambda a: sl.polar(a), (A,)),
]


@pytest.mark.parametrize("name,f,args", SECOND_ORDER_CASES, ids=[c[0] for c in SECOND_ORDER_CASES])
def test_second_derivatives(name, f, args):
    assert gradgradcheck(f, *args)


# ------------------------------------------------------------------------- legacy call forms
def test_names_bound_before_the_call_are_the_wrappers():
    assert expm is scipy.linalg.expm and hasattr(expm, "__gradarray_original__")
    x = tracked(A / 3)
    y = expm(x)
    assert type(y) is ga.GradArray
    np.testing.assert_allclose(y.numpy(), expm.__gradarray_original__(A / 3))


def test_legacy_function_through_ga_grad():
    def legacy(a, rhs):
        c, low = cho_factor(a, lower=True, check_finite=False)
        x = cho_solve((c, low), rhs)
        return np.sum(x * rhs) + np.log(np.prod(np.diag(cholesky(a)))) * 2

    g_s, g_b = ga.grad(legacy, argnums=(0, 1))(S, b)
    assert isinstance(g_s, np.ndarray) and isinstance(g_b, np.ndarray)
    # b^T S^-1 b + log det S: d/db = 2 S^-1 b (S symmetric)
    np.testing.assert_allclose(g_b, 2 * np.linalg.solve(S, b), rtol=1e-12)
    assert gradcheck(legacy, S, b)


def test_plain_arrays_lists_and_scalars_mix_with_tracked_arrays():
    # tracked A with plain b, as a list, and the other way round
    assert gradcheck(lambda a: sl.solve(a, b.tolist()), A)
    assert gradcheck(lambda x: sl.solve(A, x, assume_a="sym"), b)
    assert gradcheck(lambda a: sl.solve_triangular(a, [1.0, np.float64(2.0), 3]), A)
    assert gradcheck(lambda x: sl.lu_solve(scipy.linalg.lu_factor(A), x), B2)
    assert gradcheck(lambda c: sl.cho_solve(sl.cho_factor(S), c), b)
    assert gradcheck(lambda q: sl.solve_sylvester(A, S.tolist(), q), G)
    assert gradcheck(lambda a: sl.solve_sylvester(a, S, np.float64(1.5) * G), A)
    # a tracked 0-d value inside a Python list, Python floats and NumPy scalars around it
    assert gradcheck(lambda t: sl.toeplitz([t, 2.0, np.float64(0.5)], [t, -1.0]), np.array(0.7))
    assert gradcheck(lambda t: sl.block_diag([[t, 1.0]], 3, np.float64(2.0)), np.array(0.3))
    assert gradcheck(lambda t: sl.expm([[t, 1.0], [0.0, np.float64(0.5)]]), np.array(0.2))
    assert gradcheck(lambda t: sl.expm(t), np.array(0.4))


@pytest.mark.parametrize("call", [
    lambda x: sl.cholesky(x, lower=True, overwrite_a=True, check_finite=False),
    lambda x: sl.cho_factor(x, True, True, False)[0],
    lambda x: sl.cho_solve(sl.cho_factor(x), x, overwrite_b=True),
    lambda x: sl.lu_factor(x, overwrite_a=True)[0],
    lambda x: sl.lu_solve(sl.lu_factor(x), x, overwrite_b=True),
    lambda x: sl.solve(x, x, overwrite_a=True, overwrite_b=True, assume_a="pos"),
    lambda x: sl.solve_triangular(x, x, overwrite_b=True),
    lambda x: sl.inv(x, overwrite_a=True),
    lambda x: sl.det(x, overwrite_a=True),
    lambda x: sl.eigh(x, overwrite_a=True, eigvals_only=True),
    lambda x: sl.svd(x, overwrite_a=True, compute_uv=False),
    lambda x: sl.qr(x, overwrite_a=True)[1],
    lambda x: sl.lstsq(x, x, overwrite_a=True, overwrite_b=True)[0],
], ids=["cholesky", "cho_factor", "cho_solve", "lu_factor", "lu_solve", "solve", "solve_triangular",
        "inv", "det", "eigh", "svd", "qr", "lstsq"])
def test_overwrite_flags_never_touch_a_gradarray(call):
    x = tracked(S.copy())
    version = x._version[0]
    out = call(x)
    np.testing.assert_array_equal(x.numpy(), S)
    assert x._version[0] == version
    np.sum(out).backward()                 # the tape is intact (no in-place write detected)
    assert x.grad is not None and np.all(np.isfinite(x.grad))


def test_positional_and_keyword_forms_agree():
    x = tracked(H)
    for got, ref in [
            (sl.cholesky(x, True), sl.cholesky(H, lower=True)),
            (sl.solve(x, bc, True, False, False, True, "pos"), sl.solve(H, bc, lower=True, assume_a="pos")),
            (sl.solve_triangular(x, bc, 2, True, True), sl.solve_triangular(H, bc, trans="C", lower=True,
                                                                            unit_diagonal=True)),
            (sl.eigh(x, None, lower=False, eigvals_only=True), sl.eigvalsh(H, lower=False)),
            (sl.svd(x, False, True)[1], sl.svdvals(H)),
            (sl.norm(x, "fro", None, False, False), sl.norm(H))]:
        np.testing.assert_allclose(host(got), ref, rtol=1e-12)


def test_one_triangle_routines_give_gradient_to_the_read_triangle_only():
    g = ga.grad(lambda a: np.sum(sl.cholesky(a)))(S)             # upper factor: upper triangle read
    assert np.all(np.tril(g, -1) == 0) and np.any(np.triu(g, 1) != 0)
    g = ga.grad(lambda a: np.sum(sl.solve(a, b, assume_a="sym", lower=True)))(S)
    assert np.all(np.triu(g, 1) == 0) and np.any(np.tril(g, -1) != 0)
    g = ga.grad(lambda c: np.sum(sl.cho_solve((c, False), b)))(np.linalg.cholesky(S).T + np.tril(G, -1))
    assert np.all(np.tril(g, -1) == 0)


def test_cho_factor_unused_triangle_matches_scipy_and_gets_its_own_gradient():
    a = S + np.tril(G, -1)
    c, lower = sl.cho_factor(tracked(a))
    np.testing.assert_array_equal(np.tril(host(c), -1), np.tril(a, -1))
    assert lower is False
    g = ga.grad(lambda x: np.sum(np.tril(sl.cho_factor(x)[0], -1)))(a)
    np.testing.assert_array_equal(g, np.tril(np.ones_like(a), -1))


def test_untracked_gradarrays_and_grad_disabled():
    out = sl.expm(ga.asarray(A / 3))
    assert type(out) is ga.GradArray and not out.requires_grad
    with ga.no_grad():
        out = sl.solve(tracked(A), b)
    assert not out.requires_grad


# ----------------------------------------------------------------------------- clear errors
def test_extra_columns_of_full_factors_are_refused():
    with pytest.raises(ValueError, match="not uniquely defined"):
        ga.grad(lambda a: np.sum(sl.svd(a)[0]))(TALL)             # U is 4 x 4 for a 4 x 3 matrix
    with pytest.raises(ValueError, match="not uniquely defined"):
        ga.grad(lambda a: np.sum(sl.qr(a)[0]))(TALL)
    assert gradcheck(lambda a: sl.qr(a)[0][:, :3], TALL)          # the unique part is fine


def test_not_differentiable_cases_raise():
    with pytest.warns(ga.GradientLostWarning):      # no rule: the bridge's warning, never silence
        sl.schur(tracked(A))
    with pytest.raises(NotImplementedError, match="type=1"):
        sl.eigh(tracked(S), S, type=2)
    with pytest.raises(NotImplementedError, match="raw"):
        sl.qr(tracked(A), mode="raw")
    with pytest.raises(NotImplementedError, match="polar"):
        sl.polar(tracked(WIDE))
    with pytest.raises(NotImplementedError, match="square"):
        ga.grad(lambda a: np.sum(sl.lu(a)[2]))(WIDE)
    with pytest.raises(NotImplementedError, match="complex"):
        sl.solve(tracked(C), bc, transposed=True)


def test_scipy_argument_errors():
    bad = A.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="infs or NaNs"):
        sl.cholesky(tracked(bad))
    assert np.isnan(host(sl.inv(tracked(bad), check_finite=False))).any()    # no check: NaNs out
    with pytest.raises(ValueError, match="square"):
        sl.inv(tracked(TALL))
    with pytest.raises(ValueError, match="not a recognized"):
        sl.solve(tracked(A), b, assume_a="triangular")
    with pytest.raises(np.linalg.LinAlgError):
        sl.cholesky(tracked(-S))
    with pytest.raises(np.linalg.LinAlgError):
        sl.solve(tracked(-S), b, assume_a="pos")
