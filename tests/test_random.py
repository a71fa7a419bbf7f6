"""numpy.random with tracked parameters (gradarray/random.py): NumPy's values bit for bit,
reparameterised gradients, clear errors elsewhere, and np.random unchanged for untracked use."""
import copy
import pickle
import warnings

import numpy as np
import numpy.random._generator as _generator_module
import pytest

import gradarray as ga
from gradarray.random import TrackedGenerator, TrackedRandomState
from gradarray.testing import gradcheck, gradgradcheck

GEN = lambda seed=3: np.random.default_rng(seed)          # noqa: E731
RS = lambda seed=3: np.random.RandomState(seed)           # noqa: E731


class Legacy:
    """The legacy module-level functions, seeded like a generator."""

    def __init__(self, seed=3):
        np.random.seed(seed)

    def __getattr__(self, name):
        return getattr(np.random, name)


MAKERS = {"Generator": GEN, "RandomState": RS, "legacy": Legacy}

# method: parameter values (broadcasting shapes), and the standard noise it is built on
PARAMS = {
    "normal": ([0.5, -1.0, 2.0], [[0.3], [1.5]]),
    "laplace": ([0.5, -1.0, 2.0], [[0.3], [1.5]]),
    "gumbel": ([0.5, -1.0, 2.0], [[0.3], [1.5]]),
    "logistic": ([0.5, -1.0, 2.0], [[0.3], [1.5]]),
    "lognormal": ([0.1, -0.4, 0.3], [[0.3], [0.6]]),
    "uniform": ([0.5, -1.0, 2.0], [[2.5], [4.0]]),
    "exponential": ([[0.3, 1.5, 2.0], [0.7, 0.2, 1.1]],),
}
NOISE = {"normal": ("normal", (0.0, 1.0)), "laplace": ("laplace", (0.0, 1.0)),
         "gumbel": ("gumbel", (0.0, 1.0)), "logistic": ("logistic", (0.0, 1.0)),
         "lognormal": ("normal", (0.0, 1.0)), "uniform": ("uniform", (0.0, 1.0)),
         "exponential": ("exponential", (1.0,))}


@pytest.fixture(autouse=True)
def no_gradient_lost():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ga.GradientLostWarning)
        yield


def _tracked(values):
    return [ga.asarray(np.asarray(v, dtype=float), requires_grad=True) for v in values]


def _next(sampler):
    return sampler.random() if isinstance(sampler, np.random.Generator) else sampler.random_sample()


# ------------------------------------------------------------------------------- values
@pytest.mark.parametrize("maker", sorted(MAKERS))
@pytest.mark.parametrize("method", sorted(PARAMS))
@pytest.mark.parametrize("size", [None, (4, 2, 3)])
def test_values_equal_numpy_bit_for_bit(maker, method, size):
    make = MAKERS[maker]
    plain = PARAMS[method]
    got_sampler = make()
    got = getattr(got_sampler, method)(*_tracked(plain), size=size)
    after_got = _next(got_sampler)
    ref_sampler = make()
    ref = getattr(ref_sampler, method)(*plain, size=size)
    after_ref = _next(ref_sampler)
    assert type(got) is ga.GradArray and got.requires_grad
    assert got.shape == np.shape(ref) and got.dtype == np.float64
    assert np.array_equal(got.data, ref)                          # exact, not close
    assert after_got == after_ref                                 # the state moved as NumPy's


@pytest.mark.parametrize("maker", ["Generator", "RandomState"])
@pytest.mark.parametrize("method", sorted(PARAMS))
def test_formula_on_the_noise_reproduces_numpy(maker, method):
    """The gradient's formula uses NumPy's own internal draws: it reproduces the sample (on x86-64
    builds exactly; allow rounding elsewhere)."""
    make = MAKERS[maker]
    params = [np.asarray(p, dtype=float) for p in PARAMS[method]]
    ref = getattr(make(), method)(*params, size=(50, 2, 3))
    noise_method, standard = NOISE[method]
    e = getattr(make(), noise_method)(*standard, (50, 2, 3))
    p = params
    formula = {"lognormal": lambda: np.exp(p[0] + p[1] * e),
               "uniform": lambda: p[0] + (p[1] - p[0]) * e,
               "exponential": lambda: p[0] * e}.get(method, lambda: p[0] + p[1] * e)()
    np.testing.assert_allclose(formula, ref, rtol=1e-14, atol=0)


@pytest.mark.parametrize("method", ["svd", "eigh", "cholesky", "legacy"])
def test_multivariate_formula_uses_numpys_factorisation(method):
    """mean + z @ A with NumPy's own factor (Generator: (u sqrt(s))^T, (V sqrt|w|)^T, L^T;
    RandomState: sqrt(s) vh) and the standard normals NumPy draws reproduces its sample."""
    cov = _cov(B)
    make = RS if method == "legacy" else GEN
    kwargs = {} if method == "legacy" else {"method": method}
    ref = make().multivariate_normal(MEAN, cov, size=200, **kwargs)
    z = make().standard_normal((200, 3))
    if method == "eigh":
        w, V = np.linalg.eigh(cov)
        A = (V * np.sqrt(np.abs(w))).T
    elif method == "cholesky":
        A = np.linalg.cholesky(cov).T
    else:
        u, s, vh = np.linalg.svd(cov)
        A = (u * np.sqrt(s)).T if method == "svd" else np.sqrt(s)[:, None] * vh
    np.testing.assert_allclose(MEAN + z @ A, ref, rtol=1e-12, atol=1e-14)


def test_scalar_parameters_and_mixed_tracked_untracked():
    mu = ga.asarray(0.7, requires_grad=True)
    x = GEN().normal(mu, 2.0)
    assert x.shape == () and x.data == GEN().normal(0.7, 2.0)
    y = RS().uniform(low=mu, high=[3.0, 4.0], size=(5, 2))      # keywords, lists, broadcasting
    assert np.array_equal(y.data, RS().uniform(0.7, [3.0, 4.0], size=(5, 2)))
    z = GEN().normal([mu, mu * 2], 1.0)                          # a list holding GradArrays
    assert np.array_equal(z.data, GEN().normal([0.7, 1.4], 1.0))
    np.sum(z).backward()
    assert mu.grad == 3.0


# ------------------------------------------------------------------------------- gradients
def test_gradients_match_the_analytic_reparameterisation():
    loc, scale = _tracked([[0.5, -1.0, 2.0], [[0.3], [1.5]]])
    x = GEN().normal(loc, scale, size=(4, 2, 3))
    np.sum(x).backward()
    z = GEN().standard_normal((4, 2, 3))
    np.testing.assert_array_equal(loc.grad, np.full(3, 8.0))
    np.testing.assert_allclose(scale.grad, np.sum(z, axis=(0, 2))[:, None], rtol=1e-13)

    mean, sigma = _tracked([0.2, 0.4])
    x = RS().lognormal(mean, sigma, size=100)
    np.sum(x).backward()
    z = RS().standard_normal(100)
    np.testing.assert_allclose(mean.grad, np.sum(x.data), rtol=1e-13)
    np.testing.assert_allclose(sigma.grad, np.sum(x.data * z), rtol=1e-13)

    low, high = _tracked([1.0, 3.0])
    u = GEN().random(100)
    np.sum(GEN().uniform(low, high, size=100)).backward()
    np.testing.assert_allclose([low.grad, high.grad], [np.sum(1 - u), np.sum(u)], rtol=1e-13)

    (scale,) = _tracked([2.0])
    np.sum(RS().exponential(scale, size=100)).backward()
    np.testing.assert_allclose(scale.grad, np.sum(RS().standard_exponential(100)), rtol=1e-13)

    for method in ("laplace", "gumbel", "logistic"):
        loc, scale = _tracked([0.5, 1.5])
        x = getattr(GEN(), method)(loc, scale, size=100)
        np.sum(x).backward()
        assert loc.grad == 100.0
        np.testing.assert_allclose(scale.grad, np.sum((x.data - 0.5) / 1.5), rtol=1e-12)


@pytest.mark.parametrize("maker", sorted(MAKERS))
@pytest.mark.parametrize("method", sorted(PARAMS))
def test_gradcheck_with_reseeding(maker, method):
    make = MAKERS[maker]

    def f(*params):
        return getattr(make(11), method)(*params, size=(3, 2, 3))    # same variates every call

    gradcheck(f, *[np.asarray(p, dtype=float) for p in PARAMS[method]])


def test_second_derivatives_through_the_formula():
    def f(mean, sigma):
        return np.random.default_rng(5).lognormal(mean, sigma, size=4)
    gradgradcheck(f, np.array([0.1, -0.2, 0.3, 0.0]), np.array(0.4))


# ------------------------------------------------------------------------- multivariate normal
B = np.array([[1.0, 0.3, 0.0], [0.2, 0.7, 0.1], [0.0, 0.4, 1.2]])
MEAN = np.array([1.0, -1.0, 0.5])
MVN_CASES = [("Generator", {"method": "svd"}), ("Generator", {}), ("Generator", {"method": "eigh"}),
             ("Generator", {"method": "cholesky"}), ("RandomState", {}), ("legacy", {})]


def _cov(b):
    return b @ b.T + 0.1 * np.eye(3)


@pytest.mark.parametrize("maker, kwargs", MVN_CASES)
@pytest.mark.parametrize("size", [None, 5, (2, 3)])
def test_multivariate_normal_values_and_gradients(maker, kwargs, size):
    make = MAKERS[maker]
    mean, cov = _tracked([MEAN, _cov(B)])
    x = make().multivariate_normal(mean, cov, size=size, **kwargs)
    ref = make().multivariate_normal(MEAN, _cov(B), size=size, **kwargs)
    assert np.array_equal(x.data, ref) and x.shape == ref.shape
    np.sum(x * x).backward()
    assert np.all(np.isfinite(cov.grad)) and mean.grad.shape == (3,)

    def f(b, m):          # symmetric covariances: cov = b b^T + 0.1 I
        return make(4).multivariate_normal(m, b @ b.T + 0.1 * np.eye(3), size=size, **kwargs)
    gradcheck(f, B, MEAN)


@pytest.mark.parametrize("maker, kwargs", MVN_CASES)
def test_multivariate_normal_repeated_eigenvalues_finite_and_unbiased(maker, kwargs):
    """cov = 2 I: the svd/eigh factor has no derivative there; the gradient stays finite and its
    mean is the gradient of the expectation, E[x0 x1 + x2^2] = C01 + C22."""
    cov = ga.asarray(2.0 * np.eye(3), requires_grad=True)
    x = MAKERS[maker](0).multivariate_normal(np.zeros(3), cov, size=40000, **kwargs)
    np.mean(x[:, 0] * x[:, 1] + x[:, 2] ** 2).backward()
    g = cov.grad
    sym = g + g.T - np.diag(np.diag(g))     # d/dC for a symmetric perturbation of each pair
    np.testing.assert_allclose(sym[1, 0], 1.0, atol=0.05)
    np.testing.assert_allclose(sym[2, 2], 1.0, atol=0.05)
    np.testing.assert_allclose([sym[2, 0], sym[2, 1], sym[0, 0]], 0.0, atol=0.05)


@pytest.mark.parametrize("method", ["svd", "eigh"])
def test_multivariate_normal_second_derivatives(method):
    def f(b):
        cov = b @ b.T + 0.1 * np.eye(3)
        return np.random.default_rng(4).multivariate_normal(np.zeros(3), cov, 3, method=method)
    gradgradcheck(f, B)


def test_multivariate_normal_keeps_numpys_checks():
    cov = ga.asarray([[1.0, 2.0], [2.0, 1.0]], requires_grad=True)   # not PSD
    with pytest.warns(RuntimeWarning, match="positive-semidefinite"):
        GEN().multivariate_normal([0.0, 0.0], cov)
    with pytest.raises(ValueError, match="mean and cov must have same length"):
        GEN().multivariate_normal(ga.asarray([0.0], requires_grad=True), cov)


# ------------------------------------------------------------------------------- gathers
def test_choice_permutation_shuffle_permuted_gather_exactly():
    data = np.arange(21.0).reshape(7, 3) ** 1.5
    for make in (GEN, RS):
        a = ga.asarray(data[:, 0], requires_grad=True)
        got = make().choice(a, size=(4, 2), p=np.full(7, 1 / 7))
        assert np.array_equal(got.data, make().choice(data[:, 0], size=(4, 2), p=np.full(7, 1 / 7)))
        np.sum(got).backward()
        assert a.grad.sum() == 8
        single = make().choice(ga.asarray(data[:, 1]))
        assert single.data == make().choice(data[:, 1])
        x = ga.asarray(data, requires_grad=True)
        assert np.array_equal(make().permutation(x).data, make().permutation(data))
        y = x * 1.0
        make().shuffle(y)
        ref = data.copy()
        make().shuffle(ref)
        assert np.array_equal(y.data, ref)
        np.sum(y * np.arange(3)).backward()
        np.testing.assert_array_equal(x.grad, np.broadcast_to(np.arange(3.0), (7, 3)))
    for make in (GEN, RS):                       # a list holding GradArrays, reordered in place
        items = [ga.asarray(v, requires_grad=True) for v in data[:, 0]]
        ref = list(data[:, 0])
        make().shuffle(items)
        make().shuffle(ref)
        assert [float(v.data) for v in items] == ref
    x = ga.asarray(data, requires_grad=True)
    got = GEN().choice(x, size=2, axis=1, replace=False, shuffle=False)
    ref = GEN().choice(data, size=2, axis=1, replace=False, shuffle=False)
    assert np.array_equal(got.data, ref)
    for axis in (None, 0, 1):
        for layout in (data, np.asfortranarray(data)):
            x = ga.asarray(layout, requires_grad=True)
            ref = GEN().permuted(layout, axis=axis)
            assert np.array_equal(GEN().permuted(x, axis=axis).data, ref)
    gradcheck(lambda v: np.random.default_rng(2).permuted(v, axis=1), data)


# ------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("call, label, param", [
    (lambda t: GEN().gamma(t), "Generator.gamma", "shape"),
    (lambda t: GEN().beta(1.0, t), "Generator.beta", "b"),
    (lambda t: RS().poisson(t), "RandomState.poisson", "lam"),
    (lambda t: GEN().binomial(10, t * 0.1), "Generator.binomial", "p"),
    (lambda t: GEN().standard_t(t), "Generator.standard_t", "df"),
    (lambda t: GEN().choice(3, p=np.stack([t, t, t]) / (3 * t)), "Generator.choice", "p"),
    (lambda t: np.random.gamma(t), "numpy.random.gamma", "shape"),
    (lambda t: np.random.standard_t(df=t), "numpy.random.standard_t", "df"),
    (lambda t: GEN().multivariate_normal([0.0], [[1.0]], tol=t), "Generator.multivariate_normal",
     "tol"),
])
def test_tracked_parameter_without_reparameterisation_is_refused(call, label, param):
    t = ga.asarray(2.0, requires_grad=True)
    message = rf"{label}: parameter '{param}'.*no reparameterised gradient"
    with pytest.raises(TypeError, match=message):
        call(t)


def test_untracked_gradarrays_and_no_grad_give_numpys_values():
    u = ga.asarray([2.0, 3.0])                                 # not tracked
    assert np.array_equal(GEN().gamma(u), GEN().gamma([2.0, 3.0]))
    t = ga.asarray([2.0, 3.0], requires_grad=True)
    with ga.no_grad():
        assert np.array_equal(RS().poisson(t), RS().poisson([2.0, 3.0]))
        assert np.array_equal(GEN().normal(t).data, GEN().normal([2.0, 3.0]))
    out = ga.zeros(4)
    assert GEN().standard_normal(out=out) is out
    assert np.array_equal(out.data, GEN().standard_normal(4))
    assert np.array_equal(RS().rand(ga.asarray(3)), RS().rand(3))


# ------------------------------------------------------------------------------- trace_numpy
def test_inside_trace_numpy():
    @ga.trace_numpy
    def simulate(mu):
        np.random.seed(0)
        out = np.zeros(6)
        for i in range(1, 6):
            out[i] = out[i - 1] + np.random.normal(mu, 0.5)
        noise = np.random.default_rng(1).normal(np.zeros(6), 1.0)    # untracked GradArray params
        plain = np.random.rand(2)
        assert type(plain) is np.ndarray
        return np.sum(out ** 2) + np.sum(noise) * 0.0

    def reference(mu):
        np.random.seed(0)
        out, acc = [0.0], 0.0
        for _ in range(5):
            acc = acc + np.random.normal(mu, 0.5)
            out.append(acc)
        return np.sum(np.array(out) ** 2)

    mu = ga.asarray(0.3, requires_grad=True)
    value = simulate(mu)
    assert value.data == reference(0.3)
    value.backward()
    gradcheck(simulate, np.array(0.3))
    with ga.trace_numpy():
        rng = np.random.default_rng(0)
        x = rng.multivariate_normal(ga.asarray(MEAN, requires_grad=True), _cov(B), size=2)
        ref = np.random.default_rng(0).multivariate_normal(MEAN, _cov(B), 2)
        assert np.array_equal(x.data, ref)
        assert np.random.default_rng(0).integers(5, size=3).dtype == np.int64


# ------------------------------------------------------------------------- numpy.random intact
def test_numpy_random_unchanged_for_untracked_use():
    rng = np.random.default_rng(0)
    assert type(rng) is TrackedGenerator and np.random.Generator is TrackedGenerator
    assert np.random.RandomState is TrackedRandomState
    assert repr(rng).startswith("Generator(PCG64)")
    plain = _generator_module.Generator(np.random.PCG64(0))
    assert isinstance(rng, np.random.Generator) and isinstance(plain, np.random.Generator)
    assert isinstance(np.random.mtrand._rand, np.random.RandomState)
    assert issubclass(_generator_module.Generator, np.random.Generator)
    assert np.array_equal(rng.normal(size=5), plain.normal(size=5))
    assert type(rng.normal(size=3)) is np.ndarray and type(rng.normal()) is float
    assert np.random.default_rng(rng) is rng
    assert all(type(g) is TrackedGenerator for g in rng.spawn(2))
    for sampler in (rng, np.random.RandomState(5)):
        for duplicate in (lambda s: pickle.loads(pickle.dumps(s)), copy.deepcopy):
            clone = duplicate(sampler)
            assert type(clone) is type(sampler)
            assert np.array_equal(clone.uniform(size=4), sampler.uniform(size=4))
    assert pickle.loads(pickle.dumps(np.random.normal)) is np.random.normal
    assert pickle.loads(pickle.dumps(np.random.Generator)) is np.random.Generator
    original = np.random.normal.__gradarray_original__
    np.random.seed(3)
    a = np.random.normal(1.0, 2.0, 4)
    np.random.seed(3)
    assert np.array_equal(a, original(1.0, 2.0, 4))


def test_plain_generator_limit_warns_and_unbound_method_works():
    """A Generator of NumPy's own class (created before gradarray was imported) converts a tracked
    parameter itself: the gradient is lost with a warning. The unbound tracked method works."""
    plain = _generator_module.Generator(np.random.PCG64(0))
    mu = ga.asarray(1.0, requires_grad=True)
    with pytest.warns(ga.GradientLostWarning):
        plain.normal(mu)
    x = np.random.Generator.normal(_generator_module.Generator(np.random.PCG64(0)), mu)
    assert x.requires_grad and x.data == np.random.default_rng(0).normal(1.0)


# ------------------------------------------------------------------------------- devices
def test_device_parameters(backend):
    loc = ga.asarray(backend.asarray([0.5, -1.0, 2.0]), requires_grad=True)
    x = GEN().normal(loc, 2.0, size=(2, 3))
    assert x.device == loc.device
    ref = GEN().normal([0.5, -1.0, 2.0], 2.0, (2, 3))
    np.testing.assert_array_equal(backend.to_host(x.data), ref)
    gradcheck(lambda m, c: GEN(4).multivariate_normal(m, c @ c.T, size=2),
              backend.asarray(MEAN), backend.asarray(B))
    gradcheck(lambda a: GEN(4).choice(a, size=5), backend.asarray([1.0, 2.0, 3.0]))
