"""gradarray: gradients for unmodified NumPy code, on CPU (NumPy) or GPU (CuPy).

    import numpy as np, gradarray as ga
    x = ga.asarray(np.linspace(0, 1, 5), requires_grad=True)
    y = np.sum(np.sin(x) ** 2)        # any NumPy code; y is a GradArray
    y.backward(); x.grad
"""
from ._modes import (GradientLostWarning, enable_grad, is_grad_enabled, no_grad, set_grad_enabled,
                     set_strict)
from ._tables import Rule, ShapeDtype
from ._array import GradArray
from . import _tape, _dispatch  # noqa: F401  (install backward() and NumPy's protocols on GradArray)
from ._backend import Device, register_backend
from ._registry import (Primitive, custom_vjp, defvjp, defvjp_joint, implements, nondifferentiable,
                        primitive)
from ._creation import (arange, array, asarray, empty, empty_like, eye, from_dlpack, from_numpy, full,
                        full_like, identity, linspace, ones, ones_like, tensor, to_device, zeros,
                        zeros_like)
from .functional import grad, grad_of, hessian, jacobian, jvp, value_and_grad, vjp
from . import overrides as _overrides  # noqa: F401  (registers every rule)
from . import linalg, fft, testing  # noqa: F401
from . import array_api  # noqa: F401  (GradArray.__array_namespace__ returns it)
from .trace import trace_numpy
from . import graph  # noqa: F401
from .graph import detect_anomaly, draw_graph, profile
from .jit import jit  # noqa: F401  (record once, replay fast)
from . import polynomial  # noqa: F401
from . import _dask  # noqa: F401  (Dask backend, registered when Dask arrays are first seen)
from ._dask import DaskComputeError, compute
from . import random  # noqa: F401  (installs numpy.random's tracked generators)

try:                                # SciPy rules: only when SciPy is installed
    import scipy.special as _scipy_special  # noqa: F401  (not bound as "scipy": gradarray.scipy)
except ImportError:
    pass
else:
    from . import special  # noqa: F401
    from . import scipy  # noqa: F401  (installs its wrappers in SciPy, see gradarray/scipy/_bridge.py)

__version__ = "0.1.0"

__all__ = [
    "GradArray", "GradientLostWarning", "Rule", "ShapeDtype", "Device", "Primitive",
    "asarray", "array", "tensor", "zeros", "ones", "empty", "full", "arange", "linspace", "eye",
    "identity", "zeros_like", "ones_like", "empty_like", "full_like", "to_device", "from_dlpack",
    "from_numpy",
    "grad", "value_and_grad", "vjp", "jvp", "jacobian", "hessian", "grad_of",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "set_strict",
    "defvjp", "defvjp_joint", "implements", "nondifferentiable", "primitive", "custom_vjp",
    "register_backend", "linalg", "fft", "testing", "trace_numpy", "polynomial",
    "graph", "detect_anomaly", "draw_graph", "profile", "compute", "DaskComputeError",
]
