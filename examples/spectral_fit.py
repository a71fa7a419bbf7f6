"""Estimate the frequency and damping of a noisy oscillation by matching its power spectrum.

The legacy code synthesises a damped sinusoid, takes ``np.fft.rfft``, and compares log power
spectra — a common way to fit signal models when phases are unreliable. It is plain NumPy;
gradarray differentiates the spectral misfit through ``rfft`` and ``abs`` with respect to the
model parameters, and the driver runs gradient descent.
"""
import numpy as np

import gradarray as ga


# ------------------------------------------------------------------ legacy code (plain NumPy)
def damped_oscillation(params, t):
    freq, damping, amplitude = params[0], params[1], params[2]
    return amplitude * np.exp(-damping * t) * np.sin(2 * np.pi * freq * t)


def log_power_spectrum(signal):
    spectrum = np.fft.rfft(signal * np.hanning(len(signal)))
    return np.log(np.abs(spectrum) ** 2 + 1e-8)


def spectral_misfit(params, t, observed_log_power):
    return np.mean((log_power_spectrum(damped_oscillation(params, t)) - observed_log_power) ** 2)


# ------------------------------------------------------------------ driver
def main(n=64, iters=80, lr=0.02, verbose=False):
    t = np.linspace(0, 4, n, endpoint=False)
    true_params = np.array([3.0, 0.6, 1.5])
    rng = np.random.default_rng(1)
    observed = damped_oscillation(true_params, t) + 0.01 * rng.standard_normal(n)
    target = log_power_spectrum(observed)
    params = np.array([2.85, 0.4, 1.0])
    value_and_grad = ga.value_and_grad(spectral_misfit)
    losses = []
    for it in range(iters):
        value, g = value_and_grad(params, t, target)
        losses.append(float(value))
        params = params - lr * g
        if verbose and it % 20 == 0:
            print(f"iter {it:3d}  misfit {value:.4f}  params {params.round(3)}")
    return {"losses": losses, "params": params, "true_params": true_params,
            "loss": spectral_misfit, "point": params, "args": (t, target)}


if __name__ == "__main__":
    main(iters=400, verbose=True)
