"""Differentiable ``scipy.stats.multivariate_normal``: ``logpdf``, ``pdf`` and ``entropy`` in ``x``,
``mean`` and ``cov``, called as ``multivariate_normal.logpdf(x, mean, cov)`` or on a frozen
``multivariate_normal(mean, cov)``.

With the Cholesky factor ``cov = L L^T`` and ``z = L^-1 (x - mean)``:
``logpdf = -(d log(2 pi) + 2 sum(log diag L) + |z|^2) / 2`` and ``entropy = (d (log(2 pi) + 1) +
2 sum(log diag L)) / 2``. ``np.linalg.cholesky`` reads the lower triangle of ``cov`` (as SciPy's
``eigh`` does), so the gradient with respect to ``cov`` lands on that triangle; for a ``cov`` built
symmetric the chain rule gives the same result as a symmetrised gradient. ``cov`` may be a scalar,
a vector (the diagonal) or a matrix, as in SciPy. A covariance that is not positive definite is
refused (``allow_singular`` covariances are not supported with GradArray arguments), and a
``Covariance`` object cannot carry a tracked matrix.

Frozen distributions: ``multivariate_normal(mean, cov)`` with a tracked mean or cov builds SciPy's
frozen object from the raw values (its ``mean``/``cov`` attributes are plain) and gives it
differentiable ``logpdf``/``pdf``/``entropy`` that use the tracked parameters; ``rvs`` draws from the
raw values with a ``GradientLostWarning``; ``cdf``/``logcdf`` refuse tracked arguments.

Must not know about: the univariate distributions (``stats.py``).
"""
from __future__ import annotations

import functools
import math
import warnings

import numpy as np

from .. import _backend
from .._array import GradArray, wrap_untracked
from .._creation import asarray
from .._modes import GradientLostWarning
from ..linalg import solve_triangular
from ._bridge import holds_gradarray, implements_scipy_method, original_method

_MODULE = "scipy.stats._multivariate"
_LOG_2PI = math.log(2 * math.pi)


def _operand(value, device):
    """float64 GradArray for a value holding one, else a float64 array on ``device``."""
    if type(value) is GradArray or holds_gradarray([value]):
        return asarray(value, dtype=np.float64)
    if device is None or device == _backend.CPU:
        return np.asarray(value, dtype=np.float64)
    return asarray(value, dtype=np.float64, device=device)


def _device(values):
    """The device of the first GradArray among ``values`` (None: the host)."""
    for value in values:
        if type(value) is GradArray:
            return value.device
        if type(value) in (list, tuple) and holds_gradarray(value):
            return asarray(value).device
    return None


def _tracked(values):
    return any(type(v) is GradArray and v.requires_grad or
               (type(v) in (list, tuple) and holds_gradarray(v) and asarray(v).requires_grad)
               for v in values)


def _parameters(mean, cov, device):
    """``dim, mean (dim,), cov (dim, dim)`` as in SciPy's ``_process_parameters_psd``."""
    cov = _operand(1.0 if cov is None else cov, device)
    if mean is None:
        dim = 1 if cov.ndim < 2 else cov.shape[0]
        mean = _operand(np.zeros(dim), device)
    else:
        mean = _operand(mean, device)
        dim = mean.size
    if dim == 1:
        mean, cov = np.reshape(mean, (1,)), np.reshape(cov, (1, 1))
    if mean.ndim != 1 or mean.shape[0] != dim:
        raise ValueError(f"Array 'mean' must be a vector of length {dim}.")
    if cov.ndim < 2:
        if cov.ndim == 1 and cov.shape[0] != dim:
            raise ValueError(f"Dimension mismatch: array 'cov' is of shape {cov.shape}, but "
                             f"'mean' is a vector of length {dim}.")
        cov = cov * _operand(np.eye(dim), device)      # a scalar times I, or diag(cov) for a vector
    elif cov.ndim > 2:
        raise ValueError(f"Array 'cov' must be at most two-dimensional, but cov.ndim = {cov.ndim}")
    elif cov.shape != (dim, dim):
        rows, cols = cov.shape
        if rows != cols:
            raise ValueError(f"Array 'cov' must be square if it is two dimensional, but "
                             f"cov.shape = {cov.shape}.")
        raise ValueError(f"Dimension mismatch: array 'cov' is of shape {cov.shape}, but 'mean' "
                         f"is a vector of length {dim}.")
    return dim, mean, cov


def _cholesky(cov, allow_singular):
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError as error:
        extra = " (allow_singular is not supported with GradArray arguments)" if allow_singular else ""
        raise np.linalg.LinAlgError(
            f"scipy.stats.multivariate_normal: the covariance matrix is not positive definite; "
            f"with GradArray arguments it is factorised by Cholesky{extra}.") from error


def _log_det(L):
    return 2.0 * np.sum(np.log(np.diagonal(L)))


def _logpdf(x, mean, cov, allow_singular=False):
    device = _device((x, mean, cov))
    dim, mean, cov = _parameters(mean, cov, device)
    x = _operand(x, device)
    if x.ndim == 0:
        x = np.reshape(x, (1,))
    elif x.ndim == 1:
        x = np.reshape(x, (-1, 1) if dim == 1 else (1, -1))
    if x.shape[-1] != dim:
        raise ValueError(f"multivariate_normal: x has {x.shape[-1]} components, the distribution {dim}")
    L = _cholesky(cov, allow_singular)
    deviations = np.reshape(x - mean, (-1, dim))
    z = solve_triangular(L, np.transpose(deviations), upper=False)       # (dim, points)
    mahalanobis = np.reshape(np.sum(z * z, axis=0), x.shape[:-1])
    out = -0.5 * (dim * _LOG_2PI + _log_det(L) + mahalanobis)
    return np.squeeze(out)


def _entropy(mean, cov):
    dim, _, cov = _parameters(mean, cov, _device((mean, cov)))
    out = 0.5 * (dim * (_LOG_2PI + 1.0) + _log_det(_cholesky(cov, False)))
    return out if type(out) is GradArray else asarray(out)     # when mean alone holds a GradArray


def _host(value):
    """A value holding GradArrays as a host array (for SciPy's own functions)."""
    return _backend.to_host(asarray(value)._data) if holds_gradarray([value]) else value



def _no_formula_error(method):
    return TypeError(f"scipy.stats.multivariate_normal.{method}: gradarray has no differentiable "
                     f"formula for it, so a tracked argument cannot be differentiated. Pass "
                     f"constants (.detach()).")


def _without_formula(method):
    """Refuse tracked arguments; run SciPy's own method on untracked GradArrays."""
    def implementation(self, *args, **kwargs):
        if _tracked(list(args) + list(kwargs.values())):
            raise _no_formula_error(method)
        result = original_method(type(self), method)(self, *map(_host, args),
                                               **{k: _host(v) for k, v in kwargs.items()})
        return wrap_untracked(result)
    return implementation


# ----------------------------------------------------------------------- multivariate_normal_gen
@implements_scipy_method(_MODULE, "multivariate_normal_gen", "logpdf")
def logpdf(self, x, mean=None, cov=1, allow_singular=False):
    return _logpdf(x, mean, cov, allow_singular)


@implements_scipy_method(_MODULE, "multivariate_normal_gen", "pdf")
def pdf(self, x, mean=None, cov=1, allow_singular=False):
    return np.exp(_logpdf(x, mean, cov, allow_singular))


@implements_scipy_method(_MODULE, "multivariate_normal_gen", "entropy")
def entropy(self, mean=None, cov=1):
    return _entropy(mean, cov)


for _cls in ("multivariate_normal_gen", "multivariate_normal_frozen"):
    for _method in ("cdf", "logcdf"):
        implements_scipy_method(_MODULE, _cls, _method)(_without_formula(_method))


@implements_scipy_method(_MODULE, "multivariate_normal_gen", "__call__")
def freeze(self, mean=None, cov=1, allow_singular=False, seed=None, **kwds):
    """SciPy's frozen object built from the raw parameters, given differentiable methods that use
    the tracked ones (instance attributes shadow the class's methods)."""
    frozen = original_method(type(self), "__call__")(self, _host(mean), _host(cov),
                                               allow_singular=allow_singular, seed=seed, **kwds)
    frozen.logpdf = functools.partial(_logpdf, mean=mean, cov=cov, allow_singular=allow_singular)
    frozen.pdf = functools.partial(_frozen_pdf, mean=mean, cov=cov, allow_singular=allow_singular)
    frozen.entropy = functools.partial(_entropy, mean, cov)
    if _tracked([mean, cov]):
        frozen.rvs = functools.partial(_frozen_rvs, type(frozen).rvs.__get__(frozen))
        frozen.cdf = functools.partial(_refuse_frozen, "cdf")
        frozen.logcdf = functools.partial(_refuse_frozen, "logcdf")
    return frozen


def _refuse_frozen(method, *args, **kwargs):
    raise _no_formula_error(method)


def _frozen_pdf(x, mean, cov, allow_singular):
    return np.exp(_logpdf(x, mean, cov, allow_singular))


def _frozen_rvs(draw, *args, **kwargs):
    warnings.warn("multivariate_normal(...).rvs: samples are drawn from the raw mean and cov; no "
                  "gradient flows to them", GradientLostWarning, stacklevel=2)
    return draw(*args, **kwargs)


# -------------------------------------------------------------------- multivariate_normal_frozen
@implements_scipy_method(_MODULE, "multivariate_normal_frozen", "logpdf")
def frozen_logpdf(self, x):
    return _logpdf(x, self.mean, self.cov, self.allow_singular)


@implements_scipy_method(_MODULE, "multivariate_normal_frozen", "pdf")
def frozen_pdf(self, x):
    return np.exp(_logpdf(x, self.mean, self.cov, self.allow_singular))
