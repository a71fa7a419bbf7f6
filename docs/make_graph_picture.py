"""Draw the tape of a small legacy function: writes docs/graph.svg (shown in the README).

    python docs/make_graph_picture.py          # needs Graphviz's `dot` program
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import gradarray as ga  # noqa: E402


def legacy_loss(w, b, x, y):
    """Logistic regression written the way legacy code writes it."""
    z = x @ w + b
    p = 1.0 / (1.0 + np.exp(-z))
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


def main(path=os.path.join(os.path.dirname(os.path.abspath(__file__)), "graph.svg")):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 3)), (rng.random(8) > 0.5).astype(float)
    w = ga.asarray(np.zeros(3), requires_grad=True)
    b = ga.asarray(np.array(0.1), requires_grad=True)
    loss = legacy_loss(w, b, x, y)
    dot = ga.draw_graph(loss, params={"w": w, "b": b}, path=path)
    print(f"wrote {path} ({dot.count('shape=box')} recorded calls)")


if __name__ == "__main__":
    main()
