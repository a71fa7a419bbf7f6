"""Rules for NumPy's ufuncs (elementwise; the engine undoes broadcasting and casts dtypes).

Complex convention (PyTorch's): for a holomorphic f, grad_in = g * conj(f'(z)).
"""
from __future__ import annotations

import numpy as np

from .._registry import conj, defvjp, nondifferentiable

# --- arithmetic
defvjp(np.add, lambda g, ans, x, y: g, lambda g, ans, x, y: g, save="none")
defvjp(np.subtract, lambda g, ans, x, y: g, lambda g, ans, x, y: -g, save="none")
defvjp(np.multiply, lambda g, ans, x, y: g * conj(y), lambda g, ans, x, y: g * conj(x), save="args")
defvjp(np.divide, lambda g, ans, x, y: g / conj(y), lambda g, ans, x, y: -g * conj(x / (y * y)),
       save="args")
defvjp(np.negative, lambda g, ans, x: -g, save="none")
defvjp(np.positive, lambda g, ans, x: g, save="none")
defvjp(np.conjugate, lambda g, ans, x: np.conjugate(g), save="none")

# --- transcendental
defvjp(np.sin, lambda g, ans, x: g * conj(np.cos(x)), save="args")
defvjp(np.cos, lambda g, ans, x: -g * conj(np.sin(x)), save="args")
defvjp(np.exp, lambda g, ans, x: g * conj(ans), save="ans")
defvjp(np.log, lambda g, ans, x: g / conj(x), save="args")
defvjp(np.tanh, lambda g, ans, x: g * conj(1 - ans * ans), save="ans")
defvjp(np.square, lambda g, ans, x: g * conj(2 * x), save="args")
defvjp(np.sqrt, lambda g, ans, x: g / conj(2 * ans), save="ans")

nondifferentiable(np.floor, np.ceil, np.sign, np.equal, np.not_equal, np.less, np.less_equal,
                  np.greater, np.greater_equal, np.isnan, np.isinf, np.isfinite)
