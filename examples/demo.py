"""gradarray demo: differentiate a NumPy function that was never written for gradients.

    python examples/demo.py
"""
import numpy as np

import gradarray as ga


def legacy(w, X, y):
    """Written years ago in plain NumPy; gradarray runs it unmodified."""
    z = np.tanh(X @ w)
    return np.mean((z - y) ** 2) + 0.1 * np.linalg.norm(w)


def main():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3))
    y = np.tanh(X @ np.array([1.0, -2.0, 0.5]))
    w0 = np.zeros(3) + 0.1

    # 1. the tape: hand GradArrays to the unmodified function, then call backward()
    w = ga.asarray(w0, requires_grad=True)
    loss = legacy(w, X, y)
    loss.backward()
    print("loss          :", loss.item())
    print("w.grad        :", w.grad.numpy())

    # 2. the functional API: NumPy in, NumPy out
    g = ga.grad(legacy)(w0, X, y)
    print("ga.grad       :", g)

    # 3. check against central finite differences
    eps = 1e-6
    fd = np.array([(legacy(w0 + eps * e, X, y) - legacy(w0 - eps * e, X, y)) / (2 * eps)
                   for e in np.eye(3)])
    print("finite diff.  :", fd)
    assert np.allclose(g, fd, atol=1e-6), "gradient does not match finite differences"

    # 4. use it: a few steps of gradient descent
    vg = ga.value_and_grad(legacy)
    for step in range(200):
        value, g = vg(w0, X, y)
        w0 = w0 - 0.5 * g
    print("after descent : loss", float(legacy(w0, X, y)), "w", w0)


if __name__ == "__main__":
    main()
