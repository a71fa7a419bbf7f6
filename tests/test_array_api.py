"""gradarray.array_api: the namespace array-API consumers (SciPy, array_api_compat) get for GradArrays."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gradarray as ga
import gradarray.array_api as xp
from gradarray._tables import IMPLEMENTATIONS, NONDIFFERENTIABLE, RULES
from gradarray.testing import gradcheck

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def needs(*funcs):
    """Skip when a NumPy function this test goes through has no rule yet (another family's work)."""
    missing = [f.__name__ for f in funcs
               if f not in RULES and f not in IMPLEMENTATIONS and f not in NONDIFFERENTIABLE]
    if missing:
        pytest.skip(f"needs gradarray rules for np.{', np.'.join(missing)}")


def test_array_api_compat_routes_to_gradarray():
    compat = pytest.importorskip("array_api_compat")
    x = ga.asarray(np.ones(3))
    assert compat.array_namespace(x) is xp
    assert compat.array_namespace(x, ga.asarray(np.zeros(2))) is xp
    assert xp.__array_api_version__ == "2025.12"
    assert x.__array_namespace__(api_version="2024.12").__array_api_version__ == "2024.12"


def test_creation_returns_gradarrays_on_the_device():
    for a in (xp.zeros((2, 3)), xp.ones(3, dtype=xp.float32), xp.empty(2), xp.full((2,), 3.0),
              xp.arange(5), xp.arange(1, 7, 2), xp.linspace(0, 1, 4), xp.eye(3, 2, k=1),
              xp.asarray([1.0, 2.0]), xp.zeros_like(xp.ones(2)), xp.full_like(xp.ones(2), 5)):
        assert type(a) is ga.GradArray and a.device == "cpu"
    assert xp.zeros(2).dtype == xp.float64 and xp.ones(2, dtype=xp.float32).dtype == np.float32
    assert np.array_equal(xp.arange(1, 7, 2).numpy(), [1, 3, 5])
    assert np.array_equal(xp.eye(3, 2, k=1).numpy(), np.eye(3, 2, k=1))
    assert np.array_equal(xp.linspace(0, 1, 5, endpoint=False).numpy(), np.linspace(0, 1, 5, endpoint=False))


def test_full_with_tracked_fill_value():
    gradcheck(lambda v: xp.full((2, 3), v), np.array(1.5))


def test_dtype_functions():
    x = xp.asarray(np.ones(2, dtype=np.float32))
    assert xp.isdtype(xp.float32, "real floating") and xp.isdtype(x.dtype, ("integral", "real floating"))
    assert not xp.isdtype(xp.int8, "unsigned integer") and xp.isdtype(xp.uint8, "integral")
    assert xp.isdtype(xp.complex64, "numeric") and xp.isdtype(xp.float64, xp.float64)
    assert xp.result_type(x, xp.float64) == np.float64 and xp.result_type(x, 1.0) == np.float32
    assert xp.can_cast(x, xp.float64) and not xp.can_cast(xp.float64, xp.int32)
    assert xp.finfo(x).eps == np.finfo(np.float32).eps and xp.iinfo(xp.int16).max == 2 ** 15 - 1
    info = xp.__array_namespace_info__()
    assert info.default_device() == "cpu" and "float64" in info.dtypes(kind="real floating")
    assert "int8" not in info.dtypes(kind="real floating")


X = np.array([[0.3, -0.6, 0.8], [0.1, 0.5, -0.9]])
Y = np.array([[0.7, 0.2, 0.4], [0.9, 0.35, 0.6]])


@pytest.mark.parametrize("name,f", [
    ("acos", lambda x, y: xp.acos(x)),
    ("asinh", lambda x, y: xp.asinh(x)),
    ("atan2", lambda x, y: xp.atan2(x, y)),
    ("pow", lambda x, y: xp.pow(y, x)),
    ("concat", lambda x, y: xp.concat([x, y], axis=1)),
    ("concat_none", lambda x, y: xp.concat((x, y), axis=None)),
    ("permute_dims", lambda x, y: xp.permute_dims(x, (1, 0)) * y.T),
    ("matrix_transpose", lambda x, y: xp.matrix_transpose(x)),
    ("std", lambda x, y: xp.std(x, axis=1, correction=1)),
    ("var", lambda x, y: xp.var(y, correction=0.5, keepdims=True)),
    ("sum_mean", lambda x, y: xp.sum(x * y, axis=0) + xp.mean(y, axis=1, keepdims=True)),
    ("max_min", lambda x, y: xp.max(x, axis=1) - xp.min(y, axis=1)),
    ("prod", lambda x, y: xp.prod(y, axis=1)),
    ("cumulative_sum", lambda x, y: xp.cumulative_sum(x, axis=1, include_initial=True)),
    ("cumulative_prod", lambda x, y: xp.cumulative_prod(y, axis=0, include_initial=True)),
    ("sort_desc", lambda x, y: xp.sort(x, axis=1, descending=True)),
    ("vecdot", lambda x, y: xp.vecdot(x, y, axis=0) + xp.vecdot(x, y)[:, None]),
    ("matmul", lambda x, y: xp.matmul(x, xp.matrix_transpose(y))),
    ("tensordot", lambda x, y: xp.tensordot(x, y, axes=([1], [1]))),
    ("where", lambda x, y: xp.where(x > 0, x, y)),
    ("take", lambda x, y: xp.take(x, xp.asarray([2, 0, 2]), axis=1)),
    ("take_along_axis", lambda x, y: xp.take_along_axis(x, xp.argsort(y, axis=1), axis=1)),
    ("unstack", lambda x, y: xp.unstack(x, axis=1)[2] * 2),
    ("reshape_expand_squeeze", lambda x, y: xp.squeeze(xp.expand_dims(xp.reshape(x, (3, 2)), axis=0), axis=0)),
    ("flip_roll", lambda x, y: xp.roll(xp.flip(x, axis=1), 1, axis=0)),
    ("stack_moveaxis", lambda x, y: xp.moveaxis(xp.stack([x, y], axis=0), 0, -1)),
    ("broadcast", lambda x, y: xp.broadcast_arrays(x[:1], y)[0] + xp.broadcast_to(y[:, :1], (2, 3))),
    ("logaddexp_hypot", lambda x, y: xp.logaddexp(x, y) + xp.hypot(x, y)),
])
def test_gradients_through_the_namespace(backend, name, f):
    gradcheck(f, backend.asarray(X), backend.asarray(Y))


def test_astype_gradient_comes_back_in_the_input_dtype():
    g = ga.grad(lambda x: xp.sum(xp.astype(x, xp.float32) * 2))(X)
    assert g.dtype == np.float64 and np.allclose(g, 2)


def test_clip():
    needs(np.clip)
    gradcheck(lambda x: xp.clip(x, min=-0.55, max=0.45), X)     # no point on a kink


def test_argsort_descending_is_stable():
    a = np.array([3, 1, 3, 2, 1, 3])
    got = xp.argsort(xp.asarray(a), descending=True).numpy()
    assert np.array_equal(got, [0, 2, 5, 3, 1, 4])
    assert np.array_equal(xp.argsort(xp.asarray(a)).numpy(), np.argsort(a, kind="stable"))


def test_searching_and_sets():
    a = xp.asarray(np.array([0.0, 2.0, 0.0, 1.0, 2.0]))
    assert np.array_equal(xp.nonzero(a)[0].numpy(), [1, 3, 4])
    assert int(xp.count_nonzero(a)) == 3 and int(xp.argmax(a)) == 1
    assert np.array_equal(xp.searchsorted(xp.asarray([0.0, 1.0, 2.0]), a).numpy(), [0, 2, 0, 1, 2])
    assert np.array_equal(xp.unique_values(a).numpy(), [0.0, 1.0, 2.0])
    assert np.array_equal(xp.unique_counts(a).counts.numpy(), [2, 1, 2])
    assert bool(xp.any(a > 1)) and not bool(xp.all(a > 1))


def test_scalar_results_are_arrays():
    assert type(xp.exp(1.0)) is ga.GradArray and type(xp.sum(xp.ones(3))) is ga.GradArray


def test_subnamespaces_are_gradarray_modules():
    # the standard's linalg/fft have their own signatures (solve(x1, x2), fft(x, /, *, n=...)):
    # gradarray modules that call ga.linalg / ga.fft, which keep NumPy's
    assert xp.linalg.__name__ == "gradarray._array_api_linalg"
    assert xp.fft.__name__ == "gradarray._array_api_fft"


def _run_with_scipy_array_api(body):
    """SCIPY_ARRAY_API must be set before SciPy is first imported: use a fresh interpreter."""
    pytest.importorskip("scipy")
    code = textwrap.dedent("""
        import os
        os.environ["SCIPY_ARRAY_API"] = "1"
        import numpy as np
        import gradarray as ga
        from gradarray.testing import gradcheck
    """) + textwrap.dedent(body)
    env = dict(os.environ, SCIPY_ARRAY_API="1",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_scipy_with_array_api_keeps_the_tape():
    out = _run_with_scipy_array_api("""
        import scipy.special as sc, scipy.optimize as so
        x = np.array([[0.3, -1.2, 2.0], [0.7, 0.1, -0.4]])
        gradcheck(sc.logsumexp, x)
        gradcheck(lambda t: sc.logsumexp(t, axis=1), x)
        gradcheck(lambda t: sc.softmax(t, axis=0), x)
        gradcheck(so.rosen, x[0])
        gradcheck(so.rosen_der, x[0])            # a gradient whose own gradient is the Hessian
        y = sc.logsumexp(ga.asarray(x, requires_grad=True))
        assert type(y) is ga.GradArray and y.requires_grad
        print("ok")
    """)
    assert "ok" in out
