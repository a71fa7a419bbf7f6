"""Ufunc rules (gradarray/overrides/ufuncs.py) and ufunc methods / out= / where=
(gradarray/overrides/ufunc_methods.py), checked against finite differences."""
import warnings

import numpy as np
import pytest

import gradarray as ga
from gradarray._tables import NONDIFFERENTIABLE, RULES
from gradarray.testing import gradcheck, gradgradcheck

# ------------------------------------------------------------------------------------ domains
# Each domain draws values where the ufunc is smooth (away from kinks, jumps and singularities).
DOMAINS = {
    "real": (-2.0, 2.0),
    "pos": (0.5, 2.0),
    "unit": (-0.9, 0.9),
    "gt1": (1.2, 3.0),
    "away0": (0.3, 2.0),       # random sign is applied below
}


def sample(domain, shape, dtype=np.float64, seed=0, cplx=False):
    rng = np.random.default_rng(seed)
    lo, hi = DOMAINS[domain]
    x = rng.uniform(lo, hi, shape)
    if domain == "away0":
        x = x * rng.choice([-1.0, 1.0], shape)
    if cplx:
        x = x + 1j * rng.uniform(-0.3, 0.3, shape)
        return x.astype(np.complex128 if dtype == np.float64 else np.complex64)
    return np.asarray(x, dtype=dtype)


# name: (domain, complex supported)
UNARY = {
    "negative": ("real", True), "positive": ("real", True), "conjugate": ("real", True),
    "reciprocal": ("away0", True), "square": ("real", True), "sqrt": ("pos", True),
    "cbrt": ("away0", False), "absolute": ("away0", True), "fabs": ("away0", False),
    "exp": ("real", True), "exp2": ("real", True), "expm1": ("real", True),
    "log": ("pos", True), "log2": ("pos", True), "log10": ("pos", True), "log1p": ("pos", True),
    "sin": ("real", True), "cos": ("real", True), "tan": ("unit", True),
    "arcsin": ("unit", True), "arccos": ("unit", True), "arctan": ("real", True),
    "sinh": ("real", True), "cosh": ("real", True), "tanh": ("real", True),
    "arcsinh": ("real", True), "arccosh": ("gt1", True), "arctanh": ("unit", True),
    "deg2rad": ("real", False), "rad2deg": ("real", False), "radians": ("real", False),
    "degrees": ("real", False),
}
# name: (domain of x1, domain of x2, complex supported)
BINARY = {
    "add": ("real", "real", True), "subtract": ("real", "real", True),
    "multiply": ("real", "real", True), "divide": ("real", "away0", True),
    "power": ("pos", "real", True), "float_power": ("pos", "real", True),
    "logaddexp": ("real", "real", False), "logaddexp2": ("real", "real", False),
    "arctan2": ("away0", "away0", False), "hypot": ("away0", "away0", False),
    "maximum": ("real", "real", False), "minimum": ("real", "real", False),
    "fmax": ("real", "real", False), "fmin": ("real", "real", False),
    "copysign": ("away0", "away0", False), "fmod": ("real", "pos", False),
    "remainder": ("real", "pos", False),
}
SPECIAL = ("heaviside", "ldexp", "divmod", "modf", "frexp")   # tested separately below
LINALG_UFUNCS = {"matmul", "vecdot", "matvec", "vecmat"}         # rules owned by overrides/linear.py

NONDIFF_FLOAT = ["floor", "ceil", "trunc", "rint", "sign", "signbit", "spacing", "isnan", "isinf",
                 "isfinite", "logical_not"]
NONDIFF_FLOAT2 = ["floor_divide", "nextafter", "equal", "not_equal", "less", "less_equal",
                  "greater", "greater_equal", "logical_and", "logical_or", "logical_xor"]
NONDIFF_INT = ["invert", "bitwise_count"]
NONDIFF_INT2 = ["bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift", "gcd",
                "lcm"]


def all_ufuncs():
    return {getattr(np, n) for n in dir(np) if isinstance(getattr(np, n), np.ufunc)}


def test_every_ufunc_has_a_rule_or_is_nondifferentiable():
    missing = sorted(u.__name__ for u in all_ufuncs()
                     if u not in RULES and u not in NONDIFFERENTIABLE
                     and u.__name__ not in LINALG_UFUNCS)
    assert missing == []
    both = sorted(u.__name__ for u in all_ufuncs() if u in RULES and u in NONDIFFERENTIABLE)
    assert both == []
    # the lists of this file cover every ufunc, so that each one is tested below
    tested = set(UNARY) | set(BINARY) | set(SPECIAL) | set(NONDIFF_FLOAT) | set(NONDIFF_FLOAT2) | \
        set(NONDIFF_INT) | set(NONDIFF_INT2) | {"isnat"} | LINALG_UFUNCS
    assert sorted(u.__name__ for u in all_ufuncs() if u.__name__ not in tested) == []
    assert len(all_ufuncs()) == 90


# ------------------------------------------------------------------------------------ unary rules
@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape,dtype", [((3, 4), np.float64), ((), np.float64),
                                         ((5,), np.float32)])
def test_unary_gradient(backend, name, shape, dtype):
    ufunc = getattr(np, name)
    x = backend.asarray(sample(UNARY[name][0], shape, dtype))
    gradcheck(ufunc, x)


@pytest.mark.parametrize("name", sorted(n for n, (_, c) in UNARY.items() if c))
def test_unary_gradient_complex(backend, name):
    ufunc = getattr(np, name)
    x = backend.asarray(sample(UNARY[name][0], (2, 3), cplx=True))
    gradcheck(ufunc, x)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_second_order(backend, name):
    x = backend.asarray(sample(UNARY[name][0], (4,), seed=1))
    gradgradcheck(getattr(np, name), x)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_forward_values(name):
    ufunc = getattr(np, name)
    data = sample(UNARY[name][0], (3, 4))
    y = ufunc(ga.asarray(data, requires_grad=True))
    assert y.requires_grad and y.dtype == ufunc(data).dtype
    np.testing.assert_allclose(y.numpy(), ufunc(data))


# ----------------------------------------------------------------------------------- binary rules
BINARY_SHAPES = [((3, 4), (4,)), ((3, 4), (1, 4)), ((), (3,)), ((2, 3), (2, 3))]


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
def test_binary_gradient(backend, name, shapes):
    d1, d2, _ = BINARY[name]
    x = backend.asarray(sample(d1, shapes[0], seed=2))
    y = backend.asarray(sample(d2, shapes[1], seed=3))
    gradcheck(getattr(np, name), x, y)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradient_float32(backend, name):
    d1, d2, _ = BINARY[name]
    x = backend.asarray(sample(d1, (2, 3), np.float32, seed=4))
    y = backend.asarray(sample(d2, (3,), np.float32, seed=5))
    gradcheck(getattr(np, name), x, y)


@pytest.mark.parametrize("name", sorted(n for n, v in BINARY.items() if v[2]))
def test_binary_gradient_complex(backend, name):
    d1, d2, _ = BINARY[name]
    x = backend.asarray(sample(d1, (2, 3), cplx=True, seed=6))
    y = backend.asarray(sample(d2, (3,), cplx=True, seed=7))
    gradcheck(getattr(np, name), x, y)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_second_order(backend, name):
    d1, d2, _ = BINARY[name]
    x = backend.asarray(sample(d1, (3,), seed=8))
    y = backend.asarray(sample(d2, (3,), seed=9))
    gradgradcheck(getattr(np, name), x, y)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_forward_values(name):
    d1, d2, _ = BINARY[name]
    a, b = sample(d1, (3, 4), seed=10), sample(d2, (4,), seed=11)
    ufunc = getattr(np, name)
    y = ufunc(ga.asarray(a, requires_grad=True), ga.asarray(b))
    assert y.requires_grad
    np.testing.assert_allclose(y.numpy(), ufunc(a, b))


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "divide", "power", "maximum",
                                  "fmod", "arctan2"])
def test_binary_with_python_scalars(backend, name):
    ufunc = getattr(np, name)
    x = backend.asarray(sample("pos", (4,), seed=12))
    gradcheck(lambda x: ufunc(x, 1.5), x)
    gradcheck(lambda x: ufunc(0.7, x), x)


def test_operators_use_the_rules(backend):
    x = backend.asarray(sample("pos", (5,), seed=13))
    y = backend.asarray(sample("away0", (5,), seed=14))
    gradcheck(lambda x, y: (x ** 2 - 2 ** y) * x / y + abs(y) % 0.7 - (-x) ** 3, x, y)


# ------------------------------------------------------------------------- special-form ufuncs
def test_heaviside(backend):
    x1 = backend.asarray(np.array([-1.0, 0.0, 2.0, 0.0]))
    x2 = backend.asarray(np.array([0.3, 0.6, 0.9, 0.1]))
    gradcheck(np.heaviside, x1, x2, argnums=1)                    # 1 where x1 == 0
    x1 = backend.asarray(np.array([-1.0, 0.5, 2.0]))              # away from the step
    gradcheck(np.heaviside, x1, backend.asarray(np.array([0.5, 0.5, 0.5])))


def test_ldexp(backend):
    x = backend.asarray(sample("real", (2, 3), seed=15))
    e = backend.asarray(np.array([-2, 0, 3]))
    gradcheck(np.ldexp, x, e, argnums=0)
    gradgradcheck(lambda x: np.ldexp(x, e) * x, x)
    np.testing.assert_allclose(np.ldexp(ga.asarray(backend.to_host(x)), np.array([-2, 0, 3])).numpy(),
                               np.ldexp(backend.to_host(x), np.array([-2, 0, 3])))


def test_divmod(backend):
    x1 = backend.asarray(sample("real", (2, 3), seed=16) * 3)
    x2 = backend.asarray(sample("pos", (3,), seed=17))
    gradcheck(np.divmod, x1, x2)
    gradcheck(lambda a, b: np.divmod(a, b)[1], x1, x2)
    q, r = np.divmod(ga.asarray(backend.to_host(x1)), ga.asarray(backend.to_host(x2)))
    eq, er = np.divmod(backend.to_host(x1), backend.to_host(x2))
    np.testing.assert_allclose(q.numpy(), eq)
    np.testing.assert_allclose(r.numpy(), er)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_modf_and_frexp(backend, dtype):
    x = backend.asarray(sample("away0", (2, 3), dtype, seed=18) * 3)
    gradcheck(np.modf, x)
    gradcheck(lambda x: np.frexp(x)[0], x)
    gradgradcheck(lambda x: np.modf(x)[0] * x, x, atol=1e-2 if dtype == np.float32 else None,
                  rtol=5e-2 if dtype == np.float32 else None)
    gradgradcheck(lambda x: np.frexp(x)[0] * x, x, atol=1e-2 if dtype == np.float32 else None,
                  rtol=5e-2 if dtype == np.float32 else None)
    host = backend.to_host(x)
    for ufunc in (np.modf, np.frexp):
        got = ufunc(ga.asarray(host, requires_grad=True))
        for g, e in zip(got, ufunc(host)):
            np.testing.assert_array_equal(g.numpy(), e)


# --------------------------------------------------------------------------- kinks and limits
def grad_of(f, *arrays):
    """Gradients of sum(f(...)) with respect to each host array."""
    xs = [ga.asarray(np.asarray(a, dtype=float), requires_grad=True) for a in arrays]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)      # no nan/inf produced along the way
        np.sum(f(*xs)).backward()
    return [np.zeros_like(a, dtype=float) if x.grad is None else x.grad.numpy()
            for a, x in zip(arrays, xs)]


def test_power_at_zero():
    x = np.array([0.0, 1.5, -2.0])
    np.testing.assert_array_equal(grad_of(lambda x: x ** 2, x)[0], 2 * x)
    np.testing.assert_array_equal(grad_of(lambda x: x ** 0, x)[0], [0, 0, 0])
    np.testing.assert_array_equal(grad_of(lambda x: np.power(x, np.array([0.0, 1.0, 2.0])), x)[0],
                                  [0, 1, -4])
    gy = grad_of(lambda y: np.power(0.0, y), np.array([0.5, 2.0]))[0]     # d/dy 0**y, y > 0
    np.testing.assert_array_equal(gy, [0, 0])
    gx, gy = grad_of(np.power, np.array([0.0, 2.0]), np.array([2.0, 3.0]))
    np.testing.assert_allclose(gx, [0, 12])
    np.testing.assert_allclose(gy, [0, 8 * np.log(2)])
    # the second derivative of x**2 at 0 is 2
    h = ga.hessian(lambda x: np.sum(x ** 2))(np.array([0.0, 1.0]))
    np.testing.assert_allclose(np.asarray(h), 2 * np.eye(2))


def test_absolute_and_hypot_at_zero():
    np.testing.assert_array_equal(grad_of(np.abs, np.array([-1.0, 0.0, 2.0]))[0], [-1, 0, 1])
    z = ga.asarray(np.array([0j, 3 + 4j]), requires_grad=True)
    np.sum(np.abs(z)).backward()
    np.testing.assert_allclose(z.grad.numpy(), [0, 0.6 + 0.8j])
    gx, gy = grad_of(np.hypot, np.array([0.0, 3.0]), np.array([0.0, 4.0]))
    np.testing.assert_allclose(gx, [0, 0.6])
    np.testing.assert_allclose(gy, [0, 0.8])


def test_maximum_minimum_ties_and_nan():
    x, y = np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0])
    for f in (np.maximum, np.minimum, np.fmax, np.fmin):
        gx, gy = grad_of(f, x, y)
        np.testing.assert_array_equal(gx + gy, [1, 1, 1])     # ties split half-half
        assert gx[0] == gy[0] == 0.5
    np.testing.assert_array_equal(grad_of(lambda x: np.maximum(x, x), x)[0], [1, 1, 1])
    relu = grad_of(lambda x: np.maximum(x, 0), np.array([-1.0, 0.0, 2.0]))[0]
    np.testing.assert_array_equal(relu, [0, 0.5, 1])
    nan = np.array([np.nan, 1.0])
    gx, gy = grad_of(np.fmax, nan, np.array([2.0, 0.0]))        # fmax returns the non-NaN one
    np.testing.assert_array_equal(gx, [0, 1])
    np.testing.assert_array_equal(gy, [1, 0])
    x = ga.asarray(nan, requires_grad=True)
    np.sum(np.maximum(x, 2.0)).backward()          # maximum returns the NaN: it gets the gradient
    np.testing.assert_array_equal(x.grad.numpy(), [1, 0])


def test_copysign_fmod_remainder_kinks():
    gx, gy = grad_of(np.copysign, np.array([2.0, -2.0, 0.0, 1.0]), np.array([-1.0, -1.0, 1.0, 1.0]))
    np.testing.assert_array_equal(gx, [-1, 1, 0, 1])
    np.testing.assert_array_equal(gy, [0, 0, 0, 0])
    # fmod(1, 0.1) = 0.0999...: the quotient is 9, although 1 / 0.1 rounds to 10
    gx, gy = grad_of(np.fmod, np.array([1.0, -7.0]), np.array([0.1, 2.0]))
    np.testing.assert_array_equal(gx, [1, 1])
    np.testing.assert_array_equal(gy, [-9, 3])
    gx, gy = grad_of(np.remainder, np.array([-7.0, 7.0]), np.array([2.0, 2.0]))
    np.testing.assert_array_equal(gy, [4, -3])


def test_sqrt_at_zero_is_inf():
    x = ga.asarray(np.array([0.0, 4.0]), requires_grad=True)
    with np.errstate(divide="ignore"):
        np.sum(np.sqrt(x)).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [np.inf, 0.25])


# -------------------------------------------------------------------------- non-differentiable
@pytest.mark.parametrize("name", NONDIFF_FLOAT + NONDIFF_FLOAT2)
def test_nondifferentiable_float(name):
    ufunc = getattr(np, name)
    data = [np.array([-1.5, 0.0, 0.5, 2.5, np.nan, np.inf]),
            np.array([1.0, 0.0, -0.5, 2.5, 1.0, np.inf])][:ufunc.nin]
    with np.errstate(all="ignore"):
        expected = ufunc(*data)
        got = ufunc(*[ga.asarray(d, requires_grad=True) for d in data])
    assert not got.requires_grad and got.grad_fn is None
    np.testing.assert_array_equal(got.numpy(), expected)


@pytest.mark.parametrize("name", NONDIFF_INT + NONDIFF_INT2)
def test_nondifferentiable_int(name):
    ufunc = getattr(np, name)
    data = [np.array([1, 6, 12, 7]), np.array([3, 4, 1, 2])][:ufunc.nin]
    got = ufunc(*[ga.asarray(d) for d in data])
    assert not got.requires_grad
    np.testing.assert_array_equal(got.numpy(), ufunc(*data))


def test_isnat():
    d = np.array(["2020-01-01", "NaT"], dtype="datetime64[D]")
    np.testing.assert_array_equal(np.isnat(ga.asarray(d)).numpy(), [False, True])


def test_nondifferentiable_in_a_chain_gives_correct_gradient(backend):
    x = backend.asarray(np.array([-1.3, 0.4, 2.7]))
    gradcheck(lambda x: x * np.floor(x) + np.sign(x) * x ** 2 + (x > 0) * x, x)


# ------------------------------------------------------------------------------ reduce
@pytest.mark.parametrize("name", ["add", "multiply", "maximum", "minimum", "logaddexp",
                                  "logaddexp2", "subtract", "hypot", "fmax", "divide"])
@pytest.mark.parametrize("kw", [{}, {"axis": 1}, {"axis": -1, "keepdims": True}], ids=str)
def test_reduce(backend, name, kw):
    ufunc = getattr(np, name)
    x = backend.asarray(sample("pos", (3, 4), seed=20))
    gradcheck(lambda x: ufunc.reduce(x, **kw), x)
    host = backend.to_host(x)
    np.testing.assert_allclose(ufunc.reduce(ga.asarray(host, requires_grad=True), **kw).numpy(),
                               ufunc.reduce(host, **kw))


@pytest.mark.parametrize("name", ["add", "multiply", "maximum", "logaddexp", "hypot"])
@pytest.mark.parametrize("kw", [{"axis": None}, {"axis": (0, 2)}, {"axis": 0, "initial": 0.5},
                                {"axis": None, "initial": 1.5, "keepdims": True}], ids=str)
def test_reduce_axes_and_initial(backend, name, kw):
    ufunc = getattr(np, name)
    x = backend.asarray(sample("pos", (2, 3, 2), seed=21))
    gradcheck(lambda x: ufunc.reduce(x, **kw), x)
    host = backend.to_host(x)
    np.testing.assert_allclose(ufunc.reduce(ga.asarray(host, requires_grad=True), **kw).numpy(),
                               ufunc.reduce(host, **kw))


def test_reduce_second_order_and_dtype(backend):
    x = backend.asarray(sample("pos", (2, 3), seed=22))
    gradgradcheck(lambda x: np.multiply.reduce(x, axis=1), x)
    gradgradcheck(lambda x: np.logaddexp.reduce(x, axis=0), x)
    y = np.add.reduce(ga.asarray(backend.to_host(x), requires_grad=True), dtype=np.float32)
    assert y.dtype == np.float32


def test_reduce_with_out_and_where(backend):
    x = backend.asarray(sample("pos", (3, 4), seed=23))
    mask = backend.asarray(np.array([True, False, True, True]))

    def f(x):
        o = np.zeros_like(x[0])
        r = np.add.reduce(x, axis=1, where=mask, out=o[:3])
        return r * o[:3]
    gradcheck(f, x)


def test_reduce_nondifferentiable_ufuncs_are_untracked():
    x = ga.asarray(np.array([[0.0, 1.0], [0.0, 0.0]]), requires_grad=True)
    r = np.logical_or.reduce(x, axis=0)
    assert not r.requires_grad
    np.testing.assert_array_equal(r.numpy(), [False, True])
    b = np.bitwise_or.accumulate(ga.asarray(np.array([1, 2, 4])))
    np.testing.assert_array_equal(b.numpy(), [1, 3, 7])


def test_untracked_reduce_returns_gradarray():
    r = np.add.reduce(ga.asarray(np.arange(6.0).reshape(2, 3)))
    assert isinstance(r, ga.GradArray) and not r.requires_grad
    np.testing.assert_array_equal(r.numpy(), [3, 5, 7])


# --------------------------------------------------------------------------- accumulate
@pytest.mark.parametrize("name", ["add", "multiply", "maximum", "minimum", "fmax", "fmin",
                                  "subtract", "logaddexp"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_accumulate(backend, name, axis):
    ufunc = getattr(np, name)
    x = backend.asarray(sample("real", (3, 4), seed=24))
    gradcheck(lambda x: ufunc.accumulate(x, axis=axis), x)
    host = backend.to_host(x)
    np.testing.assert_allclose(ufunc.accumulate(ga.asarray(host, requires_grad=True),
                                                axis=axis).numpy(), ufunc.accumulate(host, axis=axis))


def test_running_maximum_gradient_goes_to_first_argmax():
    gx = grad_of(lambda x: np.maximum.accumulate(x) * np.array([1.0, 10, 100, 1000, 1e4]),
                 np.array([1.0, 3.0, 3.0, 2.0, 5.0]))[0]
    np.testing.assert_array_equal(gx, [1, 1110, 0, 0, 1e4])


def test_accumulate_second_order(backend):
    x = backend.asarray(sample("pos", (2, 3), seed=25))
    gradgradcheck(lambda x: np.multiply.accumulate(x, axis=1) * x, x)
    gradgradcheck(lambda x: np.maximum.accumulate(x, axis=1) * x, x)


# ----------------------------------------------------------------------------------- outer
@pytest.mark.parametrize("name", ["add", "multiply", "arctan2", "power", "maximum"])
def test_outer(backend, name):
    ufunc = getattr(np, name)
    a = backend.asarray(sample("pos", (2, 2), seed=26))
    b = backend.asarray(sample("real", (3,), seed=27))
    gradcheck(ufunc.outer, a, b)
    ha, hb = backend.to_host(a), backend.to_host(b)
    np.testing.assert_allclose(ufunc.outer(ga.asarray(ha, requires_grad=True), hb).numpy(),
                               ufunc.outer(ha, hb))


# -------------------------------------------------------------------------------------- at
def _at(ufunc, index, with_b=True):
    def f(x, v):
        y = x * 1.0                       # a non-leaf copy: leaves refuse in-place writes
        if with_b:
            ufunc.at(y, index, v)
        else:
            ufunc.at(y, index)
        return y * x
    return f


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "maximum", "divide", "hypot"])
@pytest.mark.parametrize("index", [np.array([0, 2, 0, 4, 0]), (slice(1, 4),),
                                   np.array([True, False, True, False, True])], ids=str)
def test_at(backend, name, index):
    ufunc = getattr(np, name)
    x = backend.asarray(sample("pos", (5,), seed=28))
    n = len(np.arange(5)[index])
    v = backend.asarray(sample("pos", (n,), seed=29) + 0.1)
    gradcheck(_at(ufunc, index), x, v)
    hx, hv = backend.to_host(x), backend.to_host(v)
    expected = hx.copy()
    ufunc.at(expected, index, hv)
    got = ga.asarray(hx.copy())
    ufunc.at(got, index, ga.asarray(hv))
    np.testing.assert_allclose(got.numpy(), expected)


def test_at_unary_and_2d(backend):
    x = backend.asarray(sample("pos", (3, 4), seed=30))
    gradcheck(_at(np.negative, ([0, 0, 2], [1, 1, 3]), with_b=False), x, x)
    gradcheck(_at(np.sin, (slice(None), [0, 2]), with_b=False), x, x)
    v = backend.asarray(sample("pos", (4,), seed=31))
    gradcheck(_at(np.add, [0, 2, 0]), x, v)                    # v broadcast over rows
    gradcheck(_at(np.multiply, [1, 1]), x, v)
    gradcheck(_at(np.multiply, [0, 0, 2]), x, 2.5)                   # a scalar operand


def test_at_on_leaf_raises_and_untracked_works():
    x = ga.asarray(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        np.add.at(x, [0, 0], 1.0)
    y = ga.asarray(np.ones(3))
    np.add.at(y, [0, 0], 2.0)
    np.testing.assert_array_equal(y.numpy(), [5, 1, 1])
    with ga.no_grad():
        np.multiply.at(x, [1, 1], 3.0)
    np.testing.assert_array_equal(x.numpy(), [1, 9, 1])


def test_at_into_plain_ndarray_refuses_tracked_value():
    with pytest.raises(TypeError, match="plain ndarray"):
        np.add.at(np.zeros(3), [0], ga.asarray(np.ones(1), requires_grad=True))


# -------------------------------------------------------------------------------- reduceat
@pytest.mark.parametrize("name", ["add", "multiply", "maximum"])
@pytest.mark.parametrize("axis", [0, 1])
def test_reduceat(backend, name, axis):
    ufunc = getattr(np, name)
    x = backend.asarray(sample("pos", (5, 6), seed=32))
    indices = [0, 2, 2, 4, 1]                    # a repeated and a decreasing index
    gradcheck(lambda x: ufunc.reduceat(x, backend.asarray(indices), axis=axis), x)
    host = backend.to_host(x)
    np.testing.assert_allclose(ufunc.reduceat(ga.asarray(host, requires_grad=True), indices,
                                              axis=axis).numpy(),
                               ufunc.reduceat(host, indices, axis=axis))


def test_reduceat_second_order(backend):
    x = backend.asarray(sample("pos", (6,), seed=33))
    indices = backend.asarray(np.array([0, 3, 4]))
    gradgradcheck(lambda x: np.add.reduceat(x * x, indices), x)


# ---------------------------------------------------------------- out=, where=, dtype=, in place
def test_out_argument(backend):
    x = backend.asarray(sample("real", (3,), seed=40))
    y = backend.asarray(sample("real", (3,), seed=41))

    def f(x, y):
        z = np.zeros_like(x)
        r = np.add(x, y, out=z)
        assert r is z
        return z * y
    gradcheck(f, x, y)


def test_out_aliasing_an_input(backend):
    x = backend.asarray(sample("real", (4,), seed=42))
    y = backend.asarray(sample("real", (4,), seed=43))

    def exp_in_place(x):
        z = x * 2.0
        np.exp(z, out=z)
        return z

    def aug(x, y):
        z = x + 0.0
        z += y
        z *= y                                  # multiply saves its inputs: copied before the write
        z -= x
        z /= y * y + 1
        z **= 2
        return z
    gradcheck(exp_in_place, x)
    gradcheck(aug, x, y)
    gradgradcheck(aug, x, y)


def test_where_with_out(backend):
    x = backend.asarray(sample("real", (2, 3), seed=44))
    y = backend.asarray(sample("real", (3,), seed=45))
    host_mask = np.array([True, False, True])
    mask = backend.asarray(host_mask)

    def f(x, y):
        o = x * 3.0
        np.multiply(x, y, where=mask, out=o)
        return o
    gradcheck(f, x, y)
    hx, hy = backend.to_host(x), backend.to_host(y)
    o = ga.asarray(hx * 3.0)
    np.multiply(ga.asarray(hx, requires_grad=True), hy, where=host_mask, out=o)
    expected = hx * 3.0
    np.multiply(hx, hy, where=host_mask, out=expected)
    np.testing.assert_allclose(o.numpy(), expected)


def test_ndarray_inplace_with_gradarray_returns_tracked():
    a = np.ones(3)
    x = ga.asarray(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    a += x
    assert isinstance(a, ga.GradArray) and a.requires_grad
    np.testing.assert_array_equal(a.numpy(), [2, 3, 4])
    np.sum(a * a).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4, 6, 8])


def test_dtype_keyword():
    data = sample("real", (3,), seed=46)
    x = ga.asarray(data, requires_grad=True)
    y = np.add(x, 1.0, dtype=np.float32)
    assert y.dtype == np.float32 and y.requires_grad
    np.testing.assert_allclose(y.numpy(), (data + 1).astype(np.float32), rtol=1e-6)
    np.sum(np.multiply(x, x, dtype=np.float32)).backward()      # float32 forward, float64 grad
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad.numpy(), 2 * data, rtol=1e-6)


def test_inplace_on_leaf_raises():
    x = ga.asarray(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x += 1.0
