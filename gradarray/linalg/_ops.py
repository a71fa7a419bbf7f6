"""Small differentiable building blocks shared by the linear-algebra rules.

The VJPs in this package are written with these helpers and with already-registered ufuncs
(add, multiply, conjugate, sum, indexing), so that under ``create_graph=True`` every step of a
backward pass is itself recorded and higher derivatives work. ``matmul`` / ``mT`` / ``permute`` are
primitives whose VJPs are written in terms of each other (a linear map and its adjoint), so any
order of derivative works. They run on raw arrays of any backend (``a @ b``, ``np.swapaxes``).

Masks and tolerances are always computed from raw values (``value``): they are piecewise constant and
carry no gradient.
"""
from __future__ import annotations

import numpy as np

from .._array import GradArray, _make
from .._backend import create_like
from .._creation import asarray
from .._registry import Primitive, conj, defvjp

__all__ = ["value", "matmul", "mT", "mH", "permute", "eye_like", "tril", "triu", "diag_part",
           "diag_embed", "real_part", "fold_hermitian", "safe_inverse_differences", "wrap"]


def value(x):
    """The raw data of a GradArray (or ``x`` itself): for masks, tolerances and index arrays."""
    return x._data if type(x) is GradArray else x


def wrap(x):
    """A GradArray for ``x`` (raw arrays of any backend become untracked GradArrays)."""
    if type(x) is GradArray:
        return x
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return _make(x)
    return asarray(x)


# ------------------------------------------------------------------------------------ matmul
def _matmul(a, b):
    return a @ b


matmul = Primitive(_matmul)
matmul.__name__ = "linalg_matmul"


def _matmul_vjp(g, ans, a, b):
    """C = A B  ->  gA = g B^H, gB = A^H g; 1-D operands are promoted like np.matmul does."""
    A = a[None, :] if a.ndim == 1 else a
    B = b[:, None] if b.ndim == 1 else b
    G = g
    if a.ndim == 1:
        G = G[..., None, :]
    if b.ndim == 1:
        G = G[..., None]
    ga = matmul(G, mH(B))
    gb = matmul(mH(A), G)
    if a.ndim == 1:
        ga = ga[..., 0, :]
    if b.ndim == 1:
        gb = gb[..., 0]
    return ga, gb


defvjp(matmul, save="args")(_matmul_vjp)


def _swap_last(x):
    return np.swapaxes(x, -1, -2)


mT = Primitive(_swap_last)
mT.__name__ = "matrix_transpose"
defvjp(mT, lambda g, ans, x: mT(g), save="none", view=True)


def mH(x):
    """Conjugate transpose of the last two axes."""
    return conj(mT(x))


def _transpose(x, axes):
    return np.transpose(x, axes)


permute = Primitive(_transpose)
permute.__name__ = "permute_axes"
defvjp(permute, lambda g, ans, x, axes: permute(g, tuple(int(i) for i in np.argsort(axes))),
       save="none", view=True)


# ------------------------------------------------------------------------------- constants
def eye_like(x, n=None, dtype=None):
    """Identity (n, n) on the backend of ``x`` (raw, untracked)."""
    raw = value(x)
    n = raw.shape[-1] if n is None else n
    return _identity(n, dtype or raw.dtype, raw)


def _identity(n, dtype, raw):
    """``np.eye(n, dtype=dtype, like=raw)``; Dask's eye refuses the ``order`` that np.eye hands
    it, so there it is built as a difference of two triangles."""
    try:
        return create_like(np.eye, raw, n, dtype=dtype)
    except TypeError:
        return np.tri(n, dtype=dtype, like=raw) - np.tri(n, k=-1, dtype=dtype, like=raw)


def _tri(x, k):
    raw = value(x)
    return np.tri(raw.shape[-2], raw.shape[-1], k, dtype=raw.dtype, like=raw)


def tril(x, k=0):
    """Lower triangle (entries (i, j) with j <= i + k) of the last two axes; differentiable."""
    return x * _tri(x, k)


def triu(x, k=0):
    """Upper triangle (j >= i + k); differentiable."""
    return x * (1 - _tri(x, k - 1))


def diag_part(x):
    """Diagonal of square matrices (..., n, n) -> (..., n); differentiable."""
    return np.sum(x * eye_like(x), axis=-1)


def diag_embed(v):
    """(..., n) -> diagonal matrices (..., n, n); differentiable."""
    raw = value(v)
    return v[..., None] * _identity(raw.shape[-1], raw.dtype, raw)


def real_part(x):
    """Re(x), kept in x's dtype (built from conjugate, which every order of derivative knows)."""
    if x.dtype.kind != "c":
        return x
    return (x + np.conjugate(x)) * 0.5


def fold_hermitian(G, lower=True):
    """Gradient with respect to ``a`` of a function that reads only one triangle of ``a``.

    LAPACK's Hermitian routines (potrf, heevd, used by cholesky, eigh, eigvalsh, svd/pinv with
    hermitian=True) build H = tril(a) + tril(a, -1)^H (for UPLO='L') and ignore the imaginary part
    of the diagonal. If G is the gradient with respect to H's entries taken as independent, then
    an off-diagonal entry a[k, l] of the used triangle feeds H[k, l] and conj -> H[l, k], so it gets
    G[k, l] + conj(G[l, k]); a diagonal entry gets Re G[k, k]; the ignored triangle gets zero.
    """
    both = G + mH(G)
    strict = tril(both, -1) if lower else triu(both, 1)
    return strict + real_part(G) * eye_like(G)


def safe_inverse_differences(lam, conjugate=False):
    """F[..., i, j] = 1 / (lam_j - lam_i) for i != j, and 0 where the two are numerically equal.

    Degenerate pairs (|lam_i - lam_j| <= n * eps * max|lam|, the diagonal included) have no defined
    eigenvector/singular-vector derivative; their 1/(lam_j - lam_i) terms are masked to zero instead
    of producing inf/NaN. For a gauge-invariant loss of a degenerate subspace this term is indeed
    absent; otherwise the returned gradient ignores the (undefined) rotation inside that subspace.
    """
    raw = value(lam)
    diff_raw = raw[..., None, :] - raw[..., :, None]
    scale = np.max(np.abs(raw), axis=-1, keepdims=True)[..., None]
    eps = np.finfo(raw.dtype).eps
    tol = raw.shape[-1] * eps * np.maximum(scale, np.finfo(raw.dtype).tiny)
    ok = (np.abs(diff_raw) > tol)
    okf = ok.astype(np.finfo(raw.dtype).dtype)
    if conjugate:
        lam = conj(lam)
    diff = lam[..., None, :] - lam[..., :, None]
    # where masked, divide by 1 and multiply by 0: no inf or NaN is ever formed
    return okf / (diff + (1 - okf))
