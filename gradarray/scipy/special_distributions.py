"""Derivative rules for the ``scipy.special`` ufuncs of probability: incomplete gamma and beta
functions, their inverses, and the ``*dtr`` distribution functions built on them.

These ufuncs reach gradarray through ``__array_ufunc__`` like the others (see ``gradarray/special.py``,
whose ``sc`` resolves names to the ufuncs of ``scipy.special._ufuncs``, so the rules hold with and
without ``SCIPY_ARRAY_API=1``). Each is differentiated in its continuous variable (x, p, t, the rate
or scale): the derivative of a cumulative distribution function is its density, and that of an
inverse ``f^-1(p)`` is ``1 / f'(f^-1(p))``. Shape parameters (``a`` of ``gammainc``, ``a, b`` of
``betainc``, degrees of freedom, counts) would need derivatives of the incomplete functions in their
parameters, which have no closed form: a tracked one raises (``no_gradient``). Densities are formed in
log space (``xlogy``/``xlog1py`` keep ``0 log 0 = 0`` at the edges).

Must not know about: the bridge — this module only registers rules.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.special._ufuncs as _ufuncs

from .._registry import defvjp, no_gradient
from ..special import plain_lists_as_arrays, sc

__all__ = []

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _rule(func, *vjps, save="args"):
    defvjp(func, *map(plain_lists_as_arrays, vjps), save=save, name=f"scipy.special.{func.__name__}")


def _parameter(function, name):
    return no_gradient(f"scipy.special.{function}", name,
                       "the derivative in this shape parameter has no closed form in SciPy functions")


# ------------------------------------------------------------------------------- densities
def _gamma_density(a, x):
    """x^(a-1) exp(-x) / Gamma(a): d/dx of the regularized lower incomplete gamma P(a, x)."""
    return np.exp(sc.xlogy(a - 1, x) - x - sc.gammaln(a))


def _beta_density(a, b, x):
    """x^(a-1) (1-x)^(b-1) / B(a, b): d/dx of the regularized incomplete beta I_x(a, b)."""
    return np.exp(sc.xlogy(a - 1, x) + sc.xlog1py(b - 1, -x) - sc.betaln(a, b))


def _t_density(df, t):
    return np.exp(sc.gammaln((df + 1) / 2) - sc.gammaln(df / 2) - 0.5 * np.log(df * np.pi)
                  - (df + 1) / 2 * np.log1p(t * t / df))


def _f_density(dfn, dfd, x):
    return np.exp(0.5 * dfn * np.log(dfn / dfd) + sc.xlogy(dfn / 2 - 1, x)
                  - (dfn + dfd) / 2 * np.log1p(dfn * x / dfd) - sc.betaln(dfn / 2, dfd / 2))


def _binomial_cdf_slope(k, n, p):
    """d/dp of bdtr(k, n, p) = I_{1-p}(n - k, k + 1), k floored as SciPy does."""
    k = np.floor(k)
    return -_beta_density(n - k, k + 1, 1 - p)


# ------------------------------------------------------------------- incomplete gamma function
_rule(sc.gammainc, _parameter("gammainc", "a"), lambda g, ans, a, x: g * _gamma_density(a, x))
_rule(sc.gammaincc, _parameter("gammaincc", "a"), lambda g, ans, a, x: -g * _gamma_density(a, x))
_rule(sc.gammaincinv, _parameter("gammaincinv", "a"),
      lambda g, ans, a, y: g / _gamma_density(a, ans), save="both")
_rule(sc.gammainccinv, _parameter("gammainccinv", "a"),
      lambda g, ans, a, y: -g / _gamma_density(a, ans), save="both")

# gdtr(a, b, x) = P(b, a x) (rate a, shape b); gdtrix: its inverse in x, gdtria: in a
_rule(sc.gdtr, lambda g, ans, a, b, x: g * x * _gamma_density(b, a * x), _parameter("gdtr", "b"),
      lambda g, ans, a, b, x: g * a * _gamma_density(b, a * x))
_rule(sc.gdtrc, lambda g, ans, a, b, x: -g * x * _gamma_density(b, a * x), _parameter("gdtrc", "b"),
      lambda g, ans, a, b, x: -g * a * _gamma_density(b, a * x))
# x = P^-1(b, p) / a: dx/dp = 1 / (a density(b, a x)), dx/da = -x / a
_rule(sc.gdtrix, lambda g, ans, a, b, p: -g * ans / a, _parameter("gdtrix", "b"),
      lambda g, ans, a, b, p: g / (a * _gamma_density(b, a * ans)), save="both")
# a = P^-1(b, p) / x: da/dp = 1 / (x density(b, a x)), da/dx = -a / x
_rule(sc.gdtria, lambda g, ans, p, b, x: g / (x * _gamma_density(b, ans * x)),
      _parameter("gdtria", "b"), lambda g, ans, p, b, x: -g * ans / x, save="both")

# chi-square: chdtr(v, x) = P(v/2, x/2); chdtri inverts chdtrc = Q(v/2, x/2) in x
_rule(sc.chdtr, _parameter("chdtr", "v"), lambda g, ans, v, x: g * _gamma_density(v / 2, x / 2) / 2)
_rule(sc.chdtrc, _parameter("chdtrc", "v"),
      lambda g, ans, v, x: -g * _gamma_density(v / 2, x / 2) / 2)
_rule(sc.chdtri, _parameter("chdtri", "v"),
      lambda g, ans, v, p: -2 * g / _gamma_density(v / 2, ans / 2), save="both")

# Poisson: pdtr(k, m) = Q(floor(k) + 1, m), pdtrc = P(floor(k) + 1, m); pdtri inverts pdtr in m
_rule(sc.pdtr, _parameter("pdtr", "k"),
      lambda g, ans, k, m: -g * _gamma_density(np.floor(k) + 1, m))
_rule(sc.pdtrc, _parameter("pdtrc", "k"),
      lambda g, ans, k, m: g * _gamma_density(np.floor(k) + 1, m))
_rule(sc.pdtri, _parameter("pdtri", "k"),
      lambda g, ans, k, y: -g / _gamma_density(np.floor(k) + 1, ans), save="both")

# ------------------------------------------------------------------- incomplete beta function
_rule(sc.betainc, _parameter("betainc", "a"), _parameter("betainc", "b"),
      lambda g, ans, a, b, x: g * _beta_density(a, b, x))
_rule(sc.betaincc, _parameter("betaincc", "a"), _parameter("betaincc", "b"),
      lambda g, ans, a, b, x: -g * _beta_density(a, b, x))
_rule(sc.betaincinv, _parameter("betaincinv", "a"), _parameter("betaincinv", "b"),
      lambda g, ans, a, b, y: g / _beta_density(a, b, ans), save="both")
_rule(sc.betainccinv, _parameter("betainccinv", "a"), _parameter("betainccinv", "b"),
      lambda g, ans, a, b, y: -g / _beta_density(a, b, ans), save="both")

# Student t: stdtr' = t density; stdtrit inverts it
_rule(sc.stdtr, _parameter("stdtr", "df"), lambda g, ans, df, t: g * _t_density(df, t))
_rule(sc.stdtrit, _parameter("stdtrit", "df"),
      lambda g, ans, df, p: g / _t_density(df, ans), save="both")

# F distribution
_rule(sc.fdtr, _parameter("fdtr", "dfn"), _parameter("fdtr", "dfd"),
      lambda g, ans, dfn, dfd, x: g * _f_density(dfn, dfd, x))
_rule(sc.fdtrc, _parameter("fdtrc", "dfn"), _parameter("fdtrc", "dfd"),
      lambda g, ans, dfn, dfd, x: -g * _f_density(dfn, dfd, x))
_rule(sc.fdtri, _parameter("fdtri", "dfn"), _parameter("fdtri", "dfd"),
      lambda g, ans, dfn, dfd, p: g / _f_density(dfn, dfd, ans), save="both")

# binomial: bdtr(k, n, p) = I_{1-p}(n - k, k + 1), bdtrc = I_p(k + 1, n - k) (k floored)
_rule(sc.bdtr, _parameter("bdtr", "k"), _parameter("bdtr", "n"),
      lambda g, ans, k, n, p: g * _binomial_cdf_slope(k, n, p))
_rule(sc.bdtrc, _parameter("bdtrc", "k"), _parameter("bdtrc", "n"),
      lambda g, ans, k, n, p: -g * _binomial_cdf_slope(k, n, p))
_rule(sc.bdtri, _parameter("bdtri", "k"), _parameter("bdtri", "n"),
      lambda g, ans, k, n, y: g / _binomial_cdf_slope(k, n, ans), save="both")

# negative binomial: nbdtr(k, n, p) = I_p(n, k + 1), nbdtrc = I_{1-p}(k + 1, n)
_rule(sc.nbdtr, _parameter("nbdtr", "k"), _parameter("nbdtr", "n"),
      lambda g, ans, k, n, p: g * _beta_density(n, k + 1, p))
_rule(sc.nbdtrc, _parameter("nbdtrc", "k"), _parameter("nbdtrc", "n"),
      lambda g, ans, k, n, p: -g * _beta_density(n, k + 1, p))
_rule(sc.nbdtri, _parameter("nbdtri", "k"), _parameter("nbdtri", "n"),
      lambda g, ans, k, n, y: g / _beta_density(n, k + 1, ans), save="both")


# normal parameters from a quantile: x = mn + std ndtri(p)
def _normal_quantile_slope(p):
    z = sc.ndtri(p)
    return z, np.exp(0.5 * z * z + _LOG_SQRT_2PI)       # ndtri(p), ndtri'(p)


def _nrdtrimn_p(g, ans, p, std, x):
    return -g * std * _normal_quantile_slope(p)[1]


def _nrdtrisd_p(g, ans, mn, p, x):
    z, dz = _normal_quantile_slope(p)
    return -g * ans * dz / z


_rule(sc.nrdtrimn, _nrdtrimn_p, lambda g, ans, p, std, x: -g * sc.ndtri(p),
      lambda g, ans, p, std, x: g)
_rule(sc.nrdtrisd, lambda g, ans, mn, p, x: -g / sc.ndtri(p), _nrdtrisd_p,
      lambda g, ans, mn, p, x: g / sc.ndtri(p), save="both")

# --------------------------------------------------------------------- Kolmogorov-Smirnov
# SciPy's own densities: kolmogorov' = _kolmogp, smirnov(n, .)' = _smirnovp(n, .) (used by
# scipy.stats.kstwobign / ksone); the inverses take 1 / f'(f^-1(p)). Second derivatives need the
# derivatives of _kolmogp / _smirnovp, which have no rule (a clear error under create_graph).
_rule(sc.kolmogorov, lambda g, ans, y: g * _ufuncs._kolmogp(y))
_rule(sc.kolmogi, lambda g, ans, p: g / _ufuncs._kolmogp(ans), save="ans")
_rule(sc.smirnov, _parameter("smirnov", "n"), lambda g, ans, n, d: g * _ufuncs._smirnovp(n, d))
_rule(sc.smirnovi, _parameter("smirnovi", "n"),
      lambda g, ans, n, p: g / _ufuncs._smirnovp(n, ans), save="both")


# -------------------------------------------------------------------------------- Tukey lambda
# The CDF F = tklmbda(x, l) inverts the quantile Q(F, l) = (F^l - (1-F)^l) / l (log(F/(1-F)) at
# l = 0): dF/dx = 1 / Q_F, dF/dl = -Q_l / Q_F with Q_F = F^(l-1) + (1-F)^(l-1) and
# Q_l = (F^l log F - (1-F)^l log(1-F) - Q) / l, whose l -> 0 limit is (log^2 F - log^2 (1-F)) / 2.
def _tukey_quantile_slope(F, lmbda):
    return np.power(F, lmbda - 1) + np.power(1 - F, lmbda - 1)


def _tklmbda_lambda(g, ans, x, lmbda):
    F, G = ans, 1 - ans
    raw = lmbda._data if hasattr(lmbda, "_data") else lmbda
    at0 = np.equal(raw, 0)
    safe = np.where(at0, 1.0, lmbda)
    q = (np.power(F, safe) - np.power(G, safe)) / safe
    q_l = (np.power(F, safe) * np.log(F) - np.power(G, safe) * np.log(G) - q) / safe
    q_l = np.where(at0, (np.log(F) ** 2 - np.log(G) ** 2) / 2, q_l)
    return -g * q_l / _tukey_quantile_slope(F, lmbda)


_rule(sc.tklmbda, lambda g, ans, x, lmbda: g / _tukey_quantile_slope(ans, lmbda), _tklmbda_lambda,
      save="both")


# ------------------------------------------------------------------------------------ Owen's T
# T(h, a) = 1/(2 pi) int_0^a exp(-h^2 (1+t^2)/2) / (1+t^2) dt:
# dT/da = exp(-h^2 (1+a^2)/2) / (2 pi (1+a^2)),  dT/dh = -phi(h) erf(a h / sqrt 2) / 2
def _owens_t_h(g, ans, h, a):
    return -g * np.exp(-0.5 * h * h - _LOG_SQRT_2PI) * sc.erf(a * h / math.sqrt(2.0)) / 2


_rule(sc.owens_t, _owens_t_h,
      lambda g, ans, h, a: g * np.exp(-0.5 * h * h * (1 + a * a)) / (2 * np.pi * (1 + a * a)))
