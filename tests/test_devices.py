"""Devices: the stand-in device array (tests/standin.py, CuPy-like) and CuPy being optional.

Real-GPU checks live in tests/test_gpu.py (skipped unless CuPy sees a GPU).
"""
import pickle
import subprocess
import sys

import numpy as np
import pytest

import gradarray as ga
from gradarray.testing import gradcheck
from standin import StandinArray

DEV = "standin:0"


def host(raw):
    return raw.get() if isinstance(raw, StandinArray) else np.asarray(raw)


# ------------------------------------------------------------------ the stand-in itself behaves like CuPy
def test_standin_refuses_implicit_host_copy():
    raw = ga.asarray(np.arange(3.0), device="standin").data
    assert isinstance(raw, StandinArray)
    with pytest.raises(TypeError, match="get"):
        np.asarray(raw)
    np.testing.assert_array_equal(raw.get(), [0.0, 1.0, 2.0])


def test_standin_refuses_mixing_with_host_arrays():
    raw = ga.asarray(np.arange(3.0), device="standin").data
    with pytest.raises(TypeError, match="Unsupported type"):
        raw + np.ones(3)
    with pytest.raises(TypeError, match="Unsupported type"):
        np.concatenate([raw, np.ones(2)])
    # Python and NumPy scalars are fine, a 0-d host array is not (as in CuPy) ...
    out = raw * np.float64(2.0) + 1
    assert isinstance(out, StandinArray)
    np.testing.assert_array_equal(out.get(), [1.0, 3.0, 5.0])
    with pytest.raises(TypeError):
        raw + np.asarray(1.0)
    # ... but through gradarray a 0-d host constant from legacy code works on the device
    x = ga.asarray(np.arange(3.0), device="standin", requires_grad=True)
    y = np.sum(x * np.asarray(2.0) + np.asarray(1.0))
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_standin_returns_0d_arrays_not_scalars():
    raw = ga.asarray(np.arange(3.0), device="standin").data
    s = np.sum(raw)
    assert isinstance(s, StandinArray) and s.shape == ()
    assert isinstance(raw[1], StandinArray)
    assert float(s) == 3.0


def test_standin_catches_host_array_in_a_vjp(backend):
    """The point of the stand-in: a rule that builds a host array fails on it (and would on a GPU)."""
    def bad_vjp(g, ans, x):
        return g * np.ones(x.shape)          # host array without like=: wrong on a device

    f = ga.custom_vjp(lambda x: x * 2.0)
    f.defvjp(bad_vjp, save="none")
    x = ga.asarray(backend.asarray([1.0, 2.0]), requires_grad=True)
    y = np.sum(f(x))
    if backend.name == "numpy":
        y.backward()
        np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])
    else:
        with pytest.raises(TypeError, match="Unsupported type"):
            y.backward()


# ------------------------------------------------------------------ device placement
def test_asarray_on_device():
    x = ga.asarray(np.arange(4.0), device="standin", requires_grad=True)
    assert x.device == DEV
    assert isinstance(x.data, StandinArray)
    assert x.requires_grad and x.is_leaf
    assert "standin:0" in repr(x)
    np.testing.assert_array_equal(x.numpy(), np.arange(4.0))


@pytest.mark.parametrize("make", [
    lambda: ga.zeros((2, 3), device="standin", requires_grad=True),
    lambda: ga.ones(3, device="standin"),
    lambda: ga.full(3, 2.5, device="standin"),
    lambda: ga.arange(0.0, 3.0, device="standin"),
    lambda: ga.linspace(0, 1, 5, device="standin"),
    lambda: ga.eye(3, device="standin"),
    lambda: ga.zeros_like(ga.ones(3, device="standin")),
])
def test_creation_on_device(make):
    x = make()
    assert x.device == DEV
    assert isinstance(x.data, StandinArray)


def test_like_creation_stays_on_device():
    x = ga.asarray(np.arange(3.0), device="standin", requires_grad=True)
    z = np.zeros(3, like=x)
    assert type(z) is ga.GradArray and z.device == DEV and not z.requires_grad


def test_to_device_round_trip():
    x = ga.asarray(np.arange(3.0), device="standin")
    c = x.to_device("cpu")
    assert c.device == "cpu" and isinstance(c.data, np.ndarray)
    back = c.to_device("standin")
    assert back.device == DEV
    np.testing.assert_array_equal(back.numpy(), np.arange(3.0))
    assert x.to_device("standin") is x            # no move, no copy
    assert x.cpu().device == "cpu"


@pytest.mark.parametrize("src,dst", [("standin", "cpu"), ("cpu", "standin")])
def test_gradient_flows_across_to_device(src, dst):
    x = ga.asarray(np.array([1.0, -2.0, 3.0]), device=src, requires_grad=True)
    y = x.to_device(dst)
    assert y.device != x.device and y.requires_grad
    np.sum(y * y * 0.5).backward()
    assert x.grad.device == x.device              # the gradient lands on the source device
    np.testing.assert_allclose(x.grad.numpy(), [1.0, -2.0, 3.0])


def test_gradcheck_across_to_device():
    x = ga.asarray(np.array([0.5, 1.5]), device="standin").data
    gradcheck(lambda x: np.sin(x.to_device("cpu")).to_device("standin") * x if type(x) is ga.GradArray
              else np.sin(x) * x, x)


def test_mixing_devices_raises_clear_error():
    a = ga.asarray(np.ones(3), device="standin", requires_grad=True)
    b = ga.asarray(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match="different devices") as info:
        a + b
    assert "cpu" in str(info.value) and "standin:0" in str(info.value)
    with pytest.raises(ValueError, match="different devices"):
        b * a


def test_python_and_numpy_scalars_mix_with_device_arrays():
    x = ga.asarray(np.arange(3.0), device="standin", requires_grad=True)
    y = np.float64(2.0) * x + 1.0 + np.asarray(0.5)
    assert y.device == DEV
    np.sum(y).backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_np_asarray_of_device_gradarray_points_to_numpy_method():
    x = ga.asarray(np.arange(3.0), device="standin")
    with pytest.raises(TypeError, match=r"\.numpy\(\)"):
        np.asarray(x)


def test_functional_grad_returns_device_array():
    raw = ga.asarray(np.array([0.1, 0.2, 0.3]), device="standin").data
    g = ga.grad(lambda x: np.sum(np.exp(x)))(raw)
    assert isinstance(g, StandinArray)
    np.testing.assert_allclose(g.get(), np.exp([0.1, 0.2, 0.3]))
    value, g2 = ga.value_and_grad(lambda x: np.sum(x * x))(raw)
    assert isinstance(g2, StandinArray)
    np.testing.assert_allclose(g2.get(), [0.2, 0.4, 0.6])
    assert abs(float(value) - 0.14) < 1e-12


def test_backward_seed_from_host_is_moved_to_device():
    x = ga.asarray(np.arange(3.0), device="standin", requires_grad=True)
    (x * 3.0).backward(gradient=np.array([1.0, 0.0, 2.0]))
    assert x.grad.device == DEV
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 0.0, 6.0])


def test_pickle_round_trip_keeps_device():
    x = ga.asarray(np.arange(3.0), device="standin", requires_grad=True)
    y = pickle.loads(pickle.dumps(x))
    assert y.device == DEV and y.requires_grad
    np.testing.assert_array_equal(y.numpy(), x.numpy())


# ------------------------------------------------------------------ CuPy is optional
def test_cuda_without_cupy_gives_install_hint(monkeypatch):
    if "cuda" in ga._backend._BACKENDS:
        pytest.skip("CuPy is registered already")
    monkeypatch.setitem(sys.modules, "cupy", None)       # as if CuPy were not installed
    with pytest.raises(ImportError, match=r"pip install .*gradarray\[cuda12\]"):
        ga.zeros(3, device="cuda")
    with pytest.raises(ImportError, match="CuPy"):
        ga.asarray(np.ones(2)).to_device("cuda")


def test_import_does_not_import_cupy():
    code = ("import sys, numpy as np, gradarray as ga; "
            "x = ga.asarray(np.ones(3), requires_grad=True); np.sum(x * x).backward(); "
            "assert 'cupy' not in sys.modules, 'cupy was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_device_name():
    with pytest.raises(ValueError, match="unknown device"):
        ga.zeros(3, device="tpu")


# ------------------------------------------------------------------------------------ DLPack
def test_dlpack_in_and_out_share_memory():
    host = np.arange(3.0)
    x = ga.from_dlpack(host, requires_grad=True)
    assert x.requires_grad and x.device == "cpu"
    host[0] = 7.0                                   # zero-copy: the GradArray sees the write
    assert x.item(0) == 7.0
    out = np.from_dlpack(x)                         # and out again, explicitly cut from the tape
    assert isinstance(out, np.ndarray) and np.shares_memory(out, host)
    assert x.__dlpack_device__() == (1, 0)          # kDLCPU, device 0
    np.sum(x * x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * host)


def test_dlpack_with_torch():
    torch = pytest.importorskip("torch")
    t = torch.arange(4.0, dtype=torch.float64)
    x = ga.from_dlpack(t)
    t[1] = -1.0
    np.testing.assert_array_equal(x.numpy(), [0.0, -1.0, 2.0, 3.0])
    back = torch.from_dlpack(ga.asarray(np.ones(2)))
    assert back.dtype == torch.float64 and back.tolist() == [1.0, 1.0]
