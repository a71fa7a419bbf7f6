"""Dask as a backend (gradarray/_dask.py): GradArrays over Dask arrays, forward and backward lazy.

Every case builds its forward and backward pass under a scheduler that raises if anything is
computed, checks that ``.grad`` is a Dask array with the leaf's chunks, then computes the value and
the gradients in one ``ga.compute`` and compares them with the same function on NumPy. The cases
run on the synchronous and the threaded scheduler; one test runs on a ``dask.distributed``
LocalCluster of worker processes. Whatever Dask cannot do raises a clear error (last section).
"""
import pickle
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

import gradarray as ga

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

RNG = np.random.default_rng(7)
A = RNG.standard_normal((6, 4))
B = RNG.standard_normal((6, 4))
P = RNG.uniform(0.5, 2.0, (6, 4))
V = RNG.standard_normal(4)
M = RNG.standard_normal((4, 5))
S = RNG.standard_normal((4, 4))
SPD = S @ S.T + 4 * np.eye(4)
TALL = RNG.standard_normal((12, 3))
W = np.arange(24.0).reshape(6, 4) / 7

HALF = (3, 2)          # chunks of a (6, 4) array: 2 x 2 blocks
ROWS = (3, 4)          # row blocks only (tall-and-skinny linalg, fft along axis 1)


class Computed(AssertionError):
    pass


def _refuse(dsk, keys, **kwargs):
    raise Computed("a Dask graph was computed during the forward or backward pass")


def _setitem(x):
    y = x * 1.0
    y[1:3] = x[0:2] ** 2
    y[:, 0] = 0.5 * x[:, 1]
    return np.sum(y ** 2)


# name -> (function, [(host array, chunks)])
CASES = {
    # ufuncs, broadcasting, and their methods
    "sin": (lambda x: np.sum(np.sin(x)), [(A, HALF)]),
    "chain": (lambda x, y: np.sum(np.exp(x) * y - np.tanh(x / (1 + y ** 2))), [(A, HALF), (B, HALF)]),
    "log sqrt power": (lambda p: np.sum(np.log(p) + np.sqrt(p) + p ** 1.5 + np.cbrt(p)), [(P, HALF)]),
    "broadcast": (lambda x, w: np.sum(x * w + w), [(A, HALF), (V, 2)]),
    "maximum": (lambda x, y: np.sum(np.maximum(x, y) + np.fmin(x, y)), [(A, HALF), (B, HALF)]),
    "abs sign": (lambda x: np.sum(np.abs(x) * np.sign(x) ** 2), [(A, HALF)]),
    "where": (lambda x: np.sum(np.where(x > 0, x, x ** 2)), [(A, HALF)]),
    "where masked branch": (lambda x: np.sum(np.where(x > 0, np.sqrt(np.abs(x)), 0.0)), [(A, HALF)]),
    "clip": (lambda x: np.sum(np.clip(x, -0.5, 0.5) * x), [(A, HALF)]),
    "logaddexp hypot arctan2": (lambda x, y: np.sum(np.logaddexp(x, y) + np.hypot(x, y)
                                                    + np.arctan2(x, y)), [(A, HALF), (B, HALF)]),
    "complex": (lambda x, y: np.sum(np.abs(x + 1j * y) ** 2 + np.real(x * (1 + 2j))),
                [(A, HALF), (B, HALF)]),
    "astype": (lambda x: np.sum(x.astype(np.float32) ** 2).astype(np.float64), [(A, HALF)]),
    "add.reduce": (lambda x: np.sum(np.add.reduce(x, axis=0) ** 2), [(A, HALF)]),
    "multiply.reduce": (lambda p: np.sum(np.multiply.reduce(p, axis=1)), [(P, HALF)]),
    "maximum.reduce": (lambda x: np.sum(np.maximum.reduce(x, axis=0)), [(A, HALF)]),
    "add.accumulate": (lambda x: np.sum(np.add.accumulate(x, axis=0) ** 2), [(A, HALF)]),
    "multiply.outer": (lambda w: np.sum(np.multiply.outer(w, w) ** 2), [(V, 2)]),
    "add.at": (lambda x: _add_at(x), [(A, HALF)]),
    # reductions
    "mean": (lambda x: np.mean(x ** 2), [(A, HALF)]),
    "sum axis": (lambda x: np.sum(np.sum(x, axis=0) ** 2), [(A, HALF)]),
    "prod": (lambda p: np.sum(np.prod(p, axis=1)), [(P, HALF)]),
    "max min": (lambda x: np.sum(np.max(x, axis=1)) + np.min(x), [(A, HALF)]),
    "var std": (lambda x: np.var(x) + np.sum(np.std(x, axis=0)), [(A, HALF)]),
    "cumsum cumprod": (lambda x, p: np.sum(np.cumsum(x, axis=0) ** 2 + np.cumprod(p, axis=1)),
                       [(A, HALF), (P, HALF)]),
    "logsumexp": (lambda x: np.sum(np.log(np.sum(np.exp(x), axis=1))), [(A, HALF)]),
    "nansum nanmean": (lambda x: np.nansum(x ** 2) + np.nanmean(x), [(A, HALF)]),
    "average": (lambda x: np.sum(np.average(x, axis=0, weights=np.arange(1.0, 7.0))), [(A, HALF)]),
    # products
    "matmul": (lambda x, m: np.sum((x @ m) ** 2), [(A, HALF), (M, (2, 5))]),
    "dot": (lambda x, m, w: np.sum(np.dot(x, m) ** 2) + np.sum(np.dot(x, w) ** 2),
            [(A, HALF), (M, (2, 5)), (V, 2)]),
    "einsum": (lambda x, m: np.sum(np.einsum("ij,jk->ik", x, m) ** 2), [(A, HALF), (M, (2, 5))]),
    "einsum trace-like": (lambda x, y: np.einsum("ij,ij->", x, y), [(A, HALF), (B, HALF)]),
    "tensordot": (lambda x, m: np.sum(np.tensordot(x, m, axes=1) ** 2), [(A, HALF), (M, (2, 5))]),
    "outer vdot inner": (lambda w: np.sum(np.outer(w, w) ** 2) + np.vdot(w, w) + np.inner(w, w),
                         [(V, 2)]),
    # shapes
    "reshape": (lambda x: np.sum(np.reshape(x, (2, 3, 4)) ** 3), [(A, (3, 4))]),
    "ravel": (lambda x: np.sum(np.ravel(x) * np.arange(24.0)), [(A, HALF)]),
    "transpose swapaxes": (lambda x: np.sum(x.T @ np.arange(6.0)) + np.sum(np.swapaxes(x, 0, 1)[1]),
                           [(A, HALF)]),
    "moveaxis expand squeeze": (lambda x: np.sum(np.moveaxis(np.expand_dims(x, 0), 0, 2) ** 2
                                                 + np.squeeze(x[None]) [..., None]), [(A, HALF)]),
    "concatenate stack": (lambda x, y: np.sum(np.concatenate([x, y], axis=1) ** 2 @ np.arange(8.0))
                          + np.sum(np.stack([x, y]) ** 3), [(A, HALF), (B, HALF)]),
    "split": (lambda x: np.sum(np.split(x, 2, axis=0)[1] ** 2) + np.sum(np.split(x, [1], 1)[0]),
              [(A, HALF)]),
    "flip roll": (lambda x: np.sum((np.flip(x, 0) + np.roll(x, 2, axis=0)) * W), [(A, HALF)]),
    "tile repeat": (lambda x: np.sum(np.tile(x, (2, 1)) ** 2) + np.sum(np.repeat(x, 2, axis=0) * 3),
                    [(A, HALF)]),
    "broadcast_to atleast_2d": (lambda w: np.sum(np.broadcast_to(w, (3, 4)) ** 2)
                                + np.sum(np.atleast_2d(w) ** 3), [(V, 2)]),
    "diff pad": (lambda x: np.sum(np.diff(x, axis=0) ** 2) + np.sum(np.pad(x, 1) ** 2), [(A, HALF)]),
    "diag trace triu": (lambda s: np.trace(s @ s) + np.sum(np.diag(s) ** 2)
                        + np.sum(np.triu(s) ** 2 + np.tril(s, -1)), [(S, 2)]),
    # indexing
    "slices": (lambda x: np.sum(x[1:4, ::2] ** 2) + x[2, 1] ** 2 + np.sum(x[3]), [(A, HALF)]),
    "integer arrays": (lambda x: np.sum(x[np.array([0, 2, 2, 5])] ** 2)
                       + np.sum(x[:, [1, 1, 3]] ** 3) + np.sum(x[..., [-1, 0]]), [(A, HALF)]),
    "take": (lambda x: np.sum(np.take(x, [0, 2, 2], axis=1) ** 2), [(A, HALF)]),
    "host boolean mask": (lambda x: np.sum(x[A > 0] ** 2) + np.sum(x[np.array([1, 0, 1, 0, 0, 1],
                                                                               bool)]), [(A, HALF)]),
    "setitem": (_setitem, [(A, HALF)]),
    # linear algebra (Dask: 2-D, tall-and-skinny qr/svd/lstsq, square blocks for cholesky)
    "inv": (lambda s: np.sum(np.linalg.inv(s)), [(SPD, 2)]),
    "solve": (lambda s, w: np.sum(np.linalg.solve(s, w) ** 2), [(SPD, 2), (V, 2)]),
    "cholesky": (lambda s: np.sum(np.linalg.cholesky(s) * np.tri(4)), [(SPD, 4)]),
    "qr": (lambda t: np.sum(np.linalg.qr(t)[1] ** 2) + np.sum(np.abs(np.linalg.qr(t)[0])),
           [(TALL, (4, 3))]),
    "svd": (lambda t: np.sum(np.linalg.svd(t, full_matrices=False)[1] ** 3)
            + np.sum(np.linalg.svd(t, compute_uv=False)), [(TALL, (4, 3))]),
    "lstsq": (lambda t, y: np.sum(np.linalg.lstsq(t, y, rcond=None)[0] ** 2),
              [(TALL, (4, 3)), (TALL[:, 0] ** 2, 4)]),
    "norm": (lambda x: np.linalg.norm(x) + np.sum(np.linalg.norm(x, axis=1))
             + np.sum(np.linalg.norm(x, 1, axis=0)), [(A, HALF)]),
    "norm 2 and fro": (lambda t: np.linalg.norm(t, 2) + np.linalg.norm(t, "fro"), [(TALL, (4, 3))]),
    # fft along axes of one chunk
    "fft ifft": (lambda x: np.sum(np.abs(np.fft.fft(x, axis=1)) ** 2)
                 + np.sum(np.real(np.fft.ifft(x, axis=1)) ** 3), [(A, ROWS)]),
    "rfft irfft": (lambda x: np.sum(np.abs(np.fft.rfft(x, axis=1)) ** 2)
                   + np.sum(np.fft.irfft(x, n=4, axis=1) ** 2), [(A, ROWS)]),
    "fft2": (lambda x: np.sum(np.abs(np.fft.fft2(x)) ** 1.5), [(A, (6, 4))]),
    # a full model: logistic regression
    "logistic regression": (lambda x, w: np.mean(np.logaddexp(0, x @ w) - (W[:, 0] > 1) * (x @ w)),
                            [(A, HALF), (V, 2)]),
}


def _add_at(x):
    y = x * 1.0
    np.add.at(y, [0, 0, 2], 1.5)
    return np.sum(y ** 2)


def lazy_pass(f, spec):
    """Forward and backward on Dask leaves under a refusing scheduler; (loss, leaves)."""
    raws = [da.from_array(a, chunks=c) for a, c in spec]
    xs = [ga.asarray(r, requires_grad=True) for r in raws]
    with dask.config.set(scheduler=_refuse):
        loss = f(*xs)
        loss.backward()
    assert type(loss._data) is da.Array and loss.device == "dask"
    for x, r in zip(xs, raws):
        assert type(x.grad._data) is da.Array, type(x.grad._data)
        assert x.grad._data.chunks == r.chunks          # the leaf's own chunks
    return loss, xs


def numpy_pass(f, spec):
    xs = [ga.asarray(np.array(a), requires_grad=True) for a, _ in spec]
    loss = f(*xs)
    loss.backward()
    return [loss.numpy()] + [x.grad.numpy() for x in xs]


@pytest.fixture(params=["sync", "threads"])
def scheduler(request):
    with dask.config.set(scheduler=request.param):
        yield request.param


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_equal_numpy(name, scheduler):
    f, spec = CASES[name]
    loss, xs = lazy_pass(f, spec)
    got = [g.numpy() for g in ga.compute(loss, *[x.grad for x in xs])]
    rtol = 1e-6 if name == "astype" else 1e-8     # float32 sums: Dask adds chunk by chunk
    for want, have in zip(numpy_pass(f, spec), got):
        np.testing.assert_allclose(have, want, rtol=rtol, atol=1e-10)


# ------------------------------------------------------------------------------ laziness itself
class _TaskCounter:
    """A dask callback counting the tasks the local schedulers run."""

    def __init__(self):
        from dask.callbacks import Callback
        counter = self
        self.n = 0
        self.lock = threading.Lock()

        class Count(Callback):
            def _posttask(self, key, result, dsk, state, worker_id):
                with counter.lock:
                    counter.n += 1
        self.callback = Count()


def test_no_task_runs_during_forward_and_backward():
    counter = _TaskCounter()
    x = ga.asarray(da.from_array(A, chunks=HALF), requires_grad=True)
    with counter.callback, dask.config.set(scheduler="threads"):
        loss = np.sum(np.tanh(x @ M) ** 2) + np.linalg.norm(x)
        loss.backward()
        assert counter.n == 0
        repr(x.grad), str(loss), x.grad.shape       # metadata and reprs compute nothing
        assert counter.n == 0
        loss.item()
        assert counter.n > 0


def test_a_rule_that_reads_values_raises_naming_it():
    @ga.primitive
    def peculiar(x):
        return x * 2

    def vjp(g, ans, x):
        if float(np.sum(x)) > 0:         # a branch on data: needs a compute
            return g * 2
        return g

    ga.defvjp(peculiar, vjp)
    x = ga.asarray(da.from_array(A, chunks=HALF), requires_grad=True)
    y = np.sum(peculiar(x))
    with pytest.raises(ga.DaskComputeError, match="gradient rule of peculiar"):
        y.backward()
    # on NumPy the same rule runs
    h = ga.asarray(A, requires_grad=True)
    np.sum(peculiar(h)).backward()


def test_guard_lets_other_threads_compute():
    """While a guarded backward runs in one thread, another thread's compute goes through."""
    started, release, result = threading.Event(), threading.Event(), {}
    configured = dask.config.config.get("scheduler", "absent")

    def slow_vjp(g, ans, x):
        started.set()
        release.wait(10)
        return g

    @ga.primitive
    def slow(x):
        return x + 0

    ga.defvjp(slow, slow_vjp)
    x = ga.asarray(da.from_array(A, chunks=HALF), requires_grad=True)
    y = np.sum(slow(x))
    worker = threading.Thread(target=y.backward)
    worker.start()
    started.wait(10)
    result["other"] = float(da.from_array(B, chunks=HALF).sum().compute(scheduler="sync"))
    result["default"] = float(da.from_array(B, chunks=HALF).sum().compute())
    release.set()
    worker.join(10)
    assert result["other"] == pytest.approx(B.sum()) == result["default"]
    np.testing.assert_allclose(x.grad.numpy(), np.ones_like(A))
    assert dask.config.config.get("scheduler", "absent") == configured     # restored as it was


def test_computing_together_shares_work():
    calls = []

    def counted(block):
        calls.append(1)
        return block

    X = da.map_blocks(counted, da.from_array(A, chunks=HALF), dtype=A.dtype, meta=np.empty((0, 0)))
    w = ga.asarray(da.from_array(V, chunks=4), requires_grad=True)
    b = ga.asarray(da.from_array(np.zeros(1), chunks=1), requires_grad=True)
    loss = np.mean(np.logaddexp(0, X @ w + b))
    loss.backward()
    assert not calls
    value, gw, gb = ga.compute(loss, w.grad, b.grad, scheduler="sync")
    assert len(calls) == X.npartitions             # each chunk of X made once for all three
    assert isinstance(gw._data, np.ndarray) and not gw.requires_grad
    del calls[:]
    for t in (loss, w.grad, b.grad):
        t.compute(scheduler="sync")
    assert len(calls) == 3 * X.npartitions
    ref_w = ga.asarray(V, requires_grad=True)
    ref_b = ga.asarray(np.zeros(1), requires_grad=True)
    np.mean(np.logaddexp(0, A @ ref_w + ref_b)).backward()
    np.testing.assert_allclose(gw.numpy(), ref_w.grad.numpy())
    np.testing.assert_allclose(gb.numpy(), ref_b.grad.numpy())


def test_functional_api_takes_and_returns_dask_arrays(scheduler):
    X, y = da.from_array(A, chunks=HALF), (W[:, 0] > 1).astype(float)

    def loss(w):
        z = X @ w
        return np.mean(np.logaddexp(0, z) - y * z)

    w0 = da.from_array(V, chunks=2)
    with dask.config.set(scheduler=_refuse):
        value, g = ga.value_and_grad(loss)(w0)
        g2 = ga.grad(loss)(w0)
    assert type(value) is da.Array and type(g) is da.Array and g.chunks == w0.chunks
    ref_value, ref_g = ga.value_and_grad(loss)(V)       # NumPy weights: Dask data still lazy
    np.testing.assert_allclose(dask.compute(g)[0], g2.compute())
    np.testing.assert_allclose(g.compute(), np.asarray(ref_g.compute()))
    np.testing.assert_allclose(value.compute(), np.asarray(ref_value.compute()))
    Xn = A
    ref = ga.grad(lambda w: np.mean(np.logaddexp(0, Xn @ w) - y * (Xn @ w)))(V)
    np.testing.assert_allclose(g.compute(), ref)


def test_second_derivatives_stay_lazy():
    v = da.from_array(V, chunks=2)
    with dask.config.set(scheduler=_refuse):
        h = ga.hessian(lambda u: np.sum(np.sin(u) ** 3))(v)
    np.testing.assert_allclose(np.asarray(h.compute()),
                               ga.hessian(lambda u: np.sum(np.sin(u) ** 3))(V))


# ------------------------------------------------------------------------- devices, conversions
def test_devices_and_creation():
    z = ga.zeros((3, 4), device="dask", requires_grad=True)
    assert z.device == "dask" and type(z.data) is da.Array
    h = ga.asarray(np.ones(5), device="dask")
    assert type(h.data) is da.Array and h.device.index is None
    assert ga.asarray(da.ones(3)).device == "dask"
    e = ga.eye(3, device="dask")
    np.testing.assert_array_equal(e.numpy(), np.eye(3))
    back = h.to_device("cpu")
    assert isinstance(back.data, np.ndarray)


def test_explicit_conversions_compute():
    x = ga.asarray(da.from_array(A, chunks=HALF), requires_grad=True)
    loss = np.sum(x ** 2)
    assert "dask.array<" in repr(loss) and "device='dask'" in repr(loss)
    assert loss.item() == pytest.approx(np.sum(A ** 2))
    assert f"{loss:.3f}" == f"{np.sum(A ** 2):.3f}"
    np.testing.assert_allclose(x.numpy(), A)
    assert x.tolist() == A.tolist()
    c = loss.compute()
    assert isinstance(c.data, np.ndarray) and c.device == "cpu" and not c.requires_grad
    p = loss.persist(scheduler="sync")
    assert type(p.data) is da.Array
    with pytest.raises(TypeError, match="implicit conversion"):
        np.asarray(x)
    # the move to the CPU is explicit and differentiable
    host = x.to_device("cpu")
    np.sum(host ** 3).backward()
    assert type(x.grad.data) is da.Array
    np.testing.assert_allclose(x.grad.numpy(), 3 * A ** 2)


def test_pickle_keeps_the_graph():
    x = ga.asarray(da.from_array(A, chunks=HALF), requires_grad=True)
    y = pickle.loads(pickle.dumps(x))
    assert type(y.data) is da.Array and y.requires_grad
    np.testing.assert_allclose(y.numpy(), A)


def test_version_counter_is_conservative_on_dask():
    from gradarray._versions import _byte_bounds
    assert _byte_bounds(da.ones(3)) is None
    x = ga.asarray(da.from_array(A, chunks=HALF), requires_grad=True)
    h = x * 1.0
    y = np.sum(np.sin(h))           # saves h
    h[0] = 0.0                      # Dask's setitem rebinds h's graph: the saved value changed
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_host_arrays_mix_with_dask_but_devices_do_not():
    x = ga.asarray(da.from_array(A, chunks=HALF), requires_grad=True)
    w = ga.asarray(V, requires_grad=True)               # a NumPy leaf
    np.sum(x * w).backward()
    assert type(w.grad.data) is da.Array                # its gradient is lazy too
    np.testing.assert_allclose(w.grad.numpy(), A.sum(0))
    import standin
    with pytest.raises(ValueError, match="different devices"):
        x + ga.asarray(standin.asarray(A))


def test_importing_gradarray_does_not_import_dask():
    code = "import sys, gradarray; assert 'dask' not in sys.modules, 'dask imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dask_over_device_chunks():
    """Dask arrays whose chunks are device arrays (the CuPy-like stand-in): gradients run on the
    device chunk type, chunk by chunk."""
    import standin
    from dask.array.chunk_types import register_chunk_type
    register_chunk_type(standin.StandinArray)
    x = da.from_array(standin.asarray(A), chunks=HALF, asarray=False,
                      meta=standin.asarray(np.empty((0, 0))))
    gx = ga.asarray(x, requires_grad=True)
    with dask.config.set(scheduler=_refuse):
        loss = np.sum(np.sin(gx) ** 2) + np.sum((gx @ gx.T) * 0.5)
        loss.backward()
    with dask.config.set(scheduler="sync"):
        value, grad = ga.compute(loss, gx.grad)
    assert grad.device == "standin:0"
    h = ga.asarray(A, requires_grad=True)
    (np.sum(np.sin(h) ** 2) + np.sum((h @ h.T) * 0.5)).backward()
    np.testing.assert_allclose(grad.data.get(), h.grad.numpy())


# --------------------------------------------------------------------------- a real cluster
def test_gradients_on_a_local_cluster_of_processes():
    distributed = pytest.importorskip("distributed")
    X, y = A, (W[:, 0] > 1).astype(float)

    def loss(w, X):
        z = X @ w
        return np.mean(np.logaddexp(0, z) - y * z)

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, memory_limit="1GiB") as cluster, \
            distributed.Client(cluster) as client:
        Xd = da.from_array(X, chunks=(2, 4))
        w = ga.asarray(da.from_array(V, chunks=4), requires_grad=True)
        L = loss(w, Xd)
        L.backward()
        value, g = ga.compute(L, w.grad)
        assert client.scheduler_info()["workers"]
    ref = ga.asarray(V, requires_grad=True)
    ref_value = loss(ref, X)
    ref_value.backward()
    np.testing.assert_allclose(value.numpy(), ref_value.numpy())
    np.testing.assert_allclose(g.numpy(), ref.grad.numpy())


def test_example_fits_and_its_gradient_matches_numpy():
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
    from examples import dask_logistic
    with dask.config.set(scheduler="sync"):
        result = dask_logistic.main(rows=4000, features=5, chunk_rows=1000, iters=12)
        losses = result["losses"]
        assert losses[-1] < 0.9 * losses[0]
        Xn, yn = dask.compute(result["X"], result["y"])
        lazy = ga.grad(result["loss"])(da.from_array(result["w"]), result["X"], result["y"])
        np.testing.assert_allclose(lazy.compute(), ga.grad(result["loss"])(result["w"], Xn, yn))


# ------------------------------------------------------------- what Dask cannot do: clear errors
ERRORS = {
    "det (no Dask version)": (lambda s: np.linalg.det(s), SPD, 2, "np.linalg.det on Dask arrays"),
    "eigh": (lambda s: np.sum(np.linalg.eigh(s)[0]), SPD, 2, "np.linalg.eigh on Dask arrays"),
    "kron": (lambda x: np.sum(np.kron(x, x)), V, 2, "np.kron on Dask arrays"),
    "sort (argsort)": (lambda x: np.sum(np.sort(x, axis=1)), A, HALF, "np.sort calls np.argsort"),
    "svd full_matrices": (lambda t: np.sum(np.linalg.svd(t)[1]), TALL, (4, 3), "full_matrices=False"),
    "svd chunked both ways": (lambda x: np.sum(np.linalg.svd(x, full_matrices=False)[1]), A, HALF,
                              "np.linalg.svd on Dask arrays"),
    "qr chunked both ways": (lambda x: np.sum(np.linalg.qr(x)[1]), A, HALF, "np.linalg.qr on Dask"),
    "fft across chunks": (lambda x: np.sum(np.abs(np.fft.fft(x, axis=1))), A, HALF,
                          "(?s)np.fft.fft on Dask arrays.*single chunk"),
    "reshape across chunks": (lambda x: np.sum(np.reshape(x, (4, 6))), A, HALF,
                              "np.reshape on Dask arrays"),
    "median of all": (lambda x: np.median(x), A, HALF, "np.median on Dask arrays"),
    "median gradient (argsort)": (lambda x: np.sum(np.median(x, axis=1)), A, ROWS,
                                  "gradient rule of median calls np.argsort"),
    "Dask mask": (lambda x: np.sum(x[x > 0]), A, HALF, "Dask boolean mask"),
    "pointwise indices": (lambda x: np.sum(x[np.array([0, 1]), np.array([1, 2])]), A, HALF,
                          "Dask arrays"),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_unsupported_paths_raise_clear_errors(name):
    f, host, chunks, message = ERRORS[name]
    x = ga.asarray(da.from_array(host, chunks=chunks), requires_grad=True)
    with dask.config.set(scheduler=_refuse), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)      # Dask's own "not implemented" notice
        with pytest.raises((NotImplementedError, ValueError, TypeError), match=message):
            f(x).backward()
