"""Real-GPU checks (device="cuda", CuPy): skipped unless CuPy is installed and sees a GPU.

The stand-in device array (tests/standin.py) covers the same code paths in CI; these tests confirm
that CuPy really behaves like the stand-in, and that backward gives device memory back.
"""
import gc

import numpy as np
import pytest

import gradarray as ga
from gradarray.testing import gradcheck, gradgradcheck

cupy = pytest.importorskip("cupy")
try:
    _HAS_GPU = cupy.cuda.runtime.getDeviceCount() > 0
except Exception:  # no driver / no device
    _HAS_GPU = False
pytestmark = pytest.mark.skipif(not _HAS_GPU, reason="CuPy sees no GPU")


def dev(a, dtype=None):
    return cupy.asarray(np.asarray(a, dtype=dtype))


def test_device_and_creation():
    x = ga.asarray(np.arange(3.0), device="cuda", requires_grad=True)
    assert x.device.type == "cuda"
    assert isinstance(x.data, cupy.ndarray)
    assert ga.zeros(3, device="cuda").device == x.device
    with pytest.raises(TypeError, match=r"\.numpy\(\)"):
        np.asarray(x)


@pytest.mark.parametrize("f", [
    lambda x: np.sin(x) * x,
    lambda x: np.exp(x) / (1.0 + x * x),
    lambda x: np.sum(x * x),
    lambda x: np.tanh(x)[1:],
    lambda x: x[np.array([0, 2, 2])],
])
def test_gradcheck_on_gpu(f):
    gradcheck(f, dev([0.3, -0.7, 1.1]))


def test_gradgradcheck_on_gpu():
    gradgradcheck(lambda x: np.sin(x) * x, dev([0.3, -0.7, 1.1]))


def test_complex_and_float32_on_gpu():
    gradcheck(lambda z: z * np.exp(z), dev([0.3 + 0.1j, -0.7j]))
    x = ga.asarray(dev([1.0, 2.0], np.float32), requires_grad=True)
    np.sum(x * x).backward()
    assert x.grad.dtype == np.float32 and isinstance(x.grad.data, cupy.ndarray)


def test_grad_returns_cupy_and_crosses_devices():
    g = ga.grad(lambda x: np.sum(np.exp(x)))(dev([0.1, 0.2]))
    assert isinstance(g, cupy.ndarray)
    cpu = ga.asarray(np.array([1.0, 2.0]), requires_grad=True)
    np.sum(cpu.to_device("cuda") ** 2).backward()
    assert cpu.grad.device == "cpu"
    np.testing.assert_allclose(cpu.grad.numpy(), [2.0, 4.0])
    with pytest.raises(ValueError, match="different devices"):
        cpu + ga.asarray(dev([1.0, 2.0]))


def test_backward_releases_device_memory():
    """After backward, the memory held for the graph goes back: only x.grad stays allocated."""
    pool = cupy.get_default_memory_pool()
    x = ga.asarray(cupy.linspace(0.0, 1.0, 1 << 20), requires_grad=True)
    cupy.cuda.Device().synchronize()
    gc.collect()
    before = pool.used_bytes()
    y = np.sum(np.sin(x) * np.exp(x) * x)
    assert pool.used_bytes() > before               # the graph saved intermediates
    y.backward()
    del y
    gc.collect()
    assert pool.used_bytes() <= before + x.nbytes    # + x.grad
    x.grad = None
    gc.collect()
    assert pool.used_bytes() <= before
