"""Rules for shape manipulation: reshapes, permutations, copies and casts, joining, splitting,
flips, diagonals and triangles, and the shape/dtype queries that carry no gradient.

- *Permutations and reshapes* (reshape, transpose, moveaxis, flip, roll, ...): the VJP applies the
  inverse operation to ``g``. Those that return views also record which array they view, so that a
  write into the view (``x.T[0] = y``) rewires the base array's history (see ``indexing.setitem``).
- *Joining and splitting* (concatenate, stack, block, append, split, ...): the VJP of a join hands
  each input its slice of ``g``; that of a split joins the gradients of the pieces.
- *Diagonals* (diagonal, diag, diagflat): gathers and scatters on the flat positions
  ``arange(x.size).reshape(x.shape)`` of the diagonal (``_positions``, ``_scatter_flat``).

The gathers (take, repeat, tile, pad, choose, delete, insert, ...), where/select and the in-place
scatters (put, place, putmask, copyto, put_along_axis) are in ``gathers.py``, which builds on the
helpers below (``_positions``, ``_gather``, ``_lift``, ``_like``, ``_finish``, ...).
"""
from __future__ import annotations

import math
import operator

import numpy as np
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from .._backend import create_like, is_lazy
from .._tables import IMPLEMENTATIONS, RULES
from .._array import GradArray, _make
from .._dispatch import apply_function
from .._registry import Primitive, defvjp, implements, nondifferentiable
from .indexing import scatter_index, set_view_of, take_index
from .ufunc_methods import _write_into


# ------------------------------------------------------------------------------------------ helpers
def _raw(x):
    """The raw backend array of a GradArray (index arrays and masks carry no gradient)."""
    return x._data if type(x) is GradArray else x


def _shape(a):
    """Shape of an argument as the VJP sees it: array, ShapeDtype placeholder, list or scalar."""
    return a.shape if hasattr(a, "shape") else np.shape(a)


def _like(*arrays):
    """A raw array to create index arrays next to (same backend as the data). For Dask data it is
    a host array: index arrays stay NumPy (Dask takes them, and its scatter needs their values)."""
    for a in arrays:
        if type(a) is GradArray:
            a = a._data
        elif not (hasattr(a, "shape") and hasattr(a, "dtype") and not isinstance(a, np.generic)):
            continue
        return np.empty(0) if is_lazy(a) else a
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
    if getattr(index, "ndim", 1) != 1 and is_lazy(x._data):    # Dask: 1-D index arrays only
        return np.reshape(take_index(np.reshape(x, -1), np.reshape(index, -1)), index.shape)
    return take_index(np.reshape(x, -1), index)


def _scatter_flat(g, index, shape):
    """Adjoint of :func:`_gather`: zeros of ``shape`` with ``g`` added at the flat positions."""
    return np.reshape(scatter_index(g, index, (math.prod(shape),)), shape)


def _finish(result, out):
    """Honour ``out=`` for composites: write the result into ``out`` through ``setitem``."""
    return result if out is None else _write_into(out, result)


def _normalize_axis(axis, ndim):
    """``axis`` in ``range(ndim)``; AxisError when out of range, TypeError when not an integer."""
    return normalize_axis_index(axis, ndim)


def _axes_tuple(axis, ndim, allow_duplicate=False):
    """``axis`` (None for all, an int, or a sequence) as a tuple of non-negative axes; AxisError
    when one is out of range, ValueError for a repeated axis (unless ``allow_duplicate``)."""
    if axis is None:
        return tuple(range(ndim))
    return normalize_axis_tuple(axis, ndim, allow_duplicate=allow_duplicate)


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


def _reshape_as(v, shape, order):
    """``np.reshape(v, shape, order=order)``, without passing the default order (Dask's reshape
    takes no ``order``)."""
    order = _order(order)
    return np.reshape(v, shape) if order == "C" else np.reshape(v, shape, order=order)


def _reshape_vjp(g, ans, a, shape=None, order="C", **kwargs):
    return _reshape_as(g, a.shape, order)


defvjp(np.reshape, _reshape_vjp, save="none", view=True)


def _unreshape(v, a, shape=None, order="C", **kwargs):
    return _reshape_as(v, a.shape, order)


_record_views(np.reshape, _unreshape)

defvjp(np.ravel, lambda g, ans, a, order="C": _reshape_as(g, a.shape, order),
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
        set_view_of(out, a, Ellipsis, lambda v: _reshape_as(v, a.shape, order))
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
    start = operator.index(start)
    if not -n <= start <= n:
        raise np.exceptions.AxisError(
            f"'start' arg requires {-n} <= start < {n + 1}, but {start} was passed in")
    if start < 0:
        start += n
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
        raw = create_like(np.full, like, shape, 0, dtype=dtype or like.dtype,
                          order=order if order in "CF" else "C")
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
# The outputs usually partition the input, so the VJP joins their gradients (zeros for unused
# outputs). A split into one section is a one-output node: its ``g`` is that output's gradient.
def _split_bounds(n, indices_or_sections):
    """The positions along the split axis of each piece, as ``range``s (NumPy's array_split)."""
    try:
        points = [0] + [int(i) for i in indices_or_sections] + [n]
    except TypeError:                        # a number of sections
        each, extras = divmod(n, int(indices_or_sections))
        sizes = [each + 1] * extras + [each] * (int(indices_or_sections) - extras)
        points = [0]
        for size in sizes:
            points.append(points[-1] + size)
    return [range(n)[start:stop] for start, stop in zip(points[:-1], points[1:])]


def _split_vjp(axis_of):
    def vjp(g, ans, ary, indices_or_sections, axis=0):
        ax = normalize_axis_index(axis_of(ary, axis), ary.ndim)
        grads = list(g) if type(g) is tuple else [g]
        n = ary.shape[ax]
        if sum(p.shape[ax] for p in grads) == n:     # in order, without overlap: a partition
            return np.concatenate(grads, axis=ax)
        # indices out of order (split(x, [3, 1])): pieces overlap; each gradient is padded into place
        total = None
        for p, where in zip(grads, _split_bounds(n, indices_or_sections)):
            if len(where):
                widths = [(0, 0)] * p.ndim
                widths[ax] = (where.start, n - where.stop)
                total = np.pad(p, widths) if total is None else total + np.pad(p, widths)
        return total
    return vjp


defvjp(np.split, _split_vjp(lambda a, axis: axis), save="none")
defvjp(np.array_split, _split_vjp(lambda a, axis: axis), save="none")
defvjp(np.hsplit, _split_vjp(lambda a, axis: 1 if a.ndim > 1 else 0), save="none")
defvjp(np.vsplit, _split_vjp(lambda a, axis: 0), save="none")
defvjp(np.dsplit, _split_vjp(lambda a, axis: 2), save="none")


@implements(np.unstack)
def _unstack(x, /, *, axis=0):
    # NumPy's definition, tuple(moveaxis(x, axis, 0)) (CuPy has no unstack), with NumPy's errors;
    # each slice is a recorded getitem
    if x.ndim == 0:
        raise ValueError("Input array must be at least 1-d.")
    moved = np.moveaxis(x, axis, 0)
    return tuple(moved[i] for i in range(moved.shape[0]))


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
    a0, a1 = _axes_tuple(axes, m.ndim, allow_duplicate=True)
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
    index = np.diagonal(_positions(a.shape, _like(g)), offset, axis1, axis2)
    return _scatter_flat(g, index, a.shape)


defvjp(np.diagonal, _diagonal_vjp, save="none", view=True)


def _diag_matrix(v, k):
    """The square matrix with the 1-D ``v`` on its k-th diagonal (a scatter)."""
    n = v.shape[0] + abs(k)
    index = np.diagonal(_positions((n, n), _like(v)), k)
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
