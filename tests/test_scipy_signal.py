"""scipy.signal on GradArrays (gradarray/scipy/signal.py, signal_convolve.py): values equal SciPy's,
gradients equal finite differences in every differentiable argument, legacy call forms work."""
import numpy as np
import pytest

signal = pytest.importorskip("scipy.signal")
from scipy.signal import filtfilt as early_filtfilt  # noqa: E402  (bound after gradarray's import)
from scipy.signal import lfilter as early_lfilter  # noqa: E402

import gradarray as ga  # noqa: E402
from gradarray.testing import gradcheck, gradgradcheck  # noqa: E402

pytestmark = pytest.mark.filterwarnings("error::gradarray.GradientLostWarning")

RNG = np.random.default_rng(7)
X = RNG.normal(size=12)
X2 = RNG.normal(size=(3, 17))
B = np.array([0.3, 0.2, -0.1])
A = np.array([1.2, -0.4, 0.1])
ZI = np.array([0.5, -0.3])
SOS = signal.butter(4, 0.3, output="sos")


def scipy_own(name):
    f = getattr(signal, name)
    return getattr(f, "__gradarray_original__", f)


def tracked(*arrays):
    return [ga.asarray(a, requires_grad=True) if isinstance(a, np.ndarray) else a for a in arrays]


def assert_same(got, want, tol=1e-12):
    if isinstance(want, tuple):
        for g, w in zip(got, want):
            assert_same(g, w, tol)
        return
    assert type(got) is ga.GradArray
    np.testing.assert_allclose(got.numpy(), want, rtol=tol, atol=tol)


def check(name, *args, argnums=None, **kwargs):
    """Value against SciPy's own function, then gradcheck in the array arguments."""
    assert_same(getattr(signal, name)(*tracked(*args), **kwargs), scipy_own(name)(*args, **kwargs))
    assert gradcheck(lambda *xs: getattr(signal, name)(*xs, **kwargs), *args, argnums=argnums)


# ------------------------------------------------------------------------------------- lfilter
@pytest.mark.parametrize("b, a, x, kwargs", [
    (B, A, X, {}),
    (B, np.array([2.0]), X, {}),                                      # FIR path, a0 != 1
    (B, A, X, {"zi": ZI}),
    (B, A, X[:1], {"zi": ZI}),                                        # shorter than the state
    (B[:2], A, X2, {"axis": 1, "zi": RNG.normal(size=(3, 2))}),
    (B, A[:2], X2.T.copy(), {"axis": 0, "zi": RNG.normal(size=(2, 1))}),  # broadcast zi
    (np.array([0.3 + 0.1j, -0.2j]), np.array([1.0, 0.3 - 0.2j]), X + 0.5j * X[::-1],
     {"zi": np.array([0.2 + 0.5j])}),
])
def test_lfilter(b, a, x, kwargs):
    check("lfilter", b, a, x, **kwargs)


def test_lfilter_mixes_plain_and_tracked_arguments():
    x = ga.asarray(X, requires_grad=True)
    assert_same(signal.lfilter([0.3, 0.2, -0.1], [1.2, -0.4, 0.1], x),
                scipy_own("lfilter")(B, A, X))
    assert gradcheck(lambda x: signal.lfilter([0.3, np.float64(0.2)], (1.0, -0.5), x, axis=-1), X)
    assert gradcheck(lambda x, zi: signal.lfilter(B, A, x, -1, zi), X, ZI)        # positional zi
    assert gradcheck(lambda b: signal.lfilter(b, A, X), B)                      # tracked b only
    assert gradcheck(lambda a: signal.lfilter(B, a=a, x=X, zi=[0.1, 0.2])[0], A)
    assert gradcheck(lambda zi: signal.lfilter(B, A, X, zi=zi)[1], ZI)          # zf in zi
    b0 = ga.asarray(0.5, requires_grad=True)                                   # list of scalars
    np.sum(signal.lfilter([b0, 0.25], [1.0, -0.5], X)).backward()
    np.testing.assert_allclose(b0.grad, np.sum(scipy_own("lfilter")([1.0], [1.0, -0.5], X)))


def test_lfilter_second_derivatives_and_early_bound_name():
    assert gradgradcheck(lambda b, a, x: signal.lfilter(b, a, x), B, A, X)
    assert gradgradcheck(lambda a, x, zi: signal.lfilter(B, a, x, zi=zi)[1], A, X[:4], ZI)
    assert_same(early_lfilter(B, A, ga.asarray(X, requires_grad=True)),
                scipy_own("lfilter")(B, A, X))
    assert gradcheck(lambda b, x: early_lfilter(b, A, x), B, X)


def test_lfilter_zi_and_sosfilt_zi():
    check("lfilter_zi", B, A)
    check("lfilter_zi", np.array([1.0, 2.0, 0.5, 0.1]), np.array([2.0, 0.3]))
    assert_same(signal.sosfilt_zi(ga.asarray(SOS)), scipy_own("sosfilt_zi")(SOS))


# ------------------------------------------------------------------------------------ filtfilt
@pytest.mark.parametrize("kwargs", [{}, {"padtype": "even", "padlen": 4},
                                    {"padtype": "constant"}, {"padtype": None}])
def test_filtfilt(kwargs):
    check("filtfilt", B, A, X2, **kwargs)


def test_filtfilt_forms():
    assert gradcheck(lambda x: signal.filtfilt([0.2, 0.3], [1.0, -0.4], x, axis=0), X2.T.copy())
    assert gradcheck(lambda a: early_filtfilt(B, a, X), A)
    assert_same(early_filtfilt(B, A, ga.asarray(X)), scipy_own("filtfilt")(B, A, X))
    assert gradgradcheck(lambda b, x: signal.filtfilt(b, A, x, padlen=3), B, X)
    with pytest.raises(NotImplementedError, match="gust"):
        signal.filtfilt(B, A, ga.asarray(X, requires_grad=True), method="gust")


# ------------------------------------------------------------------------- second-order sections
def _sos(free):
    """An sos array whose a0 column is 1 (SciPy requires it): the other five columns are free."""
    return np.concatenate([free[:, :3], np.ones((free.shape[0], 1)), free[:, 3:]], axis=1)


FREE = np.delete(SOS, 3, axis=1)


def test_sosfilt_and_sosfiltfilt():
    zi = RNG.normal(size=(2, 2))
    assert_same(signal.sosfilt(ga.asarray(SOS), X), scipy_own("sosfilt")(SOS, X))
    assert_same(signal.sosfilt(SOS, ga.asarray(X), zi=zi), scipy_own("sosfilt")(SOS, X, zi=zi))
    assert_same(signal.sosfiltfilt(SOS, ga.asarray(X2)), scipy_own("sosfiltfilt")(SOS, X2))
    assert gradcheck(lambda p, x, z: signal.sosfilt(_sos(p), x, zi=z), FREE, X, zi)
    assert gradcheck(lambda p, x: signal.sosfiltfilt(_sos(p), x, padlen=5), FREE, X)
    assert gradcheck(lambda p: signal.sosfilt_zi(_sos(p)), FREE)


# -------------------------------------------------------------------------------- convolutions
U, V = RNG.normal(size=12), RNG.normal(size=5)
M, K = RNG.normal(size=(6, 7)), RNG.normal(size=(3, 2))


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_convolve_and_correlate(mode):
    for method in ("auto", "direct", "fft"):
        check("convolve", U, V, mode=mode, method=method)
        check("correlate", U, V, mode, method)
    check("correlate", V, U, mode=mode)                 # SciPy swaps the inputs for 'valid'
    check("convolve", M, K, mode)
    check("correlate", K, M, mode)
    check("fftconvolve", M, K, mode=mode)
    check("oaconvolve", M, RNG.normal(size=(6, 3)), mode=mode, axes=[1])
    check("fftconvolve", M, RNG.normal(size=(1, 3)), mode=mode, axes=1)   # broadcast axis


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
def test_convolve2d_and_correlate2d(mode, boundary):
    check("convolve2d", M, K, mode=mode, boundary=boundary)
    check("correlate2d", M, K, mode, boundary, 1.5)
    if mode != "valid":
        check("convolve2d", M[:4], RNG.normal(size=(5, 9)), mode=mode, boundary=boundary)


def test_convolutions_complex_mixed_and_second_order():
    uc, vc = U + 1j * U[::-1], V - 0.5j * V
    for mode in ("full", "same", "valid"):
        check("correlate", uc, vc, mode)
        check("convolve", U, vc, mode)
    assert gradcheck(lambda u: signal.convolve(u, [1.0, -2.0, 0.5], "same"), U)   # list kernel
    assert gradcheck(lambda k: signal.correlate(list(U), k), V)                  # list input
    assert gradgradcheck(lambda u, v: signal.correlate(u, v, "same"), U, V)
    assert gradgradcheck(lambda m, k: signal.fftconvolve(m, k, "valid", axes=1), M, K[:1])
    assert gradgradcheck(lambda m, k: signal.convolve2d(m, k, "same", "symm"), M, K)
    with pytest.raises(TypeError, match="fillvalue"):
        signal.convolve2d(M, K, boundary="fill", fillvalue=ga.asarray(1.0, requires_grad=True))


# ---------------------------------------------------------------------- smoothing, detrending
@pytest.mark.parametrize("mode", ["interp", "mirror", "constant", "nearest", "wrap"])
def test_savgol_filter(mode):
    check("savgol_filter", X, 5, 2, mode=mode)
    check("savgol_filter", X2.T.copy(), 5, 3, deriv=1, delta=0.5, axis=0, mode=mode)
    check("savgol_filter", X2, 4, 2, mode=mode, cval=0.5)


def test_savgol_detrend_medfilt_forms():
    assert gradgradcheck(lambda x: signal.savgol_filter(x, 7, 3), X)
    assert gradcheck(lambda x: signal.savgol_filter(x, window_length=5, polyorder=1, deriv=1), X)
    with pytest.raises(TypeError, match="delta"):
        signal.savgol_filter(X, 5, 2, delta=ga.asarray(0.5, requires_grad=True))
    check("detrend", X)
    check("detrend", X2, axis=0)
    check("detrend", X2, type="constant")
    check("detrend", X, bp=[4, 7])
    check("medfilt", X)
    check("medfilt", RNG.normal(size=(5, 6)), kernel_size=[3, 5])


def test_device_data_is_refused_clearly():
    x = ga.asarray(X, device="standin", requires_grad=True)
    for call in (lambda: signal.lfilter(B, A, x), lambda: signal.convolve(x, V),
                 lambda: signal.savgol_filter(x, 5, 2), lambda: signal.detrend(x)):
        with pytest.raises(NotImplementedError, match="host"):
            call()
