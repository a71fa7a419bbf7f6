"""gradarray.fft: gradients of every numpy.fft transform (and hfftn & co.) against finite
differences.

Each transform is checked over norms, n/s (padding and truncation), axes (negative, subsets,
repeated), odd and even lengths, real and complex inputs, float32/complex64 and float64/complex128,
on every backend of the ``backend`` fixture. Linear maps have constant first derivatives, so second
order is checked on nonlinear compositions (``y * y`` of a spectrum), where the VJP of the VJP runs.
"""
import warnings

import numpy as np
import pytest

import gradarray as ga
from gradarray._tables import IMPLEMENTATIONS
from gradarray._registry import rule_for
from gradarray.testing import gradcheck, gradgradcheck

NORMS = [None, "backward", "ortho", "forward"]
rng = np.random.default_rng(1234)
REAL = rng.standard_normal((3, 5))
COMPLEX = rng.standard_normal((3, 5)) + 1j * rng.standard_normal((3, 5))
REAL_3D = rng.standard_normal((2, 3, 4))
COMPLEX_3D = rng.standard_normal((2, 3, 4)) + 1j * rng.standard_normal((2, 3, 4))


def _host(a):
    return a.numpy() if type(a) is ga.GradArray else np.asarray(a)


# ------------------------------------------------------------------------------------ 1-D
# n: default, truncation, zero padding, odd/even output lengths (input axes have 5 and 3 points)
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n", [None, 3, 4, 8])
@pytest.mark.parametrize("func", [np.fft.fft, np.fft.ifft])
def test_complex_1d(backend, func, n, norm):
    x = backend.asarray(COMPLEX)
    gradcheck(lambda x: func(x, n, -1, norm), x)
    gradcheck(lambda x: func(x, n, 0, norm), x)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("func", [np.fft.fft, np.fft.ifft])
def test_complex_1d_of_real_input(backend, func, norm):
    # real input: the gradient is the real part of the adjoint, and stays real
    gradcheck(lambda x: func(x, 7, 0, norm), backend.asarray(REAL))


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n", [None, 2, 3, 6, 7, 9])
def test_rfft(backend, n, norm):
    x = backend.asarray(REAL)                     # 5 points along -1, 3 along 0: odd lengths
    gradcheck(lambda x: np.fft.rfft(x, n, -1, norm), x)
    gradcheck(lambda x: np.fft.rfft(x, n, 0, norm), x)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n", [None, 1, 2, 5, 6, 9, 10])
def test_irfft(backend, n, norm):
    # the imaginary parts of the DC (and even-n Nyquist) bins are ignored: their gradient must be 0
    x = backend.asarray(COMPLEX)
    gradcheck(lambda x: np.fft.irfft(x, n, -1, norm), x)
    gradcheck(lambda x: np.fft.irfft(x, n, 0, norm), x)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n", [None, 3, 6, 9])
def test_hfft_ihfft(backend, n, norm):
    gradcheck(lambda x: np.fft.hfft(x, n, -1, norm), backend.asarray(COMPLEX))
    gradcheck(lambda x: np.fft.hfft(x, n, 0, norm), backend.asarray(REAL))
    gradcheck(lambda x: np.fft.ihfft(x, n, -1, norm), backend.asarray(REAL))
    gradcheck(lambda x: np.fft.ihfft(x, n, 0, norm), backend.asarray(REAL))


def test_irfft_ignored_imaginary_parts_get_zero_gradient(backend):
    # irfft uses only Re of the DC bin and of the Nyquist bin (even n): Im there has no influence
    h = ga.asarray(backend.asarray(COMPLEX[0]), requires_grad=True)
    g = ga.grad(lambda h: np.sum(np.fft.irfft(h, 8) * np.arange(8.0, like=h)))(h)
    g = _host(g)
    assert g[0].imag == 0 and g[4].imag == 0
    assert np.all(g[1:4].imag != 0)


# ------------------------------------------------------------------------------------ n-D
# (s, axes): defaults, subsets, negative and unordered axes, padding and truncation, odd lengths,
# and a repeated axis (NumPy transforms twice along it)
ND_ARGS = [(None, None), (None, (0, 2)), ((3, 5), (-2, -1)), ((2, 6), (2, 0)),
           ((1, 4, 3), (0, 1, 2)), ((3, 4), (1, 1))]


@pytest.mark.parametrize("norm", [None, "ortho", "forward"])
@pytest.mark.parametrize("s,axes", ND_ARGS)
def test_fftn_ifftn(backend, s, axes, norm):
    x = backend.asarray(COMPLEX_3D)
    gradcheck(lambda x: np.fft.fftn(x, s, axes, norm), x)
    gradcheck(lambda x: np.fft.ifftn(x, s, axes, norm), x)


@pytest.mark.parametrize("norm", [None, "ortho", "forward"])
@pytest.mark.parametrize("s,axes", ND_ARGS)
def test_rfftn_irfftn(backend, s, axes, norm):
    gradcheck(lambda x: np.fft.rfftn(x, s, axes, norm), backend.asarray(REAL_3D))
    gradcheck(lambda x: np.fft.irfftn(x, s, axes, norm), backend.asarray(COMPLEX_3D))


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("s", [None, (2, 7), (4, 3)])
def test_2d_transforms(backend, s, norm):
    c = backend.asarray(COMPLEX)
    r = backend.asarray(REAL)
    gradcheck(lambda x: np.fft.fft2(x, s, norm=norm), c)
    gradcheck(lambda x: np.fft.ifft2(x, s, norm=norm), c)
    gradcheck(lambda x: np.fft.rfft2(x, s, norm=norm), r)
    gradcheck(lambda x: np.fft.irfft2(x, s, norm=norm), c)
    gradcheck(lambda x: np.fft.fft2(x, s, axes=(1, 0), norm=norm), r)


def test_empty_axes_is_identity(backend):
    x = backend.asarray(COMPLEX)
    gradcheck(lambda x: np.fft.fftn(x, axes=()), x)


# ------------------------------------------------------------------- Hermitian n-D (beyond NumPy)
HERM_ARGS = [(None, None), (None, (0, 2)), ((3, 7), (1, 2)), ((5, 2), (2, 0)), ((4,), (1,))]


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("s,axes", HERM_ARGS)
def test_hfftn_ihfftn_values_match_scipy(s, axes, norm):
    sfft = pytest.importorskip("scipy.fft")
    got = ga.fft.hfftn(COMPLEX_3D, s, axes, norm)
    assert type(got) is ga.GradArray
    np.testing.assert_allclose(got.numpy(), sfft.hfftn(COMPLEX_3D, s, axes, norm), atol=1e-12)
    np.testing.assert_allclose(ga.fft.ihfftn(REAL_3D, s, axes, norm).numpy(),
                               sfft.ihfftn(REAL_3D, s, axes, norm), atol=1e-12)
    np.testing.assert_allclose(ga.fft.hfft2(COMPLEX_3D, norm=norm).numpy(),
                               sfft.hfft2(COMPLEX_3D, norm=norm), atol=1e-12)
    np.testing.assert_allclose(ga.fft.ihfft2(REAL_3D, norm=norm).numpy(),
                               sfft.ihfft2(REAL_3D, norm=norm), atol=1e-12)


def test_hfftn_1d_matches_numpy_hfft():
    for norm in NORMS:
        np.testing.assert_allclose(ga.fft.hfftn(COMPLEX, (7,), (0,), norm).numpy(),
                                   np.fft.hfft(COMPLEX, 7, 0, norm), atol=1e-12)
        np.testing.assert_allclose(ga.fft.ihfftn(REAL, (4,), (-1,), norm).numpy(),
                                   np.fft.ihfft(REAL, 4, -1, norm), atol=1e-12)


@pytest.mark.parametrize("norm", [None, "ortho", "forward"])
@pytest.mark.parametrize("s,axes", HERM_ARGS)
def test_hfftn_ihfftn_gradients(backend, s, axes, norm):
    gradcheck(lambda x: ga.fft.hfftn(x, s, axes, norm), backend.asarray(COMPLEX_3D))
    gradcheck(lambda x: ga.fft.ihfftn(x, s, axes, norm), backend.asarray(REAL_3D))


def test_hfft2_ihfft2_gradients(backend):
    gradcheck(lambda x: ga.fft.hfft2(x, (3, 6)), backend.asarray(COMPLEX))
    gradcheck(lambda x: ga.fft.ihfft2(x, norm="ortho"), backend.asarray(REAL))


# ------------------------------------------------------------------------------ dtypes
@pytest.mark.parametrize("func,data", [
    (lambda x: np.fft.fft(x, 6), COMPLEX), (lambda x: np.fft.fft(x, 4), REAL),
    (lambda x: np.fft.rfft(x, 7), REAL), (lambda x: np.fft.irfft(x, 7), COMPLEX),
    (lambda x: np.fft.hfft(x), COMPLEX), (lambda x: np.fft.ihfft(x), REAL),
    (lambda x: np.fft.rfftn(x, (2, 6), (0, 1)), REAL),
    (lambda x: np.fft.irfftn(x, (4, 4), (0, 1)), COMPLEX),
], ids=["fft", "fft-real", "rfft", "irfft", "hfft", "ihfft", "rfftn", "irfftn"])
def test_single_precision(backend, func, data):
    low = np.complex64 if data.dtype.kind == "c" else np.float32
    x = backend.asarray(data.astype(low))
    out = func(ga.asarray(x))
    # complex64 spectra stay complex64, float32 signals stay float32
    assert out.dtype in (np.float32, np.complex64)
    gradcheck(func, x)
    g = ga.grad(lambda x: np.sum(np.abs(func(x))))(ga.asarray(x))
    assert g.dtype == low


# --------------------------------------------------------------- real losses of complex spectra
def test_power_spectrum_loss(backend):
    # sum |rfft(x)|^2 = (Parseval) sum over the full spectrum with the mirrored half counted twice
    gradcheck(lambda x: np.sum(np.abs(np.fft.rfft(x, axis=0)) ** 2), backend.asarray(REAL))
    gradcheck(lambda x: np.abs(np.fft.rfft(x, 8)) ** 2, backend.asarray(REAL))
    gradcheck(lambda x: np.abs(np.fft.fft2(x, norm="ortho")), backend.asarray(COMPLEX))


def test_parseval_gradient():
    # sum |fft(x, norm="ortho")|^2 = sum |x|^2, so the gradient is 2 x exactly (complex convention)
    x = ga.asarray(COMPLEX, requires_grad=True)
    y = np.fft.fft(x, norm="ortho")
    np.sum(np.real(y * np.conjugate(y))).backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * COMPLEX, atol=1e-12)


def test_phase_loss(backend):
    def phase(x):
        y = np.fft.rfft(x)
        return np.arctan2(np.imag(y[..., 1:-1]), np.real(y[..., 1:-1]))
    gradcheck(phase, backend.asarray(REAL))


def test_angle_of_spectrum(backend):
    if rule_for(np.angle) is None and np.angle not in IMPLEMENTATIONS:
        pytest.skip("np.angle has no rule yet (another family's function)")
    gradcheck(lambda x: np.angle(np.fft.fft(x)), backend.asarray(COMPLEX))


# ------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("n", [6, 7])
def test_round_trips_differentiate_to_identity(backend, n):
    v = rng.standard_normal((3, n))
    x = backend.asarray(rng.standard_normal((3, n)))
    for f in (lambda x: np.fft.irfft(np.fft.rfft(x), n),
              lambda x: np.fft.ifft(np.fft.fft(x, norm="forward"), norm="forward"),
              lambda x: np.fft.irfftn(np.fft.rfftn(x, norm="ortho"), (3, n), (0, 1), norm="ortho"),
              lambda x: np.fft.hfft(np.fft.ihfft(x), n),
              lambda x: np.fft.ifftshift(np.fft.fftshift(x))):
        out, pullback = ga.vjp(f, x)
        np.testing.assert_allclose(backend.to_host(out).real, backend.to_host(x), atol=1e-12)
        (g,) = pullback(backend.asarray(v))
        np.testing.assert_allclose(backend.to_host(g).real, v, atol=1e-12)


# ------------------------------------------------------------------------------ shifts
@pytest.mark.parametrize("axes", [None, 0, (1,), (-1, 0)])
def test_shifts_are_exact_permutations(backend, axes):
    pairs = ((np.fft.fftshift, np.fft.ifftshift), (np.fft.ifftshift, np.fft.fftshift))
    for shift, inverse in pairs:
        x = backend.asarray(REAL)
        gradcheck(lambda x: shift(x, axes), x)
        v_host = rng.standard_normal(REAL.shape)
        v = backend.asarray(v_host)
        _, pullback = ga.vjp(lambda x: shift(x, axes), x)
        (g,) = pullback(v)
        np.testing.assert_array_equal(backend.to_host(g),
                                      inverse(v_host, axes))


# ------------------------------------------------------------------------------ second order
@pytest.mark.parametrize("f,data", [
    (lambda x: np.fft.fft(x * x, 7, norm="ortho"), REAL),
    (lambda x: np.fft.ifft(x * x, 4, axis=0), COMPLEX),
    (lambda x: np.fft.rfft(x, 7) * np.fft.rfft(x, 7), REAL),
    (lambda x: np.fft.irfft(x * x, 6, norm="forward"), COMPLEX),
    (lambda x: np.fft.hfft(x * x, 7), COMPLEX),
    (lambda x: np.fft.ihfft(x * x, 4), REAL),
    (lambda x: np.fft.rfftn(x * x, (2, 7), (0, 1)), REAL),
    (lambda x: np.fft.irfftn(x * x, (4, 3), (1, 0)), COMPLEX),
    (lambda x: np.fft.fftn(x * x, (3, 4), (1, 1)), COMPLEX),
    (lambda x: ga.fft.ihfftn(x * x, (2, 6), (0, 1)), REAL),
    (lambda x: np.fft.fftshift(x * x) * x, REAL),
], ids=["fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "rfftn", "irfftn", "fftn-repeated",
        "ihfftn", "fftshift"])
def test_second_order(backend, f, data):
    gradgradcheck(f, backend.asarray(data))


def test_hessian_of_power_spectrum():
    # L(x) = sum |fft(x)|^2 = n sum x^2 for real x: the Hessian is 2 n I
    x = REAL[0]
    h = ga.hessian(lambda x: np.sum(np.abs(np.fft.fft(x)) ** 2))(x)
    np.testing.assert_allclose(h, 2 * x.size * np.eye(x.size), atol=1e-10)


# ------------------------------------------------------------------------------ API surface
@pytest.mark.parametrize("name", ["fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft",
                                  "rfft2", "irfft2", "rfftn", "irfftn", "hfft", "ihfft", "fftshift",
                                  "ifftshift"])
def test_gradarray_fft_mirrors_numpy(backend, name):
    data = REAL if name in ("rfft", "rfft2", "rfftn", "ihfft") else COMPLEX
    x = ga.asarray(backend.asarray(data), requires_grad=True)
    ours = getattr(ga.fft, name)(x)
    theirs = getattr(np.fft, name)(x)
    assert type(ours) is ga.GradArray and ours.grad_fn is not None
    np.testing.assert_allclose(backend.to_host(ours._data), getattr(np.fft, name)(data))
    np.testing.assert_array_equal(backend.to_host(ours._data), backend.to_host(theirs._data))
    # plain inputs (any backend, lists) come back as GradArrays on the same device
    plain = getattr(ga.fft, name)(backend.asarray(data))
    assert type(plain) is ga.GradArray and plain.device == x.device
    by_keyword = getattr(ga.fft, name)(**{"x" if "shift" in name else "a": x})
    np.testing.assert_array_equal(backend.to_host(by_keyword._data), backend.to_host(ours._data))


def test_keyword_arguments_and_out(backend):
    x = ga.asarray(backend.asarray(COMPLEX), requires_grad=True)
    y = np.fft.fft(a=x, n=4, axis=0, norm="ortho")
    assert y.grad_fn is not None
    out = ga.zeros((3, 4), dtype=np.complex128, device=x.device)
    r = np.fft.fft(x, 4, out=out)
    assert r is out
    np.testing.assert_allclose(backend.to_host(out._data), np.fft.fft(COMPLEX, 4))
    gradcheck(lambda x: np.fft.rfft(x, 6, out=ga.zeros((3, 4), dtype=np.complex128,
                                                     device=ga.asarray(x).device)),
              backend.asarray(REAL))


def test_no_deprecation_warning_from_backward():
    # NumPy 2 deprecates s without axes: the user's call may warn, the VJP (explicit axes) must not
    x = ga.asarray(REAL_3D, requires_grad=True)
    with pytest.warns(DeprecationWarning):
        y = np.fft.rfftn(x, (2, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.sum(np.abs(y)).backward()
        gradcheck(lambda x: ga.fft.hfftn(x, (2, 6)), COMPLEX_3D)


# ------------------------------------------------------------------------------ frequencies
@pytest.mark.parametrize("n,d", [(1, 1.0), (6, 1.0), (7, 0.25)])
def test_fftfreq_values(n, d):
    np.testing.assert_array_equal(ga.fft.fftfreq(n, d).numpy(), np.fft.fftfreq(n, d))
    np.testing.assert_array_equal(ga.fft.rfftfreq(n, d).numpy(), np.fft.rfftfreq(n, d))


def test_fftfreq_device_and_dtype(backend):
    device = getattr(backend, "device", "cpu")
    for func, ref in ((ga.fft.fftfreq, np.fft.fftfreq), (ga.fft.rfftfreq, np.fft.rfftfreq)):
        f = func(8, 0.5, device=device, dtype=np.float32)
        assert type(f) is ga.GradArray and not f.requires_grad
        assert f.device == device and f.dtype == np.float32
        np.testing.assert_allclose(backend.to_host(f._data), ref(8, 0.5), rtol=1e-7)
        assert func(5).dtype == np.float64 and func(5).device == "cpu"
