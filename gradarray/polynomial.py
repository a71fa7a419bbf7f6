"""Differentiable ``numpy.polynomial``: every function of its six modules, and the convenience
classes, on GradArrays — also when legacy code calls NumPy's own names.

``numpy.polynomial`` is Python code whose functions begin with ``np.array(c, ndmin=1)`` (which NumPy
never dispatches, so a tracked GradArray would be converted to a plain array and lose the tape), then
compute with ordinary arithmetic. Each function here runs NumPy's own implementation inside
:func:`gradarray.trace.trace_numpy`, where ``np.array`` of a GradArray stays a GradArray and buffers
from ``np.empty`` (the Vandermonde matrices) record what is written into them. So the maths is
NumPy's, and gradients flow to ``x``, to the coefficients and to fitted data::

    from numpy.polynomial import chebyshev, polynomial, Polynomial
    polynomial.polyval(x, c)            # d/dx and d/dc (c, x: GradArrays)
    chebyshev.chebfit(x, y, 3)          # d coefficients / d data (through np.linalg.lstsq)
    Polynomial(c)(x); Polynomial(c).deriv(); Polynomial.fit(x, y, 3)

**Legacy callers.** The same wrappers are installed in NumPy's modules with the bridge
(``gradarray/_bridge.py``): ``numpy.polynomial.polynomial.polyval`` & co. (and the ``polyutils``
helpers the classes use: ``as_series``, ``mapdomain``, ...) run the wrapper when an argument holds a
GradArray and NumPy's function otherwise. The convenience classes (``Polynomial``, ``Chebyshev``,
``Legendre``, ``Hermite``, ``HermiteE``, ``Laguerre``) call their module's functions through class
attributes stored as staticmethods (``self._val(x, self.coef)``, ``self._der``, ``cls._fit``, ...):
those are pointed at the wrappers, and the constructor's ``as_series`` keeps a tracked ``coef``. So
``P = Polynomial(c)`` with a tracked ``c`` keeps it, and ``P(x)``, ``P.deriv()``, ``P.integ()``,
``P + Q``, ``P * 2``, ``P ** 2``, ``Polynomial.fit(x, y, deg)`` (tracked ``y`` or ``x``) are recorded,
without ``trace_numpy``. A name bound before ``import gradarray`` (``from
numpy.polynomial.polynomial import polyval``) stays NumPy's own function (the classes are covered
either way); import gradarray first, or call ``gradarray.polynomial.polyval``.

The ``*val`` functions also keep NumPy's ``tensor=True`` meaning when ``x`` is a GradArray (NumPy
checks ``isinstance(x, np.ndarray)``). Fitting needs the ``np.linalg.lstsq`` rule; as in NumPy, the
fit's gradient is that of the least-squares solution for a full-rank Vandermonde matrix. The ``repr``
of a class instance with a tracked ``coef`` shows the values (not the tape).
"""
from __future__ import annotations

import functools
import sys

import numpy as np
from numpy.polynomial import (_polybase, chebyshev, hermite, hermite_e, laguerre, legendre,
                              polynomial, polyutils)

from ._array import GradArray
from ._bridge import implements_scipy
from ._creation import asarray
from .trace import trace_numpy

_MODULES = (polynomial, chebyshev, legendre, hermite, hermite_e, laguerre)
_VAL = {"polyval", "chebval", "legval", "hermval", "hermeval", "lagval"}
# the polyutils helpers the classes call on their coefficients, domains and arguments
_POLYUTILS = ("as_series", "trimseq", "trimcoef", "getdomain", "mapdomain", "mapparms")
# the class attributes (staticmethods) through which the classes call their module's functions
_VIRTUAL = ("_add", "_sub", "_mul", "_div", "_pow", "_val", "_int", "_der", "_fit", "_line",
            "_roots", "_fromroots")

__all__ = []


def _original(func):
    return getattr(func, "__gradarray_original__", func)


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
        _func = _original(getattr(_module, _name))
        if isinstance(_func, type) or not callable(_func):
            continue
        _wrapper = _traced_val(_func) if _name in _VAL else _traced(_func)
        implements_scipy(_module.__name__, _name)(_wrapper)      # numpy.polynomial.<module>.<name>
        if _name not in globals():
            globals()[_name] = _wrapper
            __all__.append(_name)
for _name in _POLYUTILS:
    implements_scipy(polyutils.__name__, _name)(_traced(_original(getattr(polyutils, _name))))
del _module, _name, _func, _wrapper


# ------------------------------------------------------------------------------ convenience classes
def _classes(base=_polybase.ABCPolyBase):
    for cls in base.__subclasses__():
        yield cls
        yield from _classes(cls)


def _point_classes_at_wrappers():
    """``Polynomial._val = staticmethod(polyval)`` and so on: the staticmethods NumPy bound at class
    creation are replaced by the installed wrappers of the same module functions."""
    for cls in _classes():
        for attr in _VIRTUAL:
            method = cls.__dict__.get(attr)
            if not isinstance(method, staticmethod):
                continue
            func = method.__func__
            module = sys.modules.get(getattr(func, "__module__", None) or "")
            installed = getattr(module, getattr(func, "__name__", ""), None)
            if getattr(installed, "__gradarray_original__", None) is func:
                setattr(cls, attr, staticmethod(installed))


_point_classes_at_wrappers()


def _install_repr():
    """NumPy's repr cuts ``array(`` off ``repr(coef)``: with a GradArray coef, show the values."""
    original = _polybase.ABCPolyBase.__dict__["__repr__"]
    if getattr(original, "__gradarray_original__", None) is not None:
        return

    @functools.wraps(original)
    def __repr__(self):
        if any(type(v) is GradArray for v in vars(self).values()):
            return original(_plain_view(self))
        return original(self)
    __repr__.__gradarray_original__ = original
    _polybase.ABCPolyBase.__repr__ = __repr__


def _plain_view(series):
    view = object.__new__(type(series))
    view.__dict__.update(series.__dict__)
    for name in ("coef", "domain", "window"):
        value = series.__dict__.get(name)
        if type(value) is GradArray:
            view.__dict__[name] = value._data
    return view


_install_repr()
