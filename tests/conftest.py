"""Shared fixtures. ``backend`` runs a test once per array backend: NumPy, and the stand-in device
array (tests/standin.py) that behaves like CuPy's ndarray, so host-only assumptions fail in CI.
``functional_api`` runs each test of the functional API eagerly and under ``ga.jit``
(tests/_jit_check.py); ``@pytest.mark.eager_only(reason=...)`` opts a test out."""
import numpy as np
import pytest

import _jit_check
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


# ---------------------------------------------------------------- the functional API under ga.jit
def pytest_configure(config):
    config.addinivalue_line(
        "markers", "eager_only(reason): a test of the functional API whose calls cannot be "
        "compared with ga.jit (randomness drawn inside f, side effects the test counts); it runs "
        "once, without the functional_api parametrisation")


def pytest_generate_tests(metafunc):
    """Tests that use the functional API run twice: ``eager`` and ``jit`` (tests/_jit_check.py)."""
    marker = metafunc.definition.get_closest_marker("eager_only")
    if marker is not None:
        if not marker.kwargs.get("reason"):
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: eager_only needs a reason=")
        return
    if not metafunc.module.__name__.startswith("test_jit") and \
            _jit_check.uses_functional_api(metafunc.function):     # test_jit*: about ga.jit itself
        metafunc.parametrize("functional_api", ["eager", "jit"], indirect=True)


@pytest.fixture(autouse=True)
def functional_api(request, monkeypatch):
    """``jit``: the functional API and ``gradcheck`` check each call against ``ga.jit``."""
    mode = getattr(request, "param", "eager")
    if mode == "jit":
        _jit_check.install(monkeypatch)
    return mode


def pytest_terminal_summary(terminalreporter):
    if _jit_check.COUNTS.calls:
        for line in _jit_check.COUNTS.summary():
            terminalreporter.write_line(line)
