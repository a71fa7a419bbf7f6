"""Rules for NumPy's ufuncs (elementwise; the engine undoes broadcasting and casts dtypes).

Every ufunc of NumPy's top level has a rule here or is marked non-differentiable, except the four
linear-algebra ufuncs (matmul, vecdot, matvec, vecmat), whose rules live in ``linear.py``.

Conventions
- Complex numbers (PyTorch's): for a holomorphic f, grad_in = g * conj(f'(z)). Real-only ufuncs
  (cbrt, arctan2, hypot, logaddexp, maximum, ...) have real rules.
- Python scalars (``x ** 2``, ``2 ** x``, ``np.maximum(x, 0)``) reach the VJPs as Python numbers.
- ``save``: "ans" where the derivative is a function of the output (exp, tanh, sqrt, ...), "none"
  for linear maps, "args" otherwise.
- Kinks and singular points, chosen to keep gradients finite where a sensible value exists:
  * ``power(x, y)``: d/dx is 0 where y == 0 (so ``x ** 0`` has zero gradient even at x == 0, and
    ``x ** 2`` at 0 has gradient 0); d/dy is 0 where x == 0 and y >= 0 (the limit from x > 0).
  * ``sqrt``/``cbrt``/``reciprocal``/``log`` at 0, ``arcsin``/``arccos`` at +-1, ``arctanh`` at +-1,
    ``arccosh`` at 1: +-inf or nan, as the maths says.
  * ``absolute``/``fabs`` at 0: gradient 0 (real: sign(x); complex: z/|z|, 0 at 0). ``hypot`` at
    (0, 0): 0.
  * ``maximum``/``minimum``/``fmax``/``fmin`` at ties: the gradient is split half-half between the
    two arguments (PyTorch's choice; it keeps ``np.maximum(x, x)`` exact). NaN: the gradient goes
    to the argument NumPy returns: ``maximum``/``minimum`` return the NaN one, ``fmax``/``fmin`` the
    non-NaN one, and all four return the first argument when both are NaN.
  * ``copysign(x1, x2)``: d/dx1 = sign(x1) * sign-bit-of(x2) (0 at x1 == 0), d/dx2 = 0.
  * ``heaviside(x1, x2)``: d/dx1 = 0; d/dx2 = 1 where x1 == 0.
  * ``fmod``/``remainder``: d/dx1 = 1, d/dx2 = -(the integer quotient); at the jumps either side.
"""
from __future__ import annotations

import numpy as np

from .._registry import conj, defvjp, nondifferentiable
from .._tables import COMPLEX_IMPLEMENTATIONS

_LN2 = float(np.log(2.0))
_LN10 = float(np.log(10.0))


def _is_complex(x):
    dtype = getattr(x, "dtype", None)
    return dtype.kind == "c" if dtype is not None else isinstance(x, complex)


def _is_array(x):
    return hasattr(x, "dtype") and hasattr(x, "shape")


def _zero_gradient(g, ans, *args):
    """VJP of an argument the output is locally constant in (None: nothing to accumulate)."""
    return None


# ------------------------------------------------------------------------------------- arithmetic
defvjp(np.add, lambda g, ans, x, y: g, lambda g, ans, x, y: g, save="none")
defvjp(np.subtract, lambda g, ans, x, y: g, lambda g, ans, x, y: -g, save="none")
defvjp(np.multiply, lambda g, ans, x, y: g * conj(y), lambda g, ans, x, y: g * conj(x), save="args")
defvjp(np.divide, lambda g, ans, x, y: g / conj(y), lambda g, ans, x, y: -g * conj(x / (y * y)),
       save="args")                                                     # np.true_divide is np.divide
defvjp(np.negative, lambda g, ans, x: -g, save="none")
defvjp(np.positive, lambda g, ans, x: g, save="none")
defvjp(np.conjugate, lambda g, ans, x: np.conjugate(g), save="none")    # np.conj is np.conjugate
defvjp(np.reciprocal, lambda g, ans, x: -g * conj(ans * ans), save="ans")
defvjp(np.square, lambda g, ans, x: g * conj(2 * x), save="args")
defvjp(np.sqrt, lambda g, ans, x: g / conj(2 * ans), save="ans")        # inf at 0
defvjp(np.cbrt, lambda g, ans, x: g / (3 * ans * ans), save="ans")      # real only; inf at 0


def _power_vjps(power):
    """d/dx and d/dy of ``power(x, y)`` (np.power or np.float_power, which computes in float64)."""

    def d_base(g, ans, x, y):
        # y * x**(y-1); where y == 0 the exponent is replaced by 0 so that 0 * 0**-1 cannot give nan
        return g * conj(y * power(x, y - (y != 0)))

    def d_exponent(g, ans, x, y):
        # x**y * log(x), set to 0 where x == 0 and y >= 0 (the limit from x > 0)
        if not _is_array(x):
            return g * 0 if x == 0 else g * conj(power(x, y) * np.log(x))
        at_zero = (x == 0) & (np.real(y) >= 0)
        return g * conj(power(x, y) * np.log(x + at_zero))             # log(1) = 0 where masked

    return d_base, d_exponent


defvjp(np.power, *_power_vjps(np.power), save="args")                  # np.pow is np.power
defvjp(np.float_power, *_power_vjps(np.float_power), save="args")


def _absolute_vjp(g, ans, x):
    if _is_complex(x):
        # |z| is not holomorphic: dL/dRe z + i dL/dIm z = g * z / |z| (0 at z == 0)
        a = np.abs(x)
        return g * (x / (a + (a == 0)))
    return g * np.sign(x)


defvjp(np.absolute, _absolute_vjp, save="args")                         # np.abs is np.absolute
defvjp(np.fabs, lambda g, ans, x: g * np.sign(x), save="args")

# ------------------------------------------------------------------------ exponentials and logs
defvjp(np.exp, lambda g, ans, x: g * conj(ans), save="ans")
defvjp(np.exp2, lambda g, ans, x: g * conj(ans * _LN2), save="ans")
defvjp(np.expm1, lambda g, ans, x: g * conj(ans + 1), save="ans")
defvjp(np.log, lambda g, ans, x: g / conj(x), save="args")
defvjp(np.log2, lambda g, ans, x: g / conj(x * _LN2), save="args")
defvjp(np.log10, lambda g, ans, x: g / conj(x * _LN10), save="args")
defvjp(np.log1p, lambda g, ans, x: g / conj(x + 1), save="args")
# logaddexp(x, y) = log(e^x + e^y): d/dx = e^x / (e^x + e^y) = exp(x - ans)
defvjp(np.logaddexp, lambda g, ans, x, y: g * np.exp(x - ans),
       lambda g, ans, x, y: g * np.exp(y - ans), save="both")
defvjp(np.logaddexp2, lambda g, ans, x, y: g * np.exp2(x - ans),
       lambda g, ans, x, y: g * np.exp2(y - ans), save="both")

# ------------------------------------------------------------------------------- trigonometric
defvjp(np.sin, lambda g, ans, x: g * conj(np.cos(x)), save="args")
defvjp(np.cos, lambda g, ans, x: -g * conj(np.sin(x)), save="args")
defvjp(np.tan, lambda g, ans, x: g * conj(1 + ans * ans), save="ans")
defvjp(np.arcsin, lambda g, ans, x: g / conj(np.sqrt(1 - x * x)), save="args")
defvjp(np.arccos, lambda g, ans, x: -g / conj(np.sqrt(1 - x * x)), save="args")
defvjp(np.arctan, lambda g, ans, x: g / conj(1 + x * x), save="args")
# arctan2(y, x) = angle of (x, y): d/dy = x / r^2, d/dx = -y / r^2
defvjp(np.arctan2, lambda g, ans, y, x: g * x / (x * x + y * y),
       lambda g, ans, y, x: -g * y / (x * x + y * y), save="args")


def _hypot_vjp(g, ans, x, r):
    return g * (x / (r + (r == 0)))                                     # 0 at the origin


defvjp(np.hypot, lambda g, ans, x, y: _hypot_vjp(g, ans, x, ans),
       lambda g, ans, x, y: _hypot_vjp(g, ans, y, ans), save="both")
defvjp(np.deg2rad, lambda g, ans, x: g * (np.pi / 180), save="none")   # np.radians: same map
defvjp(np.radians, lambda g, ans, x: g * (np.pi / 180), save="none")
defvjp(np.rad2deg, lambda g, ans, x: g * (180 / np.pi), save="none")   # np.degrees: same map
defvjp(np.degrees, lambda g, ans, x: g * (180 / np.pi), save="none")

# ---------------------------------------------------------------------------------- hyperbolic
defvjp(np.sinh, lambda g, ans, x: g * conj(np.cosh(x)), save="args")
defvjp(np.cosh, lambda g, ans, x: g * conj(np.sinh(x)), save="args")
defvjp(np.tanh, lambda g, ans, x: g * conj(1 - ans * ans), save="ans")
defvjp(np.arcsinh, lambda g, ans, x: g / conj(np.sqrt(x * x + 1)), save="args")
# sqrt(x-1)*sqrt(x+1) rather than sqrt(x^2-1): the same for real x > 1, and the right branch for
# complex z (the derivative of the principal arccosh)
defvjp(np.arccosh, lambda g, ans, x: g / conj(np.sqrt(x - 1) * np.sqrt(x + 1)), save="args")
defvjp(np.arctanh, lambda g, ans, x: g / conj(1 - x * x), save="args")


# --------------------------------------------------------------------- maximum, minimum & co.
def _share(g, wins, ties):
    """g where an argument was selected, g/2 where both were (ties), 0 elsewhere."""
    half = g * 0.5
    return half * wins + half * (wins | ties)


def _only_nan(a, b):
    """Where ``a`` is NaN and ``b`` is not (with two NaNs NumPy returns the first argument)."""
    return np.isnan(a) & ~np.isnan(b)


# maximum/minimum return a NaN argument (the first if both are): a NaN wins
defvjp(np.maximum, lambda g, ans, x, y: _share(g, (x > y) | np.isnan(x), x == y),
       lambda g, ans, x, y: _share(g, (y > x) | _only_nan(y, x), x == y), save="args")
defvjp(np.minimum, lambda g, ans, x, y: _share(g, (x < y) | np.isnan(x), x == y),
       lambda g, ans, x, y: _share(g, (y < x) | _only_nan(y, x), x == y), save="args")
# fmax/fmin return the non-NaN argument (the first if both are NaN): a NaN opponent counts as beaten
defvjp(np.fmax, lambda g, ans, x, y: _share(g, (x > y) | np.isnan(y), x == y),
       lambda g, ans, x, y: _share(g, (y > x) | _only_nan(x, y), x == y), save="args")
defvjp(np.fmin, lambda g, ans, x, y: _share(g, (x < y) | np.isnan(y), x == y),
       lambda g, ans, x, y: _share(g, (y < x) | _only_nan(x, y), x == y), save="args")

# ----------------------------------------------------------------------- piecewise arithmetic
defvjp(np.copysign, lambda g, ans, x1, x2: g * (np.sign(x1) * np.copysign(1, x2)), _zero_gradient,
       save="args")
defvjp(np.heaviside, _zero_gradient, lambda g, ans, x1, x2: g * (x1 == 0), save="args")
# ldexp(x1, x2) = x1 * 2**x2 with integer x2: the VJP is ldexp itself (exact, keeps the dtype)
defvjp(np.ldexp, lambda g, ans, x1, x2: np.ldexp(g, x2), _zero_gradient, save="args")
# remainder(x1, x2) = x1 - floor_divide(x1, x2) * x2 (np.mod is np.remainder)
defvjp(np.remainder, lambda g, ans, x1, x2: g,
       lambda g, ans, x1, x2: -g * np.floor_divide(x1, x2), save="args")
# fmod(x1, x2) = x1 - q * x2 with q = trunc(x1 / x2) computed exactly; recovering q from the result
# avoids the rounding of x1 / x2 (fmod(1, 0.1) = 0.0999..., q = 9 while 1 / 0.1 == 10.0)
defvjp(np.fmod, lambda g, ans, x1, x2: g,
       lambda g, ans, x1, x2: -g * np.rint((x1 - np.fmod(x1, x2)) / x2), save="args")

# multi-output ufuncs: g is a tuple with one gradient per output
# divmod(x1, x2) = (floor_divide, remainder); the quotient is piecewise constant
defvjp(np.divmod, lambda g, ans, x1, x2: g[1], lambda g, ans, x1, x2: -g[1] * ans[0], save="ans")
# modf(x) = (fractional part, integral part): d frac/dx = 1, d int/dx = 0
defvjp(np.modf, lambda g, ans, x: g[0], save="none")
# frexp(x) = (m, e) with x = m * 2**e and integer e: dm/dx = 2**-e
defvjp(np.frexp, lambda g, ans, x: np.ldexp(g[0], -ans[1]), save="ans")

# ------------------------------------------------------------------------ not differentiable
# Step functions and integer-valued results: their derivative is 0 wherever it exists, so their
# outputs are not tracked. np.sign is here too for real input; on a tracked complex input it is
# z / |z| (0 at 0), computed by the differentiable composite below.
nondifferentiable(
    np.floor, np.ceil, np.trunc, np.rint, np.sign, np.signbit, np.floor_divide, np.spacing,
    np.nextafter,
    np.equal, np.not_equal, np.less, np.less_equal, np.greater, np.greater_equal,
    np.isnan, np.isinf, np.isfinite, np.isnat,
    np.logical_and, np.logical_or, np.logical_xor, np.logical_not,
    np.bitwise_and, np.bitwise_or, np.bitwise_xor, np.invert, np.bitwise_count,
    np.left_shift, np.right_shift, np.gcd, np.lcm,
)


def _complex_sign(z):
    """np.sign of complex z: z / |z|, and 0 at 0 (the guarded division keeps that gradient 0)."""
    at_zero = z == 0
    return np.where(at_zero, 0, z / np.where(at_zero, 1, np.abs(z)))


COMPLEX_IMPLEMENTATIONS[np.sign] = _complex_sign
