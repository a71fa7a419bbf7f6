"""Differentiable ``scipy.signal`` (see the package docstring and ``_bridge.py``): IIR filtering
(``lfilter``, ``lfilter_zi``, ``filtfilt``, ``sosfilt``, ``sosfilt_zi``, ``sosfiltfilt``),
``savgol_filter``, ``detrend`` and ``medfilt``. The convolutions (``convolve``, ``correlate``,
``fftconvolve``, ``oaconvolve``, ``convolve2d``, ``correlate2d``) live in ``signal_convolve.py``.
Window functions (``scipy.signal.windows``) take no array input: they are constants.

lfilter
-------
With the coefficients normalised (a_0 = 1, n = max(len a, len b)), SciPy's transposed direct form II
computes
    y[t] + sum_{k>=1} a_k y[t-k] = sum_k b_k x[t-k] + zi[t]        (zi[t] = 0 for t >= n - 1),
i.e. y = (1/A)(B x + zi): linear in x and zi. The adjoint of a causal filter is the same filter run
backwards in time, so with the reversed gradient filtered by the all-pole part,
    mu = rev(lfilter([1], a, rev(g))),
    dL/dx = rev(lfilter(b, a, rev(g))),          dL/dzi = mu[:n-1].
Perturbing b_k adds (1/A) x[t-k] to y and perturbing a_k adds -(1/A) y[t-k], so
    dL/db_k = sum_t mu[t] x[t-k],                dL/da_k = -sum_t mu[t] y[t-k]   (k >= 1):
correlations of mu with x and with y, summed over the other axes (``_lagged_products``). SciPy
divides b and a by a_0; the chain rule through b/a_0 and a/a_0 gives
    dL/da_0 = -(b . dL/db_hat + a[1:] . dL/da_hat[1:]) / a_0**2.
Complex data: conjugates as in every rule (grad = g * conj(derivative)). The VJPs call the same
primitive, so second derivatives work. The final state ``zf`` (returned when ``zi`` is given) is
the state recursion z_i[t+1] = b_{i+1} x[t] - a_{i+1} y[t] + z_{i+1}[t] unrolled over the last
samples: a small differentiable sum (``_final_state``).

``filtfilt``/``sosfiltfilt`` (method 'pad') are compositions of the above with the differentiable
edge extension and ``lfilter_zi`` (a linear solve). ``savgol_filter`` is a convolution with
``savgol_coeffs`` (``ndimage.convolve1d``); for mode 'interp' the polynomial fits at the edges are a
fixed linear map of the first and last ``window_length`` samples, built once per window by running
SciPy's ``savgol_filter`` on the identity (cost O(window_length**2) per edge sample row).
"""
from __future__ import annotations

import functools
import importlib

import numpy as np

from .._registry import Primitive, conj, defvjp
from . import ndimage as _ndimage
from ._bridge import implements_scipy
from ._signal_common import host_only, lift, raw, refuse, tracked
from .signal_convolve import convolve_full  # (importing it registers the convolutions)

__all__ = ["lfilter", "lfilter_zi", "filtfilt", "sosfilt", "sosfilt_zi", "sosfiltfilt",
           "savgol_filter", "detrend", "medfilt"]


def _scipy_signal():
    return importlib.import_module("scipy.signal")


def _along(x, axis, index):
    """``x[..., index, ...]`` with ``index`` on ``axis``."""
    return x[(slice(None),) * axis + (index,)]


def _axis(axis, ndim):
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim)
    return axis % ndim


def _coefficients(c):
    c = lift(c)
    return np.reshape(c, (1,)) if c.ndim == 0 else c


# ---------------------------------------------------------------------------------------- lfilter
def _lfilter_raw(b, a, x, zi, axis):
    if zi is None:
        return _scipy_signal().lfilter(b, a, x, axis=axis)
    return _scipy_signal().lfilter(b, a, x, axis=axis, zi=zi)[0]


lfilter_output = Primitive(_lfilter_raw)
lfilter_output.__name__ = "scipy.signal.lfilter"


def _lagged_products(u, v, count, axis):
    """``[sum_t u[t] conj(v[t - k]) for k in range(count)]``, t along ``axis``, summed over the
    other axes: the lags 0.. of the full correlation (an FFT convolution for long signals)."""
    n = u.shape[axis]
    full = convolve_full(u, np.flip(conj(v), axis), axes=(axis,))
    others = tuple(i for i in range(len(u.shape)) if i != axis)
    full = np.sum(full, axis=others) if others else full
    lags = full[n - 1:n - 1 + count]
    return np.pad(lags, (0, count - lags.shape[0])) if lags.shape[0] < count else lags


def _mu(g, a, axis):
    """The adjoint of the all-pole part 1/A applied to ``g``: the reversed ``g`` filtered by 1/A."""
    a = conj(a)
    return np.flip(lfilter_output(a[:1], a, np.flip(g, axis), None, axis), axis)


def _vjp_x(g, ans, b, a, x, zi, axis):
    return np.flip(lfilter_output(conj(b), conj(a), np.flip(g, axis), None, axis), axis)


def _vjp_zi(g, ans, b, a, x, zi, axis):
    n, length = max(len(a), len(b)), x.shape[axis]
    part = _along(_mu(g, a, axis), axis, slice(0, n - 1))
    if length < n - 1:          # the later states never reach the output
        widths = [(0, 0)] * len(g.shape)
        widths[axis] = (0, n - 1 - length)
        part = np.pad(part, widths)
    return part


def _vjp_b(g, ans, b, a, x, zi, axis):
    return _lagged_products(_mu(g, a, axis), x, len(b), axis) / conj(a[0])


def _vjp_a(g, ans, b, a, x, zi, axis):
    mu = _mu(g, a, axis)
    a0 = conj(a[0])
    grad_b_hat = _lagged_products(mu, x, len(b), axis)
    grad_a_hat = -_lagged_products(mu, ans, len(a), axis)[1:]
    grad_a0 = -(np.sum(grad_b_hat * conj(b)) + np.sum(grad_a_hat * conj(a[1:]))) / (a0 * a0)
    return np.concatenate([np.reshape(grad_a0, (1,)), grad_a_hat / a0])


defvjp(lfilter_output, _vjp_b, _vjp_a, _vjp_x, _vjp_zi, None, save="both")


def _final_state(b, a, x, y, zi, axis):
    """SciPy's ``zf``: unrolling z_i[t+1] = b_{i+1} x[t] - a_{i+1} y[t] + z_{i+1}[t] (a_0 = 1) over
    the last samples, zf_i = sum_{k < m_i} (b_{i+1+k} x[N-1-k] - a_{i+1+k} y[N-1-k]) + zi_{i+N}
    with m_i = min(N, n-1-i), the zi term only while i + N <= n - 2 (inputs shorter than the
    state)."""
    n, length = max(len(a), len(b)), x.shape[axis]
    m = min(length, n - 1)
    rows, lags = np.arange(n - 1)[:, None], np.arange(m)[None, :]
    tap = rows + 1 + lags
    inside = tap <= n - 1
    tap = np.where(inside, tap, 0)

    def hankel(c):              # H[i, k] = c_hat[i + 1 + k] (zero past the end)
        c = c / a[0]
        c = np.concatenate([c, np.zeros(n - len(c), dtype=c.dtype)])
        return np.where(inside, c[tap], 0)

    def last(v):                # v[..., N-1-k] for k < m, the axis moved last
        return np.flip(np.moveaxis(v, axis, -1)[..., length - m:], -1)

    zf = np.matmul(last(x), np.swapaxes(hankel(b), 0, 1)) - np.matmul(
        last(y), np.swapaxes(hankel(a), 0, 1))
    if zi is not None and length < n - 1:
        shifted = np.moveaxis(zi, axis, -1)[..., length:]
        zf = zf + np.pad(shifted, [(0, 0)] * (len(shifted.shape) - 1) + [(0, length)])
    return np.moveaxis(zf, -1, axis)


@implements_scipy("scipy.signal", "lfilter")
def lfilter(b, a, x, axis=-1, zi=None):
    host_only("scipy.signal.lfilter", b, a, x, zi)
    b, a, x = _coefficients(b), _coefficients(a), lift(x)
    axis = _axis(axis, x.ndim)
    if zi is None:
        return lfilter_output(b, a, x, None, axis)
    zi = lift(zi)
    y = lfilter_output(b, a, x, zi, axis)
    return y, _final_state(b, a, x, y, zi, axis)


@implements_scipy("scipy.signal", "lfilter_zi")
def lfilter_zi(b, a):
    b, a = _coefficients(b), _coefficients(a)
    while a.shape[0] > 1 and raw(a)[0] == 0.0:
        a = a[1:]
    b, a = b / a[0], a / a[0]
    n = max(a.shape[0], b.shape[0])
    a = np.concatenate([a, np.zeros(n - a.shape[0], dtype=a.dtype)])
    b = np.concatenate([b, np.zeros(n - b.shape[0], dtype=b.dtype)])
    # steady state of the step response: zi = companion(a).T zi + B, solved as SciPy does;
    # I - companion(a).T has ones on the diagonal, -1 above it and a[1:] added in column 0
    first_column = np.eye(n - 1)[0]
    system = np.eye(n - 1) - np.eye(n - 1, k=1) + a[1:, None] * first_column
    return np.linalg.solve(system, b[1:] - a[1:] * b[0])


# ---------------------------------------------------------------------- forward-backward filters
def _extend_signal(x, padtype, padlen, axis, ntaps):
    """SciPy's edge extension for filtfilt (odd/even/constant), with differentiable slices."""
    if padtype not in ("even", "odd", "constant", None):
        raise ValueError(f"Unknown value '{padtype}' given to padtype. padtype must be 'even', "
                         "'odd', 'constant', or None.")
    edge = 0 if padtype is None else (ntaps * 3 if padlen is None else padlen)
    if x.shape[axis] <= edge:
        raise ValueError("The length of the input vector x must be greater than padlen, "
                         f"which is {edge}.")
    if padtype is None or edge == 0:
        return edge, x
    first, final = _along(x, axis, slice(0, 1)), _along(x, axis, slice(-1, None))
    left = _along(x, axis, slice(edge, 0, -1))
    right = _along(x, axis, slice(-2, -(edge + 2), -1))
    if padtype == "even":
        parts = (left, x, right)
    elif padtype == "odd":
        parts = (2 * first - left, x, 2 * final - right)
    else:
        parts = (np.repeat(first, edge, axis), x, np.repeat(final, edge, axis))
    return edge, np.concatenate(parts, axis=axis)


def _trim(y, edge, axis):
    return _along(y, axis, slice(edge, -edge)) if edge > 0 else y


@implements_scipy("scipy.signal", "filtfilt")
def filtfilt(b, a, x, axis=-1, padtype="odd", padlen=None, method="pad", irlen=None):
    host_only("scipy.signal.filtfilt", b, a, x)
    if method not in ("pad", "gust"):
        raise ValueError("method must be 'pad' or 'gust'.")
    if method == "gust":
        raise NotImplementedError("scipy.signal.filtfilt(method='gust') has no gradient rule in "
                                  "gradarray; use method='pad' (the default)")
    b, a, x = _coefficients(b), _coefficients(a), lift(x)
    axis = _axis(axis, x.ndim)
    edge, ext = _extend_signal(x, padtype, padlen, axis, max(len(a), len(b)))
    shape = [1] * x.ndim
    shape[axis] = -1
    zi = np.reshape(lfilter_zi(b, a), shape)
    y = lfilter_output(b, a, ext, zi * _along(ext, axis, slice(0, 1)), axis)
    y = np.flip(y, axis)
    y = lfilter_output(b, a, y, zi * _along(y, axis, slice(0, 1)), axis)
    return _trim(np.flip(y, axis), edge, axis)


def _sections(sos):
    sos = lift(sos)
    if sos.ndim != 2 or sos.shape[1] != 6:
        raise ValueError("sos array must be 2D with shape (n_sections, 6)")
    if not np.all(raw(sos)[:, 3] == 1):
        raise ValueError("sos[:, 3] should be all ones")
    return sos if sos.dtype.kind in "fc" else sos.astype(np.float64)


def _cascade(sos, x, axis, zi, final_states):
    """The sections of ``sos`` one after the other (SciPy's sosfilt), with their final states."""
    states = []
    for s in range(sos.shape[0]):
        b, a = sos[s, :3], sos[s, 3:]
        state = None if zi is None else zi[s]
        y = lfilter_output(b, a, x, state, axis)
        if final_states:
            states.append(_final_state(b, a, x, y, state, axis))
        x = y
    return x, states


@implements_scipy("scipy.signal", "sosfilt")
def sosfilt(sos, x, axis=-1, zi=None):
    host_only("scipy.signal.sosfilt", sos, x, zi)
    sos, x = _sections(sos), lift(x)
    axis = _axis(axis, x.ndim)
    if zi is None:
        return _cascade(sos, x, axis, None, False)[0]
    zi = lift(zi)
    expected = (sos.shape[0],) + x.shape[:axis] + (2,) + x.shape[axis + 1:]
    if zi.shape != expected:
        raise ValueError(f"Invalid zi shape. With axis={axis!r}, an input with shape {x.shape!r}, "
                         f"and an sos array with {sos.shape[0]} sections, zi must have shape "
                         f"{expected!r}, got {zi.shape!r}.")
    y, states = _cascade(sos, x, axis, zi, True)
    return y, np.stack(states)


@implements_scipy("scipy.signal", "sosfilt_zi")
def sosfilt_zi(sos):
    sos = _sections(sos)
    states, scale = [], 1.0
    for s in range(sos.shape[0]):
        b, a = sos[s, :3], sos[s, 3:]
        states.append(scale * lfilter_zi(b, a))
        # the section's DC gain b.sum() / a.sum() scales the steady state of the next one
        scale = scale * np.sum(b) / np.sum(a)
    return np.stack(states)


@implements_scipy("scipy.signal", "sosfiltfilt")
def sosfiltfilt(sos, x, axis=-1, padtype="odd", padlen=None):
    host_only("scipy.signal.sosfiltfilt", sos, x)
    sos, x = _sections(sos), lift(x)
    axis = _axis(axis, x.ndim)
    sections = sos.shape[0]
    ntaps = 2 * sections + 1 - min(int(np.sum(raw(sos)[:, 2] == 0)),
                                   int(np.sum(raw(sos)[:, 5] == 0)))
    edge, ext = _extend_signal(x, padtype, padlen, axis, ntaps)
    shape = [1] * x.ndim
    shape[axis] = 2
    zi = np.reshape(sosfilt_zi(sos), [sections] + shape)
    y = _cascade(sos, ext, axis, zi * _along(ext, axis, slice(0, 1)), False)[0]
    y = np.flip(y, axis)
    y = _cascade(sos, y, axis, zi * _along(y, axis, slice(0, 1)), False)[0]
    return _trim(np.flip(y, axis), edge, axis)


# ------------------------------------------------------------------------- smoothing, detrending
@functools.lru_cache(maxsize=64)
def _savgol_edges(window_length, polyorder, deriv, delta):
    """Row i, column j: SciPy's mode='interp' output at sample i of a window for the input e_j."""
    original = _scipy_signal().savgol_filter
    original = getattr(original, "__gradarray_original__", original)
    return original(np.eye(window_length), window_length, polyorder, deriv=deriv, delta=delta,
                    axis=0, mode="interp")


def _matrix_along(matrix, v, axis):
    """``matrix @ v`` along ``axis`` of ``v``."""
    return np.moveaxis(np.tensordot(matrix, v, axes=([1], [axis])), 0, axis)


@implements_scipy("scipy.signal", "savgol_filter")
def savgol_filter(x, window_length, polyorder, deriv=0, delta=1.0, axis=-1, mode="interp",
                  cval=0.0):
    host_only("scipy.signal.savgol_filter", x)
    if mode not in ("mirror", "constant", "nearest", "interp", "wrap"):
        raise ValueError("mode must be 'mirror', 'constant', 'nearest' 'wrap' or 'interp'.")
    if tracked(delta):
        refuse("scipy.signal.savgol_filter", "delta")
    x = lift(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    axis = _axis(axis, x.ndim)
    delta = float(raw(delta))
    coeffs = _scipy_signal().savgol_coeffs(window_length, polyorder, deriv=deriv, delta=delta)
    if mode != "interp":
        return _ndimage.convolve1d(x, coeffs, axis=axis, mode=mode, cval=cval)
    length = x.shape[axis]
    if window_length > length:
        raise ValueError("If mode is 'interp', window_length must be less than or equal to the "
                         "size of x.")
    y = _ndimage.convolve1d(x, coeffs, axis=axis, mode="constant")
    half = window_length // 2
    if half == 0:
        return y
    # the edges: polynomial fits to the first / last window, a fixed linear map of those samples
    edges = _savgol_edges(window_length, polyorder, deriv, delta)
    left = _matrix_along(edges[:half], _along(x, axis, slice(0, window_length)), axis)
    right = _matrix_along(edges[window_length - half:],
                          _along(x, axis, slice(length - window_length, length)), axis)
    out = np.concatenate([left, _along(y, axis, slice(half, length - half)), right], axis=axis)
    return out if out.dtype == x.dtype else out.astype(x.dtype)


@implements_scipy("scipy.signal", "detrend")
def detrend(data, axis=-1, type="linear", bp=0, overwrite_data=False):
    if type not in ("linear", "l", "constant", "c"):
        raise ValueError("Trend type must be 'linear' or 'constant'.")
    host_only("scipy.signal.detrend", data)
    data = lift(data)
    if data.dtype.char not in "dfDF":
        data = data.astype(np.float64)
    axis = _axis(axis, data.ndim)
    if type in ("constant", "c"):
        return data - np.mean(data, axis, keepdims=True)
    length = data.shape[axis]
    breaks = np.sort(np.unique(np.concatenate(np.atleast_1d(0, raw(bp), length))))
    if np.any(breaks > length):
        raise ValueError("Breakpoints must be less than length of data along given axis.")
    moved = np.moveaxis(data, axis, 0)
    flat = np.reshape(moved, (length, -1))
    pieces = []
    for lo, hi in zip(breaks[:-1], breaks[1:]):
        count = int(hi - lo)
        design = np.ones((count, 2))
        design[:, 0] = np.arange(1, count + 1) / count
        segment = flat[int(lo):int(hi)]
        # least-squares line: segment - A (A^+ segment), A^+ a constant 2 x count matrix
        pieces.append(segment - design @ (np.linalg.pinv(design) @ segment))
    out = np.reshape(np.concatenate(pieces, axis=0), moved.shape)
    return np.moveaxis(out, 0, axis)


@implements_scipy("scipy.signal", "medfilt")
def medfilt(volume, kernel_size=None):
    volume = lift(volume)
    if volume.ndim == 0:
        volume = np.reshape(volume, (1,))
    sizes = [3] * volume.ndim if kernel_size is None else np.broadcast_to(
        np.asarray(kernel_size), (volume.ndim,)).tolist()
    if any(k % 2 != 1 for k in sizes):
        raise ValueError("Each element of kernel_size should be odd.")
    return _ndimage.rank_filter(volume, int(np.prod(sizes)) // 2, size=sizes, mode="constant")
