"""Derivative rules for ``scipy.special`` (optional: this module needs SciPy).

``scipy.special`` functions such as ``erf`` are NumPy ufuncs, so on GradArrays they arrive through
``__array_ufunc__`` and need nothing but a rule. Each rule is written with ``scipy.special`` and
``np.*`` calls: on CuPy data a SciPy ufunc dispatches to ``cupyx.scipy.special``, and under
``create_graph=True`` the rules are recorded themselves (the derivative of ``gammaln`` is ``digamma``,
whose derivative is ``polygamma(1, .)``, ...), so higher orders come for free.

Python-level functions of SciPy that call ``np.asarray`` first (``polygamma``) cannot keep the tape;
this module provides a differentiable :func:`polygamma`. ``scipy.special.softplus`` is
``np.logaddexp(0, x)`` and differentiates through the rule of ``np.logaddexp``.

Functions of real arguments (the Bessel family, gamma functions of real x...) are differentiated
as real functions. ``erf``, ``erfc`` and ``gamma`` are holomorphic and follow the complex convention
``grad = g * conj(f'(z))``. Orders ``v`` / ``n`` of Bessel and polygamma functions, and ``s`` of
``zeta``, are not differentiable.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.special as sc

from ._registry import Primitive, conj, defvjp

__all__ = ["polygamma"]

_2_SQRTPI = 2.0 / math.sqrt(math.pi)      # erf'(x) = 2/sqrt(pi) exp(-x^2)
_SQRTPI_2 = math.sqrt(math.pi) / 2.0      # erfinv'(y) = sqrt(pi)/2 exp(erfinv(y)^2)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _rule(func, *vjps, save, name=None):
    # digamma's ufunc is named "psi": name the node after the name the caller used
    defvjp(func, *vjps, save=save, name=f"scipy.special.{name or func.__name__}")


# ------------------------------------------------------------------------------------------ polygamma
def _polygamma_raw(n, x):
    # scipy.special.polygamma calls np.asarray (host only): use its formula with ufuncs instead
    # psi^(n)(x) = (-1)^(n+1) n! zeta(n+1, x) for n >= 1
    fac = (-1.0) ** (np.add(n, 1)) * sc.gamma(np.add(n, 1.0))
    return np.where(np.equal(n, 0), sc.digamma(x), fac * sc.zeta(np.add(n, 1), x))


polygamma = Primitive(_polygamma_raw)
polygamma.__doc__ = """Differentiable ``scipy.special.polygamma(n, x)`` (d/dx = polygamma(n + 1, x))."""
defvjp(polygamma, None, lambda g, ans, n, x: g * polygamma(np.add(n, 1), x), save="args")

# -------------------------------------------------------------------------------- error functions
_rule(sc.erf, lambda g, ans, x: g * conj(_2_SQRTPI * np.exp(-x * x)), save="args")
_rule(sc.erfc, lambda g, ans, x: -g * conj(_2_SQRTPI * np.exp(-x * x)), save="args")
_rule(sc.erfcx, lambda g, ans, x: g * (2 * x * ans - _2_SQRTPI), save="both")  # exp(x^2) erfc(x)
# inverse functions: 1 / f'(f^-1(y)), written with the saved output y = f^-1(x)
_rule(sc.erfinv, lambda g, ans, x: g * _SQRTPI_2 * np.exp(ans * ans), save="ans")
_rule(sc.erfcinv, lambda g, ans, x: -g * _SQRTPI_2 * np.exp(ans * ans), save="ans")

# ----------------------------------------------------------------------- normal distribution
# ndtr' = phi(x) = exp(-x^2/2) / sqrt(2 pi)
_rule(sc.ndtr, lambda g, ans, x: g * np.exp(-0.5 * x * x - _LOG_SQRT_2PI), save="args")
# ndtri' = 1 / phi(ndtri(p))
_rule(sc.ndtri, lambda g, ans, p: g * np.exp(0.5 * ans * ans + _LOG_SQRT_2PI), save="ans")
# log_ndtr' = phi(x) / ndtr(x), formed in log space so it stays finite far in the left tail
_rule(sc.log_ndtr, lambda g, ans, x: g * np.exp(-0.5 * x * x - _LOG_SQRT_2PI - ans), save="both")

# ------------------------------------------------------------------------------- logistic
_rule(sc.expit, lambda g, ans, x: g * ans * (1 - ans), save="ans")
_rule(sc.logit, lambda g, ans, p: g / (p * (1 - p)), save="args")
_rule(sc.log_expit, lambda g, ans, x: g * sc.expit(-x), save="args")    # 1 - expit(x)

# ------------------------------------------------------------------------------- gamma family
_rule(sc.gammaln, lambda g, ans, x: g * sc.digamma(x), save="args")      # d log|Gamma| = psi
_rule(sc.gamma, lambda g, ans, x: g * conj(ans * sc.digamma(x)), save="both")
_rule(sc.digamma, lambda g, ans, x: g * polygamma(1, x), save="args", name="digamma")
_rule(sc.betaln,                                                        # log B(a, b)
      lambda g, ans, a, b: g * (sc.digamma(a) - sc.digamma(a + b)),
      lambda g, ans, a, b: g * (sc.digamma(b) - sc.digamma(a + b)), save="args")
# Hurwitz zeta(s, q): d/dq = -s zeta(s + 1, q). scipy.special.zeta is a Python function that calls
# the ufunc _zeta (two arguments) or _riemann_zeta (one; no rule: its derivative has no SciPy ufunc)
defvjp(sc._ufuncs._zeta, None, lambda g, ans, s, q: -g * s * sc.zeta(s + 1, q), save="args",
       name="scipy.special.zeta")

# ----------------------------------------------------------------------- information theory
# At x = 0 these functions are defined by continuity (0 log 0 = 0); their derivatives are not.
_rule(sc.xlogy, lambda g, ans, x, y: g * np.log(y), lambda g, ans, x, y: g * x / y, save="args")
_rule(sc.xlog1py, lambda g, ans, x, y: g * np.log1p(y), lambda g, ans, x, y: g * x / (1 + y),
      save="args")
_rule(sc.entr, lambda g, ans, x: -g * (np.log(x) + 1), save="args")            # -x log x
_rule(sc.rel_entr,                                                              # x log(x/y)
      lambda g, ans, x, y: g * (np.log(x / y) + 1), lambda g, ans, x, y: -g * x / y, save="args")
_rule(sc.kl_div,                                                                # x log(x/y) - x + y
      lambda g, ans, x, y: g * np.log(x / y), lambda g, ans, x, y: g * (1 - x / y), save="args")

# --------------------------------------------------------------------------------- Bessel
# Recurrences (DLMF 10.6, 10.29): J_v' = (J_{v-1} - J_{v+1})/2 (same for Y), I_v' = (I_{v-1} + I_{v+1})/2,
# K_v' = -(K_{v-1} + K_{v+1})/2. The exponentially scaled ie_v = exp(-|x|) I_v adds -sign(x) ie_v.
# Writing order-1 derivatives with order 2 (not I_0 - I_1/x) keeps them finite at x = 0.
_rule(sc.jv, None, lambda g, ans, v, x: g * (sc.jv(v - 1, x) - sc.jv(v + 1, x)) / 2, save="args")
_rule(sc.yv, None, lambda g, ans, v, x: g * (sc.yv(v - 1, x) - sc.yv(v + 1, x)) / 2, save="args")
_rule(sc.iv, None, lambda g, ans, v, x: g * (sc.iv(v - 1, x) + sc.iv(v + 1, x)) / 2, save="args")
_rule(sc.kv, None, lambda g, ans, v, x: -g * (sc.kv(v - 1, x) + sc.kv(v + 1, x)) / 2, save="args")
_rule(sc.ive, None,
      lambda g, ans, v, x: g * ((sc.ive(v - 1, x) + sc.ive(v + 1, x)) / 2 - np.sign(x) * ans),
      save="both")
_rule(sc.j0, lambda g, ans, x: -g * sc.j1(x), save="args")
_rule(sc.j1, lambda g, ans, x: g * (sc.j0(x) - sc.jv(2, x)) / 2, save="args")
_rule(sc.y0, lambda g, ans, x: -g * sc.y1(x), save="args")
_rule(sc.y1, lambda g, ans, x: g * (sc.y0(x) - sc.yv(2, x)) / 2, save="args")
_rule(sc.i0, lambda g, ans, x: g * sc.i1(x), save="args")
_rule(sc.i1, lambda g, ans, x: g * (sc.i0(x) + sc.iv(2, x)) / 2, save="args")
_rule(sc.i0e, lambda g, ans, x: g * (sc.i1e(x) - np.sign(x) * ans), save="both")
_rule(sc.i1e, lambda g, ans, x: g * ((sc.i0e(x) + sc.ive(2, x)) / 2 - np.sign(x) * ans), save="both")
_rule(sc.k0, lambda g, ans, x: -g * sc.k1(x), save="args")
_rule(sc.k1, lambda g, ans, x: -g * (sc.k0(x) + sc.kv(2, x)) / 2, save="args")

# --------------------------------------------------------------------------------- Box-Cox
# boxcox(x, l) = (x^l - 1) / l  (log x at l = 0).
# d/dx = x^(l-1); d/dl = (x^l log x - boxcox(x, l)) / l, whose l -> 0 limit (log x)^2 / 2 is not
# formed here: the gradient with respect to lmbda is NaN at exactly lmbda = 0.
_rule(sc.boxcox,
      lambda g, ans, x, lmbda: g * np.power(x, lmbda - 1),
      lambda g, ans, x, lmbda: g * (np.power(x, lmbda) * np.log(x) - ans) / lmbda, save="both")
