"""Dispatch: NumPy's protocols on GradArray turn a call into a rule lookup and a node.

Owns: ``GradArray.__array_ufunc__`` (with the ufunc hot path, ``_array_ufunc``),
``GradArray.__array_function__``, the arithmetic operators, ``apply_ufunc``/``apply_function`` (call
the backend on raw data, record a node) and ``apply_untracked`` (functions without a rule).
It reads the tables of ``_tables`` and creates nodes of ``_tape``; it must not know about any
particular rule, composite or backend beyond ``_backend``.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from . import _backend
from ._array import (GradArray, _as_raw_result, _dtype_can_require_grad, _is_array_result, _make,
                     _unwrap_seq, wrap_untracked)
from ._modes import _state
from ._tables import (COMPLEX_IMPLEMENTATIONS, DEVICE_UFUNC_FALLBACKS, IMPLEMENTATIONS,
                      NONDIFFERENTIABLE, RULES, UFUNC_METHODS, ShapeDtype, upper)
from ._tape import Node, _UfuncNode, _node_seq
from ._versions import note_write

_new = object.__new__


def _edge_target(x):
    node = x._node
    return x if node is None else node


def _check_devices(raws):
    """Raise a clear error when arrays from different devices meet in one call."""
    kinds = {}
    for r in raws:
        if isinstance(r, np.ndarray):
            if r.ndim == 0:
                continue
            kinds.setdefault(_backend.CPU, None)
        elif _is_array_result(r) and not isinstance(r, np.generic):
            kinds.setdefault(_backend.device_of(r), None)
    if len(kinds) > 1 and not _backend.mixes_with_host(kinds):
        names = " and ".join(sorted(kinds))
        raise ValueError(f"arrays on different devices ({names}) cannot be mixed in one operation; "
                         "move them first with .to_device(...)")


def _host_scalar_for_device(x):
    """A 0-d host array (e.g. ``np.sum(w) / 2`` of host weights in legacy code) used with device
    data: CuPy accepts NumPy scalars but refuses 0-d ndarrays, so pass the scalar."""
    if type(x) is np.ndarray and x.ndim == 0:
        return x[()]
    return x


def _device_constants(container):
    """``_host_scalar_for_device`` over the arguments of a call (one level into sequences)."""
    if type(container) is dict:
        return {k: _device_constants_one(v) for k, v in container.items()}
    return type(container)(_device_constants_one(a) for a in container)


def _device_constants_one(a):
    if type(a) is list or type(a) is tuple:
        return type(a)(_host_scalar_for_device(x) for x in a)
    return _host_scalar_for_device(a)


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """``GradArray.__array_ufunc__``, also called directly by the arithmetic operators.

    The hot path — a plain call with one or two inputs on the host and one array output — runs
    here without further Python calls: call the ufunc on the raw data, record a node, wrap the
    result.
    """
    n = len(inputs)
    if method != "__call__" or kwargs or n > 2:
        return _ufunc_other_call(ufunc, method, inputs, kwargs)
    x = inputs[0]
    if n == 1:
        # x is a GradArray (the only input that can have dispatched here); on a device, the type
        # of the result sends the call to the general path
        dx = x._data
        if type(dx) is not _ndarray and ufunc in DEVICE_UFUNC_FALLBACKS:   # np.spacing on CuPy
            return _apply_ufunc_general(ufunc, inputs, None)
        result = ufunc(dx)
        if _state.tracer is not None:       # ga.jit records the backend call
            result = _state.tracer.call(ufunc, (dx,), None, result)
        if not (x._requires_grad and _state.enabled and type(result) is _ndarray):
            return _finish_ufunc(ufunc, inputs, result, x._requires_grad)
        rule = RULES.get(ufunc)
        if rule is None:
            return _finish_ufunc(ufunc, inputs, result, True)
        t = x._node
        if t is None:
            t = x
        else:
            t.uses += 1
        edges = ((0, t, x._out_index, dx.shape, dx.dtype),)
        key = _KEY0
        gx = x
    else:
        y = inputs[1]
        tx, ty = type(x), type(y)
        dx = x._data if tx is GradArray else x
        dy = y._data if ty is GradArray else y
        if not ((tx is GradArray or ty is GradArray) and (type(dx) is _ndarray or tx in _SCALARS)
                and (type(dy) is _ndarray or ty in _SCALARS)):
            return _apply_ufunc_general(ufunc, inputs, None)
        result = ufunc(dx, dy)
        if _state.tracer is not None:
            result = _state.tracer.call(ufunc, (dx, dy), None, result)
        rx = tx is GradArray and x._requires_grad
        ry = ty is GradArray and y._requires_grad
        if not ((rx or ry) and _state.enabled and type(result) is _ndarray):
            return _finish_ufunc(ufunc, inputs, result, rx or ry)
        rule = RULES.get(ufunc)
        if rule is None:
            return _finish_ufunc(ufunc, inputs, result, True)
        if rx:
            t = x._node
            if t is None:
                t = x
            else:
                t.uses += 1
            ex = (0, t, x._out_index, dx.shape, dx.dtype)
        if ry:
            t = y._node
            if t is None:
                t = y
            else:
                t.uses += 1
            ey = (1, t, y._out_index, dy.shape, dy.dtype)
        if rx and ry:
            edges, key = (ex, ey), _KEY01
        elif rx:
            edges, key = (ex,), _KEY0
        else:
            edges, key = (ey,), _KEY1
        gx = x if tx is GradArray else None
        gy = y if ty is GradArray else None

    # the node: saved arguments (raw for backward, as passed for create_graph), version stamps
    versions = ()
    if rule.save_args:
        keep = rule.keep.get(key)     # None: keep every argument
        if n == 1:
            if keep is None or keep[0]:
                saved, raw = inputs, (dx,)
                versions = ((x._version, x._version[0], dx),)
            else:
                saved = raw = _NO_ARGS[1]
        else:
            if keep is None:
                saved, raw = inputs, (dx, dy)
            else:
                k0, k1 = keep[0], keep[1]
                saved = (x if k0 else None, y if k1 else None)
                raw = (dx if k0 else None, dy if k1 else None)
                if not k0:
                    gx = None
                if not k1:
                    gy = None
            if gx is not None:
                v = gx._version
                versions = ((v, v[0], dx),)
            if gy is not None:
                v = gy._version
                versions += ((v, v[0], dy),)
    else:
        saved = raw = _NO_ARGS[n]
    out_version = [0]
    node = _new(_UfuncNode)
    node.seq = next(_node_seq)
    node.uses = 0
    node.rule = rule
    node.vjps = rule.vjps
    node.edges = edges
    node.args = saved
    node.raw = raw
    if rule.save_ans:
        node.ans = result
        versions += ((out_version, 0, result),)
    else:
        node.ans = None
    node.versions = versions

    out = _new(GradArray)
    out._data = result
    out._node = node
    out._requires_grad = True
    out._out_index = 0
    out._version = out_version
    out._view_of = None
    out._grad = None
    if _state.on_record is not None:
        _state.on_record(node, out)
    return out


GradArray.__array_ufunc__ = _array_ufunc


def _ufunc_other_call(ufunc, method, inputs, kwargs):
    """Ufunc calls off the hot path: keywords, more than two inputs, ufunc methods."""
    if _has_foreign_operand(inputs):
        return NotImplemented
    tracer = _state.tracer
    if tracer is not None and tracer.depth == 0 and (method != "__call__" or kwargs):
        return tracer.ufunc_call(_ufunc_other_call, ufunc, method, inputs, kwargs)    # ga.jit
    inputs, _ = _lift_lists(inputs, {})
    if method == "__call__":
        if kwargs:
            return _ufunc_with_kwargs(ufunc, inputs, kwargs)
        return _apply_ufunc_general(ufunc, inputs, None)
    impl = UFUNC_METHODS.get((ufunc, method)) or UFUNC_METHODS.get(method)
    if impl is None:
        raise TypeError(f"np.{ufunc.__name__}.{method} is not supported on GradArrays")
    lazy = _lazy_operand(inputs, kwargs) if _backend.LAZY else None
    if lazy is not None:
        with lazy.no_compute(f"np.{ufunc.__name__}.{method}"):
            return impl(ufunc, *inputs, **kwargs)
    return impl(ufunc, *inputs, **kwargs)


def _lazy_operand(args, kwargs):
    """The lazy backend (Dask) of the first GradArray argument over lazy data, else None."""
    def raws(values):
        for a in values:
            if type(a) is GradArray:
                yield a._data
            elif type(a) is list or type(a) is tuple:
                yield [x._data if type(x) is GradArray else x for x in a]
            else:
                yield a
    return _backend.lazy_backend(raws(args), raws(kwargs.values()))


def apply_ufunc(ufunc, inputs, kwargs=None):
    """Call ``ufunc`` on the raw data of ``inputs`` and record a node.

    ``kwargs`` are forward-only options (dtype, casting, order); out= and where= are handled by
    ``overrides.ufunc_methods`` on top of this function.
    """
    if kwargs or len(inputs) > 2 or (len(inputs) == 1 and type(inputs[0]) is not GradArray):
        return _apply_ufunc_general(ufunc, inputs, kwargs)
    return _array_ufunc(None, ufunc, "__call__", *inputs)


_ndarray = np.ndarray
_SCALARS = frozenset({int, float, complex, bool, np.float64, np.float32, np.complex128, np.complex64,
                      np.int64, np.int32, np.bool_})
_KEY0, _KEY1, _KEY01 = (0,), (1,), (0, 1)     # positions of the tracked inputs of a call


def _finish_ufunc(ufunc, inputs, result, tracked):
    """The fast paths' exits without a node: untracked, non-differentiable, or unusual results."""
    if not tracked or not _state.enabled:
        return _wrap_plain(result)
    rule = RULES.get(ufunc)
    if rule is None:
        if ufunc in NONDIFFERENTIABLE:
            composite = COMPLEX_IMPLEMENTATIONS.get(ufunc)
            if composite is not None and any(type(x) is GradArray and x._requires_grad and
                                             x._data.dtype.kind == "c" for x in inputs):
                return composite(*inputs)
            return _wrap_plain(result)
        if all(t.replace("->", "").strip("O") == "" for t in getattr(ufunc, "types", 0) or "?"):
            # np.frompyfunc(f, nin, nout): only object loops; f is re-run on the GradArrays
            return upper.python_ufunc(ufunc, inputs, result)
        raise _missing_rule(ufunc, _ufunc_name(ufunc))
    return _record_ufunc_general(ufunc, rule, inputs, result)


def _has_foreign_operand(values):
    """An operand of a type that implements NumPy's protocols and that gradarray does not know."""
    for x in values:
        t = type(x)
        if t is not GradArray and t not in _SCALARS and _backend.is_foreign_array_type(t):
            return True
    return False


def _apply_ufunc_general(ufunc, inputs, kwargs):
    if _has_foreign_operand(inputs):
        return NotImplemented     # e.g. xarray.DataArray: it wraps the GradArray instead
    inputs, _ = _lift_lists(inputs, {})       # np.add([a, b], c): the list is one stacked operand
    datas = []
    tracked = converted = False
    host = True
    for x in inputs:
        if type(x) is GradArray:
            d = x._data
            if x._requires_grad:
                tracked = True
            if host and type(d) is not np.ndarray:
                host = False
            datas.append(d)
        elif type(x) is list or type(x) is tuple:
            # a plain list operand (jv([0, 1], x)): NumPy would convert it; do it once here, so the
            # rule's VJP receives an array it can compute with
            x = np.asarray(x)
            datas.append(x)
            converted = True
        else:
            datas.append(x)
    if converted:
        inputs = tuple(np.asarray(x) if type(x) is list or type(x) is tuple else x for x in inputs)
    if not host:
        fallback = DEVICE_UFUNC_FALLBACKS.get(ufunc)
        if fallback is not None:
            return fallback(*inputs, **(kwargs or {}))
        _check_devices(datas)
        datas = [_host_scalar_for_device(d) for d in datas]
        inputs = tuple(_host_scalar_for_device(x) for x in inputs)     # as saved for backward
    result = ufunc(*datas, **kwargs) if kwargs else ufunc(*datas)
    if _state.tracer is not None:
        result = _state.tracer.call(ufunc, datas, kwargs, result)
    return _finish_ufunc(ufunc, inputs, result, tracked)


def _record_ufunc_general(ufunc, rule, inputs, result):
    edges = []
    versions = []
    save_args = rule.save_args
    for i, x in enumerate(inputs):
        if type(x) is GradArray:
            if x._requires_grad:
                d = x._data
                edges.append((i, x._node or x, x._out_index, d.shape, d.dtype))
            if save_args:
                versions.append((x._version, x._version[0], x._data))
    saved = inputs if save_args else _NO_ARGS[len(inputs)]
    if type(result) is tuple:
        results = tuple(_as_raw_result(r) for r in result)
        ans = results if rule.save_ans else None
        node = Node(rule, tuple(edges), saved, None, ans, versions, len(results),
                    tuple((r.shape, r.dtype) for r in results))
        outs = tuple(_make(r, node, _dtype_can_require_grad(r.dtype), k) for k, r in enumerate(results))
        if rule.save_ans:
            versions.extend((o._version, 0, o._data) for o in outs)
        return recorded(node, outs)
    result = _as_raw_result(result)
    node = Node(rule, tuple(edges), saved, None, result if rule.save_ans else None, versions, 1, None)
    out = _make(result, node, True)
    if rule.save_ans:
        versions.append((out._version, 0, out._data))
    return recorded(node, out)


def recorded(node, out):
    """Tell the thread's observer (anomaly mode, profiler: ``gradarray.graph``) about a new node."""
    if _state.on_record is not None:
        _state.on_record(node, out)
    return out


# what a ufunc rule that saves no arguments receives in their place
_NO_ARGS = tuple((None,) * n for n in range(8))


def _wrap_plain(result):
    if type(result) is tuple:
        return tuple(_make(_as_raw_result(r)) for r in result)
    return _make(_as_raw_result(result))


def _ufunc_name(ufunc):
    """``np.sin`` for NumPy's ufuncs, ``scipy.special.erf`` for SciPy's, else the bare name."""
    name = ufunc.__name__
    if getattr(np, name, None) is ufunc:
        return f"np.{name}"
    try:
        import scipy.special as sc
        for candidate in (name, getattr(ufunc, "__qualname__", name)):
            if getattr(sc, candidate, None) is ufunc:
                return f"scipy.special.{candidate}"
        for public in dir(sc):
            if getattr(sc, public) is ufunc:
                return f"scipy.special.{public}"
    except ImportError:
        pass
    return name


def _missing_rule(func, name):
    return TypeError(
        f"{name} has no gradient rule in gradarray, so it cannot be differentiated. Register one with "
        f"`@gradarray.defvjp({name})` (see gradarray.defvjp), call it on .detach()-ed values if no "
        "gradient is needed, or open an issue.")


def _ufunc_with_kwargs(ufunc, inputs, kwargs):
    """Ufunc call with out=, where=, dtype=, ... (rarer; built on apply_ufunc)."""
    return upper.ufunc_with_kwargs(ufunc, inputs, kwargs)


def apply_function(func, rule, args, kwargs):
    """Call a NumPy function on raw data and record a node for ``rule``."""
    if "out" in kwargs and kwargs["out"] is not None:
        if _state.tracer is not None:
            return _state.tracer.with_out(upper.function_with_out, func, args, kwargs)
        return upper.function_with_out(func, args, kwargs)
    raw_args = list(args)
    edges = []
    saved = []
    for i, a in enumerate(args):
        ta = type(a)
        if ta is GradArray:
            raw_args[i] = a._data
            saved.append(a)
            if a._requires_grad:
                edges.append((i, _edge_target(a), a._out_index, a._data.shape, a._data.dtype))
        elif (ta is list or ta is tuple) and any(type(x) is GradArray for x in a):
            raw_args[i] = _unwrap_seq(a)
            for k, x in enumerate(a):
                if type(x) is GradArray:
                    saved.append(x)
                    if x._requires_grad:
                        edges.append(((i, k), _edge_target(x), x._out_index, x._data.shape, x._data.dtype))
    raw_kwargs = kwargs
    for name, v in kwargs.items():
        if type(v) is GradArray:
            if raw_kwargs is kwargs:
                raw_kwargs = dict(kwargs)
            raw_kwargs[name] = v._data
            saved.append(v)
            if v._requires_grad:
                if name not in rule.params:
                    raise TypeError(f"{_func_name(func)}: a tracked array passed as keyword {name!r} "
                                    "has no gradient rule; pass it positionally or register a rule")
                edges.append((name, _edge_target(v), v._out_index, v._data.shape, v._data.dtype))
    if saved and not all(_backend.is_host_array(s._data) for s in saved):
        args, kwargs = _device_constants(args), _device_constants(kwargs)
        raw_args, raw_kwargs = _device_constants(raw_args), _device_constants(raw_kwargs)
        _check_devices([s._data for s in saved])
    lazy = _backend.lazy_backend(raw_args, raw_kwargs.values()) if _backend.LAZY else None
    if lazy is None:
        result = func(*raw_args, **raw_kwargs)
    else:                       # Dask data: builds the graph, never computes it
        result = lazy.call(func, raw_args, raw_kwargs)
    if _state.tracer is not None:
        result = _state.tracer.call(func, raw_args, raw_kwargs, result)
    if not edges or not _state.enabled:
        out = wrap_untracked(result)
        if rule.view and type(out) is GradArray and saved:
            _share_version(out, args[0])
        return out
    return _record(rule, result, edges, args, kwargs, saved)


def _share_version(out, source):
    if type(source) is GradArray and _may_share_memory(out._data, source._data):
        out._version = source._version


def _may_share_memory(a, b):
    """np.may_share_memory dispatches to the backend (CuPy has it); unknown backends: assume yes.
    Lazy arrays (Dask) have no views: writing into a slice of one leaves the base as it was."""
    if _backend.LAZY and (_backend.is_lazy(a) or _backend.is_lazy(b)):
        return False
    try:
        return bool(np.may_share_memory(a, b))
    except (TypeError, NotImplementedError):
        return True


def _placeholder(x):
    """What a rule that saves no argument values receives for GradArray ``x``: its shape and dtype
    if it is differentiable; integer and boolean arrays (masks, indices) are kept as raw data."""
    if x._data.dtype.kind in "fc":
        return ShapeDtype(x._data.shape, x._data.dtype)
    return x._data


def _placeholder_args(args):
    out = []
    for a in args:
        if type(a) is GradArray:
            out.append(_placeholder(a))
        elif (type(a) is list or type(a) is tuple) and any(type(x) is GradArray for x in a):
            out.append(type(a)(_placeholder(x) if type(x) is GradArray else x for x in a))
        else:
            out.append(a)
    return tuple(out)


def _placeholder_kwargs(kwargs):
    if not any(type(v) is GradArray for v in kwargs.values()):
        return kwargs
    return {k: _placeholder(v) if type(v) is GradArray else v for k, v in kwargs.items()}


def _record(rule, result, edges, args, kwargs, saved):
    """Create the node for a function call and wrap its outputs."""
    versions = [(s._version, s._version[0], s._data) for s in saved] if rule.save_args else []
    if rule.save_args:
        node_args, node_kwargs = tuple(args), kwargs
    else:
        node_args, node_kwargs = _placeholder_args(args), _placeholder_kwargs(kwargs)
    multi = isinstance(result, (tuple, list))
    if multi:
        raws = [_as_raw_result(r) if _is_array_result(r) or isinstance(r, np.generic) else r
                for r in result]
        node = Node(rule, tuple(edges), node_args, node_kwargs, tuple(raws) if rule.save_ans else None,
                    versions, len(raws), tuple((r.shape, r.dtype) if _is_array_result(r) else None
                                               for r in raws))
        outs = []
        for k, r in enumerate(raws):
            if _is_array_result(r):
                differentiable = _dtype_can_require_grad(r.dtype)
                o = _make(r, node if differentiable else None, differentiable, k)
                if rule.save_ans:
                    versions.append((o._version, 0, o._data))
                outs.append(o)
            else:
                outs.append(r)
        if isinstance(result, tuple) and hasattr(result, "_fields"):
            return recorded(node, type(result)(*outs))
        return recorded(node, type(result)(outs))
    raw = _as_raw_result(result)
    node = Node(rule, tuple(edges), node_args, node_kwargs, raw if rule.save_ans else None, versions,
                1, None)
    out = _make(raw, node, True)
    if rule.save_ans:
        versions.append((out._version, 0, out._data))
    if rule.view and type(args[0]) is GradArray:
        _share_version(out, args[0])
    return recorded(node, out)


def apply_untracked(func, args, kwargs):
    """A NumPy function without a rule: fine while no input needs a gradient, else a clear error."""
    tracked = False
    raw_args = []
    for a in args:
        if type(a) is GradArray:
            tracked = tracked or a._requires_grad
            raw_args.append(a._data)
        elif (type(a) is list or type(a) is tuple) and any(type(x) is GradArray for x in a):
            tracked = tracked or any(type(x) is GradArray and x._requires_grad for x in a)
            raw_args.append(_unwrap_seq(a))
        else:
            raw_args.append(a)
    raw_kwargs = {}
    for k, v in kwargs.items():
        if type(v) is GradArray:
            tracked = tracked or v._requires_grad
            raw_kwargs[k] = v._data
        elif (type(v) is list or type(v) is tuple) and any(type(x) is GradArray for x in v):
            tracked = tracked or any(type(x) is GradArray and x._requires_grad for x in v)
            raw_kwargs[k] = _unwrap_seq(v)
        else:
            raw_kwargs[k] = v
    if tracked and func not in NONDIFFERENTIABLE and _state.enabled:
        raise _missing_rule(func, _func_name(func))
    arrays = [a for a in raw_args if _is_array_result(a)]
    if not all(_backend.is_host_array(a) for a in arrays):
        raw_args, raw_kwargs = _device_constants(raw_args), _device_constants(raw_kwargs)
        _check_devices(arrays)
    out_arg = raw_kwargs.get("out")
    lazy = _backend.lazy_backend(raw_args, raw_kwargs.values()) if _backend.LAZY else None
    if lazy is None:
        result = func(*raw_args, **raw_kwargs)
    else:
        result = lazy.call(func, raw_args, raw_kwargs)
    if _state.tracer is not None:
        result = _state.tracer.call(func, raw_args, raw_kwargs, result)
    if out_arg is not None and type(kwargs.get("out")) is GradArray:
        note_write(kwargs["out"]._version, kwargs["out"]._data)
        return kwargs["out"]
    return wrap_untracked(result)


def _func_name(func):
    module = getattr(func, "__module__", "") or ""
    name = getattr(func, "__name__", repr(func))
    if module.startswith("numpy"):
        module = module.replace("numpy._core.", "numpy.").replace("numpy.lib._", "numpy.")
        sub = module.split(".")[1] if "." in module else ""
        if sub in ("linalg", "fft", "polynomial", "random"):
            return f"np.{sub}.{name}"
        return f"np.{name}"
    return f"{module}.{name}" if module else name


# NumPy functions whose list arguments are sequences of separate arrays (``np.concatenate([a, b])``),
# not one array-like: their rules take the list element by element. Every other function gets a
# list holding GradArrays as one differentiable stacked array (``np.append([a, b], c)``).
_SEQUENCE_ARGUMENT_FUNCTIONS = frozenset(f for f in (
    np.concatenate, getattr(np, "concat", None), np.stack, np.vstack, np.hstack, np.dstack,
    np.column_stack, getattr(np, "row_stack", None), np.block, np.choose, np.select, np.piecewise,
    np.lexsort, np.histogramdd, np.linalg.multi_dot, np.einsum, np.einsum_path, np.broadcast_arrays,
    np.meshgrid, np.ix_, np.result_type) if f is not None)


def _lift_lists(args, kwargs):
    """Arguments with every list/tuple that holds GradArrays replaced by one stacked GradArray
    (the same objects back when there is none: the common case costs a type check per argument)."""
    lifted = None
    for i, a in enumerate(args):
        if (type(a) is list or type(a) is tuple) and _holds_gradarray(a):
            if lifted is None:
                lifted = list(args)
            lifted[i] = upper.asarray(a)
    if lifted is not None:
        args = tuple(lifted)
    for name, v in kwargs.items():
        if (type(v) is list or type(v) is tuple) and _holds_gradarray(v):
            kwargs = {k: upper.asarray(x) if k == name else x for k, x in kwargs.items()}
    return args, kwargs


def _holds_gradarray(seq):
    for x in seq:
        if type(x) is GradArray or ((type(x) is list or type(x) is tuple) and _holds_gradarray(x)):
            return True
    return False


def _array_function(self, func, types, args, kwargs):
    """``GradArray.__array_function__``: implementation, else rule, else creation, else untracked."""
    for t in types:
        if t is not GradArray and _backend.is_foreign_array_type(t):
            return NotImplemented     # a type that wraps arrays (xarray, pandas) handles the call
    if func not in _SEQUENCE_ARGUMENT_FUNCTIONS and func not in upper.like_creation:
        args, kwargs = _lift_lists(args, kwargs)
    impl = IMPLEMENTATIONS.get(func)
    if impl is not None:
        lazy = _lazy_operand(args, kwargs) if _backend.LAZY else None
        if lazy is not None:            # a composite's own Python code must not compute Dask data
            with lazy.no_compute(func):
                return impl(*args, **kwargs)
        if _state.tracer is not None:       # ga.jit: a composite is replayed as one unit
            return _state.tracer.implementation(func, impl, args, kwargs)
        return impl(*args, **kwargs)
    rule = RULES.get(func)
    if rule is not None:
        return apply_function(func, rule, args, kwargs)
    if func in upper.like_creation:
        return upper.create_like(func, self, args, kwargs)
    return apply_untracked(func, args, kwargs)


GradArray.__array_function__ = _array_function


# --------------------------------------------------------------------------------------------------
# arithmetic operators: call the ufunc path directly instead of going through NumPy's dispatch
# (about a microsecond per operator on small arrays). Operands of other types fall back to the
# NDArrayOperatorsMixin methods, which honour __array_ufunc__ = None and reflected operators.
# --------------------------------------------------------------------------------------------------
_FAST_OPERANDS = frozenset({GradArray, int, float, complex, bool, np.ndarray, np.float64,
                            np.float32, np.complex128, np.complex64, np.int64, np.int32, np.bool_})


def _install_operator(name, ufunc):
    mixin_forward = getattr(NDArrayOperatorsMixin, f"__{name}__")
    mixin_reflected = getattr(NDArrayOperatorsMixin, f"__r{name}__")

    def forward(self, other):
        if type(other) in _FAST_OPERANDS:
            return _array_ufunc(self, ufunc, "__call__", self, other)
        return mixin_forward(self, other)

    def reflected(self, other):
        if type(other) in _FAST_OPERANDS:
            return _array_ufunc(self, ufunc, "__call__", other, self)
        return mixin_reflected(self, other)

    forward.__name__, reflected.__name__ = f"__{name}__", f"__r{name}__"
    setattr(GradArray, forward.__name__, forward)
    setattr(GradArray, reflected.__name__, reflected)


for _name, _ufunc in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                      ("truediv", np.true_divide), ("pow", np.power), ("matmul", np.matmul)):
    _install_operator(_name, _ufunc)


def _neg(self):
    return _array_ufunc(self, np.negative, "__call__", self)


GradArray.__neg__ = _neg
