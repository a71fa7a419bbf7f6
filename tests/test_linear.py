"""Products: matmul/vecdot/matvec/vecmat, dot, vdot, inner, outer, tensordot, einsum, kron, cross,
convolve, correlate. Gradients against finite differences, forward values against NumPy."""
import numpy as np
import pytest

import gradarray as ga
from gradarray._tables import RULES
from gradarray.testing import gradcheck, gradgradcheck


def _data(rng, shape, dtype=np.float64):
    x = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


def _same_forward(f, *np_args):
    """f on GradArrays gives NumPy's value."""
    expected = f(*np_args)
    got = f(*[ga.asarray(a) if isinstance(a, np.ndarray) else a for a in np_args])
    np.testing.assert_allclose(ga.asarray(got).numpy(), expected, rtol=1e-12, atol=1e-12)


MATMUL_SHAPES = [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 3), (3, 4)),
                 ((2, 2, 3), (3, 2)), ((3,), (2, 3, 2)), ((2, 1, 2, 3), (3, 3, 2)), ((2, 2, 3), (3,))]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_shapes(backend, rng, sa, sb):
    a, b = _data(rng, sa), _data(rng, sb)
    _same_forward(np.matmul, a, b)
    gradcheck(lambda x, y: x @ y, backend.asarray(a), backend.asarray(b))


@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
def test_matmul_dtypes(backend, rng, dtype):
    a, b = _data(rng, (2, 3), dtype), _data(rng, (3, 2), dtype)
    gradcheck(np.matmul, backend.asarray(a), backend.asarray(b))


def test_matmul_complex_batched_and_gradgrad(backend, rng):
    a, b = _data(rng, (2, 2, 3), np.complex128), _data(rng, (3,), np.complex128)
    gradcheck(np.matmul, backend.asarray(a), backend.asarray(b))
    gradgradcheck(np.matmul, backend.asarray(_data(rng, (2, 3))), backend.asarray(_data(rng, (3, 2))))
    gradgradcheck(np.matmul, backend.asarray(_data(rng, (3,))), backend.asarray(_data(rng, (2, 3, 2))))


def test_matmul_mixed_real_complex(backend, rng):
    a, b = _data(rng, (2, 3)), _data(rng, (3, 2), np.complex128)
    gradcheck(np.matmul, backend.asarray(a), backend.asarray(b))


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_vecdot_matvec_vecmat(backend, rng, dtype):
    if backend.name == "standin":
        pytest.skip("CuPy 13 has no np.vecdot / np.matvec / np.vecmat ufuncs: the forward call "
                    "itself fails there (the VJPs are checked on the stand-in below)")
    for f, sa, sb in [(np.vecdot, (2, 3), (3,)), (np.matvec, (2, 2, 3), (3,)),
                      (np.vecmat, (3,), (2, 3, 2))]:
        a, b = _data(rng, sa, dtype), _data(rng, sb, dtype)
        _same_forward(f, a, b)
        gradcheck(f, backend.asarray(a), backend.asarray(b))
    gradgradcheck(np.vecdot, backend.asarray(_data(rng, (2, 3), dtype)),
                  backend.asarray(_data(rng, (3,), dtype)))


@pytest.mark.parametrize("func", [np.vecdot, np.matvec, np.vecmat], ids=lambda f: f.__name__)
def test_vecdot_matvec_vecmat_vjps_need_no_missing_ufunc(rng, func):
    """CuPy lacks these three ufuncs, but their VJPs must run on device data: evaluated on stand-in
    arrays (which refuse them, as CuPy does), they agree with the same VJPs on NumPy data."""
    import standin
    shapes = {np.vecdot: ((2, 3), (3,)), np.matvec: ((2, 2, 3), (3,)), np.vecmat: ((3,), (2, 3, 2))}
    a, b = (_data(rng, s, np.complex128) for s in shapes[func])
    ans = func(a, b)
    g = _data(rng, ans.shape, np.complex128)
    for vjp, expected in zip(RULES[func].vjps, RULES[func].vjps):
        on_device = vjp(standin.asarray(g), None, standin.asarray(a), standin.asarray(b))
        np.testing.assert_allclose(on_device.get(), expected(g, None, a, b))


DOT_SHAPES = [((), (3,)), ((2, 2), ()), ((3,), (3,)), ((2, 3), (3, 2)), ((2, 2, 3), (3,)),
              ((3,), (2, 3, 2)), ((2, 3), (2, 3, 2)), ((2, 2, 3), (2, 3, 2))]


@pytest.mark.parametrize("sa,sb", DOT_SHAPES)
def test_dot(backend, rng, sa, sb):
    a, b = _data(rng, sa), _data(rng, sb)
    _same_forward(np.dot, a, b)
    gradcheck(np.dot, backend.asarray(a), backend.asarray(b))


def test_dot_complex_method_and_gradgrad(backend, rng):
    a, b = _data(rng, (2, 3), np.complex128), _data(rng, (3, 2), np.complex128)
    gradcheck(lambda x, y: x.dot(y), backend.asarray(a), backend.asarray(b))
    gradgradcheck(np.dot, backend.asarray(_data(rng, (2, 2, 3))), backend.asarray(_data(rng, (3,))))


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_vdot_inner_outer(backend, rng, dtype):
    for f, sa, sb in [(np.vdot, (2, 3), (3, 2)), (np.inner, (2, 3), (2, 2, 3)), (np.inner, (3,), (3,)),
                      (np.inner, (), (2, 2)), (np.outer, (2, 2), (3,))]:
        a, b = _data(rng, sa, dtype), _data(rng, sb, dtype)
        _same_forward(f, a, b)
        gradcheck(f, backend.asarray(a), backend.asarray(b))
    gradgradcheck(np.outer, backend.asarray(_data(rng, (3,), dtype)),
                  backend.asarray(_data(rng, (2,), dtype)))


@pytest.mark.parametrize("sa,sb,axes", [((2, 3, 4), (3, 4, 2), 2), ((2, 3), (3, 2), 1),
                                        ((2, 3), (2,), 0), ((2, 3, 4), (4, 2, 3), ([1, 2], [2, 0])),
                                        ((3, 2, 4), (4, 3), ([2, 0], [0, 1])), ((2, 3), (3, 2), (1, 0))])
def test_tensordot(backend, rng, sa, sb, axes):
    a, b = _data(rng, sa), _data(rng, sb)
    _same_forward(lambda x, y: np.tensordot(x, y, axes), a, b)
    gradcheck(lambda x, y: np.tensordot(x, y, axes=axes), backend.asarray(a), backend.asarray(b))


def test_tensordot_complex_gradgrad(backend, rng):
    a, b = _data(rng, (2, 3, 2), np.complex128), _data(rng, (2, 3), np.complex128)
    f = lambda x, y: np.tensordot(x, y, axes=([1, 0], [1, 0]))  # noqa: E731
    gradcheck(f, backend.asarray(a), backend.asarray(b))
    gradgradcheck(f, backend.asarray(a), backend.asarray(b))


EINSUMS = [("ij,jk->ik", [(2, 3), (3, 2)]), ("ij,jk", [(2, 3), (3, 2)]), ("ii->i", [(3, 3)]),
           ("ii", [(3, 3)]), ("ij->", [(2, 3)]), ("ij->ji", [(2, 3)]), ("i,i", [(3,), (3,)]),
           ("i,j->ij", [(2,), (3,)]), ("...ij,...jk->...ik", [(2, 2, 3), (3, 2)]),
           ("...i,...i->...", [(2, 1, 3), (2, 3)]), ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 2)]),
           ("iij->j", [(2, 2, 3)]), ("bii,bj->bij", [(2, 2, 2), (2, 3)]), ("i...->...", [(2, 3, 2)]),
           ("ijk,ik->j", [(2, 3, 2), (2, 2)]), ("a,ab,bc->ca", [(2,), (2, 3), (3, 2)]),
           ("iii->i", [(2, 2, 2)]), ("ij,ij->i", [(2, 3), (1, 3)])]


@pytest.mark.parametrize("spec,shapes", EINSUMS)
def test_einsum(backend, rng, spec, shapes):
    ops = [_data(rng, s) for s in shapes]
    _same_forward(lambda *xs: np.einsum(spec, *xs), *ops)
    gradcheck(lambda *xs: np.einsum(spec, *xs), *[backend.asarray(o) for o in ops])


def test_einsum_complex_optimize_interleaved_and_gradgrad(backend, rng):
    a, b, c = (_data(rng, s, np.complex128) for s in [(2, 3), (3, 2), (2, 2)])
    gradcheck(lambda x, y, z: np.einsum("ij,jk,kl->li", x, y, z, optimize=True),
              backend.asarray(a), backend.asarray(b), backend.asarray(c))
    gradcheck(lambda x, y: np.einsum(x, [0, 1], y, [1, 2], [2, 0]), backend.asarray(a), backend.asarray(b))
    _same_forward(lambda x, y: np.einsum(x, [0, 1], y, [1, 2]), a, b)
    gradgradcheck(lambda x, y: np.einsum("ij,jk->ik", x, y), backend.asarray(a), backend.asarray(b))
    gradgradcheck(lambda x: np.einsum("ii->i", x), backend.asarray(_data(rng, (3, 3))))
    k = backend.asarray(np.arange(3))
    gradcheck(lambda x: np.einsum("ij,j->i", x, k), backend.asarray(_data(rng, (2, 3))))


def test_einsum_path_is_untracked(rng):
    a = ga.asarray(_data(rng, (2, 3)), requires_grad=True)
    path = np.einsum_path("ij,jk->ik", a, a.T)
    assert path[0][0] == "einsum_path"


@pytest.mark.parametrize("sa,sb", [((2,), (3,)), ((2, 2), (2, 1)), ((2,), (2, 2)), ((1, 2, 2), (2, 1))])
def test_kron(backend, rng, sa, sb):
    a, b = _data(rng, sa), _data(rng, sb)
    _same_forward(np.kron, a, b)
    gradcheck(np.kron, backend.asarray(a), backend.asarray(b))


def test_kron_complex_gradgrad(backend, rng):
    a, b = _data(rng, (2, 2), np.complex128), _data(rng, (2,), np.complex128)
    gradcheck(np.kron, backend.asarray(a), backend.asarray(b))
    gradgradcheck(np.kron, backend.asarray(a), backend.asarray(b))


@pytest.mark.filterwarnings("ignore:Arrays of 2-dimensional vectors:DeprecationWarning")
@pytest.mark.parametrize("sa,sb,kw", [((3,), (3,), {}), ((2, 3), (3,), {}), ((2,), (2,), {}),
                                      ((2, 2), (2, 3), {}), ((3,), (2,), {}), ((3, 2), (3, 2), {"axis": 0}),
                                      ((3, 2), (2, 3), {"axisa": 0, "axisb": -1, "axisc": 0}),
                                      ((2, 2), (2, 2), {"axisa": 0, "axisb": 0})])
def test_cross(backend, rng, sa, sb, kw):
    a, b = _data(rng, sa), _data(rng, sb)
    _same_forward(lambda x, y: np.cross(x, y, **kw), a, b)
    gradcheck(lambda x, y: np.cross(x, y, **kw), backend.asarray(a), backend.asarray(b))


def test_cross_complex_gradgrad(backend, rng):
    a, b = _data(rng, (2, 3), np.complex128), _data(rng, (3,), np.complex128)
    gradcheck(np.cross, backend.asarray(a), backend.asarray(b))
    gradgradcheck(np.cross, backend.asarray(_data(rng, (3,))), backend.asarray(_data(rng, (3,))))


@pytest.mark.parametrize("f", [np.convolve, np.correlate])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("M,N", [(5, 3), (3, 5), (4, 4), (4, 1), (2, 5)])
def test_convolve_correlate(backend, rng, f, mode, M, N):
    a, v = _data(rng, (M,)), _data(rng, (N,))
    _same_forward(lambda x, y: f(x, y, mode), a, v)
    gradcheck(lambda x, y: f(x, y, mode=mode), backend.asarray(a), backend.asarray(v))


@pytest.mark.parametrize("f", [np.convolve, np.correlate])
def test_convolve_correlate_complex_gradgrad(backend, rng, f):
    a, v = _data(rng, (4,), np.complex128), _data(rng, (3,), np.complex128)
    for mode in ("full", "same", "valid"):
        gradcheck(lambda x, y: f(x, y, mode), backend.asarray(a), backend.asarray(v))
    gradgradcheck(lambda x, y: f(x, y, "same"), backend.asarray(v), backend.asarray(a))


def test_products_with_a_constant_operand(backend, rng):
    """Only the tracked operand gets a gradient; plain arrays pass through."""
    c = _data(rng, (3, 2))
    x = ga.asarray(_data(rng, (2, 3)), requires_grad=True)
    y = np.sum(np.sin(x @ c)) + np.sum(np.dot(c, x)) + np.sum(np.einsum("ij,jk", x, c))
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.cos(x.numpy() @ c) @ c.T + np.sum(c, axis=0)[:, None]
                               + np.sum(c, axis=1), rtol=1e-12)
    cb = backend.asarray(c)
    gradcheck(lambda x: np.sin(x @ cb) + np.dot(x, cb) + np.einsum("ij,jk", x, cb), backend.asarray(x.numpy()))
