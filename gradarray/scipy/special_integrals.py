"""Derivative rules for the ``scipy.special`` ufuncs defined by integrals, series and differential
equations: elliptic integrals, exponential/trigonometric/Fresnel integrals, integrals of Bessel and
Struve functions, hypergeometric functions, orthogonal polynomials, parabolic cylinder, Lambert and
Wright functions, and the spherical Bessel ufuncs behind ``scipy.special.spherical_jn`` & co.

They reach gradarray through ``__array_ufunc__`` (``sc`` of ``gradarray/special.py`` resolves names to
the ufuncs of ``scipy.special._ufuncs``, so the rules hold with and without ``SCIPY_ARRAY_API=1``).
Each is differentiated in its continuous argument; parameters (orders, degrees, ``a, b, c`` of the
hypergeometric functions, the parameter ``m`` of ``ellipj``) raise when tracked (``no_gradient``).
Holomorphic functions use ``grad = g * conj(f'(z))``.

Integrals differentiate to their integrands (``iti0k0`` -> ``i0, k0``). Elliptic integrals follow
DLMF 19.4 written with Carlson's ``R_D`` (no cancellation as m -> 0): dF(phi|m)/dm =
sin^3 / 6 R_D(cos^2, 1, 1 - m sin^2), dE(phi|m)/dm = -sin^3 / 6 R_D(cos^2, 1 - m sin^2, 1) on the
principal period, plus 2n K'(m) / 2n E'(m) for phi shifted by n pi. The complete ``ellipk``/``ellipe``
use the Legendre forms (E - (1-m) K) / (2m (1-m)) and (E - K) / (2m), with their Taylor series near
m = 0, so that their second derivatives exist; ``elliprd`` itself has no rule (the incomplete
integrals have first derivatives only).

Must not know about: the bridge — this module only registers rules.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.special._ufuncs as _ufuncs

from .._array import GradArray
from .._registry import conj, defvjp, no_gradient
from ..special import plain_lists_as_arrays, sc

__all__ = []


def _rule(func, *vjps, save="args"):
    defvjp(func, *map(plain_lists_as_arrays, vjps), save=save,
           name=f"scipy.special.{func.__name__.lstrip('_')}")


def _raw(x):
    return x._data if type(x) is GradArray else x


def _parameter(function, name, why="the derivative in this parameter is not implemented"):
    return no_gradient(f"scipy.special.{function}", name, why)


def _polynomial(coefficients, x):
    out = coefficients[-1]
    for c in coefficients[-2::-1]:
        out = out * x + c
    return out


def _nonzero(x, small=0.0):
    """(mask where |x| <= small, x with 1.0 there): a safe divisor for the other branch of a where."""
    mask = np.abs(_raw(x)) <= small
    return mask, np.where(mask, 1.0, x)


# -------------------------------------------------------------------------- elliptic integrals
# K(m) = pi/2 sum c_n^2 m^n, E(m) = pi/2 sum c_n^2 m^n / (1 - 2n), c_n = (2n-1)!!/(2n)!! (DLMF 19.5.1-2)
_C2 = [(math.comb(2 * n, n) / 4.0 ** n) ** 2 for n in range(12)]
_DK_SERIES = [math.pi / 2 * n * _C2[n] for n in range(1, 12)]
_DE_SERIES = [math.pi / 2 * n * _C2[n] / (1 - 2 * n) for n in range(1, 12)]


def complete_elliptic_slopes(m, one_minus_m, K, E):
    """(dK/dm, dE/dm) at m, given K(m), E(m) and 1 - m (accurate for ``ellipkm1``): Legendre's forms,
    with their series for |m| < 0.01 where those cancel."""
    small = np.abs(_raw(m)) < 0.01
    safe = np.where(small, 0.5, m)
    dK = np.where(small, _polynomial(_DK_SERIES, m), (E - one_minus_m * K) / (2 * safe * one_minus_m))
    dE = np.where(small, _polynomial(_DE_SERIES, m), (E - K) / (2 * safe))
    return dK, dE


_rule(sc.ellipk, lambda g, ans, m: g * complete_elliptic_slopes(m, 1 - m, ans, sc.ellipe(m))[0],
      save="both")
_rule(sc.ellipe, lambda g, ans, m: g * complete_elliptic_slopes(m, 1 - m, sc.ellipk(m), ans)[1],
      save="both")
# ellipkm1(p) = K(1 - p)
_rule(sc.ellipkm1, lambda g, ans, p: -g * complete_elliptic_slopes(1 - p, p, ans, sc.ellipe(1 - p))[0],
      save="both")


def _incomplete_parts(phi, m):
    """n, sin, cos^2 and 1 - m sin^2 of phi reduced to [-pi/2, pi/2] (phi = r + n pi)."""
    n = np.round(_raw(phi) / np.pi)
    r = phi - n * np.pi
    s = np.sin(r)
    return n, s, np.cos(r) ** 2, 1 - m * s * s


def _ellipkinc_m(g, ans, phi, m):
    n, s, c2, d2 = _incomplete_parts(phi, m)
    return g * (s ** 3 / 6 * sc.elliprd(c2, 1.0, d2) + 2 * n * sc.elliprd(0.0, 1.0, 1 - m) / 6)


def _ellipeinc_m(g, ans, phi, m):
    n, s, c2, d2 = _incomplete_parts(phi, m)
    return -g * (s ** 3 / 6 * sc.elliprd(c2, d2, 1.0) + 2 * n * sc.elliprd(0.0, 1 - m, 1.0) / 6)


_rule(sc.ellipkinc, lambda g, ans, phi, m: g / np.sqrt(1 - m * np.sin(phi) ** 2), _ellipkinc_m)
_rule(sc.ellipeinc, lambda g, ans, phi, m: g * np.sqrt(1 - m * np.sin(phi) ** 2), _ellipeinc_m)

# Carlson's symmetric forms: dR_F/dz = -R_D(x, y, z)/6 (DLMF 19.18.1), R_C(x, y) = R_F(x, y, y),
# dR_G/dz = (R_F - z R_D(x, y, z)/3) / 4 (and symmetric permutations)
_rule(sc.elliprf,
      lambda g, ans, x, y, z: -g * conj(sc.elliprd(y, z, x)) / 6,
      lambda g, ans, x, y, z: -g * conj(sc.elliprd(z, x, y)) / 6,
      lambda g, ans, x, y, z: -g * conj(sc.elliprd(x, y, z)) / 6)
_rule(sc.elliprc,
      lambda g, ans, x, y: -g * conj(sc.elliprd(y, y, x)) / 6,
      lambda g, ans, x, y: -g * conj(sc.elliprd(x, y, y)) / 3)
_rule(sc.elliprg,
      lambda g, ans, x, y, z: g * conj(sc.elliprf(x, y, z) - x * sc.elliprd(y, z, x) / 3) / 4,
      lambda g, ans, x, y, z: g * conj(sc.elliprf(x, y, z) - y * sc.elliprd(z, x, y) / 3) / 4,
      lambda g, ans, x, y, z: g * conj(sc.elliprf(x, y, z) - z * sc.elliprd(x, y, z) / 3) / 4)


# Jacobi elliptic functions in u: sn' = cn dn, cn' = -sn dn, dn' = -m sn cn, am' = dn (DLMF 22.13)
def _ellipj_u(g, ans, u, m):
    sn, cn, dn, _ = ans
    return g[0] * cn * dn - g[1] * sn * dn - g[2] * m * sn * cn + g[3] * dn


_rule(sc.ellipj, _ellipj_u, _parameter("ellipj", "m"), save="both")


# agm(a, b) = pi a / (2 K(1 - (b/a)^2)) (DLMF 19.8.5): dM/db = pi x K'(m) / K(m)^2 with x = b/a,
# and dM/da = (M - b dM/db) / a (M is homogeneous of degree 1)
def _agm_b(a, b):
    x = b / a
    m = 1 - x * x
    K = sc.ellipk(m)
    return np.pi * x * complete_elliptic_slopes(m, x * x, K, sc.ellipe(m))[0] / (K * K)


_rule(sc.agm, lambda g, ans, a, b: g * (ans - b * _agm_b(a, b)) / a,
      lambda g, ans, a, b: g * _agm_b(a, b), save="both")

# ------------------------------------------------------------- exponential and related integrals
_rule(sc.exp1, lambda g, ans, z: -g * conj(np.exp(-z) / z))
_rule(sc.expi, lambda g, ans, z: g * conj(np.exp(z) / z))


# E_n' = -E_{n-1} (DLMF 8.19.13); E_0(x) = exp(-x)/x, so E_0' = -exp(-x) (1 + x) / x^2
def _expn_x(g, ans, n, x):
    at0 = np.equal(_raw(n), 0)
    lower = -sc.expn(np.where(at0, 1, _raw(n)) - 1, x)
    return g * np.where(at0, -np.exp(-x) * (1 + x) / (x * x), lower)


_rule(sc.expn, _parameter("expn", "n", "the order is an integer"), _expn_x)


def _sinc(x):                    # sin(x)/x, 1 at 0
    return np.sinc(x / np.pi)


def _sinhc(x):                   # sinh(x)/x, 1 at 0
    at0, safe = _nonzero(x)
    return np.where(at0, 1.0, np.sinh(safe) / safe)


_rule(sc.sici, lambda g, ans, x: g[0] * conj(_sinc(x)) + g[1] * conj(np.cos(x) / x))
_rule(sc.shichi, lambda g, ans, x: g[0] * conj(_sinhc(x)) + g[1] * conj(np.cosh(x) / x))
_rule(sc.fresnel, lambda g, ans, z: g[0] * conj(np.sin(np.pi / 2 * z * z))
      + g[1] * conj(np.cos(np.pi / 2 * z * z)))

# modified Fresnel integrals F+(x) = int_x^inf exp(i t^2) dt, K+(x) = exp(-i(x^2 + pi/4)) F+(x)/sqrt(pi)
# (F-, K- with -i): F+' = -exp(i x^2), K+' = -2i x K+ - exp(-i pi/4)/sqrt(pi). SciPy's values for
# x < 0 do not follow these definitions, so a negative x raises.
_PHASE = np.exp(-0.25j * np.pi) / math.sqrt(math.pi)


def _modfresnel_x(sign):
    def vjp(g, ans, x):
        if np.any(_raw(x) < 0):
            raise NotImplementedError(f"scipy.special.modfresnel{'p' if sign > 0 else 'm'}: the "
                                      "gradient is implemented for x >= 0 only")
        phase = _PHASE if sign > 0 else np.conj(_PHASE)
        return (g[0] * conj(-np.exp(sign * 1j * x * x))
                + g[1] * conj(-sign * 2j * x * ans[1] - phase))
    return vjp


_rule(sc.modfresnelp, _modfresnel_x(1), save="both")
_rule(sc.modfresnelm, _modfresnel_x(-1), save="both")


# spence(z) = int_1^z log(t) / (1 - t) dt: spence' = log(z) / (1 - z), -1 at z = 1
def _spence_z(g, ans, z):
    at1, safe = _nonzero(z - 1)
    return g * conj(np.where(at1, -1.0, np.log(safe + 1) / -safe))


_rule(sc.spence, _spence_z)


# integrals of Bessel and Struve functions differentiate to their integrands
def _over_x(f, x, at0):
    """f(x) / x with the value ``at0`` at x = 0."""
    zero, safe = _nonzero(x)
    return np.where(zero, at0, f(safe) / safe)


_rule(sc.iti0k0, lambda g, ans, x: g[0] * sc.i0(x) + g[1] * sc.k0(x))
_rule(sc.itj0y0, lambda g, ans, x: g[0] * sc.j0(x) + g[1] * sc.y0(x))
_rule(sc.it2i0k0, lambda g, ans, x: g[0] * _over_x(lambda t: sc.i0(t) - 1, x, 0.0)
      - g[1] * sc.k0(x) / x)
_rule(sc.it2j0y0, lambda g, ans, x: g[0] * _over_x(lambda t: 1 - sc.j0(t), x, 0.0)
      - g[1] * sc.y0(x) / x)
# (first derivatives only: the Struve function H and airy have no rule)
_rule(sc.itstruve0, lambda g, ans, x: g * sc.struve(0, x))
_rule(sc.it2struve0, lambda g, ans, x: -g * sc.struve(0, x) / x)
_rule(sc.itmodstruve0, lambda g, ans, x: g * sc.modstruve(0, x))


def _itairy_x(g, ans, x):
    ai, _, bi, _ = sc.airy(_raw(x))
    ai_neg, _, bi_neg, _ = sc.airy(-_raw(x))
    return g[0] * ai + g[1] * bi + g[2] * ai_neg + g[3] * bi_neg


_rule(sc.itairy, _itairy_x)

# ---------------------------------------------------------------------------- hypergeometric
_rule(sc.hyp0f1, _parameter("hyp0f1", "v"),
      lambda g, ans, b, z: g * conj(sc.hyp0f1(b + 1, z) / b))
_rule(sc.hyp1f1, _parameter("hyp1f1", "a"), _parameter("hyp1f1", "b"),
      lambda g, ans, a, b, z: g * conj(a / b * sc.hyp1f1(a + 1, b + 1, z)))
_rule(sc.hyp2f1, _parameter("hyp2f1", "a"), _parameter("hyp2f1", "b"), _parameter("hyp2f1", "c"),
      lambda g, ans, a, b, c, z: g * conj(a * b / c * sc.hyp2f1(a + 1, b + 1, c + 1, z)))
_rule(sc.hyperu, _parameter("hyperu", "a"), _parameter("hyperu", "b"),
      lambda g, ans, a, b, z: -g * a * sc.hyperu(a + 1, b + 1, z))


# ---------------------------------------------------------------------- orthogonal polynomials
# Derivatives lower the degree (DLMF 18.9): P_n' = C^(3/2)_{n-1}, T_n' = n U_{n-1},
# U_n' = 2 C^(2)_{n-1}, C^(a)_n' = 2a C^(a+1)_{n-1}, P^(a,b)_n' = (n+a+b+1)/2 P^(a+1,b+1)_{n-1},
# L^(a)_n' = -L^(a+1)_{n-1}, H_n' = 2n H_{n-1}, He_n' = n He_{n-1}; shifted ones by the chain rule.
def _below(n):
    """(n - 1, 1 where n != 0 else 0): the degree of the derivative, and the factor that makes the
    derivative of a degree-0 polynomial 0 (SciPy's value at degree -1 is not 0)."""
    raw = _raw(n)
    zero = np.equal(raw, 0)
    return np.where(zero, 0, np.subtract(raw, 1)), np.logical_not(zero)


def _polynomial_rule(function, derivative, *parameters):
    """Rule for ``eval_<function>(n, *parameters, x)``: ``derivative(n, n - 1, *parameters, x)``."""
    ufunc = getattr(sc, f"eval_{function}")

    def vjp_x(g, ans, n, *args):
        lower, nonzero = _below(n)
        return g * conj(nonzero * derivative(_raw(n), lower, *args))
    params = [_parameter(f"eval_{function}", p) for p in ("n",) + parameters]
    defvjp(ufunc, *params, plain_lists_as_arrays(vjp_x), save="args",
           name=f"scipy.special.eval_{function}")


_polynomial_rule("legendre", lambda n, k, x: sc.eval_gegenbauer(k, 1.5, x))
_polynomial_rule("chebyt", lambda n, k, x: n * sc.eval_chebyu(k, x))
_polynomial_rule("chebyu", lambda n, k, x: 2 * sc.eval_gegenbauer(k, 2.0, x))
_polynomial_rule("chebyc", lambda n, k, x: n * sc.eval_chebyu(k, x / 2))            # 2 T_n(x/2)
_polynomial_rule("chebys", lambda n, k, x: sc.eval_gegenbauer(k, 2.0, x / 2))       # U_n(x/2)
_polynomial_rule("sh_legendre", lambda n, k, x: 2 * sc.eval_gegenbauer(k, 1.5, 2 * x - 1))
_polynomial_rule("sh_chebyt", lambda n, k, x: 2 * n * sc.eval_chebyu(k, 2 * x - 1))
_polynomial_rule("sh_chebyu", lambda n, k, x: 4 * sc.eval_gegenbauer(k, 2.0, 2 * x - 1))
_polynomial_rule("gegenbauer", lambda n, k, alpha, x: 2 * alpha * sc.eval_gegenbauer(k, alpha + 1, x),
                 "alpha")
_polynomial_rule("jacobi", lambda n, k, a, b, x: (n + a + b + 1) / 2
                 * sc.eval_jacobi(k, a + 1, b + 1, x), "alpha", "beta")
# G_n^(p,q)(x) = P_n^(p-q, q-1)(2x - 1) / binom(2n + p - 1, n)
_polynomial_rule("sh_jacobi", lambda n, k, p, q, x: (n + p) / sc.binom(2 * n + p - 1, n)
                 * sc.eval_jacobi(k, p - q + 1, q, 2 * x - 1), "p", "q")
_polynomial_rule("laguerre", lambda n, k, x: -sc.eval_genlaguerre(k, 1.0, x))
_polynomial_rule("genlaguerre", lambda n, k, alpha, x: -sc.eval_genlaguerre(k, alpha + 1, x), "alpha")
_polynomial_rule("hermite", lambda n, k, x: 2 * n * sc.eval_hermite(k, x))
_polynomial_rule("hermitenorm", lambda n, k, x: n * sc.eval_hermitenorm(k, x))


# associated Legendre (DLMF 14.10.5): (1 - x^2) dP^m_v/dx = (v + 1) x P^m_v - (v - m + 1) P^m_{v+1}
def _lpmv_x(g, ans, m, v, x):
    return g * ((v + 1) * x * ans - (v - m + 1) * sc.lpmv(m, v + 1, x)) / (1 - x * x)


_rule(sc.lpmv, _parameter("lpmv", "m"), _parameter("lpmv", "v"), _lpmv_x, save="both")


# ------------------------------------------------------------------------- parabolic cylinder
# D_v and V_v solve w'' = (x^2/4 - v - 1/2) w, W(a, .) solves w'' = (a - x^2/4) w (DLMF 12.2, 12.14);
# each ufunc returns (w, w')
def _weber_rule(ufunc, coefficient):
    def vjp_x(g, ans, v, x):
        w, dw = ans
        return g[0] * dw + g[1] * coefficient(v, x) * w
    defvjp(ufunc, _parameter(ufunc.__name__, "v"), plain_lists_as_arrays(vjp_x), save="both",
           name=f"scipy.special.{ufunc.__name__}")


_weber_rule(sc.pbdv, lambda v, x: x * x / 4 - v - 0.5)
_weber_rule(sc.pbvv, lambda v, x: x * x / 4 - v - 0.5)
_weber_rule(sc.pbwa, lambda a, x: a - x * x / 4)

# ------------------------------------------------------------------------- Lambert and Wright
# W e^W = z: W' = 1 / (e^W (1 + W)) (= W / (z (1 + W)) away from 0); omega + log(omega) = z alike
_rule(_ufuncs._lambertw, lambda g, ans, z, k, tol: g * conj(np.exp(-ans) / (1 + ans)), None,
      _parameter("lambertw", "tol", "it is a tolerance"), save="ans")
_rule(sc.wrightomega, lambda g, ans, z: g * conj(ans / (1 + ans)), save="ans")
# Wright's generalized Bessel function: d/dx Phi(a, b; x) = Phi(a, a + b; x)
_rule(sc.wright_bessel, _parameter("wright_bessel", "a"), _parameter("wright_bessel", "b"),
      lambda g, ans, a, b, x: g * sc.wright_bessel(a, a + b, x))
_rule(sc.log_wright_bessel, _parameter("log_wright_bessel", "a"),
      _parameter("log_wright_bessel", "b"),
      lambda g, ans, a, b, x: g * np.exp(sc.log_wright_bessel(a, a + b, x) - ans), save="both")


# ----------------------------------------------------------------------------- spherical Bessel
# j_n, y_n solve z^2 w'' + 2z w' + (z^2 - n(n+1)) w = 0, i_n, k_n the same with -z^2 (DLMF 10.47.1-2):
# w'' = -2 w'/z + (sign + n(n+1)/z^2) w, sign -1 for j_n, y_n and +1 for i_n, k_n
def _spherical_rule(kind, sign):
    value, slope = getattr(_ufuncs, f"_spherical_{kind}"), getattr(_ufuncs, f"_spherical_{kind}_d")
    _rule(value, None, lambda g, ans, n, z: g * conj(slope(n, z)))
    _rule(slope, None, lambda g, ans, n, z: g * conj(-2 * ans / z + (sign + n * (n + 1) / (z * z))
                                                     * value(n, z)), save="both")


for _kind, _sign in (("jn", -1.0), ("yn", -1.0), ("in", 1.0), ("kn", 1.0)):
    _spherical_rule(_kind, _sign)
