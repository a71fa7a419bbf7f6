"""ndarray-style methods of GradArray, each recording like its ``np.*`` twin."""
from __future__ import annotations

import numpy as np

from .._core import GradArray


def _method(func):
    def method(self, *args, **kwargs):
        return func(self, *args, **kwargs)
    method.__name__ = func.__name__
    method.__doc__ = f"Same as ``np.{func.__name__}(self, ...)``, recorded on the tape."
    return method


for _name in ("sum", "mean", "std", "var", "max", "min", "prod", "cumsum", "cumprod", "transpose",
              "swapaxes", "squeeze", "ravel", "clip", "dot", "round", "argmax", "argmin",
              "argsort", "nonzero", "any", "all", "trace", "diagonal", "repeat", "take", "compress",
              "ptp", "searchsorted", "choose", "conj", "conjugate", "put", "argpartition",
              "partition", "sort", "copy"):
    setattr(GradArray, _name, _method(getattr(np, _name)))


def reshape(self, *shape, order="C"):
    if len(shape) == 1 and not isinstance(shape[0], int):
        shape = shape[0]
    return np.reshape(self, shape, order=order)


def flatten(self, order="C"):
    return np.copy(np.ravel(self, order=order))


def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
    return _astype(self, np.dtype(dtype), copy)


def fill(self, value):
    self[...] = value


def view(self, dtype=None, *args):
    if dtype is None:
        return self[...]
    raise TypeError("GradArray.view(dtype) reinterprets memory and has no gradient; use astype")


def _astype(x, dtype, copy):
    from .shape import astype_primitive
    if dtype == x.dtype and not copy:
        return x
    return astype_primitive(x, dtype)


GradArray.reshape = reshape
GradArray.flatten = flatten
GradArray.astype = astype
GradArray.fill = fill
GradArray.view = view
GradArray.sort = lambda self, axis=-1, kind=None, order=None: self.__setitem__(
    Ellipsis, np.sort(self, axis=axis, kind=kind, order=order))
