"""Derivative rules for ``scipy.special`` (optional: this module needs SciPy).

``scipy.special`` functions such as ``erf`` are NumPy ufuncs, so on GradArrays they arrive through
``__array_ufunc__`` and need nothing but a rule. Each rule is written with ``scipy.special`` and
``np.*`` calls: on CuPy data a SciPy ufunc dispatches to ``cupyx.scipy.special``, and under
``create_graph=True`` the rules are recorded themselves (the derivative of ``gammaln`` is ``digamma``,
whose derivative is ``polygamma(1, .)``, ...), so higher orders come for free.

Rules are keyed on the ufunc objects of ``scipy.special._ufuncs``: with ``SCIPY_ARRAY_API=1`` the
public ``scipy.special.erf`` is a Python wrapper that looks up ``xp.special.erf`` on the array
namespace (``gradarray.array_api.special``, built by ``gradarray/scipy/special_functions.py``), which
calls the same ufunc. ``sc`` below resolves names to those ufuncs in both modes. This module holds the
elementary, error, gamma and Bessel families; the distribution functions (incomplete gamma/beta, the
``*dtr`` family) and the integrals, polynomials and hypergeometric functions have their rules in
``gradarray/scipy/special_distributions.py`` and ``special_integrals.py`` (size), and the Python-level
functions (``logsumexp``, ``polygamma``, ``spherical_jn``, ...) in ``special_functions.py``.

Device arrays: SciPy ufuncs reach ``cupyx.scipy.special`` by their ``__name__``, which fails where
SciPy's public function is Python code around a private ufunc (``zeta`` calls ``_zeta``) or where
cupyx lacks the function (``jv``, ``yv``, ``iv``, ``kv``, ``ive``: CuPy 13 and 14 have orders 0 and 1 only).
The rules therefore never call those on device data: :func:`_special_for` picks the module whose
functions run on the data's backend (SciPy on NumPy data, ``cupyx.scipy.special`` on CuPy data; CuPy
is imported only when CuPy data is seen; Hurwitz zeta goes through the host on other device
backends), and the order-1 Bessel derivatives fall back to recurrences in orders 0 and 1.

Holomorphic functions (``erf``, ``gamma``, ``jv`` in z, ...) follow the complex convention
``grad = g * conj(f'(z))``. Rules whose formula holds for real arguments only (the ``exp(-|x|)``
scalings of ``ive``/``jve``/``yve``) raise for complex ones. Orders ``v`` / ``n`` of Bessel and
polygamma functions, and ``s`` of ``zeta``, are not differentiable (a tracked one raises).
"""
from __future__ import annotations

import functools
import math

import numpy as np
import scipy.special
import scipy.special._ufuncs as _ufuncs

from . import _backend
from ._array import GradArray
from ._registry import Primitive, conj, defvjp, implements_on_devices, no_gradient, nondifferentiable

__all__ = ["polygamma", "zeta", "sc", "is_complex", "real_only", "exprel_prime",
           "plain_lists_as_arrays"]

_2_SQRTPI = 2.0 / math.sqrt(math.pi)      # erf'(x) = 2/sqrt(pi) exp(-x^2)
_SQRTPI_2 = math.sqrt(math.pi) / 2.0      # erfinv'(y) = sqrt(pi)/2 exp(erfinv(y)^2)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_DEG = math.pi / 180.0


class _ScipySpecial:
    """``scipy.special`` as the rules see it: a name resolves to the ufunc of
    ``scipy.special._ufuncs`` when there is one (``digamma`` -> ``psi``), else to the public object.
    With ``SCIPY_ARRAY_API=1`` the public ``erf`` is a Python wrapper, not the ufunc that NumPy hands
    to ``__array_ufunc__``; rules must be keyed on (and call) the ufunc itself."""

    _ALIASES = {"digamma": "psi"}

    def __getattr__(self, name):
        target = _ufuncs.__dict__.get(self._ALIASES.get(name, name))
        if not isinstance(target, np.ufunc):
            return getattr(scipy.special, name)      # Python-level functions: not cached (bridged)
        setattr(self, name, target)
        return target


sc = _ScipySpecial()


def plain_lists_as_arrays(vjp):
    """``vjp`` receiving the forward arguments as passed: a plain list (``jv([0, 1], x)``) arrives as a
    list, so it is made an array first (lists holding GradArrays were lifted by the dispatcher)."""
    if vjp is None:
        return None

    @functools.wraps(vjp)
    def call(g, ans, *args):
        return vjp(g, ans, *[np.asarray(a) if type(a) is list or type(a) is tuple else a
                             for a in args])
    return call


def _rule(func, *vjps, save, name=None):
    # digamma's ufunc is named "psi": name the node after the name the caller used
    defvjp(func, *map(plain_lists_as_arrays, vjps), save=save,
           name=f"scipy.special.{name or func.__name__}")


def is_complex(x):
    """Is ``x`` (raw array, GradArray or Python number) complex?"""
    dtype = getattr(x, "dtype", None)
    return isinstance(x, complex) if dtype is None else dtype.kind == "c"


def real_only(function, x):
    """Raise for a complex argument of a rule whose formula holds on the real line only."""
    if is_complex(x):
        raise TypeError(f"scipy.special.{function}: the gradient is implemented for real arguments "
                        "only (the function is not holomorphic in its complex argument)")


# ------------------------------------------------------------------------------- backend hook
def _special_for(x):
    """The ``scipy.special``-like module whose functions run on ``x``'s backend (raw or GradArray):
    SciPy for NumPy data and scalars, the device backend's own (``register_backend(special=...)``:
    ``cupyx.scipy.special`` for CuPy, imported only then), None for a backend without one (SciPy's
    public ufuncs still dispatch on its arrays; ``_zeta_raw`` computes Hurwitz zeta on the host)."""
    raw = x._data if type(x) is GradArray else x
    if not hasattr(raw, "shape") or isinstance(raw, (np.ndarray, np.generic)):
        return sc
    return _backend.special_namespace_of(raw)      # cupyx.scipy.special: the backend registers it


def _first_array(*args):
    """The first array argument (NumPy scalars are scalars here), else the last argument."""
    return next((a for a in args if hasattr(a, "shape") and not isinstance(a, np.generic)), args[-1])


# ---------------------------------------------------------------------------- zeta, polygamma
def _zeta_raw(s, q):
    # Hurwitz zeta: SciPy's zeta is Python code around the private ufunc _zeta, which CuPy cannot
    # look up by name; cupyx.scipy.special.zeta is the same function under its public name
    ref = _first_array(s, q)
    special = _special_for(ref)
    if special is sc:
        return _ufuncs._zeta(s, q)
    if special is not None:
        return special.zeta(s, q)
    # a backend without a special-function module: SciPy on the host, the result moved back
    host = _ufuncs._zeta(_backend.to_host(s) if hasattr(s, "shape") else s,
                         _backend.to_host(q) if hasattr(q, "shape") else q)
    return _backend.to_device(np.asarray(host), _backend.device_of(ref))


zeta = Primitive(_zeta_raw)
zeta.__name__ = "zeta"
zeta.__doc__ = """Differentiable Hurwitz ``zeta(s, q)`` on any backend (d/dq = -s zeta(s + 1, q))."""


def _zeta_vjp_q(g, ans, s, q):
    return -g * s * zeta(s + 1, q)


defvjp(zeta, no_gradient("scipy.special.zeta", "s"), plain_lists_as_arrays(_zeta_vjp_q), save="args")
# scipy.special.zeta(s, q) on GradArrays arrives as the ufunc _zeta (zeta(s) alone calls
# _riemann_zeta, which has no rule: its derivative has no SciPy ufunc)
defvjp(_ufuncs._zeta, no_gradient("scipy.special.zeta", "s"), plain_lists_as_arrays(_zeta_vjp_q),
       save="args",
       name="scipy.special.zeta")
implements_on_devices(_ufuncs._zeta)(zeta)      # CuPy cannot find _zeta by name


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
       plain_lists_as_arrays(lambda g, ans, n, x: g * polygamma(np.add(n, 1), x)), save="args")


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
_rule(sc.erfi, lambda g, ans, x: g * conj(_2_SQRTPI * np.exp(x * x)), save="args")
_rule(sc.erfcx, lambda g, ans, x: g * conj(2 * x * ans - _2_SQRTPI), save="both")  # exp(x^2) erfc(x)
_rule(sc.dawsn, lambda g, ans, x: g * conj(1 - 2 * x * ans), save="both")   # F' = 1 - 2 x F
# Faddeeva w(z) = exp(-z^2) erfc(-iz): w' = -2 z w + 2i/sqrt(pi) (DLMF 7.10.2)
_rule(sc.wofz, lambda g, ans, z: g * conj(-2 * z * ans + 1j * _2_SQRTPI), save="both")
# inverse functions: 1 / f'(f^-1(y)), written with the saved output y = f^-1(x)
_rule(sc.erfinv, lambda g, ans, x: g * _SQRTPI_2 * np.exp(ans * ans), save="ans")
_rule(sc.erfcinv, lambda g, ans, x: -g * _SQRTPI_2 * np.exp(ans * ans), save="ans")


# Voigt profile V(x; s, c) = Re w(z) / (s sqrt(2 pi)), z = (x + i c) / (s sqrt 2): the chain rule
# through w' with dz/dx = 1/(s sqrt 2), dz/dc = i/(s sqrt 2), dz/ds = -z/s (and -V/s from 1/s).
def _voigt_parts(x, sigma, gamma):
    z = (x + 1j * gamma) / (sigma * math.sqrt(2.0))
    dw = -2 * z * sc.wofz(z) + 1j * _2_SQRTPI
    return z, dw / (sigma * math.sqrt(2.0 * math.pi))


def _voigt_x(g, ans, x, sigma, gamma):
    z, dw = _voigt_parts(x, sigma, gamma)
    return g * np.real(dw) / (sigma * math.sqrt(2.0))


def _voigt_sigma(g, ans, x, sigma, gamma):
    z, dw = _voigt_parts(x, sigma, gamma)
    return g * (np.real(-dw * z) / sigma - ans / sigma)


def _voigt_gamma(g, ans, x, sigma, gamma):
    z, dw = _voigt_parts(x, sigma, gamma)
    return g * np.real(1j * dw) / (sigma * math.sqrt(2.0))


_rule(sc.voigt_profile, _voigt_x, _voigt_sigma, _voigt_gamma, save="both")

# ----------------------------------------------------------------------- normal distribution
# ndtr' = phi(x) = exp(-x^2/2) / sqrt(2 pi)
_rule(sc.ndtr, lambda g, ans, x: g * conj(np.exp(-0.5 * x * x - _LOG_SQRT_2PI)), save="args")
# ndtri' = 1 / phi(ndtri(p))
_rule(sc.ndtri, lambda g, ans, p: g * np.exp(0.5 * ans * ans + _LOG_SQRT_2PI), save="ans")
# ndtri_exp(y) = ndtri(exp(y)): d/dy = exp(y) / phi(ndtri_exp(y))
_rule(sc.ndtri_exp, lambda g, ans, y: g * np.exp(y + 0.5 * ans * ans + _LOG_SQRT_2PI), save="both")
# log_ndtr' = phi(x) / ndtr(x), formed in log space so it stays finite far in the left tail
_rule(sc.log_ndtr, lambda g, ans, x: g * conj(np.exp(-0.5 * x * x - _LOG_SQRT_2PI - ans)),
      save="both")

# ------------------------------------------------------------------------------- logistic
_rule(sc.expit, lambda g, ans, x: g * ans * (1 - ans), save="ans")
_rule(sc.logit, lambda g, ans, p: g / (p * (1 - p)), save="args")
_rule(sc.log_expit, lambda g, ans, x: g * sc.expit(-x), save="args")    # 1 - expit(x)

# ------------------------------------------------------------------------------- gamma family
_rule(sc.gammaln, lambda g, ans, x: g * sc.digamma(x), save="args")      # d log|Gamma| = psi
_rule(sc.loggamma, lambda g, ans, x: g * conj(sc.digamma(x)), save="args")
_rule(_ufuncs._lgam1p, lambda g, ans, x: g * sc.digamma(x + 1), save="args")   # gammaln(1 + x)
_rule(sc.gamma, lambda g, ans, x: g * conj(ans * sc.digamma(x)), save="both")
_rule(sc.digamma, lambda g, ans, x: g * polygamma(1, x), save="args", name="digamma")   # cupyx: psi


def _rgamma_vjp(g, ans, x):
    if is_complex(x):
        return g * conj(-sc.rgamma(x) * sc.digamma(x))     # (1/Gamma)' = -psi / Gamma
    # 1/Gamma has zeros at 0, -1, -2, ... where psi is infinite: for x < 1/2 use the reflection
    # 1/Gamma(x) = sin(pi x) Gamma(1 - x) / pi, whose derivative is finite and smooth there
    left = (x._data if type(x) is GradArray else x) < 0.5
    xl, xr = np.where(left, x, 0.0), np.where(left, 1.0, x)
    reflected = sc.gamma(1 - xl) * (np.cos(np.pi * xl) - np.sin(np.pi * xl) * sc.digamma(1 - xl) / np.pi)
    return g * np.where(left, reflected, -sc.rgamma(xr) * sc.digamma(xr))


_rule(sc.rgamma, _rgamma_vjp, save="args")
_rule(sc.betaln,                                                        # log B(a, b)
      lambda g, ans, a, b: g * (sc.digamma(a) - sc.digamma(a + b)),
      lambda g, ans, a, b: g * (sc.digamma(b) - sc.digamma(a + b)), save="args")
_rule(sc.beta,
      lambda g, ans, a, b: g * ans * (sc.digamma(a) - sc.digamma(a + b)),
      lambda g, ans, a, b: g * ans * (sc.digamma(b) - sc.digamma(a + b)), save="both")
# poch(z, m) = Gamma(z + m) / Gamma(z)
_rule(sc.poch,
      lambda g, ans, z, m: g * ans * (sc.digamma(z + m) - sc.digamma(z)),
      lambda g, ans, z, m: g * ans * sc.digamma(z + m), save="both")
# binom(n, k) = Gamma(n + 1) / (Gamma(k + 1) Gamma(n - k + 1)) (where those are finite)
_rule(sc.binom,
      lambda g, ans, n, k: g * ans * (sc.digamma(n + 1) - sc.digamma(n - k + 1)),
      lambda g, ans, n, k: g * ans * (sc.digamma(n - k + 1) - sc.digamma(k + 1)), save="both")
nondifferentiable(sc.gammasgn, sc.round)       # piecewise constant

# ----------------------------------------------------------------------- information theory
# At x = 0 these functions are defined by continuity (0 log 0 = 0); their derivatives are not.
_rule(sc.xlogy, lambda g, ans, x, y: g * conj(np.log(y)), lambda g, ans, x, y: g * conj(x / y),
      save="args")
_rule(sc.xlog1py, lambda g, ans, x, y: g * conj(np.log1p(y)),
      lambda g, ans, x, y: g * conj(x / (1 + y)), save="args")
_rule(sc.entr, lambda g, ans, x: -g * (np.log(x) + 1), save="args")            # -x log x
_rule(sc.rel_entr,                                                              # x log(x/y)
      lambda g, ans, x, y: g * (np.log(x / y) + 1), lambda g, ans, x, y: -g * x / y, save="args")
_rule(sc.kl_div,                                                                # x log(x/y) - x + y
      lambda g, ans, x, y: g * np.log(x / y), lambda g, ans, x, y: g * (1 - x / y), save="args")
# huber(d, r) = r^2/2 for |r| <= d, d (|r| - d/2) beyond
_rule(sc.huber,
      lambda g, ans, d, r: g * np.where(np.abs(r) <= d, 0.0, np.abs(r) - d),
      lambda g, ans, d, r: g * np.where(np.abs(r) <= d, r, d * np.sign(r)), save="args")


# pseudo_huber(d, r) = d^2 (sqrt(1 + (r/d)^2) - 1): d/dr = r / s, d/dd = 2 ans / d - r^2 / (d s)
def _pseudo_huber_d(g, ans, d, r):
    s = np.sqrt(1 + (r / d) ** 2)
    return g * (2 * ans / d - r * r / (d * s))


_rule(sc.pseudo_huber, _pseudo_huber_d,
      lambda g, ans, d, r: g * r / np.sqrt(1 + (r / d) ** 2), save="both")

# --------------------------------------------------------------------------------- Bessel
_ORDER_NOT_DIFFERENTIABLE = {name: no_gradient(f"scipy.special.{name}", "v",
                                               "the derivative in the order is not implemented")
                             for name in ("jv", "yv", "iv", "kv", "ive", "jve", "yve", "kve",
                                          "hankel1", "hankel2", "hankel1e", "hankel2e", "modstruve")}
_N_NOT_DIFFERENTIABLE = {name: no_gradient(f"scipy.special.{name}", "n", "the order is an integer")
                         for name in ("yn", "kn")}
# Recurrences (DLMF 10.6, 10.29): J_v' = (J_{v-1} - J_{v+1})/2 (Y, H alike),
# I_v' = (I_{v-1} + I_{v+1})/2,
# K_v' = -(K_{v-1} + K_{v+1})/2, holomorphic in z. The scaled ie_v = exp(-|x|) I_v adds -sign(x) ie_v
# (real x only), kve = exp(z) K_v adds kve, hankel1e = exp(-iz) H1 adds -i H1e, hankel2e adds +i H2e.
# Writing order-1 derivatives with order 2 (not I_0 - I_1/x) keeps them finite at x = 0 (``_order2``
# forms order 2 from orders 0 and 1 where the backend has no jv/yv/iv/kv/ive).
_rule(sc.jv, _ORDER_NOT_DIFFERENTIABLE["jv"],
      lambda g, ans, v, x: g * conj((sc.jv(v - 1, x) - sc.jv(v + 1, x)) / 2), save="args")
_rule(sc.yv, _ORDER_NOT_DIFFERENTIABLE["yv"],
      lambda g, ans, v, x: g * conj((sc.yv(v - 1, x) - sc.yv(v + 1, x)) / 2), save="args")
_rule(sc.iv, _ORDER_NOT_DIFFERENTIABLE["iv"],
      lambda g, ans, v, x: g * conj((sc.iv(v - 1, x) + sc.iv(v + 1, x)) / 2), save="args")
_rule(sc.kv, _ORDER_NOT_DIFFERENTIABLE["kv"],
      lambda g, ans, v, x: -g * conj((sc.kv(v - 1, x) + sc.kv(v + 1, x)) / 2), save="args")
_rule(sc.kve, _ORDER_NOT_DIFFERENTIABLE["kve"],
      lambda g, ans, v, x: g * conj(ans - (sc.kve(v - 1, x) + sc.kve(v + 1, x)) / 2), save="both")
_rule(sc.hankel1, _ORDER_NOT_DIFFERENTIABLE["hankel1"],
      lambda g, ans, v, z: g * conj((sc.hankel1(v - 1, z) - sc.hankel1(v + 1, z)) / 2), save="args")
_rule(sc.hankel2, _ORDER_NOT_DIFFERENTIABLE["hankel2"],
      lambda g, ans, v, z: g * conj((sc.hankel2(v - 1, z) - sc.hankel2(v + 1, z)) / 2), save="args")
_rule(sc.hankel1e, _ORDER_NOT_DIFFERENTIABLE["hankel1e"],
      lambda g, ans, v, z: g * conj((sc.hankel1e(v - 1, z) - sc.hankel1e(v + 1, z)) / 2 - 1j * ans),
      save="both")
_rule(sc.hankel2e, _ORDER_NOT_DIFFERENTIABLE["hankel2e"],
      lambda g, ans, v, z: g * conj((sc.hankel2e(v - 1, z) - sc.hankel2e(v + 1, z)) / 2 + 1j * ans),
      save="both")


def _ive_x(g, ans, v, x):
    real_only("ive", x)
    return g * ((sc.ive(v - 1, x) + sc.ive(v + 1, x)) / 2 - np.sign(x) * ans)


def _jve_x(g, ans, v, x):
    real_only("jve", x)           # = jv on the real line
    return g * (sc.jve(v - 1, x) - sc.jve(v + 1, x)) / 2


def _yve_x(g, ans, v, x):
    real_only("yve", x)
    return g * (sc.yve(v - 1, x) - sc.yve(v + 1, x)) / 2


_rule(sc.ive, _ORDER_NOT_DIFFERENTIABLE["ive"], _ive_x, save="both")
_rule(sc.jve, _ORDER_NOT_DIFFERENTIABLE["jve"], _jve_x, save="args")
_rule(sc.yve, _ORDER_NOT_DIFFERENTIABLE["yve"], _yve_x, save="args")
# integer orders: same recurrences
_rule(sc.yn, _N_NOT_DIFFERENTIABLE["yn"],
      lambda g, ans, n, x: g * (sc.yn(n - 1, x) - sc.yn(n + 1, x)) / 2, save="args")
_rule(sc.kn, _N_NOT_DIFFERENTIABLE["kn"],
      lambda g, ans, n, x: -g * (sc.kn(n - 1, x) + sc.kn(n + 1, x)) / 2, save="args")
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
# k0e = exp(x) K_0, k1e = exp(x) K_1: K_0' = -K_1, K_1' = -K_0 - K_1/x (K_2 = K_0 + 2 K_1/x)
_rule(sc.k0e, lambda g, ans, x: g * (ans - sc.k1e(x)), save="both")
_rule(sc.k1e, lambda g, ans, x: g * (ans - sc.k0e(x) - ans / x), save="both")

# Kelvin functions: ber + i bei and ker + i kei solve w'' + w'/x - i w = 0 (DLMF 10.61), so
# ber'' = -ber'/x - bei, bei'' = -bei'/x + ber (ker, kei alike); ber' is berp, ...
_rule(sc.ber, lambda g, ans, x: g * sc.berp(x), save="args")
_rule(sc.bei, lambda g, ans, x: g * sc.beip(x), save="args")
_rule(sc.ker, lambda g, ans, x: g * sc.kerp(x), save="args")
_rule(sc.kei, lambda g, ans, x: g * sc.keip(x), save="args")
_rule(sc.berp, lambda g, ans, x: g * (-ans / x - sc.bei(x)), save="both")
_rule(sc.beip, lambda g, ans, x: g * (-ans / x + sc.ber(x)), save="both")
_rule(sc.kerp, lambda g, ans, x: g * (-ans / x - sc.kei(x)), save="both")
_rule(sc.keip, lambda g, ans, x: g * (-ans / x + sc.ker(x)), save="both")


# kelvin(x) = (Be, Ke, Be', Ke') with Be = ber + i bei: Be'' = -Be'/x + i Be (Ke alike); real x,
# complex outputs (the real part of g conj(f') is the gradient)
def _kelvin_x(g, ans, x):
    be, ke, dbe, dke = ans
    return (g[0] * conj(dbe) + g[1] * conj(dke) + g[2] * conj(-dbe / x + 1j * be)
            + g[3] * conj(-dke / x + 1j * ke))


_rule(sc.kelvin, _kelvin_x, save="both")


# modified Struve L_v' = (L_{v-1} + L_{v+1})/2 + (x/2)^v / (2 sqrt(pi) Gamma(v + 3/2)) (DLMF 11.4.25)
def _modstruve_x(g, ans, v, x):
    series_term = np.power(x / 2, v) / (2 * math.sqrt(math.pi)) * sc.rgamma(v + 1.5)
    return g * ((sc.modstruve(v - 1, x) + sc.modstruve(v + 1, x)) / 2 + series_term)


_rule(sc.modstruve, _ORDER_NOT_DIFFERENTIABLE["modstruve"], _modstruve_x, save="args")


# ------------------------------------------------------------------------ elementary functions
def _polynomial(coefficients, x):
    """sum_k coefficients[k] x^k (Horner), with np.* calls (differentiable under create_graph)."""
    out = coefficients[-1]
    for c in coefficients[-2::-1]:
        out = out * x + c
    return out


# exprel'(u) = sum_k (k+1) u^k / (k+2)! near 0, else (exp(u) (u - 1) + 1) / u^2 (cancels near 0)
_EXPREL_PRIME_SERIES = [(k + 1) / math.factorial(k + 2) for k in range(11)]


def exprel_prime(u):
    """d/du of exprel(u) = (exp(u) - 1)/u, accurate near u = 0 (also boxcox's d/dlmbda)."""
    raw = u._data if type(u) is GradArray else u
    small = np.abs(raw) < 0.1
    safe = np.where(small, 1.0, u)
    return np.where(small, _polynomial(_EXPREL_PRIME_SERIES, u),
                    (np.exp(safe) * (safe - 1) + 1) / (safe * safe))


_rule(sc.exprel, lambda g, ans, x: g * exprel_prime(x), save="args")
_rule(sc.exp2, lambda g, ans, x: g * (math.log(2.0) * ans), save="ans")
_rule(sc.exp10, lambda g, ans, x: g * (math.log(10.0) * ans), save="ans")
_rule(sc.expm1, lambda g, ans, x: g * conj(ans + 1), save="ans")
_rule(sc.log1p, lambda g, ans, x: g / conj(1 + x), save="args")
_rule(sc.cosm1, lambda g, ans, x: -g * np.sin(x), save="args")
_rule(sc.cbrt, lambda g, ans, x: g / (3 * ans * ans), save="ans")
_rule(sc.sindg, lambda g, ans, x: g * (_DEG * sc.cosdg(x)), save="args")
_rule(sc.cosdg, lambda g, ans, x: -g * (_DEG * sc.sindg(x)), save="args")
_rule(sc.tandg, lambda g, ans, x: g * (_DEG * (1 + ans * ans)), save="ans")
_rule(sc.cotdg, lambda g, ans, x: -g * (_DEG * (1 + ans * ans)), save="ans")
_rule(_ufuncs._sinpi, lambda g, ans, x: g * conj(np.pi * _ufuncs._cospi(x)), save="args")
_rule(_ufuncs._cospi, lambda g, ans, x: -g * conj(np.pi * _ufuncs._sinpi(x)), save="args")
# radian(d, m, s) = pi/180 (d + m/60 + s/3600)
_rule(sc.radian, lambda g, ans, d, m, s: g * _DEG, lambda g, ans, d, m, s: g * (_DEG / 60),
      lambda g, ans, d, m, s: g * (_DEG / 3600), save="none")
# powm1(x, y) = x^y - 1
_rule(sc.powm1, lambda g, ans, x, y: g * y * np.power(x, y - 1),
      lambda g, ans, x, y: g * (ans + 1) * np.log(x), save="both")
_rule(_ufuncs._log1pmx, lambda g, ans, x: -g * x / (1 + x), save="args")     # log1p(x) - x
_rule(_ufuncs._log1mexp, lambda g, ans, x: -g / np.expm1(-x), save="args")   # log(1 - exp(x))

# --------------------------------------------------------------------------------- Box-Cox
# boxcox(x, l) = (x^l - 1)/l = log(x) exprel(l log x): d/dx = x^(l-1), d/dl = log(x)^2 exprel'(l log x)
# (finite and accurate through l = 0); boxcox1p alike with log1p(x).
_rule(sc.boxcox,
      lambda g, ans, x, lmbda: g * np.power(x, lmbda - 1),
      lambda g, ans, x, lmbda: g * np.log(x) ** 2 * exprel_prime(lmbda * np.log(x)), save="args")
_rule(sc.boxcox1p,
      lambda g, ans, x, lmbda: g * np.power(1 + x, lmbda - 1),
      lambda g, ans, x, lmbda: g * np.log1p(x) ** 2 * exprel_prime(lmbda * np.log1p(x)), save="args")

# inv_boxcox(y, l) = exp(y q(l y)) with q(t) = log1p(t)/t: d/dy = ans/(1 + l y), d/dl = ans y^2 q'(l y),
# q'(t) = (t/(1+t) - log1p(t))/t^2 = sum_{k>=1} (-1)^k k t^(k-1)/(k+1) near t = 0 (l -> 0 gives -y^2/2)
_LOG1P_RATIO_PRIME_SERIES = [(-1) ** k * k / (k + 1) for k in range(1, 18)]


def _log1p_ratio_prime(t):
    raw = t._data if type(t) is GradArray else t
    small = np.abs(raw) < 0.1
    safe = np.where(small, 1.0, t)
    return np.where(small, _polynomial(_LOG1P_RATIO_PRIME_SERIES, t),
                    (safe / (1 + safe) - np.log1p(safe)) / (safe * safe))


_rule(sc.inv_boxcox,
      lambda g, ans, y, lmbda: g * ans / (1 + lmbda * y),
      lambda g, ans, y, lmbda: g * ans * y * y * _log1p_ratio_prime(lmbda * y), save="both")
_rule(sc.inv_boxcox1p,
      lambda g, ans, y, lmbda: g * (ans + 1) / (1 + lmbda * y),
      lambda g, ans, y, lmbda: g * (ans + 1) * y * y * _log1p_ratio_prime(lmbda * y), save="both")
