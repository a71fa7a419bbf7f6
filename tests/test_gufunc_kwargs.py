"""Generalized ufuncs (matmul, vecdot, matvec, vecmat) called with axes=, axis= and keepdims= on
tracked GradArrays: values equal NumPy's, gradients against finite differences, and invalid
keywords raise NumPy's own errors."""
import numpy as np
import pytest

import gradarray as ga
from gradarray.testing import gradcheck, gradgradcheck

# (ufunc, operand shapes, keywords): every case is valid for NumPy
CASES = [
    (np.vecdot, [(3, 4), (3, 4)], dict(axis=0)),
    (np.vecdot, [(3, 4), (3, 4)], dict(axis=-2, keepdims=True)),
    (np.vecdot, [(3, 4), (3, 4)], dict(keepdims=True)),
    (np.vecdot, [(2, 3, 4), (2, 3, 4)], dict(axes=[1, 1])),
    (np.vecdot, [(2, 3, 4), (2, 3, 4)], dict(axes=[(1,), (1,), ()])),
    (np.vecdot, [(2, 3, 4), (2, 3, 4)], dict(axes=[1, 1, (0,)], keepdims=True)),
    (np.vecdot, [(2, 3, 1), (3, 2)], dict(axes=[1, 0], keepdims=True)),      # broadcast loop dims
    (np.vecdot, [(4,), (4, 3)], dict(axes=[0, 0])),
    (np.matmul, [(3, 2, 4), (3, 2, 4)], dict(axes=[(1, 0), (0, 1), (0, 2)])),
    (np.matmul, [(2, 3, 4), (4,)], dict(axes=[(1, 2), 0, 0])),                # 1-D operand: no m
    (np.matmul, [(4,), (2, 4, 3)], dict(axes=[0, (1, 2), 1])),                # 1-D operand: no n
    (np.matmul, [(4, 3), (4, 2)], dict(axes=[(1, 0), (0, 1), (1, 0)])),
    (np.matvec, [(4, 3), (5, 4)], dict(axes=[(1, 0), 1, 0])),
    (np.matvec, [(2, 3, 4), (4, 2)], dict(axes=[(-2, -1), 0, -2])),
    (np.vecmat, [(2, 3), (3, 4)], dict(axes=[1, (0, 1), 0])),
    (np.vecmat, [(3, 2), (4, 3)], dict(axes=[0, (1, 0), -1])),
]


def _ids(case):
    ufunc, shapes, kwargs = case
    return f"{ufunc.__name__}-{'x'.join(map(str, shapes[0]))}-{'x'.join(map(str, shapes[1]))}-" + \
        "-".join(f"{k}={v}" for k, v in kwargs.items())


def _operands(rng, shapes, dtype=np.float64):
    ops = [rng.standard_normal(s) for s in shapes]
    if np.dtype(dtype).kind == "c":
        ops = [o + 1j * rng.standard_normal(o.shape) for o in ops]
    return [o.astype(dtype) for o in ops]


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_values_and_gradients(backend, rng, case):
    ufunc, shapes, kwargs = case
    ops = _operands(rng, shapes)
    expected = ufunc(*ops, **kwargs)
    tracked = [ga.asarray(backend.asarray(o), requires_grad=True) for o in ops]
    got = ufunc(*tracked, **kwargs)
    assert got.requires_grad
    np.testing.assert_allclose(backend.to_host(got._data), expected, rtol=1e-12, atol=1e-12)
    gradcheck(lambda a, b: ufunc(a, b, **kwargs), *[backend.asarray(o) for o in ops])


@pytest.mark.parametrize("ufunc,shapes,kwargs", [
    (np.vecdot, [(3, 2), (3, 2)], dict(axis=0)),
    (np.matmul, [(3, 2), (3, 2)], dict(axes=[(1, 0), (0, 1), (0, 1)])),
    (np.vecmat, [(2, 3), (3, 2)], dict(axes=[1, (0, 1), 0])),
])
def test_complex(backend, rng, ufunc, shapes, kwargs):
    """vecdot and vecmat conjugate their vector argument; the moved operands keep that."""
    ops = _operands(rng, shapes, np.complex128)
    np.testing.assert_allclose(ufunc(*[ga.asarray(o) for o in ops], **kwargs).numpy(),
                               ufunc(*ops, **kwargs), rtol=1e-12)
    gradcheck(lambda a, b: ufunc(a, b, **kwargs), *[backend.asarray(o) for o in ops])


def test_one_operand_tracked_and_a_host_scalar_dtype(rng):
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    gradcheck(lambda a: np.vecdot(a, y, axis=0), x)
    gradcheck(lambda b: np.vecdot(x.tolist(), b, axis=0), y)          # a list operand
    f32 = lambda a: np.matmul(a, a, axes=[(1, 0), (1, 0), (1, 0)], dtype=np.float32)  # noqa: E731
    out = f32(ga.asarray(x[:3, :3], requires_grad=True))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), f32(x[:3, :3]), rtol=1e-6)


def test_second_order(rng):
    x, y = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    gradgradcheck(lambda a, b: np.vecdot(a, b, axis=0, keepdims=True) ** 2, x, y)
    gradgradcheck(lambda a, b: np.matmul(a, b, axes=[(1, 0), (0, 1), (1, 0)]), x, y)


def test_out_and_untracked(backend, rng):
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    xt = ga.asarray(backend.asarray(x), requires_grad=True)
    out = ga.zeros((1, 4), device=xt.device)
    result = np.vecdot(xt, ga.asarray(backend.asarray(y)), axis=0, keepdims=True, out=out)
    assert result is out and out.requires_grad
    np.testing.assert_allclose(backend.to_host(out._data), np.vecdot(x, y, axis=0, keepdims=True))
    np.sum(out * 2.0).backward()
    np.testing.assert_allclose(backend.to_host(xt.grad._data), 2.0 * y)
    # untracked: NumPy runs with the keywords, out= is honoured
    plain = ga.asarray(backend.asarray(x))
    out2 = ga.zeros((4,), device=xt.device)
    assert np.vecdot(plain, plain, axis=0, out=out2) is out2 and not out2.requires_grad
    np.testing.assert_allclose(backend.to_host(out2._data), np.vecdot(x, x, axis=0))


@pytest.mark.parametrize("ufunc,shapes,kwargs", [
    (np.vecdot, [(3, 4), (3, 4)], dict(axis=5)),
    (np.vecdot, [(3, 4), (3, 4)], dict(axes=[0])),
    (np.vecdot, [(3, 4), (3, 4)], dict(axes=[(0, 1), 0])),
    (np.vecdot, [(3, 4), (3, 4)], dict(axes=(0, 0))),
    (np.vecdot, [(3, 4), (3, 4)], dict(axes=[0, 0], axis=0)),
    (np.vecdot, [(3, 4), (3, 4)], dict(axes=[0, 0, 0])),
    (np.vecdot, [(3, 4), (3, 4)], dict(axis=0, where=np.ones(4, dtype=bool))),
    (np.vecmat, [(3,), (3, 2)], dict(axis=0)),
    (np.matmul, [(2, 2), (2, 2)], dict(keepdims=True)),
    (np.matmul, [(2, 3), (2, 3)], dict(axes=[(0, 1), (0, 1), (0, 1)])),       # core sizes differ
])
def test_invalid_keywords_raise_numpys_error(rng, ufunc, shapes, kwargs):
    ops = _operands(rng, shapes)
    with pytest.raises(Exception) as numpy_error:
        ufunc(*ops, **kwargs)
    with pytest.raises(type(numpy_error.value)):
        ufunc(*[ga.asarray(o, requires_grad=True) for o in ops], **kwargs)
