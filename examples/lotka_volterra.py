"""Fit the rates of a Lotka-Volterra predator-prey model integrated with explicit Euler.

The legacy code (``simulate``) is the way such models are usually written: a right-hand side that
builds its result with ``np.array([...])`` and a time loop. It is plain NumPy and is not changed.
gradarray differentiates it with respect to the four rates: ``ga.trace_numpy`` makes the
``np.array([...])`` of tracked values a tracked array, and ``ga.value_and_grad`` gives the loss and
its gradient, used here for gradient descent on log-rates.
"""
import numpy as np

import gradarray as ga
from gradarray.trace import trace_numpy


# ------------------------------------------------------------------ legacy code (plain NumPy)
def lotka_volterra(state, a, b, c, d):
    prey, predator = state[0], state[1]
    return np.array([a * prey - b * prey * predator, d * prey * predator - c * predator])


def simulate(rates, x0=(1.0, 0.5), dt=0.05, n_steps=60, every=5):
    state = np.array(x0)
    samples = []
    for step in range(n_steps):
        state = state + dt * lotka_volterra(state, *rates)
        if (step + 1) % every == 0:
            samples.append(state)
    return np.stack(samples)


def loss(log_rates, observed, n_steps=60):
    predicted = simulate(np.exp(log_rates), n_steps=n_steps)
    return np.mean((predicted - observed) ** 2)


# ------------------------------------------------------------------ driver
def main(n_steps=60, iters=40, lr=0.005, verbose=False):
    true_rates = np.array([1.1, 0.4, 0.9, 0.3])
    observed = simulate(true_rates, n_steps=n_steps)
    value_and_grad = ga.value_and_grad(trace_numpy(loss))
    log_rates = np.log(np.array([0.8, 0.6, 0.7, 0.5]))
    losses = []
    for it in range(iters):
        value, g = value_and_grad(log_rates, observed, n_steps)
        losses.append(float(value))
        log_rates = log_rates - lr * g
        if verbose and it % 10 == 0:
            print(f"iter {it:3d}  loss {value:.5f}  rates {np.exp(log_rates).round(3)}")
    return {"losses": losses, "rates": np.exp(log_rates), "true_rates": true_rates,
            "loss": trace_numpy(loss), "point": log_rates, "args": (observed, n_steps)}


if __name__ == "__main__":
    main(iters=200, verbose=True)
