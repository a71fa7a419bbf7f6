"""Logistic regression on data that does not fit in memory: unmodified NumPy code, Dask arrays,
gradients from gradarray — first on a laptop's threads, then on a cluster.

    python examples/dask_logistic.py                  # laptop: Dask's threaded scheduler
    python examples/dask_logistic.py --cluster        # a LocalCluster of worker processes
    python examples/dask_logistic.py --address tcp://scheduler:8786   # an existing cluster

The loss is plain NumPy; it never learns that X is a Dask array. ``loss.backward()`` builds the
gradient graph without computing anything; ``ga.compute(loss, w.grad)`` runs the forward and the
backward pass in one graph, chunk by chunk, on whatever scheduler is active (the threaded one by
default, a ``distributed.Client`` once one exists). Moving from the laptop to a cluster changes
one line: create the Client.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import gradarray as ga  # noqa: E402


def legacy_loss(w, X, y, l2=1e-3):
    """Written for NumPy arrays; runs as it is on Dask arrays and on GradArrays."""
    z = X @ w
    return np.mean(np.logaddexp(0.0, z) - y * z) + l2 * np.sum(w ** 2)


def make_data(rows, features, chunk_rows, seed=0):
    """X and y generated lazily, chunk by chunk (nothing is held until a graph runs)."""
    import dask.array as da
    rng = da.random.default_rng(seed)
    X = rng.standard_normal((rows, features), chunks=(chunk_rows, features))
    w_true = np.linspace(-2.0, 2.0, features) / np.sqrt(features)
    y = (rng.random(rows, chunks=chunk_rows) < 1 / (1 + np.exp(-(X @ w_true)))).astype(float)
    return X, y


def fit(X, y, iters=20, lr=2.0):
    """Gradient descent; every step is one graph run for the loss and the gradient together."""
    import dask.array as da
    features = X.shape[1]
    w_host = np.zeros(features)
    losses = []
    for _ in range(iters):
        w = ga.asarray(da.from_array(w_host, chunks=features), requires_grad=True)
        loss = legacy_loss(w, X, y)
        loss.backward()                          # lazy: the gradient is a Dask graph
        value, grad = ga.compute(loss, w.grad)   # one pass over X for both
        losses.append(value.item())
        w_host = w_host - lr * grad.numpy()
    return w_host, losses


def main(rows=200_000, features=20, chunk_rows=50_000, iters=20, cluster=False, address=None):
    X, y = make_data(rows, features, chunk_rows)
    client = None
    if cluster or address:
        from distributed import Client, LocalCluster
        client = Client(address) if address else Client(LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None))
    try:
        w, losses = fit(X, y, iters)
    finally:
        if client is not None:
            cluster_object = client.cluster
            client.close()
            if cluster_object is not None and not address:
                cluster_object.close()
    return {"losses": losses, "w": w, "loss": legacy_loss, "X": X, "y": y}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--cluster", action="store_true")
    parser.add_argument("--address", default=None)
    a = parser.parse_args()
    result = main(a.rows, a.features, chunk_rows=250_000, iters=a.iters, cluster=a.cluster,
                  address=a.address)
    print("loss per iteration:", " ".join(f"{v:.4f}" for v in result["losses"]))
    print("fitted weights:", np.round(result["w"], 3))
