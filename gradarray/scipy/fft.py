"""Differentiable ``scipy.fft``: the discrete Fourier transforms through ``gradarray.fft``, the cosine
and sine transforms as linear maps.

The Fourier transforms of ``scipy.fft`` are NumPy's (same definitions and ``norm`` modes), with extra
keywords that only tune speed (``overwrite_x``, ``workers``, ``plan``): on GradArrays they run as
``gradarray.fft``'s differentiable transforms, and ``overwrite_x`` is ignored (a tracked array is
never overwritten). ``hfft2``/``hfftn``/``ihfft2``/``ihfftn``, which NumPy lacks, are
``gradarray.fft``'s.

DCT and DST (every ``type``, ``n``, ``norm``, ``orthogonalize``) are linear along each axis: the
matrix of the 1-d transform is SciPy's own transform of the identity, applied with ``tensordot``
(O(n^2) per axis instead of O(n log n): fine for the lengths legacy code differentiates; the
gradient is the transposed matrix, exact). ``fht``/``ifht`` are not differentiable (SciPy's function
runs, with a ``GradientLostWarning``).

Must not know about: how the transforms are differentiated (``gradarray.fft`` and the engine do).
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.fft as _sfft

from .. import fft as _gfft
from .._array import GradArray
from .._creation import asarray
from ._bridge import implements_scipy

_SPEED_ONLY = ("overwrite_x", "workers", "plan")


def _fourier(name):
    """``scipy.fft.<name>`` on GradArrays: ``gradarray.fft.<name>`` without the speed keywords."""
    transform = getattr(_gfft, name)

    @functools.wraps(getattr(_sfft, name))
    def call(x, *args, **kwargs):
        # positional overwrite_x / workers come after norm: keep the leading ones NumPy also has
        args = args[:3]
        for key in _SPEED_ONLY:
            kwargs.pop(key, None)
        return transform(_as_gradarray(x), *args, **kwargs)
    return call


def _as_gradarray(x):
    return x if type(x) is GradArray else asarray(x)


for _name in ("fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft", "rfft2", "irfft2",
              "rfftn", "irfftn", "hfft", "ihfft", "hfft2", "ihfft2", "hfftn", "ihfftn"):
    implements_scipy("scipy.fft", _name)(_fourier(_name))


@implements_scipy("scipy.fft", "fftshift")
def fftshift(x, axes=None):
    return np.fft.fftshift(_as_gradarray(x), axes=axes)


@implements_scipy("scipy.fft", "ifftshift")
def ifftshift(x, axes=None):
    return np.fft.ifftshift(_as_gradarray(x), axes=axes)


# ------------------------------------------------------------------------- cosine and sine
@functools.lru_cache(maxsize=64)
def _matrix(kind, type, m, n, norm, orthogonalize):
    """The (n, m) matrix of the 1-d transform ``kind`` (dct, idct, dst, idst) of a length-m input
    padded or cut to n: column j is the transform of the j-th unit vector (SciPy's own values)."""
    transform = getattr(_sfft, kind)
    return transform(np.eye(m), type=type, n=n, axis=0, norm=norm, orthogonalize=orthogonalize)


def _along(x, axis, matrix):
    """Apply ``matrix`` (n, m) along ``axis`` of ``x`` (whose length there is m)."""
    like = x._data
    matrix = np.asarray(matrix, like=like) if not isinstance(like, np.ndarray) else matrix
    return np.moveaxis(np.tensordot(x, matrix, axes=([axis], [1])), -1, axis)


def _real_transform_1d(kind):
    def call(x, type=2, n=None, axis=-1, norm=None, overwrite_x=False, workers=None,
             orthogonalize=None):
        x = _as_gradarray(x)
        axis = np.lib.array_utils.normalize_axis_index(axis, x.ndim)
        m = x.shape[axis]
        return _along(x, axis, _matrix(kind, type, m, m if n is None else n, norm, orthogonalize))
    call.__name__ = kind
    call.__doc__ = f"``scipy.fft.{kind}`` as a linear map along ``axis`` (differentiable)."
    return call


def _real_transform_nd(kind):
    def call(x, type=2, s=None, axes=None, norm=None, overwrite_x=False, workers=None, *,
             orthogonalize=None):
        x = _as_gradarray(x)
        if axes is None:
            axes = tuple(range(x.ndim)) if s is None else tuple(range(x.ndim - len(s), x.ndim))
        elif isinstance(axes, (int, np.integer)):
            axes = (axes,)
        axes = np.lib.array_utils.normalize_axis_tuple(axes, x.ndim)
        if s is None:
            s = [x.shape[a] for a in axes]
        elif isinstance(s, (int, np.integer)):
            s = [s]
        if len(s) != len(axes):
            raise ValueError(f"scipy.fft.{kind}n: when given, axes and s must have the same length")
        for axis, n in zip(axes, s):
            x = _along(x, axis, _matrix(kind, type, x.shape[axis], n, norm, orthogonalize))
        return x
    call.__name__ = f"{kind}n"
    call.__doc__ = f"``scipy.fft.{kind}n``: the 1-d transform along each axis (differentiable)."
    return call


for _kind in ("dct", "idct", "dst", "idst"):
    implements_scipy("scipy.fft", _kind)(_real_transform_1d(_kind))
    implements_scipy("scipy.fft", f"{_kind}n")(_real_transform_nd(_kind))
