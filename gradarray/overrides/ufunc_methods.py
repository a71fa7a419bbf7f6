"""Ufunc calls with ``out=`` / ``where=`` / ``dtype=``, and functions called with ``out=``.

In-place semantics: the result is computed out of place (and recorded), then written into ``out``
through ``setitem`` — which bumps the version counter and rewires ``out``'s history, so that
``x += y``, ``np.add(a, b, out=x)`` and ``np.exp(x, out=x)`` all keep correct gradients. When ``out``
is also an input whose value the rule needs (``x *= y``), that input is copied first, so the saved
value is the one from before the write.
"""
from __future__ import annotations

import operator

import numpy as np
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from .._array import GradArray, wrap_untracked
from .._backend import is_host_array, to_host
from .._dispatch import _missing_rule, apply_ufunc
from .._modes import _state
from .._registry import Primitive, defvjp, implements_ufunc_method
from .._tables import IMPLEMENTATIONS, NONDIFFERENTIABLE, RULES, bind_upper
from .._versions import note_write
from .indexing import add_at, raw_index, scatter_index, setitem

_FORWARD_ONLY = ("dtype", "casting", "order", "subok")


def _normalise_out(out):
    if out is None:
        return None
    if type(out) is not tuple:
        out = (out,)
    if all(o is None for o in out):
        return None
    return out


def _write_into(target, result):
    """Store ``result`` into ``target`` (a GradArray or a plain array) and return what to hand back."""
    if type(target) is GradArray:
        setitem(target, Ellipsis, result)
        return target
    # a plain ndarray out (``ndarray += GradArray``): its values are written; the tape continues
    # through the returned GradArray, which Python binds to the augmented-assignment target
    target[...] = result._data if type(result) is GradArray else result
    return result if type(result) is GradArray and result.requires_grad else target


def ufunc_call_with_kwargs(ufunc, inputs, kwargs):
    kwargs = dict(kwargs)
    out = _normalise_out(kwargs.pop("out", None))
    where = kwargs.pop("where", True)
    core = {k: kwargs.pop(k) for k in _CORE_KEYWORDS if k in kwargs}
    unknown = [k for k in kwargs if k not in _FORWARD_ONLY]
    tracked = any(type(x) is GradArray and x.requires_grad for x in inputs)
    if out is not None:
        rule = RULES.get(ufunc)
        if rule is not None and rule.save_args:
            out_ids = {id(o) for o in out if type(o) is GradArray}
            inputs = tuple(np.copy(x) if type(x) is GradArray and id(x) in out_ids else x
                           for x in inputs)
    # on device data too: the backend may lack the gufunc (CuPy has no vecdot, matvec, vecmat), and
    # the calls gufunc_core_axes makes go through gradarray, which has composites for those
    on_device = any(type(x) is GradArray and not is_host_array(x._data) for x in inputs)
    if (tracked or on_device) and core and not unknown and ufunc.signature is not None:
        result = gufunc_core_axes(ufunc, inputs, core, kwargs, where)
    elif unknown or core:
        if tracked:
            raise TypeError(f"np.{ufunc.__name__}: the keyword(s) {', '.join(unknown or core)} are "
                            "not supported with gradient tracking")
        raw_inputs = [x._data if type(x) is GradArray else x for x in inputs]
        if where is not True:       # also passed on, so that NumPy refuses it where it should
            kwargs["where"] = where._data if type(where) is GradArray else where
        result = wrap_untracked(ufunc(*raw_inputs, **core, **kwargs))
    else:
        result = apply_ufunc(ufunc, inputs, kwargs)
    if where is not True:
        where = where._data if type(where) is GradArray else where
        results = result if type(result) is tuple else (result,)
        olds = out if out is not None else (0,) * len(results)
        # NumPy leaves positions where ``where`` is False untouched (uninitialised without out=)
        masked = tuple(np.where(where, r, o if o is not None else 0) for r, o in zip(results, olds))
        result = masked if type(result) is tuple else masked[0]
    if out is None:
        return result
    results = result if type(result) is tuple else (result,)
    written = tuple(r if o is None else _write_into(o, r) for o, r in zip(out, results))
    return written if len(written) > 1 else written[0]


# ------------------------------------------------------------------ generalized ufuncs: axes, axis,
# keepdims. The rules of matmul, vecdot, matvec and vecmat take the core dimensions last; these
# keywords only say where else they are, so moving them there and back (np.moveaxis, recorded) gives
# the same values and a gradient made of the rule and transpositions.
_CORE_KEYWORDS = ("axes", "axis", "keepdims")


def _signature_operands(signature):
    """'(n?,k),(k,m?)->(n?,m?)' -> ([['n?', 'k'], ['k', 'm?']], [['n?', 'm?']])."""
    def operands(part):
        return [[d for d in group.split(",") if d] for group in part[1:-1].split("),(")]
    inputs, outputs = signature.replace(" ", "").split("->")
    return operands(inputs), operands(outputs)


def _as_axes_tuple(entry):
    return (operator.index(entry),) if isinstance(entry, (int, np.integer)) else tuple(entry)


def gufunc_core_axes(ufunc, inputs, core, kwargs, where=True):
    """``ufunc(*inputs, **core, **kwargs)`` for a generalized ufunc, with ``core`` holding axes=,
    axis= and/or keepdims=, as recorded calls: each input's core dimensions are moved to the end,
    the ufunc is called without these keywords, and the output's core dimensions are moved to the
    places ``axes``/``axis`` give (with keepdims, the reduced dimensions come back with size 1, at
    the end unless axes/axis place them)."""
    ref = next(x for x in inputs if type(x) is GradArray)
    inputs = [x if type(x) is GradArray or np.ndim(x) == 0 else np.asarray(x, like=ref._data)
              for x in inputs]
    # NumPy checks the keywords itself on empty arrays of the same ranks: cheap, and its own errors
    dry = [np.empty((0,) * np.ndim(x), dtype=x.dtype if hasattr(x, "dtype") else np.result_type(x))
           for x in inputs]
    ufunc(*dry, **core, **kwargs, **({} if where is True else {"where": True}))
    in_names, out_names = _signature_operands(ufunc.signature)
    if len(out_names) != 1:
        raise TypeError(f"np.{ufunc.__name__}: axes/axis/keepdims are supported with gradient "
                        "tracking for single-output gufuncs only")
    # optional dimensions (matmul's n?, m?) are absent from an operand with too few dimensions
    in_core = [names if np.ndim(x) >= len(names) else [d for d in names if not d.endswith("?")]
               for x, names in zip(inputs, in_names)]
    present = {d for names in in_core for d in names}
    if core.get("keepdims"):
        out_core = len(in_core[0])
    else:
        out_core = len([d for d in out_names[0] if d in present])
    if "axes" in core:
        entries = [_as_axes_tuple(e) for e in core["axes"]]
        in_axes = entries[:len(inputs)]
        out_axes = entries[len(inputs)] if len(entries) > len(inputs) else tuple(range(-out_core, 0))
    elif "axis" in core:
        axis = operator.index(core["axis"])
        in_axes = [(axis,) if len(names) == 1 else () for names in in_core]
        out_axes = (axis,) * out_core
    else:
        in_axes = [tuple(range(-len(names), 0)) for names in in_core]
        out_axes = tuple(range(-out_core, 0))
    moved = [np.moveaxis(x, axes, tuple(range(-len(axes), 0))) if axes else x
             for x, axes in zip(inputs, in_axes)]
    result = ufunc(*moved, **kwargs)
    if core.get("keepdims"):
        result = np.expand_dims(result, tuple(range(-out_core, 0)))
    if out_axes:
        result = np.moveaxis(result, tuple(range(-out_core, 0)), out_axes)
    return result


def function_with_out(func, args, kwargs):
    """``np.func(..., out=o)``: compute out of place, then write into ``o``."""
    kwargs = dict(kwargs)
    out = kwargs.pop("out")
    result = func(*args, **kwargs)
    if type(out) is tuple:
        return tuple(_write_into(o, r) for o, r in zip(out, result))
    return _write_into(out, result)


# ==================================================================================================
# ufunc methods: reduce, accumulate, outer, at, reduceat
#
# Differentiable ufuncs go through the dedicated NumPy functions where gradarray has their rules
# (add.reduce -> np.sum, multiply.accumulate -> np.cumprod, ...), and otherwise through composites of
# recorded calls (a sequential fold of the binary ufunc over the axis). Non-differentiable ufuncs
# (logical_or.reduce, bitwise_or.accumulate, ...) and untracked inputs compute untracked.
# ==================================================================================================

_NOT_GIVEN = object()


def _raw(x):
    return x._data if type(x) is GradArray else x


def _needs_tape(ufunc, method, arrays):
    """True when the call must be recorded; raises for a tracked input to a ufunc without a rule."""
    if not getattr(_state, "enabled", True):
        return False
    if not any(type(x) is GradArray and x._requires_grad for x in arrays):
        return False
    if ufunc in NONDIFFERENTIABLE:
        return False
    if ufunc not in RULES:
        raise _missing_rule(ufunc, f"np.{ufunc.__name__}.{method}")
    return True


# The ufunc methods CuPy implements itself (CuPy 13 and 14: reduce and accumulate only for add and
# multiply, reduceat only for add, at only for these seven; tests/test_cupy_oracle.py checks this
# table against the installed CuPy). Any other method call on device data is computed
# by the composites below, which use plain ufunc calls only, even when nothing is tracked.
_NATIVE_ON_DEVICE = {
    "reduce": {np.add, np.multiply},
    "accumulate": {np.add, np.multiply},
    "reduceat": {np.add},
    "at": {np.add, np.subtract, np.maximum, np.minimum, np.bitwise_and, np.bitwise_or,
           np.bitwise_xor},
}


def _on_device(x):
    """True for a device array (or a GradArray holding one); False for host data, lists, scalars."""
    raw = _raw(x)
    return hasattr(raw, "shape") and not is_host_array(raw)


def _native(ufunc, method, x):
    """True when ``ufunc.method`` can run on ``x``'s backend as it is."""
    return not _on_device(x) or ufunc in _NATIVE_ON_DEVICE[method]


def _detached(x):
    """``x`` as a GradArray that records nothing (for the composites on untracked data)."""
    return x.detach() if type(x) is GradArray else wrap_untracked(x)


def _untracked(ufunc, method, inputs, kwargs):
    """Run ``ufunc.method`` on raw data; an ``out=`` GradArray is written through ``setitem``."""
    kwargs = dict(kwargs)
    out = _normalise_out(kwargs.pop("out", None))
    raw_kwargs = {k: _raw(v) for k, v in kwargs.items()}
    result = wrap_untracked(getattr(ufunc, method)(*[_raw(x) for x in inputs], **raw_kwargs))
    return _finish(result, out)


def _finish(result, out):
    if out is None or out[0] is None:
        return result
    return _write_into(out[0], result)


def _has_rule(func):
    return func in RULES or func in IMPLEMENTATIONS


def _given(**kwargs):
    """The keyword arguments the caller actually passed (NumPy's defaults differ between functions)."""
    return {k: v for k, v in kwargs.items() if v is not _NOT_GIVEN}


def _axis_index(ndim, axis, i):
    """Index selecting position ``i`` (int or slice) along ``axis``."""
    return (slice(None),) * (axis % ndim) + (i,)


def _single_axis(method, axis, ndim):
    """The one axis of accumulate/reduceat, checked as NumPy does (None means every axis)."""
    if ndim == 0:
        raise TypeError(f"cannot {method} on a scalar")
    if axis is None or isinstance(axis, (tuple, list)):
        axes = range(ndim) if axis is None else axis
        if len(axes) != 1:
            raise ValueError(f"{method} does not allow multiple axes")
        axis = axes[0]
    return normalize_axis_index(axis, ndim)


# ------------------------------------------------------------------------------------------ reduce
_REDUCTIONS = {np.add: np.sum, np.multiply: np.prod, np.maximum: np.max, np.minimum: np.min}


@implements_ufunc_method("reduce")
def ufunc_reduce(ufunc, array, axis=0, dtype=None, out=None, keepdims=False, initial=_NOT_GIVEN,
                 where=True):
    on_host = not _on_device(array)
    if not _needs_tape(ufunc, "reduce", (array, initial)):
        # CuPy's add/multiply.reduce take neither initial= nor where=
        if on_host or (_native(ufunc, "reduce", array) and initial is _NOT_GIVEN and where is True):
            return _untracked(ufunc, "reduce", (array,), _given(        # where=True: not passed
                axis=axis, dtype=dtype, out=out, keepdims=keepdims, initial=initial,
                where=_NOT_GIVEN if where is True else where))
        array = _detached(array)
    out = _normalise_out(out)
    if dtype is not None:
        array = array.astype(dtype)
    extra = _given(initial=initial, where=where if where is not True else _NOT_GIVEN)
    func = _REDUCTIONS.get(ufunc)
    if func is not None and _has_rule(func) and (on_host or not extra):
        result = func(array, axis=axis, keepdims=keepdims, **extra)
    elif func is not None and _has_rule(func):
        result = _reduce_without_keywords(ufunc, func, array, axis, keepdims, initial, where)
    elif ufunc in (np.logaddexp, np.logaddexp2) and where is True and _has_rule(np.sum):
        result = _logaddexp_reduce(ufunc, array, axis, keepdims, initial)
    else:
        result = _fold_reduce(ufunc, array, axis, keepdims, initial, where)
    return _finish(result, out)


def _reduce_without_keywords(ufunc, func, x, axis, keepdims, initial, where):
    """``func(x, axis, keepdims, initial=, where=)`` for a backend whose sum/prod/max/min take
    neither keyword (CuPy): masked-out entries are replaced by the identity (or ``initial``), and
    ``initial`` joins the result through one more call of the ufunc. (Unlike NumPy, a max/min over an
    empty axis still raises, even with ``initial``.)"""
    if where is not True:
        fill = initial if ufunc.identity is None else ufunc.identity   # max/min: initial is idempotent
        if fill is _NOT_GIVEN:
            raise ValueError(f"reduction operation '{ufunc.__name__}' does not have an identity, so "
                             "to use a where mask one has to specify 'initial'")
        x = np.where(_raw(where), x, fill)
    result = func(x, axis=axis, keepdims=keepdims)
    return result if initial is _NOT_GIVEN else ufunc(result, initial)


def _logaddexp_reduce(ufunc, x, axis, keepdims, initial):
    """log(sum(exp(x))) shifted by the (untracked) maximum, which cancels in the gradient."""
    exp, log = (np.exp, np.log) if ufunc is np.logaddexp else (np.exp2, np.log2)
    m = np.max(x.detach(), axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)                  # all -inf (or inf) slices: no shift
    result = log(np.sum(exp(x - m), axis=axis, keepdims=keepdims))
    result = result + (m if keepdims else np.reshape(m, result.shape))
    return result if initial is _NOT_GIVEN else ufunc(initial, result)


def _fold_reduce(ufunc, x, axis, keepdims, initial, where):
    """ufunc.reduce as a left fold of recorded binary calls: ((x0 op x1) op x2) ..."""
    if where is not True:
        raise TypeError(f"np.{ufunc.__name__}.reduce with where= is not supported with gradient "
                        "tracking")
    ndim = x.ndim
    if axis is None or (ndim == 0 and isinstance(axis, (int, np.integer)) and axis in (0, -1)):
        axes = range(ndim)                  # (NumPy reduces a 0-d array over axis 0 or -1)
    else:
        axes = normalize_axis_tuple(axis, ndim)
    axes = sorted(axes, reverse=True)
    out_shape = tuple(1 if d in axes else s for d, s in enumerate(x.shape))
    acc = x
    start = initial if len(axes) == 1 else _NOT_GIVEN
    for ax in axes:
        n = acc.shape[ax]
        folded = start
        for i in range(n):
            item = acc[_axis_index(acc.ndim, ax, i)]
            folded = item if folded is _NOT_GIVEN else ufunc(folded, item)
        if folded is _NOT_GIVEN:                         # empty axis: the identity
            if ufunc.identity is None:
                raise ValueError(f"zero-size reduction of np.{ufunc.__name__} without an identity")
            folded = np.zeros_like(np.sum(acc.detach(), axis=ax)) + ufunc.identity
        acc = folded
    if initial is not _NOT_GIVEN and len(axes) != 1:
        acc = ufunc(initial, acc)
    return np.reshape(acc, out_shape) if keepdims else acc


# ------------------------------------------------------------------------------------- accumulate
_ACCUMULATIONS = {np.add: np.cumsum, np.multiply: np.cumprod}


@implements_ufunc_method("accumulate")
def ufunc_accumulate(ufunc, array, axis=0, dtype=None, out=None):
    if not _needs_tape(ufunc, "accumulate", (array,)):
        if _native(ufunc, "accumulate", array):
            return _untracked(ufunc, "accumulate", (array,), _given(axis=axis, dtype=dtype, out=out))
        array = _detached(array)
    out = _normalise_out(out)
    axis = _single_axis("accumulate", axis, array.ndim)
    if dtype is not None:
        array = array.astype(dtype)
    func = _ACCUMULATIONS.get(ufunc)
    if func is not None and _has_rule(func):
        result = func(array, axis=axis)
    elif ufunc in (np.maximum, np.minimum, np.fmax, np.fmin):
        result = running_extreme(array, ufunc, axis)
    else:
        result = _fold_accumulate(ufunc, array, axis)
    return _finish(result, out)


def _fold_accumulate(ufunc, x, axis):
    """out[i] = ufunc(out[i-1], x[i]), each step recorded, written into a fresh array."""
    result = np.zeros_like(x.detach())
    acc = None
    for i in range(x.shape[axis]):
        index = _axis_index(x.ndim, axis, i)
        acc = x[index] if acc is None else ufunc(acc, x[index])
        result[index] = acc
    return result


def _running_extreme(x, ufunc, axis):
    """``ufunc.accumulate(x, axis)`` for an associative binary ufunc (maximum, minimum, fmax, fmin),
    with plain ufunc calls only (CuPy has no ``maximum.accumulate``): a doubling scan, where after
    the step with shift s every out[i] combines x[i-2s+1 .. i] (log2(n) steps of whole-array calls).
    """
    if x.ndim == 0:                   # NumPy's own error
        return ufunc.accumulate(x, axis=axis)
    axis = axis % x.ndim
    out = np.copy(x)
    n = x.shape[axis]
    shift = 1
    while shift < n:
        later = _axis_index(x.ndim, axis, slice(shift, None))
        earlier = _axis_index(x.ndim, axis, slice(None, n - shift))
        out[later] = ufunc(out[later], out[earlier])     # the right side is computed before the write
        shift *= 2
    return out


def _running_extreme_vjp(g, ans, x, ufunc, axis):
    """out[i] is x[j] for the position j <= i where the running extreme was first attained (ties
    keep the earlier position, like argmax): the gradient of out[i] goes to x[j]."""
    x, ans = _raw(x), _raw(ans)
    axis = axis % x.ndim
    n = x.shape[axis]
    # a new record where the running value changes (and at position 0)
    new = np.ones_like(ans, dtype=bool)
    later, earlier = (ans[_axis_index(x.ndim, axis, slice(1, None))],
                      ans[_axis_index(x.ndim, axis, slice(None, -1))])
    # NaN != NaN: a running NaN (maximum/minimum propagate it) stays the record it first was
    new[_axis_index(x.ndim, axis, slice(1, None))] = (later != earlier) & ~(np.isnan(later) &
                                                                        np.isnan(earlier))
    shape1 = [1] * x.ndim
    shape1[axis] = n
    positions = np.reshape(np.arange(n, like=x), shape1)
    source = _running_extreme(positions * new, np.maximum, axis)    # position of the latest record
    index = tuple(source if d == axis else
                  np.reshape(np.arange(s, like=x), [s if k == d else 1 for k in range(x.ndim)])
                  for d, s in enumerate(x.shape))
    return scatter_index(g, index, x.shape)


running_extreme = Primitive(_running_extreme)
defvjp(running_extreme, _running_extreme_vjp, None, None, save="both")


# ------------------------------------------------------------------------------------------ outer
@implements_ufunc_method("outer")
def ufunc_outer(ufunc, a, b, **kwargs):
    """ufunc.outer(a, b)[i..., j...] = ufunc(a[i...], b[j...]): broadcast a against b."""
    if not _needs_tape(ufunc, "outer", (a, b)):
        return _untracked(ufunc, "outer", (a, b), kwargs)
    b_ndim = np.ndim(_raw(b))
    if np.ndim(_raw(a)) and b_ndim:
        a = a[(Ellipsis,) + (None,) * b_ndim]
    return ufunc(a, b, **kwargs)


# --------------------------------------------------------------------------------------------- at
@implements_ufunc_method("at")
def ufunc_at(ufunc, a, indices, b=None):
    """In place ``ufunc.at(a, indices, b)``: the new value of ``a`` is computed out of place from
    recorded calls and written back with ``setitem`` (so ``a`` must not be a leaf that requires grad).
    """
    operands = (a,) if b is None else (a, b)
    index = raw_index(indices)
    if type(a) is not GradArray:
        if type(b) is GradArray and b._requires_grad and getattr(_state, "enabled", True):
            raise TypeError(f"np.{ufunc.__name__}.at: cannot record a write of a tracked array into "
                            "a plain ndarray; make the target a GradArray (ga.asarray)")
        _raw_at(ufunc, a, index, b)
        return None
    if not getattr(_state, "enabled", True) or not (
            a._requires_grad or (type(b) is GradArray and b._requires_grad)):
        _raw_at(ufunc, a._data, index, b)
        note_write(a._version, a._data)
        return None
    if not _needs_tape(ufunc, "at", operands):       # non-differentiable: overwritten, untracked
        new = np.copy(a._data)
        _raw_at(ufunc, new, index, b)
        setitem(a, Ellipsis, new)
        return None
    if ufunc is np.add or ufunc is np.subtract:
        # a + (b scattered into zeros at index; repeated indices accumulate)
        if type(b) is GradArray and b._requires_grad:
            delta = scatter_index(b, index, a.shape)
        else:
            delta = np.zeros_like(a._data)
            add_at(delta, index, _raw(b))
        new = ufunc(a, delta)
    else:
        new = _sequential_at(ufunc, a, index, b)
    setitem(a, Ellipsis, new)
    return None


def _raw_at(ufunc, target, index, b):
    """``ufunc.at(target, index, b)`` in place on raw data of any backend. On a device array
    ``np.<ufunc>.at`` would be refused for a tuple or list index, for most ufuncs, and for complex
    ``add.at`` (CuPy): ``add_at`` and the sequential composite work everywhere."""
    b = _raw(b)
    if is_host_array(target):
        ufunc.at(target, index, *([] if b is None else [b]))
    elif ufunc is np.add and b is not None:
        add_at(target, index, b)
    else:
        target[...] = _sequential_at(ufunc, target, index, b)


def _sequential_at(ufunc, a, index, b):
    """Unbuffered semantics for any ufunc: an element hit k times is updated k times in order.
    Works on a flat copy of ``a``, one round per repetition (indices are unique within a round)."""
    raw = _raw(a)
    flat_positions = np.reshape(np.arange(raw.size, like=raw), raw.shape)[index]
    flat = np.reshape(flat_positions, (-1,))
    if b is not None and not hasattr(b, "ndim") and not np.isscalar(b):     # a list of values
        b = np.asarray(b, like=raw)
    per_entry = b is not None and getattr(b, "ndim", 0) > 0     # else a scalar shared by all
    if per_entry:
        b = np.reshape(np.broadcast_to(b, flat_positions.shape), (-1,))
    # rank[k] = how many earlier entries of ``flat`` hit the same element
    order = np.argsort(flat, kind="stable")
    sorted_flat = flat[order]
    starts = np.ones_like(sorted_flat, dtype=bool)
    starts[1:] = sorted_flat[1:] != sorted_flat[:-1]
    run_id = np.cumsum(starts) - 1                       # which run of equal entries k belongs to
    run_start = np.flatnonzero(starts)[run_id]           # where that run starts
    rank = np.empty_like(flat)
    rank[order] = np.arange(flat.size, like=raw) - run_start
    current = np.copy(np.reshape(a, (-1,)))
    for r in range(int(rank.max()) + 1 if flat.size else 0):
        which = np.nonzero(rank == r)[0]
        where = flat[which]
        # a copy: what the ufunc's rule saves must not be the memory written just below
        taken = np.copy(current[where])
        args = (taken,) if b is None else (taken, b[which] if per_entry else b)
        current[where] = ufunc(*args)
    return np.reshape(current, a.shape)


# --------------------------------------------------------------------------------------- reduceat
@implements_ufunc_method("reduceat")
def ufunc_reduceat(ufunc, array, indices, axis=0, dtype=None, out=None):
    """out[k] = ufunc.reduce(array[indices[k]:indices[k+1]]) (just array[indices[k]] when
    indices[k] >= indices[k+1]); add.reduceat is a gather followed by a segment scatter-add."""
    if not _needs_tape(ufunc, "reduceat", (array,)):
        # on a device, CuPy's add.reduceat also needs the indices there (a list is refused)
        if _native(ufunc, "reduceat", array) and (not _on_device(array) or _on_device(indices)):
            return _untracked(ufunc, "reduceat", (array, indices),
                              _given(axis=axis, dtype=dtype, out=out))
        array = _detached(array)
    out = _normalise_out(out)
    if dtype is not None:
        array = array.astype(dtype)
    raw = array._data
    axis = _single_axis("reduceat", axis, array.ndim)
    n = array.shape[axis]
    starts = np.asarray(to_host(_raw(indices)) if hasattr(_raw(indices), "shape") else indices,
                        dtype=np.intp)
    ends = np.append(starts[1:], n)
    ends = np.where(ends > starts, ends, starts + 1)     # an empty or reversed segment: one element
    if ufunc is np.add:
        lengths = ends - starts
        segment = np.repeat(np.arange(starts.size), lengths)
        position = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths) \
            + np.repeat(starts, lengths)
        segment = np.asarray(segment, like=raw)
        position = np.asarray(position, like=raw)
        picked = array[_axis_index(array.ndim, axis, position)]
        shape = list(array.shape)
        shape[axis] = starts.size
        result = scatter_index(picked, _axis_index(array.ndim, axis, segment), tuple(shape))
    else:
        # one reduce per segment, written into a fresh array
        shape = list(array.shape)
        shape[axis] = starts.size
        result = np.zeros_like(array.detach(), shape=tuple(shape))
        for k, (s, e) in enumerate(zip(starts.tolist(), ends.tolist())):
            result[_axis_index(array.ndim, axis, k)] = ufunc_reduce(
                ufunc, array[_axis_index(array.ndim, axis, slice(s, e))], axis=axis)
    return _finish(result, out)


bind_upper(ufunc_with_kwargs=ufunc_call_with_kwargs, function_with_out=function_with_out)
