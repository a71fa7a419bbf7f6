"""Differentiable ``scipy.linalg`` matrix functions, matrix equations, polar decomposition and
special matrices (imported by ``linalg.py``; see its docstring).

Primitives (forward pass: SciPy's own routine on the raw data; VJP derived below, written with
differentiable calls so that it records itself under ``create_graph`` and higher derivatives work):
expm, logm, sqrtm, solve_sylvester, solve_continuous_lyapunov (= solve_lyapunov),
solve_discrete_lyapunov, polar. Compositions of those and of ``np.*``: expm_frechet, cosm, sinm,
tanm, coshm, sinhm, tanhm, block_diag, toeplitz, circulant, hankel.

The matrix-function VJPs use two facts. (1) For a primary matrix function f with real Taylor
coefficients (exp, log, sqrt on their principal branches) the adjoint of the Frechet derivative
L_f(A, .) under <X, Y> = Re tr(X^H Y) is L_f(A^H, .). (2) f([[X, E], [0, X]]) =
[[f(X), L_f(X, E)], [0, f(X)]]. So the VJP of f at A for the cotangent G is the upper-right block of
f([[A^H, G], [0, A^H]]) — computed by the same Primitive, whose own VJP then gives second
derivatives.
"""
from __future__ import annotations

import warnings

import numpy as np

from .._registry import Primitive, defvjp
from ..linalg._ops import mH, matmul, value
from ._bridge import implements_scipy
from ._linalg_common import (as_gradarray, refuse_nonfinite, check_square, is_tracked,
                             scipy_original, zeros_like_blocks)

LINALG = "scipy.linalg"
_UNSET = object()


def _square(a, name):
    a = as_gradarray(a)
    check_square(a, name)
    return a


def _upper_block(x, e):
    """[[x, e], [0, x]] for stacks of n x n matrices (differentiable in x and e)."""
    n = value(x).shape[-1]
    batch = np.broadcast_shapes(value(x).shape[:-2], value(e).shape[:-2])
    dtype = np.result_type(value(x).dtype, value(e).dtype)
    block = zeros_like_blocks(batch + (2 * n, 2 * n), dtype, x)
    block[..., :n, :n] = x
    block[..., n:, n:] = x
    block[..., :n, n:] = e
    return block


def _frechet_adjoint(f, a, g):
    """L_f(A^H, G): the VJP of the matrix function ``f`` (a Primitive) at A (facts (1) and (2)).

    L is linear in G: G is scaled to A's magnitude first, so that a large or tiny cotangent does not
    change how SciPy's algorithm treats the block matrix (its scaling and squaring / root count)."""
    n = value(a).shape[-1]
    g_size = float(np.max(np.abs(value(g)), initial=0.0))
    a_size = float(np.max(np.abs(value(a)), initial=0.0))
    scale = g_size / a_size if a_size > 0 else g_size
    if scale == 0:
        return g * 0
    return f(_upper_block(mH(a), g / scale))[..., :n, n:] * scale


# ----------------------------------------------------------------------------------- expm
def _expm_raw(a):
    return scipy_original("expm")(a)


expm_primitive = Primitive(_expm_raw)
expm_primitive.__name__ = "scipy.linalg.expm"
defvjp(expm_primitive, lambda g, ans, a: _frechet_adjoint(expm_primitive, a, g), save="args")


@implements_scipy(LINALG, "expm")
def expm(A):
    """exp(A) of (stacks of) square matrices; gradients of any order. A single number is a 1 x 1
    matrix, as in SciPy."""
    A = as_gradarray(A)
    if A.ndim < 2 and A.size == 1:
        A = np.reshape(A, (1, 1))
    return expm_primitive(_square(A, "expm"))


@implements_scipy(LINALG, "expm_frechet")
def expm_frechet(A, E, method=None, compute_expm=True, check_finite=True):
    """(expm(A), L(A, E)) or L(A, E): L is the upper-right block of expm([[A, E], [0, A]])."""
    A, E = _square(A, "expm_frechet"), as_gradarray(E)
    refuse_nonfinite(A, check_finite, "expm_frechet")
    refuse_nonfinite(E, check_finite, "expm_frechet")
    if method not in (None, "SPS", "blockEnlarge"):
        raise ValueError(f"Unknown implementation {method}")
    if E.shape != A.shape:
        raise ValueError("expected A and E to be the same shape")
    n = A.shape[-1]
    frechet = expm_primitive(_upper_block(A, E))[..., :n, n:]
    return (expm_primitive(A), frechet) if compute_expm else frechet


# -------------------------------------------------- trigonometric and hyperbolic matrix functions
# SciPy's own definitions through expm (real A: the real / imaginary part of expm(iA))
def _complex(A):
    return value(A).dtype.kind == "c"


@implements_scipy(LINALG, "cosm")
def cosm(A):
    A = _square(A, "cosm")
    if _complex(A):
        return 0.5 * (expm_primitive(1j * A) + expm_primitive(-1j * A))
    return np.real(expm_primitive(1j * A))


@implements_scipy(LINALG, "sinm")
def sinm(A):
    A = _square(A, "sinm")
    if _complex(A):
        return -0.5j * (expm_primitive(1j * A) - expm_primitive(-1j * A))
    return np.imag(expm_primitive(1j * A))


@implements_scipy(LINALG, "tanm")
def tanm(A):
    return np.linalg.solve(cosm(A), sinm(A))


@implements_scipy(LINALG, "coshm")
def coshm(A):
    A = _square(A, "coshm")
    return 0.5 * (expm_primitive(A) + expm_primitive(-A))


@implements_scipy(LINALG, "sinhm")
def sinhm(A):
    A = _square(A, "sinhm")
    return 0.5 * (expm_primitive(A) - expm_primitive(-A))


@implements_scipy(LINALG, "tanhm")
def tanhm(A):
    return np.linalg.solve(coshm(A), sinhm(A))


# ------------------------------------------------------------------------------- logm, sqrtm
def _deprecated(name, **given):
    for key, v in given.items():
        if v is not _UNSET:
            warnings.warn(f"scipy.linalg.{name}: the `{key}` argument is deprecated (SciPy drops it "
                          "in 1.18).", DeprecationWarning, stacklevel=3)


def _logm_raw(a):
    return scipy_original("logm")(a)


logm_primitive = Primitive(_logm_raw)
logm_primitive.__name__ = "scipy.linalg.logm"
defvjp(logm_primitive, lambda g, ans, a: _frechet_adjoint(logm_primitive, a, g), save="args")


@implements_scipy(LINALG, "logm")
def logm(A, disp=_UNSET):
    """Principal matrix logarithm; the VJP is L_log(A^H, G) from logm of a block matrix."""
    _deprecated("logm", disp=disp)
    A = _square(A, "logm")
    F = logm_primitive(A)
    if disp is not False:
        return F
    raw_a, raw_f = value(A), value(F)
    with np.errstate(divide="ignore", invalid="ignore"):
        errest = np.linalg.norm(scipy_original("expm")(raw_f) - raw_a, 1) / np.linalg.norm(raw_a, 1)
    return F, errest


def _sqrtm_raw(a):
    return scipy_original("sqrtm")(a)


sqrtm_primitive = Primitive(_sqrtm_raw)
sqrtm_primitive.__name__ = "scipy.linalg.sqrtm"


def _sqrtm_vjp(g, ans, a):
    """X X = A  ->  X dX + dX X = dA: dX = S^-1(dA) with S(Y) = X Y + Y X, whose adjoint is
    S*(Z) = X^H Z + Z X^H. So gA = Z solving X^H Z + Z X^H = G (a Sylvester equation)."""
    xh = mH(ans)
    return sylvester_primitive(xh, xh, g)


defvjp(sqrtm_primitive, _sqrtm_vjp, save="ans")


@implements_scipy(LINALG, "sqrtm")
def sqrtm(A, disp=_UNSET, blocksize=_UNSET):
    """Principal square root (complex when A has negative eigenvalues, as in SciPy)."""
    _deprecated("sqrtm", disp=disp, blocksize=blocksize)
    A = as_gradarray(A)
    if A.ndim < 2:     # SciPy 1.17 returns [[exp(a)]] for a number a: not reproduced here
        raise ValueError("scipy.linalg.sqrtm on GradArrays: A must be a square matrix (..., n, n)")
    A = _square(A, "sqrtm")
    X = sqrtm_primitive(A)
    if disp is not False:
        return X
    raw_a, raw_x = value(A), value(X)
    errest = np.linalg.norm(raw_x @ raw_x - raw_a, "fro") ** 2 / np.linalg.norm(raw_a, "fro")
    return X, errest


# --------------------------------------------------------------------------- matrix equations
def _sylvester_raw(a, b, q):
    return scipy_original("solve_sylvester")(a, b, q)


sylvester_primitive = Primitive(_sylvester_raw)
sylvester_primitive.__name__ = "scipy.linalg.solve_sylvester"


@defvjp(sylvester_primitive, save="both")
def _sylvester_vjp(g, ans, a, b, q):
    """A X + X B = Q  ->  A dX + dX B = dQ - dA X - X dB. The adjoint of Y -> A Y + Y B is
    Z -> A^H Z + Z B^H; with Z solving A^H Z + Z B^H = G:
    gQ = Z, gA = -Z X^H, gB = -X^H Z."""
    z = sylvester_primitive(mH(a), mH(b), g)
    return -matmul(z, mH(ans)), -matmul(mH(ans), z), z


@implements_scipy(LINALG, "solve_sylvester")
def solve_sylvester(a, b, q):
    a, b, q = as_gradarray(a), as_gradarray(b), as_gradarray(q)
    return sylvester_primitive(a, b, q)


def _lyapunov_raw(a, q):
    return scipy_original("solve_continuous_lyapunov")(a, q)


lyapunov_primitive = Primitive(_lyapunov_raw)
lyapunov_primitive.__name__ = "scipy.linalg.solve_continuous_lyapunov"


@defvjp(lyapunov_primitive, save="both")
def _lyapunov_vjp(g, ans, a, q):
    """A X + X A^H = Q: the Sylvester rule with B = A^H. Z solves A^H Z + Z A = G (a Lyapunov
    equation for A^H); gQ = Z and gA = -Z X^H - (X^H Z)^H = -(Z X^H + Z^H X)."""
    z = lyapunov_primitive(mH(a), g)
    return -(matmul(z, mH(ans)) + matmul(mH(z), ans)), z


@implements_scipy(LINALG, "solve_continuous_lyapunov")
def solve_continuous_lyapunov(a, q):
    return lyapunov_primitive(as_gradarray(a), as_gradarray(q))


implements_scipy(LINALG, "solve_lyapunov")(solve_continuous_lyapunov)


def _discrete_lyapunov_raw(a, q, method):
    return scipy_original("solve_discrete_lyapunov")(a, q, method=method)


discrete_lyapunov_primitive = Primitive(_discrete_lyapunov_raw)
discrete_lyapunov_primitive.__name__ = "scipy.linalg.solve_discrete_lyapunov"


@defvjp(discrete_lyapunov_primitive, save="both")
def _discrete_lyapunov_vjp(g, ans, a, q, method):
    """A X A^H - X + Q = 0  ->  dX - A dX A^H = dQ + dA X A^H + A X dA^H. The adjoint of
    Y -> Y - A Y A^H is Z -> Z - A^H Z A; with Z solving A^H Z A - Z + G = 0:
    gQ = Z, gA = Z A X^H + Z^H A X."""
    z = discrete_lyapunov_primitive(mH(a), g, method)
    return matmul(matmul(z, a), mH(ans)) + matmul(matmul(mH(z), a), ans), z, None


@implements_scipy(LINALG, "solve_discrete_lyapunov")
def solve_discrete_lyapunov(a, q, method=None):
    return discrete_lyapunov_primitive(as_gradarray(a), as_gradarray(q), method)


# -------------------------------------------------------------------------------------- polar
def _polar_raw(a, side):
    return tuple(scipy_original("polar")(a, side=side))


polar_primitive = Primitive(_polar_raw)
polar_primitive.__name__ = "scipy.linalg.polar"


def _right_polar_vjp(U, P, gU, gP):
    """A = U P, U^H U = I, P Hermitian positive definite (M >= N, full column rank).
    With W = U^H dU (skew-Hermitian): U^H dA - dA^H U = W P + P W and dP = U^H dA - W P, and
    dU = U W + (I - U U^H) dA P^-1. With M = U^H gU - gP P and Z solving P Z + Z P = M (that map is
    self-adjoint): gA = U (Z - Z^H) + U gP + (I - U U^H) gU P^-1. Z and P^-1 come from eigh(P)."""
    s, V = np.linalg.eigh(P)
    M = matmul(mH(U), gU) - matmul(gP, P)
    Z = matmul(matmul(V, matmul(matmul(mH(V), M), V) / (s[..., :, None] + s[..., None, :])), mH(V))
    gA = matmul(U, Z - mH(Z) + gP)
    if value(U).shape[-2] > value(U).shape[-1]:
        outside = gU - matmul(U, matmul(mH(U), gU))
        gA = gA + matmul(outside, matmul(V / s[..., None, :], mH(V)))
    return gA


@defvjp(polar_primitive, save="ans")
def _polar_vjp(g, ans, a, side):
    """side='left', A = P U, is the right polar decomposition of A^H = U^H P."""
    U, P = ans
    gU, gP = g
    if side == "right":
        return _right_polar_vjp(U, P, gU, gP), None
    return mH(_right_polar_vjp(mH(U), P, mH(gU), gP)), None


@implements_scipy(LINALG, "polar")
def polar(a, side="right"):
    """(U, P); differentiable for full-rank a with M >= N (side='right') or M <= N ('left')."""
    if side not in ("right", "left"):
        raise ValueError("`side` must be either 'right' or 'left'")
    a = as_gradarray(a)
    if a.ndim < 2:
        raise ValueError("`a` must be a 2-D array (or a batch of them).")
    m, n = a.shape[-2:]
    if is_tracked((a,)) and ((side == "right" and m < n) or (side == "left" and m > n)):
        raise NotImplementedError(f"scipy.linalg.polar(side={side!r}) of a {m}x{n} matrix: P is "
                                  "singular there and the gradient is not implemented")
    return polar_primitive(a, side)


# ---------------------------------------------------------------------------- special matrices
def _at_least(x, ndim):
    while x.ndim < ndim:
        x = x[None]
    return x


@implements_scipy(LINALG, "block_diag")
def block_diag(*arrs):
    """Blocks on the diagonal (scalars and 1-D arrays are 1 x n rows; batch dimensions broadcast)."""
    blocks = [_at_least(as_gradarray(a), 2) for a in (arrs or ([],))]
    batch = np.broadcast_shapes(*(b.shape[:-2] for b in blocks))
    dtype = np.result_type(*(value(b).dtype for b in blocks))
    rows = sum(b.shape[-2] for b in blocks)
    cols = sum(b.shape[-1] for b in blocks)
    out = zeros_like_blocks(batch + (rows, cols), dtype, blocks[0])
    r = c = 0
    for b in blocks:
        rr, cc = b.shape[-2:]
        out[..., r:r + rr, c:c + cc] = b
        r, c = r + rr, c + cc
    return out


def _broadcast_last(c, r):
    """c (..., n) and r (..., m) with their batch dimensions broadcast together."""
    batch = np.broadcast_shapes(c.shape[:-1], r.shape[:-1])
    return (np.broadcast_to(c, batch + c.shape[-1:]), np.broadcast_to(r, batch + r.shape[-1:]))


@implements_scipy(LINALG, "toeplitz")
def toeplitz(c, r=None):
    """T[i, j] = c[i - j] (i >= j), r[j - i] (j > i); r defaults to conj(c); batches on the last axis."""
    c = _at_least(as_gradarray(c), 1)
    r = np.conjugate(c) if r is None else _at_least(as_gradarray(r), 1)
    c, r = _broadcast_last(c, r)
    n, m = c.shape[-1], r.shape[-1]
    vals = np.concatenate((c[..., ::-1], r[..., 1:]), axis=-1)
    index = (n - 1) - np.arange(n)[:, None] + np.arange(m)[None, :]
    return vals[..., index]


@implements_scipy(LINALG, "circulant")
def circulant(c):
    """C[i, j] = c[(i - j) mod n]; batches on the last axis."""
    c = _at_least(as_gradarray(c), 1)
    n = c.shape[-1]
    return c[..., (np.arange(n)[:, None] - np.arange(n)[None, :]) % n]


@implements_scipy(LINALG, "hankel")
def hankel(c, r=None):
    """H[i, j] = c[i + j] (i + j < n), r[i + j - n + 1] beyond; r defaults to zeros. Like SciPy
    1.17, multidimensional c / r are raveled, with SciPy's FutureWarning."""
    c = as_gradarray(c)
    r = np.zeros_like(value(c)) if r is None else as_gradarray(r)
    if c.ndim > 1 or r.ndim > 1:
        warnings.warn("scipy.linalg.hankel: c or r has more than one dimension and is flattened "
                      "(SciPy 1.19 will read extra dimensions as a batch); flatten them yourself to "
                      "keep this result and silence the warning.", FutureWarning, stacklevel=2)
    c, r = np.reshape(c, (-1,)), np.reshape(r, (-1,))
    n, m = c.shape[0], r.shape[0]
    vals = np.concatenate((c, r[1:]))
    return vals[np.arange(n)[:, None] + np.arange(m)[None, :]]
