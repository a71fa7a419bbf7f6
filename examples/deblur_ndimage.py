"""Deblur an image blurred by a Gaussian point-spread function (scipy.ndimage).

The legacy model blurs with ``scipy.ndimage.gaussian_filter`` (reflect boundaries), and the loss
adds a smoothness prior built with ``scipy.ndimage.laplace`` — both plain SciPy calls, not changed.
gradarray differentiates through them (the adjoint of each filter, boundary modes included), and
gradient descent sharpens the image.
"""
import numpy as np
from scipy import ndimage

import gradarray as ga


# ------------------------------------------------------------------ legacy code (NumPy + SciPy)
def blur(image, sigma=1.5):
    return ndimage.gaussian_filter(image, sigma=sigma, mode="reflect")


def loss(image, observed, weight=0.02):
    misfit = blur(image) - observed
    return np.sum(misfit ** 2) + weight * np.sum(ndimage.laplace(image) ** 2)


# ------------------------------------------------------------------ driver
def main(size=24, iters=40, lr=0.4, verbose=False):
    yy, xx = np.mgrid[:size, :size] / size
    truth = ((np.abs(xx - 0.5) < 0.2) & (np.abs(yy - 0.5) < 0.3)).astype(float)
    observed = blur(truth) + 0.01 * np.random.default_rng(3).standard_normal(truth.shape)
    value_and_grad = ga.value_and_grad(loss)
    image = observed.copy()
    losses = []
    for it in range(iters):
        value, g = value_and_grad(image, observed)
        losses.append(float(value))
        image = image - lr * g
        if verbose and it % 10 == 0:
            print(f"iter {it:3d}  loss {value:.5f}  error {np.abs(image - truth).mean():.4f}")
    return {"losses": losses, "image": image, "truth": truth, "loss": loss,
            "point": observed.copy(), "args": (observed,)}


if __name__ == "__main__":
    main(iters=200, verbose=True)
