"""Recover the diffusivity of a rod from temperature measurements (explicit heat-equation solver).

The legacy solver is the textbook FTCS scheme: copy the temperature field, update the interior
with a finite-difference Laplacian, keep the boundary fixed, repeat. It is plain NumPy (slicing,
``.copy()``, in-place slice assignment) and is differentiated unchanged. The initial field is built
from ``np.linspace`` (a plain array), so the first ``u_new[1:-1] = ...`` would write tracked values
into a plain ndarray; under ``ga.trace_numpy`` ``np.linspace`` returns a GradArray and every slice
write is recorded, so ``ga.grad`` gives d(misfit)/d(diffusivity, source).
"""
import numpy as np

import gradarray as ga
from gradarray.trace import trace_numpy


# ------------------------------------------------------------------ legacy code (plain NumPy)
def solve_heat(kappa, source, nx=24, nt=80, length=1.0, t_end=0.02):
    dx = length / (nx - 1)
    dt = t_end / nt
    x = np.linspace(0.0, length, nx)
    u = np.sin(np.pi * x)
    for _ in range(nt):
        u_new = u.copy()
        u_new[1:-1] = u[1:-1] + kappa * dt / dx ** 2 * (u[2:] - 2 * u[1:-1] + u[:-2]) \
            + dt * source * np.exp(-50 * (x[1:-1] - 0.5) ** 2)
        u = u_new
    return u


def misfit(params, measured):
    kappa, source = params[0], params[1]
    return np.sum((solve_heat(kappa, source) - measured) ** 2)


# ------------------------------------------------------------------ driver
def main(iters=40, lr=1.0, verbose=False):
    true_params = np.array([0.8, 2.0])
    measured = solve_heat(*true_params)
    params = np.array([0.4, 0.5])
    grad = ga.grad(trace_numpy(misfit))
    losses = []
    for it in range(iters):
        losses.append(float(misfit(params, measured)))
        params = params - lr * grad(params, measured)
        if verbose and it % 20 == 0:
            print(f"iter {it:3d}  misfit {losses[-1]:.3e}  params {params.round(4)}")
    return {"losses": losses, "params": params, "true_params": true_params,
            "loss": trace_numpy(misfit), "point": params, "args": (measured,)}


if __name__ == "__main__":
    main(iters=300, verbose=True)
