"""Indexing: ``x[idx]``, ``x[idx] = v`` and the scatter that is their shared adjoint.

- ``take_index(x, idx)`` = ``x[idx]``; its VJP scatters ``g`` into zeros of ``x``'s shape.
- ``scatter_index(g, idx, shape)`` adds ``g`` into zeros at ``idx`` (duplicates accumulate); its
  VJP is ``take_index``. The two are each other's adjoints, so any order of derivative works.
- ``setitem`` mutates in place and rewires the array's history:
  ``x_new = x_old`` with ``x_new[idx] = v``; dL/dx_old is ``g`` with the overwritten region zeroed,
  dL/dv is ``g[idx]``. Writing into a view of a tracked array also rewires the base array.
- Repeated integer indices in ``x[idx] = v``: NumPy keeps one write per element (in practice the
  last); only the write that was kept receives gradient, the overwritten ones get zero.
- Views: ``x._view_of = (base, index, inverse)`` records that ``x`` shares memory with
  ``base[index]`` (``inverse`` maps ``x``'s values back to that region's shape for reshape/transpose
  views; None for basic indexing). After a write into ``x`` the base becomes ``base[index] =
  inverse(x)``. Limitation: *other* views of the same base taken before the write keep their old
  history (their values are updated in memory, their gradient path is not); take views after
  writing, as in NumPy code that reads the base again.
"""
from __future__ import annotations

import numpy as np

from .._array import GradArray, _as_raw_result, _make
from .._backend import _backend_of_raw, is_host_array, is_lazy
from .._dispatch import _check_devices, _may_share_memory, recorded
from .._modes import _state
from .._registry import Primitive, defvjp
from .._tables import Rule, ShapeDtype, bind_upper
from .._gradients import SparseGradient
from .._tape import Node
from .._versions import note_write

__all__ = ["getitem", "setitem", "take_index", "scatter_index", "raw_index", "set_view_of", "add_at"]


def raw_index(index):
    """Replace GradArrays inside an index by their raw data (index arrays carry no gradient)."""
    if type(index) is GradArray:
        return index._data
    if type(index) is tuple:
        return tuple(i._data if type(i) is GradArray else i for i in index)
    if type(index) is list and any(type(i) is GradArray for i in index):
        return [i._data if type(i) is GradArray else i for i in index]
    return index


def is_basic_index(index) -> bool:
    """True when ``index`` only slices (ints, slices, Ellipsis, None): the result is a view."""
    items = index if type(index) is tuple else (index,)
    for i in items:
        if not (i is None or i is Ellipsis or type(i) is slice or type(i) is int or isinstance(i, np.integer)):
            return False
    return True


def _has_integer_arrays(index) -> bool:
    items = index if type(index) is tuple else (index,)
    for i in items:
        if type(i) is list:
            return True
        if hasattr(i, "dtype") and i.dtype.kind in "iu" and getattr(i, "ndim", 0) > 0:
            return True
    return False


def _take(x, index):
    return x[index]


def add_at(out, index, values):
    """In place ``out[index] += values`` where repeated integer indices accumulate (``np.add.at``),
    on ``out``'s own backend.

    On a device array ``np.add.at`` is not enough: CuPy's ``__array_ufunc__`` refuses a tuple or
    list index (NotImplemented -> TypeError) and its ``add.at`` refuses complex data, so the
    backend's own ``add.at`` is called, on the real and imaginary parts separately when complex.
    """
    if is_host_array(out):
        np.add.at(out, index, values)
        return
    xp = _backend_of_raw(out).xp()
    if out.dtype.kind == "c" and not is_lazy(out):       # (Dask's add.at takes complex values)
        # scatter the two parts into real arrays and add them (rather than relying on a scatter
        # writing through the strided .real / .imag views)
        values = np.asarray(values, like=out)
        re = np.zeros(out.shape, dtype=out.real.dtype, like=out)
        im = np.zeros(out.shape, dtype=out.real.dtype, like=out)
        xp.add.at(re, index, np.real(values))
        xp.add.at(im, index, np.imag(values))
        out += re + 1j * im
    elif out.dtype.kind in "biu" and out.dtype.itemsize < 4 and not is_lazy(out):
        # CuPy's add.at takes 32- and 64-bit integers only: accumulate in int64 (wrapping as
        # NumPy's add.at does when cast back; for booleans, "add" is "or")
        wide = np.zeros(out.shape, dtype=np.int64, like=out)
        xp.add.at(wide, index, np.asarray(values, like=out).astype(np.int64))
        if out.dtype.kind == "b":
            out |= wide != 0
        else:
            out += wide.astype(out.dtype)
    else:
        xp.add.at(out, index, values)


def _zeros(shape, dtype, like):
    """``np.zeros(shape, dtype)`` on ``like``'s backend. Not ``np.zeros_like(like, shape=shape)``:
    CuPy's zeros_like gives ``like``'s own shape for ``shape=()``."""
    if is_host_array(like):
        return np.zeros(shape, dtype=dtype)
    return np.zeros(shape, dtype=dtype, like=like)


def _scatter(g, index, shape):
    """Zeros of ``shape`` with ``g`` added at ``index`` (repeated integer indices accumulate)."""
    out = _zeros(shape, g.dtype, g)
    if _has_integer_arrays(index) or is_lazy(out):     # (Dask: a lazy scatter, see _dask.py)
        add_at(out, index, g)
    else:
        out[index] = g
    return out


def _add_at_index(out, index, values):
    """``out[index] += values`` in place, repeated integer indices accumulating."""
    if _has_integer_arrays(index) or is_lazy(out):
        add_at(out, index, values)
    else:
        out[index] += values


def _take_vjp(g, ans, x, index):
    if type(g) is GradArray:            # create_graph: a recorded scatter
        return scatter_index(g, index, x.shape)
    # raw: the engine adds the read part into its buffer for x in place (no zeros of x's shape)
    return SparseGradient(g, index, x.shape, _add_at_index)


take_index = Primitive(_take)
scatter_index = Primitive(_scatter)
defvjp(take_index, _take_vjp, save="none", view=True)
defvjp(scatter_index, lambda g, ans, gin, index, shape: take_index(g, index), save="none")


def getitem(x, index):
    index = raw_index(index)
    if is_lazy(x._data) and x._requires_grad and _has_boolean_arrays(index):
        flat = _lazy_mask_index(x, index)
        if flat is not None:                # a full-shape host mask: its flat positions
            return getitem(np.reshape(x, -1), flat)
    if x._requires_grad and getattr(_state, "enabled", True):
        out = take_index(x, index)
    else:
        raw = x._data[index]
        out = _make(_as_raw_result(raw))
        if isinstance(raw, np.generic):        # a scalar read is a copy, not a view
            return out
    if is_basic_index(index) and _may_share_memory(out._data, x._data):
        # a view: it shares the version counter, and a write into it is also a write into x
        out._version = x._version
        out._view_of = (x, index, None)
    return out


def _has_boolean_arrays(index):
    items = index if type(index) is tuple else (index,)
    return any(getattr(i, "dtype", None) == np.bool_ and getattr(i, "ndim", 0) > 0 for i in items)


def _lazy_mask_index(x, index):
    """A boolean mask reading a Dask array that requires grad. Dask gives ``x[mask]`` chunks of
    unknown size, whose gradient cannot be scattered back lazily: a host (NumPy) mask of ``x``'s
    full shape is read as flat positions (returned: ``np.flatnonzero``, NumPy's order), a host mask
    of one axis as it is (None: Dask reads it as positions); a Dask mask is refused."""
    if is_lazy(index) or (type(index) is tuple and any(is_lazy(i) for i in index)):
        raise NotImplementedError(
            "x[mask] with a Dask boolean mask on a Dask array that requires grad: Dask gives the "
            "result chunks of unknown size, and its gradient cannot be scattered back without "
            "computing the mask. Use np.where(mask, x, 0) (then reduce), or a NumPy mask.")
    if type(index) is not tuple and index.ndim == x.ndim and index.ndim > 1:
        return np.flatnonzero(index)
    return None


def set_view_of(view, base, index, inverse=None):
    """Record that ``view`` shares memory with ``base[index]`` (``inverse`` maps it back)."""
    view._version = base._version
    view._view_of = (base, index, inverse)


# ------------------------------------------------------------------------------------------- setitem
def _setitem_vjp(g, ans, old, index, value):
    """x_new = old with old[index] = value: the written part of g goes to value, the rest to old.

    On raw gradients the rule is ``modifies_g``: the engine hands it a buffer of its own, which is
    zeroed at ``index`` in place and passed on (O(written part), so a time loop that writes row
    after row of one buffer has a backward pass linear in the steps); under create_graph it stays
    recorded calls on a copy."""
    recorded = type(g) is GradArray
    if value is None:
        g_value = None
    elif recorded:
        g_value = take_index(g, index)
    else:
        g_value = g[index].copy() if is_basic_index(index) else g[index]
    if g_value is not None and _has_integer_arrays(index):
        g_value = g_value * _kept_writes(index, old.shape, g._data if recorded else g)
    if recorded:
        g = np.copy(g)
    elif isinstance(g, np.generic):     # a 0-d gradient that arrived as a NumPy scalar
        g = np.array(g)
    g[index] = 0
    return g, None, g_value


def _kept_writes(index, shape, like):
    """Mask over the written elements: True where the write was kept (repeated indices: one wins).

    Replays the write with each element's own number and reads back which number survived, so the
    mask follows whatever order the backend used for the real write.
    """
    marks = _zeros(shape, np.intp, like) - 1
    written = marks[index].shape
    ids = np.reshape(np.arange(marks[index].size, like=like), written)
    marks[index] = ids
    return marks[index] == ids


_SETITEM = Rule(joint=_setitem_vjp, save="none", name="setitem", modifies_g=True)


def _raw_value(value, target):
    if type(value) is GradArray:
        v = value._data
        if not (is_host_array(v) and is_host_array(target)):
            _check_devices([target, v])
        return v
    if not is_host_array(target) and isinstance(value, np.ndarray) and value.ndim > 0:
        _check_devices([target, value])
    return value


def _record_write(x, index, value):
    """Rewire ``x``'s history after ``x[index] = value`` was written into its memory."""
    v_tracked = type(value) is GradArray and value._requires_grad
    if not (x._requires_grad or v_tracked):
        return
    edges = []
    if x._requires_grad:
        edges.append((0, x._node, x._out_index, x._data.shape, x._data.dtype))
    if v_tracked:
        edges.append((2, value if value._node is None else value._node, value._out_index,
                      value._data.shape, value._data.dtype))
    args = (ShapeDtype(x._data.shape, x._data.dtype), index,
            ShapeDtype(value._data.shape, value._data.dtype) if type(value) is GradArray else None)
    node = Node(_SETITEM, tuple(edges), args, None, None, [], 1, None)
    x._node = node
    x._out_index = 0
    x._requires_grad = True
    recorded(node, x)


_LEAF_WRITE = ("a leaf array that requires grad cannot be modified in place (its gradient would refer "
               "to values that no longer exist). Work on a copy (x = x.copy()), or update it under "
               "`with ga.no_grad():` as in an optimiser step.")


def _protect_saved_output(x):
    """Copy-on-write: if the rule that produced ``x`` saved it for backward (``sqrt``, ``exp``,
    ``max``...), give that node a private copy before ``x`` is overwritten, so that legacy code may
    keep writing into its results (``scale[scale == 0] = 1``)."""
    node = x._node
    if node is None or node.ans is None or node.n_out != 1 or node.ans is not x._data:
        return
    node.ans = x._data.copy()
    node.versions = [v for v in node.versions if v[0] is not x._version]


def setitem(x, index, value):
    index = raw_index(index)
    raw = _raw_value(value, x._data)
    recording = getattr(_state, "enabled", True)
    if recording:
        # refuse before writing: a leaf's (or a leaf's view's) values must not change under the tape
        target = x
        while target is not None:
            if target._requires_grad and target._node is None:
                raise RuntimeError(_LEAF_WRITE)
            target = target._view_of[0] if target._view_of is not None else None
    if recording:
        _protect_saved_output(x)
    x._data[index] = raw
    note_write(x._version, x._data[index] if is_basic_index(index) else x._data)
    if not recording:
        return
    _record_write(x, index, value)
    # writing into a view also writes into its base: rewire the base's history too
    while x._view_of is not None and x._requires_grad:
        base, base_index, inverse = x._view_of
        _record_write(base, base_index, x if inverse is None else inverse(x))
        x = base


bind_upper(getitem=getitem, setitem=setitem)
