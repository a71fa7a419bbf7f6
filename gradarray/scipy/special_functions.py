"""Differentiable ``scipy.special``: the Python-level functions (through the bridge) and the
``special`` extension of gradarray's array-API namespace.

Most of ``scipy.special`` is ufuncs, differentiated by the rules of ``gradarray/special.py``,
``special_distributions.py`` and ``special_integrals.py`` (imported here so that they are registered
with the rest of gradarray.scipy). What SciPy writes in Python around them either calls
``np.asarray`` first (``logsumexp``, ``softmax``, ``multigammaln``, ``comb``, ``spherical_jn``, ...)
or, with ``SCIPY_ARRAY_API=1``, looks the ufunc up on the array namespace. This module covers both:

- ``@implements_scipy("scipy.special", name)``: implementations written with differentiable ``np.*``
  calls (or a :class:`Primitive` whose forward is SciPy's own function, so values are SciPy's to the
  last bit, with a hand-written VJP: ``logsumexp``, and the Legendre multi-ufuncs ``legendre_p``,
  ``assoc_legendre_p``, ``sph_legendre_p``, differentiated through their own ``diff_n`` outputs),
  used whenever an argument holds a GradArray;
- ``gradarray.array_api.special``: with ``SCIPY_ARRAY_API=1``, ``scipy.special.erf(x)`` calls
  ``array_namespace(x)`` (gradarray's namespace when a GradArray is among the arguments, see
  ``_bridge.py``) and then ``xp.special.erf`` (``_get_native_func`` in SciPy's
  ``special/_support_alternative_backends.py``; gradarray has no ``alt_names_map`` entry, so the name
  looked up is the ufunc's ``__name__``: ``psi`` for ``digamma``). :data:`special_namespace` holds every
  public ufunc of ``scipy.special`` under its name (the ufunc itself: called on GradArrays it dispatches
  to gradarray's rules, and a ufunc without a rule raises for tracked inputs instead of SciPy's NumPy
  fallback dropping the tape) plus the non-ufunc functions SciPy dispatches the same way
  (``polygamma``, ``zeta``, ``sinc``, ``multigammaln``).

Must not know about: legacy code — this module only registers.
"""
from __future__ import annotations

import types

import numpy as np
import scipy.special
import scipy.special._ufuncs as _ufuncs

from .. import array_api
from .. import special as _rules
from .._array import GradArray
from .._creation import asarray
from .._registry import Primitive, conj, defvjp, defvjp_joint, no_gradient
from ..special import is_complex, sc
from . import special_distributions, special_integrals  # noqa: F401  (register their rules)
from ._bridge import holds_gradarray, implements_scipy

__all__ = ["special_namespace"]


def _scipy_own(name):
    """SciPy's own ``scipy.special.<name>`` (under a bridge wrapper, if one is installed)."""
    f = getattr(scipy.special, name)
    return getattr(f, "__gradarray_original__", f)


_SCIPY = {name: _scipy_own(name) for name in ("logsumexp", "comb", "perm", "factorial")}


def _array(x):
    """``x`` as a GradArray (lists may hold GradArrays); GradArrays pass through."""
    return x if type(x) is GradArray else asarray(x)


def _raw(x):
    return x._data if type(x) is GradArray else x


def _is_tracked(*values):
    return any(type(v) is GradArray and v.requires_grad for v in values)


def _integer_argument(function, name, value):
    """The raw value of an integer argument (an order, a branch index), refusing a tracked one."""
    if _is_tracked(value):
        raise TypeError(f"scipy.special.{function}: argument {name!r} is an integer and has no "
                        "gradient; pass it untracked (.detach() or a plain value)")
    return _raw(value)


# ------------------------------------------------------------------------------------ logsumexp
def _logsumexp_forward(a, b, axis, keepdims, return_sign):
    return _SCIPY["logsumexp"](a, axis=axis, b=b, keepdims=keepdims, return_sign=return_sign)


_logsumexp = Primitive(_logsumexp_forward)
_logsumexp.__name__ = "logsumexp"


def _with_reduced_axes(x, axis, ndim, keepdims):
    """``x`` reduced over ``axis`` (keepdims=False) with those axes put back as size 1."""
    if keepdims:
        return x
    axes = tuple(range(ndim)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
    return np.expand_dims(x, tuple(a % ndim for a in axes))


def _logsumexp_vjp(g, ans, a, b, axis, keepdims, return_sign):
    # out = log|S|, S = sum b e^a: d out/d a = sign(S) b e^(a - out), d out/d b = sign(S) e^(a - out)
    # (complex: out = log S, d out/d a = b e^(a - out), holomorphic). The sign output is piecewise
    # constant: its gradient is 0.
    if return_sign:
        (g, _), (out, sign) = g, ans
    else:
        out, sign = ans, None
    ndim = max(np.ndim(_raw(a)), 1 if b is None else np.ndim(_raw(b)), 1)
    g = _with_reduced_axes(g, axis, ndim, keepdims)
    weight = np.exp(a - _with_reduced_axes(out, axis, ndim, keepdims))
    if sign is not None:
        weight = weight * _with_reduced_axes(sign, axis, ndim, keepdims)
    if b is None:
        return g * conj(weight), None, None, None, None
    # a weight of 0 removes its term whatever a is (SciPy: even a = inf or nan adds nothing)
    grad_a = np.where(np.equal(_raw(b), 0), 0.0, g * conj(weight * b))
    return grad_a, g * conj(weight), None, None, None


defvjp_joint(_logsumexp, _logsumexp_vjp, save="both")


@implements_scipy("scipy.special", "logsumexp")
def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    a = _array(a)
    b = None if b is None else _array(b)
    if return_sign and _is_tracked(a, b) and (is_complex(a) or is_complex(b)):
        raise NotImplementedError("scipy.special.logsumexp: return_sign=True with complex tracked "
                                  "inputs is not differentiable in gradarray; use return_sign=False")
    return _logsumexp(a, b, axis, keepdims, return_sign)


# -------------------------------------------------------------------------- softmax, log_softmax
# The maximum is subtracted for range only: softmax does not depend on it, so it is taken untracked
# (the same arithmetic as SciPy's, so the same values).
@implements_scipy("scipy.special", "softmax")
def softmax(x, axis=None):
    x = _array(x)
    shifted = np.exp(x - np.max(x.detach(), axis=axis, keepdims=True))
    return shifted / np.sum(shifted, axis=axis, keepdims=True)


@implements_scipy("scipy.special", "log_softmax")
def log_softmax(x, axis=None):
    x = _array(x)
    x_max = np.max(x.detach(), axis=axis, keepdims=True)
    x_max = np.where(np.isfinite(x_max), x_max, 0)
    shifted = x - x_max
    with np.errstate(divide="ignore"):
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


@implements_scipy("scipy.special", "softplus")
def softplus(x, **kwargs):
    return np.logaddexp(0, _array(x), **kwargs)


# ------------------------------------------------------------------------ gamma-type functions
@implements_scipy("scipy.special", "polygamma")
def polygamma(n, x):
    return _rules.polygamma(n, _array(x))      # a tracked order n raises in backward


@implements_scipy("scipy.special", "zeta")
def zeta(x, q=None, out=None):
    if out is not None:
        raise TypeError("scipy.special.zeta: out= is not supported with GradArrays")
    if q is None:
        if _is_tracked(x):
            raise TypeError("scipy.special.zeta(x): the Riemann zeta function's derivative in x has "
                            "no closed form in SciPy functions, so it cannot be differentiated")
        return _ufuncs._riemann_zeta(x)
    return _ufuncs._zeta(x, q)


@implements_scipy("scipy.special", "multigammaln")
def multigammaln(a, d):
    # log Gamma_d(a) = d(d-1)/4 log(pi) + sum_{j=1..d} gammaln(a - (j-1)/2), as SciPy computes it
    a = _array(a)
    d = np.asarray(_integer_argument("multigammaln", "d", d))[()]
    if not np.isscalar(d) or (np.floor(d) != d):
        raise ValueError("d should be a positive integer (dimension)")
    if np.any(a._data <= 0.5 * (d - 1)):
        raise ValueError(f"condition a ({a._data}) > 0.5 * (d-1) ({0.5 * (d - 1)}) not met")
    terms = np.stack([sc.gammaln(a - (j - 1.0) / 2) for j in range(1, int(d) + 1)])
    return (d * (d - 1) * 0.25) * np.log(np.pi) + np.sum(terms, axis=0)


def _exact_only_untracked(name, *values, **options):
    """exact=True gives integers: no gradient. Untracked GradArrays are computed by SciPy."""
    if _is_tracked(*values):
        raise TypeError(f"scipy.special.{name}: exact=True computes integers, which have no "
                        "gradient; use exact=False (gamma-function based) with tracked arguments")
    plain = [v.numpy() if type(v) is GradArray else v for v in values]
    return _SCIPY[name](*plain, exact=True, **options)


@implements_scipy("scipy.special", "comb")
def comb(N, k, *, exact=False, repetition=False):
    if exact:
        return _exact_only_untracked("comb", N, k, repetition=repetition)
    N, k = _array(N), _array(k)
    if repetition:       # C(N + k - 1, k), and 1 for k == 0, N >= 0
        return np.where((k._data == 0) & (N._data >= 0), 1.0, sc.binom(N + k - 1, k))
    return np.where((k._data <= N._data) & (N._data >= 0) & (k._data >= 0), sc.binom(N, k), 0.0)


@implements_scipy("scipy.special", "perm")
def perm(N, k, exact=False):
    if exact:
        return _exact_only_untracked("perm", N, k)
    N, k = _array(N), _array(k)
    keep = (k._data <= N._data) & (N._data >= 0) & (k._data >= 0)
    return np.where(keep, sc.poch(N - k + 1, k), 0.0)


@implements_scipy("scipy.special", "factorial")
def factorial(n, exact=False, extend="zero"):
    if exact or extend not in ("zero", "complex") or (is_complex(_raw(n)) and extend != "complex"):
        if exact and _is_tracked(n):
            return _exact_only_untracked("factorial", n, extend=extend)
        return _SCIPY["factorial"](_raw(n), exact=exact, extend=extend)   # SciPy's own errors
    n = _array(n)
    value = sc.gamma(n + 1)                 # gamma(n + 1), nan (not inf) at n = -1 as in SciPy
    if not is_complex(n):
        value = np.where(n._data == -1, np.nan, value)
        if extend == "zero":
            value = np.where(n._data >= 0, value, np.where(np.isnan(n._data), np.nan, 0.0))
    return value


# -------------------------------------------------------------------------------------- Bessel
def _spherical(kind, even_sign, n, z, derivative):
    """j_n, y_n, i_n, k_n (or their derivatives) with SciPy's reflection for real z < 0
    (DLMF 10.47(v)): f(-z) = +-f(z) by the parity of n; k_n there through complex arithmetic."""
    n = np.asarray(_integer_argument(f"spherical_{kind}", "n", n), dtype=np.dtype("long"))
    z = _array(z)
    f = getattr(_ufuncs, f"_spherical_{kind}_d" if derivative else f"_spherical_{kind}")
    if is_complex(z):
        return f(n, z)
    positive = z._data >= 0
    if even_sign is None:        # k_n: SciPy takes the real part of the complex-argument value
        left = np.real(f(n, np.where(positive, -1.0, z) + 0j))
        return np.where(positive, f(n, np.where(positive, z, 1.0)), left)
    sign = np.where(n % 2 == 0, even_sign, -even_sign) * (-1 if derivative else 1)
    return f(n, np.where(positive, z, -z)) * np.where(positive, 1, sign)


def _spherical_function(kind, even_sign):
    def spherical(n, z, derivative=False):
        return _spherical(kind, even_sign, n, z, derivative)
    spherical.__name__ = f"spherical_{kind}"
    return spherical


for _kind, _even_sign in (("jn", 1), ("yn", -1), ("in", 1), ("kn", None)):
    implements_scipy("scipy.special", f"spherical_{_kind}")(_spherical_function(_kind, _even_sign))


@implements_scipy("scipy.special", "lambertw")
def lambertw(z, k=0, tol=1e-8):
    k = np.asarray(_integer_argument("lambertw", "k", k), dtype=np.dtype("long"))
    return _ufuncs._lambertw(_array(z), k, tol)


def _through_ufuncs(name):
    """SciPy's own Python function, which only combines ufuncs that keep the tape (``jvp`` is a sum of
    ``jv`` calls), called with its array argument(s) as GradArrays."""
    original = _scipy_own(name)

    def implementation(*args, **kwargs):
        args = tuple(_array(a) if type(a) is list and holds_gradarray(a) else a for a in args)
        return original(*args, **kwargs)
    implementation.__name__ = name
    return implementation


for _name in ("jvp", "yvp", "ivp", "kvp", "h1vp", "h2vp", "assoc_laguerre"):
    implements_scipy("scipy.special", _name)(_through_ufuncs(_name))


# ------------------------------------------------- Legendre functions (SciPy's multi-ufuncs)
# legendre_p(n, z, diff_n=k) & co. return the value and its first k derivatives in the last argument
# (k <= 2), stacked. Each derivative order is a Primitive whose VJP is the next order: first and second
# derivatives are exact; a third order raises.
def _derivative_order(name, parameters, variable, k, orders):
    multiufunc = _scipy_own(name)

    def raw(*args, **options):
        return multiufunc(*args, diff_n=k, **options)[k]
    order = Primitive(raw)
    order.__name__ = name if k == 0 else f"{name} (derivative {k})"
    if k < 2:
        def vjp(g, ans, *args, **options):
            return g * conj(orders[k + 1](*args, **options))
    else:
        vjp = no_gradient(f"scipy.special.{name}", variable, "SciPy gives derivatives up to order 2")
    defvjp(order, *[no_gradient(f"scipy.special.{name}", p, "it is an integer") for p in parameters],
           vjp, save="args")
    return order


def _legendre_function(name, parameters, variable):
    orders = []
    orders.extend(_derivative_order(name, parameters, variable, k, orders) for k in range(3))

    def implementation(*args, diff_n=0, **options):
        # SciPy returns the stack (value, first, ..., diff_n-th derivative), also for diff_n=0
        args = args[:-1] + (_array(args[-1]),)
        return np.stack([orders[k](*args, **options) for k in range(diff_n + 1)])
    implementation.__name__ = name
    implements_scipy("scipy.special", name)(implementation)
    return orders


_legendre_function("legendre_p", ("n",), "z")
_legendre_function("assoc_legendre_p", ("n", "m"), "z")
_SPH_LEGENDRE = _legendre_function("sph_legendre_p", ("n", "m"), "theta")


@implements_scipy("scipy.special", "sph_harm_y")
def sph_harm_y(n, m, theta, phi, *, diff_n=0):
    # Y_n^m(theta, phi) = sph_legendre_p(n, m, theta) exp(i m phi); its derivatives in phi multiply by im
    if _is_tracked(n, m):
        raise TypeError("scipy.special.sph_harm_y: the degree n and order m are integers")
    theta, phi = _array(theta), _array(phi)
    turn = np.exp(1j * _raw(m) * phi)
    p = [_SPH_LEGENDRE[k](n, m, theta) * turn for k in range(diff_n + 1)]
    value = p[0]
    if diff_n == 0:
        return value
    im = 1j * np.asarray(_raw(m))
    jacobian = np.stack([p[1], im * value], axis=-1)
    if diff_n == 1:
        return value, jacobian
    hessian = np.stack([np.stack([p[2], im * p[1]], axis=-1),
                        np.stack([im * p[1], im * im * value], axis=-1)], axis=-2)
    return value, jacobian, hessian


# ------------------------------------------------------------------------------------- diric
@implements_scipy("scipy.special", "diric")
def diric(x, n):
    # sin(n x/2) / (n sin(x/2)); +-1 where sin(x/2) is below SciPy's threshold, nan for bad n
    x = _array(x)
    n = np.asarray(_integer_argument("diric", "n", n))
    x, n = x + (n - n), n + np.zeros_like(x._data)
    dtype = x.dtype if np.issubdtype(x.dtype, np.inexact) else np.dtype(float)
    eps = np.finfo(dtype).eps
    minval = 1e-11 if eps < 1e-18 else (1e-7 if eps < 1e-15 else 1e-3)
    half = x / 2
    denominator = np.sin(half)
    bad = (n <= 0) | (n != np.floor(n))
    near = ~bad & (np.abs(denominator._data) < minval)
    limit = np.power(-1.0, np.round(half._data / np.pi) * (n - 1))
    safe = np.where(near | bad, 1.0, denominator)
    value = np.where(near, limit, np.sin(n * half) / (n * safe))
    return np.where(bad, np.nan, value).astype(dtype)


@implements_scipy("scipy.special", "sinc")
def sinc(x):
    return np.sinc(_array(x))


# ---------------------------------------------------------------------- array-API namespace
def _build_namespace():
    namespace = types.ModuleType("gradarray.array_api.special",
                                 "scipy.special for gradarray's array-API namespace: the ufuncs of "
                                 "scipy.special (gradarray differentiates them on GradArrays) and "
                                 "differentiable polygamma, zeta, sinc, multigammaln.")
    for name in dir(scipy.special):
        ufunc = _ufuncs.__dict__.get(name)
        if not name.startswith("_") and isinstance(ufunc, np.ufunc):
            setattr(namespace, name, ufunc)
            setattr(namespace, ufunc.__name__, ufunc)        # digamma is looked up as "psi"
    namespace.digamma = _ufuncs.psi
    namespace.polygamma = polygamma
    namespace.zeta = zeta
    namespace.sinc = sinc
    namespace.multigammaln = multigammaln
    return namespace


special_namespace = _build_namespace()
# array_api.py is not this module's to edit, and must not import SciPy: the extension is attached
# here, where SciPy is known to be installed (gradarray.scipy is only imported then).
array_api.special = special_namespace
