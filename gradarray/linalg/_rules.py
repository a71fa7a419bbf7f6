"""Derivative rules for ``numpy.linalg``.

Conventions: ``A^H`` is the conjugate transpose of the last two axes (``mH``); gradients follow the
project's complex convention (for a holomorphic map, ``grad_in = A^H g``). Shapes are stacked
``(..., M, N)``; the engine sums gradients over broadcast batch dimensions.

Primitive rules (forward = NumPy/CuPy on the raw data): inv, solve, det, slogdet, lstsq, pinv, norm,
cross, vector_norm. Everything else is a composite of these and of ``matmul`` / ``mT`` / ``permute``
(``_ops``), written with ``np.*`` calls on GradArrays. The decompositions (cholesky, eigh, eig, svd,
qr, and eigvalsh, eigvals, svdvals) are in ``_decompositions.py``, which uses the registration and
tracking helpers here (``composite``, ``_tracked``, ``_nonzero_anywhere``).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from .. import _backend
from .._backend import is_host_array
from .._modes import is_grad_enabled
from .._tables import IMPLEMENTATIONS
from .._array import GradArray
from .._dispatch import apply_untracked
from .._registry import Primitive, conj, defvjp, defvjp_joint, nondifferentiable
from ._ops import eye_like, fold_hermitian, mH, mT, matmul, permute, real_part, tril, value, wrap

LinAlgError = np.linalg.LinAlgError
inf = np.inf


# ------------------------------------------------------------------------------------ helpers
def _tracked(args, kwargs=None):
    if not is_grad_enabled():
        return False
    items = list(args) + list((kwargs or {}).values())
    for a in items:
        if type(a) is GradArray and a._requires_grad:
            return True
        if type(a) in (list, tuple) and any(type(x) is GradArray and x._requires_grad for x in a):
            return True
    return False


def _all_host(args, kwargs):
    items = list(args) + list(kwargs.values())
    return all(is_host_array(value(a)) for a in items if hasattr(value(a), "shape"))


def composite(func, fast=True):
    """Register ``impl`` as the implementation of ``func`` on GradArrays.

    ``fast``: when nothing is tracked, run ``func`` itself on the raw data (True: for functions that
    every backend has; "host": only on NumPy data, because CuPy lacks ``func``); otherwise the
    composite runs (it then records nothing).
    """
    def decorator(impl):
        def implementation(*args, **kwargs):
            if fast and not _tracked(args, kwargs) and (fast is True or _all_host(args, kwargs)):
                return apply_untracked(func, args, kwargs)
            return impl(*args, **kwargs)
        implementation.__name__ = impl.__name__
        implementation.__doc__ = impl.__doc__
        IMPLEMENTATIONS[func] = implementation
        return impl
    return decorator


def _expand_axes(g, axes, ndim):
    """Re-insert reduced axes (size 1) so that ``g`` broadcasts against the input."""
    for ax in sorted(a % ndim for a in axes):
        g = g[(slice(None),) * ax + (None,)]
    return g


def _sgn(x):
    """x / |x| (0 at 0). Real x: sign(x) from the raw values, a piecewise constant. Complex x: the
    phase varies with x, so it is computed with ``np.*`` on ``x`` itself (recorded under
    create_graph: second derivatives of the norms that use it need d(z/|z|)/dz)."""
    raw = value(x)
    if raw.dtype.kind != "c":
        return np.sign(raw)
    ab = np.abs(x)
    return x / (ab + (value(ab) == 0))


def _nonzero_anywhere(g):
    raw = value(g)
    if _backend.is_lazy(raw):       # Dask: no value read; a term that may be zero is kept
        return raw.size != 0
    return bool(np.any(raw != 0))


# ------------------------------------------------------------------------------------- inv, solve
def _inv_vjp(g, ans, a):
    # d(A^-1) = -A^-1 dA A^-1  ->  gA = -A^-H g A^-H; the forward result is the only thing saved
    ainvH = mH(ans)
    return -matmul(matmul(ainvH, g), ainvH)


defvjp(np.linalg.inv, _inv_vjp, save="ans")


def _solve_vjp(g, ans, a, b):
    """X = A^-1 B  ->  gB = A^-H g, gA = -gB X^H.

    NumPy exposes no factorisation object, so backward solves again with A^H (one more O(n^3) LU);
    the forward solution X is reused from ``ans``. In NumPy 2, b is a vector only when b.ndim == 1.
    """
    aH = mH(a)
    if b.ndim == 1:
        gb = np.linalg.solve(aH, g[..., None])[..., 0]
        ga = -(gb[..., :, None] * conj(ans)[..., None, :])
    else:
        gb = np.linalg.solve(aH, g)
        ga = -matmul(gb, mH(ans))
    return ga, gb


defvjp_joint(np.linalg.solve, _solve_vjp, save="both")


# ------------------------------------------------------------------------------------ det, slogdet
def _prod_except_diag(s):
    """diag(prod_{j != i} s_j) as (..., n, n) matrices (the adjugate of diag(s))."""
    n = value(s).shape[-1]
    eye = eye_like(s, n)
    out = 0
    for i in range(n):
        p = 1
        for j in range(n):
            if j != i:
                p = p * s[..., j]
        out = out + p[..., None, None] * eye[i][None, :] * eye[:, i][:, None]
    return out


def adjugate(a):
    """adj(A) = det(A) A^-1, defined and smooth for singular A too.

    With A = U S V^H: adj(A) = det(U) det(V^H) V adj(S) U^H, adj(S) = diag(prod_{j != i} s_j).
    """
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    scale = np.linalg.det(u) * np.linalg.det(vh)
    return scale[..., None, None] * matmul(matmul(mH(vh), _prod_except_diag(s)), mH(u))


def _inverse_or_none(a):
    """A^-1 when every matrix of the stack is numerically invertible, else None."""
    try:
        ainv = np.linalg.inv(a)
    except LinAlgError:
        return None
    raw = value(ainv)
    if not bool(np.all(np.isfinite(raw))):
        return None
    # an inverse much larger than 1/eps relative to A means A is singular up to rounding
    ra = value(a)
    big = np.max(np.abs(raw), axis=(-2, -1)) * np.max(np.abs(ra), axis=(-2, -1))
    if bool(np.any(big > 1 / np.finfo(raw.dtype).eps)):
        return None
    return ainv


def _det_vjp(g, ans, a):
    """d det(A) = tr(adj(A) dA)  ->  gA = g conj(adj(A))^T = g adj(A)^H.

    For invertible A, adj(A) = det(A) A^-1. When some matrix of the stack is singular (or numerically
    so), the adjugate is computed from the SVD instead, so the gradient stays finite and correct:
    e.g. for a rank n-1 matrix it is the (nonzero) cofactor matrix, not NaN.
    """
    ainv = _inverse_or_none(a)
    adj = ans[..., None, None] * ainv if ainv is not None else adjugate(a)
    return g[..., None, None] * mH(adj)


defvjp(np.linalg.det, _det_vjp, save="both")


def _slogdet_vjp(g, ans, a):
    """(sign, log|det|): d log det = tr(A^-1 dA) = d log|det| + i d arg(det).

    With q = g_logabs + i Im(g_sign conj(sign)) (= g_logabs for real A), gA = q A^-H.
    At a singular matrix log|det| = -inf has no finite derivative; there A^-1 is replaced by the
    pseudo-inverse, which gives the derivative of log of the pseudo-determinant (finite; document
    it, do not rely on it).
    """
    sign, _ = ans
    g_sign, g_logabs = g
    z = g_sign * conj(sign)
    q = g_logabs + (z - conj(z)) * 0.5 if value(z).dtype.kind == "c" else g_logabs
    ainv = _inverse_or_none(a)
    if ainv is None:
        ainv = np.linalg.pinv(a)
    return q[..., None, None] * mH(ainv)


defvjp(np.linalg.slogdet, _slogdet_vjp, save="both")


# ------------------------------------------------------------------------------------- pinv, lstsq
def pinv_adjoint(G, A, P):
    """Gradient with respect to A given the gradient G with respect to P = pinv(A) (constant rank):
    dP = -P dA P + P P^H dA^H (I - A P) + (I - P A) dA^H P^H P, whose adjoint is
    gA = -P^H G P^H + (I - A P) G^H P P^H + P^H P G^H (I - P A)."""
    PH, GH = mH(P), mH(G)
    AP, PA = matmul(A, P), matmul(P, A)
    t1 = -matmul(matmul(PH, G), PH)
    t2 = matmul(matmul(eye_like(AP) - AP, GH), matmul(P, PH))
    t3 = matmul(matmul(PH, P), matmul(GH, eye_like(PA) - PA))
    return t1 + t2 + t3


def _hermitian_part_read(a):
    """The Hermitian matrix LAPACK sees from the lower triangle of ``a``."""
    low = tril(a, -1)
    return low + mH(low) + real_part(a) * eye_like(a)


def _pinv_vjp(g, ans, a, rcond=None, hermitian=False, **kwargs):
    if hermitian:
        return fold_hermitian(pinv_adjoint(g, _hermitian_part_read(a), ans))
    return pinv_adjoint(g, a, ans)


defvjp(np.linalg.pinv, _pinv_vjp, save="both")


def _lstsq_vjp(g, ans, a, b, rcond=None):
    """x = pinv(A) b (the minimum-norm solution, also for rank-deficient A, with lstsq's cutoff):
    gb = P^H gx and gA = pinv_adjoint(gx b^H). Residuals r2 = |b - A x|^2 (present when A has full
    column rank and M > N): x is optimal, so dr2 = 2 Re r^H (db - dA x), gb += 2 r g, gA -= 2 r g x^H.
    Singular values: gA += U diag(gs) V^H."""
    x, res, rank, s = ans
    gx, gres, _, gs = g
    m, n = a.shape[-2], a.shape[-1]
    cutoff = np.finfo(value(s).dtype).eps * max(m, n) if rcond is None else rcond
    vector = b.ndim == 1
    b2 = b[:, None] if vector else b
    gx2 = gx[:, None] if vector else gx
    x2 = x[:, None] if vector else x
    P = _backend.call(np.linalg.pinv, a, rcond=cutoff)
    gb = matmul(mH(P), gx2)
    ga = pinv_adjoint(matmul(gx2, mH(b2)), a, P)
    if value(res).size and _nonzero_anywhere(gres):
        r = b2 - matmul(a, x2)
        rg = 2 * r * gres
        gb = gb + rg
        ga = ga - matmul(rg, mH(x2))
    if _nonzero_anywhere(gs):
        u, _, vh = _backend.call(np.linalg.svd, a, full_matrices=False)
        ga = ga + matmul(u * gs[..., None, :], vh)
    return ga, (gb[:, 0] if vector else gb)


defvjp_joint(np.linalg.lstsq, _lstsq_vjp, save="both")
nondifferentiable(np.linalg.matrix_rank)


# ------------------------------------------------------------------------------------------- norms
def _vector_norm_grad(g, y, x, ord, axes):
    """g, y already broadcast against x (reduced axes kept with size 1)."""
    if ord is None or ord == 2:
        y_raw = value(y)
        zero = (y_raw == 0).astype(y_raw.dtype)
        return g * x / (y + zero)                 # subgradient 0 at x = 0
    sgn = _sgn(x)
    if ord == 0:
        return None                               # a count of nonzeros: piecewise constant
    if ord == 1:
        return g * sgn
    if ord in (inf, -inf):
        # ties share the gradient equally
        mask = (np.abs(value(x)) == value(y)).astype(value(sgn).real.dtype)
        count = np.sum(mask, axis=axes, keepdims=True)
        return g * sgn * (mask / count)
    absx = real_part(x * conj(sgn))               # |x| (a differentiable expression for real x)
    y_raw = value(y)
    ok = (y_raw != 0).astype(y_raw.dtype)
    return g * sgn * absx ** (ord - 1) * ok / (y + (1 - ok)) ** (ord - 1)


def _matrix_norm_grad(g, y, x, ord, axes):
    ndim = x.ndim
    r, c = (axes[0] % ndim, axes[1] % ndim)
    if ord in (None, "fro"):
        return _vector_norm_grad(g, y, x, 2, (r, c))
    if ord in ("nuc", 2, -2):
        perm = tuple(i for i in range(ndim) if i not in (r, c)) + (r, c)
        moved = perm != tuple(range(ndim))
        xm = permute(x, perm) if moved else x
        gm = permute(g, perm) if moved else g
        u, _, vh = np.linalg.svd(xm, full_matrices=False)
        if ord == "nuc":
            M = matmul(u, vh)
        elif ord == 2:
            M = matmul(u[..., :, :1], vh[..., :1, :])
        else:
            M = matmul(u[..., :, -1:], vh[..., -1:, :])
        G = gm * M
        return permute(G, tuple(int(i) for i in np.argsort(perm))) if moved else G
    # 1 / -1: extreme absolute column sum (sum over rows r, extreme over columns c); inf / -inf rows
    along, across = (r, c) if ord in (1, -1) else (c, r)
    if ord not in (1, -1, inf, -inf):
        raise ValueError(f"Invalid norm order {ord!r} for matrices.")
    sgn = _sgn(x)
    sums = np.sum(np.abs(value(x)), axis=along, keepdims=True)
    mask = (sums == value(y)).astype(sums.dtype)
    count = np.sum(mask, axis=across, keepdims=True)
    return g * sgn * (mask / count)


def _norm_vjp(g, ans, x, ord=None, axis=None, keepdims=False):
    """np.linalg.norm: a vector norm or a matrix norm depending on ord/axis, as NumPy decides."""
    ndim = x.ndim
    if axis is None:
        axes = tuple(range(ndim))
        matrix = ord is not None and ndim == 2
    else:
        axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
        matrix = len(axes) == 2
    if not keepdims:
        g, ans = _expand_axes(g, axes, ndim), _expand_axes(ans, axes, ndim)
    if matrix:
        return _matrix_norm_grad(g, ans, x, ord, axes)
    return _vector_norm_grad(g, ans, x, ord, axes)


defvjp(np.linalg.norm, _norm_vjp, save="both")


def _vector_norm_forward(x, axis=None, keepdims=False, ord=2):
    if isinstance(x, np.ndarray):
        return np.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord)
    # backends without vector_norm (CuPy): move the axes to the end, flatten them, use norm
    ndim = x.ndim
    axes = tuple(range(ndim)) if axis is None else normalize_axis_tuple(axis, ndim)
    rest = tuple(i for i in range(ndim) if i not in axes)
    moved = np.transpose(x, rest + axes)
    flat = np.reshape(moved, tuple(x.shape[i] for i in rest) + (-1,))
    out = np.linalg.norm(flat, ord=ord, axis=-1)
    if keepdims:
        out = np.reshape(out, tuple(1 if i in axes else x.shape[i] for i in range(ndim)))
    return out


vector_norm_primitive = Primitive(_vector_norm_forward)
vector_norm_primitive.__name__ = "vector_norm"


def _vector_norm_vjp(g, ans, x, axis=None, keepdims=False, ord=2):
    ndim = x.ndim
    axes = tuple(range(ndim)) if axis is None else (
        (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis))
    if not keepdims:
        g, ans = _expand_axes(g, axes, ndim), _expand_axes(ans, axes, ndim)
    return _vector_norm_grad(g, ans, x, ord, axes)


defvjp(vector_norm_primitive, _vector_norm_vjp, save="both")


@composite(np.linalg.vector_norm, fast=False)
def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    return vector_norm_primitive(x, axis, keepdims, ord)


@composite(np.linalg.matrix_norm, fast=False)
def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    return np.linalg.norm(x, ord=ord, axis=(-2, -1), keepdims=keepdims)


@composite(np.linalg.cond, fast="host")          # cupy.linalg has no cond
def cond(x, p=None):
    if p in (None, 2, -2):
        s = np.linalg.svd(x, compute_uv=False)
        return s[..., 0] / s[..., -1] if p != -2 else s[..., -1] / s[..., 0]
    return (np.linalg.norm(x, ord=p, axis=(-2, -1))
            * np.linalg.norm(np.linalg.inv(x), ord=p, axis=(-2, -1)))


# ------------------------------------------------------------------------- products and shapes
@composite(np.linalg.matmul, fast=False)
def linalg_matmul(x1, x2, /):
    return matmul(x1, x2)


@composite(np.linalg.matrix_transpose, fast=False)
def matrix_transpose(x, /):
    if x.ndim < 2:
        raise ValueError("matrix_transpose needs an array with at least 2 dimensions")
    return mT(x)


@composite(np.linalg.matrix_power)
def matrix_power(a, n):
    """Binary powering with matmul; negative powers invert first (A^-k = (A^-1)^k)."""
    n = int(n)
    if n == 0:
        raw = value(a)
        return wrap(np.broadcast_to(eye_like(raw), raw.shape).copy())
    if n < 0:
        a, n = np.linalg.inv(a), -n
    result, base = None, a
    while n:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    return result


@composite(np.linalg.multi_dot, fast=False)
def multi_dot(arrays, *, out=None):
    if out is not None:
        raise TypeError("multi_dot(out=...) is not supported on GradArrays")
    if len(arrays) < 2:
        raise ValueError("Expecting at least two arrays.")
    result = arrays[0]
    for x in arrays[1:]:
        result = matmul(result, x)
    return wrap(result)


@composite(np.linalg.outer, fast=False)
def outer(x1, x2, /):
    if x1.ndim != 1 or x2.ndim != 1:
        raise ValueError(f"Input arrays must be one-dimensional, but they are {x1.ndim=} and "
                         f"{x2.ndim=}.")
    return x1[:, None] * x2[None, :]


@composite(np.linalg.vecdot, fast=False)
def vecdot(x1, x2, /, *, axis=-1):
    # as the gufunc: ``axis`` is the vector axis of each operand (AxisError when it has none)
    x1 = np.moveaxis(x1, normalize_axis_index(axis, x1.ndim), -1)
    x2 = np.moveaxis(x2, normalize_axis_index(axis, x2.ndim), -1)
    return np.sum(conj(x1) * x2, axis=-1)


@composite(np.linalg.diagonal, fast=False)
def diagonal(x, /, *, offset=0):
    raw = value(x)
    n, m = raw.shape[-2], raw.shape[-1]
    start_r, start_c = max(-offset, 0), max(offset, 0)
    k = max(min(n - start_r, m - start_c), 0)
    i = np.arange(k, like=raw)
    return x[..., i + start_r, i + start_c]


@composite(np.linalg.trace, fast=False)
def trace(x, /, *, offset=0, dtype=None):
    out = np.sum(diagonal(x, offset=offset), axis=-1)
    return out if dtype is None else out.astype(dtype)


@composite(np.linalg.tensordot, fast=False)
def tensordot(x1, x2, /, *, axes=2):
    if isinstance(axes, (int, np.integer)):
        axes_a = tuple(range(x1.ndim - axes, x1.ndim))
        axes_b = tuple(range(axes))
    else:
        axes_a, axes_b = axes
        axes_a = (axes_a,) if isinstance(axes_a, (int, np.integer)) else tuple(axes_a)
        axes_b = (axes_b,) if isinstance(axes_b, (int, np.integer)) else tuple(axes_b)
    axes_a = normalize_axis_tuple(axes_a, x1.ndim, argname="axes")
    axes_b = normalize_axis_tuple(axes_b, x2.ndim, argname="axes")
    free_a = tuple(i for i in range(x1.ndim) if i not in axes_a)
    free_b = tuple(i for i in range(x2.ndim) if i not in axes_b)
    sa = [x1.shape[i] for i in free_a]
    sb = [x2.shape[i] for i in free_b]
    k = int(np.prod([x1.shape[i] for i in axes_a], dtype=np.int64))
    a2 = np.reshape(permute(x1, free_a + axes_a), (-1, k))
    b2 = np.reshape(permute(x2, axes_b + free_b), (k, -1))
    return np.reshape(matmul(a2, b2), tuple(sa + sb))


def _cross(x1, x2, axis=-1):
    return np.cross(x1, x2, axis=axis)


cross_primitive = Primitive(_cross)
cross_primitive.__name__ = "cross"
# a x b is bilinear: <g, da x b> = da . (b x conj g)  ->  ga = conj(b) x g, gb = g x conj(a)
defvjp(cross_primitive, save="args")(
    lambda g, ans, x1, x2, axis=-1: (cross_primitive(conj(x2), g, axis),
                                     cross_primitive(g, conj(x1), axis)))


@composite(np.linalg.cross, fast=False)
def cross(x1, x2, /, *, axis=-1):
    normalize_axis_index(axis, x1.ndim), normalize_axis_index(axis, x2.ndim)
    if x1.shape[axis] != 3 or x2.shape[axis] != 3:
        raise ValueError("Both input arrays must be (arrays of) 3-dimensional vectors, but they are "
                         f"{x1.shape[axis]} and {x2.shape[axis]} dimensional instead.")
    return cross_primitive(x1, x2, axis)


@composite(np.linalg.tensorinv)
def tensorinv(a, ind=2):
    if ind <= 0:
        raise ValueError("Invalid ind argument.")
    inv_shape = a.shape[ind:] + a.shape[:ind]
    rows = int(np.prod(a.shape[:ind], dtype=np.int64))
    return np.reshape(np.linalg.inv(np.reshape(a, (rows, -1))), inv_shape)


@composite(np.linalg.tensorsolve)
def tensorsolve(a, b, axes=None):
    if axes is not None:
        allaxes = list(range(a.ndim))
        for k in axes:
            allaxes.remove(k)
            allaxes.insert(a.ndim, k)
        a = permute(a, tuple(allaxes))
    oldshape = a.shape[-(a.ndim - b.ndim):]
    prod = int(np.prod(oldshape, dtype=np.int64))
    if a.size != prod ** 2:                  # NumPy's check (and error) before reshaping
        raise np.linalg.LinAlgError("Input arrays must satisfy the requirement "
                                    "prod(a.shape[b.ndim:]) == prod(a.shape[:b.ndim])")
    a2 = np.reshape(a, (prod, prod))
    return np.reshape(np.linalg.solve(a2, np.reshape(b, (-1,))), oldshape)
