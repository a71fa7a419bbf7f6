"""Rules for reductions and statistics."""
from __future__ import annotations

import numpy as np

from .._registry import defvjp


def _expand_reduced(g, shape, axis, keepdims):
    """Re-insert the reduced axes of ``g`` (size 1) so it broadcasts against the input shape."""
    if axis is None or keepdims:
        return g if keepdims or axis is not None else np.reshape(g, (1,) * len(shape))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    axes = tuple(sorted(a % len(shape) for a in axes))
    return np.expand_dims(g, axes)


def _sum_vjp(g, ans, a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=True):
    g = _expand_reduced(g, a.shape, axis, keepdims)
    g = np.broadcast_to(g, a.shape)
    if where is not True:
        g = g * where
    return g


defvjp(np.sum, _sum_vjp, save="none")
