"""Indexing semantics: x[idx] and x[idx] = v for basic, advanced and boolean indices, views,
in-place rules. Gradients are checked against finite differences of the same NumPy code."""
import numpy as np
import pytest

import gradarray as ga
from gradarray.testing import gradcheck, gradgradcheck

from _arrays import random_array

R = np.random.default_rng(7)


def arr(*shape, dtype=np.float64):
    return random_array(R, *shape, dtype=dtype)


def check(backend, f, *args):
    """Forward equals NumPy; gradient matches finite differences. Float arrays are differentiated,
    other arrays (indices, masks) are moved to the backend and passed through."""
    expected = f(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
    xs = [backend.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
    got = f(*[ga.asarray(x) if isinstance(a, np.ndarray) and a.dtype.kind in "fc" else x
              for a, x in zip(args, xs)])
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    assert got.shape == np.shape(expected)
    gradcheck(f, *xs)


GETITEM = [
    ("int", lambda x: x[1], arr(3, 2)),
    ("neg-int", lambda x: x[-1, 0], arr(3, 2)),
    ("slice", lambda x: x[1:3], arr(4, 2)),
    ("neg-step", lambda x: x[::-1], arr(4)),
    ("neg-step-2", lambda x: x[3:0:-2, 1], arr(4, 2)),
    ("ellipsis", lambda x: x[..., 1], arr(2, 2, 3)),
    ("none", lambda x: x[None, :, None, 0], arr(3, 2)),
    ("ellipsis-none", lambda x: x[..., None], arr(3)),
    ("list", lambda x: x[[0, 2, 0]], arr(3, 2)),
    ("list-2d", lambda x: x[[0, 1], [1, 0]], arr(2, 2)),
    ("int-array-2d", lambda x: x[np.array([[0, 1], [1, 1]])], arr(3)),
    ("array-slice-mix", lambda x: x[:, [2, 0, 2]], arr(2, 3)),
    ("array-ellipsis", lambda x: x[..., [1, 1]], arr(2, 2, 2)),
    ("split-advanced", lambda x: x[[0, 1], :, [1, 0]], arr(2, 2, 2)),
    ("bool-mask", lambda x: x[x > 0], arr(2, 3)),
    ("bool-mask-rows", lambda x: x[np.array([True, False, True])], arr(3, 2)),
    ("bool-then-slice", lambda x: x[np.array([False, True]), 1:], arr(2, 3)),
    ("scalar-array-index", lambda x: x[np.intp(1)], arr(3)),
    ("gradarray-int-index", lambda x: x[ga.asarray(np.array([2, 0, 2]))] if isinstance(x, ga.GradArray)
     else x[np.array([2, 0, 2])], arr(3)),
    ("chained", lambda x: x[1:][::-1][0], arr(3, 2)),
]


@pytest.mark.parametrize("f,x", [c[1:] for c in GETITEM], ids=[c[0] for c in GETITEM])
def test_getitem(backend, f, x):
    check(backend, f, x)


def test_getitem_with_backend_index_arrays(backend):
    check(backend, lambda x, i, m: x[i] * x[m].sum(), arr(4),
          np.array([3, 0, 3]), np.array([True, False, True, True]))


def test_getitem_tracked_index_array_gradarray(backend):
    x = ga.asarray(backend.asarray(arr(4)), requires_grad=True)
    i = ga.asarray(backend.asarray(np.array([1, 1, 3])))
    np.sum(x[i] * 2.0).backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, 4, 0, 2])


def test_getitem_complex_and_float32(backend):
    check(backend, lambda z: z[[1, 1]] * z[0], arr(3, dtype=np.complex128))
    check(backend, lambda x: x[::-1, 0] * x[0, 0], arr(2, 2, dtype=np.float32))


def test_getitem_second_order(backend):
    x = backend.asarray(arr(2, 3))
    gradgradcheck(lambda x: (x * x)[:, [0, 0, 2]] * x[0], x)
    gradgradcheck(lambda x: (x * x)[x > 0], x)


# ------------------------------------------------------------------------------------------ setitem
def _writes(index):
    """f(x, v): write v at index into a copy of x; the result depends non-linearly on both."""
    def f(x, v):
        y = x * 1.0
        y[index] = v
        return y * x
    return f


SETITEM = [
    ("int", 1, arr(3, 2), arr(2)),
    ("int-bcast", 1, arr(3, 2), arr(1)),
    ("slice", slice(1, 3), arr(4), arr(2)),
    ("slice-bcast-rows", slice(0, 2), arr(3, 2), arr(2)),
    ("neg-step", slice(None, None, -2), arr(4), arr(2)),
    ("ellipsis", (Ellipsis, 0), arr(2, 3), arr(2)),
    ("none", (None, 1), arr(2, 3), arr(1, 3)),
    ("list", [0, 2], arr(3, 2), arr(2, 2)),
    ("list-bcast", [2, 0], arr(3, 2), arr(2)),
    ("list-2d", ([0, 1], [1, 0]), arr(2, 2), arr(2)),
    ("array-slice-mix", (slice(None), [2, 0]), arr(2, 3), arr(2, 1)),
    ("duplicates", [1, 1, 2, 1], arr(3), arr(4)),
    ("duplicates-2d", ([0, 0, 1], [1, 1, 1]), arr(2, 2), arr(3)),
    ("duplicates-bcast", [0, 0], arr(2, 3), arr(2, 3)),
    ("bool-mask", np.array([[True, False, True], [False, False, True]]), arr(2, 3), arr(3)),
    ("bool-mask-bcast", np.array([True, False, True]), arr(3, 2), arr(2)),
    ("leading-ones", 0, arr(2, 3), arr(1, 3)),
]


@pytest.mark.parametrize("index,x,v", [c[1:] for c in SETITEM], ids=[c[0] for c in SETITEM])
def test_setitem(backend, index, x, v):
    if isinstance(index, np.ndarray):          # a mask: passed as an argument, moved to the backend
        def f(x, v, mask):
            return _writes(mask)(x, v)
        check(backend, f, x, v, index)
    else:
        check(backend, _writes(index), x, v)


def test_setitem_python_scalar_and_untracked_value(backend):
    def f(x):
        y = x * 1.0
        y[0] = 2.5
        y[1:, 0] = y[1:, 1] + 3.0        # value computed from the array itself
        return y * y
    check(backend, f, arr(3, 2))


def test_setitem_complex(backend):
    check(backend, _writes([1, 1]), arr(3, dtype=np.complex128), arr(2, dtype=np.complex128))
    # real value into a complex array, complex values read back
    check(backend, _writes(slice(0, 2)), arr(3, dtype=np.complex128), arr(2))


def test_setitem_duplicate_index_only_last_write_gets_gradient():
    x = ga.asarray(np.zeros(3))
    v = ga.asarray(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    x[[0, 0, 2]] = v
    assert x.numpy()[0] == 2.0             # NumPy: the last write wins
    np.sum(x * np.array([10.0, 1.0, 100.0])).backward()
    np.testing.assert_allclose(v.grad.numpy(), [0.0, 10.0, 100.0])


def test_setitem_second_order(backend):
    x, v = backend.asarray(arr(3, 2)), backend.asarray(arr(2))

    def f(x, v):
        y = x * x
        y[[0, 2, 0]] = v * v
        return y * x
    gradgradcheck(f, x, v)


def test_augmented_assignment(backend):
    def f(x, v):
        y = x * 1.0
        y[1:] += v                 # getitem + add + setitem
        y[[0, 0]] *= v[0]          # repeated index: NumPy applies it once
        return y * x
    check(backend, f, arr(3, 2), arr(2))


def test_setitem_into_untracked_array_makes_it_tracked(backend):
    def f(v):
        y = np.zeros_like(v, shape=(2, 3))       # untracked
        y[:, 1] = v
        return y * 2.0
    check(backend, f, arr(2))


# -------------------------------------------------------------------------------------------- views
def test_write_into_basic_view(backend):
    def f(x, y):
        z = x * 1.0
        v = z[1:3]
        v[0] = y                       # writes into z
        return z * x
    check(backend, f, arr(4, 2), arr(2))


def test_write_into_view_of_view(backend):
    def f(x, y):
        z = x * 1.0
        v = z[:, ::-1]
        w = v[1:]
        w[..., 0] = y * y
        return z * z
    check(backend, f, arr(3, 3), arr(2))


def test_write_into_view_of_untracked_base(backend):
    def f(y):
        z = np.zeros_like(y, shape=(3,))
        v = z[1:]
        v[:] = y
        return z * 3.0
    check(backend, f, arr(2))


def test_view_reads_after_write(backend):
    def f(x, y):
        z = x * 1.0
        v = z[0]
        z[0, 1] = y[0]                 # write into the base; v sees it through shared memory
        return z[0] * 1.0 + v * 0.0 + x[0]
    check(backend, f, arr(2, 2), arr(1))


# ------------------------------------------------------------------------------ in-place and leaves
def test_leaf_in_place_raises():
    w = ga.asarray(arr(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        w[0] = 1.0
    with pytest.raises(RuntimeError, match="leaf"):
        w[1:][0] = 1.0                 # through a view of the leaf
    with pytest.raises(RuntimeError, match="leaf"):
        w += 1.0


def test_optimizer_step_under_no_grad(backend):
    w = ga.asarray(backend.asarray(np.array([1.0, -2.0, 3.0])), requires_grad=True)
    for _ in range(3):
        loss = np.sum(w * w)
        w.grad = None
        loss.backward()
        with ga.no_grad():
            w -= 0.25 * w.grad
            w[0] = w[0] * 1.0
    assert w.is_leaf and w.requires_grad
    np.testing.assert_allclose(w.numpy(), np.array([1.0, -2.0, 3.0]) * 0.5 ** 3)


def test_write_after_save_detected():
    x = ga.asarray(arr(3), requires_grad=True)
    y = x * 1.0
    z = np.sin(y)                      # saves y
    y[0] = 0.0
    with pytest.raises(RuntimeError, match="modified in place"):
        np.sum(z).backward()


def test_integer_array_cannot_require_grad():
    with pytest.raises(TypeError):
        ga.asarray(np.arange(3), requires_grad=True)
