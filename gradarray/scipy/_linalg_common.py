"""Helpers shared by the differentiable ``scipy.linalg`` modules (``linalg.py``,
``linalg_matfuncs.py``): argument conversion and checks in SciPy's words, SciPy's own functions for
forward passes on raw data, and the matrices that LAPACK's one-triangle routines actually read.

Must not know about: any particular ``scipy.linalg`` function's derivative.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as _sla

from .._array import GradArray, _make
from .._creation import asarray
from .._modes import is_grad_enabled
from ..linalg._ops import eye_like, mH, mT, real_part, tril, triu, value

__all__ = ["as_gradarray", "refuse_nonfinite", "check_square", "scipy_original", "is_tracked",
           "triangle_matrix", "zeros_like_blocks"]


def as_gradarray(x):
    """The caller's argument as a GradArray: GradArrays pass through, arrays / lists (possibly
    holding GradArrays) / scalars become GradArrays (untracked for plain data)."""
    return x if type(x) is GradArray else asarray(x)


def refuse_nonfinite(x, check, name):
    """SciPy's ``check_finite=True``: refuse infs and NaNs (ValueError, as SciPy does)."""
    if check and not bool(np.all(np.isfinite(value(x)))):
        raise ValueError(f"scipy.linalg.{name}: array must not contain infs or NaNs")


def check_square(a, name):
    shape = a.shape
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"scipy.linalg.{name}: expected a square matrix (..., n, n), got shape "
                         f"{shape}")


def scipy_original(name):
    """SciPy's own ``scipy.linalg.<name>`` (behind gradarray's wrapper), for raw data."""
    f = getattr(_sla, name)
    return getattr(f, "__gradarray_original__", f)


def is_tracked(values):
    """Does any value (into lists, tuples and dicts) hold a GradArray that requires grad?"""
    if not is_grad_enabled():
        return False
    for v in values:
        t = type(v)
        if t is GradArray and v.requires_grad:
            return True
        if (t is list or t is tuple) and is_tracked(v):
            return True
        if t is dict and is_tracked(v.values()):
            return True
    return False


def triangle_matrix(a, lower, kind):
    """The matrix a one-triangle LAPACK routine sees in ``a`` (differentiable, so the gradient lands
    on the triangle that was read and nowhere else):

    - "sym":  T + T_strict^T      (complex symmetric, sytrf)
    - "her":  T + T_strict^H with the diagonal's imaginary part dropped (hetrf, potrf)
    where T is the lower (``lower``) or upper triangle of ``a``."""
    strict = tril(a, -1) if lower else triu(a, 1)
    if kind == "sym":
        return strict + mT(strict) + a * eye_like(a)
    return strict + mH(strict) + real_part(a) * eye_like(a)


def zeros_like_blocks(shape, dtype, like):
    """An untracked zero GradArray on ``like``'s backend, to assemble blocks into with setitem
    (differentiable in the blocks written)."""
    raw = value(like)
    return _make(np.zeros(shape, dtype=dtype, like=raw if hasattr(raw, "shape") else None))
