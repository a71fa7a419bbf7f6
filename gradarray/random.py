"""Reparameterised gradients through ``numpy.random``: ``rng.normal(loc, scale)`` with tracked
``loc``/``scale`` returns a GradArray whose gradient flows to them.

    rng = np.random.default_rng(0)               # also np.random.Generator(...), RandomState(...)
    x = rng.normal(mu, sigma, size=1000)          # = mu + sigma * z, the value is NumPy's own
    np.random.seed(0); y = np.random.lognormal(mu, sigma)     # the legacy functions too

**Why this module exists.** ``Generator`` and ``RandomState`` are compiled (Cython) classes: they
convert their parameters with the C API (a GradArray goes through ``__array__``, which warns with
``GradientLostWarning`` and returns plain data), and their methods cannot be replaced on the C type.

**How.** ``TrackedGenerator``/``TrackedRandomState`` subclass NumPy's classes; each public method
is overridden by a thin wrapper that calls NumPy's method unchanged unless an argument holds a
GradArray (one type scan per call: untracked calls give NumPy's values, types and errors).
Importing gradarray installs them where legacy code finds them: ``numpy.random.Generator``,
``numpy.random.RandomState``, ``numpy.random.default_rng`` (a ``TrackedGenerator`` on the bit
generator NumPy's function made), the unpickling helpers of ``numpy.random._pickle`` (unpickled and
deep-copied generators are tracked; the pickles name only NumPy's functions and load without
gradarray), and -- through the generic bridge (``gradarray/_bridge.py``) -- the legacy module-level
functions (``np.random.normal``, ``uniform``, ...: bound methods of the global RandomState
``numpy.random.mtrand._rand``, wrapped to run the tracked method on it). The classes are named
``Generator``/``RandomState`` (same ``repr``; pickled by reference as ``numpy.random.<name>``), and
a metaclass keeps ``isinstance(x, np.random.Generator)`` true for NumPy's own instances.

**Reparameterised methods** (sample = transform of parameter-free noise; gradient in the listed
parameters): ``normal``, ``laplace``, ``gumbel``, ``logistic`` (loc + scale * eps), ``lognormal``
(exp(mean + sigma * z)), ``uniform`` (low + (high - low) * u), ``exponential`` (scale * e),
``multivariate_normal`` (mean + z @ A(cov)); and the gathers ``choice`` (in ``a``),
``permutation``, ``shuffle`` (in place, a recorded write) and ``permuted`` (in ``x``), whose
gradient flows to the selected elements. Both classes and the legacy functions; ``size`` and
broadcasting as in NumPy.

**Values are NumPy's, bit for bit, by construction.** A tracked call saves the generator state,
calls NumPy's own method on the plain parameters (the value, and NumPy's checks, warnings and
errors), restores the state and draws the standard noise with NumPy's own method at loc=0, scale=1
and the output's shape (``normal(0, 1)`` for normal/lognormal, ``laplace(0, 1)``, ...,
``standard_normal`` for multivariate_normal: the draws NumPy's method makes internally, e.g.
``normal(loc, scale)`` is ``loc + scale * standard_normal()`` in both classes), and leaves the
state where NumPy's call left it. The differentiable formula is evaluated on that noise (on x86-64
it reproduces NumPy's value bit for bit for every method; a compiler that fuses ``loc + scale * z``
could differ by rounding) and the output carries NumPy's value with the formula's gradient
(``_exact``, identity VJP): the value is NumPy's on every platform.

``multivariate_normal`` factorises as NumPy does: ``method='svd'`` (the default; A = sqrt(s) u^T
from ``svd(cov)``), ``'eigh'`` (sqrt|w| V^T), ``'cholesky'`` (L^T, through gradarray's cholesky
rule); ``RandomState`` uses sqrt(s) vh. The gradient in ``cov`` is the derivative of that factor
for symmetric perturbations of a symmetric positive-(semi)definite ``cov`` (eigh and cholesky:
folded on the lower triangle that LAPACK reads). Where eigenvalues coincide (relative 1.5e-8),
e.g. ``cov = s**2 * I``, the svd/eigh factor has no derivative: there the tangent of the symmetric
square root (eigenbasis held fixed) is used, a valid reparameterisation, so the gradient is finite
and unbiased in expectation (elsewhere it is the exact derivative). ``'cholesky'`` is smooth.

**Refused.** A tracked (``requires_grad``, grad mode on) value in any other parameter -- ``gamma``,
``beta``, ``poisson``, ``binomial``, ``standard_t``, ``choice``'s ``p``, ``size``, ``tol``, ... --
raises ``TypeError`` naming the method and parameter ("no reparameterised gradient"); pass a
constant (``x.detach()``). Untracked GradArrays (``trace_numpy`` allocations, ``no_grad``) work:
the methods above return an untracked GradArray, the others NumPy's result on the plain data; an
``out=`` GradArray is filled by a recorded write. Device (CuPy) parameters are sampled on the host
and the sample is moved to their device.

**Limits.** A ``Generator``/``RandomState`` created before gradarray was imported (or with
``numpy.random._generator.Generator`` directly) is NumPy's plain class: NumPy converts a tracked
parameter passed to it, which warns with ``GradientLostWarning`` and samples with a constant. Call
``np.random.Generator.normal(rng, ...)`` (the unbound tracked method takes any instance) or
re-create it on the same stream: ``np.random.default_rng(rng.bit_generator)``. Names bound before
the import (``from numpy.random import normal``) keep NumPy's function, with the same warning. A
tracked call draws twice and sets the state twice: a generator shared by threads must not be used
concurrently during it. An untracked call pays one Python wrapper (about 2 microseconds here).
``np.random.normal.__self__`` is gone (the legacy functions are wrappers). ``trace_numpy`` changes
nothing here (the mode does not touch these attributes; NumPy's compiled code keeps plain NumPy).
"""
from __future__ import annotations

import functools
import inspect
import sys

import numpy as np
import numpy.random._generator as _generator_module
import numpy.random._pickle as _pickle_module
import numpy.random.mtrand as _mtrand

from . import _backend
from ._array import GradArray
from ._bridge import holds_gradarray, implements_scipy
from ._creation import asarray
from ._modes import is_grad_enabled
from ._registry import Primitive, defvjp
from .linalg._ops import fold_hermitian

__all__ = ["TrackedGenerator", "TrackedRandomState", "default_rng", "REPARAMETERISED"]

_Generator = _generator_module.Generator           # NumPy's compiled classes (never replaced)
_RandomState = _mtrand.RandomState
_numpy_default_rng = _generator_module.default_rng

# method: (differentiable parameters, noise method, its standard parameters, formula(params, noise))
_CONTINUOUS = {
    "normal": (("loc", "scale"), "normal", (0.0, 1.0), lambda p, e: p[0] + p[1] * e),
    "laplace": (("loc", "scale"), "laplace", (0.0, 1.0), lambda p, e: p[0] + p[1] * e),
    "gumbel": (("loc", "scale"), "gumbel", (0.0, 1.0), lambda p, e: p[0] + p[1] * e),
    "logistic": (("loc", "scale"), "logistic", (0.0, 1.0), lambda p, e: p[0] + p[1] * e),
    "lognormal": (("mean", "sigma"), "normal", (0.0, 1.0), lambda p, e: np.exp(p[0] + p[1] * e)),
    "uniform": (("low", "high"), "uniform", (0.0, 1.0), lambda p, e: p[0] + (p[1] - p[0]) * e),
    "exponential": (("scale",), "exponential", (1.0,), lambda p, e: p[0] * e),
}
REPARAMETERISED = {**{name: spec[0] for name, spec in _CONTINUOUS.items()},
                   "multivariate_normal": ("mean", "cov"), "choice": ("a",),
                   "permutation": ("x",), "shuffle": ("x",), "permuted": ("x",)}
# methods left as NumPy's (no array parameters, or state handling)
_NOT_WRAPPED = {"bit_generator", "bytes", "spawn", "get_state", "set_state", "seed"}


# ------------------------------------------------------------------------------------ arguments
def _plain(v):
    """``v`` with every GradArray replaced by its host data (what NumPy's methods are given)."""
    t = type(v)
    if t is GradArray:
        return _backend.to_host(v._data)
    if (t is list or t is tuple) and holds_gradarray(v):
        return t(_plain(x) for x in v)
    return v


def _tracked(v):
    t = type(v)
    if t is GradArray:
        return v._requires_grad
    if t is list or t is tuple:
        return any(_tracked(x) for x in v)
    return False


def _device(values):
    """The device of the first GradArray not on the host, or None."""
    for v in values:
        t = type(v)
        if t is GradArray and not _backend.is_host_array(v._data):
            return _backend.device_of(v._data)
        if t is list or t is tuple:
            found = _device(v)
            if found is not None:
                return found
    return None


def _on(raw, device):
    return raw if device is None else _backend.to_device(raw, device)


def _operand(v, device):
    """A parameter for the differentiable formula: GradArrays as they are (lists holding them
    stacked), anything else as a float64 constant on ``device``."""
    if type(v) is GradArray:
        return v
    if holds_gradarray((v,)):
        return asarray(v)
    return _on(np.asarray(v, dtype=np.float64), device)


def _label(self, name):
    return f"numpy.random.{name}" if self is _mtrand._rand else f"{type(self).__name__}.{name}"


def _refuse(self, name, bound, allowed=()):
    """TypeError for a tracked value in a parameter without a reparameterised gradient."""
    if not is_grad_enabled():
        return
    for param, v in bound.arguments.items():
        if param != "self" and param not in allowed and _tracked(v):
            supported = ", ".join(f"{m} ({'/'.join(p)})" for m, p in REPARAMETERISED.items())
            raise TypeError(
                f"{_label(self, name)}: parameter {param!r} is a tracked GradArray, but gradarray "
                f"has no reparameterised gradient for it, so the sample cannot carry one. "
                f"Reparameterised: {supported}. Pass a constant (x.detach()) to sample without a "
                f"gradient.")


def _numpy_call(base, name, bound, **replace):
    """NumPy's own method, called with the bound arguments unwrapped (``replace`` overrides)."""
    arguments = {k: (v if k == "self" else _plain(v)) for k, v in bound.arguments.items()}
    arguments.update(replace)
    plain = inspect.BoundArguments(bound.signature, arguments)
    return getattr(base, name)(*plain.args, **plain.kwargs)


# ------------------------------------------------------------------------------------ the draws
def _state(gen):
    if isinstance(gen, _Generator):
        return gen.bit_generator.state
    return gen.get_state(legacy=False)          # includes the cached Gaussian of the legacy stream


def _restore(gen, state):
    if isinstance(gen, _Generator):
        gen.bit_generator.state = state
    else:
        gen.set_state(state)


def _twice(gen, value, noise):
    """NumPy's sample ``value()``, and ``noise(shape)`` drawn from the same starting state; the
    generator is left where ``value()`` left it."""
    before = _state(gen)
    sample = value()
    after = _state(gen)
    _restore(gen, before)
    try:
        eps = noise(np.shape(sample))
    finally:
        _restore(gen, after)
    return sample, np.asarray(eps)


def _sample_value(formula, value):
    return value


# the sample: NumPy's exact value, with the gradient of the differentiable formula
_exact = Primitive(_sample_value)
defvjp(_exact, lambda g, ans, formula, value: g, None, save="none")


def _finish(formula, value, device):
    if type(formula) is not GradArray:      # a GradArray was given only where nothing is tracked
        return value
    return _exact(formula, _on(np.asarray(value), device))


# ------------------------------------------------------------------------- continuous families
def _continuous(base, name, self, bound):
    params, noise_name, standard, formula = _CONTINUOUS[name]
    _refuse(self, name, bound, allowed=params)
    noise_method = getattr(base, noise_name)
    value, eps = _twice(self, lambda: _numpy_call(base, name, bound),
                        lambda shape: noise_method(self, *standard, shape))
    device = _device(bound.arguments.values())
    operands = [_operand(bound.arguments[p], device) for p in params]
    return _finish(formula(operands, _on(eps, device)), value, device)


# ------------------------------------------------------------------------- multivariate normal
def _raw(x):
    return x._data if type(x) is GradArray else x


def _basis(cov, mode):
    """(V, s, r): cov = V diag(s) V^T as NumPy's method factorises it, r = sqrt(|s|)."""
    if mode == "eigh":
        s, V = np.linalg.eigh(cov)
        return V, s, np.sqrt(np.abs(s))
    u, s, vh = np.linalg.svd(cov)
    return (u if mode == "svd" else np.transpose(vh)), s, np.sqrt(s)


def _factor_value(cov, mode):
    """A with x = mean + z @ A: Generator ``(u * sqrt(s)).T`` (svd) / ``(u * sqrt(|w|)).T`` (eigh),
    RandomState ``sqrt(s)[:, None] * vh`` ("legacy"), i.e. diag(r) V^T in every case."""
    V, s, r = _basis(cov, mode)
    return r[:, None] * np.transpose(V)


def _tangent_weights(s, r):
    """f with dA = (f o (V^T dC V)) V^T for A = diag(r) V^T, r_i^2 = s_i: f_ij = -r_i / (s_j - s_i)
    (the factor's derivative), and 1 / (r_i + r_j) on the diagonal and for (numerically) equal
    eigenvalues, where the factor has no derivative: the symmetric square root's tangent, which
    also satisfies A^T dA + dA^T A = dC (0 where r_i = r_j = 0)."""
    s_raw, r_raw = _raw(s), _raw(r)
    diff_raw = s_raw[None, :] - s_raw[:, None]
    tol = np.sqrt(np.finfo(np.float64).eps) * np.maximum(np.max(np.abs(s_raw)), 1e-300)
    equal = (np.abs(diff_raw) <= tol).astype(np.float64)          # on the data's device
    both_zero = ((r_raw[:, None] + r_raw[None, :]) == 0).astype(np.float64)
    symmetric = equal * (1 - both_zero) / (r[:, None] + r[None, :] + both_zero)
    rotation = (1 - equal) * -r[:, None] / (s[None, :] - s[:, None] + equal)
    return symmetric + rotation


def _factor_vjp(g, ans, cov, mode):
    V, s, r = _basis(cov, mode)
    P = np.matmul(g, V) * _tangent_weights(s, r)
    S = np.matmul(np.matmul(V, P), np.transpose(V))
    S = (S + np.transpose(S)) * 0.5
    return fold_hermitian(S, lower=True) if mode == "eigh" else S


_factor = Primitive(_factor_value)
defvjp(_factor, _factor_vjp, None, save="args")


def _multivariate_normal(base, name, self, bound):
    _refuse(self, name, bound, allowed=("mean", "cov"))
    value, z = _twice(self, lambda: _numpy_call(base, name, bound),
                      lambda shape: base.standard_normal(self, shape))
    device = _device(bound.arguments.values())
    mean = _operand(bound.arguments["mean"], device)
    cov = _operand(bound.arguments["cov"], device)
    if cov.dtype != np.float64:
        cov = cov.astype(np.float64)                  # as NumPy: cov.astype(np.double)
    mode = bound.arguments["method"] if base is _Generator else "legacy"
    if mode == "cholesky":
        A = np.transpose(np.linalg.cholesky(cov))
    else:
        A = _factor(cov, mode)
    z = _on(z.reshape(-1, z.shape[-1]), device)
    return _finish(np.reshape(mean + np.matmul(z, A), np.shape(value)), value, device)


# ------------------------------------------------------------------------------------ gathers
def _array_operand(bound, param):
    v = bound.arguments[param]
    return asarray(v) if type(v) is not GradArray and holds_gradarray((v,)) else v


def _choice(base, name, self, bound):
    """``a[idx]``, ``idx`` = NumPy's ``choice(len(a), ...)`` (the same draws as for an array)."""
    a = _array_operand(bound, "a")
    if type(a) is not GradArray or a.ndim == 0:
        return _untracked(base, name, self, bound)
    _refuse(self, name, bound, allowed=("a",))
    axis = bound.arguments.get("axis", 0)
    if base is _RandomState and a.ndim != 1:
        raise ValueError("a must be 1-dimensional")
    replace = {"a": a.shape[axis], **({"axis": 0} if "axis" in bound.arguments else {})}
    idx = _numpy_call(base, name, bound, **replace)
    return np.take(a, _on(np.asarray(idx), _device((a,))), axis=axis)


def _permutation_of(base, self, bound, x):
    axis = bound.arguments.get("axis", 0)
    n = x.shape[axis]
    return axis, _on(base.permutation(self, n), _device((x,)))


def _permutation(base, name, self, bound):
    x = _array_operand(bound, "x")
    if type(x) is not GradArray or x.ndim == 0:
        return _untracked(base, name, self, bound)
    _refuse(self, name, bound, allowed=("x",))
    axis, idx = _permutation_of(base, self, bound, x)
    return np.take(x, idx, axis=axis)


def _shuffle(base, name, self, bound):
    """In place: ``x[...] = take(x, perm)`` (a recorded write; NumPy's swaps would use views)."""
    x = bound.arguments["x"]
    if type(x) is list:                           # a list holding GradArrays: reorder it in place
        _refuse(self, name, bound, allowed=("x",))
        x[:] = [x[i] for i in base.permutation(self, len(x))]
        return None
    if type(x) is not GradArray or x.ndim == 0:
        return _untracked(base, name, self, bound)
    _refuse(self, name, bound, allowed=("x",))
    axis, idx = _permutation_of(base, self, bound, x)
    x[...] = np.take(x, idx, axis=axis)
    return None


def _permuted(base, name, self, bound):
    """Gather with flat indices that NumPy's ``permuted`` shuffled in an array laid out like x."""
    x = _array_operand(bound, "x")
    out = bound.arguments["out"]
    if type(x) is not GradArray:
        return _untracked(base, name, self, bound)
    _refuse(self, name, bound, allowed=("x",))
    host = _backend.to_host(x._data)
    index = np.empty_like(host, dtype=np.intp)       # same memory layout: NumPy's order of draws
    index[...] = np.arange(host.size).reshape(host.shape)
    index = _numpy_call(base, name, bound, x=index, out=None)
    result = np.take(np.ravel(x), _on(index, _device((x,))))
    if out is None:
        return result
    if type(out) is not GradArray:
        raise TypeError(f"{_label(self, name)}: out= must be a GradArray when x is one")
    out[...] = result
    return out


# ------------------------------------------------------------------------ everything else
def _untracked(base, name, self, bound):
    """No reparameterised gradient: refuse tracked values, else NumPy's method on plain data (an
    ``out=`` GradArray is filled by a recorded write and returned)."""
    _refuse(self, name, bound)
    out = bound.arguments.get("out")
    if type(out) is not GradArray:
        return _numpy_call(base, name, bound)
    buffer = np.empty(out.shape, dtype=out.dtype)
    _numpy_call(base, name, bound, out=buffer)
    out[...] = buffer
    return out


_IMPLEMENTATIONS = {**{name: _continuous for name in _CONTINUOUS},
                    "multivariate_normal": _multivariate_normal, "choice": _choice,
                    "permutation": _permutation, "shuffle": _shuffle, "permuted": _permuted}


# ------------------------------------------------------------------------------------ the classes
class _TrackedType(type):
    """``isinstance(rng, np.random.Generator)`` (the tracked class once installed) stays true for
    NumPy's own instances, and ``issubclass`` alike."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, cls.__gradarray_base__)

    def __subclasscheck__(cls, sub):
        return issubclass(sub, cls.__gradarray_base__)


def _method(base, name):
    original = getattr(base, name)
    implementation = _IMPLEMENTATIONS.get(name, _untracked)
    signature = inspect.signature(original)

    @functools.wraps(original)
    def method(self, *args, **kwargs):
        if not (holds_gradarray(args) or (kwargs and holds_gradarray(kwargs.values()))):
            return original(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        return implementation(base, name, self, bound)
    method.__qualname__ = f"{base.__name__}.{name}"
    return method


def _tracked_class(base):
    names = [n for n in dir(base) if not n.startswith("_") and n not in _NOT_WRAPPED
             and callable(getattr(base, n))]
    namespace = {n: _method(base, n) for n in names}
    namespace.update(__slots__=(), __module__="numpy.random", __qualname__=base.__name__,
                     __doc__=base.__doc__, __gradarray_base__=base)
    return _TrackedType(base.__name__, (base,), namespace)


TrackedGenerator = _tracked_class(_Generator)
TrackedRandomState = _tracked_class(_RandomState)


@functools.wraps(_numpy_default_rng)
def default_rng(seed=None):
    rng = _numpy_default_rng(seed)
    if rng is seed or type(rng) is not _Generator:
        return rng                                # a Generator passed in comes back unaltered
    return TrackedGenerator(rng.bit_generator)


default_rng.__module__ = "numpy.random"


def _legacy_function(name):
    method = TrackedRandomState.__dict__[name]

    def legacy(*args, **kwargs):
        return method(_mtrand._rand, *args, **kwargs)
    legacy.__name__ = name
    return legacy


def _install():
    np_random = sys.modules["numpy.random"]
    np_random.Generator = _pickle_module.Generator = TrackedGenerator
    np_random.RandomState = _pickle_module.RandomState = TrackedRandomState
    np_random.default_rng = default_rng
    for name in _mtrand.__all__:
        function = getattr(_mtrand, name, None)
        if getattr(function, "__self__", None) is _mtrand._rand and \
                name in TrackedRandomState.__dict__:
            implements_scipy("numpy.random", name)(_legacy_function(name))
            wrapper = getattr(np_random, name)
            wrapper.__qualname__ = name           # pickled by reference: numpy.random.<name>
            setattr(_mtrand, name, wrapper)


_install()
