"""Shape manipulation, joining, splitting, gathering and in-place writing functions.

Every case checks the forward value against NumPy on plain arrays and the gradient against finite
differences (``gradcheck``); the ``GG`` cases also check second derivatives.
"""
import warnings

import numpy as np
import pytest

import gradarray as ga
from gradarray.testing import gradcheck, gradgradcheck

from _arrays import random_array

R = np.random.default_rng(42)


def arr(*shape, dtype=np.float64):
    return random_array(R, *shape, dtype=dtype)


def _host(out):
    if isinstance(out, (tuple, list)):
        return [_host(o) for o in out]
    if isinstance(out, ga.GradArray):
        return out.numpy()
    return np.asarray(out)


def _assert_same(got, expected):
    if isinstance(expected, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(expected)
        for g, e in zip(got, expected):
            _assert_same(g, e)
        return
    expected = np.asarray(expected)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)


def check(backend, f, *args, gg=False, argnums=None):
    """Forward equals NumPy's; gradient (and with ``gg`` the second derivative) matches finite
    differences. Float/complex NumPy arrays in ``args`` are moved to the backend and differentiated."""
    expected = f(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
    # index arrays and masks live on the backend too (raw); data arrays become GradArrays
    xs = [backend.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
    got = f(*[ga.asarray(x) if isinstance(a, np.ndarray) and a.dtype.kind in "fc" else x
              for a, x in zip(args, xs)])
    _assert_same(_host(got), expected)
    gradcheck(f, *xs, argnums=argnums)
    if gg:
        gradgradcheck(f, *xs, argnums=argnums)


# (id, function, inputs). Functions must work on plain NumPy arrays too (the finite differences
# and the forward reference run them on NumPy).
CASES = [
    # reshapes and permutations
    ("reshape", lambda x: np.reshape(x, (3, 2)), [arr(2, 3)]),
    ("reshape-F", lambda x: np.reshape(x, (3, 2), order="F"), [arr(2, 3)]),
    ("reshape-method-args", lambda x: x.reshape(3, -1), [arr(2, 3)]),
    ("reshape-method-tuple", lambda x: x.reshape((6,)), [arr(2, 3)]),
    ("ravel", lambda x: np.ravel(x), [arr(2, 3)]),
    ("ravel-F", lambda x: np.ravel(x, order="F"), [arr(2, 3)]),
    ("ravel-K-of-T", lambda x: np.ravel(x.T, order="K"), [arr(2, 3)]),
    ("flatten", lambda x: x.flatten(), [arr(2, 3)]),
    ("transpose", lambda x: np.transpose(x), [arr(2, 3)]),
    ("transpose-axes", lambda x: np.transpose(x, (2, 0, 1)), [arr(2, 3, 2)]),
    ("permute_dims", lambda x: np.permute_dims(x, (1, 2, 0)), [arr(2, 3, 2)]),
    ("T", lambda x: x.T, [arr(2, 3)]),
    ("transpose-method", lambda x: x.transpose(1, 0, 2), [arr(2, 3, 2)]),
    ("transpose-method-tuple", lambda x: x.transpose((2, 1, 0)), [arr(2, 3, 2)]),
    ("swapaxes", lambda x: np.swapaxes(x, 0, -1), [arr(2, 3, 2)]),
    ("swapaxes-method", lambda x: x.swapaxes(1, 2), [arr(2, 3, 2)]),
    ("moveaxis", lambda x: np.moveaxis(x, 0, -1), [arr(2, 3, 2)]),
    ("moveaxis-multi", lambda x: np.moveaxis(x, (0, 1), (2, 0)), [arr(2, 3, 2)]),
    ("rollaxis", lambda x: np.rollaxis(x, 2), [arr(2, 3, 2)]),
    ("rollaxis-start", lambda x: np.rollaxis(x, 0, 3), [arr(2, 3, 2)]),
    ("matrix_transpose", lambda x: np.matrix_transpose(x), [arr(2, 2, 3)]),
    ("squeeze", lambda x: np.squeeze(x), [arr(1, 3, 1)]),
    ("squeeze-axis", lambda x: np.squeeze(x, axis=0), [arr(1, 3, 1)]),
    ("squeeze-method", lambda x: x.squeeze(2), [arr(1, 3, 1)]),
    ("expand_dims", lambda x: np.expand_dims(x, (0, 2)), [arr(2, 3)]),
    ("expand_dims-neg", lambda x: np.expand_dims(x, -1), [arr(3)]),
    ("atleast_1d", lambda x: np.atleast_1d(x), [arr()]),
    ("atleast_2d", lambda x: np.atleast_2d(x), [arr(3)]),
    ("atleast_3d-0d", lambda x: np.atleast_3d(x), [arr()]),
    ("atleast_3d-1d", lambda x: np.atleast_3d(x), [arr(3)]),
    ("atleast_3d-2d", lambda x: np.atleast_3d(x), [arr(2, 3)]),
    ("atleast_2d-multi", lambda x, y: np.atleast_2d(x, y), [arr(3), arr(2, 2)]),
    ("broadcast_to", lambda x: np.broadcast_to(x, (2, 3)), [arr(3)]),
    ("broadcast_to-col", lambda x: np.broadcast_to(x, (2, 2, 3)), [arr(2, 1)]),
    ("broadcast_arrays", lambda x, y: np.broadcast_arrays(x, y), [arr(3), arr(2, 1)]),
    # joining
    ("concatenate-0", lambda x, y: np.concatenate([x, y]), [arr(2, 3), arr(1, 3)]),
    ("concatenate-1", lambda x, y: np.concatenate((x, y), axis=1), [arr(2, 3), arr(2, 2)]),
    ("concatenate--1", lambda x, y: np.concatenate([x, y, x], axis=-1), [arr(2, 1), arr(2, 2)]),
    ("concatenate-None", lambda x, y: np.concatenate([x, y], axis=None), [arr(2, 3), arr(3)]),
    ("concatenate-const", lambda x: np.concatenate([np.ones_like(x[:1]), x]), [arr(2, 3)]),
    ("concatenate-2d-array", lambda x: np.concatenate(x, axis=1), [arr(2, 3, 2)]),
    ("concat", lambda x, y: np.concat([x, y], axis=0), [arr(2), arr(3)]),
    ("stack", lambda x, y: np.stack([x, y]), [arr(2, 3), arr(2, 3)]),
    ("stack-axis", lambda x, y: np.stack([x, y], axis=-1), [arr(2, 3), arr(2, 3)]),
    ("stack-1", lambda x, y: np.stack((x, y, x), axis=1), [arr(3), arr(3)]),
    ("hstack-1d", lambda x, y: np.hstack([x, y]), [arr(2), arr(3)]),
    ("hstack-2d", lambda x, y: np.hstack([x, y]), [arr(2, 1), arr(2, 2)]),
    ("vstack", lambda x, y: np.vstack([x, y]), [arr(3), arr(2, 3)]),
    ("dstack", lambda x, y: np.dstack([x, y]), [arr(2, 2), arr(2, 2, 1)]),
    ("column_stack", lambda x, y: np.column_stack([x, y]), [arr(3), arr(3, 2)]),
    ("block", lambda a, b, c: np.block([[a, b], [c]]), [arr(2, 2), arr(2, 1), arr(1, 3)]),
    ("block-1d", lambda a, b: np.block([a, b, a]), [arr(2), arr(3)]),
    ("block-scalars", lambda a: np.block([[a, 1.0]]), [arr(1)]),
    ("append", lambda x, y: np.append(x, y), [arr(2, 2), arr(3)]),
    ("append-axis", lambda x, y: np.append(x, y, axis=0), [arr(2, 2), arr(1, 2)]),
    # splitting (multi-output; some outputs unused so the engine fills zeros)
    ("split", lambda x: np.split(x, 3), [arr(6)]),
    ("split-indices", lambda x: np.split(x, [1, 3], axis=1)[1:], [arr(2, 4)]),
    ("split-one-used", lambda x: np.split(x, 2, axis=0)[1] * 2, [arr(4, 2)]),
    ("array_split", lambda x: np.array_split(x, 3), [arr(7)]),
    ("hsplit", lambda x: np.hsplit(x, 2), [arr(2, 4)]),
    ("hsplit-1d", lambda x: np.hsplit(x, 2), [arr(4)]),
    ("vsplit", lambda x: np.vsplit(x, [1]), [arr(3, 2)]),
    ("dsplit", lambda x: np.dsplit(x, 2), [arr(1, 2, 4)]),
    ("unstack", lambda x: np.unstack(x), [arr(3, 2)]),
    ("unstack-axis", lambda x: np.unstack(x, axis=1)[0], [arr(3, 2)]),
    # copies of elements
    ("tile", lambda x: np.tile(x, 2), [arr(3)]),
    ("tile-2d", lambda x: np.tile(x, (2, 1, 2)), [arr(2, 2)]),
    ("repeat", lambda x: np.repeat(x, 2), [arr(2, 2)]),
    ("repeat-axis", lambda x: np.repeat(x, 3, axis=1), [arr(2, 2)]),
    ("repeat-array", lambda x: np.repeat(x, [2, 0, 1], axis=0), [arr(3, 2)]),
    ("repeat-method", lambda x: x.repeat(2, axis=0), [arr(2, 2)]),
    ("pad-constant", lambda x: np.pad(x, 1), [arr(2, 3)]),
    ("pad-constant-values", lambda x: np.pad(x, ((1, 0), (2, 1)), constant_values=3.0), [arr(2, 3)]),
    ("pad-edge", lambda x: np.pad(x, ((1, 2), (0, 1)), mode="edge"), [arr(2, 3)]),
    ("pad-reflect", lambda x: np.pad(x, 2, mode="reflect"), [arr(4)]),
    ("pad-symmetric", lambda x: np.pad(x, ((1, 1), (2, 3)), mode="symmetric"), [arr(2, 3)]),
    ("pad-wrap", lambda x: np.pad(x, (3, 1), mode="wrap"), [arr(3)]),
    ("flip", lambda x: np.flip(x), [arr(2, 3)]),
    ("flip-axis", lambda x: np.flip(x, 1), [arr(2, 3)]),
    ("flip-axes", lambda x: np.flip(x, (0, 2)), [arr(2, 2, 2)]),
    ("fliplr", lambda x: np.fliplr(x), [arr(2, 3)]),
    ("flipud", lambda x: np.flipud(x), [arr(2, 3)]),
    ("roll", lambda x: np.roll(x, 2), [arr(2, 3)]),
    ("roll-axis", lambda x: np.roll(x, -1, axis=1), [arr(2, 3)]),
    ("roll-multi", lambda x: np.roll(x, (1, 2), axis=(0, 1)), [arr(2, 3)]),
    ("rot90", lambda x: np.rot90(x), [arr(2, 3)]),
    ("rot90-k2", lambda x: np.rot90(x, 2), [arr(2, 3)]),
    ("rot90-k3", lambda x: np.rot90(x, 3, axes=(1, 2)), [arr(2, 3, 2)]),
    ("rot90-k-1", lambda x: np.rot90(x, -1, axes=(2, 0)), [arr(2, 3, 2)]),
    ("rot90-k0", lambda x: np.rot90(x, 4), [arr(2, 3)]),
    # diagonals and triangles
    ("diagonal", lambda x: np.diagonal(x), [arr(3, 3)]),
    ("diagonal-offset", lambda x: np.diagonal(x, 1), [arr(3, 4)]),
    ("diagonal-neg-axes", lambda x: np.diagonal(x, -1, 2, 0), [arr(3, 2, 3)]),
    ("diagonal-method", lambda x: x.diagonal(), [arr(2, 3)]),
    ("diag-vec", lambda x: np.diag(x), [arr(3)]),
    ("diag-vec-k", lambda x: np.diag(x, -2), [arr(3)]),
    ("diag-mat", lambda x: np.diag(x), [arr(3, 3)]),
    ("diag-mat-k", lambda x: np.diag(x, 1), [arr(3, 4)]),
    ("diagflat", lambda x: np.diagflat(x, 1), [arr(2, 2)]),
    ("tril", lambda x: np.tril(x), [arr(3, 3)]),
    ("tril-k", lambda x: np.tril(x, -1), [arr(2, 3, 3)]),
    ("tril-1d", lambda x: np.tril(x), [arr(3)]),
    ("triu", lambda x: np.triu(x, 1), [arr(3, 4)]),
    ("trace", lambda x: np.trace(x), [arr(3, 3)]),
    ("trace-offset-axes", lambda x: np.trace(x, 1, 1, 2), [arr(2, 3, 3)]),
    ("trace-method", lambda x: x.trace(-1), [arr(3, 3)]),
    # selection and gathering
    ("where", lambda x, y: np.where(x > 0, x, y), [arr(2, 3), arr(2, 3)]),
    ("where-broadcast", lambda x, y, c: np.where(c, x, y), [arr(2, 3), arr(2, 1), np.array([True, False, True])]),
    ("where-scalar", lambda x: np.where(x > 0, x, 0.5), [arr(5)]),
    ("select", lambda x, y: np.select([x > 0.5, x < -0.5], [x, y], default=2.0), [arr(6), arr(6)]),
    ("choose", lambda x, y, a: np.choose(a, [x, y]), [arr(4), arr(2, 4), np.array([0, 1, 1, 0])]),
    ("choose-wrap", lambda x, y, a: np.choose(a, [x, y], mode="wrap"), [arr(3), arr(3), np.array([2, 1, -1])]),
    ("take", lambda x: np.take(x, [0, 2, 2, 5]), [arr(2, 3)]),
    ("take-axis", lambda x, i: np.take(x, i, axis=1), [arr(2, 3), np.array([[1, 0], [1, 1]])]),
    ("take-wrap", lambda x: np.take(x, [-1, 4, 7], mode="wrap"), [arr(3)]),
    ("take-scalar", lambda x: np.take(x, 1, axis=0), [arr(3, 2)]),
    ("take-method", lambda x: x.take([1, 1]), [arr(3)]),
    ("take_along_axis", lambda x, i: np.take_along_axis(x, i, 1), [arr(2, 3), np.array([[0, 2, 2], [1, 1, 0]])]),
    ("take_along_axis-None", lambda x, i: np.take_along_axis(x, i, None), [arr(2, 3), np.array([5, 0, 0])]),
    ("compress", lambda x: np.compress([True, False, True], x, axis=1), [arr(2, 3)]),
    ("compress-flat", lambda x: np.compress([False, True, True], x), [arr(2, 3)]),
    ("compress-method", lambda x: x.compress([True, False], axis=0), [arr(2, 3)]),
    ("extract", lambda x, c: np.extract(c, x), [arr(2, 3), np.array([[1, 0, 1], [0, 1, 1]])]),
    ("insert", lambda x, v: np.insert(x, 1, v), [arr(4), arr(1)]),
    ("insert-broadcast", lambda x, v: np.insert(x, [0, 2], v, axis=1), [arr(2, 3), arr(2, 1)]),
    ("insert-scalar", lambda x: np.insert(x, [1, 1, 3], 7.0), [arr(4)]),
    ("insert-axis0", lambda x, v: np.insert(x, 2, v, axis=0), [arr(2, 3), arr(3)]),
    ("delete", lambda x: np.delete(x, [0, 2]), [arr(2, 3)]),
    ("delete-axis", lambda x: np.delete(x, 1, axis=1), [arr(2, 3)]),
    ("delete-slice", lambda x: np.delete(x, slice(0, 3, 2), axis=0), [arr(4, 2)]),
    # the zero pattern comes from an integer array, so finite differences keep it
    ("trim_zeros", lambda x, z: np.trim_zeros(x * z), [arr(6), np.array([0, 0, 1, 0, 1, 0])]),
    ("trim_zeros-f", lambda x, z: np.trim_zeros(x * z, "f"), [arr(3), np.array([0, 1, 0])]),
    ("trim_zeros-2d", lambda x, z: np.trim_zeros(x * z), [arr(2, 3), np.array([[0, 0, 0], [0, 1, 1]])]),
    ("trim_zeros-axis", lambda x, z: np.trim_zeros(x * z, axis=1), [arr(2, 3), np.array([[0, 0, 1], [0, 1, 0]])]),
    ("ix_", lambda x: x[np.ix_([0, 1], [2, 0])], [arr(2, 3)]),
    ("resize", lambda x: np.resize(x, (3, 3)), [arr(2, 2)]),
    ("resize-smaller", lambda x: np.resize(x, 3), [arr(2, 3)]),
    # copies, casts, complex parts
    ("copy", lambda x: np.copy(x), [arr(2, 3)]),
    ("copy-method", lambda x: x.copy(), [arr(2, 3)]),
    ("astype", lambda x: np.astype(x, np.float64) * 2, [arr(3, dtype=np.float32)]),
    ("astype-method", lambda x: x.astype(np.complex128) * (1 + 2j), [arr(3)]),
    ("real", lambda z: np.real(z) * np.real(z), [arr(3, dtype=np.complex128)]),
    ("imag", lambda z: np.imag(z) ** 2 + np.real(z), [arr(3, dtype=np.complex128)]),
    ("real-of-real", lambda x: np.real(x), [arr(3)]),
    ("imag-of-real", lambda x: np.imag(x) + x, [arr(3)]),
    ("real-property", lambda z: z.real * z.imag, [arr(3, dtype=np.complex128)]),
    ("real_if_close", lambda z: np.real_if_close(z * 0 + np.real(z)), [arr(3, dtype=np.complex128)]),
    ("real_if_close-complex", lambda z: np.real_if_close(z), [arr(3, dtype=np.complex128)]),
    # complex inputs through linear maps
    ("concatenate-complex", lambda x, y: np.concatenate([x, y]), [arr(2, dtype=np.complex128), arr(3, dtype=np.complex128)]),
    ("transpose-complex", lambda x: np.transpose(x) * x.T, [arr(2, 3, dtype=np.complex128)]),
    ("take-complex", lambda x: np.take(x, [2, 2, 0]), [arr(3, dtype=np.complex128)]),
    ("pad-complex", lambda x: np.pad(x, 1, mode="reflect"), [arr(3, dtype=np.complex128)]),
    ("diag-complex", lambda x: np.diag(x, 1), [arr(2, dtype=np.complex128)]),
    ("where-complex", lambda x, y, c: np.where(c, x, y), [arr(2, dtype=np.complex128), arr(2), np.array([True, False])]),
    # float32
    ("stack-f32", lambda x, y: np.stack([x, y], 1), [arr(2, 3, dtype=np.float32), arr(2, 3, dtype=np.float32)]),
    ("pad-f32", lambda x: np.pad(x, 1, mode="edge"), [arr(2, 2, dtype=np.float32)]),
    ("split-f32", lambda x: np.split(x, 2), [arr(4, dtype=np.float32)]),
    ("diagonal-f32", lambda x: np.diagonal(x), [arr(3, 3, dtype=np.float32)]),
    ("repeat-f32", lambda x: np.repeat(x, 2), [arr(3, dtype=np.float32)]),
]


@pytest.mark.parametrize("f,inputs", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_gradcheck(backend, f, inputs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        check(backend, f, *inputs)


def test_row_stack(backend):
    if not hasattr(np, "row_stack"):
        pytest.skip("np.row_stack was removed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        check(backend, lambda x, y: np.row_stack([x, y]), arr(3), arr(2, 3))


# second derivatives: the rules' own np.* calls are recorded under create_graph
GG_CASES = [
    ("reshape", lambda x: np.reshape(x * x, (3, 2))),
    ("transpose", lambda x: np.transpose(x * x) * x.T),
    ("concatenate", lambda x: np.concatenate([x * x, x], axis=1)),
    ("stack", lambda x: np.stack([x * x, x])),
    ("split", lambda x: np.split(x * x, 2, axis=0)[0] * x[:1]),
    ("take", lambda x: np.take(x * x, [0, 0, 4])),
    ("repeat", lambda x: np.repeat(x * x, 2, axis=1)),
    ("pad-reflect", lambda x: np.pad(x * x, 1, mode="reflect")),
    ("pad-constant", lambda x: np.pad(x * x, 1)),
    ("flip", lambda x: np.flip(x * x, 0) * x),
    ("roll", lambda x: np.roll(x * x, 1, axis=1)),
    ("diagonal", lambda x: np.diagonal(x * x[::-1])),
    ("diag", lambda x: np.diag(np.ravel(x * x)[:3])),
    ("tril", lambda x: np.tril(x * x)),
    ("where", lambda x: np.where(x > 0, x * x, -x)),
    ("unstack", lambda x: np.unstack(x * x)[1]),
    ("tile", lambda x: np.tile(x * x, 2)),
    ("broadcast_to", lambda x: np.broadcast_to(x * x, (2, 2, 3))),
]


@pytest.mark.parametrize("f", [c[1] for c in GG_CASES], ids=[c[0] for c in GG_CASES])
def test_gradgradcheck(backend, f):
    x = backend.asarray(arr(2, 3))
    # f sees GradArrays even where gradgradcheck first calls it on raw data: on the stand-in a raw
    # np.unstack fails as on CuPy, while gradarray's composite serves GradArrays on any backend
    gradgradcheck(lambda t: f(ga.asarray(t)), x)


# ----------------------------------------------------------------------------- in-place functions
def _inplace_case(write):
    """f(x, v): write ``v`` into a copy of ``x`` and return a non-linear function of the result,
    so the gradient reaches both the kept part of ``x`` and the written values."""
    def f(x, v, *extra):
        y = x * 1.0
        write(y, v, *extra)
        return y * y
    return f


INPLACE = [
    ("put", lambda y, v: np.put(y, [0, 4, -1], v), arr(2, 3), arr(3)),
    ("put-cyclic", lambda y, v: np.put(y, [0, 1, 2, 3], v), arr(5), arr(2)),
    ("put-duplicates", lambda y, v: np.put(y, [1, 1, 3], v), arr(4), arr(3)),
    ("put-wrap", lambda y, v: np.put(y, [5, -7], v, mode="wrap"), arr(4), arr(2)),
    ("put-clip", lambda y, v: np.put(y, [9], v, mode="clip"), arr(4), arr(1)),
    ("put-method", lambda y, v: y.put([2], v), arr(3), arr(1)),
    ("place", lambda y, v: np.place(y, y > 0, v), arr(2, 3), arr(2)),
    ("putmask", lambda y, v: np.putmask(y, y > 0, v), arr(2, 3), arr(4)),
    ("copyto", lambda y, v: np.copyto(y, v), arr(2, 3), arr(3)),
    ("copyto-where", lambda y, v, c: np.copyto(y, v, where=c), arr(2, 3), arr(2, 3), np.array([True, False, True])),
    ("put_along_axis", lambda y, v, i: np.put_along_axis(y, i, v, 1), arr(2, 3), arr(2, 1), np.array([[0], [2]])),
    ("put_along_axis-bcast", lambda y, v, i: np.put_along_axis(y, i, v, 0), arr(2, 3), arr(1), np.array([[1, 0, 1]])),
    ("put_along_axis-None", lambda y, v, i: np.put_along_axis(y, i, v, None), arr(2, 3), arr(2), np.array([1, 4])),
    ("fill", lambda y, v: y[0].fill(v[0]), arr(2, 2), arr(1)),
    ("fill_diagonal", lambda y, v: np.fill_diagonal(y, v), arr(3, 3), arr(2)),
    ("fill_diagonal-wrap", lambda y, v: np.fill_diagonal(y, v, wrap=True), arr(5, 2), arr(3)),
]


@pytest.mark.parametrize("case", [c[1:] for c in INPLACE], ids=[c[0] for c in INPLACE])
def test_inplace_functions(backend, case):
    write, *inputs = case
    check(backend, _inplace_case(write), *inputs)


def test_inplace_function_on_leaf_raises():
    x = ga.asarray(arr(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="in place"):
        np.put(x, [0], 1.0)
    with ga.no_grad():
        np.put(x, [0], 1.0)
    assert x.numpy()[0] == 1.0 and x.is_leaf and x.requires_grad


def test_copyto_plain_destination():
    dst = np.zeros(3)
    np.copyto(dst, ga.asarray(np.arange(3.0)))
    np.testing.assert_array_equal(dst, [0, 1, 2])


def test_sort_partition_methods_in_place():
    x = ga.asarray(np.array([3.0, 1.0, 2.0]))
    x.sort()
    np.testing.assert_array_equal(x.numpy(), [1, 2, 3])
    leaf = ga.asarray(np.array([3.0, 1.0]), requires_grad=True)
    with pytest.raises(RuntimeError, match="in place"):
        leaf.sort()


# ------------------------------------------------------------- views rewired through shape functions
@pytest.mark.parametrize("make_view", [
    lambda z: z.T,
    lambda z: np.reshape(z, (3, 2)),
    lambda z: np.ravel(z),
    lambda z: np.swapaxes(z, 0, 1),
    lambda z: np.moveaxis(z, 0, 1),
    lambda z: np.expand_dims(z, 0),
    lambda z: np.flip(z, 1),
    lambda z: z[:, ::-1].T,
], ids=["T", "reshape", "ravel", "swapaxes", "moveaxis", "expand_dims", "flip", "slice-T"])
def test_write_into_view_updates_base(backend, make_view):
    def f(x, y):
        z = x * 1.0
        v = make_view(z)
        v[:1] = y                # writes into z's memory
        return z * x             # z must see the write, its gradient path too
    check(backend, f, arr(2, 3), arr(1))


def test_view_of_copy_does_not_write_base():
    # reshape of a non-contiguous array copies: writing into it must leave the base alone
    x = ga.asarray(arr(2, 3), requires_grad=True)
    z = x * 1.0
    v = np.reshape(z.T, 6)
    v[0] = 100.0
    assert z.numpy()[0, 0] != 100.0
    gradcheck(lambda x: (lambda z: (np.reshape(z.T, 6).__setitem__(0, 1.0), z * z)[1])(x * 1.0),
              arr(2, 3))


# ------------------------------------------------------------------------- nondifferentiable queries
def test_queries_untracked():
    x = ga.asarray(arr(2, 3), requires_grad=True)
    xn = x.numpy()
    assert np.shape(x) == (2, 3) and np.ndim(x) == 2 and np.size(x) == 6
    assert np.result_type(x, np.float32) == np.float64
    assert np.can_cast(x, np.float32, casting="same_kind")
    assert not np.iscomplexobj(x) and np.isrealobj(x)
    assert np.array_equal(x, xn) and np.array_equiv(x, xn[0:1] * 0 + xn)
    assert np.allclose(x, xn)
    assert np.common_type(x) is np.float64 and np.array_str(x) == np.array_str(xn)
    assert np.count_nonzero(x > 0) == np.count_nonzero(xn > 0)
    close = np.isclose(x, xn)
    assert not close.requires_grad and bool(np.all(close))
    for like in (np.zeros_like(x), np.ones_like(x), np.empty_like(x), np.full_like(x, 2.0)):
        assert isinstance(like, ga.GradArray) and not like.requires_grad and like.shape == (2, 3)
    idx = np.where(x > 0)
    np.testing.assert_array_equal(idx[0].numpy(), np.where(xn > 0)[0])
    assert not idx[0].requires_grad


def test_full_like_tracked_fill_value(backend):
    check(backend, lambda x, c: np.full_like(x, c[0]) * x, arr(2, 2), arr(1))


def test_full_like_with_shape(backend):
    # shape=() means 0-d (CuPy's full_like would read it as "x's shape": not used on GradArrays)
    x = ga.asarray(backend.asarray(arr(2, 3)), requires_grad=True)
    for shape in ((), (4,), (1, 2)):
        out = np.full_like(x, 2.5, shape=shape)
        assert out.shape == shape and np.all(backend.to_host(out) == 2.5)
    gradcheck(lambda c: np.full_like(ga.asarray(c), c[0], shape=(3,)) * c, backend.asarray(arr(1)))


def test_untracked_inputs_give_plain_results():
    x = ga.asarray(arr(2, 3))
    for out in (np.pad(x, 1, mode="linear_ramp"), np.concatenate([x, x]), np.take(x, [0])):
        assert isinstance(out, ga.GradArray) and not out.requires_grad


def test_unsupported_pad_mode_raises():
    x = ga.asarray(arr(3), requires_grad=True)
    with pytest.raises(TypeError, match="pad"):
        np.pad(x, 1, mode="maximum")


def test_backward_through_split_accumulates():
    x = ga.asarray(np.arange(6.0), requires_grad=True)
    a, b, c = np.split(x, 3)
    np.sum(a * 2 + c * 3).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2, 2, 0, 0, 3, 3])


def test_out_argument(backend):
    def f(x, y):
        o = np.zeros_like(x, shape=(2,) + x.shape)
        np.stack([x, y], out=o)
        t = np.zeros_like(x, shape=())
        np.trace(o[0], out=t)
        return o * (t + 1.0)
    check(backend, f, arr(2, 2), arr(2, 2))


# ------------------------------------------------------------------------------ ndarray-style methods
def test_methods_forward_match_numpy():
    xn = arr(2, 3)
    x = ga.asarray(xn)
    same = [
        (x.reshape(3, 2), xn.reshape(3, 2)), (x.reshape((3, 2)), xn.reshape((3, 2))),
        (x.transpose(), xn.transpose()), (x.transpose(1, 0), xn.transpose(1, 0)),
        (x.swapaxes(0, 1), xn.swapaxes(0, 1)), (x[None].squeeze(0), xn[None].squeeze(0)),
        (x.flatten(), xn.flatten()), (x.ravel(), xn.ravel()), (x.copy(), xn.copy()),
        (x.astype(np.float32), xn.astype(np.float32)), (x.repeat(2), xn.repeat(2)),
        (x.take([1, 0]), xn.take([1, 0])), (x.diagonal(), xn.diagonal()), (x.trace(), xn.trace()),
        (x.conj(), xn.conj()), (x.real, xn.real), (x.imag, xn.imag), (x.view(), xn.view()),
        (x.compress([True, False]), xn.compress([True, False])),
    ]
    for got, expected in same:
        assert isinstance(got, ga.GradArray)
        _assert_same(got.numpy(), expected)
    assert x.item(1) == xn.item(1) and x.tolist() == xn.tolist()
    assert x.tobytes() == xn.tobytes()
    assert [i.numpy().tolist() for i in x.nonzero()] == [i.tolist() for i in xn.nonzero()]
    assert bool(x.any()) == xn.any() and bool((x > -10).all())
    y = x.copy()
    y.fill(3.0)
    assert np.all(y.numpy() == 3.0)
    with pytest.raises(TypeError):
        x.resize((3, 2))


def test_methods_record(backend):
    def f(x):
        return (x.reshape(3, 2).transpose(1, 0).swapaxes(0, 1).ravel().take([0, 5]).repeat(2)
                * x.diagonal().sum() * x.trace() + x.flatten()[:4] + x.T.copy().astype(np.float64)[0, 0])
    check(backend, f, arr(2, 3))
