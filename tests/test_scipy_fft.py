"""scipy.fft on GradArrays: values equal SciPy's, gradients equal finite differences."""
import numpy as np
import pytest

sfft = pytest.importorskip("scipy.fft")
from scipy.fft import dct as early_bound_dct  # noqa: E402  (bound after gradarray's conftest import)

import gradarray as ga  # noqa: E402
from gradarray.testing import gradcheck  # noqa: E402

pytestmark = pytest.mark.filterwarnings("error::gradarray.GradientLostWarning")

RNG = np.random.default_rng(3)
X1 = RNG.normal(size=8)
X2 = RNG.normal(size=(4, 6))
Z2 = X2 + 1j * RNG.normal(size=(4, 6))

FOURIER = [
    ("fft", X1, {}), ("ifft", X1, {"n": 10}), ("rfft", X1, {"norm": "ortho"}),
    ("irfft", X1[:5] + 0.5j * X1[3:], {"n": 8}), ("hfft", X1[:5] + 0.2j, {}), ("ihfft", X1, {}),
    ("fft2", Z2, {}), ("ifft2", Z2, {"s": (4, 5)}), ("fftn", X2, {"axes": (0,)}),
    ("ifftn", Z2, {"norm": "forward"}), ("rfft2", X2, {}), ("irfft2", Z2, {"s": (4, 6)}),
    ("rfftn", X2, {}), ("irfftn", Z2, {}), ("hfft2", Z2, {}), ("ihfft2", X2, {}),
    ("hfftn", Z2, {}), ("ihfftn", X2, {"workers": 2}),
]


def _loss(name, kwargs):
    f = getattr(sfft, name)
    w = None

    def loss(x):
        y = f(x, **kwargs)
        nonlocal w
        if w is None:
            w = np.random.default_rng(0).normal(size=np.shape(y))
        return np.sum(np.real(y) * w + np.imag(y) * w[::-1])
    return loss


@pytest.mark.parametrize("name, x, kwargs", FOURIER, ids=[f[0] for f in FOURIER])
def test_fourier_transforms(name, x, kwargs):
    expected = getattr(sfft, name)(x, **kwargs)
    got = getattr(sfft, name)(ga.asarray(x), **kwargs)
    assert isinstance(got, ga.GradArray)
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-12)
    assert gradcheck(_loss(name, kwargs), x)


REAL = [
    (kind, t, norm, n) for kind in ("dct", "idct", "dst", "idst") for t in (1, 2, 3, 4)
    for norm, n in ((None, None), ("ortho", None), ("forward", 11))
]


@pytest.mark.parametrize("kind, type_, norm, n", REAL)
def test_cosine_and_sine_transforms(kind, type_, norm, n):
    f = getattr(sfft, kind)
    x = RNG.normal(size=(3, 9))
    kwargs = {"type": type_, "norm": norm, "n": n, "axis": 1}
    np.testing.assert_allclose(f(ga.asarray(x), **kwargs).numpy(), f(x, **kwargs), atol=1e-12)
    assert gradcheck(lambda v: np.sum(f(v, **kwargs) ** 2), x)


@pytest.mark.parametrize("kind", ["dctn", "idctn", "dstn", "idstn"])
def test_nd_real_transforms_and_mixed_arguments(kind):
    f = getattr(sfft, kind)
    x = RNG.normal(size=(4, 5))
    np.testing.assert_allclose(f(ga.asarray(x), type=3, s=(6, 5)).numpy(), f(x, type=3, s=(6, 5)),
                               atol=1e-12)
    assert gradcheck(lambda v: np.sum(f(v * np.arange(5.0), axes=[0, 1]) ** 3), x)


def test_early_bound_names_and_shifts():
    x = ga.asarray(X1, requires_grad=True)
    y = early_bound_dct(x, norm="ortho")
    assert isinstance(y, ga.GradArray)
    z = sfft.fftshift(y) * np.arange(8.0)
    np.sum(sfft.ifftshift(z) ** 2).backward()
    assert gradcheck(lambda v: np.sum(sfft.fftshift(early_bound_dct(v)) * np.arange(8.0)), X1)
