"""Calibrate a pharmacokinetic model with scipy.optimize.minimize(jac=True).

The legacy model is a one-compartment model with first-order absorption, evaluated at the sampling
times with an allocate-then-fill loop (``conc = np.zeros(len(times)); conc[i] = ...``) and scored
by a weighted sum of squares. ``ga.value_and_grad`` turns the unchanged objective into the
``(value, gradient)`` pair that ``scipy.optimize.minimize(..., jac=True)`` expects (flat float64
vectors in and out); ``ga.trace_numpy`` keeps the tape through the filled buffer.
"""
import numpy as np
from scipy.optimize import minimize

import gradarray as ga
from gradarray.trace import trace_numpy


# ------------------------------------------------------------------ legacy code (plain NumPy)
def concentration(params, times, dose=100.0):
    ka, ke, volume = np.exp(params)
    conc = np.zeros(len(times))
    for i in range(len(times)):
        t = times[i]
        conc[i] = dose * ka / (volume * (ka - ke)) * (np.exp(-ke * t) - np.exp(-ka * t))
    return conc


def objective(params, times, observed):
    residual = (concentration(params, times) - observed) / (0.1 + 0.1 * observed)
    return np.sum(residual ** 2)


# ------------------------------------------------------------------ driver
def main(n_times=12, maxiter=200, verbose=False):
    times = np.linspace(0.25, 24, n_times)
    true_params = np.log(np.array([1.2, 0.15, 20.0]))
    rng = np.random.default_rng(2)
    observed = concentration(true_params, times) * (1 + 0.02 * rng.standard_normal(n_times))
    x0 = np.log(np.array([0.5, 0.3, 10.0]))
    fun = ga.value_and_grad(trace_numpy(objective))
    start = float(objective(x0, times, observed))
    result = minimize(fun, x0, args=(times, observed), jac=True, method="BFGS",
                      options={"maxiter": maxiter})
    if verbose:
        print(result.message, "objective", start, "->", result.fun)
        print("ka, ke, V =", np.exp(result.x).round(3), " true:", np.exp(true_params).round(3))
    return {"losses": [start, float(result.fun)], "result": result,
            "params": np.exp(result.x), "true_params": np.exp(true_params),
            "loss": trace_numpy(objective), "point": x0, "args": (times, observed)}


if __name__ == "__main__":
    main(verbose=True)
