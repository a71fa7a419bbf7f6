"""``gradarray.array_api.linalg``: the array API's linalg extension (2025.12), with its signatures.

``gradarray.linalg`` mirrors ``numpy.linalg`` (``solve(a, b)``, ``matrix_rank(A, tol=None, ...)``);
this module is what array-API code sees as ``xp.linalg``: the standard's names and signatures
(positional-only arrays, keyword-only options), each a real ``def`` calling the differentiable
``gradarray.linalg``/``np.*`` function of the same meaning. Results are GradArrays.

``matmul``, ``matrix_transpose``, ``tensordot`` and ``vecdot`` are defined here once and are also
the main namespace's functions of those names (the standard has them in both places).
``eig``/``eigvals`` (new in 2025.12) always return complex arrays, as the standard requires (NumPy
returns real ones when every eigenvalue is real); the input is made complex first, so the gradient
goes through the complex eigendecomposition and back to the real input.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from . import _creation as _c
from . import linalg as _la
from ._array import GradArray

__all__ = ["cholesky", "cross", "det", "diagonal", "eig", "eigh", "eigvals", "eigvalsh", "inv",
           "matmul", "matrix_norm", "matrix_power", "matrix_rank", "matrix_transpose", "outer",
           "pinv", "qr", "slogdet", "solve", "svd", "svdvals", "tensordot", "trace", "vecdot",
           "vector_norm"]


def _ga(x):
    """A NumPy result as a GradArray (when every input was a plain array or a Python scalar)."""
    return x if type(x) is GradArray else _c.asarray(x)


def _complex(x):
    """``x`` in the complex dtype of its precision (float32 -> complex64, float64 -> complex128)."""
    x = _ga(x)
    if x.dtype.kind == "c":
        return x
    return x.astype(np.complex64 if x.dtype == np.float32 else np.complex128)


class EigResult(NamedTuple):
    eigenvalues: GradArray
    eigenvectors: GradArray


# -------------------------------------------------------------- also in the main namespace
def matmul(x1, x2, /):
    return _ga(np.matmul(x1, x2))


def matrix_transpose(x, /):
    return np.swapaxes(_ga(x), -1, -2)


def tensordot(x1, x2, /, *, axes=2):
    return _ga(np.tensordot(x1, x2, axes=axes))


def vecdot(x1, x2, /, *, axis=-1):
    # np.vecdot is the gufunc (n),(n)->(): it conjugates x1, keeps the dtype (uint8 stays uint8) and
    # raises when the contracted axes differ in length; its own axis= is a gufunc option, so the
    # contracted axis is moved last instead
    if axis != -1:
        x1 = np.moveaxis(x1, normalize_axis_index(axis, np.ndim(x1)), -1)
        x2 = np.moveaxis(x2, normalize_axis_index(axis, np.ndim(x2)), -1)
    return _ga(np.vecdot(x1, x2))


# -------------------------------------------------------------- the extension's own functions
def cholesky(x, /, *, upper=False):
    return _la.cholesky(x, upper=upper)


def cross(x1, x2, /, *, axis=-1):
    return _la.cross(x1, x2, axis=axis)


def det(x, /):
    return _la.det(x)


def diagonal(x, /, *, offset=0):
    return _la.diagonal(x, offset=offset)


def eig(x, /):
    values, vectors = _la.eig(_complex(x))
    return EigResult(values, vectors)


def eigh(x, /):
    return _la.eigh(x)


def eigvals(x, /):
    return _la.eigvals(_complex(x))


def eigvalsh(x, /):
    return _la.eigvalsh(x)


def inv(x, /):
    return _la.inv(x)


def matrix_norm(x, /, *, keepdims=False, ord="fro"):  # noqa: A002
    return _la.matrix_norm(x, keepdims=keepdims, ord=ord)


def matrix_power(x, n, /):
    return _la.matrix_power(x, n)


def matrix_rank(x, /, *, rtol=None):
    return _la.matrix_rank(x, rtol=rtol)


def outer(x1, x2, /):
    return _la.outer(x1, x2)


def pinv(x, /, *, rtol=None):
    return _la.pinv(x, rtol=rtol)       # rtol=None: max(M, N) * eps, the standard's default


def qr(x, /, *, mode="reduced"):
    return _la.qr(x, mode=mode)


def slogdet(x, /):
    return _la.slogdet(x)


def solve(x1, x2, /):
    return _la.solve(x1, x2)


def svd(x, /, *, full_matrices=True):
    return _la.svd(x, full_matrices=full_matrices)


def svdvals(x, /):
    return _la.svdvals(x)


def trace(x, /, *, offset=0, dtype=None):
    return _la.trace(x, offset=offset, dtype=dtype)


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):  # noqa: A002
    return _la.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord)
