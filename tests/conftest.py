"""Shared fixtures. ``backend`` runs a test once per array backend: NumPy, and the stand-in device
array (tests/standin.py) that behaves like CuPy's ndarray, so host-only assumptions fail in CI."""
import numpy as np
import pytest

import standin

standin.register()


class NumpyBackend:
    name = "numpy"

    def asarray(self, a, dtype=None):
        """Raw array on this backend from host data."""
        return np.array(a, dtype=dtype)

    def to_host(self, raw):
        return np.asarray(raw)


class StandinBackend:
    """CuPy-like device array (tests/standin.py); ``np.asarray`` on its arrays raises."""
    name = "standin"
    device = "standin:0"

    def asarray(self, a, dtype=None):
        return standin.asarray(np.array(a, dtype=dtype))

    def to_host(self, raw):
        if hasattr(raw, "_data") and not isinstance(raw, np.ndarray):   # a GradArray
            raw = raw._data
        if isinstance(raw, standin.StandinArray):
            return raw.get()
        return np.asarray(raw)


class CupyBackend:
    """Real CuPy on a GPU: added to BACKENDS wherever CuPy sees a device, so that the whole suite
    runs there too (``python -m pytest tests`` on a GPU machine)."""
    name = "cuda"
    device = "cuda:0"

    def __init__(self, cupy):
        self.cupy = cupy

    def asarray(self, a, dtype=None):
        return self.cupy.asarray(np.array(a, dtype=dtype))

    def to_host(self, raw):
        if hasattr(raw, "_data") and not isinstance(raw, np.ndarray):   # a GradArray
            raw = raw._data
        if isinstance(raw, self.cupy.ndarray):
            return raw.get()
        return np.asarray(raw)


def _cupy_backend():
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() > 0:
            return CupyBackend(cupy)
    except Exception:   # CuPy not installed, or no driver/device
        return None
    return None


BACKENDS = {"numpy": NumpyBackend(), "standin": StandinBackend()}
_CUDA = _cupy_backend()
if _CUDA is not None:
    BACKENDS["cuda"] = _CUDA


@pytest.fixture(params=sorted(BACKENDS))
def backend(request):
    return BACKENDS[request.param]


@pytest.fixture
def rng():
    return np.random.default_rng(0)
