"""Rules for products of NumPy's top level: matmul & co., dot, vdot, inner, outer, tensordot, einsum,
kron, cross, convolve, correlate.

All of these are linear in each argument, so every VJP is "the same product with g in place of the
output and the other argument conjugated" (complex convention: grad_x = g * conj(d out / d x)).
Functions that conjugate an argument themselves (vdot, vecdot, vecmat: conj(a) . b) are
antiholomorphic in it; there grad_a = conj(g) * b (and grad_b = g * a).
The VJPs are products again (matmul, tensordot, einsum, ...), so higher derivatives come for free.
Broadcast batch dimensions are summed by the engine.
"""
from __future__ import annotations

import string
import warnings

import numpy as np

from .._backend import create_like
from .._registry import conj, defvjp, defvjp_joint, implements_on_devices, nondifferentiable
from .indexing import scatter_index

nondifferentiable(np.einsum_path)


def _mT(x):
    """Matrix transpose of the last two axes."""
    return np.swapaxes(x, -1, -2)


def _operands(g, a, b):
    """The two operands as arrays: a constant operand given as a list, tuple or Python number
    (``np.dot([1.0, 2.0], x)``) is saved as passed; the VJPs read ``.ndim``/``.shape``, so it is
    converted here, once per backward, on the device of ``g``."""
    return _operand(g, a), _operand(g, b)


def _operand(g, x):
    if type(x) in _ARRAY_LIKE_CONSTANTS:
        return np.asarray(x, like=_raw(g))
    return x


_ARRAY_LIKE_CONSTANTS = frozenset({list, tuple, int, float, complex, bool})


# ------------------------------------------------------------------------------------------ matmul
def _matmul_vjp_a(g, ans, a, b):
    a, b = _operands(g, a, b)
    if a.ndim == 1 and b.ndim == 1:                       # inner product: g is 0-d
        return g * conj(b)
    # view 1-D operands as a row (a) / a column (b), like matmul itself does
    b2 = b[:, None] if b.ndim == 1 else b
    g2 = g[..., None] if b.ndim == 1 else g
    if a.ndim == 1:
        g2 = g2[..., None, :]
        return (g2 @ conj(_mT(b2)))[..., 0, :]
    return g2 @ conj(_mT(b2))


def _matmul_vjp_b(g, ans, a, b):
    a, b = _operands(g, a, b)
    if a.ndim == 1 and b.ndim == 1:
        return g * conj(a)
    a2 = a[None, :] if a.ndim == 1 else a
    g2 = g[..., None, :] if a.ndim == 1 else g
    if b.ndim == 1:
        g2 = g2[..., None]
        return (conj(_mT(a2)) @ g2)[..., 0]
    return conj(_mT(a2)) @ g2


defvjp(np.matmul, _matmul_vjp_a, _matmul_vjp_b, save="args")

# vecdot(a, b) = sum(conj(a) * b, axis=-1): antiholomorphic in a.
# (axis=/axes= keywords are refused by the engine for tracked ufunc calls; the rules assume axis=-1.)
defvjp(np.vecdot,
       lambda g, ans, a, b: np.conj(g)[..., None] * b,
       lambda g, ans, a, b: g[..., None] * a, save="args")


def _mv(A, v):
    """Matrix-vector product over the last axes, written with matmul (CuPy has no np.matvec)."""
    return (A @ v[..., None])[..., 0]


# matvec(A, v)[m] = sum_n A[m, n] v[n]
defvjp(np.matvec,
       lambda g, ans, A, v: g[..., :, None] * conj(v)[..., None, :],
       lambda g, ans, A, v: _mv(conj(_mT(A)), g), save="args")
# vecmat(v, A)[n] = sum_m conj(v[m]) A[m, n]: antiholomorphic in v.
defvjp(np.vecmat,
       lambda g, ans, v, A: _mv(A, np.conj(g)),
       lambda g, ans, v, A: v[..., :, None] * g[..., None, :], save="args")

# On backends without these ufuncs (CuPy 13), the same products from primitives that exist there.
implements_on_devices(np.vecdot)(lambda a, b: np.sum(conj(a) * b, axis=-1))
implements_on_devices(np.matvec)(_mv)
implements_on_devices(np.vecmat)(lambda v, A: _mv(_mT(A), conj(v)))


# --------------------------------------------------------------------------------------- tensordot
def _tensordot_axes(axes, a_ndim, b_ndim):
    """NumPy's ``axes`` argument as two lists of non-negative axes contracted pairwise."""
    try:
        ia, ib = axes
    except TypeError:
        n = int(axes)
        return list(range(a_ndim - n, a_ndim)), list(range(n))
    ia = [ia] if isinstance(ia, int) else list(ia)
    ib = [ib] if isinstance(ib, int) else list(ib)
    return [i % a_ndim for i in ia], [i % b_ndim for i in ib]


def _tensordot_grads(g, a, b, ia, ib, need_a=True, need_b=True):
    """Gradients of out = tensordot(a, b, (ia, ib)); out's axes are a's free axes then b's."""
    a_free = [i for i in range(a.ndim) if i not in ia]
    b_free = [i for i in range(b.ndim) if i not in ib]
    na = len(a_free)
    ga = gb = None
    if need_a:
        # contract g's b-part with conj(b)'s free axes: result axes = a_free, then the a-axes paired
        # with b's contracted axes in increasing b order; transpose back to a's order
        r = np.tensordot(g, conj(b), axes=(list(range(na, g.ndim)), b_free))
        order = a_free + [ia[ib.index(j)] for j in sorted(ib)]
        ga = np.transpose(r, np.argsort(order).tolist()) if order != sorted(order) else r
    if need_b:
        r = np.tensordot(conj(a), g, axes=(a_free, list(range(na))))
        order = [ib[ia.index(i)] for i in sorted(ia)] + b_free
        gb = np.transpose(r, np.argsort(order).tolist()) if order != sorted(order) else r
    return ga, gb


def _tensordot_vjp(g, ans, a, b, axes=2):
    a, b = _operands(g, a, b)
    ia, ib = _tensordot_axes(axes, a.ndim, b.ndim)
    return _tensordot_grads(g, a, b, ia, ib)


defvjp_joint(np.tensordot, _tensordot_vjp, save="args")


def _product_vjp(contract):
    """Joint VJP of a product that is a scalar multiple when an operand is 0-d, else a tensordot
    whose contracted axes ``contract(a_ndim, b_ndim)`` gives."""
    def vjp(g, ans, a, b, *rest, **kwargs):
        a, b = _operands(g, a, b)
        a_ndim, b_ndim = np.ndim(a), np.ndim(b)
        if a_ndim == 0 or b_ndim == 0:
            return g * conj(b), g * conj(a)
        ia, ib = contract(a_ndim, b_ndim)
        return _tensordot_grads(g, a, b, ia, ib)
    return vjp


# dot: sum over the last axis of a and the second-to-last of b (the only one when b is 1-D)
defvjp_joint(np.dot, _product_vjp(lambda na, nb: ([na - 1], [max(nb - 2, 0)])), save="args")
# inner: sum over the last axes of both
defvjp_joint(np.inner, _product_vjp(lambda na, nb: ([na - 1], [nb - 1])), save="args")


# vdot(a, b) = sum(conj(a.ravel()) * b.ravel()): antiholomorphic in a
defvjp(np.vdot,
       lambda g, ans, a, b: np.reshape(np.conj(g) * _operand(g, b), np.shape(a)),
       lambda g, ans, a, b: np.reshape(g * _operand(g, a), np.shape(b)), save="args")


# outer(a, b)[i, j] = a.ravel()[i] * b.ravel()[j]
defvjp(np.outer,
       lambda g, ans, a, b, out=None: np.reshape(g @ conj(np.reshape(b, (-1,))), np.shape(a)),
       lambda g, ans, a, b, out=None: np.reshape(conj(np.reshape(a, (-1,))) @ g, np.shape(b)),
       save="args")


# -------------------------------------------------------------------------------------------- kron
def _kron_vjp(g, ans, a, b):
    """kron(a, b) reshaped to (a0, b0, a1, b1, ...) is a[:, None, :, None] * b[None, :, None, :]
    (both padded with leading 1s to the same ndim)."""
    a, b = _operands(g, a, b)
    nd = max(np.ndim(a), np.ndim(b))
    sa = (1,) * (nd - np.ndim(a)) + tuple(np.shape(a))
    sb = (1,) * (nd - np.ndim(b)) + tuple(np.shape(b))
    g = np.reshape(g, tuple(s for pair in zip(sa, sb) for s in pair))
    a_r = np.reshape(a, tuple(s for k in sa for s in (k, 1)))
    b_r = np.reshape(b, tuple(s for k in sb for s in (1, k)))
    ga = np.sum(g * conj(b_r), axis=tuple(range(1, 2 * nd, 2)))
    gb = np.sum(g * conj(a_r), axis=tuple(range(0, 2 * nd, 2)))
    return np.reshape(ga, np.shape(a)), np.reshape(gb, np.shape(b))


defvjp_joint(np.kron, _kron_vjp, save="args")


# ------------------------------------------------------------------------------------------- cross
def _cross_vjp(g, ans, a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """c = a x b is bilinear: grad_a = conj(b) x g, grad_b = g x conj(a).

    2-vectors have z = 0; when both are 2-vectors c is the z component alone, so g stands for
    (0, 0, g): then conj(b) x g = g * (b1, -b0) and g x conj(a) = g * (-a1, a0).
    """
    a, b = _operands(g, a, b)
    if axis is not None:
        axisa = axisb = axisc = axis
    na, nb = np.ndim(a), np.ndim(b)
    axisa, axisb = axisa % na - na, axisb % nb - nb        # counted from the end
    a = np.moveaxis(a, axisa, -1)
    b = np.moveaxis(b, axisb, -1)
    la, lb = a.shape[-1], b.shape[-1]
    if la == 2 and lb == 2:
        gz = g[..., None]
        ga = gz * conj(b)[..., ::-1] * np.asarray([1, -1], like=_raw(a))
        gb = gz * conj(a)[..., ::-1] * np.asarray([-1, 1], like=_raw(b))
    else:
        g = np.moveaxis(g, axisc, -1)
        with warnings.catch_warnings():     # NumPy deprecates 2-vectors; the forward call warned
            warnings.simplefilter("ignore", DeprecationWarning)
            ga = np.cross(conj(b), g)[..., :la]
            gb = np.cross(g, conj(a))[..., :lb]
    return np.moveaxis(ga, -1, axisa), np.moveaxis(gb, -1, axisb)


def _raw(x):
    """The backend array under a GradArray (to create constants on the same device)."""
    return getattr(x, "_data", x)


defvjp_joint(np.cross, _cross_vjp, save="args")


# ------------------------------------------------------------------------- convolve and correlate
# Both are 1-D and bilinear. Their "same"/"valid" outputs are windows of the "full" output, so the
# gradient first places g in that window of a zero "full" gradient.
def _full_offset(M, N, mode, correlate):
    if mode == "full":
        return 0
    if mode == "valid":
        return min(M, N) - 1
    if correlate and N > M:       # np.correlate computes this case as a reversed correlate(v, a)
        return M // 2
    return (min(M, N) - 1) // 2


def _to_full(g, M, N, mode, correlate):
    if mode == "full":
        return g
    off = _full_offset(M, N, mode, correlate)
    return scatter_index(g, slice(off, off + g.shape[0]), (M + N - 1,))


def _vectors(g, a, v):
    """Both operands as 1-D arrays (NumPy reads a scalar as a vector of length 1)."""
    a, v = _operands(g, a, v)
    return (np.reshape(a, (1,)) if np.ndim(a) == 0 else a,
            np.reshape(v, (1,)) if np.ndim(v) == 0 else v)


def _mode(mode):
    return {0: "valid", 1: "same", 2: "full"}.get(mode, mode)


def _convolve_vjp(g, ans, a, v, mode="full"):
    """out_full[n] = sum_k a[k] v[n - k]  =>  grad_a[k] = sum_n g_full[n] conj(v[n - k]), which is
    np.correlate(g_full, v, "valid") (np.correlate conjugates its second argument)."""
    a, v = _vectors(g, a, v)
    gf = _to_full(g, len(a), len(v), _mode(mode), correlate=False)
    return np.correlate(gf, v, "valid"), np.correlate(gf, a, "valid")


def _correlate_vjp(g, ans, a, v, mode="valid"):
    """out_full[k'] = sum_n a[n + k' - N + 1] conj(v[n]):
    grad_a = convolve(g_full, v, "valid"); conj(v) makes the v part antiholomorphic:
    grad_v[n] = sum_k' conj(g_full[k']) a[n + k' - N + 1] = conj(correlate(g_full, a, "valid"))[::-1]."""
    a, v = _vectors(g, a, v)
    gf = _to_full(g, len(a), len(v), _mode(mode), correlate=True)
    return np.convolve(gf, v, "valid"), np.conj(np.correlate(gf, a, "valid"))[::-1]


defvjp_joint(np.convolve, _convolve_vjp, save="args")
defvjp_joint(np.correlate, _correlate_vjp, save="args")


# ------------------------------------------------------------------------------------------ einsum
_LETTERS = string.ascii_uppercase + string.ascii_lowercase   # in sort order


def _einsum_terms(args):
    """Normalise einsum's arguments to (input terms, output term, operands, operand positions).

    Ellipses are replaced by explicit letters (aligned to the right, as einsum broadcasts them), the
    implicit output ("ij,jk") is made explicit, and the interleaved form einsum(a, [0, 1], b, [1],
    [0]) is turned into letters.
    """
    if isinstance(args[0], str):
        spec, operands, positions = args[0].replace(" ", ""), list(args[1:]), list(range(1, len(args)))
    else:
        def letters(sub):
            return "".join("..." if s is Ellipsis else _LETTERS[s] for s in sub)
        n = len(args) // 2
        operands, positions = [args[2 * k] for k in range(n)], [2 * k for k in range(n)]
        spec = ",".join(letters(args[2 * k + 1]) for k in range(n))
        if len(args) % 2:
            spec += "->" + letters(args[-1])
    ins, out = spec.split("->") if "->" in spec else (spec, None)
    ins = ins.split(",")
    ndims = [np.ndim(op) for op in operands]
    n_ell = max([nd - len(t) + 3 for t, nd in zip(ins, ndims) if "..." in t], default=0)
    ell = "".join(c for c in _LETTERS if c not in spec)[:n_ell]
    if out is None:
        named = "".join(ins).replace("...", "")
        out = ell + "".join(sorted(c for c in set(named) if named.count(c) == 1))
    ins = [t.replace("...", ell[len(ell) - (nd - len(t) + 3):]) if "..." in t else t
           for t, nd in zip(ins, ndims)]
    return ins, out.replace("...", ell), operands, positions


def _einsum_vjp(g, ans, *args, optimize=False, **kwargs):
    """out = sum over the other letters of prod_k x_k  =>  grad_k = einsum of g and the conjugated
    other operands, producing operand k's letters.

    Two details: a letter that appears only in operand k (summed out of the output by it alone)
    is broadcast back with a ones operand; a letter repeated in operand k ("ii") is a diagonal,
    which is filled by multiplying with identity matrices.
    """
    ins, out, operands, positions = _einsum_terms(args)
    grads = [None] * len(args)
    for k, (term, op) in enumerate(zip(ins, operands)):
        if not (hasattr(op, "dtype") and op.dtype.kind in "fc"):
            continue
        terms = [out] + [t for j, t in enumerate(ins) if j != k]
        ops = [g] + [conj(o) for j, o in enumerate(operands) if j != k]
        unique = "".join(dict.fromkeys(term))
        shape = dict(zip(term, np.shape(op)))
        for c in unique:
            if c not in "".join(terms):
                terms.append(c)
                ops.append(create_like(np.ones, _raw(g), shape[c], dtype=op.dtype))
        grad = np.einsum(",".join(terms) + "->" + unique, *ops, optimize=optimize)
        if len(unique) < len(term):
            # the diagonal: operand k's repeated letters get fresh letters tied by identity matrices
            spare = iter(c for c in _LETTERS if c not in "".join(ins) + out)
            target, eyes, seen = "", [], set()
            for c in term:
                if c in seen:
                    fresh = next(spare)
                    eyes.append((c + fresh, create_like(np.eye, _raw(g), shape[c], dtype=grad.dtype)))
                    target += fresh
                else:
                    seen.add(c)
                    target += c
            grad = np.einsum(",".join([unique] + [t for t, _ in eyes]) + "->" + target,
                             grad, *[e for _, e in eyes], optimize=optimize)
        grads[positions[k]] = grad
    return tuple(grads)


defvjp_joint(np.einsum, _einsum_vjp, save="args")
