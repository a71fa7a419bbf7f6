"""The engine's gradient values: fitting a VJP's result to its input, sparse and masked gradients,
and summing contributions into buffers the engine owns.

Owns: ``fit_gradient`` (undo broadcasting, cast, refuse wrong shapes), ``SparseGradient`` (what a read
``x[i]`` sends back), ``MaskedGradient`` (what ``np.where`` sends to a discarded branch) and
``_sum_into`` (accumulation, in place where the engine owns the buffer).
Must not know about: nodes, GradArray, rules — the backward pass (``_tape``) decides what flows where.
"""
from __future__ import annotations

import numpy as np

from . import _backend


def fit_gradient(g, shape, dtype, node=None, where=None):
    """Sum a gradient over broadcast dimensions and cast it to the input's shape and dtype.

    A real input that met complex values gets the real part (the PyTorch convention: the gradient of
    a real loss with respect to a real input is real). A gradient whose shape is not the input's
    shape broadcast (a wrong VJP) raises, naming the rule (``node``) and argument (``where``).
    """
    if type(g) is SparseGradient:
        g = g.dense()
    elif type(g) is MaskedGradient:
        g = g.values
    elif not hasattr(g, "dtype"):         # a Python number (0-d arithmetic with np.float64 gives one)
        g = np.asarray(g)
    gshape = g.shape
    if gshape != shape:
        if _broadcasts_to(shape, gshape):
            # the input was broadcast up to g's shape in the forward call: sum g back down
            lead = len(gshape) - len(shape)
            axes = tuple(range(lead)) + tuple(
                lead + i for i, s in enumerate(shape) if s == 1 and gshape[lead + i] != 1)
            if axes:
                g = np.sum(g, axis=axes)
            if g.shape != shape:
                g = np.reshape(g, shape)
        elif _broadcasts_to(gshape, shape):
            g = _backend.call(np.broadcast_to, g, shape)    # a VJP may return a smaller gradient
        else:
            name = node.rule.name if node is not None else "a rule"
            raise ValueError(
                f"the VJP of {name} returned a gradient of shape {gshape} for argument {where!r}, "
                f"which has shape {shape}; a VJP must return the argument's shape (or a shape it "
                "broadcasts to). Fix the rule registered with defvjp/custom_vjp.")
    gdtype = g.dtype
    if gdtype != dtype:
        if gdtype.kind == "c" and dtype.kind != "c":
            g = np.real(g)
        if g.dtype != dtype:
            g = g.astype(dtype)
    return g


class SparseGradient:
    """A gradient that is zero except at ``index``: what reading ``x[index]`` sends back to ``x``.

    The engine adds it into the receiving buffer in place (``add_into(buffer, index, values)``,
    supplied by the indexing rules) instead of materialising zeros of ``x``'s whole shape, so a
    loop that reads the rows of a large array one by one costs O(row) per read in backward, not
    O(array) (with ``modifies_g`` rules such as setitem, the time loop ``traj[i + 1] =
    f(traj[i])`` is linear in the steps). Only raw gradients are sparse; under create_graph the
    VJPs stay recorded calls.
    """

    __slots__ = ("values", "index", "shape", "dtype", "add_into")

    def __init__(self, values, index, shape, add_into):
        self.values = values
        self.index = index
        self.shape = shape
        self.dtype = values.dtype
        self.add_into = add_into

    def dense(self):
        values = self.values
        out = (np.zeros(self.shape, dtype=self.dtype) if _backend.is_host_array(values)
               else np.zeros(self.shape, dtype=self.dtype, like=values))
        self.add_into(out, self.index, self.values)
        return out


class MaskedGradient:
    """A gradient that is exactly zero wherever ``keep`` is False: what ``np.where(c, x, y)`` sends
    to the branch it discarded there.

    VJPs of elementwise (ufunc) nodes run on ``values`` and their results are zeroed again outside
    ``keep``, so a discarded branch contributes zero even where its own derivative is infinite:
    ``np.where(r > 0, 1 / r, 0)`` at ``r == 0`` gets the gradient of what NumPy returns (0), not
    ``0 * inf = nan`` (what PyTorch, JAX and autograd give). Non-elementwise nodes, leaves and
    create_graph see the plain ``values`` (zeros outside ``keep``).
    """

    __slots__ = ("values", "keep", "shape", "dtype")

    def __init__(self, values, keep):
        self.values = values
        self.keep = keep
        self.shape = values.shape
        self.dtype = values.dtype


def _sum_into(current, g, owned, key):
    """``current + g`` for the engine's gradient buffers.

    ``owned``: the keys whose buffer the engine created itself (a sum, a densified sparse
    gradient, a copy), which it may therefore add into in place; None under create_graph, where
    every sum must be a recorded call.
    """
    if owned is None:
        return g if current is None else current + g
    if current is None:
        if type(g) is SparseGradient:
            owned.add(key)
            return g.dense()
        return g
    if type(current) is MaskedGradient or type(g) is MaskedGradient:
        if type(current) is MaskedGradient and type(g) is MaskedGradient:
            # zero only where both contributions are
            return MaskedGradient(current.values + g.values, current.keep | g.keep)
        if type(current) is MaskedGradient:
            current = current.values
            owned.discard(key)
        if type(g) is MaskedGradient:
            g = g.values
    sparse = type(g) is SparseGradient
    if key in owned:
        if sparse:
            g.add_into(current, g.index, g.values)
        else:
            current += g
        return current
    owned.add(key)
    if sparse:
        current = current.copy()
        g.add_into(current, g.index, g.values)
        return current
    return current + g


def _broadcasts_to(small, big):
    """Does shape ``small`` broadcast to shape ``big``?"""
    lead = len(big) - len(small)
    return lead >= 0 and all(s == 1 or s == b for s, b in zip(small, big[lead:]))

