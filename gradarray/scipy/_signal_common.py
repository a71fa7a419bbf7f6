"""Helpers shared by the differentiable ``scipy.signal`` and ``scipy.ndimage`` modules
(``signal.py``, ``signal_convolve.py``, ``ndimage.py``, ``ndimage_interpolation.py``): argument
conversion, the host-only check for SciPy's compiled kernels, and the error for a tracked argument
whose gradient is not computed.

Must not know about: any particular function's derivative.
"""
from __future__ import annotations

import numpy as np

from .. import _backend
from .._array import GradArray

__all__ = ["raw", "lift", "host_only", "tracked", "refuse"]


def raw(x):
    """The raw data of a GradArray, else ``x``."""
    return x._data if type(x) is GradArray else x


def lift(x):
    """``x`` as an array: a GradArray stays, lists holding GradArrays are stacked (differentiably),
    anything else becomes a plain ndarray."""
    if type(x) is GradArray:
        return x
    if isinstance(x, (list, tuple)) and any(type(v) is GradArray for v in x):
        return np.stack([lift(v) for v in x])
    return np.asarray(x)


def host_only(name, *arrays):
    """SciPy's kernels run on host arrays only: a clear error for device data."""
    for a in arrays:
        if type(a) is GradArray and not _backend.is_host_array(a._data):
            raise NotImplementedError(f"{name}: gradarray differentiates SciPy's kernels on NumPy "
                                      "(host) arrays only; move the data with .to_device('cpu')")


def tracked(x):
    """Is ``x`` a GradArray that requires a gradient?"""
    return type(x) is GradArray and x.requires_grad


def refuse(function, argument, why="gradarray has no rule for it"):
    """Raise for a tracked argument whose gradient is not computed (never a silent zero)."""
    raise TypeError(f"{function}: argument {argument!r} is tracked, but {why}, so its gradient "
                    "cannot be computed. Pass it as a constant (.detach() or a plain value).")
