"""Each legacy example runs unchanged: its loss decreases and its gradient matches finite differences."""
import importlib
import os
import sys
import warnings

import numpy as np
import pytest

import gradarray as ga

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

EXAMPLES = {
    # module: keyword arguments giving a small, fast run
    "lotka_volterra": {"n_steps": 40, "iters": 15},
    "heat_equation": {"iters": 15},
    "gaussian_process": {"n": 12, "iters": 20},
    "spectral_fit": {"n": 32, "iters": 20},
    "mlp_classifier": {"n_per_class": 15, "hidden": 6, "iters": 40},
    "calibration_scipy": {"n_times": 8, "maxiter": 50},
    "bayes_scipy": {"n": 30, "maxiter": 60},
    "signal_inverse": {"n": 40, "iters": 25},
    "deblur_ndimage": {"size": 12, "iters": 15},
    "ode_fit": {"n_times": 10, "iters": 8},
}
SCIPY_EXAMPLES = {"calibration_scipy", "bayes_scipy", "signal_inverse", "deblur_ndimage", "ode_fit"}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example(name):
    if name in SCIPY_EXAMPLES:
        pytest.importorskip("scipy")
    module = importlib.import_module(f"examples.{name}")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ga.GradientLostWarning)    # a lost tape fails the test
        result = module.main(**EXAMPLES[name])
    losses = result["losses"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.8 * losses[0], losses

    # the gradient of the unchanged legacy loss against central differences, on a few coordinates
    loss, point, args = result["loss"], np.array(result["point"], dtype=float), result["args"]
    analytic = np.asarray(ga.grad(loss)(point, *args)).reshape(-1)
    coords = np.linspace(0, point.size - 1, min(point.size, 4)).astype(int)
    for k in coords:
        step = np.zeros(point.size)
        step[k] = 1e-6
        up = float(loss(point + step.reshape(point.shape), *args))
        down = float(loss(point - step.reshape(point.shape), *args))
        numeric = (up - down) / 2e-6
        assert np.isclose(analytic[k], numeric, rtol=1e-4, atol=1e-6), (k, analytic[k], numeric)


def test_value_and_grad_is_a_scipy_jac():
    """value_and_grad returns (float64 scalar, flat float64 vector) as minimize(jac=True) expects."""
    scipy_optimize = pytest.importorskip("scipy.optimize")
    rosen = lambda x: np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)  # noqa: E731
    value, g = ga.value_and_grad(rosen)(np.zeros(4))
    assert type(g) is np.ndarray and g.dtype == np.float64 and g.shape == (4,)
    assert np.ndim(value) == 0
    res = scipy_optimize.minimize(ga.value_and_grad(rosen), np.zeros(4), jac=True, method="BFGS")
    assert res.success and np.allclose(res.x, 1, atol=1e-4)


