"""Differentiable ``scipy.linalg`` (see the package docstring and ``_bridge.py``): factorisations,
solvers, inverses, norms and eigen/singular value problems. Matrix functions (expm, logm, sqrtm,
...), matrix equations (Sylvester, Lyapunov), polar and the special matrices (block_diag, toeplitz,
...) are in ``linalg_matfuncs.py``.

How each function gets its gradient:

- compositions of gradarray's differentiable ``np.linalg`` rules and ``gradarray.linalg`` extras
  (exact, any order): cholesky, cho_factor, cho_solve, solve_triangular, lu_factor, lu_solve, lu,
  solve, inv, det, norm, pinv, pinvh, lstsq;
- Primitives whose forward pass is SciPy's own routine (so values, eigenvector signs and
  conventions are SciPy's) and whose VJP is gradarray's ``np.linalg`` rule, written with
  differentiable calls (any order): eigh/eigvalsh (plus a subset rule and a generalized type-1
  rule derived here), eig/eigvals, svd/svdvals, qr.

The one-triangle routines (cholesky, cho_factor, solve/inv with assume_a='sym'/'her'/'pos', eigh,
pinvh) give a gradient only to the triangle they read. ``overwrite_a``/``overwrite_b`` are accepted
and ignored: a GradArray's data is never overwritten. Arguments SciPy never differentiates through
(integer pivots, flags) are passed through. Functions not registered here (schur, funm, signm, ldl,
...) keep SciPy's own code: a tracked argument gives the bridge's GradientLostWarning.
"""
from __future__ import annotations

import numpy as np

from .._registry import Primitive, defvjp
from ..linalg import lu as _ga_lu, lu_factor as _ga_lu_factor, lu_solve as _ga_lu_solve
from ..linalg import solve_triangular as _ga_solve_triangular
from ..linalg._decompositions import _eig_vjp, _eigh_vjp, _qr_vjp, _svd_vjp
from ..linalg._ops import (diag_embed, diag_part, eye_like, fold_hermitian, mH, mT, matmul,
                           real_part, safe_inverse_differences, tril, triu, value)
from ._bridge import implements_scipy
from ._linalg_common import (as_gradarray, refuse_nonfinite, check_square, is_tracked,
                             scipy_original, triangle_matrix, zeros_like_blocks)
from . import linalg_matfuncs  # noqa: F401  (registers the matrix functions and special matrices)

LINALG = "scipy.linalg"


def _matrix(a, check, name, square=True):
    a = as_gradarray(a)
    refuse_nonfinite(a, check, name)
    if square:
        check_square(a, name)
    return a


def _as_columns(b):
    """(b as a matrix (..., n, k), whether b was a vector): SciPy's rule, b is a vector iff 1-D."""
    return (b[:, None], True) if b.ndim == 1 else (b, False)


# ------------------------------------------------------------------------------------- Cholesky
@implements_scipy(LINALG, "cholesky")
def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    """U with A = U^H U (default, read from the upper triangle) or L with A = L L^H (lower=True)."""
    a = _matrix(a, check_finite, "cholesky")
    return np.linalg.cholesky(a, upper=not lower)


@implements_scipy(LINALG, "cho_factor")
def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """(c, lower): the factor in one triangle of c. LAPACK's potrf does not touch the other strict
    triangle, so SciPy returns the input's entries there; so does this (they are copies of ``a``'s
    entries and get their gradient as such; cho_solve never reads them)."""
    a = _matrix(a, check_finite, "cho_factor")
    factor = np.linalg.cholesky(a, upper=not lower)
    untouched = triu(a, 1) if lower else tril(a, -1)
    return factor + untouched, lower


def _cholesky_solve(c, lower, b):
    """x with A x = b, A = L L^H (lower) or U^H U, from the factor's triangle of c only."""
    B, vector = _as_columns(b)
    if lower:
        y = _ga_solve_triangular(c, B, upper=False)
        x = _ga_solve_triangular(mH(c), y, upper=True)
    else:
        y = _ga_solve_triangular(mH(c), B, upper=False)
        x = _ga_solve_triangular(c, y, upper=True)
    return x[..., 0] if vector else x


def _flag(lower):
    """cho_factor's ``lower`` (a bool, or an array of equal bools for a batch)."""
    flags = np.asarray(value(lower)).ravel()
    if flags.size and not (np.all(flags) or not np.any(flags)):
        raise ValueError("scipy.linalg.cho_solve: mixed 'lower' flags in one batch")
    return bool(flags[0]) if flags.size else False


@implements_scipy(LINALG, "cho_solve")
def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    c, lower = c_and_lower
    c = _matrix(c, check_finite, "cho_solve")
    b = as_gradarray(b)
    refuse_nonfinite(b, check_finite, "cho_solve")
    if b.shape[0 if b.ndim == 1 else -2] != c.shape[-1]:
        raise ValueError(f"scipy.linalg.cho_solve: incompatible dimensions ({c.shape} and {b.shape})")
    return _cholesky_solve(c, _flag(lower), b)


# --------------------------------------------------------------------------------- triangular
_TRANS = {0: 0, "N": 0, "n": 0, 1: 1, "T": 1, "t": 1, 2: 2, "C": 2, "c": 2}


@implements_scipy(LINALG, "solve_triangular")
def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
                     check_finite=True):
    """op(T) x = b with T the lower/upper triangle of a (unit diagonal if asked), op = I, ^T, ^H."""
    a = _matrix(a, check_finite, "solve_triangular")
    b = as_gradarray(b)
    refuse_nonfinite(b, check_finite, "solve_triangular")
    if trans not in _TRANS:
        raise ValueError(f"scipy.linalg.solve_triangular: invalid trans {trans!r}")
    t = _TRANS[trans]
    B, vector = _as_columns(b)
    if B.shape[-2] != a.shape[-1]:
        raise ValueError(f"scipy.linalg.solve_triangular: shapes of a {a.shape} and b {b.shape} "
                         "are incompatible")
    # a transposed triangle is triangular the other way
    op = a if t == 0 else (mT(a) if t == 1 else mH(a))
    upper = (not lower) if t == 0 else bool(lower)
    x = _ga_solve_triangular(op, B, upper=upper, unitriangular=bool(unit_diagonal))
    return x[..., 0] if vector else x


# ----------------------------------------------------------------------------------------- LU
@implements_scipy(LINALG, "lu_factor")
def lu_factor(a, overwrite_a=False, check_finite=True):
    """(lu, piv): piv is SciPy's plain int32 array (row interchanges carry no gradient); the
    gradient of lu is defined for square matrices."""
    a = _matrix(a, check_finite, "lu_factor", square=False)
    lu_, piv = _ga_lu_factor(a)
    return lu_, value(piv)


@implements_scipy(LINALG, "lu_solve")
def lu_solve(lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True):
    lu_, piv = lu_and_piv
    lu_ = _matrix(lu_, check_finite, "lu_solve")
    b = as_gradarray(b)
    refuse_nonfinite(b, check_finite, "lu_solve")
    if trans not in _TRANS:
        raise ValueError(f"scipy.linalg.lu_solve: invalid trans {trans!r}")
    if b.shape[0 if b.ndim == 1 else -2] != lu_.shape[-1]:
        raise ValueError(f"scipy.linalg.lu_solve: incompatible dimensions ({lu_.shape} and {b.shape})")
    return _ga_lu_solve((lu_, value(piv)), b, trans=_TRANS[trans])


@implements_scipy(LINALG, "lu")
def lu(a, permute_l=False, overwrite_a=False, check_finite=True, p_indices=False):
    """(P, L, U), (P L, U) with permute_l, or (p, L, U) with p_indices (A = L[p] U)."""
    a = _matrix(a, check_finite, "lu", square=False)
    P, L, U = _ga_lu(a)
    if permute_l:
        return matmul(P, L), U
    P = value(P).real             # SciPy's P is real; it and p are constants (no gradient)
    if p_indices:                 # A = P L U = L[p] U: p[i] is the column of P's one in row i
        return np.argmax(P, axis=-1).astype(np.int32), L, U
    return P, L, U


# ------------------------------------------------------------------------------- solve and inv
_STRUCTURES = {None: "gen", "general": "gen", "gen": "gen", "banded": "gen",
               "diagonal": "diagonal", "tridiagonal": "tridiagonal",
               "upper triangular": "upper", "lower triangular": "lower",
               "pos": "pos", "positive definite": "pos", "sym": "sym", "symmetric": "sym",
               "her": "her", "hermitian": "her"}


def _structure(assume_a, name, allowed=None):
    kind = _STRUCTURES.get(assume_a)
    if kind is None or (allowed is not None and assume_a not in allowed):
        raise ValueError(f"scipy.linalg.{name}: {assume_a!r} is not a recognized matrix structure")
    return kind


def _tridiagonal_part(a):
    raw = value(a)
    n = raw.shape[-1]
    band = np.tri(n, n, 1, dtype=raw.real.dtype) * np.tri(n, n, 1, dtype=raw.real.dtype).T
    return a * band


@implements_scipy(LINALG, "solve")
def solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True,
          assume_a=None, transposed=False):
    """x with a x = b (a^T x = b if transposed), reading from ``a`` what SciPy's solver for
    ``assume_a`` reads. assume_a=None (SciPy picks a solver from the values), 'gen' and 'banded'
    are the general solve, whose gradient is the full gA = -a^-H g x^H."""
    kind = _structure(assume_a, "solve")
    a = _matrix(a, check_finite, "solve")
    b = as_gradarray(b)
    refuse_nonfinite(b, check_finite, "solve")
    if transposed and (value(a).dtype.kind == "c" or value(b).dtype.kind == "c"):
        raise NotImplementedError("scipy.linalg.solve can currently not solve a^T x = b or "
                                  "a^H x = b for complex matrices.")
    B, vector = _as_columns(b)
    if a.shape[-1] == 1 and a.size == 1:             # SciPy: a scalar divides
        x = B / np.reshape(a, ())
        return x[..., 0] if vector else x
    if B.shape[-2] != a.shape[-1]:
        raise ValueError(f"scipy.linalg.solve: incompatible shapes a {a.shape} and b {b.shape}")
    if kind == "pos":                               # potrf + potrs: a^T = a here (real)
        x = _cholesky_solve(np.linalg.cholesky(a, upper=not lower), bool(lower), B)
    elif kind in ("upper", "lower"):
        op = mT(a) if transposed else a
        x = _ga_solve_triangular(op, B, upper=(kind == "upper") != bool(transposed))
    elif kind == "diagonal":
        x = B / diag_part(a)[..., :, None]
    else:
        if kind == "tridiagonal":
            a = _tridiagonal_part(a)
        elif kind in ("sym", "her"):
            a = triangle_matrix(a, bool(lower), kind)
        x = np.linalg.solve(mT(a) if transposed else a, B)
    return x[..., 0] if vector else x


_INV_STRUCTURES = (None, "general", "gen", "diagonal", "upper triangular", "lower triangular",
                   "pos", "sym", "her")


@implements_scipy(LINALG, "inv")
def inv(a, overwrite_a=False, check_finite=True, *, assume_a=None, lower=False):
    """a^-1, reading from ``a`` what SciPy's inverse for ``assume_a`` reads.

    assume_a='diagonal' matches SciPy's values, which invert the diagonal in place and keep the
    off-diagonal entries of ``a`` (they are copies of a's entries and get their gradient as such)."""
    kind = _structure(assume_a, "inv", allowed=_INV_STRUCTURES)
    a = _matrix(a, check_finite, "inv")
    if kind == "gen":
        return np.linalg.inv(a)
    eye = eye_like(a)
    if kind == "diagonal":
        return a * (1 - eye) + diag_embed(1 / diag_part(a))
    if kind in ("upper", "lower"):
        return _ga_solve_triangular(a, np.broadcast_to(eye, a.shape), upper=(kind == "upper"))
    if kind == "pos":
        return _cholesky_solve(np.linalg.cholesky(a, upper=not lower), bool(lower),
                               np.broadcast_to(eye, a.shape))
    return np.linalg.inv(triangle_matrix(a, bool(lower), kind))


@implements_scipy(LINALG, "det")
def det(a, overwrite_a=False, check_finite=True):
    return np.linalg.det(_matrix(a, check_finite, "det"))


# ----------------------------------------------------------------------------- norms, pinv, lstsq
@implements_scipy(LINALG, "norm")
def norm(a, ord=None, axis=None, keepdims=False, check_finite=True):
    a = as_gradarray(a)
    refuse_nonfinite(a, check_finite, "norm")
    return np.linalg.norm(a, ord=ord, axis=axis, keepdims=keepdims)


def _cutoff(magnitudes, shape, dtype, atol, rtol):
    """SciPy's pinv/pinvh threshold atol + rtol * max, as np.linalg.pinv's relative ``rcond``, and
    the rank (raw values: the rank is piecewise constant)."""
    atol = 0.0 if atol is None else value(atol)
    rtol = max(shape[-2:]) * np.finfo(dtype).eps if rtol is None else value(rtol)
    if atol < 0 or rtol < 0:
        raise ValueError("atol and rtol values must be positive.")
    top = np.max(magnitudes, axis=-1, initial=0.0)
    val = atol + top * rtol
    rank = np.sum(magnitudes > np.asarray(val)[..., None], axis=-1)
    rcond = np.where(top > 0, val / np.where(top > 0, top, 1), 1.0)
    return rcond, rank


@implements_scipy(LINALG, "pinv")
def pinv(a, *, atol=None, rtol=None, return_rank=False, check_finite=True):
    """Moore-Penrose inverse; gradient from gradarray's pinv rule (constant rank)."""
    a = _matrix(a, check_finite, "pinv", square=False)
    raw = value(a)
    s = np.linalg.svd(raw, compute_uv=False)
    rcond, rank = _cutoff(s, raw.shape, s.dtype, atol, rtol)
    B = np.linalg.pinv(a, rcond=rcond)
    return (B, rank) if return_rank else B


@implements_scipy(LINALG, "pinvh")
def pinvh(a, atol=None, rtol=None, lower=True, return_rank=False, check_finite=True):
    """Pseudo-inverse of the Hermitian matrix read from one triangle of ``a``."""
    a = _matrix(a, check_finite, "pinvh")
    h = triangle_matrix(a, bool(lower), "her")
    w = np.linalg.eigvalsh(value(h))
    rcond, rank = _cutoff(np.abs(w), w.shape + w.shape[-1:], w.dtype, atol, rtol)
    B = np.linalg.pinv(h, rcond=rcond)
    return (B, rank) if return_rank else B


@implements_scipy(LINALG, "lstsq")
def lstsq(a, b, cond=None, overwrite_a=False, overwrite_b=False, check_finite=True,
          lapack_driver=None):
    """(x, residues, rank, s) as SciPy returns them; gradients in x, residues and s from
    gradarray's lstsq rule (minimum-norm solution, constant rank)."""
    a = _matrix(a, check_finite, "lstsq", square=False)
    b = as_gradarray(b)
    refuse_nonfinite(b, check_finite, "lstsq")
    if a.ndim != 2:
        raise NotImplementedError("scipy.linalg.lstsq on GradArrays: a must be 2-D (batches are "
                                  "not supported; loop over them)")
    if b.shape[0] != a.shape[0]:
        raise ValueError(f"scipy.linalg.lstsq: shape mismatch: a and b should have the same number "
                         f"of rows ({a.shape[0]} != {b.shape[0]}).")
    driver = lapack_driver or "gelsd"
    if driver not in ("gelsd", "gelsy", "gelss"):
        raise ValueError(f"scipy.linalg.lstsq: LAPACK driver {driver!r} is not found")
    # SciPy's default cutoff is the machine epsilon of the LAPACK type (integers compute in float64)
    lapack_dtype = np.result_type(*(d if d.kind in "fc" else np.float64
                                    for d in (value(a).dtype, value(b).dtype)))
    rcond = np.finfo(lapack_dtype).eps if cond is None else value(cond)
    x, residues, rank, s = np.linalg.lstsq(a, b, rcond=rcond)
    rank = int(value(rank))
    if driver == "gelsy":
        return x, np.array([], dtype=value(x).dtype), rank, None
    if value(residues).size == 0:
        residues = np.array([], dtype=value(x).dtype)
    elif b.ndim == 1:
        residues = residues[0]
    return x, residues, rank, s


# ------------------------------------------------------------------------------------ eigh
def _eigh_raw(a, b, lower, itype, driver, by_index, by_value):
    w, v = scipy_original("eigh")(a, b, lower=lower, type=itype, driver=driver, check_finite=False,
                                  subset_by_index=by_index, subset_by_value=by_value)
    return w, v


_eigh = Primitive(_eigh_raw)
_eigh.__name__ = "scipy.linalg.eigh"


def _subset_eigh_vjp(g, w, V, a, lower, lo):
    """Eigenpairs lo..lo+k-1 of the n of A (standard problem). With the full decomposition (wf, Vf)
    of A, dv_i = sum_{j != i} v_j (v_j^H dA v_i) / (w_i - w_j): the pairs inside the subset give the
    usual F o (V^H gV) term, the pairs outside give Vf_out [(Vf_out^H gV)_ji / (w_i - wf_j)]."""
    gw, gV = g
    wf, Vf = np.linalg.eigh(triangle_matrix(a, lower, "her"))
    k, n = value(w).shape[-1], value(wf).shape[-1]
    out = np.r_[0:lo, lo + k:n]
    Vo, wo = Vf[..., :, out], wf[..., out]
    raw_d = value(w)[..., None, :] - value(wo)[..., :, None]                 # (n - k, k)
    scale = max(float(np.max(np.abs(value(wf)), initial=0.0)), np.finfo(raw_d.dtype).tiny)
    ok = (np.abs(raw_d) > n * np.finfo(raw_d.dtype).eps * scale).astype(raw_d.dtype)
    outer = matmul(mH(Vo), gV) * ok / (w[..., None, :] - wo[..., :, None] + (1 - ok))
    inner = diag_embed(gw) + safe_inverse_differences(w) * matmul(mH(V), gV)
    S = matmul(matmul(V, inner), mH(V)) + matmul(matmul(Vo, outer), mH(V))
    return fold_hermitian((S + mH(S)) * 0.5, lower=lower)


def _generalized_eigh_vjp(g, w, V, lower):
    """A V = B V diag(w), V^H B V = I (type 1). With M = V^H gV, K = F o M (F_ij = 1/(w_j - w_i)):
    dV = V C, C_ij = (V^H (dA - w_j dB) V)_ij / (w_j - w_i), Re C_ii = -(V^H dB V)_ii / 2, and
    dw_i = (V^H (dA - w_i dB) V)_ii, so
        gA = V (diag(gw) + K) V^H,  gB = -V (diag(gw w) + K diag(w) + Re diag(M) / 2) V^H,
    each taken as a Hermitian matrix and folded onto the triangle LAPACK read."""
    gw, gV = g
    M = matmul(mH(V), gV)
    K = safe_inverse_differences(w) * M
    SA = matmul(matmul(V, diag_embed(gw) + K), mH(V))
    inner_b = diag_embed(gw * w) + K * w[..., None, :] + diag_embed(real_part(diag_part(M))) * 0.5
    SB = -matmul(matmul(V, inner_b), mH(V))
    return (fold_hermitian((SA + mH(SA)) * 0.5, lower=lower),
            fold_hermitian((SB + mH(SB)) * 0.5, lower=lower))


@defvjp(_eigh, save="both")
def _eigh_vjp_all(g, ans, a, b, lower, itype, driver, by_index, by_value):
    w, V = ans
    if b is not None:
        ga, gb = _generalized_eigh_vjp(g, w, V, lower)
        return ga, gb, None, None, None, None, None
    if by_index is None and by_value is None:
        ga = _eigh_vjp(g, ans, a, "L" if lower else "U")
    else:
        if by_index is not None:
            lo = int(by_index[0])
        else:
            wf = np.linalg.eigvalsh(value(triangle_matrix(value(a), lower, "her")))
            lo = int(np.argmin(np.abs(wf - value(w)[0]))) if value(w).size else 0
        ga = _subset_eigh_vjp(g, w, V, a, lower, lo)
    return ga, None, None, None, None, None, None


@implements_scipy(LINALG, "eigh")
def eigh(a, b=None, *, lower=True, eigvals_only=False, overwrite_a=False, overwrite_b=False,
         type=1, check_finite=True, subset_by_index=None, subset_by_value=None, driver=None):
    """Hermitian (generalized) eigenproblem; SciPy computes the values, eigenvectors included (the
    gradient needs them). Tracked: standard problem with or without a subset (a subset by value must
    be a single matrix), generalized problem of type 1 without a subset."""
    a = _matrix(a, check_finite, "eigh")
    if b is not None:
        b = _matrix(b, check_finite, "eigh")
        if (type != 1 or subset_by_index is not None or subset_by_value is not None) and \
                is_tracked((a, b)):
            raise NotImplementedError("scipy.linalg.eigh: the gradient of the generalized problem "
                                      "is implemented for type=1 without subsets")
    if subset_by_value is not None and a.ndim > 2 and is_tracked((a,)):
        raise NotImplementedError("scipy.linalg.eigh: subset_by_value of a batch is not "
                                  "differentiable; pass one matrix at a time")
    if subset_by_index is not None:
        subset_by_index = [int(value(i)) for i in subset_by_index]
    if subset_by_value is not None:
        subset_by_value = [float(value(v)) for v in subset_by_value]
    w, v = _eigh(a, b, bool(lower), type, driver, subset_by_index, subset_by_value)
    return w if eigvals_only else (w, v)


@implements_scipy(LINALG, "eigvalsh")
def eigvalsh(a, b=None, *, lower=True, overwrite_a=False, overwrite_b=False, type=1,
             check_finite=True, subset_by_index=None, subset_by_value=None, driver=None):
    return eigh(a, b, lower=lower, eigvals_only=True, type=type, check_finite=check_finite,
                subset_by_index=subset_by_index, subset_by_value=subset_by_value, driver=driver)


# ------------------------------------------------------------------------------------- eig
def _eig_raw(a):
    return tuple(scipy_original("eig")(a, check_finite=False))


_eig = Primitive(_eig_raw)
_eig.__name__ = "scipy.linalg.eig"
defvjp(_eig, save="ans")(lambda g, ans, a: (_eig_vjp(g, ans, a),))


@implements_scipy(LINALG, "eig")
def eig(a, b=None, left=False, right=True, overwrite_a=False, overwrite_b=False,
        check_finite=True, homogeneous_eigvals=False):
    """Standard problem, right eigenvectors (unit norm, as SciPy returns them); the loss must not
    depend on their phase. Tracked b, left=True and homogeneous_eigvals are not differentiable."""
    a = _matrix(a, check_finite, "eig")
    if b is not None or left or homogeneous_eigvals:
        if is_tracked((a, b)):
            raise NotImplementedError("scipy.linalg.eig: only the standard problem with right "
                                      "eigenvectors (b=None, left=False, homogeneous_eigvals="
                                      "False) is differentiable")
        return scipy_original("eig")(value(a), value(b) if b is not None else None, left=left,
                                     right=right, homogeneous_eigvals=homogeneous_eigvals)
    w, v = _eig(a)
    return (w, v) if right else w


@implements_scipy(LINALG, "eigvals")
def eigvals(a, b=None, overwrite_a=False, check_finite=True, homogeneous_eigvals=False):
    return eig(a, b, right=False, check_finite=check_finite,
               homogeneous_eigvals=homogeneous_eigvals)


# -------------------------------------------------------------------------------------- svd
def _svd_raw(a, full_matrices, driver):
    return tuple(scipy_original("svd")(a, full_matrices=full_matrices, lapack_driver=driver,
                                       check_finite=False))


_svd = Primitive(_svd_raw)
_svd.__name__ = "scipy.linalg.svd"


def _refuse_extra(g, k, axis, what, call):
    """Columns beyond min(M, N) of a full basis are not unique: a gradient reaching them is refused."""
    extra = g[..., :, k:] if axis == -1 else g[..., k:, :]
    if bool(np.any(value(extra) != 0)):
        raise ValueError(f"{call}: the gradient reached the {what} beyond min(M, N), which are not "
                         "uniquely defined (any orthonormal basis of the complement is valid). Use "
                         "the economic form, or only the first min(M, N) of them.")
    return g[..., :, :k] if axis == -1 else g[..., :k, :]


@defvjp(_svd, save="ans")
def _svd_vjp_scipy(g, ans, a, full_matrices, driver):
    U, s, Vh = ans
    gU, gs, gVh = g
    k = value(s).shape[-1]
    call = "scipy.linalg.svd(full_matrices=True)"
    if value(U).shape[-1] > k:
        U, gU = U[..., :, :k], _refuse_extra(gU, k, -1, "columns of U", call)
    if value(Vh).shape[-2] > k:
        Vh, gVh = Vh[..., :k, :], _refuse_extra(gVh, k, -2, "rows of Vh", call)
    return _svd_vjp((gU, gs, gVh), (U, s, Vh), a, full_matrices=False), None, None


@implements_scipy(LINALG, "svd")
def svd(a, full_matrices=True, compute_uv=True, overwrite_a=False, check_finite=True,
        lapack_driver="gesdd"):
    """(U, s, Vh) from SciPy; with full_matrices=True (SciPy's default) a gradient that reaches the
    extra columns of U / rows of Vh raises (they are not unique)."""
    a = _matrix(a, check_finite, "svd", square=False)
    if lapack_driver not in ("gesdd", "gesvd"):
        raise ValueError('lapack_driver must be "gesdd" or "gesvd", not "%s"' % (lapack_driver,))
    if not compute_uv:
        return _svd(a, False, lapack_driver)[1]
    return _svd(a, bool(full_matrices), lapack_driver)


@implements_scipy(LINALG, "svdvals")
def svdvals(a, overwrite_a=False, check_finite=True):
    return svd(a, compute_uv=False, check_finite=check_finite)


# --------------------------------------------------------------------------------------- qr
def _qr_raw(a, mode, pivoting):
    out = scipy_original("qr")(a, mode=mode, pivoting=pivoting, check_finite=False)
    p = out[2] if pivoting else np.arange(a.shape[-1], dtype=np.int32)
    return out[0], out[1], p


_qr = Primitive(_qr_raw)
_qr.__name__ = "scipy.linalg.qr"


@defvjp(_qr, save="ans")
def _qr_vjp_scipy(g, ans, a, mode, pivoting):
    """A[:, p] = Q R: gradarray's QR rule gives the gradient of A[:, p], scattered back to A's
    columns. mode='full' with M > N: Q's extra columns are refused, R's extra rows are always 0."""
    Q, R, p = ans
    gQ, gR, _ = g
    m, n = value(Q).shape[-2], value(R).shape[-1]
    if mode == "full" and m > n:
        Q, gQ = Q[..., :, :n], _refuse_extra(gQ, n, -1, "columns of Q", "scipy.linalg.qr(mode='full')")
        R, gR = R[..., :n, :], gR[..., :n, :]
    g_ap = _qr_vjp((gQ, gR), (Q, R), None, mode="reduced")
    if pivoting:
        g_ap = g_ap[..., :, np.argsort(value(p), axis=-1)]
    return g_ap, None, None


@implements_scipy(LINALG, "qr")
def qr(a, overwrite_a=False, lwork=None, mode="full", pivoting=False, check_finite=True):
    """(Q, R), (Q, R, P) with pivoting, (R,) / (R, P) for mode='r'; mode='raw' is not differentiable."""
    a = _matrix(a, check_finite, "qr", square=False)
    if mode not in ("full", "r", "economic", "raw"):
        raise ValueError("Mode argument should be one of ['full', 'r', 'economic', 'raw']")
    if mode == "raw":
        if is_tracked((a,)):
            raise NotImplementedError("scipy.linalg.qr(mode='raw') returns LAPACK's Householder "
                                      "storage, which gradarray does not differentiate")
        return scipy_original("qr")(value(a), mode="raw", pivoting=pivoting, lwork=lwork)
    if a.ndim != 2:
        raise NotImplementedError("scipy.linalg.qr on GradArrays: a must be 2-D")
    Q, R, p = _qr(a, "economic" if mode == "r" else mode, bool(pivoting))
    p = value(p)
    if mode == "r":
        m, n = a.shape
        if m > n:                                  # SciPy's R has M rows; the extra ones are 0
            full = zeros_like_blocks((m, n), value(R).dtype, R)
            full[:n, :] = R
            R = full
        return (R, p) if pivoting else (R,)
    return (Q, R, p) if pivoting else (Q, R)
