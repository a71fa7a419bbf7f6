"""Legacy NumPy idioms that used to drop the tape, against finite differences:
np.vectorize / np.frompyfunc / np.piecewise with Python functions (gradarray/overrides/pyfunc.py),
weighted histograms (gradarray/overrides/histograms.py), array_like constants as operands of the
products (gradarray/overrides/linear.py), and numpy.polynomial called by NumPy's own names and through
its classes without trace_numpy (gradarray/polynomial.py)."""
import warnings

import numpy as np
import pytest
from numpy.polynomial import Chebyshev, Hermite, Legendre, Polynomial
from numpy.polynomial import chebyshev as C
from numpy.polynomial import hermite_e as HE
from numpy.polynomial import laguerre as LA
from numpy.polynomial import legendre as L
from numpy.polynomial import polynomial as P

import gradarray as ga
from gradarray._tables import IMPLEMENTATIONS, RULES
from gradarray.coverage import status_of
from gradarray.testing import gradcheck, gradgradcheck

X = np.array([-1.5, 0.3, 2.0, 0.7, -0.2])


@pytest.fixture(autouse=True)
def tape_must_not_be_lost():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ga.GradientLostWarning)
        yield


def _tracked(a):
    return ga.asarray(np.asarray(a, dtype=float), requires_grad=True)


def _plain(v):
    return v.numpy() if isinstance(v, ga.GradArray) else np.asarray(v)


def _same(got, expected, rtol=1e-12):
    if isinstance(expected, (tuple, list)):
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            _same(g, e, rtol)
        return
    assert isinstance(got, ga.GradArray)
    assert got.shape == np.shape(expected) and got.dtype == np.asarray(expected).dtype
    np.testing.assert_allclose(_plain(got), expected, rtol=rtol, atol=1e-12)


def branchy(v):
    """Python branching on the value: runs element by element only."""
    if v > 0:
        return v ** 2
    return np.sin(v)


# ======================================================================================= vectorize
def test_vectorize_python_branching_element_by_element():
    vf = np.vectorize(branchy)
    y = vf(_tracked(X))
    _same(y, vf(X))
    assert y.requires_grad
    assert gradcheck(vf, X)
    assert gradcheck(vf, np.array(0.4))                                   # 0-d
    assert gradcheck(lambda x, y: vf(x[:, None] * y), X, np.array([1.0, -2.0, 0.5]))   # broadcast


def test_vectorize_numpy_ops_run_once_on_the_whole_array():
    seen = []

    def f(v):
        seen.append(np.ndim(v))
        return np.exp(v) * v - 1.0
    vf = np.vectorize(f)
    y = vf(_tracked(X))
    assert seen[0] == 1                    # one call on the whole array, then NumPy's raw check
    assert all(n == 0 for n in seen[1:])
    _same(y, np.exp(X) * X - 1.0)
    assert gradcheck(vf, X)


def test_vectorize_same_shape_but_not_elementwise_is_caught():
    vf = np.vectorize(lambda v: v - np.mean(v))           # element by element: v - v = 0
    _same(vf(_tracked(X)), vf(X))
    vf = np.vectorize(lambda v: v * np.max(v))                         # elementwise: v ** 2
    _same(vf(_tracked(X)), vf(X))
    assert gradcheck(vf, X)


def test_vectorize_excluded_keywords_and_tracked_excluded_argument():
    vf = np.vectorize(lambda v, q: branchy(v) * q[0] + q[1], excluded={1})
    assert gradcheck(vf, X, np.array([2.0, 3.0]))
    vk = np.vectorize(lambda v, k=1.0: v * k)
    _same(vk(_tracked(X), k=3.0), vk(X, k=3.0))
    assert gradcheck(lambda x, k: vk(x, k=k), X, np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    ve = np.vectorize(lambda v, scale=None: v * scale[0], excluded={"scale"})
    assert gradcheck(lambda x, s: ve(x, scale=s), X, np.array([1.5]))


def test_vectorize_several_outputs():
    vf = np.vectorize(lambda a, b: (a + b, a * b if a > 0 else b))
    got = vf(_tracked(X), 2.0)
    _same(got, vf(X, 2.0))
    assert gradcheck(lambda x: vf(x, 2.0), X)
    vw = np.vectorize(lambda a: (np.sin(a), np.cos(a)))                  # whole-array mode
    _same(vw(_tracked(X)), vw(X))
    assert gradcheck(vw, X)


def test_vectorize_otypes_follow_numpy():
    vi = np.vectorize(lambda v: 1 if v > 0 else 0)                        # int outputs: untracked
    y = vi(_tracked(X))
    assert not y.requires_grad and y.dtype == vi(X).dtype
    np.testing.assert_array_equal(_plain(y), vi(X))
    v32 = np.vectorize(branchy, otypes=[np.float32])
    y = v32(_tracked(X))
    assert y.dtype == np.float32 and y.requires_grad
    np.testing.assert_allclose(_plain(y), v32(X), rtol=1e-6)
    # NumPy's gotcha is kept: without otypes the first element's result fixes the dtype
    vz = np.vectorize(lambda v: 0 if v < 0 else v)
    assert vz(_tracked(X)).dtype == vz(X).dtype == np.int64
    empty = np.vectorize(branchy, otypes=[float])(_tracked(np.zeros(0)))
    assert empty.shape == (0,)


@pytest.mark.parametrize("cache", [False, True])
def test_vectorize_cache_calls_like_numpy(cache):
    counts = {"numpy": 0, "ga": 0}

    def counted(key):
        def f(v):
            counts[key] += 1
            return branchy(v)
        return f
    np.vectorize(counted("numpy"), cache=cache)(X)
    np.vectorize(counted("ga"), cache=cache)(_tracked(X))
    assert counts["ga"] == counts["numpy"] + 1            # + the failed whole-array attempt
    assert counts["numpy"] == len(X) + (0 if cache else 1)


def test_vectorize_signature():
    vn = np.vectorize(lambda v: np.sum(v * v) if v[0] > 0 else np.sum(v), signature="(n)->()")
    A = X[:4].reshape(2, 2)
    _same(vn(_tracked(A)), vn(A))
    assert gradcheck(vn, A)
    vo = np.vectorize(lambda v: np.outer(v, v), signature="(n)->(n,n)")
    _same(vo(_tracked(A)), vo(A))
    assert gradcheck(vo, A)
    vd = np.vectorize(lambda a, b: np.dot(a, b), signature="(n),(n)->()")
    assert gradcheck(vd, A, np.array([0.5, -1.0]))                       # broadcast loop dims
    with pytest.raises(ValueError, match="core dimension"):
        vd(_tracked(A), np.ones(3))
    with pytest.raises(ValueError, match="wrong number of outputs"):
        np.vectorize(lambda v: (v, v), signature="(n)->()")(_tracked(A))


def test_vectorize_decorator_and_plain_calls_unchanged():
    @np.vectorize
    def f(v):
        return branchy(v)

    @np.vectorize(otypes=[float])
    def g(v):
        return branchy(v)
    assert gradcheck(f, X) and gradcheck(g, X)
    assert type(f(X)) is np.ndarray                       # no GradArray argument: NumPy's own call
    np.testing.assert_allclose(f(X), [branchy(v) for v in X])


# ======================================================================================= frompyfunc
def test_frompyfunc_element_by_element_and_whole():
    uf = np.frompyfunc(branchy, 1, 1)
    y = uf(_tracked(X))
    assert y.requires_grad and y.dtype == np.float64
    np.testing.assert_allclose(_plain(y), uf(X).astype(float))
    assert gradcheck(uf, X)
    assert gradcheck(uf, np.array(-0.4))                                 # 0-d
    assert gradcheck(np.frompyfunc(lambda v: np.sin(v) * v, 1, 1), X)
    assert gradcheck(lambda x: np.frompyfunc(lambda a, b: a * b + b, 2, 1)(x, [1.0, 2.0, 3.0, 4.0, 5.0]),
                     X)


def test_frompyfunc_several_outputs_and_untracked_results():
    uf = np.frompyfunc(lambda a, b: (a * b, a + b if a > 0 else a - b), 2, 2)
    got = uf(_tracked(X), 2.0)
    for g, e in zip(got, uf(X, 2.0)):
        np.testing.assert_allclose(_plain(g), e.astype(float))
    assert gradcheck(lambda x, y: uf(x, y), X, np.array(2.0))
    words = np.frompyfunc(lambda v: "pos" if v > 0 else "neg", 1, 1)(_tracked(X))
    assert not words.requires_grad and list(_plain(words)) == list(np.where(X > 0, "pos", "neg"))
    untracked = np.frompyfunc(branchy, 1, 1)(ga.asarray(X))           # no tracked input: as before
    assert untracked.dtype == object


# ======================================================================================== piecewise
T = np.linspace(-2.0, 2.0, 9) + 0.05


def test_piecewise_plain_x_with_tracked_closures():
    def model(p):
        return np.piecewise(T, [T < 0, T >= 0], [lambda t: p[0] * t, lambda t: p[1] * t ** 2])
    y = model(_tracked([1.5, -0.7]))
    assert y.requires_grad
    _same(y, model(np.array([1.5, -0.7])))
    assert gradcheck(model, np.array([1.5, -0.7]))
    assert type(np.piecewise(T, [T < 0], [lambda t: -t, lambda t: t])) is np.ndarray


def test_piecewise_tracked_constants_in_funclist():
    assert gradcheck(lambda p: np.piecewise(T, [T < 0], [lambda t: 2 * t, p[0]]), np.array([1.5, 2.0]))
    assert gradcheck(lambda p: np.piecewise(T, [T < -1, T > 1], [p[0], p[1], lambda t: p[0] * t]),
                     np.array([1.5, -0.7]))
    # tracked x, a tracked closure, a tracked constant and plain constants (np.float64, int)
    assert gradcheck(lambda x, p: np.piecewise(x, [x < 0, x > 1, x > 1.5],
                                               [lambda t: t * p[0], p[1], np.float64(3.0), 2]),
                     T, np.array([1.5, -0.7]))


def test_piecewise_is_still_a_composite():
    assert status_of(np.piecewise) == "composite"
    assert np.piecewise.__gradarray_original__ in IMPLEMENTATIONS


# ======================================================================================= histograms
R = np.random.default_rng(0)
HX, HY, HW = R.standard_normal(30), R.standard_normal(30), R.random(30)
HIST_1D = [dict(bins=5), dict(bins=5, density=True), dict(bins=[-3, -1, 0, 0.5, 3]),
           dict(bins=4, range=(-1, 1)), dict(bins=4, range=(-1, 1), density=True),
           dict(bins=[-1, 0, 0, 2]), dict(bins="auto", range=(-1, 1))]


@pytest.mark.parametrize("kw", HIST_1D)
def test_histogram_weights(kw):
    if kw.get("bins") == "auto":             # NumPy: no automatic bins with weights
        with pytest.raises(TypeError):
            np.histogram(HX, weights=_tracked(HW), **kw)
        _same(np.histogram(_tracked(HX), **kw), np.histogram(HX, **kw))
        return
    _same(np.histogram(HX, weights=_tracked(HW), **kw), np.histogram(HX, weights=HW, **kw))
    assert gradcheck(lambda w: np.histogram(HX, weights=w, **kw)[0], HW)
    assert gradcheck(lambda x, w: np.histogram(x, weights=w, **kw), HX, HW)


@pytest.mark.parametrize("kw", HIST_1D)
def test_histogram_sample_positions(kw):
    """Counts: zero gradient almost everywhere. Edges computed from min/max (and the density's
    widths): the gradient of the extreme samples."""
    got = np.histogram(_tracked(HX), **kw)
    _same(got, np.histogram(HX, **kw))
    assert not got[0].requires_grad or kw.get("density")
    assert gradcheck(lambda x: np.histogram(x, **kw), HX)


def test_histogram_tracked_range_and_edges_complex_and_float32_weights():
    assert gradcheck(lambda r: np.histogram(ga.asarray(HX), bins=4, range=(r[0], r[1]), density=True),
                     np.array([-1.2, 1.3]))
    assert gradcheck(lambda b: np.histogram(HX, bins=b, density=True), np.array([-3.0, -1, 0.2, 3]))
    wc = HW + 1j * R.random(30)
    _same(np.histogram(HX, bins=4, weights=ga.asarray(wc, requires_grad=True)),
          np.histogram(HX, bins=4, weights=wc))
    assert gradcheck(lambda w: np.histogram(HX, bins=4, weights=w)[0], wc)
    w32 = HW.astype(np.float32)
    h = np.histogram(HX, bins=4, weights=ga.asarray(w32, requires_grad=True))[0]
    assert h.dtype == np.float32
    np.testing.assert_allclose(_plain(h), np.histogram(HX, bins=4, weights=w32)[0], rtol=1e-6)


@pytest.mark.parametrize("kw", [dict(bins=3), dict(bins=(3, 4), density=True),
                                dict(bins=[[-3, 0, 3], [-2, -1, 0, 1, 2]]), dict(bins=[-2, 0, 1, 2]),
                                dict(bins=3, range=[(-1, 1), (-2, 1.5)], density=True)])
def test_histogram2d(kw):
    _same(np.histogram2d(HX, HY, weights=_tracked(HW), **kw), np.histogram2d(HX, HY, weights=HW, **kw))
    assert gradcheck(lambda w: np.histogram2d(HX, HY, weights=w, **kw)[0], HW)
    assert gradcheck(lambda x, y, w: np.histogram2d(x, y, weights=w, **kw), HX, HY, HW)


@pytest.mark.parametrize("kw", [dict(bins=3), dict(bins=(2, 3, 4), density=True),
                                dict(bins=3, range=[(-1, 1), (-2, 1.5), (0, 1)])])
def test_histogramdd(kw):
    s = np.stack([HX, HY, HW], axis=1)
    _same(np.histogramdd(s, weights=_tracked(HW), **kw), np.histogramdd(s, weights=HW, **kw))
    assert gradcheck(lambda w: np.histogramdd(s, weights=w, **kw)[0], HW)
    assert gradcheck(lambda s, w: np.histogramdd(s, weights=w, **kw)[0], s, HW)
    # a sequence of coordinate arrays
    assert gradcheck(lambda x, y: np.histogramdd([x, y], weights=HW, bins=3, density=True), HX, HY)


def test_histogram_weights_on_a_device_backend(backend):
    x, w = backend.asarray(HX), backend.asarray(HW)
    h, _ = np.histogram(ga.asarray(x), bins=5, weights=ga.asarray(w, requires_grad=True))
    np.testing.assert_allclose(backend.to_host(h._data), np.histogram(HX, bins=5, weights=HW)[0])
    assert gradcheck(lambda w: np.histogram(x, bins=5, weights=w, density=True)[0], w)
    assert gradcheck(lambda x: np.histogram(x, bins=5, weights=w, density=True), x)
    assert gradcheck(lambda w: np.histogram2d(x, x * 0.5, bins=3, weights=w)[0], w)


def test_untracked_histograms_are_numpys():
    h = np.histogram(ga.asarray(HX), bins=3, weights=HW)
    assert not h[0].requires_grad
    _same(h, np.histogram(HX, bins=3, weights=HW))
    with ga.no_grad():
        assert not np.histogram(_tracked(HX), bins=3, weights=_tracked(HW))[0].requires_grad


def test_bincount_weights():
    assert gradcheck(lambda w: np.bincount([0, 2, 2, 1, 4, 0], weights=w, minlength=7), HW[:6])
    assert gradcheck(lambda w: np.bincount(np.array([0, 2, 2, 1, 4, 0]), w), HW[:6])
    assert gradcheck(lambda w: np.bincount(ga.asarray(np.array([3, 0, 3])), w, 5), HW[:3])


# ============================================================== array_like operands of the products
V2, V3 = [1.0, 2.0], [1.0, -2.0, 0.5]
M22 = [[1.0, 2.0], [3.0, -4.0]]
PRODUCTS = [
    # (function, constant operand, tracked operand's value)
    (np.dot, V2, np.array([0.3, -1.2])), (np.dot, M22, np.array([0.3, -1.2])),
    (np.dot, 2.0, np.array([0.3, -1.2])), (np.dot, np.float64(2.0), np.array([[0.3, -1.2]])),
    (np.matmul, V2, np.array([0.3, -1.2])), (np.matmul, M22, np.array([[0.3, 0.1], [-1.2, 2.0]])),
    (np.matmul, tuple(V2), np.array([[0.3, 1.0], [-1.2, 2.0]])),
    (np.inner, V2, np.array([0.3, -1.2])), (np.inner, 3, np.array([0.3, -1.2])),
    (np.inner, M22, np.array([[0.3, -1.2]])),
    (np.outer, V2, np.array([0.3, -1.2, 2.0])), (np.outer, 2.0, np.array([0.3, -1.2])),
    (np.vdot, V2, np.array([0.3, -1.2])), (np.vdot, tuple(M22), np.array([[0.3, -1.2], [1.0, 2.0]])),
    (np.vdot, np.float64(2.0), np.array([0.3])),
    (np.kron, V2, np.array([0.3, -1.2])), (np.kron, 2.0, np.array([[0.3, -1.2]])),
    (np.kron, M22, np.array([0.3, -1.2])),
    (np.cross, V3, np.array([0.3, -1.2, 2.0])), (np.cross, [V3, V3], np.array([0.3, -1.2, 2.0])),
    (np.convolve, V3, np.array([0.3, -1.2])), (np.convolve, 2.0, np.array([0.3, -1.2])),
    (np.correlate, V3, np.array([0.3, -1.2])),
]


@pytest.mark.parametrize("func,constant,value", PRODUCTS)
@pytest.mark.parametrize("side", ["left", "right"])
def test_array_like_constant_operands(func, constant, value, side):
    if func is np.cross and np.ndim(constant) == 0:
        pytest.skip("NumPy's cross needs vectors")

    def f(t):
        return func(constant, t) if side == "left" else func(t, constant)
    _same(f(_tracked(value)), f(value))
    assert gradcheck(f, value)


@pytest.mark.parametrize("axes", [0, 1, ([0], [1])])
def test_tensordot_array_like_constant(axes):
    const = [[1.0, 2.0], [3.0, -4.0]] if axes != 0 else 2.5
    value = np.array([[0.3, -1.2], [2.0, 0.5]])
    for f in (lambda t: np.tensordot(const, t, axes), lambda t: np.tensordot(t, const, axes)):
        _same(f(_tracked(value)), f(value))
        assert gradcheck(f, value)


def test_list_operand_backward_and_second_order():
    c = ga.asarray(np.ones(2), requires_grad=True)
    np.dot([1.0, 2.0], c).backward()
    np.testing.assert_allclose(c.grad, [1.0, 2.0])
    assert gradgradcheck(lambda t: np.dot([1.0, 2.0], t * t), np.array([0.3, -1.2]))
    assert gradgradcheck(lambda t: np.matmul(t * t, (1.0, 2.0)), np.array([0.3, -1.2]))


# ========================================================================== numpy.polynomial's names
PX = np.array([-0.8, -0.1, 0.35, 0.9])
PC = np.array([0.5, -1.0, 2.0, 0.3])
XX = np.linspace(-1.0, 1.0, 6)
YY = np.array([1.0, 0.2, -0.3, 0.8, 1.1, 0.4])


def needs_lstsq():
    if np.linalg.lstsq not in RULES and np.linalg.lstsq not in IMPLEMENTATIONS:
        pytest.skip("fitting needs the np.linalg.lstsq rule (linalg family)")


@pytest.mark.parametrize("val", [P.polyval, C.chebval, L.legval, HE.hermeval, LA.lagval])
def test_module_functions_by_numpys_names(val):
    assert val.__gradarray_original__ is not None                       # installed by the bridge
    _same(val(_tracked(PX), _tracked(PC)), val(PX, PC))
    assert gradcheck(val, PX, PC)
    assert type(val(PX, PC)) is np.ndarray                             # plain data: NumPy's own call


def test_module_algebra_and_fits():
    assert gradcheck(lambda a, b: P.polymul(a, b), PC, PC[:2])
    assert gradcheck(lambda a: C.chebder(a, 2), PC)
    assert gradcheck(lambda a: L.legint(a, lbnd=0.5, k=[1.0]), PC)
    needs_lstsq()
    assert gradcheck(lambda y: L.legfit(XX, y, 2), YY)
    assert gradcheck(lambda y: P.polyfit(XX, y, 3), YY)


def test_classes_without_trace_numpy():
    p = Polynomial(_tracked(PC))
    assert isinstance(p.coef, ga.GradArray) and p.coef.requires_grad
    assert repr(p) == repr(Polynomial(PC))
    assert gradcheck(lambda c: Polynomial(c)(PX), PC)
    assert gradcheck(lambda c, x: Chebyshev(c, domain=[-2, 2])(x), PC, PX)
    assert gradcheck(lambda c: Polynomial(c).deriv()(PX), PC)
    assert gradcheck(lambda c: Legendre(c).integ(lbnd=0.3, k=1.0).coef, PC)
    assert gradcheck(lambda c: (Polynomial(c) * Polynomial(c) + 2.0 * Polynomial(c) - 1.0).coef, PC)
    assert gradcheck(lambda c: (Polynomial(c) ** 2 // Polynomial([1.0, 1.0])).coef, PC)
    assert gradcheck(lambda c: Hermite(c).convert(kind=Polynomial).coef, PC)
    assert gradcheck(lambda x: Polynomial(PC)(x), PX)
    assert type(Polynomial(PC)(PX)) is np.ndarray


def test_class_fit():
    needs_lstsq()
    assert gradcheck(lambda y: Polynomial.fit(XX, y, 2).coef, YY)
    assert gradcheck(lambda y: Chebyshev.fit(XX, y, 3)(PX), YY)
    assert gradcheck(lambda x, y: Polynomial.fit(x, y, 2)(0.3), XX, YY)
