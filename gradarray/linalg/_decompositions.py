"""Derivative rules for the ``numpy.linalg`` decompositions: cholesky, eigh, eig, svd and qr, and
the composites built on them (eigvalsh, eigvals, svdvals, ``svd(hermitian=True)``).

Conventions as in ``_rules``: ``A^H`` is ``mH``, gradients follow the project's complex
convention, shapes are stacked ``(..., M, N)``. Each VJP is written with the differentiable blocks
of ``_ops`` and ``np.linalg.*`` calls, so under ``create_graph=True`` it records itself.
Repeated eigenvalues or singular values: the ``1/(w_j - w_i)`` terms of numerically equal pairs are
masked to zero (``safe_inverse_differences``); a gradient that reaches the non-unique extra columns
of ``full_matrices=True`` / ``mode='complete'`` is refused.

Owns: the rules of these factorisations, and ``_take_last`` (a batched gather, also used by
``_extras``). Must not know about: the other ``numpy.linalg`` rules (solve, det, lstsq, norms, ...);
from ``_rules`` it uses only the registration and tracking helpers (``composite``, ``_tracked``,
``_nonzero_anywhere``).
"""
from __future__ import annotations

import numpy as np

from .._backend import is_host_array
from .._tables import IMPLEMENTATIONS, Rule
from .._array import GradArray, _make
from .._dispatch import apply_function, apply_untracked
from .._registry import defvjp
from ._ops import (diag_embed, diag_part, eye_like, fold_hermitian, mH, mT, matmul, real_part,
                   safe_inverse_differences, tril, value)
from ._rules import _nonzero_anywhere, _tracked, composite


# ------------------------------------------------------------------------------------ helpers
def _solve_right(X, A):
    """X A^{-1}, i.e. the solution of Y A = X."""
    return mH(np.linalg.solve(mH(A), mH(X)))


def _concat_last(a, b):
    """[a | b] along the last axis (built by writing into zeros: setitem is differentiable)."""
    ra, rb = value(a), value(b)
    shape = np.broadcast_shapes(ra.shape[:-1], rb.shape[:-1]) + (ra.shape[-1] + rb.shape[-1],)
    out = np.zeros(shape, dtype=np.result_type(ra.dtype, rb.dtype), like=ra)
    if type(a) is GradArray or type(b) is GradArray:
        out = _make(out)
    k = ra.shape[-1]
    out[..., :k] = a
    out[..., k:] = b
    return out


# ------------------------------------------------------------------------------------------ cholesky
def _cholesky_vjp(g, ans, a, upper=False):
    """A = L L^H. With P = Phi(L^H gL) (lower triangle, diagonal halved), the gradient with respect
    to the Hermitian matrix is S = sym(L^-H P L^-1). NumPy reads only one triangle of ``a`` (the lower
    one, the upper one for upper=True): the gradient is folded onto it (``fold_hermitian``)."""
    L = mH(ans) if upper else ans
    gL = mH(g) if upper else g
    P = matmul(mH(L), gL)
    P = tril(P) - 0.5 * real_part(P) * eye_like(P)
    Linv = np.linalg.inv(L)
    S = matmul(matmul(mH(Linv), P), Linv)
    return fold_hermitian((S + mH(S)) * 0.5, lower=not upper)


defvjp(np.linalg.cholesky, _cholesky_vjp, save="ans")


# ---------------------------------------------------------------------------------------------- eigh
def _eigh_vjp(g, ans, a, UPLO="L"):
    """A = V diag(w) V^H. dw_i = (V^H dA V)_ii, dV = V (F o V^H dA V), F_ij = 1/(w_j - w_i).

    gA (as a Hermitian matrix) = V (diag(gw) + F o V^H gV) V^H, symmetrised, then folded onto the
    triangle NumPy read (UPLO). Repeated eigenvalues: eigenvalue gradients are finite; the
    1/(w_j - w_i) terms of numerically equal pairs are masked to zero (``safe_inverse_differences``),
    which is exact for losses invariant under rotations inside the degenerate eigenspace.
    """
    w, V = ans
    gw, gV = g
    inner = diag_embed(gw) + safe_inverse_differences(w) * matmul(mH(V), gV)
    S = matmul(matmul(V, inner), mH(V))
    return fold_hermitian((S + mH(S)) * 0.5, lower=(str(UPLO).upper() == "L"))


defvjp(np.linalg.eigh, _eigh_vjp, save="ans")


@composite(np.linalg.eigvalsh)
def eigvalsh(a, UPLO="L"):
    """Eigenvalues through eigh (the eigenvectors are needed for the gradient anyway)."""
    return np.linalg.eigh(a, UPLO=UPLO)[0]       # CuPy returns a plain tuple


# ----------------------------------------------------------------------------------------------- eig
def _eig_vjp(g, ans, a):
    """A V = V diag(w), columns of V of unit norm (NumPy's normalisation).

    With C = V^-1 dV: C_ij = (V^-1 dA V)_ij / (w_j - w_i) off the diagonal, and Re C_ii fixed by
    |v_i| = 1 (Im C_ii is the phase gauge, the loss must not depend on it). The adjoint is
        gA = V^-H [diag(gw) + conj(F) o (V^H gV - V^H V Re diag(V^H gV))] V^H,
    F_ij = 1/(w_j - w_i), masked to zero for (numerically) repeated eigenvalues.
    """
    w, V = ans
    gw, gV = g
    VhgV = matmul(mH(V), gV)
    r = real_part(diag_part(VhgV))
    X = VhgV - matmul(mH(V), V * r[..., None, :])
    X = X * safe_inverse_differences(w, conjugate=True) + diag_embed(gw)
    return np.linalg.solve(mH(V), matmul(X, mH(V)))      # V^-H X V^H


defvjp(np.linalg.eig, _eig_vjp, save="ans")


@composite(np.linalg.eigvals)
def eigvals(a):
    return np.linalg.eig(a)[0]


# ----------------------------------------------------------------------------------------------- svd
def _drop_extra(g, k, axis, what):
    """full_matrices=True: the columns of U (rows of V^H) beyond min(M, N) are an arbitrary basis of
    the orthogonal complement; no gradient is defined for them. Refuse a nonzero one clearly."""
    extra = g[..., :, k:] if axis == -1 else g[..., k:, :]
    if _nonzero_anywhere(extra):
        raise ValueError(
            f"np.linalg.svd(full_matrices=True): the gradient reached the extra {what} beyond "
            "min(M, N), which are not uniquely defined (any orthonormal basis of the complement is "
            "valid). Use full_matrices=False, or use only the first min(M, N) of them.")
    return g[..., :, :k] if axis == -1 else g[..., :k, :]


def _svd_vjp(g, ans, a, full_matrices=True, compute_uv=True, hermitian=False):
    """A = U diag(s) V^H (thin part, k = min(M, N)); F_ij = 1/(s_j^2 - s_i^2), masked when equal.

    gA = U [ (F o J) S + S (F o K) + diag(gs) + i Im diag(U^H gU) / s ] V^H
         + (I - U U^H) gU S^-1 V^H + U S^-1 gV^H (I - V V^H),
    J = U^H gU - gU^H U, K = V^H gV - gV^H V. The i Im term (complex only) accounts for the phase
    shared by u_i and v_i; S^-1 is taken as 0 for zero singular values (no derivative there).
    """
    U, s, Vh = ans
    gU, gs, gVh = g
    m, n, k = U.shape[-2], Vh.shape[-1], s.shape[-1]
    if full_matrices:
        if U.shape[-1] > k:
            U, gU = U[..., :, :k], _drop_extra(gU, k, -1, "columns of U")
        if Vh.shape[-2] > k:
            Vh, gVh = Vh[..., :k, :], _drop_extra(gVh, k, -2, "rows of V^H")
    UhgU = matmul(mH(U), gU)
    VhgV = matmul(Vh, mH(gVh))
    F = safe_inverse_differences(s * s)
    J = UhgU - mH(UhgU)
    K = VhgV - mH(VhgV)
    inner = (F * J) * s[..., None, :] + s[..., :, None] * (F * K) + diag_embed(gs)
    s_raw = value(s)
    nz = (s_raw > 0).astype(s_raw.dtype)
    s_inv = nz / (s + (1 - nz))
    if value(UhgU).dtype.kind == "c":
        inner = inner + diag_embed(diag_part(J) * 0.5 * s_inv)
    gA = matmul(matmul(U, inner), Vh)
    if m > k:
        gA = gA + matmul((gU - matmul(U, UhgU)) * s_inv[..., None, :], Vh)
    if n > k:
        gA = gA + matmul(U, s_inv[..., :, None] * (gVh - matmul(mH(VhgV), Vh)))
    return gA


_SVD_RULE = Rule(joint=_svd_vjp, save="ans", name="svd")
_SVDResult = type(np.linalg.svd(np.eye(1)))


def _take_last(x, idx):
    """x[..., idx] with a batched raw index (..., n) along the second-to-last axis of a matrix or the
    last axis of a vector: x[b, idx[b, i]] (vectors) / x[b, idx[b, i], :] (matrices)."""
    batch = idx.shape[:-1]
    grids = tuple(np.reshape(np.arange(b, like=idx), (1,) * d + (b,) + (1,) * (len(batch) - d))
                  for d, b in enumerate(batch))
    return x[grids + (idx,)]


def _svd_hermitian(a, compute_uv):
    """NumPy's svd(hermitian=True): eigh (lower triangle), s = |w| sorted descending, U = V[:, order],
    V^H = (U sign(w))^H. Composite of eigh, so the gradient folds onto the lower triangle too."""
    w, v = np.linalg.eigh(a)
    w_raw = value(w)
    sgn = np.copysign(1.0, w_raw).astype(w_raw.dtype)
    order = np.argsort(np.abs(w_raw), axis=-1)[..., ::-1]
    s = _take_last(w * sgn, order)
    if not compute_uv:
        return s
    u = mT(_take_last(mT(v), order))
    sgn_sorted = np.take_along_axis(sgn, order, axis=-1)
    vh = mH(u * sgn_sorted[..., None, :])
    return _SVDResult(u, s, vh)


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    if not _tracked((a,)) and (not hermitian or is_host_array(value(a))):
        kwargs = dict(full_matrices=full_matrices, compute_uv=compute_uv)
        if hermitian:
            kwargs["hermitian"] = True         # a keyword cupy.linalg.svd does not have
        return apply_untracked(np.linalg.svd, (a,), kwargs)
    if hermitian:
        return _svd_hermitian(a, compute_uv)
    if not compute_uv:
        return apply_function(np.linalg.svd, _SVD_RULE, (a,), {"full_matrices": False})[1]
    return apply_function(np.linalg.svd, _SVD_RULE, (a,), {"full_matrices": full_matrices})


IMPLEMENTATIONS[np.linalg.svd] = svd


@composite(np.linalg.svdvals, fast=False)
def svdvals(x):
    return np.linalg.svd(x, compute_uv=False)


# ------------------------------------------------------------------------------------------------ qr
def _copyltu(M):
    """Hermitian matrix with M's strictly lower triangle copied up, real diagonal."""
    low = tril(M, -1)
    return low + mH(low) + real_part(M) * eye_like(M)


def _qr_tall_vjp(Q, R, gQ, gR):
    """A = QR with M >= N (R square, real diagonal as LAPACK makes it):
    gA = (gQ + Q copyltu(M)) R^-H, M = R gR^H - gQ^H Q."""
    M = matmul(R, mH(gR)) - matmul(mH(gQ), Q)
    return _solve_right(gQ + matmul(Q, _copyltu(M)), mH(R))


def _qr_vjp(g, ans, a, mode="reduced"):
    """Wide A = [X | Y] (M < N): X = Q R1 is a square QR, Y = Q R2, so
    gY = Q gR2 and X gets the square-case gradient with gQ + Y gR2^H in place of gQ.
    mode='complete' with M > N: the extra columns of Q are not unique (refused if they get a
    gradient) and the extra rows of R are zero."""
    Q, R = ans
    gQ, gR = g
    m, n = Q.shape[-2], R.shape[-1]
    if mode == "complete" and m > n:
        Q, gQ = Q[..., :, :n], _drop_extra(gQ, n, -1, "columns of Q (mode='complete')")
        R, gR = R[..., :n, :], gR[..., :n, :]
    if m >= n:
        return _qr_tall_vjp(Q, R, gQ, gR)
    R1, R2, gR1, gR2 = R[..., :, :m], R[..., :, m:], gR[..., :, :m], gR[..., :, m:]
    Y = matmul(Q, R2)
    gX = _qr_tall_vjp(Q, R1, gQ + matmul(Y, mH(gR2)), gR1)
    return _concat_last(gX, matmul(Q, gR2))


_QR_RULE = Rule(joint=_qr_vjp, save="ans", name="qr")


def qr(a, mode="reduced"):
    if not _tracked((a,)):
        return apply_untracked(np.linalg.qr, (a,), {"mode": mode})
    if mode == "raw":
        raise TypeError("np.linalg.qr(mode='raw') returns LAPACK's Householder storage, which has no "
                        "gradient rule in gradarray; use mode='reduced' or 'complete', or call it on "
                        ".detach()-ed values")
    if mode == "r":
        return apply_function(np.linalg.qr, _QR_RULE, (a,), {"mode": "reduced"})[1]
    if mode not in ("reduced", "complete"):
        raise ValueError(f"unrecognized mode {mode!r}")
    return apply_function(np.linalg.qr, _QR_RULE, (a,), {"mode": mode})


IMPLEMENTATIONS[np.linalg.qr] = qr
