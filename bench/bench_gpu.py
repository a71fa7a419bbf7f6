"""gradarray GPU benchmarks (CuPy): one run, one side-by-side table per workload; run by hand.

    python bench/bench_gpu.py             # needs an NVIDIA GPU and CuPy; PyTorch CUDA is optional
    python bench/bench_gpu.py --quick     # fewer repeats
    python bench/bench_gpu.py --dry-run   # NumPy stands in for CuPy, tiny sizes, no torch: checks
                                          # that every code path runs; its timings mean nothing
Workloads (forward + backward, the GPU synchronised after every call, median of repeats after
warm-up, the gradients checked against the floor's):
  chain   the 60-ufunc chain of bench.py at n=10^8 (10^7 if GPU memory is short), float32 and float64,
          eager and under ga.jit (fused with cupy.fuse, and unfused)
  small   the same chain at n=10^3, float32: per-call overhead (ga.jit's target: <= torch CUDA)
  mlp     one step of bench.py's mlp_loss, 4096 -> 4096 (tanh) -> 10, batch 4096, float32
  memory  CuPy pool bytes in use before forward, at the peak, and after backward (chain, n=10^7):
          after backward only the gradient (and the 0-d loss) may still be held
Against: the hand-written forward+backward of bench.py (`chain_floor`, `mlp_floor`) on CuPy arrays
(np.* calls on CuPy arrays run CuPy's kernels), and PyTorch CUDA autograd. Neither CuPy nor PyTorch
uses TF32 for float32 matmul by default, so all three do the same arithmetic.
Targets: gradarray <= 1.1x the hand-written CuPy floor and <= 1.2x PyTorch CUDA.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import math
import os
import platform
import sys
import tracemalloc
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import (_version, chain_floor, chain_generic, chain_numpy, mlp_floor, mlp_loss,  # noqa: E402
                   print_table, timeit)

import numpy as np  # noqa: E402

import gradarray as ga  # noqa: E402  (bench put the repository on sys.path)

FLOOR, GA, TORCH = "CuPy floor (hand-written)", "gradarray on CuPy", "torch CUDA autograd"
JIT, JIT_UNFUSED = "gradarray ga.jit (fused: cupy.fuse)", "gradarray ga.jit (fuse=False)"
TARGETS = {FLOOR: 1.1, TORCH: 1.2}
SIZES = {"gpu": dict(chain=(10 ** 8, 10 ** 7), small=10 ** 3, mlp=4096, memory=10 ** 7),
         "dry": dict(chain=(10 ** 4,), small=10 ** 3, mlp=32, memory=10 ** 5)}   # chain: first that fits


# ------------------------------------------------------------------------------------ set-up
def load_env(dry_run):
    """The backend: xp (cupy; numpy for --dry-run), device, sync, free, torch (or None), the memory
    meter (context, bytes used now, reset peak, peak bytes) and the out-of-memory exceptions."""
    if dry_run:                              # tracemalloc sees NumPy's allocations
        tracemalloc.start()
        meter = (contextlib.nullcontext(), lambda: tracemalloc.get_traced_memory()[0],
                 tracemalloc.reset_peak, lambda: tracemalloc.get_traced_memory()[1])
        return SimpleNamespace(xp=np, device="cpu", sync=lambda: None, free=gc.collect, torch=None,
                               meter=meter, oom=(MemoryError,))
    try:
        import cupy
        why = None if cupy.cuda.runtime.getDeviceCount() > 0 else "CuPy sees no GPU"
    except ImportError:
        why = "CuPy is not installed (pip install -e \".[cuda12]\" or \".[cuda13]\")"
    except Exception as exc:                 # no driver, no device, broken CUDA libraries
        why = f"no usable GPU ({type(exc).__name__}: {exc})"
    if why:
        print(f"bench_gpu: nothing to run: {why}.\nRun it on a machine with an NVIDIA GPU and CuPy; "
              "`python bench/bench_gpu.py --dry-run` checks the code paths on NumPy.")
        sys.exit(0)
    torch = None
    with contextlib.suppress(ImportError):
        import torch
        torch = torch if torch.cuda.is_available() else None
    pool = cupy.get_default_memory_pool()

    class PeakHook(cupy.cuda.MemoryHook):    # the pool keeps no peak: sample it at every malloc
        name, top = "bench_gpu_peak", 0

        def malloc_postprocess(self, **kwargs):
            self.top = max(self.top, pool.used_bytes())
    hook = PeakHook()

    def sync():                              # wait for CuPy's and torch's queued kernels
        cupy.cuda.Device().synchronize()
        if torch:
            torch.cuda.synchronize()

    def free():                              # give cached blocks back between tools
        gc.collect()
        pool.free_all_blocks()
        if torch:
            torch.cuda.empty_cache()
    return SimpleNamespace(
        xp=cupy, device="cuda", sync=sync, free=free, torch=torch,
        meter=(hook, pool.used_bytes, lambda: setattr(hook, "top", pool.used_bytes()), lambda: hook.top),
        oom=(cupy.cuda.memory.OutOfMemoryError, MemoryError) + ((torch.cuda.OutOfMemoryError,) if torch else ()))


def header(env):
    line = f"gradarray {ga.__version__} | numpy {np.__version__} | python {platform.python_version()}"
    if env.xp is np:
        return line + "\nDRY RUN: NumPy stands in for CuPy, tiny sizes, no torch; timings mean nothing"
    rt = env.xp.cuda.runtime
    name = rt.getDeviceProperties(env.xp.cuda.Device().id)["name"]
    cuda = (lambda v: f"{v // 1000}.{v % 1000 // 10}")
    line += (f"\ndevice: {name.decode() if isinstance(name, bytes) else name} | CUDA runtime "
             f"{cuda(rt.runtimeGetVersion())}, driver {cuda(rt.driverGetVersion())} | "
             f"cupy {env.xp.__version__}")
    t = env.torch
    return line + (f" | torch {t.__version__} (CUDA {t.version.cuda})" if t else
                   f" | torch CUDA: not available (torch {_version('torch')})")


# ------------------------------------------------------------------------------------ runners
# Each runner does forward + backward and returns (loss, gradient or list of gradients).
def chain_runners(env, n, dtype):
    host = np.random.default_rng(0).random(n, dtype=dtype)
    x = env.xp.asarray(host)
    xg = ga.asarray(host, device=env.device, requires_grad=True)

    def run_ga():
        xg.grad = None
        y = chain_numpy(xg)
        y.backward()
        return y, xg.grad.data
    runners = {FLOOR: lambda: chain_floor(x), GA: run_ga}
    for label, fuse in ((JIT, "auto"), (JIT_UNFUSED, False)):
        jitted = ga.jit(ga.value_and_grad(chain_numpy), fuse=fuse)
        runners[label] = lambda j=jitted: j(x)
    if env.torch:
        xt = env.torch.as_tensor(host, device="cuda").requires_grad_()
        f = chain_generic(env.torch)

        def run_torch():
            xt.grad = None
            y = f(xt)
            y.backward()
            return y, xt.grad
        runners[TORCH] = run_torch
    return runners


def mlp_runners(env, batch, d_in, hidden, d_out=10, dtype=np.float32):
    rng = np.random.default_rng(0)
    host = [rng.standard_normal((batch, d_in)), np.eye(d_out)[rng.integers(0, d_out, batch)],
            rng.standard_normal((d_in, hidden)) / math.sqrt(d_in), np.zeros(hidden),
            rng.standard_normal((hidden, d_out)) / math.sqrt(hidden), np.zeros(d_out)]
    host = [a.astype(dtype) for a in host]
    X, Y, *params = [env.xp.asarray(a) for a in host]
    # X, Y as GradArrays without grad: CuPy's operators do not defer to a right operand that
    # defines __array_ufunc__, so a raw CuPy X in `X @ W1` might never reach gradarray.
    Xg, Yg = ga.asarray(X), ga.asarray(Y)
    gparams = [ga.asarray(p, requires_grad=True) for p in params]

    def run_ga():
        for p in gparams:
            p.grad = None
        loss = mlp_loss(*gparams, Xg, Yg)
        loss.backward()
        return loss, [p.grad.data for p in gparams]
    runners = {FLOOR: lambda: mlp_floor(*params, X, Y), GA: run_ga}
    if env.torch:
        torch = env.torch
        Xt, Yt, *tp = [torch.as_tensor(a, device="cuda") for a in host]
        for p in tp:
            p.requires_grad_()

        def run_torch():
            for p in tp:
                p.grad = None
            W1, b1, W2, b2 = tp
            logits = torch.tanh(Xt @ W1 + b1) @ W2 + b2
            loss = -(Yt * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
            loss.backward()
            return loss, [p.grad for p in tp]
        runners[TORCH] = run_torch
    return runners


# ------------------------------------------------------------------------------------ measuring
def max_diff(env, got, want):
    """Largest |got - want| over the gradient(s); torch tensors are read through DLPack."""
    if not isinstance(want, (list, tuple)):
        got, want = [got], [want]
    as_xp = (lambda a: a if isinstance(a, env.xp.ndarray) else env.xp.from_dlpack(a))
    return max(float(env.xp.max(env.xp.abs(as_xp(g) - w))) for g, w in zip(got, want))


def timing_rows(env, runners, repeat):
    """Median seconds per forward+backward of each runner, and its gradient error vs the floor."""
    want = runners[FLOOR]()[1]
    times, errs = {}, {}
    for name, fn in runners.items():
        errs[name] = max_diff(env, fn()[1], want)
        times[name] = timeit(lambda: (fn(), env.sync()), repeat, min_time=0.2)
        env.free()
    rows = []
    for name, t in times.items():
        ratios = []
        for ref, limit in TARGETS.items():
            if ref not in times:
                ratios.append("-")
                continue
            r = t / times[ref]
            ratios.append(f"{r:.2f}x" + (f" (target <= {limit}x: {'met' if r <= limit else 'MISSED'})"
                                         if name in (GA, JIT) else ""))
        rows.append([name, f"{t * 1e3:.2f}", *ratios, f"{errs[name]:.1e}"])
    return rows


def memory_rows(env, n):
    """Bytes in use before forward, at the peak and after backward, for each tool (float64 chain)."""
    rows, mib = [], (lambda b: f"{b / 2 ** 20:.1f}")
    for name, run in chain_runners(env, n, np.float64).items():
        ctx, used, reset_peak, peak = env.meter if name != TORCH else (
            contextlib.nullcontext(), env.torch.cuda.memory_allocated,
            env.torch.cuda.reset_peak_memory_stats, env.torch.cuda.max_memory_allocated)
        with ctx:
            gc.collect()
            env.sync()
            before = used()
            reset_peak()
            kept = run()            # what the user keeps: the loss (graph freed) and the gradient
            env.sync()
            gc.collect()
            top, held = peak() - before, used() - before
        grad = n * 8
        ok = held <= grad + 64 * 1024   # + the 0-d loss and allocator rounding
        rows.append([name, mib(before), mib(top), f"{top / grad:.1f}", mib(held),
                     "yes" if ok else f"NO: {mib(held - grad)} MiB more"])
        del kept
        env.free()
    return rows


# ------------------------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    ap.add_argument("--dry-run", action="store_true", help="NumPy instead of CuPy, tiny sizes, no torch")
    ap.add_argument("--only", default="", help="comma-separated subset of chain,small,mlp,memory")
    args = ap.parse_args()
    env = load_env(args.dry_run)
    want = (lambda w: not args.only or w in args.only.split(","))
    repeat = 3 if args.quick or args.dry_run else 7
    size = SIZES["dry" if args.dry_run else "gpu"]
    exp10 = (lambda n: f"10^{round(math.log10(n))}")
    print(header(env))
    cols = ["tool", "ms", "vs CuPy floor", "vs torch CUDA", "grad max abs diff vs floor"]
    if want("chain"):
        for dtype in (np.float32, np.float64):
            for n in size["chain"]:
                try:
                    rows = timing_rows(env, chain_runners(env, n, dtype), repeat)
                    break
                except env.oom:
                    pass
                env.free()
                print(f"\n(out of device memory at n={exp10(n)} {np.dtype(dtype)}; trying a smaller n)")
            else:
                continue
            print_table(f"60-ufunc chain, n={exp10(n)}, {np.dtype(dtype)} (forward+backward)", cols, rows)
    if want("small"):
        n = size["small"]
        print_table(f"60-ufunc chain, n={exp10(n)}, float32 (forward+backward; ga.jit's target: "
                    "<= torch CUDA eager)", cols,
                    timing_rows(env, chain_runners(env, n, np.float32), repeat))
    if want("mlp"):
        d = size["mlp"]
        rows = timing_rows(env, mlp_runners(env, batch=d, d_in=d, hidden=d), repeat)
        print_table(f"MLP step {d}-{d}-10 tanh, softmax cross-entropy, batch {d}, float32 "
                    "(forward+backward)", cols, rows)
    if want("memory"):
        n = size["memory"]
        print_table(f"Memory, 60-ufunc chain at n={exp10(n)} float64 (gradient {n * 8 / 2 ** 20:.1f} MiB; "
                    "CuPy pool, torch allocator)",
                    ["tool", "in use before MiB", "peak above before MiB", "peak / gradient",
                     "held after backward MiB", "back to before + gradient?"], memory_rows(env, n))


if __name__ == "__main__":
    main()
