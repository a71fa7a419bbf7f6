"""Derivative rules for ``numpy.fft``: every transform is linear, so every VJP is its adjoint.

The maths (conventions: ``z.grad = dL/dRe z + i dL/dIm z``, so for a complex-linear ``y = A x`` the
VJP is ``A^H g``; for a map that is only real-linear, it is the adjoint for the real inner product
``<u, v> = Re sum(conj(u) v)``):

- Unnormalised DFT matrix ``F`` (entries ``exp(-2 pi i jk/n)``): ``F^H = conj(F)`` is the
  *unscaled* inverse DFT, i.e. ``ifft(., norm="forward")``. A transform with norm ``nu`` is
  ``c F`` (or ``c conj(F)``) with ``c`` = 1, 1/sqrt(n) or 1/n; its adjoint is the opposite transform
  with the same ``c``, which is the opposite transform with norm ``swap_norm(nu)``
  (backward <-> forward, ortho -> ortho).
- ``n`` / ``s`` resize the input (crop or zero-pad) before transforming; the adjoint of cropping is
  zero-padding and vice versa, so the gradient is resized back to the input's length (``_fit``).
- ``rfft(x) = S F x`` for real ``x``, ``S`` keeping the first ``n//2 + 1`` bins. Its real adjoint
  is ``Re(F^H S^T g)``: zero-extend ``g`` to length ``n`` (what ``ifft(g, n=n)`` does), inverse
  transform, real part. (Going through ``irfft`` with bin weights would halve the cost but relies on
  the C2R transform ignoring the imaginary parts of DC/Nyquist bins, which cuFFT does not promise.)
- ``irfft(h)[j] = c Re(sum_k a_k h_k exp(2 pi i jk/n))`` with ``a_k`` = 1 for DC and, for even
  ``n``, the Nyquist bin, 2 elsewhere (the mirrored half of the Hermitian spectrum). Its adjoint is
  ``a * rfft(g)`` (with the same scale ``c``): ``rfft`` of a real array is always well defined.
- ``hfft(a) = irfft(conj(a), norm=swap)`` and ``ihfft(x) = conj(rfft(x, norm=swap))`` (NumPy's own
  definitions): their adjoints add the conjugations.
- n-D transforms are 1-D transforms applied axis after axis (NumPy: ``rfftn`` = ``rfft`` on the last
  axis, then ``fft`` on the others; ``irfftn`` = ``ifft`` on the others, then ``irfft``), so the
  adjoint is one n-D call of the adjoint transform. With repeated axes (``fftn(x, axes=(0, 0))``)
  the 1-D steps do not commute with the resizing, and the adjoint applies the 1-D adjoints in
  reverse order (``_chain_adjoint``).

Every adjoint is written with ``np.fft`` calls and the indexing primitives, so under
``create_graph=True`` it records itself and any order of derivative works, on any backend.
``fftshift``/``ifftshift`` are permutations: each is the other's adjoint.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from .._backend import create_like
from .._registry import defvjp
from ..overrides.indexing import scatter_index, take_index

__all__ = ["swap_norm", "nd_args"]

_SWAPPED = {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}


def swap_norm(norm):
    """The norm with "backward" and "forward" exchanged (NumPy's ``_swap_direction``).

    It gives the opposite transform the same scale factor: it is the adjoint's norm. An invalid
    norm passes through for NumPy to refuse.
    """
    return _SWAPPED.get(norm, norm)


def nd_args(shape, s, axes, real_inverse=False):
    """NumPy's defaults for ``(s, axes)`` made explicit: lists of ints, axes non-negative.

    ``s`` entries -1 mean the input's length, None the 1-D default (as in NumPy 2.x); with
    ``real_inverse`` (irfftn, hfftn) the last axis defaults to ``2 * (m - 1)`` output points.
    """
    ndim = len(shape)
    if axes is None:
        axes = range(ndim) if s is None else range(ndim - len(s), ndim)
    axes = list(normalize_axis_tuple(axes, ndim, allow_duplicate=True))   # NumPy allows repeats
    given = [None] * len(axes) if s is None else list(s)
    if len(given) != len(axes):
        raise ValueError("Shape and axes have different lengths.")
    s = [shape[ax] if n is None or n == -1 else n for n, ax in zip(given, axes)]
    if real_inverse and axes and given[-1] is None:
        s[-1] = 2 * (shape[axes[-1]] - 1)
    return s, axes


def _fit(x, axes, sizes):
    """``x`` cropped or zero-padded at the end of each of ``axes`` to ``sizes``.

    This is how NumPy applies ``n``/``s``; cropping and padding are each other's adjoints, so the
    gradient of a resized input is the gradient resized back. Built on ``take_index`` /
    ``scatter_index`` (a pair of primitives that are adjoints of each other: any order works).
    """
    target = list(x.shape)
    for ax, n in zip(axes, sizes):
        target[ax] = n
    if tuple(target) == tuple(x.shape):
        return x
    kept = [min(m, n) for m, n in zip(x.shape, target)]
    if kept != list(x.shape):
        x = take_index(x, tuple(slice(0, m) for m in kept))
    if kept != target:
        x = scatter_index(x, tuple(slice(0, m) for m in kept), tuple(target))
    return x


# ------------------------------------------------------------------- adjoints of the n-D transforms
# Each takes the input's shape and the explicit (s, axes) of the forward call; axes are distinct.
def _c2c_adjoint(inverse):
    def adjoint(g, shape, s, axes, norm):
        norm = swap_norm(norm)
        if len(axes) == 1:
            g = (np.fft.fft if inverse else np.fft.ifft)(g, axis=axes[0], norm=norm)
        else:
            g = (np.fft.fftn if inverse else np.fft.ifftn)(g, axes=axes, norm=norm)
        return _fit(g, axes, [shape[ax] for ax in axes])
    return adjoint


def _r2c_adjoint(g, shape, s, axes, norm):
    """rfftn: zero-extend the half spectrum to s[-1] bins, inverse transform, real part."""
    norm = swap_norm(norm)
    if len(axes) == 1:
        g = np.fft.ifft(g, n=s[0], axis=axes[0], norm=norm)
    else:
        g = np.fft.ifftn(g, s=s, axes=axes, norm=norm)
    return _fit(np.real(g), axes, [shape[ax] for ax in axes])


def _c2r_weights(like, n, axis, ndim):
    """a_k of irfft along ``axis``: 1 for DC (and the Nyquist bin of even n), 2 elsewhere."""
    bins = n // 2 + 1
    shape = [1] * ndim
    shape[axis] = bins
    real = np.finfo(like.dtype).dtype
    w = create_like(np.full, like, tuple(shape), 2, dtype=real)       # a constant on like's device
    w[(slice(None),) * axis + (0,)] = 1
    if n % 2 == 0:
        w[(slice(None),) * axis + (bins - 1,)] = 1
    return w


def _c2r_adjoint(g, shape, s, axes, norm):
    """irfftn: a * rfftn(g), then back to the input's (cropped/padded) shape."""
    norm = swap_norm(norm)
    if len(axes) == 1:
        g = np.fft.rfft(g, axis=axes[0], norm=norm)
    else:
        g = np.fft.rfftn(g, axes=axes, norm=norm)
    g = g * _c2r_weights(g, s[-1], axes[-1], g.ndim)
    return _fit(g, axes, [shape[ax] for ax in axes])


_ADJOINTS = {"fft": _c2c_adjoint(False), "ifft": _c2c_adjoint(True), "rfft": _r2c_adjoint,
             "irfft": _c2r_adjoint}


def _steps(kind, s, axes):
    """The 1-D transforms (kind, n, axis) NumPy applies, in order, for an n-D transform."""
    k = len(axes)
    if kind in ("fft", "ifft"):
        return [(kind, s[i], axes[i]) for i in reversed(range(k))]
    if kind == "rfft":
        return [("rfft", s[-1], axes[-1])] + [("fft", s[i], axes[i]) for i in range(k - 2, -1, -1)]
    return [("ifft", s[i], axes[i]) for i in range(k - 1)] + [("irfft", s[-1], axes[-1])]


def _chain_adjoint(g, shape, steps, norm):
    """Adjoint of 1-D transforms applied one after another: their adjoints in reverse order."""
    shapes = []
    shape = list(shape)
    for kind, n, ax in steps:
        shapes.append(tuple(shape))
        shape[ax] = n // 2 + 1 if kind == "rfft" else n
    for (kind, n, ax), in_shape in zip(reversed(steps), reversed(shapes)):
        g = _ADJOINTS[kind](g, in_shape, [n], [ax], norm)
    return g


def adjoint(kind, g, shape, s, axes, norm):
    """VJP of the n-D transform ``kind`` ("fft", "ifft", "rfft", "irfft") with explicit s, axes."""
    if not axes:
        return g                                    # NumPy returns the input unchanged
    if len(set(axes)) < len(axes):
        return _chain_adjoint(g, shape, _steps(kind, s, axes), norm)
    return _ADJOINTS[kind](g, shape, s, axes, norm)


# ------------------------------------------------------------------------------ the VJPs of np.fft
def _vjp_1d(kind):
    def vjp(g, ans, a, n=None, axis=-1, norm=None, out=None):
        axis %= a.ndim
        if n is None:
            n = 2 * (a.shape[axis] - 1) if kind == "irfft" else a.shape[axis]
        return adjoint(kind, g, a.shape, [n], [axis], norm)
    vjp.__name__ = f"{kind}_vjp"
    return vjp


def _vjp_nd(kind, default_axes):
    def vjp(g, ans, a, s=None, axes=default_axes, norm=None, out=None):
        s, axes = nd_args(a.shape, s, axes, kind == "irfft")
        return adjoint(kind, g, a.shape, s, axes, norm)
    vjp.__name__ = f"{kind}n_vjp"
    return vjp


for _kind in ("fft", "ifft", "rfft", "irfft"):
    defvjp(getattr(np.fft, _kind), _vjp_1d(_kind), save="none")
    defvjp(getattr(np.fft, _kind + "n"), _vjp_nd(_kind, None), save="none")
    defvjp(getattr(np.fft, _kind + "2"), _vjp_nd(_kind, (-2, -1)), save="none")


def _hfft_vjp(g, ans, a, n=None, axis=-1, norm=None, out=None):
    # hfft(a) = irfft(conj(a), norm=swap(norm))
    axis %= a.ndim
    if n is None:
        n = 2 * (a.shape[axis] - 1)
    return np.conjugate(adjoint("irfft", g, a.shape, [n], [axis], swap_norm(norm)))


def _ihfft_vjp(g, ans, a, n=None, axis=-1, norm=None, out=None):
    # ihfft(a) = conj(rfft(a, norm=swap(norm)))
    axis %= a.ndim
    if n is None:
        n = a.shape[axis]
    return adjoint("rfft", np.conjugate(g), a.shape, [n], [axis], swap_norm(norm))


defvjp(np.fft.hfft, _hfft_vjp, save="none")
defvjp(np.fft.ihfft, _ihfft_vjp, save="none")

# the shifts are permutations (rolls by half the length): each one's adjoint is the other one
defvjp(np.fft.fftshift, lambda g, ans, x, axes=None: np.fft.ifftshift(g, axes), save="none")
defvjp(np.fft.ifftshift, lambda g, ans, x, axes=None: np.fft.fftshift(g, axes), save="none")
