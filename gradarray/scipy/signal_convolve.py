"""Differentiable convolutions of ``scipy.signal``: ``convolve``, ``correlate``, ``fftconvolve``,
``oaconvolve``, ``convolve2d``, ``correlate2d`` (imported by ``signal.py``; ``ndimage.py`` uses
:func:`convolve_full` and :func:`correlate_valid` for the adjoints of its filters).

All of them are bilinear. Along the convolved axes let ``F(u, v)[n] = sum_k u[k] v[n - k]`` be the
*full* convolution; a convolution returns a slice of ``F(in1, in2)`` ('full', 'same', 'valid'), a
correlation a slice of ``F(in1, flip(conj(in2)))``. The forward runs SciPy's own function (its
values, its ``method``); the VJPs are convolutions again, with ``g_full`` the output gradient put
back at its place in the full output (zeros elsewhere):

    convolution:  d in1 = F(g_full, flip(conj(in2)))|valid
                  d in2 = F(g_full, flip(conj(in1)))|valid
    correlation:  d in1 = F(g_full, in2)|valid
                  d in2 = flip(conj(F(g_full, flip(conj(in1)))|valid))

(``|valid``: the part where the kernel lies inside ``g_full``, which has exactly the input's shape.)
Those convolutions call the same primitive, so every order of derivative works.
"""
from __future__ import annotations

import importlib
from typing import NamedTuple

import numpy as np

from .._registry import Primitive, conj, defvjp
from ._bridge import implements_scipy
from ._signal_common import host_only, lift, raw, refuse, tracked

__all__ = ["convolve", "correlate", "fftconvolve", "oaconvolve", "convolve2d", "correlate2d",
           "convolve_full", "convolve_valid", "correlate_valid"]

_CORRELATIONS = ("correlate", "correlate2d")


class _Conv(NamedTuple):
    """Which SciPy convolution runs, with its options (hashable; passed to the primitive)."""
    name: str            # the scipy.signal function
    mode: str
    axes: tuple          # the convolved axes (non-negative)
    options: tuple = ()  # extra keyword arguments as (key, value) pairs

    def run(self, in1, in2):
        function = getattr(importlib.import_module("scipy.signal"), self.name)
        if self.name in ("fftconvolve", "oaconvolve"):
            return function(in1, in2, self.mode, axes=list(self.axes))
        return function(in1, in2, self.mode, **dict(self.options))


def _run(in1, in2, op):
    return op.run(in1, in2)


def _full_gradient(g, op, s1, s2):
    """``g`` put at its place in the full output (zeros around it) along the convolved axes."""
    widths = []
    for a in range(len(g.shape)):
        if a not in op.axes:
            widths.append((0, 0))
            continue
        full = s1[a] + s2[a] - 1
        out = g.shape[a]
        # 'same' is centred on the full output; correlate2d rounds the offset up, the others down
        start = 0 if op.mode == "full" else (full - out + (op.name == "correlate2d")) // 2
        widths.append((start, full - out - start))
    if not any(w != (0, 0) for w in widths):
        return g
    return np.pad(g, widths)


def _flip(x, axes):
    return np.flip(x, axes) if axes else x


def _vjp_in1(g, ans, in1, in2, op):
    g_full = _full_gradient(g, op, in1.shape, in2.shape)
    kernel = in2 if op.name in _CORRELATIONS else _flip(conj(in2), op.axes)
    return convolve_valid(g_full, kernel, op.axes)


def _vjp_in2(g, ans, in1, in2, op):
    g_full = _full_gradient(g, op, in1.shape, in2.shape)
    d = convolve_valid(g_full, _flip(conj(in1), op.axes), op.axes)
    return conj(_flip(d, op.axes)) if op.name in _CORRELATIONS else d


convolution = Primitive(_run)
convolution.__name__ = "scipy.signal.convolve"
defvjp(convolution, _vjp_in1, _vjp_in2, None, save="args")


def _conv_along(u, v, mode, axes):
    ndim = len(u.shape)
    axes = tuple(range(ndim)) if axes is None else tuple(axes)
    name = "convolve" if len(axes) == ndim else "fftconvolve"
    return convolution(u, v, _Conv(name, mode, axes))


def convolve_valid(u, v, axes=None):
    """``F(u, v)`` where ``v`` lies inside ``u`` along ``axes`` (all by default); differentiable."""
    return _conv_along(u, v, "valid", axes)


def convolve_full(u, v, axes=None):
    """The full convolution ``F(u, v)`` along ``axes`` (all by default); differentiable."""
    return _conv_along(u, v, "full", axes)


def correlate_valid(u, v):
    """``sum_i u[i + j] conj(v[i])`` for the lags ``j`` where ``v`` lies inside ``u``."""
    return convolution(u, v, _Conv("correlate", "valid", tuple(range(len(u.shape)))))


# ------------------------------------------------------------------ the scipy.signal functions
def _axes_of(in1, axes):
    ndim = len(in1.shape)
    if axes is None:
        return tuple(range(ndim))
    axes = [axes] if np.ndim(axes) == 0 else list(axes)
    return tuple(sorted(int(a) % ndim for a in axes))


def _call(name, in1, in2, mode, axes=None, **options):
    host_only(f"scipy.signal.{name}", in1, in2)
    in1, in2 = lift(in1), lift(in2)
    if in1.ndim == 0 and in2.ndim == 0:         # SciPy multiplies scalars
        return in1 * in2
    op = _Conv(name, mode, _axes_of(in1, axes), tuple(sorted(options.items())))
    return convolution(in1, in2, op)


@implements_scipy("scipy.signal", "convolve")
def convolve(in1, in2, mode="full", method="auto"):
    return _call("convolve", in1, in2, mode, method=method)


@implements_scipy("scipy.signal", "correlate")
def correlate(in1, in2, mode="full", method="auto"):
    return _call("correlate", in1, in2, mode, method=method)


@implements_scipy("scipy.signal", "fftconvolve")
def fftconvolve(in1, in2, mode="full", axes=None):
    return _call("fftconvolve", in1, in2, mode, axes)


@implements_scipy("scipy.signal", "oaconvolve")
def oaconvolve(in1, in2, mode="full", axes=None):
    return _call("oaconvolve", in1, in2, mode, axes)


_BOUNDARY_PAD = {"fill": "constant", "pad": "constant", "wrap": "wrap", "circular": "wrap",
                 "symm": "symmetric", "symmetric": "symmetric"}


def _conv2d(name, in1, in2, mode, boundary, fillvalue):
    if tracked(fillvalue):
        refuse(f"scipy.signal.{name}", "fillvalue")
    fill = raw(fillvalue)
    if mode == "valid" or (_BOUNDARY_PAD.get(boundary) == "constant" and np.all(fill == 0)):
        return _call(name, in1, in2, mode, boundary=boundary, fillvalue=fill)
    if boundary not in _BOUNDARY_PAD:
        raise ValueError(f"Acceptable boundary flags are 'fill', 'circular' (or 'wrap'), and "
                         f"'symmetric' (or 'symm'), not {boundary!r}")
    # another boundary: extend in1 by the kernel size minus one the way SciPy does, convolve
    # 'valid' (the full output), then cut 'same' like SciPy
    in1, in2 = lift(in1), lift(in2)
    widths = [(k - 1, k - 1) for k in in2.shape]
    pad_mode = _BOUNDARY_PAD[boundary]
    extra = {"constant_values": fill} if pad_mode == "constant" else {}
    full = _call(name, np.pad(in1, widths, mode=pad_mode, **extra), in2, "valid")
    if mode == "full":
        return full
    if mode != "same":
        raise ValueError("Acceptable mode flags are 'valid', 'same', or 'full'.")
    offset = [(k - (name == "convolve2d")) // 2 for k in in2.shape]
    return full[tuple(slice(o, o + n) for o, n in zip(offset, in1.shape))]


@implements_scipy("scipy.signal", "convolve2d")
def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    return _conv2d("convolve2d", in1, in2, mode, boundary, fillvalue)


@implements_scipy("scipy.signal", "correlate2d")
def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0):
    return _conv2d("correlate2d", in1, in2, mode, boundary, fillvalue)
