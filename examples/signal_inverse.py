"""Recover the input of a known IIR filter from a noisy, smoothed recording (scipy.signal).

The legacy forward model runs the input through ``scipy.signal.lfilter`` (a damped resonator),
then a Savitzky–Golay smoother (``savgol_filter``), as a measurement chain would; the loss adds a
smoothness penalty. Plain NumPy + SciPy, not changed: gradarray differentiates through both
filters, and plain gradient descent recovers the input.
"""
import numpy as np
from scipy.signal import lfilter, savgol_filter

import gradarray as ga

B, A = [0.2, 0.1], [1.0, -1.2, 0.5]          # the instrument's filter


# ------------------------------------------------------------------ legacy code (NumPy + SciPy)
def measure(u):
    return savgol_filter(lfilter(B, A, u), window_length=9, polyorder=3)


def loss(u, observed, smoothness=0.5):
    misfit = measure(u) - observed
    return np.sum(misfit ** 2) + smoothness * np.sum(np.diff(u) ** 2)


# ------------------------------------------------------------------ driver
def main(n=80, iters=60, lr=0.05, verbose=False):
    t = np.linspace(0, 1, n)
    true_u = np.sin(2 * np.pi * 3 * t) * np.exp(-2 * t)
    observed = measure(true_u) + 0.01 * np.random.default_rng(1).standard_normal(n)
    value_and_grad = ga.value_and_grad(loss)
    u = np.zeros(n)
    losses = []
    for it in range(iters):
        value, g = value_and_grad(u, observed)
        losses.append(float(value))
        u = u - lr * g
        if verbose and it % 10 == 0:
            print(f"iter {it:3d}  loss {value:.5f}")
    return {"losses": losses, "u": u, "true_u": true_u, "loss": loss, "point": u,
            "args": (observed,)}


if __name__ == "__main__":
    main(iters=300, verbose=True)
