"""Formulas of the ``scipy.stats`` distributions that ``stats.py`` differentiates, in standard form.

Continuous families are written for the standardised variable ``y = (x - loc) / scale`` and their
shape parameters (``stats.py`` adds ``-log(scale)`` to a log-density and maps quantiles back); discrete
families for ``k - loc`` and their parameters. Each formula is a composition of differentiable
``np.*`` and ``scipy.special`` calls. The distribution functions built on the regularised incomplete
gamma/beta functions and Student's t (``gammainc``, ``betainc``, ``stdtr`` and their inverses) are
differentiated by the rules of ``special_distributions.py``: in the variable (``dF/dy = pdf``,
``dppf/dq = 1 / pdf(ppf)``), which for a discrete distribution written as ``gammaincc(k + 1, mu)`` or
``betainc(n - k, k + 1, 1 - p)`` is the derivative in its real parameter (Poisson ``mu``, binomial and
negative binomial ``p``). Their shape parameters (gamma's ``a``, beta's ``a``, ``b``, t's ``df``,
nbinom's ``n`` in the cdf) have no closed-form derivative: a tracked one raises in backward, naming
the ``scipy.special`` function and argument.

Owns: the per-distribution formulas (``CONTINUOUS``, ``DISCRETE``, keyed by SciPy's generator class
name). Must not know about: how SciPy's methods are called (``stats.py`` parses the arguments, masks
the support and invalid parameters and substitutes safe values before calling these formulas).
"""
from __future__ import annotations

import math

import numpy as np
import scipy.special as sc

from .._array import GradArray
from . import special_distributions  # noqa: F401  (rules of gammainc, betainc, stdtr, pdtr, bdtr ...)

__all__ = ["CONTINUOUS", "DISCRETE", "Family"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_PI = math.log(math.pi)


def _value(v):
    """Raw data of a GradArray, or the value itself."""
    return v._data if type(v) is GradArray else v


class Family:
    """The formulas of one distribution: ``methods[name](y, *shapes)`` in standard form, the moments
    ``mean``/``var``/``entropy`` of the standard form (functions of the shapes), and the safe values
    substituted where a point lies outside the support (``safe_point``) or a parameter is invalid
    (``safe_shapes``) so that masked entries never produce NaN gradients; ``integer_shapes``: the
    positions of integer-valued shape parameters (binom's ``n``), which must not be tracked."""

    def __init__(self, name, safe_point, safe_shapes, methods, mean=None, var=None, entropy=None,
                 integer_shapes=()):
        self.name = name
        self.integer_shapes = integer_shapes          # positions of integer-valued shapes
        self.safe_point = safe_point
        self.safe_shapes = safe_shapes
        self.methods = methods
        self.moments = {"mean": mean, "var": var, "entropy": entropy}


def _log_probability(p, complement):
    """log p, taken as log1p(-complement) where p > 1/2 (accurate near 1; SciPy's default logcdf and
    logsf do the same). Both branches are fed benign values where they are not selected, so neither
    produces a NaN gradient."""
    upper = _value(p) > 0.5
    if not np.any(upper):
        return np.log(p)
    return np.where(upper, np.log1p(-np.where(upper, complement, 0.0)), np.log(np.where(upper, 1.0, p)))


def _variable_last(function):
    """``f(y, *shapes)`` from a ``scipy.special`` function that takes its variable last."""
    return lambda y, *shapes: function(*shapes, y)


def _probabilities(cdf, sf, log_cdf_via_sf=True, log_sf_via_cdf=True):
    """The four distribution-function methods from a cdf and an sf of the same arguments; the logs
    switch to log1p of the complement above 1/2 as SciPy does (continuous distributions, nbinom's
    logcdf), or are plain logs (SciPy's discrete default)."""
    def logcdf(y, *shapes):
        cdf_value = cdf(y, *shapes)
        return _log_probability(cdf_value, sf(y, *shapes)) if log_cdf_via_sf else np.log(cdf_value)

    def logsf(y, *shapes):
        sf_value = sf(y, *shapes)
        return _log_probability(sf_value, cdf(y, *shapes)) if log_sf_via_cdf else np.log(sf_value)
    return {"cdf": cdf, "sf": sf, "logcdf": logcdf, "logsf": logsf}


# ============================================================================ continuous families
CONTINUOUS: dict = {}


def _continuous(generator, safe_point, safe_shapes=(), mean=None, var=None, entropy=None, **methods):
    CONTINUOUS[generator] = Family(generator[:-4], safe_point, safe_shapes, methods, mean, var, entropy)


def _constant(value):
    return lambda *shapes: value


# ---------------------------------------------------------------------------------------- norm
def _norm_logpdf(y):
    return -0.5 * y * y - _LOG_SQRT_2PI


_continuous("norm_gen", 0.0, logpdf=_norm_logpdf, cdf=sc.ndtr, sf=lambda y: sc.ndtr(-y),
            logcdf=sc.log_ndtr, logsf=lambda y: sc.log_ndtr(-y),
            ppf=sc.ndtri, isf=lambda q: -sc.ndtri(q),
            mean=_constant(0.0), var=_constant(1.0), entropy=_constant(0.5 * (math.log(2 * math.pi) + 1)))


# ------------------------------------------------------------------------------------- lognorm
def _lognorm_logpdf(y, s):
    # log of exp(-log(y)^2 / (2 s^2)) / (s y sqrt(2 pi))
    log_y = np.log(y)
    return -0.5 * (log_y / s) ** 2 - np.log(s) - log_y - _LOG_SQRT_2PI


_continuous("lognorm_gen", 1.0, (1.0,), logpdf=_lognorm_logpdf,
            cdf=lambda y, s: sc.ndtr(np.log(y) / s), sf=lambda y, s: sc.ndtr(-np.log(y) / s),
            logcdf=lambda y, s: sc.log_ndtr(np.log(y) / s),
            logsf=lambda y, s: sc.log_ndtr(-np.log(y) / s),
            ppf=lambda q, s: np.exp(s * sc.ndtri(q)), isf=lambda q, s: np.exp(-s * sc.ndtri(q)),
            mean=lambda s: np.exp(0.5 * s * s), var=lambda s: np.expm1(s * s) * np.exp(s * s),
            entropy=lambda s: 0.5 * (1 + math.log(2 * math.pi)) + np.log(s))


# --------------------------------------------------------------------------------------- expon
_EXPON_PROBABILITIES = _probabilities(lambda y: -np.expm1(-y), lambda y: np.exp(-y))
_EXPON_PROBABILITIES["logsf"] = lambda y: -y
_continuous("expon_gen", 1.0, logpdf=lambda y: -y, **_EXPON_PROBABILITIES,
            ppf=lambda q: -np.log1p(-q), isf=lambda q: -np.log(q),
            mean=_constant(1.0), var=_constant(1.0), entropy=_constant(1.0))


# ------------------------------------------------------------------------------------- laplace
def _laplace_cdf(y):
    # 1 - exp(-y)/2 for y > 0, exp(y)/2 otherwise; each branch sees only its own half-line
    positive = _value(y) > 0
    return np.where(positive, 1 - 0.5 * np.exp(-np.where(positive, y, 0.0)),
                    0.5 * np.exp(np.where(positive, 0.0, y)))


def _laplace_logcdf(y):
    positive = _value(y) > 0
    return np.where(positive, np.log1p(-0.5 * np.exp(-np.where(positive, y, 0.0))),
                    np.where(positive, 0.0, y) - math.log(2))


def _laplace_ppf(q):
    # -log(2 (1 - q)) above the median, log(2 q) below it
    upper = _value(q) > 0.5
    return np.where(upper, -np.log(2 * (1 - np.where(upper, q, 0.0))),
                    np.log(2 * np.where(upper, 0.5, q)))


_continuous("laplace_gen", 0.0, logpdf=lambda y: -np.abs(y) - math.log(2), cdf=_laplace_cdf,
            sf=lambda y: _laplace_cdf(-y), logcdf=_laplace_logcdf, logsf=lambda y: _laplace_logcdf(-y),
            ppf=_laplace_ppf, isf=lambda q: -_laplace_ppf(q),
            mean=_constant(0.0), var=_constant(2.0), entropy=_constant(math.log(2) + 1))


# -------------------------------------------------------------------------------------- cauchy
def _cauchy_ppf(q):
    # tan(pi (q - 1/2)) in the middle (exact at the median); in the tails -1/tan(pi q) and
    # 1/tan(pi (1 - q)), which keep their precision as q -> 0, 1. Each branch sees only its range.
    raw = _value(q)
    lower, upper = raw < 0.25, raw > 0.75
    middle = np.tan(math.pi * (np.where(lower | upper, 0.5, q) - 0.5))
    tails = np.where(lower, -1.0 / np.tan(math.pi * np.where(lower, q, 0.25)),
                     1.0 / np.tan(math.pi * (1.0 - np.where(upper, q, 0.75))))
    return np.where(lower | upper, tails, middle)


# cdf = arctan2(1, -y) / pi (SciPy's form of arctan(y)/pi + 1/2)
_continuous("cauchy_gen", 0.0, logpdf=lambda y: -_LOG_PI - np.log1p(y * y),
            cdf=lambda y: np.arctan2(1.0, -y) / math.pi, sf=lambda y: np.arctan2(1.0, y) / math.pi,
            logcdf=lambda y: np.log(np.arctan2(1.0, -y) / math.pi),
            logsf=lambda y: np.log(np.arctan2(1.0, y) / math.pi),
            ppf=_cauchy_ppf, isf=lambda q: -_cauchy_ppf(q),
            mean=_constant(math.nan), var=_constant(math.nan), entropy=_constant(math.log(4 * math.pi)))


# ------------------------------------------------------------------------------------ logistic
# pdf = expit(y) expit(-y), so logpdf = log_expit(y) + log_expit(-y)
_continuous("logistic_gen", 0.0, logpdf=lambda y: sc.log_expit(y) + sc.log_expit(-y),
            cdf=sc.expit, sf=lambda y: sc.expit(-y), logcdf=sc.log_expit,
            logsf=lambda y: sc.log_expit(-y), ppf=sc.logit, isf=lambda q: -sc.logit(q),
            mean=_constant(0.0), var=_constant(math.pi ** 2 / 3), entropy=_constant(2.0))


# --------------------------------------------------------------------------------------- gamma
def _gamma_logpdf(y, a):
    return sc.xlogy(a - 1.0, y) - y - sc.gammaln(a)


_continuous("gamma_gen", 1.0, (1.0,), logpdf=_gamma_logpdf,
            **_probabilities(_variable_last(sc.gammainc), _variable_last(sc.gammaincc)),
            ppf=_variable_last(sc.gammaincinv), isf=_variable_last(sc.gammainccinv),
            mean=lambda a: a, var=lambda a: a,
            entropy=lambda a: sc.digamma(a) * (1 - a) + a + sc.gammaln(a))


# ---------------------------------------------------------------------------------------- beta
def _beta_logpdf(y, a, b):
    return sc.xlog1py(b - 1.0, -y) + sc.xlogy(a - 1.0, y) - sc.betaln(a, b)


def _beta_entropy(a, b):
    return (sc.betaln(a, b) - (a - 1) * sc.digamma(a) - (b - 1) * sc.digamma(b)
            + (a + b - 2) * sc.digamma(a + b))


_continuous("beta_gen", 0.5, (1.0, 1.0), logpdf=_beta_logpdf,
            **_probabilities(_variable_last(sc.betainc), _variable_last(sc.betaincc)),
            ppf=_variable_last(sc.betaincinv), isf=_variable_last(sc.betainccinv),
            mean=lambda a, b: a / (a + b),
            var=lambda a, b: a * b / ((a + b) ** 2 * (a + b + 1)), entropy=_beta_entropy)


# ------------------------------------------------------------------------------------------- t
def _normal_limit(t_formula, normal_formula):
    """A t formula ``f(y, df)`` that uses the normal one where df = inf (the t expressions and the
    rules of stdtr/stdtrit are NaN there; the normal branch never sees a finite df's entries)."""
    def formula(y, df):
        infinite = np.isposinf(_value(df))
        if not np.any(infinite):
            return t_formula(y, df)
        return np.where(infinite, normal_formula(y), t_formula(y, np.where(infinite, 1.0, df)))
    return formula


# log Gamma((df+1)/2) - log Gamma(df/2) - log sqrt(pi) = -betaln(df/2, 1/2) (accurate for large df),
# so logpdf = -log(df)/2 - betaln(df/2, 1/2) - (df+1)/2 log1p(y^2/df)
_t_logpdf = _normal_limit(
    lambda y, df: -0.5 * np.log(df) - sc.betaln(0.5 * df, 0.5) - 0.5 * (df + 1) * np.log1p(y * y / df),
    _norm_logpdf)


def _t_mean(df):
    # 0 for df > 1, undefined (SciPy: inf) otherwise
    return np.where(_value(df) > 1, 0.0, np.inf)


def _t_var(df):
    # df / (df - 2) for df > 2, inf for 1 < df <= 2, nan below; 1 for df = inf
    raw = _value(df)
    finite = (raw > 2) & np.isfinite(raw)
    safe = np.where(finite, df, 3.0)
    return np.where(finite, safe / (safe - 2.0),
                    np.where(np.isposinf(raw), 1.0, np.where(raw > 1, np.inf, np.nan)))


def _t_entropy(df):
    # (df+1)/2 (psi((df+1)/2) - psi(df/2)) + log(sqrt(df) B(df/2, 1/2))
    half, half1 = 0.5 * df, 0.5 * (df + 1)
    return half1 * (sc.digamma(half1) - sc.digamma(half)) + 0.5 * np.log(df) + sc.betaln(half, 0.5)


_continuous("t_gen", 0.0, (1.0,), logpdf=_t_logpdf,
            **_probabilities(_normal_limit(_variable_last(sc.stdtr), sc.ndtr),
                             _normal_limit(lambda y, df: sc.stdtr(df, -y), lambda y: sc.ndtr(-y))),
            ppf=_normal_limit(_variable_last(sc.stdtrit), sc.ndtri),
            isf=_normal_limit(lambda q, df: -sc.stdtrit(df, q), lambda q: -sc.ndtri(q)),
            mean=_t_mean, var=_t_var, entropy=_t_entropy)


# ============================================================================== discrete families
DISCRETE: dict = {}


def _discrete(generator, safe_shapes, mean, var, integer_shapes=(), **methods):
    DISCRETE[generator] = Family(generator[:-4], 0.0, safe_shapes, methods, mean, var,
                                 integer_shapes=integer_shapes)





# k arrives floored for the distribution functions (SciPy's pdtr/bdtr/nbdtr floor it too); those are
# written with gammainc/betainc, whose rules differentiate in the variable: the Poisson ``mu`` and the
# binomial / negative binomial ``p`` (the ``*dtr`` ufuncs would truncate nbinom's real ``n``)
# ------------------------------------------------------------------------------------- poisson
def _poisson_logpmf(k, mu):
    return sc.xlogy(k, mu) - sc.gammaln(k + 1) - mu


# P(X <= k) = Q(k + 1, mu), P(X > k) = P(k + 1, mu)
_discrete("poisson_gen", (1.0,), mean=lambda mu: mu, var=lambda mu: mu, logpmf=_poisson_logpmf,
          **_probabilities(lambda k, mu: sc.gammaincc(np.floor(k) + 1, mu),
                           lambda k, mu: sc.gammainc(np.floor(k) + 1, mu), False, False))


# --------------------------------------------------------------------------------------- binom
def _binom_logpmf(k, n, p):
    return (sc.gammaln(n + 1) - sc.gammaln(k + 1) - sc.gammaln(n - k + 1) + sc.xlogy(k, p)
            + sc.xlog1py(n - k, -p))


# P(X <= k) = I_{1-p}(n - k, k + 1), P(X > k) = I_p(k + 1, n - k) for 0 <= k < n
_discrete("binom_gen", (1.0, 0.5), mean=lambda n, p: n * p, var=lambda n, p: n * p * (1 - p),
          logpmf=_binom_logpmf, integer_shapes=(0,),
          **_probabilities(lambda k, n, p: sc.betainc(n - np.floor(k), np.floor(k) + 1, 1 - p),
                           lambda k, n, p: sc.betainc(np.floor(k) + 1, n - np.floor(k), p),
                           False, False))


# -------------------------------------------------------------------------------------- nbinom
def _nbinom_logpmf(k, n, p):
    return sc.gammaln(n + k) - sc.gammaln(k + 1) - sc.gammaln(n) + n * np.log(p) + sc.xlog1py(k, -p)


# P(X <= k) = I_p(n, k + 1): its derivative in n is betainc's in `a`, which raises when n is tracked
_discrete("nbinom_gen", (1.0, 0.5), mean=lambda n, p: n * (1 - p) / p,
          var=lambda n, p: n * (1 - p) / (p * p), logpmf=_nbinom_logpmf,
          **_probabilities(lambda k, n, p: sc.betainc(n, np.floor(k) + 1, p),
                           lambda k, n, p: sc.betaincc(n, np.floor(k) + 1, p), True, False))
