"""Derivative rules for ``scipy.special`` (optional: this module needs SciPy).

``scipy.special`` functions such as ``erf`` are NumPy ufuncs, so on GradArrays they arrive through
``__array_ufunc__`` and need nothing but a rule. Each rule is written with ``scipy.special`` and
``np.*`` calls: on CuPy data a SciPy ufunc dispatches to ``cupyx.scipy.special``, and under
``create_graph=True`` the rules are recorded themselves (the derivative of ``gammaln`` is ``digamma``,
whose derivative is ``polygamma(1, .)``, ...), so higher orders come for free.

Python-level functions of SciPy that call ``np.asarray`` first (``polygamma``) cannot keep the tape;
this module provides a differentiable :func:`polygamma` (and :func:`zeta`). ``scipy.special.softplus``
is ``np.logaddexp(0, x)`` and differentiates through the rule of ``np.logaddexp``.

Device arrays: SciPy ufuncs reach ``cupyx.scipy.special`` by their ``__name__``, which fails where
SciPy's public function is Python code around a private ufunc (``zeta`` calls ``_zeta``) or where
cupyx lacks the function (``jv``, ``yv``, ``iv``, ``kv``, ``ive``: CuPy 13 has orders 0 and 1 only).
The rules therefore never call those on device data: :func:`_special_for` picks the module whose
functions run on the data's backend (SciPy on NumPy data, ``cupyx.scipy.special`` on CuPy data; CuPy
is imported only when CuPy data is seen; Hurwitz zeta goes through the host on other device
backends), and the order-1 Bessel derivatives fall back to recurrences in orders 0 and 1.

Functions of real arguments (the Bessel family, gamma functions of real x...) are differentiated
as real functions. ``erf``, ``erfc`` and ``gamma`` are holomorphic and follow the complex convention
``grad = g * conj(f'(z))``. Orders ``v`` / ``n`` of Bessel and polygamma functions, and ``s`` of
``zeta``, are not differentiable.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.special as sc

from . import _backend
from ._array import GradArray
from ._registry import Primitive, conj, defvjp, implements_on_devices, no_gradient

__all__ = ["polygamma", "zeta"]

_2_SQRTPI = 2.0 / math.sqrt(math.pi)      # erf'(x) = 2/sqrt(pi) exp(-x^2)
_SQRTPI_2 = math.sqrt(math.pi) / 2.0      # erfinv'(y) = sqrt(pi)/2 exp(erfinv(y)^2)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _rule(func, *vjps, save, name=None):
    # digamma's ufunc is named "psi": name the node after the name the caller used
    defvjp(func, *vjps, save=save, name=f"scipy.special.{name or func.__name__}")


# ------------------------------------------------------------------------------- backend hook
def _special_for(x):
    """The ``scipy.special``-like module whose functions run on ``x``'s backend (raw or GradArray):
    SciPy for NumPy data and scalars, ``cupyx.scipy.special`` for CuPy data (imported only then),
    None for another backend (SciPy's public ufuncs still dispatch on its arrays; ``_zeta_raw``
    computes Hurwitz zeta on the host for it)."""
    raw = x._data if type(x) is GradArray else x
    if not hasattr(raw, "shape") or isinstance(raw, (np.ndarray, np.generic)):
        return sc
    if type(raw).__module__.startswith("cupy"):
        import cupyx.scipy.special
        return cupyx.scipy.special
    return None


def _first_array(*args):
    """The first array argument (NumPy scalars are scalars here), else the last argument."""
    return next((a for a in args if hasattr(a, "shape") and not isinstance(a, np.generic)), args[-1])


# ---------------------------------------------------------------------------- zeta, polygamma
def _zeta_raw(s, q):
    # Hurwitz zeta: SciPy's zeta is Python code around the private ufunc _zeta, which CuPy cannot
    # look up by name; cupyx.scipy.special.zeta is the same function under its public name
    ref = _first_array(s, q)
    special = _special_for(ref)
    if special is not None:
        return special.zeta(s, q)
    # a backend without a special-function module: SciPy on the host, the result moved back
    host = sc.zeta(_backend.to_host(s) if hasattr(s, "shape") else s,
                   _backend.to_host(q) if hasattr(q, "shape") else q)
    return _backend.to_device(np.asarray(host), _backend.device_of(ref))


zeta = Primitive(_zeta_raw)
zeta.__name__ = "zeta"
zeta.__doc__ = """Differentiable Hurwitz ``zeta(s, q)`` on any backend (d/dq = -s zeta(s + 1, q))."""


def _zeta_vjp_q(g, ans, s, q):
    return -g * s * zeta(s + 1, q)


defvjp(zeta, no_gradient("scipy.special.zeta", "s"), _zeta_vjp_q, save="args")
# scipy.special.zeta(s, q) on GradArrays arrives as the ufunc _zeta (zeta(s) alone calls
# _riemann_zeta, which has no rule: its derivative has no SciPy ufunc)
defvjp(sc._ufuncs._zeta, no_gradient("scipy.special.zeta", "s"), _zeta_vjp_q, save="args",
       name="scipy.special.zeta")
implements_on_devices(sc._ufuncs._zeta)(zeta)      # CuPy cannot find _zeta by name


def _polygamma_raw(n, x):
    # scipy.special.polygamma calls np.asarray (host only): use its formula,
    # psi^(n)(x) = (-1)^(n+1) n! zeta(n+1, x) for n >= 1, with the backend's own ufuncs
    special = _special_for(x) or sc
    if isinstance(n, (int, np.integer)):
        if n == 0:
            return special.digamma(x)
        return (-1.0) ** (n + 1) * math.factorial(n) * _zeta_raw(n + 1, x)
    fac = (-1.0) ** np.add(n, 1) * special.gamma(np.add(n, 1.0))
    return np.where(np.equal(n, 0), special.digamma(x), fac * _zeta_raw(np.add(n, 1), x))


polygamma = Primitive(_polygamma_raw)
polygamma.__name__ = "polygamma"
polygamma.__doc__ = """Differentiable ``scipy.special.polygamma(n, x)`` (d/dx = polygamma(n + 1, x))."""
defvjp(polygamma, no_gradient("scipy.special.polygamma", "n", "the order is an integer"),
       lambda g, ans, n, x: g * polygamma(np.add(n, 1), x), save="args")


# ------------------------------------------------------------------------- Bessel of order 2
def _order2(name, x, c0, c1):
    """C_2(x) for the Bessel-type function ``name`` ('jv', 'yv', 'iv', 'kv', 'ive') from its orders
    0 and 1 (c0, c1), for backends whose special module lacks ``name`` (cupyx.scipy.special):
    J_2 = 2 J_1 / x - J_0 (Y alike), I_2 = I_0 - 2 I_1 / x (ive alike), K_2 = K_0 + 2 K_1 / x
    (DLMF 10.6.1, 10.29.1). At x = 0, 2 J_1 / x and 2 I_1 / x are 1 (their limits)."""
    if hasattr(_special_for(x) or sc, name):
        return getattr(sc, name)(2, x)
    at0 = np.equal(x._data if type(x) is GradArray else x, 0)
    ratio = 2 * c1 / (x + at0) + at0
    if name in ("jv", "yv"):
        return ratio - c0
    if name == "kv":
        return c0 + ratio
    return c0 - ratio


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
_rule(sc.digamma, lambda g, ans, x: g * polygamma(1, x), save="args", name="digamma")   # cupyx: psi
_rule(sc.betaln,                                                        # log B(a, b)
      lambda g, ans, a, b: g * (sc.digamma(a) - sc.digamma(a + b)),
      lambda g, ans, a, b: g * (sc.digamma(b) - sc.digamma(a + b)), save="args")

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
_ORDER_NOT_DIFFERENTIABLE = {name: no_gradient(f"scipy.special.{name}", "v",
                                               "the derivative in the order is not implemented")
                             for name in ("jv", "yv", "iv", "kv", "ive")}
# Recurrences (DLMF 10.6, 10.29): J_v' = (J_{v-1} - J_{v+1})/2 (same for Y), I_v' = (I_{v-1} + I_{v+1})/2,
# K_v' = -(K_{v-1} + K_{v+1})/2. The exponentially scaled ie_v = exp(-|x|) I_v adds -sign(x) ie_v.
# Writing order-1 derivatives with order 2 (not I_0 - I_1/x) keeps them finite at x = 0 (``_order2``
# forms order 2 from orders 0 and 1 where the backend has no jv/yv/iv/kv/ive).
_rule(sc.jv, _ORDER_NOT_DIFFERENTIABLE["jv"], lambda g, ans, v, x: g * (sc.jv(v - 1, x) - sc.jv(v + 1, x)) / 2, save="args")
_rule(sc.yv, _ORDER_NOT_DIFFERENTIABLE["yv"], lambda g, ans, v, x: g * (sc.yv(v - 1, x) - sc.yv(v + 1, x)) / 2, save="args")
_rule(sc.iv, _ORDER_NOT_DIFFERENTIABLE["iv"], lambda g, ans, v, x: g * (sc.iv(v - 1, x) + sc.iv(v + 1, x)) / 2, save="args")
_rule(sc.kv, _ORDER_NOT_DIFFERENTIABLE["kv"], lambda g, ans, v, x: -g * (sc.kv(v - 1, x) + sc.kv(v + 1, x)) / 2, save="args")
_rule(sc.ive, _ORDER_NOT_DIFFERENTIABLE["ive"],
      lambda g, ans, v, x: g * ((sc.ive(v - 1, x) + sc.ive(v + 1, x)) / 2 - np.sign(x) * ans),
      save="both")
_rule(sc.j0, lambda g, ans, x: -g * sc.j1(x), save="args")
_rule(sc.j1, lambda g, ans, x: g * (sc.j0(x) - _order2("jv", x, sc.j0(x), ans)) / 2, save="both")
_rule(sc.y0, lambda g, ans, x: -g * sc.y1(x), save="args")
_rule(sc.y1, lambda g, ans, x: g * (sc.y0(x) - _order2("yv", x, sc.y0(x), ans)) / 2, save="both")
_rule(sc.i0, lambda g, ans, x: g * sc.i1(x), save="args")
_rule(sc.i1, lambda g, ans, x: g * (sc.i0(x) + _order2("iv", x, sc.i0(x), ans)) / 2, save="both")
_rule(sc.i0e, lambda g, ans, x: g * (sc.i1e(x) - np.sign(x) * ans), save="both")
_rule(sc.i1e, lambda g, ans, x: g * ((sc.i0e(x) + _order2("ive", x, sc.i0e(x), ans)) / 2
                                     - np.sign(x) * ans), save="both")
_rule(sc.k0, lambda g, ans, x: -g * sc.k1(x), save="args")
_rule(sc.k1, lambda g, ans, x: -g * (sc.k0(x) + _order2("kv", x, sc.k0(x), ans)) / 2, save="both")

# --------------------------------------------------------------------------------- Box-Cox
# boxcox(x, l) = (x^l - 1) / l  (log x at l = 0).
# d/dx = x^(l-1); d/dl = (x^l log x - boxcox(x, l)) / l, whose l -> 0 limit (log x)^2 / 2 is not
# formed here: the gradient with respect to lmbda is NaN at exactly lmbda = 0.
_rule(sc.boxcox,
      lambda g, ans, x, lmbda: g * np.power(x, lmbda - 1),
      lambda g, ans, x, lmbda: g * (np.power(x, lmbda) * np.log(x) - ans) / lmbda, save="both")
