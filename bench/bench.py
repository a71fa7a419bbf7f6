"""gradarray benchmarks: one run, one side-by-side table (run by hand, never as a test).

    python bench/bench.py                 # all workloads, all peers that are installed
    python bench/bench.py --quick         # fewer repeats
    python bench/bench.py --only chain_small,mlp

Workloads (forward + backward each, median of repeated runs after warm-up):
  chain_small  60 elementwise ufuncs on n=10 and n=100 arrays: microseconds per op (overhead)
  chain_large  the same chain at n=10^6: ratio to the hand-written NumPy forward+backward (floor)
  mlp          one training step of a 784-256-10 MLP, batch 256, softmax cross-entropy: ratio to floor
  fusion       an arithmetic-only elementwise model at n=10^5..10^7: ga.jit with and without
               fused kernels (numba) against the floor
  jit          ga.jit(ga.value_and_grad(f)): the first two calls (trace, then trace + validation)
               against the replay of later calls; chain/mlp tables also have a "ga.jit" row
  deep         10^5 sequential scalar ops: backward time, and the 10^4 -> 10^5 scaling (linear?)
  memory       peak traced memory of forward+backward vs the floor (chain at n=10^6), and memory
               still held after backward
  gp, spectral a GP negative log-likelihood (cholesky + solve) and a spectral loss (rfft)
Peers (optional, `pip install ".[bench]"`): PyTorch CPU, HIPS autograd, MyGrad, JAX eager and
JAX jit (jit compiles the whole function: a different class of tool, labelled as such).
BLAS is pinned to one thread so that the comparison measures the same arithmetic; the rows of a
table are sampled round-robin, so that background load on a shared machine hits them alike.
"""
from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS", "XLA_FLAGS"):
    os.environ.setdefault(_v, "1" if _v != "XLA_FLAGS" else
                          "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import argparse
import gc
import platform
import statistics
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import gradarray as ga  # noqa: E402

# ------------------------------------------------------------------------------------ timing
def timeit(fn, repeat=7, min_time=0.05):
    """Median seconds per call of fn(), each sample running fn enough times to last min_time."""
    fn()
    fn()
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t
        if dt >= min_time or n >= 1 << 20:
            break
        n *= 2
    samples = []
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t) / n)
    return statistics.median(samples)


def timeit_all(runners, repeat=7, min_time=0.05):
    """``timeit`` for the rows of one table, sampled round-robin (each round times every runner
    once), so that background load drifting during the run hits every row alike."""
    counts = {}
    for name, fn in runners.items():
        fn()
        fn()
        n = 1
        while True:
            t = time.perf_counter()
            for _ in range(n):
                fn()
            if time.perf_counter() - t >= min_time or n >= 1 << 20:
                break
            n *= 2
        counts[name] = n
    samples = {name: [] for name in runners}
    for _ in range(repeat):
        for name, fn in runners.items():
            gc.collect()
            t = time.perf_counter()
            for _ in range(counts[name]):
                fn()
            samples[name].append((time.perf_counter() - t) / counts[name])
    return {name: statistics.median(v) for name, v in samples.items()}


# ------------------------------------------------------------------------------------ the chain
# 60 elementwise ufuncs: 10 rounds of (sin, *1.1, +0.1, tanh, exp, log)
ROUNDS = 10
OPS_PER_ROUND = 6
N_OPS = ROUNDS * OPS_PER_ROUND


def chain_floor(x):
    """Hand-written forward + backward in NumPy: the floor every tool is measured against."""
    saved = []
    for _ in range(ROUNDS):
        saved.append(x)          # sin needs x
        x = np.sin(x)
        x = x * 1.1
        x = x + 0.1
        t = np.tanh(x)
        saved.append(t)          # tanh' = 1 - t^2
        e = np.exp(t)
        saved.append(e)          # log' = 1/e, exp' = e  -> they cancel, but a floor computes both
        x = np.log(e)
    loss = np.sum(x)
    g = np.ones_like(x)
    for r in reversed(range(ROUNDS)):
        x_in, t, e = saved[3 * r], saved[3 * r + 1], saved[3 * r + 2]
        g = g / e
        g = g * e
        g = g * (1 - t * t)
        g = g * 1.1
        g = g * np.cos(x_in)
    return loss, g


def chain_generic(xp):
    """The chain written against a NumPy-like module (torch, autograd.numpy, jax.numpy)."""
    def f(x):
        for _ in range(ROUNDS):
            x = xp.sin(x)
            x = x * 1.1
            x = x + 0.1
            x = xp.tanh(x)
            x = xp.exp(x)
            x = xp.log(x)
        return xp.sum(x)
    return f


# the legacy function: plain NumPy, differentiated unmodified by gradarray and MyGrad
chain_numpy = chain_generic(np)


# ------------------------------------------------------------------------------------ peers
def load_peers():
    peers = {}
    try:
        import torch
        torch.set_num_threads(1)
        peers["torch"] = torch
    except ImportError:
        pass
    try:
        import autograd
        import autograd.numpy as anp
        peers["autograd"] = (autograd, anp)
    except ImportError:
        pass
    try:
        import mygrad
        peers["mygrad"] = mygrad
    except ImportError:
        pass
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        peers["jax"] = (jax, jnp)
    except ImportError:
        pass
    return peers


def torch_runner(torch, x0, generic):
    """Forward + backward of ``generic(torch)`` on a leaf tensor holding x0."""
    xt = torch.tensor(x0, requires_grad=True)
    f = generic(torch)

    def run():
        xt.grad = None
        f(xt).backward()
    return run


def chain_runners(x0, peers):
    """name -> zero-argument callable doing forward + backward of the chain on a copy of x0."""
    runners = {"numpy floor (hand-written)": lambda: chain_floor(x0)}
    xg = ga.asarray(x0.copy(), requires_grad=True)

    def run_ga():
        xg.grad = None
        chain_numpy(xg).backward()
    runners["gradarray"] = run_ga
    jitted = ga.jit(ga.value_and_grad(chain_numpy))
    runners["gradarray ga.jit (replay)"] = lambda: jitted(x0)
    forced = ga.jit(ga.value_and_grad(chain_numpy), fuse=True)
    runners["gradarray ga.jit (fuse=True: numba)"] = lambda: forced(x0)
    if "torch" in peers:
        runners["torch CPU (eager)"] = torch_runner(peers["torch"], x0, chain_generic)
    if "autograd" in peers:
        autograd, anp = peers["autograd"]
        gf = autograd.grad(chain_generic(anp))
        runners["HIPS autograd"] = lambda: gf(x0)
    if "mygrad" in peers:
        mg = peers["mygrad"]

        def run_mygrad():
            xm = mg.tensor(x0)
            chain_numpy(xm).backward()
        runners["MyGrad"] = run_mygrad
    if "jax" in peers:
        jax, jnp = peers["jax"]
        xj = jnp.asarray(x0)
        gj = jax.grad(chain_generic(jnp))
        runners["JAX eager"] = lambda: gj(xj).block_until_ready()
        gjit = jax.jit(gj)
        runners["JAX jit (compiled, different class)"] = lambda: gjit(xj).block_until_ready()
    return runners


# ------------------------------------------------------------------------------------ fusion
def rational_generic(xp):
    """An arithmetic-only elementwise model (a rational function, as in legacy fitting code)."""
    def f(x):
        p = ((0.3 * x - 1.2) * x + 0.7) * x - 0.1
        q = (0.2 * x + 0.5) * x + 1.0
        r = p / q
        return xp.sum(r * r)
    return f


rational_numpy = rational_generic(np)


def rational_floor(x):
    """Hand-written NumPy forward + backward of ``rational_numpy``."""
    p = ((0.3 * x - 1.2) * x + 0.7) * x - 0.1
    q = (0.2 * x + 0.5) * x + 1.0
    r = p / q
    loss = np.sum(r * r)
    gr = 2 * r
    gp = gr / q
    gq = -gp * r
    return loss, gp * ((0.9 * x - 2.4) * x + 0.7) + gq * (0.4 * x + 0.5)


def fusion_runners(x0, peers):
    runners = {"numpy floor (hand-written)": lambda: rational_floor(x0)}
    vg = ga.value_and_grad(rational_numpy)
    runners["gradarray (eager)"] = lambda: vg(x0)
    for label, fuse in (("fuse=False", False), ("fuse='auto': numba", "auto")):
        jitted = ga.jit(ga.value_and_grad(rational_numpy), fuse=fuse)
        runners[f"gradarray ga.jit ({label})"] = lambda j=jitted: j(x0)
    if "torch" in peers:
        runners["torch CPU (eager)"] = torch_runner(peers["torch"], x0, rational_generic)
    if "jax" in peers:
        jax, jnp = peers["jax"]
        xj = jnp.asarray(x0)
        gjit = jax.jit(jax.value_and_grad(rational_generic(jnp)))
        runners["JAX jit (compiled, different class)"] = lambda: jax.block_until_ready(gjit(xj))
    return runners


# ------------------------------------------------------------------------------------ MLP
def mlp_loss(W1, b1, W2, b2, X, Y):
    """Legacy NumPy: a 2-layer tanh MLP with softmax cross-entropy."""
    h = np.tanh(X @ W1 + b1)
    logits = h @ W2 + b2
    logits = logits - np.max(logits, axis=1, keepdims=True)
    logp = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return -np.mean(np.sum(Y * logp, axis=1))


def mlp_floor(W1, b1, W2, b2, X, Y):
    a = X @ W1 + b1
    h = np.tanh(a)
    logits = h @ W2 + b2
    logits = logits - np.max(logits, axis=1, keepdims=True)
    e = np.exp(logits)
    s = np.sum(e, axis=1, keepdims=True)
    logp = logits - np.log(s)
    n = X.shape[0]
    loss = -np.mean(np.sum(Y * logp, axis=1))
    dlogits = (e / s - Y) / n
    dW2 = h.T @ dlogits
    db2 = dlogits.sum(axis=0)
    dh = dlogits @ W2.T
    da = dh * (1 - h * h)
    dW1 = X.T @ da
    db1 = da.sum(axis=0)
    return loss, (dW1, db1, dW2, db2)


def mlp_runners(peers, batch=256, d_in=784, hidden=256, d_out=10):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, d_in))
    Y = np.eye(d_out)[rng.integers(0, d_out, batch)]
    params = [rng.standard_normal((d_in, hidden)) * 0.05, np.zeros(hidden),
              rng.standard_normal((hidden, d_out)) * 0.05, np.zeros(d_out)]
    runners = {"numpy floor (hand-written)": lambda: mlp_floor(*params, X, Y)}
    gparams = [ga.asarray(p, requires_grad=True) for p in params]

    def run_ga():
        for p in gparams:
            p.grad = None
        mlp_loss(*gparams, X, Y).backward()
    runners["gradarray"] = run_ga
    jitted = ga.jit(ga.value_and_grad(mlp_loss, argnums=(0, 1, 2, 3)))
    runners["gradarray ga.jit (replay)"] = lambda: jitted(*params, X, Y)
    if "torch" in peers:
        torch = peers["torch"]
        tp = [torch.tensor(p, requires_grad=True) for p in params]
        Xt, Yt = torch.tensor(X), torch.tensor(Y)

        def run_torch():
            for p in tp:
                p.grad = None
            W1, b1, W2, b2 = tp
            h = torch.tanh(Xt @ W1 + b1)
            logits = h @ W2 + b2
            loss = -(Yt * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
            loss.backward()
        runners["torch CPU (eager)"] = run_torch
    if "autograd" in peers:
        autograd, anp = peers["autograd"]

        def aloss(ps):
            W1, b1, W2, b2 = ps
            h = anp.tanh(anp.dot(X, W1) + b1)
            logits = anp.dot(h, W2) + b2
            logits = logits - anp.max(logits, axis=1, keepdims=True)
            logp = logits - anp.log(anp.sum(anp.exp(logits), axis=1, keepdims=True))
            return -anp.mean(anp.sum(Y * logp, axis=1))
        ag = autograd.grad(aloss)
        runners["HIPS autograd"] = lambda: ag(params)
    if "mygrad" in peers:
        mg = peers["mygrad"]

        def run_mygrad():
            ps = [mg.tensor(p) for p in params]
            mlp_loss(*ps, X, Y).backward()
        runners["MyGrad"] = run_mygrad
    if "jax" in peers:
        jax, jnp = peers["jax"]
        jp = [jnp.asarray(p) for p in params]
        Xj, Yj = jnp.asarray(X), jnp.asarray(Y)

        def jloss(ps):
            W1, b1, W2, b2 = ps
            h = jnp.tanh(Xj @ W1 + b1)
            logits = h @ W2 + b2
            return -jnp.mean(jnp.sum(Yj * jax.nn.log_softmax(logits, axis=1), axis=1))
        jg = jax.grad(jloss)
        runners["JAX eager"] = lambda: jax.block_until_ready(jg(jp))
        jgj = jax.jit(jg)
        runners["JAX jit (compiled, different class)"] = lambda: jax.block_until_ready(jgj(jp))
    return runners


def jit_costs(repeat):
    """ga.jit's one-off costs next to its replay: the first call (eager + trace), the second
    (eager + trace + compare + compile + one validating replay), then a replay."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 784))
    Y = np.eye(10)[rng.integers(0, 10, 256)]
    params = [rng.standard_normal((784, 256)) * 0.05, np.zeros(256),
              rng.standard_normal((256, 10)) * 0.05, np.zeros(10)]
    cases = [("chain n=100", ga.value_and_grad(chain_numpy), (np.random.default_rng(0).random(100),)),
             ("chain n=10^6", ga.value_and_grad(chain_numpy),
              (np.random.default_rng(0).random(10 ** 6),)),
             ("mlp step", ga.value_and_grad(mlp_loss, argnums=(0, 1, 2, 3)), (*params, X, Y))]
    rows = []
    for name, f, args in cases:
        firsts, seconds = [], []
        for _ in range(max(2, repeat // 2)):
            jitted = ga.jit(f)
            t0 = time.perf_counter()
            jitted(*args)
            t1 = time.perf_counter()
            jitted(*args)
            t2 = time.perf_counter()
            firsts.append(t1 - t0)
            seconds.append(t2 - t1)
        both = timeit_all({"replay": lambda: jitted(*args), "eager": lambda: f(*args)}, repeat)
        replay, eager = both["replay"], both["eager"]
        rows.append([name, f"{statistics.median(firsts) * 1e3:.2f}",
                     f"{statistics.median(seconds) * 1e3:.2f}", f"{eager * 1e3:.3f}",
                     f"{replay * 1e3:.3f}", f"{eager / replay:.1f}x"])
    return rows


# ------------------------------------------------------------------------------------ deep graph
def deep_time(n):
    x = ga.asarray(np.array(1.0), requires_grad=True)

    def run():
        y = x
        for _ in range(n):
            y = y * 0.99999 + 1e-6
        t = time.perf_counter()
        y.backward()
        return time.perf_counter() - t
    run()
    return statistics.median(run() for _ in range(3))


# ------------------------------------------------------------------------------------ memory
def traced_peak(fn):
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    keep = fn()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del keep
    return peak - base, current - base


def memory_rows(n):
    x0 = np.random.default_rng(0).random(n)

    def floor():
        loss, g = chain_floor(x0)
        return g                               # what the user keeps: the gradient

    xg = ga.asarray(x0, requires_grad=True)

    def with_ga():
        y = chain_numpy(xg)
        y.backward()
        g = xg.grad
        xg.grad = None
        return (y, g)                          # y alive: its graph must already be freed
    fp, fc = traced_peak(floor)
    gp, gc_ = traced_peak(with_ga)
    return fp, fc, gp, gc_


# ------------------------------------------------------------------------------------ gp / spectral
def gp_nll(log_ell, log_sf, log_sn, X, y):
    """Legacy GP negative log-likelihood (squared-exponential kernel)."""
    d2 = np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1)
    K = np.exp(2 * log_sf) * np.exp(-0.5 * d2 / np.exp(2 * log_ell)) + np.exp(2 * log_sn) * np.eye(len(y))
    L = np.linalg.cholesky(K)
    alpha = np.linalg.solve(K, y)
    return 0.5 * y @ alpha + np.sum(np.log(np.diagonal(L))) + 0.5 * len(y) * np.log(2 * np.pi)


def spectral_loss(x, target):
    """Legacy spectral matching: power spectrum of a signal against a target."""
    p = np.abs(np.fft.rfft(x)) ** 2
    return np.mean((np.log1p(p) - target) ** 2)


# ------------------------------------------------------------------------------------ main
def _version(package):
    import importlib.metadata
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def fmt_row(cells, widths):
    return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"


def print_table(title, header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    print(f"\n### {title}\n")
    print(fmt_row(header, widths))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(fmt_row(r, widths))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--no-peers", action="store_true")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    want = (lambda w: not only or w in only)
    repeat = 3 if args.quick else 7
    peers = {} if args.no_peers else load_peers()
    print(f"gradarray {ga.__version__} | numpy {np.__version__} | python {platform.python_version()} | "
          f"{platform.machine()} {os.cpu_count()} cores | {time.strftime('%Y-%m-%d')}")
    print("peers: " + (", ".join(f"{k} {_version(k)}" for k in peers) or "none installed"))
    if want("chain_small"):
        rows = []
        results = {}
        for n in (10, 100):
            x0 = np.random.default_rng(0).random(n)
            for name, t in timeit_all(chain_runners(x0, peers), repeat).items():
                results.setdefault(name, {})[n] = t / N_OPS * 1e6
        torch_ref = results.get("torch CPU (eager)")
        floor = results["numpy floor (hand-written)"]
        for name, r in results.items():
            ratios = [f"{r[n] / torch_ref[n]:.2f}x" if torch_ref else "-" for n in (10, 100)]
            rows.append([name, f"{r[10]:.2f}", f"{r[100]:.2f}", *ratios, f"{r[100] / floor[100]:.2f}x"])
        print_table("Per-op forward+backward, 60-ufunc chain (µs per op)",
                    ["tool", "n=10", "n=100", "vs torch (n=10)", "vs torch (n=100)",
                     "vs floor (n=100)"], rows)
    if want("chain_large"):
        n = 10 ** 6
        x0 = np.random.default_rng(0).random(n)
        runners = chain_runners(x0, {k: v for k, v in peers.items() if k != "jax" or True})
        times = timeit_all(runners, max(3, repeat // 2), min_time=0.2)
        floor = times["numpy floor (hand-written)"]
        rows = [[name, f"{t * 1e3:.1f}", f"{t / floor:.2f}x"] for name, t in times.items()]
        print_table("60-ufunc chain at n=10^6 (forward+backward)", ["tool", "ms", "vs floor"], rows)
    if want("fusion"):
        rows = []
        for n in (10 ** 5, 10 ** 6, 10 ** 7):
            x0 = np.random.default_rng(0).random(n)
            times = timeit_all(fusion_runners(x0, peers), max(3, repeat // 2), min_time=0.2)
            floor = times["numpy floor (hand-written)"]
            rows += [[f"n=10^{len(str(n)) - 1}: {name}", f"{t * 1e3:.2f}", f"{t / floor:.2f}x"]
                     for name, t in times.items()]
        print_table("Arithmetic-only elementwise model, forward+backward (fusion)",
                    ["tool", "ms", "vs floor"], rows)
    if want("mlp"):
        runners = mlp_runners(peers)
        times = timeit_all(runners, repeat, min_time=0.2)
        floor = times["numpy floor (hand-written)"]
        rows = [[name, f"{t * 1e3:.2f}", f"{t / floor:.2f}x"] for name, t in times.items()]
        print_table("MLP step 784-256-10, batch 256 (forward+backward)", ["tool", "ms", "vs floor"], rows)
    if want("jit"):
        print_table("ga.jit: one-off trace cost vs replay (value_and_grad, ms)",
                    ["workload", "1st call (trace)", "2nd call (trace+validate)", "eager call",
                     "replay", "replay speed-up"], jit_costs(repeat))
    if want("deep"):
        t4, t5 = deep_time(10 ** 4), deep_time(10 ** 5)
        print_table("Deep graph: 2x10^5 sequential scalar ops",
                    ["graph size", "backward ms", "µs per node"],
                    [["2x10^4 nodes", f"{t4 * 1e3:.1f}", f"{t4 / 2e4 * 1e6:.2f}"],
                     ["2x10^5 nodes", f"{t5 * 1e3:.1f}", f"{t5 / 2e5 * 1e6:.2f}"],
                     ["scaling 10x nodes", f"{t5 / t4:.1f}x time", "(linear = 10x)"]])
    if want("memory"):
        n = 10 ** 6
        fp, fc, gp, gc_ = memory_rows(n)
        mb = 1 / 2 ** 20
        print_table("Memory, 60-ufunc chain at n=10^6 (tracemalloc)",
                    ["", "peak MiB", "held after backward MiB"],
                    [["numpy floor (hand-written)", f"{fp * mb:.1f}", f"{fc * mb:.1f} (the gradient)"],
                     ["gradarray", f"{gp * mb:.1f} ({gp / fp:.2f}x floor)",
                      f"{gc_ * mb:.1f} (output + gradient, graph freed)"]])
    if want("gp") or want("spectral"):
        rows = []
        rng = np.random.default_rng(0)
        try:
            X = rng.standard_normal((200, 3))
            y = np.sin(X[:, 0]) + 0.1 * rng.standard_normal(200)
            g = ga.value_and_grad(gp_nll, argnums=(0, 1, 2))
            t = timeit(lambda: g(0.0, 0.0, -1.0, X, y), repeat)
            tf = timeit(lambda: gp_nll(0.0, 0.0, -1.0, X, y), repeat)
            rows.append(["GP NLL (n=200): cholesky + solve", f"{t * 1e3:.2f}", f"{tf * 1e3:.2f}",
                         f"{t / tf:.2f}x"])
        except Exception as exc:   # linalg rules missing
            rows.append(["GP NLL", f"unavailable: {exc}"[:60], "", ""])
        try:
            x = rng.standard_normal(4096)
            target = rng.standard_normal(2049)
            g = ga.value_and_grad(spectral_loss)
            t = timeit(lambda: g(x, target), repeat)
            tf = timeit(lambda: spectral_loss(x, target), repeat)
            rows.append(["spectral loss (n=4096): rfft", f"{t * 1e3:.2f}", f"{tf * 1e3:.2f}",
                         f"{t / tf:.2f}x"])
        except Exception as exc:
            rows.append(["spectral loss", f"unavailable: {exc}"[:60], "", ""])
        print_table("linalg / fft workloads (value and gradient vs NumPy forward only)",
                    ["workload", "gradarray ms", "numpy forward ms", "ratio"], rows)


if __name__ == "__main__":
    main()
