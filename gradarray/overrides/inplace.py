"""PyTorch-style in-place methods of GradArray: ``x.add_(y)``, ``x.zero_()``, ``x.grad.zero_()``.

Each computes its value out of place with the recorded ``np.*`` call and writes it into ``x`` with
``x[...] = value`` — the one path for in-place writes, so version counters, the refusal to modify a
leaf that requires grad (outside ``ga.no_grad()``), views and rewiring of ``x``'s history all apply.
While recording, the operation reads a recorded *copy* of ``x``: the rule may save its input for
backward (``mul_`` needs ``x`` for the other factor's gradient), and that saved value must not be
the memory the write then overwrites. Every method returns ``x``.

Must not know about: how writes are recorded (``overrides/indexing.setitem`` does).
"""
from __future__ import annotations

import numpy as np

from .._array import GradArray
from .._modes import is_grad_enabled


def _operand(x):
    """``x`` as the operation reads it: a recorded copy while recording a tracked array."""
    return np.copy(x) if x._requires_grad and is_grad_enabled() else x


def _in_place(name, compute, doc):
    def method(self, *args, **kwargs):
        self[...] = compute(_operand(self), *args, **kwargs)
        return self
    method.__name__ = name
    method.__doc__ = f"In place: ``x[...] = {doc}``; returns x."
    return method


_METHODS = {
    "add_": (lambda x, other, alpha=1: x + alpha * other, "x + alpha * other"),
    "sub_": (lambda x, other, alpha=1: x - alpha * other, "x - alpha * other"),
    "mul_": (lambda x, other: x * other, "x * other"),
    "div_": (lambda x, other: x / other, "x / other"),
    "pow_": (lambda x, exponent: x ** exponent, "x ** exponent"),
    "neg_": (lambda x: -x, "-x"),
    "clamp_": (lambda x, min=None, max=None: np.clip(x, min, max), "np.clip(x, min, max)"),
    "clip_": (lambda x, min=None, max=None: np.clip(x, min, max), "np.clip(x, min, max)"),
    "exp_": (np.exp, "np.exp(x)"),
    "log_": (np.log, "np.log(x)"),
    "sqrt_": (np.sqrt, "np.sqrt(x)"),
    "abs_": (np.abs, "np.abs(x)"),
}

for _name, (_compute, _doc) in _METHODS.items():
    setattr(GradArray, _name, _in_place(_name, _compute, _doc))


def fill_(self, value):
    """In place: every element becomes ``value`` (a tracked 0-d value keeps its gradient)."""
    self[...] = value
    return self


def zero_(self):
    """In place: every element becomes 0 (``x.grad.zero_()`` between optimiser steps)."""
    self[...] = 0
    return self


def copy_(self, src):
    """In place: ``x[...] = src`` (broadcast); the gradient flows to ``src``."""
    self[...] = src
    return self


GradArray.fill_ = fill_
GradArray.zero_ = zero_
GradArray.copy_ = copy_
