"""Composite NumPy functions (Python code starting with np.asarray): diff, gradient, trapezoid,
interp, polynomials, sinc, i0, nan_to_num, angle, unwrap, clip, meshgrid, linspace & co., vander.
Gradients against finite differences, forward values against NumPy, and the tape is kept."""
import numpy as np
import pytest

import gradarray as ga
from gradarray.testing import gradcheck, gradgradcheck


def _tree_numpy(out):
    if isinstance(out, (tuple, list)):
        return [_tree_numpy(o) for o in out]
    return ga.asarray(out).numpy()


def _same_forward(f, *np_args, rtol=1e-12):
    """f on GradArrays gives NumPy's value (and a GradArray)."""
    expected = f(*np_args)
    got = f(*[ga.asarray(a) if isinstance(a, np.ndarray) else a for a in np_args])
    if isinstance(expected, (tuple, list)):
        assert len(got) == len(expected)
        for e, o in zip(expected, got):
            assert type(o) is ga.GradArray
            np.testing.assert_allclose(o.numpy(), e, rtol=rtol, atol=1e-12)
    else:
        assert type(got) is ga.GradArray
        np.testing.assert_allclose(got.numpy(), expected, rtol=rtol, atol=1e-12)


@pytest.fixture
def x6(rng):
    return rng.standard_normal(6)


# ------------------------------------------------------------------------------ differences & sums
DIFFS = [lambda a: np.diff(a), lambda a: np.diff(a, n=2), lambda a: np.diff(a.reshape(2, 3), axis=0),
         lambda a: np.diff(a.reshape(2, 3), prepend=0.5, append=a[:2].reshape(2, 1)),
         lambda a: np.ediff1d(a.reshape(2, 3), to_begin=a[:2], to_end=3.0)]


@pytest.mark.parametrize("k", range(len(DIFFS)))
def test_diff(backend, x6, k):
    _same_forward(DIFFS[k], x6)
    gradcheck(DIFFS[k], backend.asarray(x6))


def test_diff_prepend_is_differentiable(backend, x6):
    gradcheck(lambda a, p: np.diff(a, prepend=p), backend.asarray(x6), backend.asarray(np.array([0.3])))


TRAPZ = [lambda y: np.trapezoid(y), lambda y: np.trapezoid(y, dx=0.5),
         lambda y: np.trapezoid(y.reshape(2, 3), axis=0)]


@pytest.mark.parametrize("k", range(len(TRAPZ)))
def test_trapezoid(backend, x6, k):
    _same_forward(TRAPZ[k], x6)
    gradcheck(TRAPZ[k], backend.asarray(x6))


def test_trapezoid_wrt_x_and_gradgrad(backend, rng, x6):
    xs = np.sort(rng.standard_normal(3))
    f = lambda y, x: np.trapezoid(y.reshape(2, 3), x)  # noqa: E731
    _same_forward(f, x6, xs)
    gradcheck(f, backend.asarray(x6), backend.asarray(xs))
    # GradArrays for f (gradgradcheck first calls f on raw data, where CuPy has no np.trapezoid)
    gradgradcheck(lambda y, x: f(ga.asarray(y), ga.asarray(x)), backend.asarray(x6),
                  backend.asarray(xs))
    gradcheck(lambda y, x: np.trapezoid(y, x, axis=0), backend.asarray(x6.reshape(3, 2)),
              backend.asarray(rng.standard_normal((3, 2))))


@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
def test_trapezoid_dtypes(backend, x6, dtype):
    y = (x6 + 1j * x6[::-1]).astype(dtype) if np.dtype(dtype).kind == "c" else x6.astype(dtype)
    gradcheck(np.trapezoid, backend.asarray(y))


GRADIENTS = [lambda f: np.gradient(f), lambda f: np.gradient(f, 0.5, edge_order=2),
             lambda f: np.gradient(f.reshape(2, 3)), lambda f: np.gradient(f.reshape(2, 3), axis=1),
             lambda f: np.gradient(f.reshape(3, 2), 2.0, [0.0, 0.5], edge_order=1)]


@pytest.mark.parametrize("k", range(len(GRADIENTS)))
def test_gradient(backend, x6, k):
    _same_forward(GRADIENTS[k], x6)
    gradcheck(GRADIENTS[k], backend.asarray(x6))


@pytest.mark.parametrize("edge_order", [1, 2])
def test_gradient_nonuniform_coordinates(backend, rng, x6, edge_order):
    c = np.cumsum(rng.uniform(0.5, 1.5, 6))
    f = lambda y, c: np.gradient(y, c, edge_order=edge_order)  # noqa: E731
    _same_forward(f, x6, c)
    gradcheck(f, backend.asarray(x6), backend.asarray(c))
    gradgradcheck(f, backend.asarray(x6), backend.asarray(c))


# ------------------------------------------------------------------------------------------ interp
def test_interp(backend, rng):
    xp = np.sort(rng.uniform(-1, 1, 5))
    fp = rng.standard_normal(5)
    x = np.concatenate([rng.uniform(-1.5, 1.5, 6), [xp[0] - 0.1, xp[-1] + 0.1]])
    _same_forward(np.interp, x, xp, fp)
    _same_forward(lambda a, b, c: np.interp(a, b, c, left=-2.0, right=3.0), x, xp, fp)
    gradcheck(np.interp, backend.asarray(x), backend.asarray(xp), backend.asarray(fp))
    gradcheck(lambda a, b, c, lo, hi: np.interp(a, b, c, lo, hi), backend.asarray(x),
              backend.asarray(xp), backend.asarray(fp), backend.asarray(np.array(-2.0)),
              backend.asarray(np.array(3.0)))
    gradgradcheck(np.interp, backend.asarray(x), backend.asarray(xp), backend.asarray(fp))


def test_interp_period_and_complex(backend, rng):
    xp = rng.uniform(0, 6, 5)          # unsorted, wraps around the period
    fp = rng.standard_normal(5) + 1j * rng.standard_normal(5)
    x = rng.uniform(-5, 5, 7)
    f = lambda a, b, c: np.interp(a, b, c, period=3.0)  # noqa: E731
    _same_forward(f, x, xp, fp)
    gradcheck(f, backend.asarray(x), backend.asarray(xp), backend.asarray(fp))
    gradcheck(np.interp, backend.asarray(x / 4), backend.asarray(np.sort(xp) / 6), backend.asarray(fp))


def test_interp_scalar_x_and_list_knots(rng):
    x = ga.asarray(np.array(0.25), requires_grad=True)
    y = np.interp(x, [0.0, 1.0], [1.0, 3.0])
    y.backward()
    np.testing.assert_allclose(y.numpy(), 1.5)
    np.testing.assert_allclose(x.grad.numpy(), 2.0)


# ------------------------------------------------------------------------------------- polynomials
def test_polyval(backend, rng, x6):
    p = rng.standard_normal(4)
    _same_forward(np.polyval, p, x6)
    gradcheck(np.polyval, backend.asarray(p), backend.asarray(x6))
    gradgradcheck(np.polyval, backend.asarray(p), backend.asarray(x6[:3]))
    pc = p + 1j * rng.standard_normal(4)
    gradcheck(np.polyval, backend.asarray(pc), backend.asarray(x6 + 0.5j))


POLYS = [lambda p: np.polyder(p), lambda p: np.polyder(p, 2), lambda p: np.polyint(p),
         lambda p: np.polyint(p, 2, k=[0.5, 2.0]), lambda p: np.polyadd(p, p[:3]),
         lambda p: np.polysub(p[:2], p), lambda p: np.polymul(p[:3], p),
         lambda p: np.poly(ga.asarray(p)[:4]),          # (the stand-in has no np.poly of its own)
         lambda p: np.polymul(p, [1.0, 2.0])]


@pytest.mark.parametrize("k", range(len(POLYS)))
def test_polynomial_arithmetic(backend, x6, k):
    _same_forward(POLYS[k], x6)
    gradcheck(POLYS[k], backend.asarray(x6))


def test_polyint_constants_are_differentiable(backend, x6):
    gradcheck(lambda p, k: np.polyint(p, 2, k), backend.asarray(x6), backend.asarray(np.array([0.5, 2.0])))


def test_poly_complex_roots(backend, rng):
    r = rng.standard_normal(2) + 1j * rng.standard_normal(2)
    conj_pairs = np.array([r[0], np.conj(r[0])])
    _same_forward(np.poly, r)
    _same_forward(np.poly, conj_pairs)          # real coefficients, as NumPy returns them
    gradcheck(lambda r: np.poly(ga.asarray(r)), backend.asarray(r))


def test_polyfit(backend, rng):
    if np.linalg.solve not in ga._tables.RULES and np.linalg.solve not in ga._tables.IMPLEMENTATIONS:
        pytest.skip("np.linalg.solve has no rule yet (gradarray/linalg), polyfit's gradient needs it")
    x = np.linspace(-1, 1, 7)
    y = rng.standard_normal(7)
    _same_forward(lambda a, b: np.polyfit(a, b, 2), x, y, rtol=1e-9)
    gradcheck(lambda a, b: np.polyfit(a, b, 2), backend.asarray(x), backend.asarray(y))
    w = rng.uniform(0.5, 1.5, 7)
    xb = backend.asarray(x)
    gradcheck(lambda b, w: np.polyfit(xb, b, 1, w=w), backend.asarray(y), backend.asarray(w))
    gradcheck(lambda b: np.polyfit(xb, b, 2), backend.asarray(rng.standard_normal((7, 2))))


def test_vander(backend, x6):
    for f in (lambda a: np.vander(a), lambda a: np.vander(a[:4], 3, increasing=True)):
        _same_forward(f, x6)
        gradcheck(f, backend.asarray(x6))


# ------------------------------------------------------------------------------------- elementwise
def test_sinc(backend, x6):
    x = np.append(x6, 0.0)
    _same_forward(np.sinc, x)
    gradcheck(np.sinc, backend.asarray(x))
    gradgradcheck(np.sinc, backend.asarray(x6))
    gradgradcheck(np.sinc, backend.asarray(np.array([0.0, 2e-4, -0.3])))     # the series near 0
    gradcheck(np.sinc, backend.asarray(x6 + 0.5j))


def test_i0(backend):
    x = np.array([-25.0, -3.0, 0.0, 0.5, 10.0, 19.9, 20.1, 30.0])
    _same_forward(np.i0, x)
    # one magnitude per check: finite differences of a sum mixing 1 and 1e11 lose the small terms
    for part in (x[1:5], x[5:7], x[:1], x[7:]):
        gradcheck(np.i0, backend.asarray(part), rtol=1e-6)
    gradgradcheck(np.i0, backend.asarray(np.array([-2.0, 0.0, 0.7])), rtol=1e-6)
    gradgradcheck(np.i0, backend.asarray(np.array([21.0])), rtol=1e-6)


def test_i0_derivative_is_scipy_i1():
    sc = pytest.importorskip("scipy.special")
    x = np.array([-700.0, -50.0, -20.0, -19.99, -1e-3, 0.0, 1e-8, 0.3, 5.0, 15.0, 20.0, 100.0, 709.0])
    xg = ga.asarray(x, requires_grad=True)
    np.sum(np.i0(xg)).backward()
    np.testing.assert_allclose(xg.grad.numpy(), sc.i1(x), rtol=2e-15)


def test_nan_to_num(backend, x6):
    x = np.array([np.nan, np.inf, -np.inf, 1.0, -2.0])
    _same_forward(np.nan_to_num, x)
    xg = ga.asarray(x, requires_grad=True)
    np.sum(np.nan_to_num(xg, nan=1.0) * 3.0).backward()
    np.testing.assert_array_equal(xg.grad.numpy(), [0, 0, 0, 3, 3])
    gradcheck(np.nan_to_num, backend.asarray(x6))
    z = np.array([complex(np.nan, 1.0), complex(2.0, np.inf)])
    zg = ga.asarray(z, requires_grad=True)
    np.sum(np.real(np.nan_to_num(zg)) + 2 * np.imag(np.nan_to_num(zg))).backward()
    np.testing.assert_array_equal(zg.grad.numpy(), [2j, 1])


def test_angle(backend, rng, x6):
    z = x6 + 1j * rng.standard_normal(6)
    _same_forward(np.angle, z)
    gradcheck(np.angle, backend.asarray(z))
    gradcheck(lambda z: np.angle(z, deg=True), backend.asarray(z), rtol=1e-4)
    gradgradcheck(np.angle, backend.asarray(z[:3]))
    gradcheck(np.angle, backend.asarray(x6))        # real input: piecewise constant


def test_unwrap(backend, x6):
    p = np.cumsum(np.abs(x6) * 3)
    _same_forward(np.unwrap, p)
    gradcheck(np.unwrap, backend.asarray(p))
    gradcheck(lambda p: np.unwrap(p.reshape(2, 3), axis=0, period=4.0), backend.asarray(p))


def test_rounding_is_nondifferentiable(x6):
    x = ga.asarray(x6, requires_grad=True)
    for f in (np.round, np.around, np.fix, lambda a: a.round(1)):
        out = f(x)
        assert not out.requires_grad
    np.testing.assert_array_equal(np.fix(x).numpy(), np.fix(x6))
    a = ga.asarray(np.ones((3, 3)), requires_grad=True)
    np.testing.assert_array_equal(np.tril_indices_from(a)[0].numpy(), np.tril_indices_from(np.ones((3, 3)))[0])


def test_clip(backend, rng):
    x = np.array([-2.0, -0.5, 0.1, 0.4, 1.5, 3.0])
    for f in (lambda a: np.clip(a, -1.0, 1.0), lambda a: np.clip(a, None, 0.2),
              lambda a: np.clip(a, min=0.0), lambda a: a.clip(-0.4, 0.3)):
        _same_forward(f, x)
        gradcheck(f, backend.asarray(x))
    lo, hi = np.full(6, -0.3), np.array([0.5, 0.5, 0.5, -1.0, 2.0, 2.0])   # crossed bounds at [3]
    _same_forward(np.clip, x, lo, hi)
    gradcheck(np.clip, backend.asarray(x), backend.asarray(lo), backend.asarray(hi))
    gradcheck(lambda a, lo: np.clip(a, lo, 1.0), backend.asarray(x), backend.asarray(np.array(0.2)))


def test_clip_tie_goes_to_the_input():
    x = ga.asarray(np.array([1.0, -1.0]), requires_grad=True)
    lo = ga.asarray(np.array(-1.0), requires_grad=True)
    np.sum(np.clip(x, lo, 1.0)).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(lo.grad.numpy(), 0.0)


# ------------------------------------------------------------------------------ grids and ranges
@pytest.mark.parametrize("kw", [{}, {"indexing": "ij"}, {"sparse": True}, {"copy": False}])
def test_meshgrid(backend, rng, kw):
    a, b, c = rng.standard_normal(2), rng.standard_normal(3), rng.standard_normal(2)
    f = lambda a, b, c: np.meshgrid(a, b, c, **kw)  # noqa: E731
    _same_forward(f, a, b, c)
    gradcheck(f, backend.asarray(a), backend.asarray(b), backend.asarray(c))


RANGES = [lambda a, b: np.linspace(a, b, 5), lambda a, b: np.linspace(a, b, 4, endpoint=False),
          lambda a, b: np.linspace(a, b, 3, axis=-1), lambda a, b: np.linspace(a, b, 4, retstep=True),
          lambda a, b: np.linspace(a, b, 1), lambda a, b: np.logspace(a, b, 4),
          lambda a, b: np.logspace(a, b, 3, base=2.0, axis=1), lambda a, b: np.geomspace(a, b, 5),
          lambda a, b: np.geomspace(-a, -b, 4, endpoint=False, axis=1)]


@pytest.mark.parametrize("k", range(len(RANGES)))
def test_linspace_family(backend, k):
    a, b = np.array(1.5), np.array([2.0, 3.0])
    _same_forward(RANGES[k], a, b)
    gradcheck(RANGES[k], backend.asarray(a), backend.asarray(b))


def test_linspace_scalar_start_and_gradgrad(backend):
    gradcheck(lambda b: np.linspace(0.0, b, 5), backend.asarray(np.array(2.0)))
    gradgradcheck(lambda a, b: np.geomspace(ga.asarray(a), b, 4), backend.asarray(np.array(1.5)),
                  backend.asarray(np.array(3.0)))


def test_geomspace_complex(backend):
    a, b = np.array(1.0 + 1.0j), np.array(2.0 + 3.0j)
    f = lambda a, b: np.geomspace(a, b, 4)  # noqa: E731
    _same_forward(f, a, b)
    gradcheck(f, backend.asarray(a), backend.asarray(b))


# ------------------------------------------------------------------------------------- the tape
COMPOSITES = [lambda x: np.diff(x), lambda x: np.gradient(x), lambda x: np.trapezoid(x),
              lambda x: np.interp(x, [-1.0, 0.0, 1.0], [0.0, 2.0, 1.0]), lambda x: np.polyval(x, 0.5),
              lambda x: np.sinc(x), lambda x: np.i0(x), lambda x: np.clip(x, -0.5, 0.5),
              lambda x: np.meshgrid(x, x)[0], lambda x: np.linspace(x, 2 * x, 3),
              lambda x: np.vander(x, 3), lambda x: np.polymul(x, x), lambda x: np.unwrap(x),
              lambda x: np.nan_to_num(x), lambda x: np.ediff1d(x), lambda x: np.angle(x + 1j)]


@pytest.mark.parametrize("k", range(len(COMPOSITES)))
def test_composites_keep_the_tape(k, rng):
    """The result is tracked and backward reaches the input (NumPy's own code would drop it)."""
    x = ga.asarray(rng.uniform(-0.9, 0.9, 4), requires_grad=True)
    out = COMPOSITES[k](x)
    assert type(out) is ga.GradArray and out.requires_grad
    np.sum(out * out).backward()
    assert x.grad is not None and x.grad.shape == x.shape and np.any(x.grad.numpy() != 0)
