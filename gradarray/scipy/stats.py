"""Differentiable ``scipy.stats``: the methods of the distributions that legacy code calls, and
``scipy.stats.entropy``.

SciPy's distribution methods (``rv_continuous.logpdf`` ...) are generic: they parse the shape
parameters, ``loc`` and ``scale``, convert everything with ``np.asarray``, mask the support and the
invalid parameters, and call the distribution's private ``_logpdf``. Here the same generic methods
are wrapped on the base classes (``rv_continuous``, ``rv_discrete``, ``rv_generic``; see
``_bridge.py``), so every calling style reaches them: ``norm.logpdf(x, mu, sigma)``, keywords,
frozen ``norm(mu, sigma).logpdf(x)`` (``rv_frozen`` calls the same methods with its stored
arguments) and names bound early. With a GradArray among the arguments, the implementation

1. parses the arguments with the distribution's own ``_parse_args`` (same errors as SciPy),
2. computes SciPy's masks on the raw values: invalid parameters (``_argcheck``, ``scale > 0``) give
   NaN, points outside the support give SciPy's constants (``logpdf = -inf``, ``cdf`` 0 or 1 ...),
3. substitutes safe values at the masked entries *before* the formula (``np.where`` both before and
   after, so a masked entry never sends ``0 * inf = NaN`` back into a gradient),
4. evaluates the distribution's formula in standard form (``stats_distributions.py``).

Distributions with formulas: norm, t, gamma, beta, expon, lognorm, laplace, cauchy, logistic
(pdf, logpdf, cdf, logcdf, sf, logsf, ppf, isf, mean, var, std, entropy); poisson, binom, nbinom
(pmf, logpmf, cdf, logcdf, sf, logsf, mean, var, std). The quantiles ``ppf``/``isf`` of a discrete
distribution are step functions of its parameters (gradient zero almost everywhere): they come back
untracked. Integer-valued arguments (``k`` and ``loc`` of a discrete distribution, binom's ``n``)
raise a TypeError when tracked. Any other distribution or method raises a TypeError when an argument
is tracked (SciPy's own function would drop the tape); with only untracked GradArrays it runs
SciPy's function. Plain arguments follow a device GradArray onto its device. At a closed end of the
support where the log-density is infinite (``x == loc`` for gamma or beta), the gradient is the
formula's (inf/NaN, as for ``log`` at 0). ``multivariate_normal`` is in ``stats_multivariate.py``.

Must not know about: the formulas of particular distributions (``stats_distributions.py``).
"""
from __future__ import annotations

import math
import sys

import numpy as np
import scipy.special as sc

from .. import _backend
from .._array import GradArray, wrap_untracked
from .._creation import asarray
from ._bridge import holds_gradarray, implements_scipy, implements_scipy_method, original_method
from .stats_distributions import CONTINUOUS, DISCRETE
from . import stats_multivariate  # noqa: F401  (registers multivariate_normal)

__all__ = ["entropy"]

_INFRASTRUCTURE = "scipy.stats._distn_infrastructure"
_FAMILY_MODULES = ("scipy.stats._continuous_distns", "scipy.stats._discrete_distns")


# ------------------------------------------------------------------------------------ arguments
def _tracked(value) -> bool:
    """Does ``value`` (or a list/tuple/dict in it) hold a GradArray that requires a gradient?"""
    t = type(value)
    if t is GradArray:
        return value.requires_grad
    if t is list or t is tuple:
        return any(_tracked(v) for v in value)
    if t is dict:
        return any(_tracked(v) for v in value.values())
    return False


def _detached(value):
    """``value`` with its GradArrays replaced by their raw data (for SciPy's own function)."""
    if type(value) is GradArray:
        return value._data
    if (type(value) is list or type(value) is tuple) and holds_gradarray(value):
        return asarray(value)._data
    return value


def _raw(value):
    return value._data if type(value) is GradArray else value


def _device(values):
    """The device of the first GradArray among ``values`` (lists searched): plain values go there."""
    for value in values:
        if type(value) is GradArray:
            return value.device
        if type(value) in (list, tuple, dict):
            found = _device(value.values() if type(value) is dict else value)
            if found is not None:
                return found
    return None


def _operand(value, device=None):
    """A float64 GradArray for a value holding one (lists of GradArrays are stacked); a plain value
    as a float64 array (SciPy computes in double precision), moved to ``device`` when that is not
    the host (a device array does not mix with NumPy arrays)."""
    if type(value) is GradArray or holds_gradarray([value]):
        return asarray(value, dtype=np.float64)
    if device is None or device == _backend.CPU:
        return np.asarray(value, dtype=np.float64)
    return asarray(value, dtype=np.float64, device=device)


def _first_argument(args, kwds, name):
    """Split ``x`` (``q``, ``k``) from the other arguments, passed by position or by keyword."""
    if args:
        return args[0], args[1:], kwds
    if name in kwds:
        kwds = dict(kwds)
        return kwds.pop(name), args, kwds
    raise TypeError(f"missing required argument {name!r}")



def _family(dist, table):
    """The formulas of ``dist`` (keyed by SciPy's generator class, e.g. ``norm_gen``), or None for a
    distribution gradarray has no formulas for (a user's own subclass included)."""
    cls = type(dist)
    return table.get(cls.__name__) if cls.__module__ in _FAMILY_MODULES else None


def _without_formula(dist, method, args, kwds):
    """No formula: refuse a tracked argument, else run SciPy's own method on the raw values."""
    if _tracked(args) or _tracked(kwds):
        raise TypeError(
            f"scipy.stats.{dist.name}.{method}: gradarray has no differentiable formula for this "
            f"distribution and method, so a tracked argument cannot be differentiated (SciPy's own "
            f"method would drop the gradient). Pass constants (.detach()) or write the density with "
            f"np.* and scipy.special calls.")
    result = original_method(type(dist), method)(dist, *map(_detached, args),
                                           **{k: _detached(v) for k, v in kwds.items()})
    return wrap_untracked(result)


# --------------------------------------------------------------------------------- masks, assembly
def _argcheck(dist, raw_shapes, device):
    """SciPy's ``_argcheck`` (several call ``np.asarray``: computed on the host, moved back)."""
    if device is None or device == _backend.CPU:
        return dist._argcheck(*raw_shapes)
    check = dist._argcheck(*[_backend.to_host(s) for s in raw_shapes])
    return _backend.to_device(np.asarray(check), device)


def _parameters(dist, device, loc, scale, shapes):
    """Float operands and SciPy's validity mask (``_argcheck`` of the shapes and ``scale > 0``)."""
    loc, scale = _operand(loc, device), _operand(scale, device)
    shapes = tuple(_operand(s, device) for s in shapes)
    raw_shapes = tuple(_raw(s) for s in shapes)
    valid = np.logical_and(_argcheck(dist, raw_shapes, device), _raw(scale) > 0)
    return loc, scale, shapes, raw_shapes, valid


def _safe_parameters(family, valid, scale, shapes):
    """Scale and shapes with benign values where the parameters are invalid (those entries are NaN
    in the result; the substitution keeps NaN/inf out of the gradients of the valid ones)."""
    if valid.all():
        return scale, shapes
    scale = np.where(valid, scale, 1.0)
    shapes = tuple(np.where(valid, s, safe) for s, safe in zip(shapes, family.safe_shapes))
    return scale, shapes


def _standardized(family, ok, valid, x, loc, scale, shapes):
    """y = (x - loc) / scale, with the family's safe point where ``ok`` is False."""
    scale, shapes = _safe_parameters(family, valid, scale, shapes)
    if ok.all():
        return (x - loc) / scale, scale, shapes
    y = (np.where(ok, x, 0.0) - loc) / scale
    return np.where(ok, y, family.safe_point), scale, shapes


def _finish(ok, value, fill):
    """``value`` where ``ok``, SciPy's constants ``fill`` elsewhere, in the broadcast shape."""
    if not ok.all():
        value = np.where(ok, value, fill)
    else:
        shape = np.broadcast_shapes(np.shape(value), ok.shape)
        value = value if np.shape(value) == shape else np.broadcast_to(value, shape)
    return value if type(value) is GradArray else asarray(value)


# --------------------------------------------------------------------------- continuous methods
def _density(dist, family, method, x, loc, scale, shapes):
    device = _device((x, loc, scale, shapes))
    x = _operand(x, device)
    loc, scale, shapes, raw_shapes, valid = _parameters(dist, device, loc, scale, shapes)
    y_raw = (_raw(x) - _raw(loc)) / _raw(scale)
    # x = +-inf lies in SciPy's closed support, with density 0: kept out of the formula (its
    # -inf would send 0 * inf = NaN into the gradients of the parameters)
    ok = valid & dist._support_mask(y_raw, *raw_shapes) & np.isfinite(y_raw)
    y, scale, shapes = _standardized(family, ok, valid, x, loc, scale, shapes)
    log_density = family.methods["logpdf"](y, *shapes) - np.log(scale)
    value = log_density if method == "logpdf" else np.exp(log_density)
    fill = np.where(~valid | np.isnan(y_raw), np.nan, -np.inf if method == "logpdf" else 0.0)
    return _finish(ok, value, fill)


def _outside_values(method, cdf_outside):
    """SciPy's cdf/sf/logcdf/logsf outside the open support, from the cdf there (0 below, 1 above)."""
    if method == "cdf":
        return cdf_outside
    if method == "sf":
        return 1.0 - cdf_outside
    return np.log(cdf_outside if method == "logcdf" else 1.0 - cdf_outside)


def _distribution_function(dist, family, method, x, loc, scale, shapes):
    device = _device((x, loc, scale, shapes))
    x = _operand(x, device)
    loc, scale, shapes, raw_shapes, valid = _parameters(dist, device, loc, scale, shapes)
    y_raw = (_raw(x) - _raw(loc)) / _raw(scale)
    ok = valid & dist._open_support_mask(y_raw, *raw_shapes)
    upper = dist._get_support(*raw_shapes)[1]
    y, scale, shapes = _standardized(family, ok, valid, x, loc, scale, shapes)
    value = family.methods[method](y, *shapes)
    outside = _outside_values(method, np.where(y_raw >= upper, 1.0, 0.0))
    return _finish(ok, value, np.where(~valid | np.isnan(y_raw), np.nan, outside))


def _quantile(dist, family, method, q, loc, scale, shapes):
    device = _device((q, loc, scale, shapes))
    q = _operand(q, device)
    loc, scale, shapes, raw_shapes, valid = _parameters(dist, device, loc, scale, shapes)
    q_raw = _raw(q)
    valid = valid & ~np.isnan(_raw(loc))
    ok = valid & (0 < q_raw) & (q_raw < 1)
    scale, shapes = _safe_parameters(family, valid, scale, shapes)
    value = family.methods[method](q if ok.all() else np.where(ok, q, 0.5), *shapes) * scale + loc
    # q = 0 and q = 1 map to the ends of the support (swapped for isf), moved by loc and scale;
    # an infinite end is a constant (an inf * scale node would send NaN into scale's gradient)
    at_zero, at_one = valid & (q_raw == 0), valid & (q_raw == 1)
    fill = np.where(ok, np.nan, np.nan)
    if (at_zero | at_one).any():
        lower, upper = dist._get_support(*raw_shapes)
        end = np.where(at_zero, lower, upper) if method == "ppf" else np.where(at_zero, upper, lower)
        finite = np.isfinite(end)
        mapped = np.where(finite, end, 0.0) * scale + loc
        fill = np.where(at_zero | at_one, np.where(finite, mapped, end), np.nan)
    return _finish(ok, value, fill)


def _continuous_method(method):
    variable = "q" if method in ("ppf", "isf") else "x"
    kind = {"pdf": _density, "logpdf": _density, "ppf": _quantile, "isf": _quantile}.get(
        method, _distribution_function)

    def implementation(self, *args, **kwds):
        family = _family(self, CONTINUOUS)
        if family is None or ("logpdf" if method == "pdf" else method) not in family.methods:
            return _without_formula(self, method, args, kwds)
        x, args, kwds = _first_argument(args, kwds, variable)
        shapes, loc, scale = self._parse_args(*args, **kwds)
        with np.errstate(all="ignore"):
            return kind(self, family, method, x, loc, scale, shapes)

    implementation.__name__ = method
    return implementation


# ----------------------------------------------------------------------------- discrete methods
def _discrete_method(method):
    def implementation(self, *args, **kwds):
        if method in ("ppf", "isf"):
            # integer-valued step functions of q and the parameters: no gradient to propagate
            result = original_method(type(self), method)(self, *map(_detached, args),
                                                   **{k: _detached(v) for k, v in kwds.items()})
            return wrap_untracked(result)
        family = _family(self, DISCRETE)
        if family is None or ("logpmf" if method == "pmf" else method) not in family.methods:
            return _without_formula(self, method, args, kwds)
        k, args, kwds = _first_argument(args, kwds, "k")
        shapes, loc, _ = self._parse_args(*args, **kwds)
        with np.errstate(all="ignore"):
            return _discrete(self, family, method, k, loc, shapes)

    implementation.__name__ = method
    return implementation


def _refuse_integer_arguments(dist, method, family, k, loc, shapes):
    """k, loc and integer shapes (binom's n) only take integer values: no gradient to give them."""
    shape_names = [name.strip() for name in (dist.shapes or "").split(",")]
    names = ["k", "loc"] + [shape_names[i] for i in family.integer_shapes]
    values = [k, loc] + [shapes[i] for i in family.integer_shapes]
    for name, value in zip(names, values):
        if _tracked(value):
            raise TypeError(f"scipy.stats.{dist.name}.{method}: {name} is tracked, but it takes "
                            f"integer values, so it has no gradient. Pass it as a constant "
                            f"(.detach() or a plain array).")


def _discrete(dist, family, method, k, loc, shapes):
    _refuse_integer_arguments(dist, method, family, k, loc, shapes)
    device = _device((k, loc, shapes))
    k = _operand(k, device)
    loc, _, shapes, raw_shapes, valid = _parameters(dist, device, loc, 1.0, shapes)
    k_raw = _raw(k) - _raw(loc)
    lower, upper = dist._get_support(*raw_shapes)
    if method in ("pmf", "logpmf"):
        ok = valid & (k_raw >= lower) & (k_raw <= upper) & (np.floor(k_raw) == k_raw)
        outside = -np.inf if method == "logpmf" else 0.0
    else:
        ok = valid & (k_raw >= lower) & (k_raw < upper) & np.isfinite(k_raw)
        outside = _outside_values(method, np.where(k_raw >= upper, 1.0, 0.0))
    _, shapes = _safe_parameters(family, valid, 1.0, shapes)
    k = k_raw if ok.all() else np.where(ok, k_raw, family.safe_point)
    if method in ("pmf", "logpmf"):
        value = family.methods["logpmf"](k, *shapes)
        value = np.exp(value) if method == "pmf" else value
    else:
        value = family.methods[method](k, *shapes)
    fill = np.where(~valid | np.isnan(k_raw), np.nan, outside)
    if method == "logcdf":
        fill = np.where(k_raw >= upper, 0.0, fill)   # as SciPy: 0 above the support, even for NaN params
    return _finish(ok, value, fill)


# ---------------------------------------------------------------------------------------- moments
def _moment_method(method):
    def implementation(self, *args, **kwds):
        discrete = isinstance(self, sys.modules[_INFRASTRUCTURE].rv_discrete)
        family = _family(self, DISCRETE if discrete else CONTINUOUS)
        formula = None if family is None else family.moments["var" if method == "std" else method]
        if formula is None:
            return _without_formula(self, method, args, kwds)
        shapes, loc, scale = self._parse_args(*args, **kwds)
        if discrete:
            _refuse_integer_arguments(self, method, family, None, None, shapes)
        with np.errstate(all="ignore"):
            device = _device((loc, scale, shapes))
            loc, scale, shapes, _, valid = _parameters(self, device, loc, scale, shapes)
            scale, shapes = _safe_parameters(family, valid, scale, shapes)
            standard = formula(*shapes)
            if method == "mean":
                value = standard * scale + loc
            elif method == "entropy":
                value = standard + np.log(scale)
            else:
                value = standard * scale * scale
                value = np.sqrt(value) if method == "std" else value
            return _finish(valid, value, np.nan)

    implementation.__name__ = method
    return implementation


for _method in ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf"):
    implements_scipy_method(_INFRASTRUCTURE, "rv_continuous", _method)(_continuous_method(_method))
for _method in ("pmf", "logpmf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf"):
    implements_scipy_method(_INFRASTRUCTURE, "rv_discrete", _method)(_discrete_method(_method))
for _method in ("mean", "var", "std", "entropy"):
    implements_scipy_method(_INFRASTRUCTURE, "rv_generic", _method)(_moment_method(_method))


# ---------------------------------------------------------------------------------------- entropy
@implements_scipy("scipy.stats", "entropy")
def entropy(pk, qk=None, base=None, axis=0, *, nan_policy="propagate", keepdims=False):
    """Shannon entropy ``-sum(pk log pk)`` or relative entropy ``sum(pk log(pk / qk))`` along
    ``axis``, after normalising pk and qk to sum to 1 (the normalisation is differentiated too)."""
    if base is not None and base <= 0:
        raise ValueError("`base` must be a positive number or `None`.")
    if nan_policy not in ("propagate", "raise"):
        raise NotImplementedError(f"scipy.stats.entropy: nan_policy={nan_policy!r} is not "
                                  f"supported with GradArray arguments (use 'propagate').")
    device = _device((pk, qk))
    pk = _operand(pk, device)
    if qk is not None:
        qk = _operand(qk, device)
        shape = np.broadcast_shapes(pk.shape, qk.shape)
        pk, qk = np.broadcast_to(pk, shape), np.broadcast_to(qk, shape)
    if nan_policy == "raise" and any(np.isnan(_raw(v)).any() for v in (pk, qk) if v is not None):
        raise ValueError("The input contains nan values")
    if axis is None:
        pk, qk = np.reshape(pk, (-1,)), None if qk is None else np.reshape(qk, (-1,))
        axis = 0
    with np.errstate(invalid="ignore", divide="ignore"):
        pk = pk / np.sum(pk, axis=axis, keepdims=True)
        if qk is None:
            terms = sc.entr(pk)
        else:
            terms = sc.rel_entr(pk, qk / np.sum(qk, axis=axis, keepdims=True))
        result = np.sum(terms, axis=axis, keepdims=keepdims)
    if base is not None:
        result = result / math.log(base)
    return result
