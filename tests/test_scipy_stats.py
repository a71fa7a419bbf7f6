"""scipy.stats distributions on GradArrays (gradarray/scipy/stats*.py): values equal to SciPy's,
gradients against finite differences, in the calling styles of legacy code."""
import numpy as np
import pytest

st = pytest.importorskip("scipy.stats")
sc = pytest.importorskip("scipy.special")

import gradarray as ga  # noqa: E402
import standin  # noqa: E402
from gradarray.testing import gradcheck, gradgradcheck  # noqa: E402
from scipy.stats import entropy, gamma, multivariate_normal, norm, poisson  # noqa: E402  (bound early)

pytestmark = pytest.mark.filterwarnings("error::gradarray.GradientLostWarning")

LOC, SCALE = 0.3, 1.4
STANDARD = {"R": np.array([-1.3, 0.2, 1.7]), "P": np.array([0.4, 1.1, 2.5]),
            "U": np.array([0.2, 0.5, 0.8])}
Q = np.array([0.1, 0.45, 0.85])
# name: (shape parameters, support, are the shapes differentiable in cdf/sf/ppf/isf?)
CONTINUOUS = {
    "norm": ((), "R", True), "t": ((4.5,), "R", False), "gamma": ((2.3,), "P", False),
    "beta": ((2.2, 3.1), "U", False), "expon": ((), "P", True), "lognorm": ((0.7,), "P", True),
    "laplace": ((), "R", True), "cauchy": ((), "R", True), "logistic": ((), "R", True),
}
METHODS = ["logpdf", "pdf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf"]


def _points(name, method):
    shapes, support, _ = CONTINUOUS[name]
    return Q if method in ("ppf", "isf") else LOC + SCALE * STANDARD[support]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", sorted(CONTINUOUS))
def test_continuous_value_and_gradient(name, method):
    dist = getattr(st, name)
    shapes, _, shapes_differentiable = CONTINUOUS[name]
    x = _points(name, method)
    expected = getattr(dist, method)(x, *shapes, loc=LOC, scale=SCALE)
    got = getattr(dist, method)(ga.asarray(x), *shapes, loc=LOC, scale=SCALE)
    assert type(got) is ga.GradArray
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)

    def f(x, loc, scale, *shapes):          # positional: x, shapes..., loc, scale
        return getattr(dist, method)(x, *shapes, loc, scale)

    shape_args = [np.array(s) for s in shapes]
    wrt = (0, 1, 2)
    if shapes_differentiable or method in ("logpdf", "pdf"):
        wrt += tuple(range(3, 3 + len(shapes)))
    gradcheck(f, x, np.array(LOC), np.array(SCALE), *shape_args, argnums=wrt)


@pytest.mark.parametrize("name,method", [("gamma", "cdf"), ("beta", "sf"), ("t", "ppf"),
                                         ("gamma", "logsf"), ("t", "logcdf")])
def test_shape_without_derivative_raises(name, method):
    shapes, _, _ = CONTINUOUS[name]
    x = _points(name, method)
    tracked = ga.asarray(np.array(shapes[0]), requires_grad=True)
    out = getattr(getattr(st, name), method)(x, tracked, *shapes[1:], loc=LOC, scale=SCALE)
    with pytest.raises(TypeError, match="tracked"):
        np.sum(out).backward()


# ------------------------------------------------------------------------------ calling styles
def test_calling_styles_norm():
    x = np.array([0.2, -0.7, 1.9])
    mu, sigma = ga.asarray(0.4, requires_grad=True), ga.asarray(1.3, requires_grad=True)
    expected = st.norm.logpdf(x, 0.4, 1.3)
    for value in (norm.logpdf(x, loc=mu, scale=sigma), norm.logpdf(x, mu, sigma),
                  norm(mu, sigma).logpdf(x), st.norm(loc=mu, scale=sigma).logpdf(x=list(x)),
                  st.norm.logpdf(x=x, loc=mu, scale=1.3)):
        np.testing.assert_allclose(value.numpy(), expected, rtol=1e-12)
    np.sum(norm(mu, sigma).logpdf(x)).backward()
    np.testing.assert_allclose(mu.grad.numpy(), np.sum((x - 0.4) / 1.3 ** 2), rtol=1e-12)
    np.testing.assert_allclose(sigma.grad.numpy(), np.sum(-1 / 1.3 + (x - 0.4) ** 2 / 1.3 ** 3),
                               rtol=1e-12)


def test_calling_styles_gamma_mixed_arguments():
    x = [0.5, 1.2, 3.0]                                  # a Python list
    a, scale = np.array([1.7, 2.5, 4.0]), np.float64(0.8)
    styles = [
        lambda a, scale: gamma.logpdf(x, a, scale=scale),                 # early-bound name
        lambda a, scale: st.gamma.logpdf(np.array(x), a=a, loc=0.0, scale=scale),
        lambda a, scale: st.gamma(a, scale=scale).logpdf(x),              # frozen
        lambda a, scale: st.gamma.pdf(x, [a[0], a[1], a[2]], 0, scale),   # shapes in a list
        lambda a, scale: st.gamma.cdf(x=x, a=2.0, scale=scale),
    ]
    for style in styles:
        expected = style(a, scale)
        got = style(ga.asarray(a), ga.asarray(scale))
        assert type(got) is ga.GradArray
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
        gradcheck(style, a, np.array(0.8), argnums=1 if style is styles[-1] else None)


def test_plain_frozen_tracked_x():
    frozen = st.logistic(0.5, 2.0)                       # frozen before x exists
    gradcheck(lambda x: frozen.logpdf(x) + frozen.cdf(x), np.array([-1.0, 0.4, 3.0]))
    gradcheck(lambda q: norm(1.0, 2.0).ppf(q), np.array([0.2, 0.9]))


def test_list_holding_gradarrays_and_numpy_scalars():
    mu = ga.asarray(0.5, requires_grad=True)
    out = st.norm.cdf([0.1, 2.0], [mu, np.float64(1.0)], 2.0)
    np.testing.assert_allclose(out.numpy(), st.norm.cdf([0.1, 2.0], [0.5, 1.0], 2.0))
    np.sum(out).backward()
    np.testing.assert_allclose(mu.grad.numpy(), -st.norm.pdf(0.1, 0.5, 2.0), rtol=1e-12)


def test_broadcasting():
    x = np.linspace(-1, 2, 3)[:, None]
    loc = np.array([0.0, 0.5])
    scale = np.array([[1.0, 2.0]])
    out = st.t.logpdf(ga.asarray(x), 3.5, loc, scale)
    assert out.shape == (3, 2)
    np.testing.assert_allclose(out.numpy(), st.t.logpdf(x, 3.5, loc, scale), rtol=1e-12)
    gradcheck(lambda x, loc, scale, df: st.t.logpdf(x, df, loc, scale), x, loc, scale,
              np.array([2.5, 6.0]))
    gradcheck(lambda x, s: st.lognorm.cdf(x, s), np.array([0.5, 1.5])[:, None], np.array([0.4, 0.9, 1.3]))


def test_support_and_invalid_parameters():
    x = np.array([-1.0, 0.5, 2.0, 7.0])
    scale = np.array([1.0, 1.0, -1.0, 1.0])                  # scale <= 0: nan
    for method in METHODS[:6]:
        expected = getattr(st.beta, method)(x / 4, 2.0, 3.0, scale=scale)
        got = getattr(st.beta, method)(ga.asarray(x / 4), 2.0, 3.0, scale=ga.asarray(scale))
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    # outside the support the value is constant: zero gradient, never NaN
    xt = ga.asarray(np.array([-1.0, 0.5, 2.0]), requires_grad=True)
    st_ = ga.asarray(np.array([1.0, 2.0, 1.5]), requires_grad=True)
    for method in ("logpdf", "cdf", "logsf"):
        xt.grad = None
        st_.grad = None
        np.sum(getattr(st.gamma, method)(xt, 2.0, scale=st_)[1:]).backward()
        assert np.all(np.isfinite(xt.grad.numpy())) and xt.grad.numpy()[0] == 0
        assert np.all(np.isfinite(st_.grad.numpy()))
    gradcheck(lambda x, s: st.expon.pdf(x, scale=s), np.array([-1.0, 0.5, 2.0]), np.array(1.5))
    # invalid shape parameter: nan value, finite gradients elsewhere
    a = ga.asarray(np.array([-1.0, 2.0]), requires_grad=True)
    out = st.gamma.logpdf(1.5, a)
    assert np.isnan(out.numpy()[0]) and np.isfinite(out.numpy()[1])
    out[1].backward()
    np.testing.assert_allclose(a.grad.numpy(), [0.0, np.log(1.5) - sc.digamma(2.0)])


def test_infinite_points_and_degrees_of_freedom():
    x = np.array([-np.inf, 0.4, np.inf, np.nan])
    loc, scale = ga.asarray(0.2, requires_grad=True), ga.asarray(1.5, requires_grad=True)
    out = st.cauchy.logpdf(x, loc, scale)
    np.testing.assert_allclose(out.numpy(), st.cauchy.logpdf(x, 0.2, 1.5))
    out[1].backward()                                 # the infinite points do not spoil the gradient
    assert np.isfinite(loc.grad.numpy()) and np.isfinite(scale.grad.numpy())
    df = np.array([3.0, np.inf])                      # df = inf is the normal distribution
    for method in ("logpdf", "cdf", "ppf", "isf"):
        point = np.array([0.3, 0.7])
        np.testing.assert_allclose(getattr(st.t, method)(ga.asarray(point), df).numpy(),
                                   getattr(st.t, method)(point, df), rtol=1e-12)
        gradcheck(lambda p: getattr(st.t, method)(p, df), point)


def test_quantile_edges():
    q = np.array([0.0, 0.3, 1.0, 1.2])
    for name, shapes in (("gamma", (2.0,)), ("norm", ()), ("beta", (2.0, 3.0))):
        for method in ("ppf", "isf"):
            dist = getattr(st, name)
            expected = getattr(dist, method)(q, *shapes, loc=0.5, scale=2.0)
            got = getattr(dist, method)(ga.asarray(q), *shapes, loc=0.5, scale=2.0)
            np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    # the finite end of the support moves with loc and scale: ppf(0) = loc for gamma
    gradcheck(lambda loc, scale: st.gamma.ppf(np.array([0.0, 0.4]), 2.0, loc, scale),
              np.array(0.5), np.array(2.0))


def test_moments():
    cases = [("norm", ()), ("gamma", (2.3,)), ("beta", (2.2, 3.1)), ("t", (5.5,)), ("lognorm", (0.6,)),
             ("expon", ()), ("laplace", ()), ("logistic", ())]
    for name, shapes in cases:
        dist = getattr(st, name)
        for method in ("mean", "var", "std", "entropy"):
            expected = getattr(dist, method)(*shapes, loc=LOC, scale=SCALE)
            got = getattr(dist, method)(*map(ga.asarray, shapes), loc=LOC, scale=ga.asarray(SCALE))
            np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)
            gradcheck(lambda loc, scale, *s: getattr(dist, method)(*s, loc=loc, scale=scale),
                      np.array(LOC), np.array(SCALE), *map(np.array, shapes))
    frozen = st.gamma(ga.asarray(2.0, requires_grad=True), scale=3.0)
    np.testing.assert_allclose(frozen.mean().numpy(), 6.0)
    np.testing.assert_allclose(frozen.median().numpy(), st.gamma.median(2.0, scale=3.0))
    np.testing.assert_allclose(st.cauchy.mean(loc=ga.asarray(1.0)).numpy(), np.nan)


def test_unsupported_distribution_and_untracked_fallback():
    x = ga.asarray(np.array([0.5, 1.5]), requires_grad=True)
    with pytest.raises(TypeError, match="weibull_min.logpdf"):
        st.weibull_min.logpdf(x, 1.5)
    plain = ga.asarray(np.array([0.5, 1.5]))                 # an untracked GradArray: SciPy's own
    np.testing.assert_allclose(st.weibull_min.logpdf(plain, 1.5).numpy(),
                               st.weibull_min.logpdf([0.5, 1.5], 1.5))
    with pytest.raises(TypeError, match="poisson.entropy"):
        st.poisson.entropy(ga.asarray(2.0, requires_grad=True))


# ------------------------------------------------------------------------------------- discrete
K = np.array([0.0, 1.0, 3.0, 6.0])
DISCRETE = {"poisson": ((2.5,), (1,)), "binom": ((8, 0.35), (2,)), "nbinom": ((3.5, 0.4), (1, 2))}
DISCRETE_METHODS = ["logpmf", "pmf", "cdf", "logcdf", "sf", "logsf"]


@pytest.mark.parametrize("method", DISCRETE_METHODS)
@pytest.mark.parametrize("name", sorted(DISCRETE))
def test_discrete_value_and_gradient(name, method):
    dist = getattr(st, name)
    params, differentiable = DISCRETE[name]
    if name == "nbinom" and method not in ("logpmf", "pmf"):
        differentiable = (2,)                                # n enters through betainc's a
    expected = getattr(dist, method)(K, *params, loc=0)
    got = getattr(dist, method)(K, *[ga.asarray(p) for p in params])
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)

    def f(*params):
        return getattr(dist, method)(K, *params)
    gradcheck(f, *[np.array(float(p)) for p in params], argnums=tuple(i - 1 for i in differentiable))


def test_discrete_support_and_styles():
    k = np.array([-1, 0, 2.5, 3, 12])
    for method in DISCRETE_METHODS:
        expected = getattr(st.binom, method)(k, 10, [0.3], loc=1)
        got = getattr(st.binom(10, ga.asarray([0.3]), loc=1), method)(k)         # frozen
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)
    mu = ga.asarray(np.array([1.5, 4.0]), requires_grad=True)
    np.testing.assert_allclose(poisson.logpmf([[2], [5]], mu=mu).numpy(),      # early-bound, broadcast
                               st.poisson.logpmf([[2], [5]], [1.5, 4.0]))
    gradcheck(lambda mu: poisson.logpmf([[2], [5]], mu=mu), np.array([1.5, 4.0]))
    for method in ("mean", "var", "std"):
        gradcheck(lambda p: getattr(st.binom, method)(7, p, loc=2), np.array(0.3))
        gradcheck(lambda mu: getattr(st.poisson(mu), method)(), np.array(2.2))
        gradcheck(lambda n, p: getattr(st.nbinom, method)(n, p), np.array(2.5), np.array(0.3))
    # the quantiles are step functions: untracked results equal to SciPy's
    out = st.poisson.ppf([0.2, 0.7], mu)
    assert not out.requires_grad
    np.testing.assert_allclose(out.numpy(), st.poisson.ppf([0.2, 0.7], [1.5, 4.0]))


def test_discrete_integer_arguments_raise():
    k = ga.asarray(np.array([1.0, 2.0]), requires_grad=True)
    for method in ("logpmf", "cdf"):
        with pytest.raises(TypeError, match="poisson.*k is tracked"):
            getattr(st.poisson, method)(k, 2.0)
    with pytest.raises(TypeError, match="poisson.pmf: loc is tracked"):
        st.poisson.pmf([1, 2], 2.0, loc=ga.asarray(1.0, requires_grad=True))
    n = ga.asarray(5.0, requires_grad=True)
    for method in ("pmf", "sf", "mean"):
        with pytest.raises(TypeError, match="binom.*n is tracked"):
            getattr(st.binom(n, 0.3), method)(*([[1, 2]] if method != "mean" else []))
    n = ga.asarray(2.5, requires_grad=True)                 # nbinom's n is real: in the pmf only
    with pytest.raises(TypeError, match="betainc: argument 'a'"):
        np.sum(st.nbinom.cdf([1, 2], n, 0.3)).backward()


# --------------------------------------------------------------------------- multivariate normal
MEAN = np.array([0.3, -0.2, 0.5])
COV = np.array([[1.2, 0.3, -0.1], [0.3, 0.9, 0.2], [-0.1, 0.2, 0.7]])
XS = np.array([[0.1, 0.4, -0.3], [1.0, -0.5, 0.2]])


def test_multivariate_normal_values_and_gradients():
    for x in (XS, XS[0]):
        for method in ("logpdf", "pdf"):
            expected = getattr(st.multivariate_normal, method)(x, MEAN, COV)
            got = getattr(multivariate_normal, method)(ga.asarray(x), MEAN, COV)
            np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
            assert got.shape == np.shape(expected)
            gradcheck(lambda x, m, c: getattr(st.multivariate_normal, method)(x, m, c), x, MEAN, COV)
    # the lower triangle of cov is read (as SciPy's eigh does): a symmetric parametrisation
    A = np.array([[1.0, 0.0, 0.0], [0.4, 0.8, 0.0], [-0.2, 0.3, 0.6]])
    gradcheck(lambda A: st.multivariate_normal.logpdf(XS, mean=MEAN, cov=A @ A.T + 0.1 * np.eye(3)), A)
    # diagonal and scalar covariances, one dimension, mean omitted
    for cov in (np.array([0.5, 1.5, 2.0]), np.float64(1.7)):
        np.testing.assert_allclose(st.multivariate_normal.logpdf(XS, MEAN, ga.asarray(cov)).numpy(),
                                   st.multivariate_normal.logpdf(XS, MEAN, cov), rtol=1e-12)
        gradcheck(lambda m, c: st.multivariate_normal.logpdf(XS, m, c), MEAN, np.asarray(cov))
    x1 = np.array([0.3, -1.0, 2.0])
    np.testing.assert_allclose(st.multivariate_normal.logpdf(ga.asarray(x1), 0.5, 2.0).numpy(),
                               st.multivariate_normal.logpdf(x1, 0.5, 2.0), rtol=1e-12)
    np.testing.assert_allclose(st.multivariate_normal.logpdf(ga.asarray(XS[:, :2]), [0, 0]).numpy(),
                               st.multivariate_normal.logpdf(XS[:, :2], [0, 0]), rtol=1e-12)
    gradcheck(lambda c: st.multivariate_normal.entropy(MEAN, c), COV)
    np.testing.assert_allclose(st.multivariate_normal.entropy(cov=ga.asarray(COV)).numpy(),
                               st.multivariate_normal.entropy(cov=COV))


def test_multivariate_normal_frozen():
    mean = ga.asarray(MEAN, requires_grad=True)
    frozen = multivariate_normal(mean, COV)
    np.testing.assert_allclose(frozen.logpdf(XS).numpy(), st.multivariate_normal(MEAN, COV).logpdf(XS))
    np.testing.assert_allclose(frozen.entropy().numpy(), st.multivariate_normal(MEAN, COV).entropy())
    np.sum(frozen.logpdf(XS)).backward()
    np.testing.assert_allclose(mean.grad.numpy(), np.linalg.solve(COV, np.sum(XS - MEAN, axis=0)),
                               rtol=1e-12)
    gradcheck(lambda m, c: multivariate_normal(mean=m, cov=c).pdf(XS), MEAN, COV)
    gradcheck(lambda x: st.multivariate_normal(MEAN, COV).logpdf(x), XS)       # plain frozen, x tracked
    with pytest.raises(TypeError, match="logcdf"):
        frozen.logcdf(XS)
    with pytest.warns(ga.GradientLostWarning):               # samples from the raw parameters
        assert frozen.rvs(size=2, random_state=0).shape == (2, 3)
    with pytest.raises(TypeError, match="cdf"):
        st.multivariate_normal.cdf(ga.asarray(XS, requires_grad=True), MEAN, COV)
    with pytest.raises(np.linalg.LinAlgError, match="positive definite"):
        st.multivariate_normal.logpdf(XS, mean, -COV)


# ------------------------------------------------------------------------------------- entropy
def test_entropy():
    pk = np.array([[0.2, 1.5], [0.7, 0.4], [1.1, 0.9]])
    qk = np.array([0.5, 1.0, 0.8])[:, None]
    cases = [((pk,), {}), ((pk, qk), {}), ((pk,), {"base": 2}), ((pk, np.array([[0.5, 1.0]])), {"axis": 1}),
             ((pk[:, 0], qk[:, 0]), {"base": np.e})]
    for args, kwargs in cases:
        expected = st.entropy(*args, **kwargs)
        got = entropy(*[ga.asarray(a) for a in args], **kwargs)
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
        gradcheck(lambda *a: entropy(*a, **kwargs), *args)
    np.testing.assert_allclose(st.entropy(list(pk[:, 0]), qk=ga.asarray(qk[:, 0]), axis=None).numpy(),
                               st.entropy(pk[:, 0], qk[:, 0]), rtol=1e-12)


# ------------------------------------------------------------------------------- second order
@pytest.mark.parametrize("f,args", [
    (lambda x, mu, s: st.norm.logpdf(x, mu, s), (np.array([0.3, -1.0]), np.array(0.2), np.array(1.3))),
    (lambda x, df: st.t.logpdf(x, df, scale=2.0), (np.array([0.3, -1.0]), np.array(3.5))),
    (lambda x, s: st.gamma.cdf(x, 2.5, scale=s), (np.array([0.7, 2.0]), np.array(1.2))),
    (lambda q, s: st.beta.ppf(q, 2.0, 3.0, scale=s), (np.array([0.3, 0.8]), np.array(1.2))),
    (lambda x, s: st.laplace.logcdf(x, scale=s), (np.array([-0.7, 2.0]), np.array(1.2))),
    (lambda mu: st.poisson.logcdf([1, 4], mu), (np.array(2.2),)),
    (lambda p, n: st.nbinom.logpmf([1, 4], n, p), (np.array(0.4), np.array(2.5))),
    (lambda x, m, c: st.multivariate_normal.logpdf(x, m, c), (XS[:, :2], MEAN[:2], COV[:2, :2])),
    (lambda p, q: st.entropy(p, q), (np.array([0.2, 0.5, 0.9]), np.array([0.6, 0.3, 0.4]))),
], ids=["norm", "t", "gamma_cdf", "beta_ppf", "laplace", "poisson", "nbinom", "mvn", "entropy"])
def test_second_order(f, args):
    gradgradcheck(f, *args)


# ------------------------------------------------------------------------------------- devices
@pytest.mark.parametrize("name,f", [
    ("norm", lambda x, s: st.norm.logpdf(x, 0.2, s)),
    ("gamma", lambda x, s: st.gamma.cdf(x, 2.0, scale=s)),
    ("beta", lambda x, s: st.beta.logsf(x / 3, 2.0, 3.0, scale=s)),
    ("t", lambda x, s: st.t.ppf(x / 3, 4.0, scale=s)),
    ("poisson", lambda x, s: st.poisson.logpmf([0, 2, 3], x * s)),
    ("mvn", lambda x, s: st.multivariate_normal.logpdf(x, None, s)),
    ("entropy", lambda x, s: st.entropy(x, x * s + 1.0)),
])
def test_device_arrays(backend, name, f):
    x, s = np.array([0.4, 1.1, 2.5]), np.array(1.3)
    needs = {"beta": "betaincc", "t": "stdtrit"}.get(name)     # cupyx.scipy.special lacks them
    if backend.name != "numpy" and needs and standin.ORACLE.ufunc(needs) is None:
        with pytest.raises(TypeError, match=needs):
            f(ga.asarray(backend.asarray(x)), ga.asarray(backend.asarray(s)))
        return
    expected = f(x, s)
    got = f(ga.asarray(backend.asarray(x)), ga.asarray(backend.asarray(s)))
    np.testing.assert_allclose(backend.to_host(got), expected, rtol=1e-12)
    gradcheck(f, backend.asarray(x), backend.asarray(s))
