"""Gradient checking against finite differences: ``gradcheck`` and ``gradgradcheck``.

For ``f`` with array output, a fixed random cotangent ``v`` turns it into the real scalar
``L(x) = sum(Re(conj(v) * f(x)))``; the analytic gradient (``ga.vjp``) is compared with float64
central differences of ``L``. Complex inputs are perturbed along the real and the imaginary axis
(the PyTorch convention: ``grad = dL/dRe + i dL/dIm``). Optionally the complex step
``Im f(x + ih) / h`` is used for real inputs of real-analytic functions (no cancellation error).
"""
from __future__ import annotations

import numpy as np

from . import _backend
from ._array import GradArray, _make
from .functional import _flatten, vjp

__all__ = ["gradcheck", "gradgradcheck", "numerical_vjp"]


def _host(x):
    if type(x) is GradArray:
        x = x._data
    return np.asarray(_backend.to_host(x)) if hasattr(x, "shape") else np.asarray(x)


def _is_diff(x):
    return hasattr(x, "dtype") and np.dtype(x.dtype).kind in "fc"


def _cotangents(outs, seed):
    rng = np.random.default_rng(seed)
    vs = []
    for o in outs:
        o = _host(o)
        v = rng.standard_normal(o.shape)
        if o.dtype.kind == "c":
            v = v + 1j * rng.standard_normal(o.shape)
        vs.append(v.astype(o.dtype) if o.dtype.kind in "fc" else v)
    return vs


def _scalarise(outs, vs):
    total = 0.0
    for o, v in zip(outs, vs):
        o = _host(o).astype(np.complex128 if np.iscomplexobj(o) or np.iscomplexobj(v) else np.float64)
        total += float(np.sum(np.real(np.conj(v) * o)))
    return total


def _on_like(host, like):
    """``host`` (float64/complex128 NumPy) moved to where ``like`` lives, keeping its precision."""
    if type(like) is GradArray:
        like = like._data
    if isinstance(like, (np.ndarray, np.generic)) or not hasattr(like, "shape"):
        return host
    return _backend.to_device(host, _backend.device_of(like))


def _is_device_array(a):
    return hasattr(a, "shape") and type(a) is not GradArray and not isinstance(a, (np.ndarray, np.generic))


def _probe(host, like):
    """A perturbed input for the finite differences: a raw array on NumPy; on a device backend an
    untracked GradArray, so that functions gradarray provides beyond the backend (e.g.
    np.nanquantile, which CuPy lacks) can be evaluated there too."""
    moved = _on_like(host, like)
    return moved if moved is host else _make(moved)


def numerical_vjp(f, args, vs, wrt, eps=1e-6, complex_step=False):
    """Central differences of L(args) = sum Re(conj(v) * f(args)) in float64, for each arg in wrt."""
    # C order: the flat views below must write into the arrays themselves (a Fortran-ordered input,
    # e.g. cholesky(S).T, would otherwise be perturbed through a copy: silently zero differences)
    base = [np.array(_host(a), dtype=np.complex128 if np.iscomplexobj(_host(a)) else np.float64,
                     order="C")
            if i in wrt else a for i, a in enumerate(args)]

    def L(xs):
        outs, _ = _flatten(f(*[_probe(x, args[i]) if i in wrt else x for i, x in enumerate(xs)]))
        return _scalarise(outs, vs)

    grads = []
    for i in wrt:
        x = base[i]
        g = np.zeros_like(x)
        flat = x.reshape(-1)
        gflat = g.reshape(-1)
        for k in range(flat.size):
            directions = (1.0, 1j) if x.dtype.kind == "c" else (1.0,)
            for d in directions:
                if complex_step and x.dtype.kind == "f":
                    h = 1e-20
                    xs = list(base)
                    xc = flat.astype(np.complex128)
                    xc[k] += 1j * h
                    xs[i] = xc.reshape(x.shape)
                    outs, _ = _flatten(f(*[_probe(v, args[j]) if j in wrt else v
                                           for j, v in enumerate(xs)]))
                    val = sum(float(np.sum(np.real(np.conj(v) * np.imag(_host(o))))) / h
                              for o, v in zip(outs, vs))
                    gflat[k] += val
                    continue
                orig = flat[k]
                flat[k] = orig + eps * d
                xs = list(base)
                xs[i] = flat.reshape(x.shape)
                up = L(xs)
                flat[k] = orig - eps * d
                xs[i] = flat.reshape(x.shape)
                down = L(xs)
                flat[k] = orig
                gflat[k] += (up - down) / (2 * eps) * (1.0 if d == 1.0 else 1j)
        grads.append(g)
    return grads


def _tolerances(args, wrt, atol, rtol):
    low = any(np.dtype(args[i].dtype) in (np.float32, np.complex64, np.float16) for i in wrt)
    if atol is None:
        atol = 2e-3 if low else 1e-5
    if rtol is None:
        rtol = 2e-2 if low else 1e-4
    return atol, rtol


def gradcheck(f, *args, argnums=None, eps=1e-6, atol=None, rtol=None, seed=0, complex_step=False,
              raise_exception=True):
    """Check ``ga.vjp(f, ...)`` against finite differences; returns True or raises AssertionError.

    ``args``: arrays (NumPy or device arrays) and other arguments; by default every floating-point
    or complex array argument is checked (``argnums`` to choose). float32 inputs are differentiated
    in float32 and compared with float64 differences under looser tolerances.
    """
    args = list(args)
    wrt = tuple(i for i, a in enumerate(args) if _is_diff(a)) if argnums is None else \
        ((argnums,) if isinstance(argnums, int) else tuple(argnums))
    if not wrt:
        raise ValueError("gradcheck: no floating-point array argument to check")

    def f_wrt(*xs):
        full = list(args)
        for i, x in zip(wrt, xs):
            full[i] = x
        return f(*full)

    out, pullback = vjp(f_wrt, *[args[i] for i in wrt])
    outs, _ = _flatten(out)
    vs = _cotangents(outs, seed)
    cot = [_on_like(v, o) for v, o in zip(vs, outs)]
    analytic = pullback(cot if len(outs) > 1 or isinstance(out, (tuple, list)) else cot[0])
    numeric = numerical_vjp(f, args, vs, wrt, eps=eps, complex_step=complex_step)
    atol, rtol = _tolerances(args, wrt, atol, rtol)
    for i, a, n in zip(wrt, analytic, numeric):
        a = _host(a)
        if a.shape != n.shape:
            msg = f"gradcheck: gradient of argument {i} has shape {a.shape}, expected {n.shape}"
            if raise_exception:
                raise AssertionError(msg)
            return False
        if a.dtype != np.dtype(args[i].dtype) and args[i].dtype != object:
            msg = f"gradcheck: gradient of argument {i} has dtype {a.dtype}, input has {args[i].dtype}"
            if raise_exception:
                raise AssertionError(msg)
            return False
        if not np.allclose(a, n, atol=atol, rtol=rtol):
            err = np.abs(a - n)
            k = np.unravel_index(np.argmax(err), err.shape) if err.ndim else ()
            msg = (f"gradcheck: gradient of argument {i} differs from finite differences: max abs error "
                   f"{err.max():.3g} at index {k} (analytic {a[k]!r}, numeric {n[k]!r}); atol={atol}, "
                   f"rtol={rtol}\nanalytic:\n{a}\nnumeric:\n{n}")
            if raise_exception:
                raise AssertionError(msg)
            return False
    return True


def gradgradcheck(f, *args, argnums=None, seed=1, **kwargs):
    """Check second derivatives: gradcheck of ``x -> vjp(f, x)(v)`` for a fixed random ``v``."""
    args = list(args)
    wrt = tuple(i for i, a in enumerate(args) if _is_diff(a)) if argnums is None else \
        ((argnums,) if isinstance(argnums, int) else tuple(argnums))
    out = f(*[_make(a) if _is_device_array(a) else a for a in args])
    outs, _ = _flatten(out)
    vs = _cotangents(outs, seed + 100)

    def first_derivative(*xs):
        full = list(args)
        for i, x in zip(wrt, xs):
            full[i] = x

        def f_wrt(*ys):
            inner = list(full)
            for i, y in zip(wrt, ys):
                inner[i] = y
            return f(*inner)

        o, pullback = vjp(f_wrt, *xs)
        o_leaves, _ = _flatten(o)
        cot = [_on_like(v, leaf) for v, leaf in zip(vs, o_leaves)]
        return pullback(cot if len(o_leaves) > 1 or isinstance(o, (tuple, list)) else cot[0])

    return gradcheck(first_derivative, *[args[i] for i in wrt], seed=seed, **kwargs)
