"""``gradarray.fft``: numpy.fft, differentiable, on any device; plus the n-D Hermitian transforms.

The rules are registered on the ``np.fft.*`` callables (``_rules.py``), so ``np.fft.rfft(x)`` on a
GradArray and ``ga.fft.rfft(x)`` record the same node. The functions here accept anything
``ga.asarray`` does and return GradArrays.

Beyond NumPy (as in ``scipy.fft`` and ``torch.fft``): ``hfft2``, ``ihfft2``, ``hfftn``,
``ihfftn``, written as NumPy transforms plus conjugations (so their gradients come for free):
``hfftn(x) = irfftn(conj(x), norm=swap(norm))`` and ``ihfftn(x) = conj(rfftn(x, norm=swap(norm)))``,
where ``swap`` exchanges "backward" and "forward" — the n-D forms of NumPy's ``hfft``/``ihfft``.

``fftfreq``/``rfftfreq`` are not dispatched by NumPy at all; here they follow the array API
(``device=``, ``dtype=``) and return untracked GradArrays on the requested device.
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

from .._array import GradArray, _make
from .._creation import arange, asarray
from . import _rules  # noqa: F401  (registers the rules on np.fft.*)
from ._rules import nd_args, swap_norm

__all__ = ["fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft", "rfft2", "irfft2",
           "rfftn", "irfftn", "hfft", "ihfft", "hfft2", "ihfft2", "hfftn", "ihfftn", "fftshift",
           "ifftshift", "fftfreq", "rfftfreq"]


def _as_gradarray(x):
    if type(x) is GradArray:
        return x
    return asarray(x)


def _mirror(np_func):
    """``ga.fft.X``: ``np.fft.X`` on the input made a GradArray (the rule is np.fft.X's)."""
    first = next(iter(inspect.signature(np_func).parameters))      # "a", or "x" for the shifts

    @functools.wraps(np_func)
    def wrapper(*args, **kwargs):
        if args:
            args = (_as_gradarray(args[0]),) + args[1:]
        elif first in kwargs:
            kwargs[first] = _as_gradarray(kwargs[first])
        return np_func(*args, **kwargs)
    wrapper.__module__ = __name__
    return wrapper


fft = _mirror(np.fft.fft)
ifft = _mirror(np.fft.ifft)
fft2 = _mirror(np.fft.fft2)
ifft2 = _mirror(np.fft.ifft2)
fftn = _mirror(np.fft.fftn)
ifftn = _mirror(np.fft.ifftn)
rfft = _mirror(np.fft.rfft)
irfft = _mirror(np.fft.irfft)
rfft2 = _mirror(np.fft.rfft2)
irfft2 = _mirror(np.fft.irfft2)
rfftn = _mirror(np.fft.rfftn)
irfftn = _mirror(np.fft.irfftn)
hfft = _mirror(np.fft.hfft)
ihfft = _mirror(np.fft.ihfft)
fftshift = _mirror(np.fft.fftshift)
ifftshift = _mirror(np.fft.ifftshift)


# ------------------------------------------------------------------ n-D Hermitian transforms
def hfftn(x, s=None, axes=None, norm=None, out=None):
    """N-D FFT of a Hermitian-symmetric signal given by its half (real output), as scipy.fft.hfftn.

    ``s`` is the shape of the real output (default: ``2 * (m - 1)`` along the last axis); ``axes``
    default to the last ``len(s)`` axes, or all. Equal to ``irfftn(conj(x), s, axes)`` with the
    direction of ``norm`` swapped.
    """
    x = _as_gradarray(x)
    s, axes = nd_args(x.shape, s, axes, real_inverse=True)
    return np.fft.irfftn(np.conjugate(x), s, axes, norm=swap_norm(norm), out=out)


def ihfftn(x, s=None, axes=None, norm=None, out=None):
    """Inverse of :func:`hfftn`: the half spectrum of a real signal, as scipy.fft.ihfftn.

    Equal to ``conj(rfftn(x, s, axes))`` with the direction of ``norm`` swapped.
    """
    x = _as_gradarray(x)
    s, axes = nd_args(x.shape, s, axes)
    spectrum = np.fft.rfftn(x, s, axes, norm=swap_norm(norm))
    return np.conjugate(spectrum) if out is None else np.conjugate(spectrum, out=out)


def hfft2(x, s=None, axes=(-2, -1), norm=None, out=None):
    """2-D :func:`hfftn` (last two axes by default)."""
    return hfftn(x, s, axes, norm, out)


def ihfft2(x, s=None, axes=(-2, -1), norm=None, out=None):
    """2-D :func:`ihfftn` (last two axes by default)."""
    return ihfftn(x, s, axes, norm, out)


# ------------------------------------------------------------------------------ frequencies
def _indices(n, device):
    return arange(n, device=device)._data


def fftfreq(n, d=1.0, *, device=None, dtype=None):
    """Sample frequencies of ``fft(x)`` for ``n`` points spaced ``d`` apart (untracked GradArray).

    ``[0, 1, ..., (n-1)//2, -(n//2), ..., -1] / (n * d)``, as ``np.fft.fftfreq``, created on
    ``device`` ("cpu" by default) with ``dtype`` (default float64).
    """
    k = _indices(n, device)
    k = k - n * (k >= (n + 1) // 2)                   # the second half are negative frequencies
    return _make((k * (1.0 / (n * d))).astype(dtype or np.float64))


def rfftfreq(n, d=1.0, *, device=None, dtype=None):
    """Sample frequencies of ``rfft(x)``: ``[0, 1, ..., n//2] / (n * d)`` (untracked GradArray)."""
    k = _indices(n // 2 + 1, device)
    return _make((k * (1.0 / (n * d))).astype(dtype or np.float64))

