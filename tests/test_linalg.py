"""numpy.linalg on GradArrays: every function against finite differences (gradcheck), batched and
complex inputs, second order for the main decompositions, the singular/degenerate special cases."""
import numpy as np
import pytest

import gradarray as ga
from gradarray.testing import gradcheck, gradgradcheck

RNG = np.random.default_rng(1234)


def rand(*shape, complex_=False):
    x = RNG.standard_normal(shape)
    if complex_:
        x = x + 1j * RNG.standard_normal(shape)
    return x


def wellcond(*shape, complex_=False):
    """Random + n I: comfortably invertible."""
    n = shape[-1]
    return rand(*shape, complex_=complex_) + n * np.eye(n)


def spd(*shape, complex_=False):
    n = shape[-1]
    a = rand(*shape, complex_=complex_)
    return a @ np.conj(np.swapaxes(a, -1, -2)) + n * np.eye(n)


def sym_distinct(n=3, complex_=False, batch=()):
    """Hermitian with well separated eigenvalues."""
    q, _ = np.linalg.qr(rand(*batch, n, n, complex_=complex_))
    w = np.arange(1.0, n + 1) * 1.5 - 2.0
    return (q * w[..., None, :]) @ np.conj(np.swapaxes(q, -1, -2))


def abs2(x):
    """|x|^2 elementwise, written with ufuncs that have rules (gauge invariant for eigenvectors)."""
    return x * np.conj(x)


# ------------------------------------------------------------------------------------ call paths
def test_both_call_paths_share_one_rule(backend):
    a, b = backend.asarray(wellcond(3, 3)), backend.asarray(rand(3, 2))
    A = ga.asarray(a, requires_grad=True)
    g1 = ga.grad(lambda A: np.sum(np.linalg.solve(A, b)))(A)
    g2 = ga.grad(lambda A: np.sum(ga.linalg.solve(A, b)))(A)
    np.testing.assert_allclose(backend.to_host(ga.asarray(g1).data), backend.to_host(ga.asarray(g2).data))
    out = ga.linalg.inv(a)                     # plain arrays in: a GradArray out
    assert isinstance(out, ga.GradArray)
    assert ga.linalg.LinAlgError is np.linalg.LinAlgError
    gradcheck(lambda A, b: ga.linalg.solve(A, b), a, b)


def test_singular_solve_raises_linalgerror(backend):
    A = ga.asarray(backend.asarray(np.ones((3, 3))), requires_grad=True)
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.solve(A, backend.asarray(np.ones(3)))


# -------------------------------------------------------------------------------- inv and solve
@pytest.mark.parametrize("complex_", [False, True])
def test_solve_matrix_and_vector_rhs(backend, complex_):
    a = backend.asarray(wellcond(2, 3, 3, complex_=complex_))
    gradcheck(np.linalg.solve, a, backend.asarray(rand(2, 3, 2, complex_=complex_)))
    gradcheck(np.linalg.solve, a, backend.asarray(rand(3, complex_=complex_)))        # vector b


def test_solve_broadcast_and_float32(backend):
    gradcheck(np.linalg.solve, backend.asarray(wellcond(2, 3, 3)), backend.asarray(rand(3, 2)))
    gradcheck(np.linalg.solve, backend.asarray(wellcond(3, 3), dtype=np.float32),
              backend.asarray(rand(3, 2), dtype=np.float32))


@pytest.mark.parametrize("complex_", [False, True])
def test_inv(backend, complex_):
    gradcheck(np.linalg.inv, backend.asarray(wellcond(2, 3, 3, complex_=complex_)))


# --------------------------------------------------------------------------------- det, slogdet
@pytest.mark.parametrize("complex_", [False, True])
def test_det_slogdet(backend, complex_):
    a = backend.asarray(wellcond(2, 3, 3, complex_=complex_))
    gradcheck(np.linalg.det, a)
    gradcheck(lambda a: tuple(np.linalg.slogdet(a)), a)


def test_det_gradient_at_singular_matrices(backend):
    # rank 2 (gradient = cofactor matrix, nonzero) and rank 1 (gradient 0): finite and correct
    r2 = rand(3, 2) @ rand(2, 3)
    r1 = rand(3, 1) @ rand(1, 3)
    for m in (r2, r1, np.stack([r2, wellcond(3, 3)])):
        x = backend.asarray(m)
        gradcheck(np.linalg.det, x)
    g = ga.grad(np.linalg.det)(backend.asarray(r2))
    cof = np.array([[np.linalg.det(np.delete(np.delete(r2, i, 0), j, 1)) * (-1) ** (i + j)
                     for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(backend.to_host(g), cof, atol=1e-10)


def test_slogdet_at_singular_matrix_is_finite(backend):
    a = ga.asarray(backend.asarray(rand(3, 2) @ rand(2, 3)), requires_grad=True)
    np.linalg.slogdet(a).logabsdet.backward()          # log|det| = -inf: finite (pinv) stand-in
    assert np.all(np.isfinite(backend.to_host(a.grad.data)))


# --------------------------------------------------------------------------------------- cholesky
@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_reads_one_triangle(backend, complex_, upper):
    # a non-Hermitian input: NumPy reads only one triangle, so the other must get zero gradient
    a = spd(2, 3, 3, complex_=complex_) + np.triu(rand(3, 3), 1) * 0.3
    if upper:
        a = np.conj(np.swapaxes(spd(2, 3, 3, complex_=complex_), -1, -2)) + np.tril(rand(3, 3), -1) * .3
    gradcheck(lambda a: np.linalg.cholesky(a, upper=upper), backend.asarray(a))


# ------------------------------------------------------------------------------------------- eigh
@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("UPLO", ["L", "U"])
def test_eigh_values_and_vectors(backend, complex_, UPLO):
    a = sym_distinct(3, complex_=complex_) + np.triu(rand(3, 3, complex_=complex_), 1) * 0.2
    x = backend.asarray(a)

    def f(a):
        w, v = np.linalg.eigh(a, UPLO=UPLO)
        return w, abs2(v)
    gradcheck(f, x)
    gradcheck(lambda a: np.linalg.eigvalsh(a, UPLO), x)


def test_eigh_batched(backend):
    gradcheck(lambda a: abs2(np.linalg.eigh(a)[1]), backend.asarray(sym_distinct(3, batch=(2,))))


def test_eigh_repeated_eigenvalues_no_nan(backend):
    q, _ = np.linalg.qr(rand(3, 3))
    a = backend.asarray((q * np.array([1.0, 1.0, 3.0])) @ q.T)     # eigenvalue 1 twice
    # the trace (sum of eigenvalues) and the projector on the simple eigenvector are smooth
    gradcheck(lambda a: np.sum(np.linalg.eigvalsh(a)), a)
    gradcheck(lambda a: abs2(np.linalg.eigh(a)[1][..., 2]), a)
    A = ga.asarray(a, requires_grad=True)
    w, v = np.linalg.eigh(A)
    np.sum(w * w + abs2(v) * 0.0 + 1.0).backward()
    assert np.all(np.isfinite(backend.to_host(A.grad.data)))


# -------------------------------------------------------------------------------------------- eig
def test_eig_nonsymmetric_real_and_complex(backend):
    a = np.array([[1.0, 2.0, 0.5], [-1.5, 0.3, 1.0], [0.2, 0.7, -2.0]])   # a complex pair
    for m in (a, a + 1j * rand(3, 3) * 0.3, np.stack([a, a.T + np.eye(3)])):
        x = backend.asarray(m)
        gradcheck(lambda a: (np.linalg.eig(a)[0], abs2(np.linalg.eig(a)[1])), x)
        gradcheck(np.linalg.eigvals, x)


# -------------------------------------------------------------------------------------------- svd
@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4), (2, 3, 2)])
@pytest.mark.parametrize("complex_", [False, True])
def test_svd_thin(backend, shape, complex_):
    x = backend.asarray(rand(*shape, complex_=complex_))

    def f(a):
        u, s, vh = np.linalg.svd(a, full_matrices=False)
        return s, abs2(u), abs2(vh), u @ vh if False else s
    gradcheck(lambda a: f(a)[:3], x)
    gradcheck(lambda a: np.linalg.svd(a, compute_uv=False), x)
    gradcheck(np.linalg.svdvals, x)


def test_svd_full_matrices(backend):
    square = backend.asarray(rand(3, 3))
    gradcheck(lambda a: tuple(abs2(t) for t in np.linalg.svd(a)), square)   # full == thin
    tall = backend.asarray(rand(4, 2))
    # using only the first min(M, N) columns of U is fine...
    gradcheck(lambda a: abs2(np.linalg.svd(a)[0][:, :2]), tall)
    # ...the extra columns are an arbitrary basis: a gradient reaching them is refused
    A = ga.asarray(tall, requires_grad=True)
    with pytest.raises(ValueError, match="not uniquely defined"):
        np.sum(abs2(np.linalg.svd(A)[0])).backward()


def test_svd_hermitian(backend):
    a = sym_distinct(3)
    a = a - 2.0 * np.eye(3)              # mixed signs: |w| reorders the eigenvalues
    x = backend.asarray(a + np.triu(rand(3, 3), 1) * 0.1)
    gradcheck(lambda a: np.linalg.svd(a, hermitian=True, compute_uv=False), x)
    gradcheck(lambda a: tuple(abs2(t) for t in np.linalg.svd(a, hermitian=True)), x)


# --------------------------------------------------------------------------------------------- qr
@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4), (2, 3, 2)])
@pytest.mark.parametrize("complex_", [False, True])
def test_qr_reduced_and_r(backend, shape, complex_):
    x = backend.asarray(rand(*shape, complex_=complex_))
    gradcheck(lambda a: tuple(np.linalg.qr(a)), x)
    gradcheck(lambda a: np.linalg.qr(a, mode="r"), x)


def test_qr_complete(backend):
    gradcheck(lambda a: tuple(np.linalg.qr(a, mode="complete")), backend.asarray(rand(2, 4)))
    tall = backend.asarray(rand(4, 2))
    gradcheck(lambda a: (np.linalg.qr(a, mode="complete")[0][:, :2], np.linalg.qr(a, "complete")[1]),
              tall)
    A = ga.asarray(tall, requires_grad=True)
    with pytest.raises(TypeError, match="raw"):
        np.linalg.qr(A, mode="raw")


# --------------------------------------------------------------------------------- lstsq and pinv
def test_lstsq_full_rank_with_residuals(backend):
    a, b = backend.asarray(rand(4, 2)), backend.asarray(rand(4, 2))
    gradcheck(lambda a, b: tuple(np.linalg.lstsq(a, b)[i] for i in (0, 1, 3)), a, b)
    gradcheck(lambda a, b: np.linalg.lstsq(a, b)[0], a, backend.asarray(rand(4)))


def test_lstsq_rank_deficient_minimum_norm(backend):
    a = backend.asarray(rand(4, 2) @ rand(2, 3))             # rank 2, 4x3
    b = backend.asarray(rand(4))
    # rcond large enough that finite-difference perturbations do not change the rank
    gradcheck(lambda a, b: np.linalg.lstsq(a, b, rcond=1e-4)[0], a, b)
    gradcheck(lambda a, b: np.linalg.lstsq(a, b, rcond=1e-4)[0], backend.asarray(rand(2, 3)), b[:2])


@pytest.mark.parametrize("complex_", [False, True])
def test_pinv(backend, complex_):
    gradcheck(np.linalg.pinv, backend.asarray(rand(2, 4, 3, complex_=complex_)))
    gradcheck(lambda a: np.linalg.pinv(a, rcond=1e-4), backend.asarray(rand(3, 2) @ rand(2, 4)))
    herm = sym_distinct(3) + np.triu(rand(3, 3), 1) * 0.1
    gradcheck(lambda a: np.linalg.pinv(a, hermitian=True), backend.asarray(herm))


def test_matrix_rank_is_untracked(backend):
    A = ga.asarray(backend.asarray(rand(3, 3)), requires_grad=True)
    r = np.linalg.matrix_rank(A)
    assert not r.requires_grad and int(r) == 3


# ------------------------------------------------------------------------------------------ norms
@pytest.mark.parametrize("ord", [None, 2, 1, np.inf, -np.inf, 3, 0.5, -2])
@pytest.mark.parametrize("complex_", [False, True])
def test_vector_norms(backend, ord, complex_):
    x = backend.asarray(rand(2, 4, complex_=complex_))
    gradcheck(lambda x: np.linalg.norm(x, ord=ord, axis=-1), x)
    gradcheck(lambda x: np.linalg.norm(x, ord=ord, axis=0, keepdims=True), x)
    gradcheck(lambda x: np.linalg.vector_norm(x, ord=2 if ord is None else ord, axis=(0, 1)), x)


@pytest.mark.parametrize("ord", [None, "fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf])
@pytest.mark.parametrize("complex_", [False, True])
def test_matrix_norms(backend, ord, complex_):
    x = backend.asarray(rand(3, 3, complex_=complex_))
    gradcheck(lambda x: np.linalg.norm(x, ord=ord), x)
    x3 = backend.asarray(rand(3, 2, 3, complex_=complex_))
    gradcheck(lambda x: np.linalg.norm(x, ord=ord, axis=(0, 2), keepdims=True), x3)
    if ord is not None:
        gradcheck(lambda x: np.linalg.matrix_norm(x, ord=ord), x3)


def test_norm_default_flattens(backend):
    gradcheck(np.linalg.norm, backend.asarray(rand(2, 2, 3)))
    gradcheck(lambda x: np.linalg.norm(x, keepdims=True), backend.asarray(rand(2, 3)))


@pytest.mark.parametrize("p", [None, 2, -2, 1, -1, np.inf, -np.inf, "fro", "nuc"])
def test_cond(backend, p):
    gradcheck(lambda x: np.linalg.cond(x, p), backend.asarray(wellcond(2, 3, 3)))


# ------------------------------------------------------------------------------ products, shapes
def test_matrix_power(backend):
    a = backend.asarray(wellcond(2, 3, 3) / 3)
    for n in (0, 1, 3, 4, -1, -3):
        if n == 0:
            out = np.linalg.matrix_power(ga.asarray(a, requires_grad=True), 0)
            np.testing.assert_allclose(backend.to_host(out.data), np.broadcast_to(np.eye(3), (2, 3, 3)))
            continue
        gradcheck(lambda a: np.linalg.matrix_power(a, n), a)


def test_products(backend):
    a, b, c = (backend.asarray(rand(*s)) for s in ((2, 3), (3, 4), (4,)))
    gradcheck(lambda a, b, c: np.linalg.multi_dot([a, b, c]), a, b, c)
    gradcheck(lambda c, a, b: np.linalg.multi_dot([c[:3], a.T, b[:2]]), c, a, b)
    gradcheck(np.linalg.matmul, backend.asarray(rand(2, 2, 3, complex_=True)), b)
    gradcheck(np.linalg.matmul, c, backend.asarray(rand(4, 2)))
    gradcheck(np.linalg.matmul, backend.asarray(rand(3, 4)), c)
    gradcheck(np.linalg.outer, c, backend.asarray(rand(3, complex_=True)))
    gradcheck(np.linalg.vecdot, backend.asarray(rand(2, 3, complex_=True)), backend.asarray(rand(2, 3)))
    gradcheck(lambda x, y: np.linalg.vecdot(x, y, axis=0), a, backend.asarray(rand(2, 1)))
    gradcheck(lambda x, y: np.linalg.cross(x, y), backend.asarray(rand(2, 3, complex_=True)),
              backend.asarray(rand(3)))


def test_tensor_functions(backend):
    a, b = backend.asarray(rand(2, 3, 4)), backend.asarray(rand(3, 4, 2))
    gradcheck(lambda a, b: np.linalg.tensordot(a, b), a, b)
    gradcheck(lambda a, b: np.linalg.tensordot(a, b, axes=([1, 0], [0, 2])), a, backend.asarray(rand(3, 2, 2)))
    gradcheck(lambda x, a: np.linalg.tensordot(x, a, axes=1), backend.asarray(rand(3, 2)), a)
    t = backend.asarray((wellcond(6, 6)).reshape(2, 3, 6))
    gradcheck(lambda t: np.linalg.tensorinv(t, ind=2), t)
    gradcheck(lambda t, b: np.linalg.tensorsolve(t, b), t, backend.asarray(rand(2, 3)))
    t2 = backend.asarray(wellcond(6, 6).reshape(6, 2, 3))
    gradcheck(lambda t, b: np.linalg.tensorsolve(t, b, axes=(0,)), t2, backend.asarray(rand(2, 3)))


def test_diagonal_trace_transpose(backend):
    x = backend.asarray(rand(2, 3, 4, complex_=True))
    for off in (0, 1, -1, 3):
        gradcheck(lambda x: np.linalg.diagonal(x, offset=off), x)
        gradcheck(lambda x: np.linalg.trace(x, offset=off), x)
    gradcheck(np.linalg.matrix_transpose, x)
    out = np.linalg.trace(ga.asarray(x), offset=1)
    np.testing.assert_allclose(backend.to_host(out.data), np.linalg.trace(backend.to_host(x), offset=1))


# ---------------------------------------------------------------------------------- second order
def test_second_order(backend):
    a = backend.asarray(wellcond(3, 3))
    gradgradcheck(np.linalg.inv, a)
    gradgradcheck(np.linalg.solve, a, backend.asarray(rand(3, 2)))
    gradgradcheck(np.linalg.det, a)
    gradgradcheck(lambda a: np.linalg.slogdet(a)[1], a)
    gradgradcheck(np.linalg.cholesky, backend.asarray(spd(3, 3)))
    gradgradcheck(np.linalg.eigvalsh, backend.asarray(sym_distinct(3)))
    gradgradcheck(lambda a: np.linalg.svd(a, compute_uv=False), backend.asarray(rand(3, 2)))
    gradgradcheck(np.linalg.norm, backend.asarray(rand(2, 3)))
    gradgradcheck(lambda x: np.linalg.norm(x, "nuc"), backend.asarray(rand(3, 2)))
    gradgradcheck(lambda a: np.linalg.det(a), backend.asarray(wellcond(2, 2, complex_=True)))
