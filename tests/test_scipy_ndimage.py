"""scipy.ndimage on GradArrays (gradarray/scipy/ndimage.py, ndimage_interpolation.py): values equal
SciPy's to 1e-12, gradients equal finite differences in the input, the weights and the geometry
(coordinates, shift, matrix, offset), for every boundary mode; legacy call forms work."""
import numpy as np
import pytest

ndimage = pytest.importorskip("scipy.ndimage")
from scipy.ndimage import gaussian_filter as early_gaussian_filter  # noqa: E402  (bound late)
from scipy.ndimage import map_coordinates as early_map_coordinates  # noqa: E402

import gradarray as ga  # noqa: E402
from gradarray.testing import gradcheck, gradgradcheck  # noqa: E402

pytestmark = pytest.mark.filterwarnings("error::gradarray.GradientLostWarning")

RNG = np.random.default_rng(11)
X = RNG.normal(size=12)
X2 = RNG.normal(size=(6, 7))
W = RNG.normal(size=4)
W2 = RNG.normal(size=(3, 2))
MODES = ["reflect", "constant", "nearest", "mirror", "wrap", "grid-mirror", "grid-constant",
         "grid-wrap"]


def scipy_own(name):
    f = getattr(ndimage, name)
    return getattr(f, "__gradarray_original__", f)


def check(name, *args, argnums=None, **kwargs):
    """Value against SciPy's own function (1e-12), then gradcheck in ``argnums`` (default: every
    float array argument)."""
    got = getattr(ndimage, name)(*[ga.asarray(a, requires_grad=True) if isinstance(a, np.ndarray)
                                   and a.dtype.kind in "fc" else a for a in args], **kwargs)
    assert type(got) is ga.GradArray
    np.testing.assert_allclose(got.numpy(), scipy_own(name)(*args, **kwargs), rtol=1e-12,
                               atol=1e-12)
    assert gradcheck(lambda *xs: getattr(ndimage, name)(*xs, **kwargs), *args, argnums=argnums)


# ------------------------------------------------------------------------------ linear filters
@pytest.mark.parametrize("mode", MODES)
def test_correlations_in_input_and_weights(mode):
    for origin in (0, -2, 1):
        check("correlate1d", X, W, mode=mode, cval=0.7, origin=origin)
    check("convolve1d", X2, W[:3], 0, None, mode, 0.0, 1)
    check("correlate", X2, W2, mode=mode, cval=1.2, origin=[0, -1])
    check("convolve", X2, W2, mode=mode, origin=(1, 0))
    check("uniform_filter1d", X2, 4, axis=1, mode=mode, cval=-0.3, origin=-1, argnums=0)


@pytest.mark.parametrize("mode", MODES)
def test_smoothing_and_derivative_filters(mode):
    check("gaussian_filter", X2, 1.3, mode=mode, argnums=0)
    check("gaussian_filter1d", X, 0.8, order=1, mode=mode, argnums=0)
    check("uniform_filter", X2, (3, 2), mode=mode, argnums=0)
    check("sobel", X2, mode=mode)
    check("prewitt", X2, axis=0, mode=mode)
    check("laplace", X2, mode=mode)


def test_filter_forms():
    check("correlate1d", X, RNG.normal(size=25), mode="mirror")          # kernel longer than x
    check("correlate", X2, W2[:, 0], axes=0)
    check("gaussian_filter", X2, [0.7, 1.1], order=[1, 0], mode=["wrap", "nearest"], argnums=0)
    check("gaussian_filter", X2, 2.0, radius=2, axes=(1,), argnums=0)
    check("gaussian_laplace", X2, 1.1, argnums=0)
    check("gaussian_gradient_magnitude", X2, np.float64(1.1), argnums=0)
    xc, wc = X + 1j * X[::-1], W + 1j * W[::-1]                         # ndimage conjugates w
    check("correlate1d", xc, wc, mode="wrap")
    check("convolve1d", xc, wc)
    check("correlate1d", X, wc)
    # plain input with tracked weights, Python lists, keyword forms
    assert gradcheck(lambda w: ndimage.correlate1d(X, w, mode="nearest"), W)
    assert gradcheck(lambda x: ndimage.convolve(x, [[1.0, -1.0], [0.5, 0.25]], mode="constant"), X2)
    assert gradcheck(lambda x: early_gaussian_filter(x, sigma=1.0, truncate=2.0), X2)


def test_filters_second_order_output_and_refusals():
    assert gradgradcheck(lambda x, w: ndimage.correlate1d(x, w, mode="wrap"), X, W)
    assert gradgradcheck(lambda x, w: ndimage.convolve(x, w, mode="nearest"), X2, W2)
    out = ga.zeros((6, 7))
    assert ndimage.gaussian_filter(ga.asarray(X2, requires_grad=True), 1.0, output=out) is out
    np.testing.assert_allclose(out.numpy(), scipy_own("gaussian_filter")(X2, 1.0), rtol=1e-12)
    assert ndimage.uniform_filter(ga.asarray(X2), 3, output=np.float32).dtype == np.float32
    with pytest.raises(TypeError, match="output"):
        ndimage.sobel(ga.asarray(X2, requires_grad=True), output=np.zeros((6, 7)))
    with pytest.raises(TypeError, match="sigma"):
        ndimage.gaussian_filter(ga.asarray(X2), ga.asarray(1.0, requires_grad=True))
    with pytest.raises(TypeError, match="cval"):
        ndimage.correlate1d(ga.asarray(X), W, mode="constant",
                            cval=ga.asarray(1.0, requires_grad=True))


# ---------------------------------------------------------------------------------- selections
@pytest.mark.parametrize("mode", ["reflect", "constant", "nearest", "mirror", "wrap"])
def test_rank_filters(mode):
    check("median_filter", X2, size=3, mode=mode)
    check("maximum_filter", X2, size=(2, 3), mode=mode, cval=0.5)
    check("minimum_filter", X2, footprint=np.array([[1, 0, 1], [0, 1, 1]], bool), mode=mode)
    check("percentile_filter", X, 30, size=4, mode=mode)
    check("rank_filter", X2, -2, size=3, mode=mode, origin=(0, 1))


# ------------------------------------------------------------------------------- interpolation
C2 = RNG.uniform(-2.0, 8.0, size=(2, 2, 3))          # points inside and outside a 6 x 7 array
C1 = RNG.uniform(-5.0, 17.0, size=(1, 7))


@pytest.mark.parametrize("mode", MODES)
def test_map_coordinates_in_input_and_coordinates(mode):
    for order in (1, 3):
        check("map_coordinates", X2, C2, order=order, mode=mode, cval=0.4)
    for order in (0, 2, 4, 5):
        check("map_coordinates", X, C1, order=order, mode=mode, argnums=0 if order == 0 else None)


@pytest.mark.parametrize("mode", ["constant", "reflect", "nearest", "mirror", "grid-wrap",
                                  "grid-constant"])
def test_shift_zoom_affine(mode):
    check("shift", X2, np.array([0.3, -1.7]), order=3, mode=mode)
    check("shift", X, 2.3, order=1, mode=mode, argnums=0)
    check("zoom", X2, 1.4, order=3, mode=mode, argnums=0)
    if mode != "constant":                   # SciPy warns: grid_mode wants 'grid-constant'
        check("zoom", X2, (0.7, 1.3), order=1, mode=mode, grid_mode=True, argnums=0)
    matrix = np.array([[0.9311, 0.2137], [-0.3119, 1.0713]])
    offset = np.array([0.3717, -0.7123])
    check("affine_transform", X2[:4, :5], matrix, offset, order=3, mode=mode)
    check("affine_transform", X2[:4, :5], np.array([0.83, 1.17]), offset, order=1, mode=mode)
    check("affine_transform", X2[:4, :5], np.hstack([matrix, offset[:, None]]), order=1, mode=mode,
          output_shape=(3, 6))


def test_interpolation_forms():
    # order 1 at integer coordinates (the knots): the derivative from the right
    grid = np.indices(X2.shape).astype(float)
    weights = RNG.normal(size=X2.shape)
    g = ga.grad(lambda c: np.sum(ndimage.map_coordinates(X2, c, order=1, mode="nearest")
                                 * weights))(grid)
    np.testing.assert_allclose(g[0], (np.vstack([X2[1:], X2[-1:]]) - X2) * weights, atol=1e-12)
    np.testing.assert_allclose(g[1], (np.hstack([X2[:, 1:], X2[:, -1:]]) - X2) * weights,
                               atol=1e-12)
    # coordinates as a list of arrays, the early-bound name, a plain input with tracked points
    rows, cols = C2[0].ravel(), C2[1].ravel()
    assert gradcheck(lambda r: early_map_coordinates(X2, [r, cols], order=3, mode="mirror"), rows)
    # lines longer than 64 samples: the adjoint of the spline filter by its symmetry
    long = RNG.normal(size=80)
    for mode in ("mirror", "reflect", "wrap", "grid-wrap", "nearest", "grid-constant"):
        check("spline_filter1d", long, order=3, mode=mode)
    check("map_coordinates", long, RNG.uniform(-4.0, 84.0, size=(1, 5)), order=5, mode="wrap")
    check("spline_filter", X2, order=4, mode="reflect")
    assert gradgradcheck(lambda x, c: ndimage.map_coordinates(x, c, order=3, mode="mirror"),
                         X2[:4, :5], RNG.uniform(0.2, 3.7, size=(2, 3)))
    assert gradgradcheck(lambda x: ndimage.zoom(x, 1.5, order=2), X2[:3, :4])
    with pytest.raises(TypeError, match="zoom"):
        ndimage.zoom(ga.asarray(X2), ga.asarray(2.0, requires_grad=True))


def test_device_data_is_refused_clearly():
    x = ga.asarray(X2, device="standin", requires_grad=True)
    for call in (lambda: ndimage.gaussian_filter(x, 1.0), lambda: ndimage.median_filter(x, 3),
                 lambda: ndimage.map_coordinates(x, C2, order=1)):
        with pytest.raises(NotImplementedError, match="host"):
            call()
