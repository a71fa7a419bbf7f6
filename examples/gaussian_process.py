"""Fit Gaussian-process hyperparameters by maximising the log marginal likelihood.

The legacy code builds a squared-exponential kernel matrix from pairwise distances, adds noise to
the diagonal, and evaluates the log marginal likelihood with ``np.linalg.slogdet`` and
``np.linalg.solve`` — the way it is written in lecture notes. gradarray differentiates it with
respect to the log-hyperparameters (length scale, signal and noise variance) unchanged, and the
driver runs gradient ascent.
"""
import numpy as np

import gradarray as ga


# ------------------------------------------------------------------ legacy code (plain NumPy)
def kernel(x1, x2, length_scale, signal_var):
    sqdist = (x1[:, None] - x2[None, :]) ** 2
    return signal_var * np.exp(-0.5 * sqdist / length_scale ** 2)


def neg_log_marginal_likelihood(log_params, x, y):
    length_scale, signal_var, noise_var = np.exp(log_params)
    n = len(x)
    K = kernel(x, x, length_scale, signal_var) + noise_var * np.eye(n)
    alpha = np.linalg.solve(K, y)
    sign, logdet = np.linalg.slogdet(K)
    return 0.5 * y @ alpha + 0.5 * logdet + 0.5 * n * np.log(2 * np.pi)


# ------------------------------------------------------------------ driver
def main(n=20, iters=60, lr=0.05, verbose=False):
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(-3, 3, n))
    y = np.sin(1.5 * x) + 0.1 * rng.standard_normal(n)
    log_params = np.log(np.array([2.0, 0.5, 0.5]))
    value_and_grad = ga.value_and_grad(neg_log_marginal_likelihood)
    losses = []
    for it in range(iters):
        value, g = value_and_grad(log_params, x, y)
        losses.append(float(value))
        log_params = log_params - lr * g
        if verbose and it % 20 == 0:
            print(f"iter {it:3d}  -log p(y) {value:.4f}  params {np.exp(log_params).round(3)}")
    return {"losses": losses, "params": np.exp(log_params),
            "loss": neg_log_marginal_likelihood, "point": log_params, "args": (x, y)}


if __name__ == "__main__":
    main(iters=300, verbose=True)
