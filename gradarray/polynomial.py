"""Differentiable ``numpy.polynomial``: every function of its six modules, on GradArrays.

``numpy.polynomial`` is Python code whose functions begin with ``np.array(c, ndmin=1)`` (which NumPy
never dispatches, so a tracked GradArray would be converted to a plain array and lose the tape), then
compute with ordinary arithmetic. Each function here runs NumPy's own implementation inside
:func:`gradarray.trace.trace_numpy`, where ``np.array`` of a GradArray stays a GradArray and buffers
from ``np.empty`` (the Vandermonde matrices) record what is written into them. So the maths is
NumPy's, and gradients flow to ``x`` and to the coefficients::

    from gradarray import polynomial as gp
    gp.chebval(x, c)                    # d/dx and d/dc
    gp.polyfit(x, y, 3)                 # d coefficients / d data (through np.linalg.lstsq)

The ``*val`` functions also keep NumPy's ``tensor=True`` meaning when ``x`` is a GradArray (NumPy
checks ``isinstance(x, np.ndarray)``). The convenience classes (``Polynomial``, ``Chebyshev``, ...)
store their coefficients with ``np.array`` at construction: build and use them inside
``with ga.trace_numpy():``. Fitting needs the ``np.linalg.lstsq`` rule; as in NumPy, the fit's
gradient is that of the least-squares solution for a full-rank Vandermonde matrix.
"""
from __future__ import annotations

import functools

import numpy as np
from numpy.polynomial import chebyshev, hermite, hermite_e, laguerre, legendre, polynomial

from ._creation import asarray
from .trace import trace_numpy

_MODULES = (polynomial, chebyshev, legendre, hermite, hermite_e, laguerre)
_VAL = {"polyval", "chebval", "legval", "hermval", "hermeval", "lagval"}

__all__ = []


def _traced(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with trace_numpy():
            return func(*args, **kwargs)
    wrapper.__doc__ = (f"``numpy.polynomial.{func.__module__.split('.')[-1]}.{func.__name__}`` run "
                       "under ``trace_numpy`` (differentiable).\n\n" + (func.__doc__ or ""))
    return wrapper


def _traced_val(func):
    @functools.wraps(func)
    def val(x, c, tensor=True):
        with trace_numpy():
            if tensor and not isinstance(x, np.ndarray) and getattr(x, "ndim", 0) > 0:
                # NumPy applies tensor=True only to ndarray x (not to GradArrays or CuPy arrays):
                # extend c by x.ndim axes here
                c = asarray(c)
                c = np.reshape(c, (c.shape or (1,)) + (1,) * x.ndim)
                tensor = False
            return func(x, c, tensor)
    return val


for _module in _MODULES:
    for _name in _module.__all__:
        _func = getattr(_module, _name)
        if isinstance(_func, type) or not callable(_func) or _name in globals():
            continue
        globals()[_name] = _traced_val(_func) if _name in _VAL else _traced(_func)
        __all__.append(_name)
del _module, _name, _func
