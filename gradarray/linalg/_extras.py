"""torch.linalg extras with NumPy-style signatures, differentiable, on any backend.

Primitives (forward on raw arrays, rule below): ``solve_triangular``, ``lu_factor``,
``matrix_exp``, ``vander``. Everything else is a composite of differentiable operations:
``lu``, ``lu_solve``, ``householder_product``, ``ldl_factor``, ``ldl_solve``, the ``*_ex``
variants.

Backends: on NumPy, SciPy (optional) is used for 2-D triangular solves and LU; on CuPy,
``cupyx.scipy.linalg``; anything else (and stacked matrices) uses the pure array-API code here.
"""
from __future__ import annotations

import numpy as np

from .._array import GradArray, _make
from .._backend import create_like
from .._registry import Primitive, conj, defvjp
from ._ops import eye_like, mH, mT, matmul, tril, triu, value, wrap
from ._decompositions import _take_last
from ._rules import LinAlgError

__all__ = ["solve_triangular", "lu_factor", "lu_solve", "lu", "matrix_exp", "cholesky_ex",
           "inv_ex", "solve_ex", "vander", "householder_product", "ldl_factor", "ldl_solve"]


def _scipy_linalg_for(raw):
    """scipy.linalg for 2-D NumPy data, cupyx.scipy.linalg for 2-D CuPy data, else None."""
    if getattr(raw, "ndim", 0) != 2:
        return None
    module = type(raw).__module__
    try:
        if isinstance(raw, np.ndarray):
            import scipy.linalg as sla
            return sla
        if module.startswith("cupy"):
            import cupyx.scipy.linalg as sla
            return sla
    except ImportError:
        return None
    return None


def _triangle(a, upper, unitriangular):
    """The triangular matrix that a triangular solve actually uses (raw or GradArray)."""
    t = triu(a) if upper else tril(a)
    if unitriangular:
        eye = eye_like(a)
        t = t * (1 - eye) + eye
    return t


# ------------------------------------------------------------------------------ solve_triangular
def _solve_triangular_raw(a, b, upper, left=True, unitriangular=False):
    if not left:
        # X A = B  <=>  A^T X^T = B^T, and A^T is triangular the other way
        return np.swapaxes(_solve_triangular_raw(np.swapaxes(a, -1, -2), np.swapaxes(b, -1, -2),
                                                 not upper, True, unitriangular), -1, -2)
    sla = _scipy_linalg_for(a)
    if sla is not None and b.ndim == 2:
        return sla.solve_triangular(a, b, lower=not upper, unit_diagonal=unitriangular)
    return np.linalg.solve(_triangle(a, upper, unitriangular), b)


_solve_triangular = Primitive(_solve_triangular_raw)
_solve_triangular.__name__ = "solve_triangular"


def _solve_triangular_vjp(g, ans, a, b, upper, left=True, unitriangular=False):
    """Left: X = T^-1 B -> gB = T^-H g, gT = -gB X^H. Right: X = B T^-1 -> gB = g T^-H,
    gT = -X^H gB. Only the triangle that was read gets a gradient (strict when unitriangular)."""
    tH = mH(a)
    gb = _solve_triangular(tH, g, not upper, left, unitriangular)
    ga = -matmul(gb, mH(ans)) if left else -matmul(mH(ans), gb)
    k = 1 if unitriangular else 0
    ga = triu(ga, k) if upper else tril(ga, -k)
    return ga, gb, None, None, None


defvjp(_solve_triangular, save="both")(_solve_triangular_vjp)


def solve_triangular(a, b, *, upper, left=True, unitriangular=False):
    """Solve A X = B (left) or X A = B (right) for triangular A (..., n, n); B is (..., n, k).

    Only the ``upper``/lower triangle of A is read; with ``unitriangular`` its diagonal is taken as 1.
    """
    if getattr(b, "ndim", 0) < 2:
        raise ValueError("solve_triangular: B must be a (stack of) matrices (..., n, k)")
    return wrap(_solve_triangular(wrap(a), wrap(b), bool(upper), bool(left), bool(unitriangular)))


# ------------------------------------------------------------------------------------------- LU
def _lu_generic(a):
    """Partial-pivoting LU of stacked matrices with array operations only (any backend).

    Returns (LU, piv) in LAPACK/SciPy form: piv[..., j] = row swapped with row j at step j
    (0-based); LU holds the unit lower L below the diagonal and U on and above it.
    """
    a = a.copy()
    m, n = a.shape[-2], a.shape[-1]
    k = min(m, n)
    rows = np.arange(m, like=a)
    piv = np.zeros(a.shape[:-2] + (k,), dtype=np.int32, like=a)
    for j in range(k):
        p = np.argmax(np.abs(a[..., j:, j]), axis=-1) + j
        piv[..., j] = p
        onehot = (rows == p[..., None]).astype(a.dtype)[..., :, None]       # (..., m, 1)
        row_p = np.sum(onehot * a, axis=-2)
        row_j = a[..., j, :].copy()
        a = a + onehot * (row_j - row_p)[..., None, :]
        a[..., j, :] = row_p
        pivot = a[..., j, j]
        safe = np.where(pivot == 0, 1, pivot)
        a[..., j + 1:, j] = a[..., j + 1:, j] / safe[..., None]
        a[..., j + 1:, j + 1:] = a[..., j + 1:, j + 1:] - a[..., j + 1:, j, None] * a[..., j, None, j + 1:]
    return a, piv


def _lu_factor_raw(a):
    sla = _scipy_linalg_for(a)
    if sla is not None:
        lu_, piv = sla.lu_factor(a, check_finite=False)
        return lu_, piv.astype(np.int32)
    return _lu_generic(a)


def _permutation(piv, m):
    """perm with A[perm] = L U, from LAPACK's sequential row swaps (raw)."""
    piv = value(piv)
    perm = np.broadcast_to(np.arange(m, like=piv), piv.shape[:-1] + (m,)).copy()
    rows = np.arange(m, like=piv)
    for j in range(piv.shape[-1]):
        p = piv[..., j]
        at_j = perm[..., j].copy()
        at_p = np.take_along_axis(perm, p[..., None], axis=-1)[..., 0]
        perm = np.where(rows == p[..., None], at_j[..., None], perm)
        perm[..., j] = at_p
    return perm


def _gather_rows(x, perm):
    """x[..., perm, :] with a (possibly stacked) raw permutation."""
    if perm.ndim == 1:
        return x[..., perm, :]
    return _take_last(x, perm)


_lu_factor = Primitive(_lu_factor_raw)
_lu_factor.__name__ = "lu_factor"


def _lu_factor_vjp(g, ans, a):
    """A = P L U (square): gA = P L^-H [tril(L^H gL, -1) + triu(gU U^H)] U^-H, with gL, gU the
    strictly lower / upper parts of the gradient of the packed LU."""
    LU, piv = ans
    gLU = g[0]
    n = LU.shape[-1]
    if LU.shape[-2] != n:
        raise NotImplementedError("the gradient of lu_factor / lu is implemented for square matrices")
    L = _triangle(LU, False, True)
    U = triu(LU)
    M = tril(matmul(mH(L), tril(gLU, -1)), -1) + triu(matmul(triu(gLU), mH(U)))
    X = _solve_triangular(mH(L), M, True, True, True)           # L^-H M
    X = _solve_triangular(mH(U), X, False, False, False)        # ... U^-H
    inv_perm = np.argsort(_permutation(piv, n), axis=-1)
    return _gather_rows(X, inv_perm)


defvjp(_lu_factor, save="ans")(lambda g, ans, a: (_lu_factor_vjp(g, ans, a),))


def lu_factor(a):
    """(LU, piv) like scipy.linalg.lu_factor (0-based pivots), for stacked matrices (..., M, N).
    Differentiable with respect to ``a`` for square matrices."""
    return tuple(wrap(x) for x in _lu_factor(wrap(a)))


def lu(a):
    """(P, L, U) with A = P L U like scipy.linalg.lu; L (..., M, K) unit lower, U (..., K, N)."""
    LU, piv = lu_factor(a)
    m, n = LU.shape[-2], LU.shape[-1]
    k = min(m, n)
    raw = value(LU)
    L = tril(LU[..., :, :k], -1) + create_like(np.eye, raw, m, k, dtype=raw.dtype)
    U = triu(LU[..., :k, :])
    perm = _permutation(piv, m)
    P = (np.arange(m, like=raw)[:, None] == perm[..., None, :]).astype(raw.dtype)
    return wrap(P), L, U


def lu_solve(lu_and_piv, b, trans=0):
    """Solve A x = b (trans=0), A^T x = b (1) or A^H x = b (2) from ``lu_factor``'s output.
    Differentiable with respect to the factors and ``b``."""
    LU, piv = (wrap(x) for x in lu_and_piv)
    b = wrap(b)
    n = LU.shape[-1]
    vector = b.ndim == 1
    b2 = b[:, None] if vector else b
    L, U = _triangle(LU, False, True), triu(LU)
    perm = _permutation(piv, n)
    if trans == 0:
        y = solve_triangular(L, _gather_rows(b2, perm), upper=False, unitriangular=True)
        x = solve_triangular(U, y, upper=True)
    else:
        flip = mT if trans == 1 else mH
        z = solve_triangular(flip(U), b2, upper=False)
        w = solve_triangular(flip(L), z, upper=True, unitriangular=True)
        x = _gather_rows(w, np.argsort(perm, axis=-1))
    return x[..., 0] if vector else x


# ----------------------------------------------------------------------------------- matrix_exp
def _expm_raw(a):
    """Scaling and squaring with a degree-18 Taylor polynomial (|A / 2^s|_1 <= 1/2, error < 1e-22)."""
    norm = float(np.max(np.sum(np.abs(a), axis=-2))) if a.size else 0.0
    s = max(0, int(np.ceil(np.log2(norm / 0.5)))) if norm > 0.5 else 0
    x = a / (2.0 ** s)
    eye = create_like(np.eye, a, a.shape[-1], dtype=a.dtype)
    term = np.broadcast_to(eye, a.shape)
    result = term.copy()
    for k in range(1, 19):
        term = (term @ x) / k
        result = result + term
    for _ in range(s):
        result = result @ result
    return result


matrix_exp_primitive = Primitive(_expm_raw)
matrix_exp_primitive.__name__ = "matrix_exp"


def _matrix_exp_vjp(g, ans, a):
    """The adjoint of the Frechet derivative L(A, .) is L(A^H, .), and
    expm([[X, E], [0, X]]) = [[expm X, L(X, E)], [0, expm X]]."""
    n = a.shape[-1]
    aH = mH(a)
    raw_g = value(g)
    shape = np.broadcast_shapes(value(aH).shape[:-2], raw_g.shape[:-2]) + (2 * n, 2 * n)
    block = np.zeros(shape, dtype=raw_g.dtype, like=raw_g)
    if type(g) is GradArray or type(aH) is GradArray:
        block = _make(block)
    block[..., :n, :n] = aH
    block[..., n:, n:] = aH
    block[..., :n, n:] = g
    return matrix_exp_primitive(block)[..., :n, n:]


defvjp(matrix_exp_primitive, _matrix_exp_vjp, save="args")


def matrix_exp(a):
    """exp(A) of stacked square matrices, differentiable to any order."""
    return wrap(matrix_exp_primitive(wrap(a)))


# -------------------------------------------------------------------------------- *_ex variants
# Failures are detected without relying on LinAlgError: NumPy raises it, but CuPy (whose linalg
# error mode defaults to 'ignore') returns a factor with a non-positive or NaN pivot, or an inverse /
# solution with inf or NaN, and no error. ``info`` itself is then computed with array operations
# (an unblocked Cholesky or LU on the raw data), so it is the same on every backend.
def _no_info(raw):
    return np.zeros(raw.shape[:-2], dtype=np.int32, like=raw)


def _first_true(mask):
    """1-based index of the first True along the last axis (0 when there is none), as int32."""
    return np.where(np.any(mask, axis=-1), np.argmax(mask, axis=-1) + 1, 0).astype(np.int32)


def _info_first_zero_pivot(raw):
    """1-based index of the first exactly-zero pivot of LU, per matrix (0 when invertible)."""
    lu_, _ = _lu_generic(raw)
    return _first_true(np.diagonal(lu_, axis1=-2, axis2=-1) == 0)


def _info_cholesky(raw):
    """Order of the first leading minor that is not positive definite, per matrix (0 when PD):
    an unblocked Cholesky of the lower triangle, failing where the pivot is not > 0 (or is NaN)."""
    n = raw.shape[-1]
    L = np.zeros(raw.shape, dtype=raw.dtype, like=raw)
    failed = np.zeros(raw.shape[:-2] + (n,), dtype=bool, like=raw)
    for j in range(n):
        row = L[..., j, :j]
        d = np.real(raw[..., j, j] - np.sum(row * np.conj(row), axis=-1))
        ok = d > 0                                    # False for NaN too
        failed[..., j] = ~ok
        root = np.sqrt(np.where(ok, d, 1))
        L[..., j, j] = root
        below = raw[..., j + 1:, j] - np.sum(L[..., j + 1:, :j] * np.conj(row)[..., None, :], axis=-1)
        L[..., j + 1:, j] = below / root[..., None]
    return _first_true(failed)


def _cholesky_failed(factor):
    """Whether some factor of the stack has a pivot that is not positive and finite (CuPy's silent
    failure: LAPACK/cuSOLVER leave the failing pivot non-positive or NaN)."""
    d = np.real(np.diagonal(factor, axis1=-2, axis2=-1))
    return not bool(np.all(np.isfinite(d) & (d > 0)))


def _all_finite(raw):
    return bool(np.all(np.isfinite(raw)))


def _with_info(compute, a, info):
    """Run ``compute`` on ``a`` where every matrix with info != 0 is replaced by the identity; those
    results are then set to NaN. Gradients of the good matrices are exact, the bad ones get zero."""
    raw = value(a)
    bad = info != 0
    badf = bad.astype(raw.real.dtype)[..., None, None]
    safe = a * (1 - badf) + eye_like(raw) * badf
    out = wrap(compute(safe))
    if out.requires_grad:
        out = out * 1          # a fresh array: do not write into a view of another result
    out[bad] = np.nan
    return out


def _raise_if(check_errors, info, what):
    if check_errors and bool(np.any(info != 0)):
        raise LinAlgError(f"{what}: the input is not invertible / not positive definite "
                          "(see info)")


def cholesky_ex(a, *, upper=False, check_errors=False):
    """(L, info): info[...] = order of the first non positive-definite leading minor (0: success).
    Failed matrices give NaN factors instead of raising (unless check_errors).

    ``upper=True`` reads the upper triangle and returns U = L^H with A = U^H U, computed as the
    conjugate transpose of the lower factor of A^H (every backend has the lower one)."""
    a = wrap(a)
    if upper:
        L, info = cholesky_ex(mH(a), check_errors=check_errors)
        return mH(L), info
    try:
        out = np.linalg.cholesky(a)
        if not _cholesky_failed(value(out)):
            return out, wrap(_no_info(value(a)))
    except LinAlgError:
        if check_errors:
            raise
    info = _info_cholesky(value(a))
    _raise_if(check_errors, info, "cholesky_ex")
    return _with_info(np.linalg.cholesky, a, info), wrap(info)


def inv_ex(a, *, check_errors=False):
    """(A^-1, info): info = 1-based index of the first zero pivot of LU (0: success)."""
    a = wrap(a)
    out, info = _attempt(lambda: np.linalg.inv(a), a, check_errors, "inv_ex")
    if out is not None:
        return out, info
    return _with_info(np.linalg.inv, a, info), wrap(info)


def _attempt(call, a, check_errors, name):
    """Run ``call()`` (an inverse or solve with ``a``): ``(result, wrapped info)`` when it is usable,
    else ``(None, info)`` with the 1-based first zero pivot of ``a``. Failure is read from the result
    as well as from LinAlgError, because CuPy returns NaNs without raising by default."""
    try:
        out = call()
        if _all_finite(value(out)):
            return out, wrap(_no_info(value(a)))
    except LinAlgError:
        if check_errors:
            raise
        out = None
    info = _info_first_zero_pivot(value(a))
    _raise_if(check_errors, info, name)
    if out is not None and not bool(np.any(info != 0)):
        return out, wrap(info)           # non-finite input, no zero pivot: NumPy's answer too
    return None, info


def solve_ex(a, b, *, left=True, check_errors=False):
    """(X, info) for A X = B (left) or X A = B (right, B a stack of matrices)."""
    a, b = wrap(a), wrap(b)
    if not left:
        x, info = solve_ex(mT(a), mT(b), left=True, check_errors=check_errors)
        return mT(x), info
    x, info = _attempt(lambda: np.linalg.solve(a, b), a, check_errors, "solve_ex")
    if x is not None:
        return x, info
    bad = info != 0
    raw = value(a)
    badf = bad.astype(raw.real.dtype)[..., None, None]
    x = np.linalg.solve(a * (1 - badf) + eye_like(raw) * badf, b) * 1
    x[bad] = np.nan
    return x, wrap(info)


# ---------------------------------------------------------------------------------------- vander
def _vander_raw(x, n):
    return x[..., None] ** np.arange(n, like=x)


_vander = Primitive(_vander_raw)
_vander.__name__ = "vander"
# d/dx sum_j g_j x^j = sum_j j g_j x^(j-1), with x^(j-1) read from the output itself
defvjp(_vander, lambda g, ans, x, n: np.sum(
    g[..., 1:] * conj(ans[..., :-1]) * np.arange(1, n, like=value(g)), axis=-1), save="ans")


def vander(x, N=None, increasing=True):
    """Vandermonde matrices of stacked vectors (..., n) -> (..., n, N); column j is x**j
    (torch.linalg.vander's order; ``increasing=False`` gives NumPy's np.vander order)."""
    x = wrap(x)
    n = x.shape[-1] if N is None else int(N)
    v = _vander(x, n)
    return v if increasing else v[..., ::-1]


# ---------------------------------------------------------------------------- householder_product
def householder_product(A, tau):
    """First N columns of H_1 ... H_k, H_i = I - tau_i v_i v_i^H, v_i = (0, .., 0, 1, A[i+1:, i])
    (LAPACK's orgqr/ungqr); differentiable in A and tau."""
    A, tau = wrap(A), wrap(tau)
    m, n = A.shape[-2], A.shape[-1]
    raw = value(A)
    dtype = np.result_type(raw.dtype, value(tau).dtype)
    eye = create_like(np.eye, raw, m, dtype=dtype)
    Q = wrap(np.broadcast_to(eye, raw.shape[:-2] + (m, m)).copy())
    rows = np.arange(m, like=raw)
    for i in range(tau.shape[-1]):
        below = (rows > i).astype(dtype)
        v = A[..., :, i] * below + eye[i]
        Qv = matmul(Q, v[..., :, None])
        Q = Q - (Qv * tau[..., i, None, None]) * conj(v)[..., None, :]
    return Q[..., :, :n]


# ------------------------------------------------------------------------------------------- LDL
def ldl_factor(A, *, hermitian=False):
    """(LD, pivots) with A = L D L^T (L D L^H if hermitian), reading the lower triangle of A.

    Unlike LAPACK's Bunch-Kaufman sytrf this factorisation does NOT pivot (pivots are always
    1..n, the LAPACK code for "no interchange"), so it needs nonzero leading principal minors; in
    exchange it is a composite of differentiable operations (any order of derivative).
    """
    A = wrap(A)
    n = A.shape[-1]
    raw = value(A)
    rows = np.arange(n, like=raw)
    eye = create_like(np.eye, raw, n, dtype=raw.dtype)
    cols, ds = [], []
    for j in range(n):
        c = A[..., :, j]
        for k in range(j):
            ljk = cols[k][..., j]
            c = c - cols[k] * ((conj(ljk) if hermitian else ljk) * ds[k])[..., None]
        d = c[..., j]
        if hermitian:
            d = (d + conj(d)) * 0.5
        below = (rows > j).astype(raw.dtype)
        cols.append(c * below / d[..., None] + eye[j])
        ds.append(d)
    LD = 0
    for j in range(n):
        LD = LD + (cols[j] - eye[j])[..., :, None] * eye[j] + ds[j][..., None, None] * (
            eye[j][:, None] * eye[j])
    pivots = np.broadcast_to(np.arange(1, n + 1, dtype=np.int32, like=raw), raw.shape[:-1]).copy()
    return wrap(LD), wrap(pivots)


def ldl_solve(LD, pivots, B, *, hermitian=False):
    """Solve A X = B from ``ldl_factor``'s output (unpivoted factorisations only)."""
    LD, B = wrap(LD), wrap(B)
    piv = value(wrap(pivots))
    n = LD.shape[-1]
    if not bool(np.all(piv == np.arange(1, n + 1, like=piv))):
        raise NotImplementedError("ldl_solve supports the unpivoted factorisations of "
                                  "gradarray.linalg.ldl_factor only")
    L = _triangle(LD, False, True)
    d = np.sum(LD * eye_like(LD), axis=-1)
    y = solve_triangular(L, B, upper=False, unitriangular=True)
    y = y / d[..., :, None]
    return solve_triangular(mH(L) if hermitian else mT(L), y, upper=True, unitriangular=True)
