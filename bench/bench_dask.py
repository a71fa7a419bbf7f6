"""Out-of-core gradients with gradarray on Dask: logistic regression by gradient descent on a design
matrix that is generated lazily, chunk by chunk, and never held in memory as a whole.

    python bench/bench_dask.py                   # 2 GB design matrix, 3 iterations, 2 workers
    python bench/bench_dask.py --gb 40           # larger than memory: 40 GB generated per pass
    python bench/bench_dask.py --gb 40 --workers 4 --memory-limit 4GiB --iters 5
    python bench/bench_dask.py --quick           # tiny sizes: checks that every path runs

What is measured:

- out of core: X (rows x features, float64) = ``da.random.default_rng(seed).standard_normal`` by
  row chunks, labels drawn from a fixed true weight vector. Each iteration builds the loss and its
  gradient lazily with gradarray (``loss.backward()`` computes nothing), then one
  ``ga.compute(loss, w.grad)`` runs the whole graph on a ``LocalCluster`` of worker processes;
  every chunk of X is generated, used by the forward and the backward matmul, and dropped. Reported:
  seconds per gradient (the graph build and the compute), the hand-written Dask gradient
  X^T (sigmoid(X w) - y) / n timed right after each step (same cluster, same point), and the peak
  resident memory of each worker process (sampled every 0.2 s) in chunks above its idle size.
- side by side with NumPy, at a size NumPy holds (``--numpy-gb``): the same gradient of the same X
  with gradarray on NumPy (in memory, one process) and with gradarray on Dask (X persisted on the
  workers of a second cluster with Dask's default memory limit, so generation is not timed), and
  their ratio; the two gradients are compared.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import gradarray as ga  # noqa: E402

GB = 1e9


def loss_fn(w, X, y):
    """Mean logistic loss; X @ w is a Dask matmul when X is a Dask array."""
    z = X @ w
    return np.mean(np.logaddexp(0.0, z) - y * z)


def make_problem(da, rows, features, chunk_rows, seed):
    """Lazy X and y: nothing is generated until a graph that needs them runs."""
    rng = da.random.default_rng(seed)
    X = rng.standard_normal((rows, features), chunks=(chunk_rows, features))
    w_true = np.linspace(-1.0, 1.0, features) / np.sqrt(features)
    u = rng.random(rows, chunks=chunk_rows)
    y = (u < 1.0 / (1.0 + np.exp(-(X @ w_true)))).astype(np.float64)
    return X, y


class WorkerMemory:
    """Peak resident set size of every worker process, sampled in a background thread."""

    def __init__(self, client, every=0.2):
        self.client, self.every = client, every
        self.peak = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _rss():
        import psutil
        return psutil.Process().memory_info().rss

    def _run(self):
        while not self._stop.is_set():
            try:
                for worker, rss in self.client.run(self._rss).items():
                    self.peak[worker] = max(self.peak.get(worker, 0), rss)
            except Exception:          # a worker restarting: sample again later
                pass
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def gradient_descent(da, client, X, y, iters, lr, hand=True):
    """``iters`` steps; returns per-iteration (build seconds, compute seconds, loss, seconds of the
    hand-written gradient at the same point, timed right after: the machine's load changes)."""
    import dask
    features = X.shape[1]
    w_host = np.zeros(features)
    steps = []
    for _ in range(iters):
        t0 = time.perf_counter()
        w = ga.asarray(da.from_array(w_host, chunks=features), requires_grad=True)
        loss = loss_fn(w, X, y)
        loss.backward()                              # builds the gradient graph, computes nothing
        t1 = time.perf_counter()
        value, grad = ga.compute(loss, w.grad)       # one graph run for both
        t2 = time.perf_counter()
        t_hand = hand_gradient(X, y, w_host, 1, dask.compute)[0] if hand else float("nan")
        w_host = w_host - lr * grad.numpy()
        steps.append((t1 - t0, t2 - t1, value.item(), t_hand))
    return steps, w_host


def numpy_gradient(X, y, w0, repeats):
    w = ga.asarray(w0, requires_grad=True)
    times = []
    for _ in range(repeats):
        w.grad = None
        t0 = time.perf_counter()
        loss_fn(w, X, y).backward()
        times.append(time.perf_counter() - t0)
    return min(times), w.grad.numpy()


def hand_gradient(X, y, w0, repeats, compute=None):
    """The same gradient written by hand, X^T (sigmoid(X w) - y) / n (NumPy, or Dask + compute)."""
    times, grad = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        z = X @ w0
        grad = X.T @ ((1.0 / (1.0 + np.exp(-z)) - y) / X.shape[0])
        if compute is not None:
            (grad,) = compute(grad)
        times.append(time.perf_counter() - t0)
    return min(times), np.asarray(grad)


def dask_gradient(da, X, y, w0, repeats):
    times, grad = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        w = ga.asarray(da.from_array(w0, chunks=w0.size), requires_grad=True)
        loss_fn(w, X, y).backward()
        (grad,) = ga.compute(w.grad)
        times.append(time.perf_counter() - t0)
    return min(times), grad.numpy()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gb", type=float, default=2.0, help="size of X in GB (default 2)")
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--chunk-mb", type=float, default=128.0, help="size of one row chunk of X")
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="threads per worker")
    parser.add_argument("--memory-limit", default="4GiB", help="per worker (LocalCluster)")
    parser.add_argument("--numpy-gb", type=float, default=1.0,
                        help="size of the NumPy side-by-side problem (0 to skip)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check that it all runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.gb, args.numpy_gb, args.chunk_mb, args.iters, args.repeats = 0.02, 0.01, 2.0, 2, 1

    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    row_bytes = 8 * args.features
    rows = int(args.gb * GB / row_bytes)
    chunk_rows = max(1, int(args.chunk_mb * 1e6 / row_bytes))
    X, y = make_problem(da, rows, args.features, chunk_rows, args.seed)
    print(f"gradarray {ga.__version__}, dask {dask.__version__}, NumPy {np.__version__}; "
          f"{args.workers} worker processes x {args.threads} thread(s), memory limit "
          f"{args.memory_limit} each")
    print(f"X: {rows:,} x {args.features} float64 = {X.nbytes / GB:.2f} GB in {X.npartitions} "
          f"chunks of {chunk_rows * row_bytes / 1e6:.0f} MB, generated lazily (da.random, seed "
          f"{args.seed})\n")

    with LocalCluster(n_workers=args.workers, threads_per_worker=args.threads, processes=True,
                      memory_limit=args.memory_limit, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        idle = client.run(WorkerMemory._rss)          # each worker's memory before any work
        with WorkerMemory(client) as memory:
            steps, _ = gradient_descent(da, client, X, y, args.iters, args.lr)
        print("out of core: logistic regression, gradient descent on the cluster")
        print(f"{'iteration':>9} {'build (s)':>10} {'compute (s)':>12} {'GB/s':>7} {'loss':>10} "
              f"{'hand-written (s)':>17}")
        for k, (build, run, value, hand) in enumerate(steps):
            print(f"{k:>9} {build:>10.3f} {run:>12.2f} {X.nbytes / GB / run:>7.2f} {value:>10.6f} "
                  f"{hand:>17.2f}")
        per_grad = np.median([b + r for b, r, _, _ in steps])
        t_hand = np.median([h for _, _, _, h in steps])
        print(f"time per gradient (median): {per_grad:.2f} s for {X.nbytes / GB:.2f} GB; the "
              f"hand-written Dask gradient X^T (sigmoid(Xw) - y) / n on the same cluster, timed after "
              f"each step: {t_hand:.2f} s (gradarray / hand-written {per_grad / t_hand:.2f})")
        chunk = chunk_rows * row_bytes
        for worker, peak in sorted(memory.peak.items()):
            base = idle.get(worker, 0)
            print(f"  peak memory of worker {worker}: {peak / 1e6:,.0f} MB = idle "
                  f"{base / 1e6:,.0f} MB + {(peak - base) / chunk:.1f} chunks of {chunk / 1e6:.0f} MB")

    if args.numpy_gb > 0:
        side_by_side(args, da, dask, chunk_rows, row_bytes)
    print(f"\nload average during the run: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} cores)")


def side_by_side(args, da, dask, chunk_rows, row_bytes):
    """The same gradient on NumPy (in memory) and on Dask (persisted on a cluster whose memory
    limit is Dask's default, so that the persisted copy fits)."""
    from distributed import Client, LocalCluster
    n_rows = int(args.numpy_gb * GB / row_bytes)
    Xd, yd = make_problem(da, n_rows, args.features, chunk_rows, args.seed + 1)
    Xn, yn = dask.compute(Xd, yd, scheduler="threads")     # the same values, in this process
    w0 = np.full(args.features, 0.01)
    t_np, g_np = numpy_gradient(Xn, yn, w0, args.repeats)
    t_np_hand, _ = hand_gradient(Xn, yn, w0, args.repeats)
    with LocalCluster(n_workers=args.workers, threads_per_worker=args.threads, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        Xp, yp = client.persist([Xd, yd])            # generated on the workers: not timed
        t_da, g_da = dask_gradient(da, Xp, yp, w0, args.repeats)
        t_da_hand, g_hand = hand_gradient(Xp, yp, w0, args.repeats, dask.compute)
    assert np.allclose(g_da, g_np, rtol=1e-9, atol=1e-12), "Dask and NumPy gradients differ"
    assert np.allclose(g_hand, g_np, rtol=1e-9, atol=1e-12), "hand-written gradient differs"
    print(f"\nside by side, X of {Xn.nbytes / GB:.2f} GB in memory (best of {args.repeats}), "
          "seconds per gradient:")
    rows = [("gradarray on NumPy (1 process)", t_np),
            ("hand-written NumPy gradient", t_np_hand),
            (f"gradarray on Dask ({args.workers} workers, X persisted)", t_da),
            (f"hand-written Dask gradient (same cluster)", t_da_hand)]
    for label, t in rows:
        print(f"  {label:<48} {t:8.3f}   {t / t_np:6.2f}x gradarray on NumPy")
    print("  the gradients agree (rtol 1e-9)")


if __name__ == "__main__":
    main()
