"""Derivative rules for NumPy's top level, one module per family. Importing registers them."""
from . import indexing, ufunc_methods  # noqa: F401
from . import ufuncs, reductions, shape, linear, sorting, composites, methods  # noqa: F401
