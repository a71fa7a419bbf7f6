"""Train a small neural network (tanh MLP, softmax cross-entropy) written in plain NumPy.

The legacy forward pass is the usual two-layer network with a numerically stable softmax
(subtracting the row maximum); it returns the mean cross-entropy. There is no hand-written
backpropagation: ``ga.grad`` differentiates the forward pass with respect to a dict of weights,
and the driver runs plain gradient descent on two interleaved spirals.
"""
import numpy as np

import gradarray as ga


# ------------------------------------------------------------------ legacy code (plain NumPy)
def forward(weights, X):
    hidden = np.tanh(X @ weights["W1"] + weights["b1"])
    return hidden @ weights["W2"] + weights["b2"]


def cross_entropy(weights, X, labels):
    logits = forward(weights, X)
    logits = logits - np.max(logits, axis=1, keepdims=True)
    log_probs = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return -np.mean(log_probs[np.arange(len(labels)), labels])


def accuracy(weights, X, labels):
    return np.mean(np.argmax(forward(weights, X), axis=1) == labels)


# ------------------------------------------------------------------ driver
def spirals(n_per_class, rng):
    t = np.linspace(0.3, 3.0, n_per_class)
    X, labels = [], []
    for k in range(2):
        angle = t * 2.2 + k * np.pi
        X.append(np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1))
        labels.append(np.full(n_per_class, k))
    X = np.concatenate(X) + 0.05 * rng.standard_normal((2 * n_per_class, 2))
    return X, np.concatenate(labels)


def main(n_per_class=40, hidden=16, iters=150, lr=0.5, verbose=False):
    rng = np.random.default_rng(0)
    X, labels = spirals(n_per_class, rng)
    weights = {"W1": rng.standard_normal((2, hidden)), "b1": np.zeros(hidden),
               "W2": 0.1 * rng.standard_normal((hidden, 2)), "b2": np.zeros(2)}
    value_and_grad = ga.value_and_grad(cross_entropy)
    losses = []
    for it in range(iters):
        value, g = value_and_grad(weights, X, labels)
        losses.append(float(value))
        weights = {k: w - lr * g[k] for k, w in weights.items()}
        if verbose and it % 50 == 0:
            print(f"iter {it:4d}  loss {value:.4f}  accuracy {accuracy(weights, X, labels):.2f}")
    return {"losses": losses, "accuracy": accuracy(weights, X, labels),
            "loss": lambda w1, X, labels: cross_entropy(dict(weights, W1=w1), X, labels),
            "point": weights["W1"], "args": (X, labels)}


if __name__ == "__main__":
    main(iters=2000, verbose=True)
