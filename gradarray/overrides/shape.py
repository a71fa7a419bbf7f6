"""Rules for shape manipulation, joining, splitting, gathering and in-place writes.

Three patterns cover the family:

- *Permutations and reshapes* (reshape, transpose, moveaxis, flip, roll, ...): the VJP applies the
  inverse operation to ``g``. Those that return views also record which array they view, so that a
  write into the view (``x.T[0] = y``) rewires the base array's history (see ``indexing.setitem``).
- *Gathers* (take, repeat, tile, pad, choose, delete, insert, ...): every output element is a copy of
  one input element. The composite runs the NumPy function on the *flat positions*
  ``arange(x.size).reshape(x.shape)`` to learn which element each output copies, then gathers with
  ``take_index``; its adjoint ``scatter_index`` sums ``g`` over repeated positions. One code path,
  exact NumPy semantics (modes, broadcasting, negative indices), every order of derivative.
- *Scatters* (diag of a vector, put, place, putmask, copyto, put_along_axis): the adjoint of a
  gather; the in-place ones write through ``setitem``.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from .. import _backend
from .._core import IMPLEMENTATIONS, RULES, GradArray, _make, apply_function
from .._registry import Primitive, defvjp, implements, nondifferentiable
from .indexing import scatter_index, set_view_of, setitem, take_index
from .ufunc_methods import _write_into


# ------------------------------------------------------------------------------------------ helpers
def _raw(x):
    """The raw backend array of a GradArray (index arrays and masks carry no gradient)."""
    return x._data if type(x) is GradArray else x


def _shape(a):
    """Shape of an argument as the VJP sees it: array, ShapeDtype placeholder, list or scalar."""
    return a.shape if hasattr(a, "shape") else np.shape(a)


def _like(*arrays):
    """A raw array to create index arrays next to (same backend as the data)."""
    for a in arrays:
        if type(a) is GradArray:
            return a._data
        if hasattr(a, "shape") and hasattr(a, "dtype") and not isinstance(a, np.generic):
            return a
    return np.empty(0)


def _to_backend(a, like):
    """A host index array or mask moved next to device data (CuPy does the same for indices)."""
    if isinstance(a, np.ndarray) and a.ndim > 0 and type(like) is not np.ndarray:
        return np.asarray(a, like=like)
    return a


def _lift(x, like):
    """``x`` as a GradArray (untracked when it was not one) on ``like``'s backend."""
    if type(x) is GradArray:
        return x
    if isinstance(x, np.ndarray) and type(like) is np.ndarray:
        return _make(x)
    return _make(np.asarray(x, like=like))


def _positions(shape, like):
    """``arange(prod(shape)).reshape(shape)``: the flat position of every element."""
    return np.reshape(np.arange(math.prod(shape), like=like), shape)


def _gather(x, index):
    """``ravel(x)[index]`` for a raw integer array ``index`` of flat positions (recorded)."""
    return take_index(np.reshape(x, -1), index)


def _scatter_flat(g, index, shape):
    """Adjoint of :func:`_gather`: zeros of ``shape`` with ``g`` added at the flat positions."""
    return np.reshape(scatter_index(g, index, (math.prod(shape),)), shape)


def _finish(result, out):
    """Honour ``out=`` for composites: write the result into ``out`` through ``setitem``."""
    return result if out is None else _write_into(out, result)


def _normalize_axis(axis, ndim):
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim)
    return axis % ndim


def _axes_tuple(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(_normalize_axis(a, ndim) for a in axis)
    return (_normalize_axis(axis, ndim),)


def _inverse_permutation(axes, ndim):
    if axes is None:
        return None
    inv = [0] * ndim
    for i, a in enumerate(axes):
        inv[a % ndim] = i
    return tuple(inv)


def _record_views(func, inverse):
    """Make ``func`` (already given a ``view=True`` rule) remember what its result views.

    ``inverse(v, *args, **kwargs)`` maps a value of the view's shape back to the base's shape, so
    that after ``view[...] = y`` the base becomes ``inverse(view)``.
    """
    rule = RULES[func]

    def impl(*args, **kwargs):
        out = apply_function(func, rule, args, kwargs)
        base = args[0] if args else None
        if type(out) is GradArray and type(base) is GradArray and out._version is base._version:
            set_view_of(out, base, Ellipsis, lambda v: inverse(v, *args, **kwargs))
        return out

    impl.__name__ = func.__name__
    IMPLEMENTATIONS[func] = impl


# ----------------------------------------------------------------------- reshapes and permutations
def _order(order):
    return order if order in ("C", "F") else "C"


def _reshape_vjp(g, ans, a, shape=None, order="C", **kwargs):
    return np.reshape(g, a.shape, order=_order(order))


defvjp(np.reshape, _reshape_vjp, save="none", view=True)


def _unreshape(v, a, shape=None, order="C", **kwargs):
    return np.reshape(v, a.shape, order=_order(order))


_record_views(np.reshape, _unreshape)

defvjp(np.ravel, lambda g, ans, a, order="C": np.reshape(g, a.shape, order=_order(order)),
       save="none", view=True)


@implements(np.ravel)
def _ravel(a, order="C"):
    # 'K' and 'A' follow the memory layout: read an F-ordered array in F order
    if order in ("K", "A") and a.ndim > 1 and a.flags.f_contiguous and not a.flags.c_contiguous:
        order = "F"
    elif order not in ("C", "F"):
        order = "C"
    out = apply_function(np.ravel, RULES[np.ravel], (a, order), {})
    if type(a) is GradArray and out._version is a._version:
        set_view_of(out, a, Ellipsis, lambda v: np.reshape(v, a.shape, order=order))
    return out


def _transpose_vjp(g, ans, a, axes=None):
    return np.transpose(g, _inverse_permutation(axes, a.ndim))


defvjp(np.transpose, _transpose_vjp, save="none", view=True)
_record_views(np.transpose, lambda v, a, axes=None: np.transpose(v, _inverse_permutation(axes, a.ndim)))
# np.permute_dims is np.transpose in NumPy 2

defvjp(np.swapaxes, lambda g, ans, a, axis1, axis2: np.swapaxes(g, axis1, axis2), save="none",
       view=True)
_record_views(np.swapaxes, lambda v, a, axis1, axis2: np.swapaxes(v, axis1, axis2))

defvjp(np.moveaxis, lambda g, ans, a, source, destination: np.moveaxis(g, destination, source),
       save="none", view=True)
_record_views(np.moveaxis, lambda v, a, source, destination: np.moveaxis(v, destination, source))


@implements(np.rollaxis)
def _rollaxis(a, axis, start=0):
    # rollaxis(a, axis, start) moves ``axis`` to just before ``start``: a moveaxis in other words
    n = a.ndim
    axis = _normalize_axis(axis, n)
    if start < 0:
        start += n
    if not 0 <= start <= n:
        raise np.exceptions.AxisError(f"start={start} out of range for an array of {n} dimensions")
    if axis < start:
        start -= 1
    return np.moveaxis(a, axis, start) if axis != start else a[...]


@implements(np.matrix_transpose)
def _matrix_transpose(x, /):
    if x.ndim < 2:
        raise ValueError("matrix_transpose needs an array with at least 2 dimensions")
    return np.swapaxes(x, -1, -2)


# squeeze / expand_dims only insert or drop length-1 axes: the VJP restores the shape
_restore_shape = (lambda g, ans, a, *args, **kwargs: np.reshape(g, a.shape))
_restore_view = (lambda v, a, *args, **kwargs: np.reshape(v, a.shape))
for _f in (np.squeeze, np.expand_dims):
    defvjp(_f, _restore_shape, save="none", view=True)
    _record_views(_f, _restore_view)

defvjp(np.broadcast_to, lambda g, ans, array, shape, subok=False: g, save="none", view=True)


def _atleast(ndim_min, pad_shape):
    def impl(*arys):
        outs = []
        for a in arys:
            a = _lift(a, _like(*arys))
            outs.append(np.reshape(a, pad_shape(a.shape)) if a.ndim < ndim_min else a)
        return outs[0] if len(outs) == 1 else tuple(outs)
    return impl


implements(np.atleast_1d)(_atleast(1, lambda s: (1,)))
implements(np.atleast_2d)(_atleast(2, lambda s: (1,) * (2 - len(s)) + s))
implements(np.atleast_3d)(_atleast(3, lambda s: {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}[len(s)]))


@implements(np.broadcast_arrays)
def _broadcast_arrays(*args, subok=False):
    shape = np.broadcast_shapes(*(_shape(a) for a in args))
    like = _like(*args)
    return tuple(np.broadcast_to(_lift(a, like), shape) for a in args)


# ------------------------------------------------------------------------------- copies and casts
defvjp(np.copy, lambda g, ans, a, *args, **kwargs: g, save="none")


def _astype(x, dtype):
    return x.astype(dtype)


astype_primitive = Primitive(_astype)
defvjp(astype_primitive, lambda g, ans, x, dtype: g, save="none")   # the engine casts g back


@implements(np.astype)
def _np_astype(x, dtype, /, *, copy=True, device=None):
    if device is not None:
        x = x.to_device(device)
    if np.dtype(dtype) == x.dtype and not copy:
        return x
    return astype_primitive(x, np.dtype(dtype))


# real(z) reads Re z: dL/dz = g.  imag(z) reads Im z: dL/dz = dL/dRe + i dL/dIm = i g.
# (For a real input the engine keeps the real part: g for np.real, 0 for np.imag.)
defvjp(np.real, lambda g, ans, val: g, save="none", view=True)
defvjp(np.imag, lambda g, ans, val: 1j * g, save="none", view=True)


@implements(np.real_if_close)
def _real_if_close(a, tol=100):
    if a.dtype.kind != "c":
        return a
    if tol > 1:
        tol = np.finfo(a.dtype).eps * tol
    if bool(np.all(np.abs(np.imag(_raw(a))) < tol)):
        return np.real(a)
    return a


@implements(np.full_like)
def _full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, *, device=None):
    like = _raw(a)
    if shape is None:
        raw = np.full_like(like, 0, dtype=dtype, order=order)
    else:       # not full_like(shape=...): CuPy reads shape=() as "like's shape"
        raw = np.full(shape, 0, dtype=dtype or like.dtype, order=order if order in "CF" else "C",
                      like=like)
    if type(fill_value) is GradArray and fill_value.requires_grad:
        # a tracked fill value: the result is that value broadcast (and it carries its gradient)
        return np.copy(np.broadcast_to(fill_value.astype(raw.dtype), raw.shape))
    raw[...] = _raw(fill_value)
    return _make(raw)


# -------------------------------------------------------------------------------------- joining
def _concatenate_vjp(g, ans, arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    """Each input gets its slice of ``g`` along ``axis`` (of the flattened ``g`` for axis=None)."""
    if hasattr(arrays, "shape"):           # a single array: concatenated along its first axis
        shapes = [arrays.shape[1:]] * arrays.shape[0]
    else:
        shapes = [_shape(a) for a in arrays]
    pieces = []
    start = 0
    if axis is None:
        for s in shapes:
            stop = start + math.prod(s)
            pieces.append(np.reshape(g[start:stop], s))
            start = stop
    else:
        ax = _normalize_axis(axis, g.ndim)
        lead = (slice(None),) * ax
        for s in shapes:
            stop = start + s[ax]
            pieces.append(g[lead + (slice(start, stop),)])
            start = stop
    return np.stack(pieces) if hasattr(arrays, "shape") else pieces


defvjp(np.concatenate, _concatenate_vjp, save="none")     # np.concat is np.concatenate


@implements(np.stack)
def _stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    arrays = list(arrays)
    like = _like(*arrays)
    arrays = [_lift(a, like) for a in arrays]
    if not arrays:
        raise ValueError("need at least one array to stack")
    ax = _normalize_axis(axis, arrays[0].ndim + 1)
    result = np.concatenate([np.expand_dims(a, ax) for a in arrays], axis=ax, dtype=dtype,
                            casting=casting)
    return _finish(result, out)


def _joiner(promote, axis_of):
    def impl(tup, *, dtype=None, casting="same_kind"):
        arrays = list(tup)
        like = _like(*arrays)
        arrays = [promote(_lift(a, like)) for a in arrays]
        return np.concatenate(arrays, axis=axis_of(arrays), dtype=dtype, casting=casting)
    return impl


def _column(a):
    return np.reshape(a, (-1, 1)) if a.ndim < 2 else a


implements(np.hstack)(_joiner(np.atleast_1d, lambda arrays: 0 if arrays and arrays[0].ndim == 1 else 1))
implements(np.vstack)(_joiner(np.atleast_2d, lambda arrays: 0))
implements(np.dstack)(_joiner(np.atleast_3d, lambda arrays: 2))
implements(np.column_stack)(_joiner(_column, lambda arrays: 1))
if hasattr(np, "row_stack"):                                  # deprecated alias of vstack
    implements(np.row_stack)(IMPLEMENTATIONS[np.vstack])


@implements(np.block)
def _block(arrays):
    """Nested lists: the innermost lists join along the last axis, the next along the one before."""
    def depth(x):
        return 1 + depth(x[0]) if type(x) is list and x else (1 if type(x) is list else 0)

    leaves = []

    def collect(x):
        if type(x) is list:
            for y in x:
                collect(y)
        else:
            leaves.append(x)

    collect(arrays)
    like = _like(*leaves)
    max_depth = depth(arrays)
    ndim = max([max_depth] + [np.ndim(_raw(x)) for x in leaves])

    def build(x, d):
        if type(x) is list:
            return np.concatenate([build(y, d + 1) for y in x], axis=-(max_depth - d))
        x = _lift(x, like)
        return np.reshape(x, (1,) * (ndim - x.ndim) + x.shape) if x.ndim < ndim else x

    return build(arrays, 0)


@implements(np.append)
def _append(arr, values, axis=None):
    like = _like(arr, values)
    arr, values = _lift(arr, like), _lift(values, like)
    if axis is None:
        return np.concatenate([np.reshape(arr, -1), np.reshape(values, -1)])
    return np.concatenate([arr, values], axis=axis)


# ------------------------------------------------------------------------------------- splitting
# The outputs partition the input, so the VJP joins their gradients (zeros for unused outputs).
def _split_vjp(axis_of):
    def vjp(g, ans, ary, indices_or_sections, axis=0):
        return np.concatenate(list(g), axis=axis_of(ary, axis))
    return vjp


defvjp(np.split, _split_vjp(lambda a, axis: axis), save="none")
defvjp(np.array_split, _split_vjp(lambda a, axis: axis), save="none")
defvjp(np.hsplit, _split_vjp(lambda a, axis: 1 if a.ndim > 1 else 0), save="none")
defvjp(np.vsplit, _split_vjp(lambda a, axis: 0), save="none")
defvjp(np.dsplit, _split_vjp(lambda a, axis: 2), save="none")


@implements(np.unstack)
def _unstack(x, /, *, axis=0):
    # slices of x (CuPy has no unstack); each is a recorded getitem
    ax = _normalize_axis(axis, x.ndim)
    return tuple(x[(slice(None),) * ax + (i,)] for i in range(x.shape[ax]))


# ----------------------------------------------------------------------------------------- flips
defvjp(np.flip, lambda g, ans, m, axis=None: np.flip(g, axis), save="none", view=True)
_record_views(np.flip, lambda v, m, axis=None: np.flip(v, axis))


@implements(np.fliplr)
def _fliplr(m):
    if m.ndim < 2:
        raise ValueError("Input must be >= 2-d.")
    return np.flip(m, 1)


@implements(np.flipud)
def _flipud(m):
    if m.ndim < 1:
        raise ValueError("Input must be >= 1-d.")
    return np.flip(m, 0)


def _negate(shift):
    if isinstance(shift, (tuple, list)):
        return tuple(-s for s in shift)
    return -shift


defvjp(np.roll, lambda g, ans, a, shift, axis=None: np.roll(g, _negate(shift), axis), save="none")


@implements(np.rot90)
def _rot90(m, k=1, axes=(0, 1)):
    """Rotation by 90° from the first axis towards the second: a flip and a transpose."""
    axes = tuple(axes)
    if len(axes) != 2:
        raise ValueError("len(axes) must be 2.")
    a0, a1 = _axes_tuple(axes, m.ndim)
    if a0 == a1:
        raise ValueError("Axes must be different.")
    k %= 4
    if k == 0:
        return m[...]
    if k == 2:
        return np.flip(m, (a0, a1))
    perm = list(range(m.ndim))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return np.transpose(np.flip(m, a1), perm)
    return np.flip(np.transpose(m, perm), a1)


# ---------------------------------------------------------------------- diagonals and triangles
def _diagonal_vjp(g, ans, a, offset=0, axis1=0, axis2=1):
    index = np.diagonal(_positions(a.shape, _raw(g)), offset, axis1, axis2)
    return _scatter_flat(g, index, a.shape)


defvjp(np.diagonal, _diagonal_vjp, save="none", view=True)


def _diag_matrix(v, k):
    """The square matrix with the 1-D ``v`` on its k-th diagonal (a scatter)."""
    n = v.shape[0] + abs(k)
    index = np.diagonal(_positions((n, n), _raw(v)), k)
    return _scatter_flat(v, index, (n, n))


@implements(np.diag)
def _diag(v, k=0):
    v = _lift(v, _like(v))
    if v.ndim == 1:
        return _diag_matrix(v, k)
    if v.ndim == 2:
        return np.diagonal(v, k)
    raise ValueError("Input must be 1- or 2-d.")


@implements(np.diagflat)
def _diagflat(v, k=0):
    return _diag_matrix(np.reshape(_lift(v, _like(v)), -1), k)


defvjp(np.tril, lambda g, ans, m, k=0: np.tril(g, k), save="none")
defvjp(np.triu, lambda g, ans, m, k=0: np.triu(g, k), save="none")


@implements(np.trace)
def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    return _finish(np.sum(np.diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype), out)


# ------------------------------------------------------------------------------------ selection
def _where(condition, x, y):
    return np.where(condition, x, y)


where_primitive = Primitive(_where)
defvjp(where_primitive, None,
       lambda g, ans, condition, x, y: np.where(condition, g, 0),
       lambda g, ans, condition, x, y: np.where(condition, 0, g), save="none")


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
        index = np.pad(_positions(array.shape, _raw(array)), pad_width, mode=mode, **kwargs)
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
    for ax in range(raw.ndim):
        if axis is not None and ax not in _axes_tuple(axis, raw.ndim):
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


# ------------------------------------------------------------------------- queries: no gradient
# dtype queries take dtypes and scalar types next to arrays: answer them on the raw data directly
# (the generic untracked path would take ``np.float32``, a type with .shape/.dtype, for an array)
for _f in (np.result_type, np.can_cast, np.min_scalar_type, np.common_type):
    implements(_f)(lambda *args, _f=_f, **kwargs: _f(*[_raw(a) for a in args], **kwargs))

nondifferentiable(
    np.zeros_like, np.ones_like, np.empty_like,
    np.shape, np.ndim, np.size, np.result_type, np.can_cast, np.min_scalar_type, np.iscomplexobj,
    np.isrealobj, np.iscomplex, np.isreal, np.array_equal, np.array_equiv, np.allclose, np.isclose,
    np.count_nonzero, np.nonzero, np.flatnonzero, np.argwhere, np.shares_memory,
    np.may_share_memory, np.any, np.all, np.unravel_index, np.ravel_multi_index, np.tril_indices_from,
    np.triu_indices_from, np.diag_indices_from, np.ix_, np.array2string, np.array_repr, np.array_str,
)
