"""Composites for NumPy's top-level polynomial functions: polyval, polyder, polyint, polyadd,
polysub, polymul, poly, polyfit, vander, polydiv and roots.

These are Python code in NumPy that starts with ``np.asarray``; each is re-written here with
differentiable ``np.*`` calls (``implements``), so the tape is made of the primitives it calls
(concatenate, convolve, ``np.linalg.solve``, ``np.linalg.eigvals``, ...) and every order of
derivative works. ``poly1d`` arguments and polyfit's ``full=``/``cov=`` outputs run NumPy's own
code, untracked.

Owns: these composites. Must not know about: the rules of the primitives they call, or
``numpy.polynomial`` (its modules and classes are ``gradarray/polynomial.py``); from
``composites`` it borrows only the constant helpers (``_const``, ``_first_gradarray``,
``_as_gradarray``, ``_raw``).
"""
from __future__ import annotations

import numpy as np

from .._backend import create_like, to_host
from .._array import GradArray, wrap_untracked
from .._dispatch import apply_untracked
from .._registry import conj, implements
from .composites import _as_gradarray, _const, _first_gradarray, _raw


# ------------------------------------------------------------------------------------- polynomials
@implements(np.polyval)
def _polyval(p, x):
    """Horner's scheme: ((p0 x + p1) x + p2) ..."""
    ref = _first_gradarray(p, x)
    p, x = _const(p, ref), _const(x, ref)
    y = x * 0
    for k in range(p.shape[0]):
        y = y * x + p[k]
    return y


@implements(np.polyder)
def _polyder(p, m=1):
    p = _const(p, _first_gradarray(p))
    for _ in range(int(m)):
        n = p.shape[0] - 1
        p = p[:-1] * np.arange(n, 0, -1, like=_raw(p))
    return p


@implements(np.polyint)
def _polyint(p, m=1, k=None):
    m = int(m)
    if m < 0:
        raise ValueError("Order of integral must be positive (see polyder)")
    ref = _first_gradarray(p, k)
    p = _const(p, ref)
    k = np.zeros(m, like=_raw(ref)) if k is None else np.atleast_1d(_const(k, ref))
    if k.shape[0] == 1 and m > 1:
        k = k[0] * create_like(np.ones, _raw(ref), m)
    if k.shape[0] < m:
        raise ValueError("k must be a scalar or a rank-1 array of length 1 or >m.")
    for j in range(m):
        p = np.concatenate([p / np.arange(p.shape[0], 0, -1, like=_raw(p)), k[j:j + 1]])
    return p


def _align(a1, a2):
    """Both coefficient arrays padded with leading zeros to the same length."""
    ref = _first_gradarray(a1, a2)
    a1, a2 = np.atleast_1d(_const(a1, ref)), np.atleast_1d(_const(a2, ref))
    d = a2.shape[0] - a1.shape[0]
    if d > 0:
        a1 = np.concatenate([np.zeros(d, dtype=a1.dtype, like=_raw(ref)), a1])
    elif d < 0:
        a2 = np.concatenate([np.zeros(-d, dtype=a2.dtype, like=_raw(ref)), a2])
    return a1, a2


@implements(np.polyadd)
def _polyadd(a1, a2):
    a1, a2 = _align(a1, a2)
    return a1 + a2


@implements(np.polysub)
def _polysub(a1, a2):
    a1, a2 = _align(a1, a2)
    return a1 - a2


@implements(np.polymul)
def _polymul(a1, a2):
    ref = _first_gradarray(a1, a2)
    return np.convolve(np.atleast_1d(_const(a1, ref)), np.atleast_1d(_const(a2, ref)))


@implements(np.poly)
def _poly(seq_of_zeros):
    """Coefficients of prod_k (x - z_k): multiply by (x - z) = shift the coefficients and subtract
    z times them. A square matrix stands for its eigenvalues."""
    ref = _first_gradarray(seq_of_zeros)
    seq = np.atleast_1d(_const(seq_of_zeros, ref))
    if seq.ndim == 2 and seq.shape[0] == seq.shape[1] and seq.shape[0] != 0:
        seq = np.linalg.eigvals(seq)
    elif seq.ndim != 1:
        raise ValueError("input must be 1d or non-empty square 2d array.")
    if seq.dtype.kind not in "fc":
        seq = seq.astype(np.float64)
    zero = np.zeros(1, dtype=seq.dtype, like=_raw(ref))
    a = create_like(np.ones, _raw(ref), 1, dtype=seq.dtype)
    for k in range(seq.shape[0]):
        a = np.concatenate([a, zero]) - seq[k] * np.concatenate([zero, a])
    if a.dtype.kind == "c":
        # real coefficients when the roots come in conjugate pairs (as NumPy decides)
        roots = to_host(_raw(seq))             # a value-only decision, taken on the host
        if bool(np.all(np.sort(roots) == np.sort(np.conj(roots)))):
            a = np.real(a)
    return a


@implements(np.polyfit)
def _polyfit(x, y, deg, rcond=None, full=False, w=None, cov=False):
    """Least squares on the column-scaled Vandermonde matrix (as NumPy does), solved through the
    normal equations so that the gradient flows through np.linalg.solve's rule. `rcond` (rank
    truncation) is not applied; full=/cov= outputs are not differentiable."""
    if full or cov:
        return apply_untracked(np.polyfit._implementation, (x, y, deg, rcond, full, w, cov), {})
    ref = _first_gradarray(x, y, w)
    x, y = _const(x, ref), _const(y, ref)
    if x.dtype.kind not in "fc":
        x = x.astype(np.float64)
    lhs = np.vander(x, int(deg) + 1)
    rhs = y
    if w is not None:
        w = _const(w, ref)
        lhs = lhs * w[:, None]
        rhs = rhs * (w[:, None] if rhs.ndim == 2 else w)
    scale = np.sqrt(np.sum(lhs * conj(lhs), axis=0))
    lhs = lhs / scale
    lhs_h = conj(lhs).T
    c = np.linalg.solve(lhs_h @ lhs, lhs_h @ rhs)
    return c / (scale[:, None] if c.ndim == 2 else scale)


@implements(np.vander)
def _vander(x, N=None, increasing=False):
    x = _const(x, _first_gradarray(x))
    if x.ndim != 1:
        raise ValueError("x must be a one-dimensional array or sequence.")
    N = x.shape[0] if N is None else int(N)
    if N == 0:
        return np.reshape(x, (-1, 1))[:, :0]
    cols = [create_like(np.ones, _raw(x), x.shape[0], dtype=x.dtype)]
    for _ in range(N - 1):
        cols.append(cols[-1] * x)
    return np.stack(cols if increasing else cols[::-1], axis=1)


# ---------------------------------------------------------------------- polynomial division, roots
@implements(np.polydiv)
def _polydiv(u, v):
    """Long division u = q v + r, every step recorded: q_k = r_k / v_0, then q_k v is subtracted
    from r at positions k .. k+n (out of place, so nothing saved for backward is overwritten).
    Leading remainder coefficients that NumPy considers zero are dropped (decided on the values)."""
    if isinstance(u, np.poly1d) or isinstance(v, np.poly1d):
        return apply_untracked(np.polydiv._implementation, (u, v), {})
    ref = _first_gradarray(u, v)
    u = np.atleast_1d(_as_gradarray(u, ref)) + 0.0
    v = np.atleast_1d(_as_gradarray(v, ref)) + 0.0
    dtype = np.result_type(u.dtype, v.dtype)
    m, n = u.shape[0] - 1, v.shape[0] - 1

    def zeros(k):
        return np.zeros(k, dtype=dtype, like=_raw(ref))

    scale = 1.0 / v[0]
    r = u.astype(dtype)
    q = []
    for k in range(m - n + 1):
        d = scale * r[k]
        q.append(d)
        r = r - np.concatenate([zeros(k), d * v, zeros(m - n - k)])
    q = np.stack(q).astype(dtype) if q else wrap_untracked(zeros(1))
    while r.shape[0] > 1 and bool(np.allclose(_raw(r)[0], 0, rtol=1e-14)):
        r = r[1:]
    return q, r


@implements(np.roots)
def _roots(p):
    """Eigenvalues of the companion matrix (first row -p[1:] / p[0], ones below the diagonal),
    through np.linalg.eigvals' rule. Leading zeros are dropped, each trailing zero is a root at 0
    (NumPy's conventions and values; like NumPy, real roots come back real)."""
    ref = _first_gradarray(p)
    p = np.atleast_1d(_const(p, ref))
    if p.ndim != 1:
        raise ValueError("Input must be a rank-1 array.")
    nonzero = np.nonzero(_raw(p))[0]
    if nonzero.shape[0] == 0:
        return wrap_untracked(np.zeros(0, like=_raw(ref)))
    if p.dtype.kind not in "fc":
        p = p.astype(np.float64)
    first, last = int(nonzero[0]), int(nonzero[-1])
    trailing = p.shape[0] - last - 1
    kept = p[first:last + 1]
    n = kept.shape[0]
    if n > 1:
        top = np.reshape(-kept[1:] / kept[0], (1, n - 1))
        companion = np.concatenate([top, create_like(np.eye, _raw(ref), n - 2, n - 1, dtype=p.dtype)])
        roots = np.linalg.eigvals(companion)
    else:
        roots = wrap_untracked(np.zeros(0, like=_raw(ref)))
    roots = np.concatenate([roots, np.zeros(trailing, dtype=roots.dtype, like=_raw(ref))])
    if type(p) is GradArray and p.requires_grad and (first > 0 or trailing > 0):
        stripped = list(range(first)) + list(range(last + 1, p.shape[0]))
        roots = roots + _stripped_coefficient_terms(p, roots, stripped)
    return roots


def _stripped_coefficient_terms(p, roots, stripped):
    """The zero coefficients NumPy strips still move the roots: for a simple root r of
    p(x) = sum_k p_k x^(N-1-k), dr/dp_k = -r^(N-1-k) / p'(r). The sum over stripped k of
    p_k * (that constant) is exactly 0 in value (p_k = 0) and gives these first derivatives.
    A multiple root (p'(r) = 0, from several trailing zeros) has no derivative: its term is 0."""
    raw_p, r = _raw(p), _raw(roots)
    n = raw_p.shape[0]
    dp = raw_p[:-1] * np.arange(n - 1, 0, -1, like=raw_p)       # p' (CuPy has no polyder)
    slope = np.polyval(dp, r)
    defined = slope != 0
    slope = np.where(defined, slope, 1)
    terms = 0
    for k in stripped:
        terms = terms + p[k] * np.where(defined, -r ** (n - 1 - k) / slope, 0)
    return terms
