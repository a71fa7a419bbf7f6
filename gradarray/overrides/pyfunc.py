"""Python functions mapped over tracked arrays: ``np.vectorize``, ``np.frompyfunc`` and
``np.piecewise`` keep the tape.

NumPy runs all three with Python callbacks on plain values: ``np.vectorize(f)(x)`` converts ``x`` with
``asanyarray`` and calls ``f`` on Python scalars, a ``frompyfunc`` ufunc loops over object arrays,
and ``np.piecewise`` writes the pieces into ``zeros_like(x)``. When an argument holds a GradArray:

- **Whole arrays first** (vectorize, frompyfunc): ``f`` is called once on the whole GradArrays —
  one vectorised tape, right for an ``f`` written with ``np.*`` calls. The attempt counts when it
  raises nothing (``if x > 0:`` on an array raises the ambiguous-truth ValueError), gives a result
  that broadcasts to the arguments' broadcast shape, and agrees with NumPy's own element-by-element
  values on the raw data (which NumPy would have computed anyway): ``lambda v: v - v.mean()`` has the
  right shape but is not elementwise, and is caught there.
- **Else element by element**: ``f`` is called on 0-d GradArrays (where NumPy passes Python scalars;
  untracked arguments still give Python scalars), and the results are stacked (``np.stack``) and
  reshaped to the broadcast shape. Python branching on values works, each element's gradient flows
  through the branch it took.

``np.vectorize``: installed on ``numpy.vectorize.__call__`` with the bridge (``gradarray/_bridge.py``),
so vectorized functions made before ``import gradarray`` are covered. ``otypes``, ``excluded`` (passed
whole, GradArrays included: ``vectorize(f, excluded={1})(x, p)`` differentiates in ``p`` too),
keyword arguments, ``cache`` (without ``otypes`` NumPy calls ``f`` once more on the first elements to
find the output types unless ``cache=True``; so does the element-by-element mode) and ``signature``
(``"(n),(n)->()"``: ``f`` runs on core slices, looped over the broadcast loop dimensions) follow NumPy.
The output dtype is NumPy's (``otypes``, else the first element's result): integer, boolean or object
outputs are returned untracked, as NumPy computes them.

``np.frompyfunc(f, nin, nout)`` ufuncs (all loops on objects) reach ``GradArray.__array_ufunc__``,
which hands them here (``_tables.upper.python_ufunc``): the same two modes, ``f`` being run through
the ufunc on 0-d object arrays holding GradArrays. The result is a numeric GradArray (float or
complex, from the values) instead of NumPy's object array; non-numeric results come back untracked.

``np.piecewise``: the composite (``composites.py``) runs when ``x`` or a condition is a GradArray;
``numpy.piecewise`` is wrapped so that a plain ``x`` works too when the tape is only in a constant
``funclist`` entry (``[f, p]``) or in a closure (``lambda t: a * t`` with tracked ``a``): the pieces are
probed, and at the first piece that returns a GradArray the call is redone with ``x`` as an untracked
GradArray (the pieces computed until then run twice).

Limits: ``f`` is called one extra time on the whole arrays (plus NumPy's own raw evaluation when
that attempt is checked, plus once per element when it fails) — pure functions are assumed. A
closure over a tracked value with only plain *arguments* of a vectorized function is not seen (no
argument holds a GradArray; NumPy's conversion warns): pass the value as an argument (in
``excluded=``) or the data as a GradArray. ``isinstance(v, float)`` checks in ``f`` see 0-d
GradArrays. Host data only (NumPy's vectorize and object ufuncs do not run on device arrays).
``from numpy import piecewise`` before ``import gradarray`` keeps NumPy's own function.
"""
from __future__ import annotations

import functools
import re

import numpy as np

from .._array import GradArray, wrap_untracked
from .._bridge import holds_gradarray, implements_scipy_method
from .._creation import asarray
from .._modes import no_grad
from .._tables import IMPLEMENTATIONS, bind_upper

__all__ = []


# ------------------------------------------------------------------------------------------ helpers
def _raw_nested(x):
    """``x`` with every GradArray (also inside lists and tuples) replaced by its raw data."""
    if type(x) is GradArray:
        return x._data
    if type(x) is list or type(x) is tuple:
        return type(x)(_raw_nested(v) for v in x)
    return x


def _whole(v):
    """An argument as one array for the whole-array call (lists of GradArrays stacked)."""
    if isinstance(v, (list, tuple)):
        return asarray(v) if holds_gradarray(v) else np.asarray(v)
    return v


def _elements(v):
    """An object array of the argument's elements: 0-d GradArrays for a tracked GradArray, Python
    scalars (what NumPy passes) for anything else."""
    if type(v) is GradArray and v.requires_grad:
        out = np.empty(v.shape, dtype=object)
        if v.ndim == 0:
            out[()] = v
        else:
            flat = out.reshape(-1)
            for k, e in enumerate(_unstack(np.reshape(v, (-1,)))):
                flat[k] = e
        return out
    if isinstance(v, (list, tuple)) and holds_gradarray(v):
        return _elements(asarray(v))
    return np.asanyarray(_raw_nested(v), dtype=object)


def _unstack(flat):
    return np.unstack(flat) if hasattr(np, "unstack") else list(flat)


def _object_scalar(v):
    out = np.empty((), dtype=object)
    out[()] = v
    return out


def _dtype_of(v):
    return v.dtype if type(v) is GradArray else np.asarray(v).dtype


def _raw_value(v):
    return v._data if type(v) is GradArray else v


def _numeric(values):
    """An array of results (possibly an object array holding GradArrays) as a raw numeric array,
    or None when the values are not numbers."""
    if not isinstance(values, np.ndarray):          # a 0-d call returns the object itself
        values = _object_scalar(values)
    if values.dtype != object:
        return values
    try:
        out = np.array([_raw_value(v) for v in values.reshape(-1)])
    except (TypeError, ValueError):
        return None
    if out.dtype.kind not in "biufc" or out.ndim != 1:
        return None
    return out.reshape(values.shape)


def _agrees(got, expected):
    """Values of the whole-array attempt against NumPy's element-by-element values."""
    got = np.asarray(_raw_value(got))
    if got.shape != expected.shape:
        return False
    scale = float(np.max(np.abs(expected), initial=0.0)) if expected.size else 0.0
    with np.errstate(all="ignore"):
        return bool(np.allclose(got, expected, rtol=1e-9, atol=1e-12 * scale, equal_nan=True))


def _try_whole(call, args, shape):
    """``call`` on the whole arrays: (the outputs broadcast to ``shape``, was the result a tuple), or
    None when the attempt fails (an exception, or a result that does not broadcast to ``shape``).
    Warnings are not intercepted (that would not be thread-safe): an attempt that fails may warn
    before it raises, as the element-by-element call that follows would."""
    try:
        result = call(*args)
    except Exception:                # noqa: BLE001 -- any failure means: not elementwise-ready
        return None
    outs = result if isinstance(result, tuple) else (result,)
    fitted = []
    for r in outs:
        if not (type(r) is GradArray or isinstance(r, (np.ndarray, np.generic, int, float, complex))):
            return None
        try:
            broadcast = np.broadcast_shapes(np.shape(r), shape)
        except ValueError:
            return None
        if broadcast != shape:
            return None
        fitted.append(r if np.shape(r) == shape else np.broadcast_to(r, shape))
    return tuple(fitted), isinstance(result, tuple)


def _finish(value, dtype):
    """A whole-array output cast to NumPy's output dtype (untracked when that is not float/complex)."""
    if dtype.kind not in "fc":
        return wrap_untracked(np.asarray(_raw_value(value)).astype(dtype))
    if type(value) is not GradArray:
        return wrap_untracked(np.asarray(value, dtype=dtype))
    return value if value.dtype == dtype else value.astype(dtype)


def _stack(items, shape, dtype):
    """Element results (0-d GradArrays and numbers) as one array of ``shape``."""
    for v in items:
        if np.ndim(v) != 0:
            raise ValueError("setting an array element with a sequence: the function returned an "
                             f"array of shape {np.shape(v)} for one element (use signature=)")
    tracked = any(type(v) is GradArray and v.requires_grad for v in items)
    if dtype.kind not in "fc" or not tracked:
        raw = np.array([_raw_value(v) for v in items]).astype(dtype, copy=False)
        return wrap_untracked(raw.reshape(shape))
    out = np.reshape(np.stack(items), shape)
    return out if out.dtype == dtype else out.astype(dtype)


def _map(loop, elements, shape, nout, dtypes):
    """Element by element: ``loop`` (an object ufunc) on the arguments' element arrays (see
    ``_elements``); ``dtypes(items)`` gives the output dtypes from the element results."""
    outs = loop(*elements)
    if nout == 1:
        outs = (outs,)
    if shape == ():
        outs = tuple(_object_scalar(o) for o in outs)
    items = [list(o.reshape(-1)) for o in outs]
    results = tuple(_stack(it, shape, dt) for it, dt in zip(items, dtypes(items)))
    return results if nout > 1 else results[0]


# ----------------------------------------------------------------------------------- np.vectorize
def _bind(pyfunc, excluded, args, kwargs):
    """NumPy's ``vectorize._call_as_normal``: the function of the vectorized arguments only."""
    if not kwargs and not excluded:
        return pyfunc, list(args)
    names = [n for n in kwargs if n not in excluded]
    inds = [i for i in range(len(args)) if i not in excluded]

    def func(*vargs):
        the_args = list(args)
        for n, i in enumerate(inds):
            the_args[i] = vargs[n]
        kw = dict(kwargs)
        kw.update(zip(names, vargs[len(inds):]))
        return pyfunc(*the_args, **kw)
    return func, [args[i] for i in inds] + [kwargs[n] for n in names]


def _numpy_call(self):
    call = type(self).__call__
    return getattr(call, "__gradarray_original__", call)


@implements_scipy_method("numpy", "vectorize", "__call__")
def _vectorize_call(self, *args, **kwargs):
    if self.pyfunc is np._NoValue:                 # decorator form: the function arrives now
        return _numpy_call(self)(self, *args, **kwargs)
    func, vargs = _bind(self.pyfunc, self.excluded, args, kwargs)
    raw_func, raw_vargs = _bind(self.pyfunc, self.excluded, _raw_nested(args), _raw_nested(kwargs))

    def numpy_values():
        """NumPy's own evaluation on the raw data (a closure over tracked values runs untracked)."""
        with no_grad():
            return np.vectorize(raw_func, otypes=self.otypes, cache=self.cache,
                                signature=self.signature)(*raw_vargs)

    if self.signature is not None:
        return _with_signature(self, func, vargs, numpy_values)
    if not vargs:
        return func()
    try:
        shape = np.broadcast_shapes(*[np.shape(_raw_nested(v)) for v in vargs])
    except ValueError:
        return wrap_untracked(numpy_values())       # NumPy's error
    if 0 in shape:
        return wrap_untracked(numpy_values())
    whole = _try_whole(func, [_whole(v) for v in vargs], shape)
    if whole is not None:
        (outs, multiple) = whole
        expected = numpy_values()
        expected = expected if isinstance(expected, tuple) else (expected,)
        if len(expected) == len(outs) and multiple == (len(expected) > 1):
            if all(e.dtype.kind not in "fc" for e in expected):
                return wrap_untracked(expected if multiple else expected[0])
            if all(_agrees(o, e) for o, e in zip(outs, expected)):
                final = tuple(_finish(o, e.dtype) for o, e in zip(outs, expected))
                return final if multiple else final[0]
    return _vectorize_elementwise(self, func, vargs, shape)


def _vectorize_elementwise(self, func, vargs, shape):
    """NumPy's loop on 0-d GradArrays: without ``otypes`` the first elements' result gives the
    number and types of the outputs (and, with ``cache=True``, is reused for the first elements)."""
    elements = [_elements(v) for v in vargs]
    otypes = self.otypes
    if otypes:
        nout, loop_func = len(otypes), func
    else:
        first = func(*[e.reshape(-1)[0] for e in elements])
        nout = len(first) if isinstance(first, tuple) else 1
        loop_func = _reusing(func, first) if self.cache else func

    def dtypes(items):
        if otypes:
            return [np.dtype(t) for t in otypes]
        return [_dtype_of(it[0]) for it in items]
    return _map(np.frompyfunc(loop_func, len(vargs), nout), elements, shape, nout, dtypes)


def _reusing(func, first):
    """``func`` whose first call returns ``first`` (NumPy's ``cache=True``)."""
    cached = [first]

    def call(*args):
        return cached.pop() if cached else func(*args)
    return call


def _with_signature(self, func, vargs, numpy_values):
    """``signature="(n),(n)->()"``: ``func`` on core slices, looped over the loop dimensions."""
    in_dims, out_dims = getattr(self, "_in_and_out_core_dims", None) or _parse(self.signature)
    if len(vargs) != len(in_dims):
        raise TypeError(f"wrong number of positional arguments: expected {len(in_dims)!r}, "
                        f"got {len(vargs)!r}")
    arrays = [v if type(v) is GradArray else _whole(v) for v in vargs]
    sizes, loops = {}, []
    for a, dims in zip(arrays, in_dims):
        nd = np.ndim(a)
        if nd < len(dims):
            raise ValueError(f"{nd}-dimensional argument does not have enough dimensions for all "
                             f"core dimensions {dims!r}")
        core = np.shape(a)[nd - len(dims):]
        for d, n in zip(dims, core):
            if sizes.setdefault(d, n) != n:
                raise ValueError(f"inconsistent size for core dimension {d!r}: {n} vs {sizes[d]}")
        loops.append(np.shape(a)[:nd - len(dims)])
    shape = np.broadcast_shapes(*loops)
    if 0 in shape:
        return wrap_untracked(numpy_values())
    arrays = [np.broadcast_to(a, shape + np.shape(a)[np.ndim(a) - len(d):])
              for a, d in zip(arrays, in_dims)]
    nout = len(out_dims)
    results = [[] for _ in range(nout)]
    for index in np.ndindex(*shape):
        r = func(*(a[index] for a in arrays))
        r = r if isinstance(r, tuple) else (r,)
        if len(r) != nout:
            raise ValueError(f"wrong number of outputs from pyfunc: expected {nout!r}, got {len(r)!r}")
        for k, v in enumerate(r):
            results[k].append(v)
    outs = []
    for k, (items, dims) in enumerate(zip(results, out_dims)):
        core = np.shape(items[0])
        if len(core) != len(dims) or any(np.shape(v) != core for v in items):
            raise ValueError(f"output {k} of pyfunc does not have the core dimensions {dims!r}")
        dtype = np.dtype(self.otypes[k]) if self.otypes else _dtype_of(items[0])
        if dtype.kind in "fc" and any(type(v) is GradArray and v.requires_grad for v in items):
            out = np.reshape(np.stack(items), shape + core)
            outs.append(out if out.dtype == dtype else out.astype(dtype))
        else:
            raw = np.array([np.asarray(_raw_value(v)) for v in items]).astype(dtype, copy=False)
            outs.append(wrap_untracked(raw.reshape(shape + core)))
    return outs[0] if nout == 1 else tuple(outs)


def _parse(signature):
    """``"(m,n),(n)->(m)"`` -> ``([("m", "n"), ("n",)], [("m",)])`` (NumPy keeps this parsed on the
    vectorize object; this is the fallback)."""
    def dims(side):
        return [tuple(d for d in g.split(",") if d) for g in re.findall(r"\(([^()]*)\)", side)]
    ins, outs = signature.replace(" ", "").split("->")
    return dims(ins), dims(outs)


# ---------------------------------------------------------------------------------- np.frompyfunc
def _python_ufunc(ufunc, inputs, result):
    """A ``np.frompyfunc`` ufunc called with a tracked input (``result``: NumPy's object-array
    evaluation on the raw data, already computed by the dispatch)."""
    results = result if isinstance(result, tuple) else (result,)
    expected = [_numeric(r) for r in results]
    if any(e is None or e.dtype.kind not in "fc" for e in expected):
        if any(e is None for e in expected):
            return wrap_untracked(result)
        return wrap_untracked(tuple(expected) if ufunc.nout > 1 else expected[0])
    shape = np.broadcast_shapes(*[np.shape(_raw_nested(x)) for x in inputs])

    def on_whole(*args):
        out = ufunc(*[_object_scalar(a) for a in args])
        outs = out if isinstance(out, tuple) else (out,)
        outs = tuple(o[()] if isinstance(o, np.ndarray) and o.dtype == object and o.ndim == 0
                     else o for o in outs)
        return outs if ufunc.nout > 1 else outs[0]

    whole = _try_whole(on_whole, list(inputs), shape)
    if whole is not None and all(_agrees(o, e) for o, e in zip(whole[0], expected)):
        final = tuple(_finish(o, e.dtype) for o, e in zip(whole[0], expected))
        return final if ufunc.nout > 1 else final[0]

    def dtypes(items):                              # every element counts (NumPy: object arrays)
        return [np.result_type(*[_dtype_of(v) for v in it]) for it in items]

    return _map(ufunc, [_elements(x) for x in inputs], shape, ufunc.nout, dtypes)


bind_upper(python_ufunc=_python_ufunc)


# ---------------------------------------------------------------------------------- np.piecewise
class _TrackedPiece(Exception):
    """A piece of a plain-``x`` np.piecewise returned a GradArray: redo the call on GradArrays."""


def _probe(func):
    if not callable(func):
        return func

    def probed(*args, **kwargs):
        value = func(*args, **kwargs)
        if type(value) is GradArray or (isinstance(value, (list, tuple)) and holds_gradarray(value)):
            raise _TrackedPiece
        return value
    return probed


def _install_piecewise():
    original = np.piecewise
    if getattr(original, "__gradarray_original__", None) is not None:
        return

    @functools.wraps(original)
    def piecewise(x, condlist, funclist, *args, **kw):
        if type(x) is not GradArray and (holds_gradarray((condlist, funclist) + args)
                                         or (kw and holds_gradarray(kw.values()))):
            x = asarray(x)                           # the composite sees the tracked constants
        if type(x) is GradArray or not hasattr(funclist, "__len__"):
            return original(x, condlist, funclist, *args, **kw)
        try:
            return original(x, condlist, [_probe(f) for f in funclist], *args, **kw)
        except _TrackedPiece:
            return original(asarray(x), condlist, funclist, *args, **kw)

    piecewise.__gradarray_original__ = original
    # what gradarray.coverage reads: a dispatched NumPy function with the composite of the original
    piecewise._implementation = original._implementation
    IMPLEMENTATIONS[piecewise] = IMPLEMENTATIONS[original]
    np.piecewise = piecewise


_install_piecewise()
