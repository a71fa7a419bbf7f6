"""``gradarray.linalg``: every ``numpy.linalg`` function, differentiable, plus torch.linalg extras.

``np.linalg.f(x)`` on GradArrays and ``gradarray.linalg.f(x)`` share one rule: the functions here
wrap plain (NumPy, CuPy, ...) arrays as untracked GradArrays and call ``np.linalg.f``, so they
always return GradArrays. The rules live in ``_rules.py`` and ``_decompositions.py`` (numpy.linalg)
and ``_extras.py`` (solve_triangular, lu_factor, lu_solve, lu, matrix_exp, cholesky_ex, inv_ex,
solve_ex, vander, householder_product, ldl_factor, ldl_solve).
"""
from __future__ import annotations

import functools

import numpy as np

from . import _rules, _decompositions  # noqa: F401  (register the numpy.linalg rules)
from ._extras import (cholesky_ex, householder_product, inv_ex, ldl_factor, ldl_solve, lu,
                      lu_factor, lu_solve, matrix_exp, solve_ex, solve_triangular, vander)
from ._ops import wrap as _wrap

LinAlgError = np.linalg.LinAlgError

_NUMPY_NAMES = ("cholesky", "cond", "cross", "det", "diagonal", "eig", "eigh", "eigvals", "eigvalsh",
                "inv", "lstsq", "matmul", "matrix_norm", "matrix_power", "matrix_rank",
                "matrix_transpose", "multi_dot", "norm", "outer", "pinv", "qr", "slogdet", "solve",
                "svd", "svdvals", "tensordot", "tensorinv", "tensorsolve", "trace", "vecdot",
                "vector_norm")


def _as_gradarrays(x):
    if isinstance(x, (list, tuple)):
        return type(x)(_as_gradarrays(v) for v in x)
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return _wrap(x)
    return x


def _mirror(name):
    func = getattr(np.linalg, name)

    @functools.wraps(func)
    def mirrored(*args, **kwargs):
        # the array arguments become GradArrays so that NumPy dispatches to gradarray's rule
        args = tuple(_as_gradarrays(a) for a in args)
        kwargs = {k: _as_gradarrays(v) if k in ("a", "b", "x", "x1", "x2", "A") else v
                  for k, v in kwargs.items()}
        return func(*args, **kwargs)

    mirrored.__module__ = __name__
    mirrored.__doc__ = (f"``np.linalg.{name}``, differentiable; array arguments may be NumPy, CuPy or "
                        f"GradArrays, the result is a GradArray.\n\n" + (func.__doc__ or ""))
    return mirrored


for _name in _NUMPY_NAMES:
    globals()[_name] = _mirror(_name)
del _name

__all__ = list(_NUMPY_NAMES) + [
    "LinAlgError", "solve_triangular", "lu_factor", "lu_solve", "lu", "matrix_exp", "cholesky_ex",
    "inv_ex", "solve_ex", "vander", "householder_product", "ldl_factor", "ldl_solve"]
