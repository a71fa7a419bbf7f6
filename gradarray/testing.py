"""Gradient checking against finite differences: ``gradcheck`` and ``gradgradcheck``.

For ``f`` with array output, a fixed random cotangent ``v`` turns it into the real scalar
``L(x) = sum(Re(conj(v) * f(x)))``; the analytic gradient (``ga.vjp``) is compared with float64
central differences of ``L``. Complex inputs are perturbed along the real and the imaginary axis
(the PyTorch convention: ``grad = dL/dRe + i dL/dIm``). Optionally the complex step
``Im f(x + ih) / h`` is used for real inputs of real-analytic functions (no cancellation error).
``gradcheck(..., jit=True)`` also checks that ``ga.jit`` gives the eager VJP exactly.
"""
from __future__ import annotations

import warnings

import numpy as np

from . import _backend
from ._array import GradArray, _make
from .functional import _flatten, vjp
from ._trace_backward import opaque_backward
from .jit import JitWarning, _same_outputs, jit as _jit

__all__ = ["gradcheck", "gradgradcheck", "numerical_vjp"]

# Private switch for the test suite (tests/_jit_check.py): ``gradcheck``'s default for ``jit``, and
# a callable told about each jitted check, ``(name, jitted, jit_warnings, exact)``, that counts.
# ``_jit_instead_of_differences``: the jit check replaces the finite differences (the suite's eager
# run of the same test compared the same eager VJP with them; the jit must give it exactly).
_jit_default = False
_jit_instead_of_differences = False
_jit_observer = None


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
              raise_exception=True, jit=None):
    """Check ``ga.vjp(f, ...)`` against finite differences; returns True or raises AssertionError.

    ``args``: arrays (NumPy or device arrays) and other arguments; by default every floating-point
    or complex array argument is checked (``argnums`` to choose). float32 inputs are differentiated
    in float32 and compared with float64 differences under looser tolerances.

    ``jit=True``: the VJP is also computed as ``ga.vjp(ga.jit(f), ...)``, three times with the same
    inputs (traced; traced again and validated; replayed), and each output and gradient must be
    identical to the eager one (shape, dtype, values, NaN where NaN; equal to rounding where the
    replay may round differently: ``_rounds_differently``). A jit that refuses the call and runs
    it eagerly passes (``JitWarning``). ``None`` (default): off.
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
    cot = cot if len(outs) > 1 or isinstance(out, (tuple, list)) else cot[0]
    analytic = pullback(cot)
    if _jit_default if jit is None else jit:
        try:
            _check_jitted_vjp(f_wrt, [args[i] for i in wrt], wrt, out, cot, analytic)
        except AssertionError:
            if raise_exception:
                raise
            return False
        if jit is None and _jit_instead_of_differences:
            return True
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


def _check_jitted_vjp(f_wrt, primals, wrt, out, cot, analytic):
    """``gradcheck(jit=True)``: ``vjp(jit(f_wrt))`` gives ``out`` and ``analytic`` on each of three
    calls. Warnings of these calls are held back: the eager call showed them to the caller; the
    ``JitWarning``s go to ``_jit_observer`` if one is set, else are issued again."""
    jitted = _jit(f_wrt)
    exact = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for call in (1, 2, 3):
            o, pullback = vjp(jitted, *primals)
            rounding = _rounds_differently(jitted)
            exact &= _assert_identical(o, out, f"gradcheck(jit=True), call {call}: the output",
                                       rounding)
            grads = pullback(cot)
            for i, g, a in zip(wrt, grads, analytic):
                exact &= _assert_identical(g, a, f"gradcheck(jit=True), call {call}: the "
                                                 f"gradient of argument {i}", rounding)
    refusals = [w for w in caught if issubclass(w.category, JitWarning)]
    if _jit_observer is not None:
        _jit_observer("gradcheck", jitted, refusals, exact)
    else:
        for w in refusals:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _rounds_differently(jitted):
    """Can a replay of ``jitted`` round differently from the eager call (the last bits)? Where its
    program runs fused kernels (they round differently from NumPy's), or sends the gradients of a
    composite recorded as one unit back in one step: the eager pass may run other nodes between
    the composite's own, and sum what they send to one value in another order."""
    return any(getattr(p, "kernels", None) or any(
        op[0] == "call" and op[2] is opaque_backward for op in p.ops) for p in jitted.programs())


def _assert_identical(actual, expected, what, rounding=False):
    """``actual`` is ``expected`` exactly: the same nesting and types; arrays (and NumPy scalars) of
    the same shape, dtype and values, NaN equal to NaN. AssertionError naming ``what``.

    ``rounding`` (``_rounds_differently``): arrays may also agree only as the jit's own check of a
    replay against the eager result accepts (``_same_outputs(fused=True)``: normwise, float64 to
    1e-9). Returns whether everything was exactly equal."""
    t = type(expected)
    if type(actual) is not t:
        raise AssertionError(f"{what}: {type(actual).__name__} under ga.jit, {t.__name__} eagerly")
    if t is tuple or t is list or (isinstance(expected, tuple) and hasattr(expected, "_fields")):
        if len(actual) != len(expected):
            raise AssertionError(f"{what}: {len(actual)} items under ga.jit, {len(expected)} eagerly")
        return all([_assert_identical(a, e, f"{what}[{k}]", rounding)
                    for k, (a, e) in enumerate(zip(actual, expected))])
    if t is dict:
        if list(actual) != list(expected):
            raise AssertionError(f"{what}: keys {list(actual)} under ga.jit, {list(expected)} eagerly")
        return all([_assert_identical(actual[k], expected[k], f"{what}[{k!r}]", rounding)
                    for k in expected])
    if hasattr(expected, "shape") and hasattr(expected, "dtype"):
        a, e = _values(actual), _values(expected)
        if a.shape != e.shape or a.dtype != e.dtype:
            raise AssertionError(f"{what}: {a.dtype}{list(a.shape)} under ga.jit, "
                                 f"{e.dtype}{list(e.shape)} eagerly")
        if np.array_equal(a, e, equal_nan=a.dtype.kind in "fc"):
            return True
        if rounding and _same_outputs(a, e, fused=True):
            return False
        raise AssertionError(f"{what} differs under ga.jit: {_difference(a, e)}")
    if not (actual == expected or (actual != actual and expected != expected)):
        raise AssertionError(f"{what}: {actual!r} under ga.jit, {expected!r} eagerly")
    return True


def _values(x):
    """The host values of an array; a lazy (Dask) one is computed by the synchronous scheduler,
    whatever scheduler the caller set (a test may forbid computing its own graphs)."""
    raw = x._data if type(x) is GradArray else x
    if _backend.is_lazy(raw):
        raw = raw.compute(scheduler="sync")
    return _host(raw)


def _difference(a, e):
    """The largest difference between two arrays of one shape and dtype, in words."""
    if a.dtype.kind not in "biufc":
        return "the values differ"
    wide = np.complex128 if a.dtype.kind == "c" else np.float64
    a, e = a.astype(wide), e.astype(wide)
    if (np.isnan(a) != np.isnan(e)).any():
        return "NaN in different places"
    with np.errstate(invalid="ignore"):
        d = np.abs(a - e)
    d[np.isnan(a)] = 0                          # NaN in both; inf - inf (equal infinities) too
    d[(a == e)] = 0
    k = np.unravel_index(np.argmax(d), d.shape) if d.ndim else ()
    return f"max abs difference {d[k]:.3g} at index {k} (jit {a[k]!r}, eager {e[k]!r})"


def gradgradcheck(f, *args, argnums=None, seed=1, **kwargs):
    """Check second derivatives: gradcheck of ``x -> vjp(f, x)(v)`` for a fixed random ``v``
    (``kwargs``, ``jit`` included, go to ``gradcheck``)."""
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
