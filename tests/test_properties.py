"""Property-based tests (hypothesis): random shapes, axes, indices and compositions, checked against
finite differences (``gradcheck``), the complex step, second order (``gradgradcheck``) and the
agreement of the ways to ask for a gradient (``grad``, ``vjp``, ``jvp``, ``.backward()``).

The example-based files (test_ufuncs, test_reductions, test_indexing, test_shape) pin known cases;
this file draws the cases. Values come from a drawn seed (``rng.uniform`` in a domain where the
function is smooth), shapes/axes/indices from hypothesis strategies, so that shrinking reports a
small shape/axis/index. Settings are deterministic (``derandomize``) for CI.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gradarray as ga
from gradarray.testing import gradcheck, gradgradcheck


def examples(n):
    # the ``backend`` fixture holds no state, so reusing it across examples is safe
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


SEEDS = st.integers(0, 2**32 - 1)
SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)
SHAPES0 = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)     # with 0-d

# Domains where the functions below are smooth (away from kinks, branch cuts and poles).
DOMAINS = {"real": (-2.0, 2.0), "pos": (0.5, 2.0), "unit": (-0.9, 0.9), "gt1": (1.2, 3.0),
           "away0": (0.3, 2.0)}   # away0: random sign


def sample(seed, shape, domain="real", dtype=np.float64):
    rng = np.random.default_rng(seed)
    lo, hi = DOMAINS[domain]
    x = rng.uniform(lo, hi, shape)
    if domain == "away0":
        x = x * rng.choice([-1.0, 1.0], shape)
    return np.asarray(x, dtype=dtype)


def distinct(seed, shape):
    """Values at least 0.1 apart (no ties for max/min, whatever the axis)."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.1 - 0.05 * n + rng.uniform(0, 0.01, n)).reshape(shape)


def host(backend, raw):
    return np.asarray(backend.to_host(raw))


def check(backend, f, *args, **kwargs):
    """``f`` on the backend arrays (tracked) gives NumPy's value and dtype on host; its VJP matches
    finite differences. ``gradcheck`` also asserts every gradient has its input's shape and dtype."""
    expected = np.asarray(f(*[a.copy() if isinstance(a, np.ndarray) else a for a in args]))
    dev = [backend.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
    wrt = [i for i, a in enumerate(args) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    out, _ = ga.vjp(lambda *xs: f(*[xs[wrt.index(i)] if i in wrt else a for i, a in enumerate(dev)]),
                    *[dev[i] for i in wrt])
    got = host(backend, out)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-6 if got.dtype == np.float32 else 1e-12)
    gradcheck(f, *dev, argnums=wrt, **kwargs)


# ------------------------------------------------------------------------------ binary ufuncs
# name: (domain of x1, domain of x2)
BINARY = {
    "add": ("real", "real"), "subtract": ("real", "real"), "multiply": ("real", "real"),
    "divide": ("real", "away0"), "power": ("pos", "real"), "maximum": ("real", "real"),
    "minimum": ("real", "real"), "hypot": ("away0", "away0"), "arctan2": ("away0", "away0"),
    "logaddexp": ("real", "real"),
}
BROADCAST_PAIRS = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)


@pytest.mark.parametrize("name", sorted(BINARY))
@examples(15)
@given(shapes=BROADCAST_PAIRS, seed=SEEDS)
def test_binary_ufunc_broadcasting(backend, name, shapes, seed):
    (s1, s2), (d1, d2) = shapes.input_shapes, BINARY[name]
    x, y = sample(seed, s1, d1), sample(seed + 1, s2, d2)
    check(backend, getattr(np, name), x, y)      # gradients are summed back to s1 and s2


@pytest.mark.parametrize("name", sorted(BINARY))
@examples(8)
@given(shapes=BROADCAST_PAIRS, seed=SEEDS,
       dtypes=st.tuples(*[st.sampled_from([np.float32, np.float64])] * 2))
def test_binary_ufunc_mixed_precision(backend, name, shapes, seed, dtypes):
    """float32 with float64: the result is float64 as in NumPy, each gradient has its input's dtype."""
    (s1, s2), (d1, d2) = shapes.input_shapes, BINARY[name]
    x, y = sample(seed, s1, d1, dtypes[0]), sample(seed + 1, s2, d2, dtypes[1])
    check(backend, getattr(np, name), x, y)


@pytest.mark.parametrize("name", sorted(BINARY))
@examples(6)
@given(shape=SHAPES0, seed=SEEDS, left=st.booleans())
def test_binary_ufunc_with_python_scalar(backend, name, shape, seed, left):
    d1, d2 = BINARY[name]
    x = sample(seed, shape, d1 if left else d2)
    c = float(sample(seed + 1, (), d2 if left else d1))
    ufunc = getattr(np, name)
    check(backend, (lambda x: ufunc(x, c)) if left else (lambda x: ufunc(c, x)), x)


# ------------------------------------------------------------------------------ unary ufuncs
# Real-analytic on the domain: the complex step Im f(x + ih)/h is exact to rounding, so the rule is
# checked to ~1e-10 relative instead of the ~1e-5 of central differences.
ANALYTIC = {
    "sin": "real", "cos": "real", "tan": "unit", "exp": "real", "exp2": "real", "expm1": "real",
    "log": "pos", "log2": "pos", "log10": "pos", "log1p": "pos", "sqrt": "pos", "square": "real",
    "reciprocal": "away0", "sinh": "real", "cosh": "real", "tanh": "real", "arcsin": "unit",
    "arccos": "unit", "arctan": "real", "arcsinh": "real", "arccosh": "gt1", "arctanh": "unit",
}


@pytest.mark.parametrize("name", sorted(ANALYTIC))
@examples(8)
@given(shape=SHAPES0, seed=SEEDS)
def test_unary_ufunc_complex_step(backend, name, shape, seed):
    x = sample(seed, shape, ANALYTIC[name])
    check(backend, getattr(np, name), x, complex_step=True, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", sorted(ANALYTIC))
@examples(4)
@given(shape=SHAPES0, seed=SEEDS)
def test_unary_ufunc_float32(backend, name, shape, seed):
    check(backend, getattr(np, name), sample(seed, shape, ANALYTIC[name], np.float32))


# ------------------------------------------------------------------------------ reductions
@st.composite
def shape_axis(draw, tuples=True):
    """(shape, axis): axis is None, an int (maybe negative) or, with ``tuples``, a tuple of axes."""
    shape = draw(SHAPES)
    kinds = ["none", "int", "tuple"] if tuples else ["none", "int"]
    kind = draw(st.sampled_from(kinds))
    if kind == "none":
        return shape, None
    if kind == "int":
        return shape, draw(st.integers(-len(shape), len(shape) - 1))
    return shape, draw(hnp.valid_tuple_axes(len(shape)))


def reduced_count(shape, axis):
    if axis is None:
        return int(np.prod(shape))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return int(np.prod([shape[a] for a in axes]))


@pytest.mark.parametrize("name", ["sum", "mean", "prod", "var", "std"])
@examples(30)
@given(sa=shape_axis(), keepdims=st.booleans(), seed=SEEDS, ddof=st.sampled_from([0, 1]))
def test_smooth_reductions(backend, name, sa, keepdims, seed, ddof):
    shape, axis = sa
    kwargs = {"axis": axis, "keepdims": keepdims}
    if name in ("var", "std"):
        # N - ddof <= 0 gives inf/NaN (as in NumPy); N = 1, ddof = 0: std is identically 0 and its
        # gradient must be 0, not NaN
        if reduced_count(shape, axis) <= ddof:
            ddof = 0
        kwargs["ddof"] = ddof
    x = sample(seed, shape, "away0" if name == "prod" else "real")
    func = getattr(np, name)
    check(backend, lambda x: func(x, **kwargs), x)


@pytest.mark.parametrize("name", ["prod", "cumprod"])
@examples(20)
@given(sa=shape_axis(tuples=False), seed=SEEDS,
       zeros=st.lists(st.integers(0, 26), min_size=1, max_size=2))
def test_products_with_exact_zeros(backend, name, sa, seed, zeros):
    """prod is a polynomial: smooth at zeros too (one zero, or two in the same product)."""
    shape, axis = sa
    x = sample(seed, shape, "away0")
    x.reshape(-1)[[z % x.size for z in zeros]] = 0.0
    func = getattr(np, name)
    check(backend, lambda x: func(x, axis=axis), x)


@pytest.mark.parametrize("name", ["max", "min"])
@examples(25)
@given(sa=shape_axis(), keepdims=st.booleans(), seed=SEEDS)
def test_max_min_without_ties(backend, name, sa, keepdims, seed):
    shape, axis = sa
    func = getattr(np, name)
    check(backend, lambda x: func(x, axis=axis, keepdims=keepdims), distinct(seed, shape))


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
@examples(20)
@given(sa=shape_axis(tuples=False), seed=SEEDS)
def test_cumulative(backend, name, sa, seed):
    shape, axis = sa
    func = getattr(np, name)
    x = sample(seed, shape, "away0" if name == "cumprod" else "real")
    check(backend, lambda x: func(x, axis=axis), x)


@pytest.mark.parametrize("name", ["sum", "mean", "var", "max"])
@examples(8)
@given(sa=shape_axis(), keepdims=st.booleans(), seed=SEEDS)
def test_reductions_float32(backend, name, sa, keepdims, seed):
    shape, axis = sa
    func = getattr(np, name)
    x = distinct(seed, shape).astype(np.float32)
    check(backend, lambda x: func(x, axis=axis, keepdims=keepdims), x)


# ------------------------------------------------------------------------------ indexing
@st.composite
def basic_index(draw):
    """(shape, index): ints, slices (negative steps, out-of-range bounds), None, Ellipsis; some
    shapes have a zero-size dimension."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3))
    index = draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    return shape, index


@st.composite
def array_index(draw):
    """Integer arrays (negative and repeated entries) on k leading dims, optionally after a slice."""
    shape = draw(SHAPES)
    lead = draw(st.booleans()) and len(shape) > 1          # x[:, i, j] instead of x[i, j]
    rest = shape[1:] if lead else shape
    k = draw(st.integers(1, len(rest)))
    arrays = draw(hnp.integer_array_indices(
        rest[:k], result_shape=hnp.array_shapes(min_dims=0, max_dims=2, max_side=3)))
    return shape, ((slice(None),) if lead else ()) + tuple(arrays)


def value_shape(draw, target):
    """A shape that broadcasts to ``target`` in an assignment: some dims 1, leading dims dropped."""
    dims = [draw(st.sampled_from([n, 1])) for n in target]
    return tuple(dims[draw(st.integers(0, len(dims))):])


def on_backend(backend, index):
    items = index if isinstance(index, tuple) else (index,)
    return tuple(backend.asarray(i) if isinstance(i, np.ndarray) else i for i in items)


def writes(index, mode):
    """f(x, v): write v at index into a copy of x; the result depends non-linearly on both.

    assign: ``y[index] = v``; iadd: ``y[index] += v * v`` (read, add, write: with repeated indices
    NumPy keeps one write); through: ``y[index][...] = v``, a write into a view of y for basic
    indices and into a copy (y unchanged) for integer arrays.
    """
    def f(x, v):
        y = x * 1.0
        if mode == "assign":
            y[index] = v
        elif mode == "iadd":
            y[index] += v * v
        else:
            w = y[index]
            w[...] = v
        return y * x
    return f


@examples(40)
@given(si=st.one_of(basic_index(), array_index()), seed=SEEDS)
def test_getitem(backend, si, seed):
    shape, index = si
    x = sample(seed, shape)
    # host index for the NumPy reference, backend index for the tracked run
    expected = x[index]
    dev_index = on_backend(backend, index)
    out, _ = ga.vjp(lambda x: x[dev_index], backend.asarray(x))
    np.testing.assert_array_equal(host(backend, out), expected)
    gradcheck(lambda x: x[dev_index], backend.asarray(x))


@pytest.mark.parametrize("mode", ["assign", "iadd", "through"])
@examples(40)
@given(si=st.one_of(basic_index(), array_index()), seed=SEEDS, data=st.data())
def test_setitem(backend, mode, si, seed, data):
    """Gradient w.r.t. the target (overwritten part gets none) and the value (repeated integer
    indices: only the write NumPy kept)."""
    shape, index = si
    x = sample(seed, shape)
    assume(mode != "through" or not isinstance(x[index], np.generic))   # a scalar copy: not writable
    v = sample(seed + 1, value_shape(data.draw, x[index].shape))
    expected = writes(index, mode)(x, v)
    f = writes(on_backend(backend, index), mode)
    out, _ = ga.vjp(f, backend.asarray(x), backend.asarray(v))
    np.testing.assert_allclose(host(backend, out), expected, rtol=1e-12)
    gradcheck(f, backend.asarray(x), backend.asarray(v))


# ------------------------------------------------------------------------------ shape functions
@st.composite
def reshape_target(draw):
    """(shape, new shape): the dims shuffled with 1s inserted, maybe one of them written as -1."""
    shape = draw(SHAPES)
    dims = list(draw(st.permutations(shape))) + [1] * draw(st.integers(0, 2))
    dims = draw(st.permutations(dims))
    if draw(st.booleans()):
        dims[draw(st.integers(0, len(dims) - 1))] = -1
    return shape, tuple(dims)


@pytest.mark.parametrize("order", ["C", "F"])
@examples(25)
@given(shape_new=reshape_target(), seed=SEEDS)
def test_reshape(backend, order, shape_new, seed):
    shape, new = shape_new
    check(backend, lambda x: np.reshape(x, new, order=order), sample(seed, shape))


@st.composite
def transpose_axes(draw):
    shape = draw(SHAPES)
    if draw(st.booleans()):
        return shape, None
    perm = draw(st.permutations(range(len(shape))))
    return shape, tuple(a - len(shape) if draw(st.booleans()) else a for a in perm)


@examples(25)
@given(sa=transpose_axes(), seed=SEEDS)
def test_transpose(backend, sa, seed):
    shape, axes = sa
    # the function and the method (reached through .T twice); the product makes it non-linear
    check(backend, lambda x: np.transpose(x, axes) * x.T.T.transpose(axes), sample(seed, shape))


@st.composite
def concat_shapes(draw):
    """Shapes equal except along ``axis`` (None: anything, arrays are flattened)."""
    base = draw(SHAPES)
    n = draw(st.integers(1, 3))
    if draw(st.booleans()):
        return [draw(SHAPES0) for _ in range(n)], None
    axis = draw(st.integers(-len(base), len(base) - 1))
    shapes = []
    for _ in range(n):
        s = list(base)
        s[axis] = draw(st.integers(0, 3))          # an empty piece is allowed
        shapes.append(tuple(s))
    return shapes, axis


@examples(25)
@given(sa=concat_shapes(), seed=SEEDS)
def test_concatenate(backend, sa, seed):
    shapes, axis = sa
    xs = [sample(seed + i, s) for i, s in enumerate(shapes)]
    check(backend, lambda *xs: np.concatenate(xs, axis=axis), *xs)


@examples(25)
@given(shape=SHAPES0, n=st.integers(1, 3), data=st.data(), seed=SEEDS)
def test_stack(backend, shape, n, data, seed):
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)), label="axis")
    xs = [sample(seed + i, shape) for i in range(n)]
    check(backend, lambda *xs: np.stack(xs, axis=axis), *xs)


# ------------------------------------------------------------------------------ compositions
# Smooth maps of the reals (programs that blow up are skipped by ``moderate``).
UNARY_STEPS = {
    "sin": np.sin, "cos": np.cos, "tanh": np.tanh, "arctan": np.arctan, "exp": np.exp,
    "square": np.square, "softplus": lambda u: np.logaddexp(u, 0.0),
    "sqrt1p": lambda u: np.sqrt(1.0 + u * u), "log1p_sq": lambda u: np.log1p(u * u),
}
# Ways of mixing in the second input y (broadcast against u).
BINARY_STEPS = {
    "add": np.add, "multiply": np.multiply, "subtract": np.subtract,
    "divide": lambda u, y: u / (1.0 + y * y), "hypot": lambda u, y: np.hypot(u, 1.0 + y * y),
    "arctan2": lambda u, y: np.arctan2(u, 2.0 + np.cos(y)),
}


@st.composite
def composition(draw):
    """A random program ``f(x, y)`` of 2-4 steps on x, mixing in y (broadcast)."""
    steps = draw(st.lists(st.one_of(st.sampled_from(sorted(UNARY_STEPS)),
                                    st.sampled_from(sorted(BINARY_STEPS))), min_size=2, max_size=4))

    def f(x, y):
        u = x
        for s in steps:
            u = UNARY_STEPS[s](u) if s in UNARY_STEPS else BINARY_STEPS[s](u, y)
        return u * y if not any(s in BINARY_STEPS for s in steps) else u
    f.__name__ = "->".join(steps)
    return f


SMALL_PAIRS = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3)


def moderate(f, x, y):
    """Skip programs that blow up (exp of exp of a square...): differences need moderate values."""
    with np.errstate(all="ignore"):
        assume(np.all(np.abs(f(x, y)) < 1e3))


@examples(40)
@given(f=composition(), shapes=SMALL_PAIRS, seed=SEEDS)
def test_second_order_of_compositions(backend, f, shapes, seed):
    s1, s2 = shapes.input_shapes
    x, y = sample(seed, s1, "unit"), sample(seed + 1, s2, "unit")
    moderate(f, x, y)
    gradgradcheck(f, backend.asarray(x), backend.asarray(y))


# ------------------------------------------------------------------------------ invariants
@examples(40)
@given(f=composition(), shapes=SMALL_PAIRS, seed=SEEDS)
def test_grad_vjp_backward_agree(backend, f, shapes, seed):
    """grad of sum(f) == vjp with a cotangent of ones == .grad after sum(f).backward()."""
    s1, s2 = shapes.input_shapes
    x, y = sample(seed, s1, "unit"), sample(seed + 1, s2, "unit")
    moderate(f, x, y)
    x, y = backend.asarray(x), backend.asarray(y)
    g_grad = ga.grad(lambda x: np.sum(f(x, y)))(x)
    out, pullback = ga.vjp(lambda x: f(x, y), x)
    (g_vjp,) = pullback(np.ones_like(out))
    X = ga.asarray(x, requires_grad=True)
    np.sum(f(X, y)).backward()
    g_backward = X.grad._data
    for g in (g_grad, g_vjp, g_backward):
        assert g.shape == x.shape and g.dtype == x.dtype
    np.testing.assert_allclose(host(backend, g_grad), host(backend, g_vjp), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(host(backend, g_grad), host(backend, g_backward), rtol=1e-13,
                               atol=1e-14)


@examples(30)
@given(f=composition(), shapes=SMALL_PAIRS, seed=SEEDS)
def test_jvp_is_adjoint_of_vjp_and_a_directional_derivative(backend, f, shapes, seed):
    """<v, J t> == <J^T v, t>, and J t == (f(x + e t) - f(x - e t)) / 2e."""
    s1, s2 = shapes.input_shapes
    x, y = sample(seed, s1, "unit"), sample(seed + 1, s2, "unit")
    moderate(f, x, y)
    rng = np.random.default_rng(seed + 2)
    tx, ty = rng.standard_normal(s1), rng.standard_normal(s2)
    dev = [backend.asarray(a) for a in (x, y, tx, ty)]
    out, jt = ga.jvp(f, dev[:2], dev[2:])
    out = host(backend, out)
    v = rng.standard_normal(out.shape)
    _, pullback = ga.vjp(f, *dev[:2])
    gx, gy = (host(backend, g) for g in pullback(backend.asarray(v)))
    jt = host(backend, jt)
    assert jt.shape == out.shape
    np.testing.assert_allclose(np.sum(v * jt), np.sum(gx * tx) + np.sum(gy * ty), rtol=1e-10,
                               atol=1e-10)
    e = 1e-6
    fd = (f(x + e * tx, y + e * ty) - f(x - e * tx, y - e * ty)) / (2 * e)
    np.testing.assert_allclose(jt, fd, rtol=1e-5, atol=1e-6)
