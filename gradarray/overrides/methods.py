"""ndarray-style methods of GradArray, each recording like its ``np.*`` twin."""
from __future__ import annotations

import numpy as np

from .._array import GradArray
from .shape import astype_primitive


def _method(func):
    def method(self, *args, **kwargs):
        return func(self, *args, **kwargs)
    method.__name__ = func.__name__
    method.__doc__ = f"Same as ``np.{func.__name__}(self, ...)``, recorded on the tape."
    return method


for _name in ("sum", "mean", "std", "var", "max", "min", "prod", "cumsum", "cumprod",
              "swapaxes", "squeeze", "ravel", "clip", "dot", "round", "argmax", "argmin",
              "argsort", "nonzero", "any", "all", "trace", "diagonal", "repeat", "take",
              "ptp", "searchsorted", "choose", "conj", "conjugate", "put", "argpartition", "copy"):
    setattr(GradArray, _name, _method(getattr(np, _name)))


def reshape(self, *shape, order="C"):
    if len(shape) == 1 and not isinstance(shape[0], int):
        shape = shape[0]
    return np.reshape(self, shape, order=order)


def transpose(self, *axes):
    """``a.transpose()``, ``a.transpose(1, 0, 2)`` or ``a.transpose((1, 0, 2))``."""
    if len(axes) == 1 and (axes[0] is None or not isinstance(axes[0], (int, np.integer))):
        axes = axes[0]
    return np.transpose(self, axes if axes else None)


def compress(self, condition, axis=None, out=None):
    return np.compress(condition, self, axis=axis, out=out)


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
    if dtype == x.dtype and not copy:
        return x
    return astype_primitive(x, dtype)


GradArray.reshape = reshape
GradArray.flatten = flatten
GradArray.astype = astype
GradArray.fill = fill
GradArray.view = view
GradArray.transpose = transpose
GradArray.compress = compress


# ndarray.sort and ndarray.partition work in place: sort out of place, then write back
def sort(self, axis=-1, kind=None, order=None):
    self[...] = np.sort(self, axis=axis, kind=kind, order=order)


def partition(self, kth, axis=-1, kind="introselect", order=None):
    self[...] = np.partition(self, kth, axis=axis, kind=kind, order=order)


def tobytes(self, order="C"):
    return self._data.tobytes(order=order)


def resize(self, *new_shape, refcheck=True):
    raise TypeError("GradArray.resize (in place, changing the shape) is not supported; use "
                    "x = np.resize(x, new_shape) or x.reshape(...)")


GradArray.sort = sort
GradArray.partition = partition
GradArray.tobytes = tobytes
GradArray.resize = resize
