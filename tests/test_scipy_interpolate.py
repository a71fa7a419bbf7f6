"""scipy.interpolate with GradArrays (gradarray/scipy/interpolate*.py): interpolators built on
tracked data stay SciPy's classes, give SciPy's values and are differentiable in the data and in
the query points; interpolators built on plain data are differentiable in tracked query points."""
import numpy as np
import pytest

import gradarray as ga
from gradarray.testing import gradcheck, gradgradcheck

si = pytest.importorskip("scipy.interpolate")
from scipy.interpolate import CubicSpline, RegularGridInterpolator, interp1d  # noqa: E402

pytestmark = pytest.mark.filterwarnings("error::gradarray.GradientLostWarning")

rng = np.random.default_rng(1)
X = np.array([0.0, 0.7, 1.5, 2.1, 3.2, 4.0, 5.0])
Y = rng.standard_normal(7)
Y2 = rng.standard_normal((7, 2))
XQ = np.linspace(-0.45, 5.45, 11)                 # inside and outside the data, off the knots
INSIDE = np.linspace(X[0] + 1e-3, X[-1] - 1e-3, 9)


def _tracked(a):
    return ga.asarray(a, requires_grad=True)


def _close(got, expected, rtol=1e-11):
    assert type(got) is ga.GradArray
    np.testing.assert_allclose(got.numpy(), expected, rtol=rtol, atol=1e-12)


# ------------------------------------------------------------------------------ CubicSpline
BOUNDARY = ["not-a-knot", "natural", "clamped", ((1, 0.3), (2, -1.0)), ((2, 0.5), "not-a-knot")]


@pytest.mark.parametrize("bc_type", BOUNDARY, ids=str)
@pytest.mark.parametrize("n", [2, 3, 4, 7])
def test_cubic_spline_boundary_conditions(bc_type, n):
    x, y = X[:n], Y[:n]
    reference = CubicSpline(x, y, bc_type=bc_type)
    spline = CubicSpline(x, _tracked(y), bc_type=bc_type)
    assert isinstance(spline, CubicSpline) and spline.c.requires_grad
    np.testing.assert_array_equal(spline.c.numpy(), reference.c)   # SciPy's coefficients
    _close(spline(XQ), reference(XQ))
    _close(spline.derivative(2)(XQ), reference.derivative(2)(XQ))
    _close(spline.antiderivative(2)(XQ), reference.antiderivative(2)(XQ), rtol=1e-10)
    _close(spline.integrate(0.3, 4.0), reference.integrate(0.3, 4.0), rtol=1e-10)
    gradcheck(lambda v: CubicSpline(x, v, bc_type=bc_type)(XQ), ga.asarray(y))
    gradcheck(lambda v: CubicSpline(x, v, bc_type=bc_type).derivative()(XQ), ga.asarray(y))
    gradcheck(lambda v: CubicSpline(x, v, bc_type=bc_type).antiderivative()(XQ), ga.asarray(y))
    gradcheck(lambda q: reference(q, nu=1), ga.asarray(XQ))       # plain spline, tracked points


@pytest.mark.parametrize("n", [3, 4, 8])
def test_cubic_spline_periodic(n):
    x = np.linspace(0.0, 1.0, n)
    y = rng.standard_normal(n)
    y[-1] = y[0]
    _close(CubicSpline(x, _tracked(y), bc_type="periodic")(XQ / 4),
           CubicSpline(x, y, bc_type="periodic")(XQ / 4))

    def closed_curve(v):                                 # legacy code closes the period itself
        return CubicSpline(x, np.concatenate([v, v[:1]]), bc_type="periodic")(XQ / 4)
    gradcheck(closed_curve, ga.asarray(y[:-1]))


def test_cubic_spline_axis_lists_and_second_order():
    reference = CubicSpline(X, Y2.T, axis=1)
    _close(CubicSpline(X, _tracked(Y2.T), axis=1)(XQ), reference(XQ))
    points = XQ[:3].reshape(3, 1)
    gradcheck(lambda v: CubicSpline(X, v, axis=1, bc_type="clamped")(points),
              ga.asarray(np.ascontiguousarray(Y2.T)))
    a = _tracked(0.5)
    spline = CubicSpline([0.0, 1.0, 2.0, 3.0], [a, 1.0, np.float64(2.0) * a, 0.0])  # a list
    _close(spline(1.5), CubicSpline([0.0, 1.0, 2.0, 3.0], [0.5, 1.0, 1.0, 0.0])(1.5))
    spline(1.5).backward()
    assert a.grad is not None and a.grad != 0
    gradgradcheck(lambda v, q: CubicSpline(X, v)(q) ** 2, ga.asarray(Y), ga.asarray(XQ[2:5]))


def test_a_subclass_the_caller_wrote_keeps_its_methods():
    class NaturalSpline(CubicSpline):
        def __init__(self, x, y):
            super().__init__(x, y, bc_type="natural")

        def mean_slope(self):
            return (self(self.x[-1]) - self(self.x[0])) / (self.x[-1] - self.x[0])
    spline = NaturalSpline(X, _tracked(Y))
    assert isinstance(spline, NaturalSpline) and type(spline).__name__ == "NaturalSpline"
    _close(spline.mean_slope(), NaturalSpline(X, Y).mean_slope())
    gradcheck(lambda v: NaturalSpline(X, v).mean_slope(), ga.asarray(Y))


def test_hermite_and_pchip():
    for y in (Y, np.array([0.0, 1.0, 1.0, 2.0, 5.0, 3.0, 3.0]), np.array([1.0, 2.0])):
        x = X[:len(y)]
        _close(si.PchipInterpolator(x, _tracked(y))(XQ), si.PchipInterpolator(x, y)(XQ))
    gradcheck(lambda v: si.PchipInterpolator(X, v)(XQ), ga.asarray(Y))
    dydx = rng.standard_normal(7)
    _close(si.CubicHermiteSpline(X, _tracked(Y), dydx)(XQ), si.CubicHermiteSpline(X, Y, dydx)(XQ))
    gradcheck(lambda v, d: si.CubicHermiteSpline(X, v, d)(XQ), ga.asarray(Y), ga.asarray(dydx))
    akima = si.Akima1DInterpolator(X, Y)                 # plain data, tracked points
    gradcheck(lambda q: akima(q), ga.asarray(INSIDE))


def test_piecewise_polynomials_at_tracked_points():
    c = rng.standard_normal((4, 3))
    breaks = [0.0, 1.0, 2.0, 3.0]
    points = np.linspace(-0.3, 3.2, 6)
    for plain in (si.PPoly(c, breaks), si.BPoly(c, breaks)):
        _close(plain(ga.asarray(points)), plain(points))
        gradcheck(lambda q: plain(q), ga.asarray(points))
        _close(plain(ga.asarray(points), extrapolate=False), plain(points, extrapolate=False))
    gradcheck(lambda cc: si.PPoly(cc, breaks)(points), ga.asarray(c))
    gradcheck(lambda a, b: si.PPoly(c, breaks).integrate(a, b), ga.asarray(0.2), ga.asarray(2.5))
    with pytest.raises(NotImplementedError, match="roots"):
        CubicSpline(X, _tracked(Y)).roots()
    with pytest.raises(TypeError, match="'x'"):
        CubicSpline(_tracked(X), Y)


# ------------------------------------------------------------------------------ B-splines
@pytest.mark.parametrize("k, bc_type", [(0, None), (1, None), (2, None), (3, None), (5, None),
                                        (3, "natural"), (3, "clamped"),
                                        (3, ([(1, 0.5)], [(2, 1.0)]))])
def test_make_interp_spline(k, bc_type):
    reference = si.make_interp_spline(X, Y, k=k, bc_type=bc_type)
    spline = si.make_interp_spline(X, _tracked(Y), k=k, bc_type=bc_type)
    assert isinstance(spline, si.BSpline) and spline.k == k
    np.testing.assert_array_equal(spline.c.numpy(), reference.c)
    _close(spline(XQ), reference(XQ))
    gradcheck(lambda v: si.make_interp_spline(X, v, k=k, bc_type=bc_type)(XQ), ga.asarray(Y))
    if k >= 1:
        gradcheck(lambda q: reference(q, nu=1), ga.asarray(XQ))
        gradcheck(lambda v: si.make_interp_spline(X, v, k=k, bc_type=bc_type).derivative()(XQ),
                  ga.asarray(Y))


def test_bspline_objects_and_second_order():
    _close(si.make_interp_spline(X, _tracked(Y2))(XQ), si.make_interp_spline(X, Y2)(XQ))
    knots = np.r_[[0.0] * 3, np.linspace(0, 1, 5), [1.0] * 3]
    coefficients = rng.standard_normal(7)
    _close(si.BSpline(knots, _tracked(coefficients), 3)(INSIDE / 5),
           si.BSpline(knots, coefficients, 3)(INSIDE / 5))
    gradcheck(lambda cc: si.BSpline(knots, cc, 3)(np.linspace(0, 1, 7)), ga.asarray(coefficients))
    gradgradcheck(lambda v, q: si.make_interp_spline(X, v)(q) ** 2, ga.asarray(Y),
                  ga.asarray(XQ[2:5]))
    with pytest.raises(NotImplementedError, match="periodic"):
        si.make_interp_spline(X, _tracked(np.r_[Y[:-1], Y[0]]), bc_type="periodic")


# ------------------------------------------------------------------------------ interp1d
@pytest.mark.parametrize("kind", ["linear", "nearest", "nearest-up", "previous", "next", "zero",
                                  "slinear", "quadratic", "cubic"])
def test_interp1d(kind):
    for fill in (np.nan, "extrapolate", (-1.0, 2.0)):
        reference = interp1d(X[::-1], Y[::-1], kind=kind, bounds_error=False, fill_value=fill)
        tracked = interp1d(X[::-1], _tracked(Y[::-1]), kind=kind, bounds_error=False,
                           fill_value=fill)
        assert isinstance(tracked, interp1d)
        _close(tracked(XQ), reference(XQ))
        _close(reference(ga.asarray(XQ)), reference(XQ))
        points = INSIDE if isinstance(fill, float) or kind in ("previous", "next") else XQ
        gradcheck(lambda v: interp1d(X, v, kind=kind, bounds_error=False, fill_value=fill)(points),
                  ga.asarray(Y))
    if kind in ("linear", "slinear", "quadratic", "cubic"):
        gradcheck(lambda q: reference(q), ga.asarray(INSIDE))


def test_interp1d_axis_bounds_and_refusals():
    reference = interp1d(X, Y2.T, axis=1, kind="cubic")
    _close(interp1d(X, _tracked(Y2.T), axis=1, kind="cubic")(XQ[2:5]), reference(XQ[2:5]))
    with pytest.raises(ValueError, match="below the interpolation range"):
        interp1d(X, _tracked(Y))(X[0] - 1.0)
    with pytest.raises(TypeError, match="fill_value"):
        interp1d(X, Y, bounds_error=False, fill_value=_tracked(0.0))


# ------------------------------------------------------------------------------ regular grids
GRID = (np.linspace(0.0, 1.0, 4), np.array([3.0, 2.0, 0.5]))      # one descending axis
VALUES = rng.standard_normal((4, 3))
POINTS = np.column_stack([rng.uniform(-0.1, 1.1, 5), rng.uniform(0.4, 3.1, 5)])


@pytest.mark.parametrize("method", ["linear", "nearest", "slinear"])
@pytest.mark.parametrize("fill_value", [None, 0.5])
def test_regular_grid_interpolator(method, fill_value):
    def build(values):
        return RegularGridInterpolator(GRID, values, method=method, bounds_error=False,
                                       fill_value=fill_value)
    reference = build(VALUES)
    assert isinstance(build(_tracked(VALUES)), RegularGridInterpolator)
    _close(build(_tracked(VALUES))(POINTS), reference(POINTS))
    _close(reference(ga.asarray(POINTS)), reference(POINTS))
    gradcheck(lambda v: build(v)(POINTS), ga.asarray(VALUES))
    if method != "nearest":
        gradcheck(lambda p: reference(p), ga.asarray(POINTS))


def test_regular_grid_shapes_interpn_and_refusals():
    values = rng.standard_normal((4, 3, 2))               # trailing dimension
    grid = (GRID[0], np.sort(GRID[1]))
    inside = np.column_stack([rng.uniform(0, 1, 4), rng.uniform(0.5, 3.0, 4)])
    _close(RegularGridInterpolator(grid, _tracked(values))(inside),
           RegularGridInterpolator(grid, values)(inside))
    xx, yy = np.meshgrid([0.2, 0.7], [1.0, 2.5], indexing="ij")
    gradcheck(lambda a: RegularGridInterpolator(grid, values)((a, yy)), ga.asarray(xx))
    gradcheck(lambda v, p: si.interpn(grid, v, p), ga.asarray(values), ga.asarray(inside))
    with pytest.raises(ValueError, match="out of bounds"):
        RegularGridInterpolator(grid, _tracked(values))([[2.0, 1.0]])
    with pytest.raises(NotImplementedError, match="cubic"):
        RegularGridInterpolator(grid, _tracked(values), method="cubic")
