"""Differentiable SciPy: rules for SciPy functions called on GradArrays by unmodified legacy code.

``import gradarray`` imports this package when SciPy is installed; importing it installs the
wrappers (``install()``). Each module registers
implementations for one SciPy module with :func:`implements_scipy` (see ``_bridge.py`` for how they
get between legacy code and SciPy); ``gradarray/special.py`` holds the rules of the
``scipy.special`` ufuncs, which reach gradarray through NumPy's ``__array_ufunc__``.

Must not know about: legacy code — every module here only registers.
"""
from . import _bridge
from ._bridge import holds_gradarray, implements_scipy, implements_scipy_method, install
# one module per SciPy module; each registers its implementations when imported
from . import (fft, integrate, interpolate, linalg, ndimage, optimize, signal,  # noqa: F401
               special_functions, stats)

__all__ = ["implements_scipy", "implements_scipy_method", "install", "holds_gradarray"]

install()
