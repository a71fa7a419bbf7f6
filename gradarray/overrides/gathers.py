"""Rules for gathers, selections and in-place scatters: each output element is a copy of one input
element, or values are written into a target array.

- *Gathers* (take, take_along_axis, repeat, tile, delete, resize, compress, extract, insert, pad,
  choose): the composite runs the NumPy function on the *flat positions*
  ``arange(x.size).reshape(x.shape)`` to learn which element each output copies, then gathers with
  ``take_index``; its adjoint ``scatter_index`` sums ``g`` over repeated positions. One code path,
  exact NumPy semantics (modes, broadcasting, negative indices), every order of derivative.
- *Selections* (where, select): ``where`` is a primitive whose condition is kept raw (it carries no
  gradient); ``select`` is a chain of ``where``. ``trim_zeros`` slices the non-zero bounding box.
- *In-place scatters* (put, place, putmask, copyto, put_along_axis, fill_diagonal): the adjoint of a
  gather, written into the target through ``indexing.setitem``, which rewires its history.

Owns: these rules. Must not know about: how reshapes, views and joins are differentiated (``shape``,
whose position and lifting helpers it uses) or how ``setitem`` records a write (``indexing``).
"""
from __future__ import annotations

import numpy as np

from .. import _backend
from .._array import GradArray, _make
from .._registry import Primitive, defvjp, implements
from .._gradients import MaskedGradient
from .indexing import setitem, take_index
from .shape import _axes_tuple, _finish, _gather, _like, _lift, _positions, _raw, _to_backend


# ------------------------------------------------------------------------------------ selection
def _where(condition, x, y):
    return np.where(condition, x, y)


def _branch_grad(g, condition, taken):
    """The gradient of the branch ``taken`` where ``condition == taken``; on raw gradients a
    MaskedGradient, so that the branch's singular derivatives where it was discarded stay out
    (``np.where(r > 0, 1 / r, 0)`` at r == 0 has gradient 0, not nan)."""
    keep = condition if taken else np.logical_not(condition)
    values = np.where(keep, g, 0)
    if type(g) is GradArray:                    # create_graph: a recorded call
        return values
    return MaskedGradient(values, np.broadcast_to(keep, values.shape))


where_primitive = Primitive(_where)
defvjp(where_primitive, None,
       lambda g, ans, condition, x, y: _branch_grad(g, condition, True),
       lambda g, ans, condition, x, y: _branch_grad(g, condition, False), save="none")


@implements(np.where)
def _np_where(condition, x=None, y=None, /):
    if x is None and y is None:
        return np.nonzero(condition)
    if x is None or y is None:
        raise ValueError("either both or neither of x and y should be given")
    # the condition is kept raw: it is saved by the node (x and y are not)
    return where_primitive(_to_backend(_raw(condition), _like(x, y)), x, y)


@implements(np.select)
def _select(condlist, choicelist, default=0):
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    if not condlist:
        raise ValueError("select with an empty condition list is not possible")
    like = _like(*choicelist, *condlist)
    result = _lift(default, like)
    # the first condition that holds wins: apply them from the last to the first
    for cond, choice in zip(reversed(condlist), reversed(choicelist)):
        cond = _raw(cond)
        if getattr(cond, "dtype", np.dtype(bool)) != np.bool_:
            raise TypeError("invalid entry in condlist: should be boolean ndarray")
        result = np.where(cond, choice, result)
    dtype = np.result_type(*[_raw(c) for c in choicelist], _raw(default))
    return result if result.dtype == dtype else result.astype(dtype)


def _joint_positions(arrays, like):
    """Flat positions into ``concatenate([ravel(a) for a in arrays])``, one block per array."""
    blocks, offset = [], 0
    for a in arrays:
        blocks.append(_positions(a.shape, like) + offset)
        offset += a.size
    return blocks


@implements(np.choose)
def _choose(a, choices, out=None, mode="raise"):
    like = _like(a, *choices)
    choices = [_lift(c, like) for c in choices]
    index = np.choose(_to_backend(_raw(a), like), _joint_positions(choices, like), mode=mode)
    source = np.concatenate([np.reshape(c, -1) for c in choices])
    return _finish(take_index(source, index), out)


def _gather_composite(func, n_before=0):
    """``func(x, ...)`` that copies elements of ``x`` (argument ``n_before``): run it on positions."""
    def impl(*args, **kwargs):
        out = kwargs.pop("out", None)
        args = list(args)
        x = args[n_before]
        like = _like(x)
        x = _lift(x, like)
        raw_args = [_to_backend(_raw(a), like) for a in args]
        raw_args[n_before] = _positions(x.shape, like)
        index = func(*raw_args, **{k: _to_backend(_raw(v), like) for k, v in kwargs.items()})
        return _finish(_gather(x, index), out)
    impl.__name__ = func.__name__
    return impl


for _f in (np.take, np.take_along_axis, np.repeat, np.tile, np.delete, np.resize):
    implements(_f)(_gather_composite(_f))
for _f in (np.compress, np.extract):
    implements(_f)(_gather_composite(_f, n_before=1))


@implements(np.insert)
def _insert(arr, obj, values, axis=None):
    # run np.insert on positions: those of ``arr``, then those of ``values`` after them; NumPy's own
    # broadcasting of ``values`` then tells which value each inserted element copies. The positions
    # live on the host (CuPy has no insert); the index map then moves to the data's device.
    like = _like(arr, values)
    arr = _lift(arr, like)
    values = _lift(values, like)
    if values.dtype != arr.dtype:
        values = values.astype(arr.dtype)
    pos_arr, pos_values = _joint_positions([arr, values], np.empty(0, dtype=np.intp))
    index = np.insert(pos_arr, _backend.to_host(_raw(obj)) if hasattr(obj, "shape") else obj,
                      pos_values, axis=axis)
    index = _backend.to_device(index, arr.device)
    return take_index(np.concatenate([np.reshape(arr, -1), np.reshape(values, -1)]), index)


_GATHER_PAD_MODES = ("edge", "reflect", "symmetric", "wrap")


def _pad_constant(array, pad_width, constant_values):
    return np.pad(array, pad_width, mode="constant", constant_values=constant_values)


def _pad_constant_vjp(g, ans, array, pad_width, constant_values):
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.intp), (array.ndim, 2))
    return g[tuple(slice(int(lo), int(lo) + n) for (lo, _), n in zip(widths, array.shape))]


pad_constant = Primitive(_pad_constant)
defvjp(pad_constant, _pad_constant_vjp, save="none")


@implements(np.pad)
def _pad(array, pad_width, mode="constant", **kwargs):
    array = _lift(array, _like(array))
    pad_width = _raw(pad_width)
    if mode == "constant":
        values = kwargs.get("constant_values", 0)
        if type(values) is GradArray and values.requires_grad:
            raise TypeError("np.pad: a tracked constant_values has no gradient rule in gradarray")
        return pad_constant(array, pad_width, _raw(values))
    if mode in _GATHER_PAD_MODES and kwargs.get("reflect_type", "even") == "even":
        index = np.pad(_positions(array.shape, _like(array)), pad_width, mode=mode, **kwargs)
        return _gather(array, index)
    if not array.requires_grad:
        return _make(np.pad(array._data, pad_width, mode=mode, **kwargs))
    raise TypeError(f"np.pad(mode={mode!r}, {kwargs}) has no gradient rule in gradarray (supported: "
                    "'constant', 'edge', 'reflect', 'symmetric', 'wrap' with reflect_type='even')")


# ---------------------------------------------------------------------------------- in-place writes
def _check_target(a, name):
    if type(a) is not GradArray:
        raise TypeError(f"np.{name}: the target array must be a GradArray when values are tracked")


def _cyclic(values, n, like):
    """``values`` flattened and repeated cyclically to ``n`` elements (NumPy's put/place rule)."""
    flat = np.reshape(_lift(values, like), -1)
    if flat.size == n:
        return flat
    return take_index(flat, np.arange(n, like=like) % flat.size)


@implements(np.put)
def _put(a, ind, v, mode="raise"):
    _check_target(a, "put")
    like = a._data
    ind = np.reshape(np.asarray(_raw(ind), like=like), -1).astype(np.intp)
    n = a.size
    if mode == "wrap":
        ind = ind % n
    elif mode == "clip":
        ind = np.clip(ind, 0, n - 1)
    elif ((ind < -n) | (ind >= n)).any():
        raise IndexError(f"index out of range for array of size {n}")
    if ind.size == 0:
        return None
    setitem(a, np.unravel_index(ind % n, a.shape), _cyclic(v, ind.size, like))
    return None


@implements(np.place)
def _place(arr, mask, vals):
    _check_target(arr, "place")
    mask = np.reshape(np.asarray(_raw(mask), like=arr._data).astype(bool), arr.shape)
    n = int(np.count_nonzero(mask))
    if n:
        setitem(arr, mask, _cyclic(vals, n, arr._data))


@implements(np.putmask)
def _putmask(a, /, mask, values):
    _check_target(a, "putmask")
    mask = np.reshape(np.asarray(_raw(mask), like=a._data).astype(bool), a.shape)
    # values repeat cyclically over the flat positions of ``a`` (not over the masked elements)
    flat_positions = np.flatnonzero(mask)
    values = np.reshape(_lift(values, a._data), -1)
    setitem(a, mask, take_index(values, flat_positions % values.size))


@implements(np.copyto)
def _copyto(dst, src, casting="same_kind", where=True):
    like = _like(dst, src)
    src = _lift(src, like)
    if not np.can_cast(src.dtype, dst.dtype, casting=casting):
        raise TypeError(f"Cannot cast array data from {src.dtype} to {dst.dtype} according to the "
                        f"rule {casting!r}")
    if type(dst) is not GradArray:                  # a plain array receives the values only
        if where is True:        # cupy.copyto reads where=None as "everywhere"
            np.copyto(dst, src._data, casting=casting)
        else:
            np.copyto(dst, src._data, casting=casting, where=_raw(where))
        return
    if where is not True:
        src = np.where(_to_backend(_raw(where), like), src, dst)
    setitem(dst, Ellipsis, np.broadcast_to(src, dst.shape))


@implements(np.put_along_axis)
def _put_along_axis(arr, indices, values, axis):
    _check_target(arr, "put_along_axis")
    like = arr._data
    indices = _to_backend(_raw(indices), like)
    if axis is None:
        target = np.take_along_axis(np.reshape(_positions(arr.shape, like), -1), indices, 0)
    else:
        target = np.take_along_axis(_positions(arr.shape, like), indices, axis)
    setitem(arr, np.unravel_index(target, arr.shape), values)


@implements(np.fill_diagonal)
def _fill_diagonal(a, val, wrap=False):
    _check_target(a, "fill_diagonal")
    mask = np.zeros_like(a._data, dtype=bool)
    np.fill_diagonal(mask, True, wrap=wrap)
    positions = np.flatnonzero(mask)           # the diagonal, in order: values repeat cyclically
    if positions.size:
        setitem(a, np.unravel_index(positions, a.shape), _cyclic(val, positions.size, a._data))


@implements(np.trim_zeros)
def _trim_zeros(filt, trim="fb", axis=None):
    """Slice away leading/trailing zeros: the bounding box of the non-zero values along ``axis``."""
    raw = _raw(filt)
    trim = trim.lower()
    index = []
    axes = _axes_tuple(axis, raw.ndim)
    for ax in range(raw.ndim):
        if ax not in axes:
            index.append(slice(None))
            continue
        others = tuple(i for i in range(raw.ndim) if i != ax)
        nz = np.flatnonzero(np.any(raw != 0, axis=others) if others else raw != 0)
        if nz.size == 0:
            index.append(slice(0, 0))
            continue
        start = int(nz[0]) if "f" in trim else 0
        stop = int(nz[-1]) + 1 if "b" in trim else raw.shape[ax]
        index.append(slice(start, stop))
    return _lift(filt, _like(filt))[tuple(index)]
