"""Derivative rules for NumPy's top level, one module per family. Importing registers them."""
from . import indexing, ufunc_methods  # noqa: F401
from . import ufuncs, reductions, statistics, shape, gathers, linear, sorting  # noqa: F401
from . import composites, polynomials, methods, inplace, histograms, pyfunc  # noqa: F401
from . import device_fallbacks, device_keywords  # noqa: F401  (last: they wrap the rules above)
