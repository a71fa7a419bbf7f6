"""Fit the parameters of an ODE model integrated with scipy.integrate.solve_ivp.

A damped, driven oscillator (legacy right-hand side in plain NumPy, parameters passed through
``args=``), integrated by ``solve_ivp`` (RK45, tight tolerances) and compared with noisy samples
at ``t_eval``. The code is not changed: gradarray differentiates the solution with respect to the
parameters and the initial state, and gradient descent on log-parameters fits them.
"""
import numpy as np
from scipy.integrate import solve_ivp

import gradarray as ga


# ------------------------------------------------------------------ legacy code (NumPy + SciPy)
def oscillator(t, state, damping, stiffness, drive):
    position, velocity = state[0], state[1]
    return np.stack([velocity, -damping * velocity - stiffness * position + drive * np.cos(t)])


def simulate(params, t_eval, y0=(1.0, 0.0)):
    solution = solve_ivp(oscillator, (0.0, t_eval[-1]), np.asarray(y0), t_eval=t_eval,
                         args=tuple(params), rtol=1e-8, atol=1e-10)
    return solution.y[0]


def loss(log_params, t_eval, observed):
    return np.mean((simulate(np.exp(log_params), t_eval) - observed) ** 2)


# ------------------------------------------------------------------ driver
def main(n_times=20, iters=30, lr=0.5, verbose=False):
    t_eval = np.linspace(0.0, 6.0, n_times)
    true_params = np.array([0.3, 2.0, 0.5])
    observed = simulate(true_params, t_eval) + 0.005 * np.random.default_rng(5).standard_normal(n_times)
    value_and_grad = ga.value_and_grad(loss)
    log_params = np.log(np.array([0.5, 1.5, 0.3]))
    losses = []
    for it in range(iters):
        value, g = value_and_grad(log_params, t_eval, observed)
        losses.append(float(value))
        log_params = log_params - lr * g
        if verbose and it % 5 == 0:
            print(f"iter {it:3d}  loss {value:.6f}  params {np.exp(log_params).round(3)}")
    return {"losses": losses, "params": np.exp(log_params), "true_params": true_params,
            "loss": loss, "point": log_params, "args": (t_eval, observed)}


if __name__ == "__main__":
    main(iters=100, verbose=True)
