"""Functional API: plain arrays in, plain arrays out.

``grad``, ``value_and_grad``, ``vjp``, ``jvp``, ``jacobian``, ``hessian`` take any function written
with NumPy calls. Arguments may be arrays of any backend, Python scalars, or nested
tuples/lists/dicts of them; results come back as the same kind of array the input was (NumPy in,
NumPy out; CuPy in, CuPy out).

Nesting works: when the function touches a value that something outside this call differentiates
(an argument that is already a tracked GradArray, as in ``hessian`` = ``jacobian`` of ``grad``; or a
tracked array reached through a closure or a non-differentiated argument), the inner derivative is
recorded (``create_graph``) and returned as GradArrays so the outer transformation can differentiate
it again. Results that do not depend on such values come back as plain arrays.
"""
from __future__ import annotations

import numbers

import numpy as np

from ._array import GradArray, _dtype_can_require_grad, _make
from ._backend import create_like
from ._modes import is_grad_enabled
from ._tape import _seed_for, backward
from ._registry import Primitive, defvjp

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "jacobian", "hessian", "grad_of"]


# ------------------------------------------------------------------------------------ pytrees
def _flatten(obj):
    """Leaves (arrays/scalars) of a nested tuple/list/dict and a function that rebuilds it."""
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        parts = [_flatten(o) for o in obj]
        leaves = [leaf for p in parts for leaf in p[0]]
        sizes = [len(p[0]) for p in parts]

        def rebuild(new):
            out, i = [], 0
            for (_, rb), n in zip(parts, sizes):
                out.append(rb(new[i:i + n]))
                i += n
            return type(obj)(out)
        return leaves, rebuild
    if isinstance(obj, dict):
        keys = list(obj)
        leaves, rb = _flatten([obj[k] for k in keys])
        return leaves, lambda new: type(obj)(zip(keys, rb(new)))
    return [obj], lambda new: new[0]


def _to_plain(obj):
    """GradArrays inside ``obj`` -> raw arrays (host NumPy scalars become 0-d arrays' items)."""
    leaves, rebuild = _flatten(obj)
    return rebuild([leaf._data if type(leaf) is GradArray else leaf for leaf in leaves])


# ------------------------------------------------------------------------------------ inputs
def _identity(x):
    return x


_alias = Primitive(_identity)
defvjp(_alias, lambda g, ans, x: g, save="none")


class _Input:
    """One differentiable leaf of the arguments: how it enters ``f`` and how its gradient leaves."""

    __slots__ = ("value", "key", "nested", "kind")

    def __init__(self, leaf, argnum):
        if type(leaf) is GradArray:
            if not _dtype_can_require_grad(leaf.dtype):
                raise TypeError(_int_input_message(argnum, leaf.dtype))
            self.kind = "gradarray"
            self.nested = leaf.requires_grad
            if self.nested:
                # an outer transformation is differentiating us: stay connected to its graph
                self.value = _alias(leaf)
                self.key = (self.value._node, 0)
            else:
                self.value = _make(leaf._data, requires_grad=True)
                self.key = id(self.value)
            return
        self.nested = False
        if isinstance(leaf, numbers.Number) and not isinstance(leaf, bool):
            self.kind = "python"
            raw = np.asarray(leaf, dtype=np.result_type(leaf, 1.0))
        else:
            self.kind = "array"
            raw = leaf if hasattr(leaf, "dtype") and hasattr(leaf, "shape") else np.asarray(leaf)
            if isinstance(raw, np.generic):
                raw = np.asarray(raw)
        if not _dtype_can_require_grad(raw.dtype):
            raise TypeError(_int_input_message(argnum, raw.dtype))
        self.value = _make(raw, requires_grad=True)
        self.key = id(self.value)

    def finish(self, g, recorded=False):
        """The gradient in the caller's kind (zeros when the output did not depend on this input).

        ``recorded``: the derivative was recorded for an outer differentiation; a gradient that
        depends on tracked values then stays a tracked GradArray whatever kind the input was.
        """
        if g is None:
            g = np.zeros_like(self.value._data)
        if self.nested:
            return g if type(g) is GradArray else _make(g)
        if recorded and type(g) is GradArray and g._requires_grad:
            return g
        raw = g._data if type(g) is GradArray else g
        if self.kind == "gradarray":
            return _make(raw)
        if self.kind == "python":
            return raw.item()
        return raw


def _int_input_message(argnum, dtype):
    return (f"argument {argnum} has dtype {dtype}; gradients are defined for floating-point and complex "
            "inputs only. Pass floats (e.g. np.asarray(x, dtype=float)).")


def _prepare(args, argnums):
    """Replace the differentiated arguments by tracked leaves; returns (new args, per-argnum inputs)."""
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    args = list(args)
    per_arg = []
    for n in nums:
        if n >= len(args) or n < -len(args):
            raise IndexError(f"argnums={n} but the function was called with {len(args)} positional "
                             "arguments")
        leaves, rebuild = _flatten(args[n])
        inputs = [_Input(leaf, n) for leaf in leaves]
        args[n] = rebuild([i.value for i in inputs])
        per_arg.append((inputs, rebuild))
    return args, per_arg, single


def _records_for_outer(inputs, outputs):
    """Must this transformation record its derivative (``create_graph``) for an outer one?

    Yes when an input is itself tracked, or when the outputs' graph reaches a tracked value that is
    not one of this transformation's inputs: a closure over an outer ``grad``'s argument
    (``lambda y: x * y``), or a tracked non-differentiated argument. Like JAX's levels, this looks
    at every value the function touched, not only at the differentiated arguments.
    """
    if any(i.nested for i in inputs):
        return True
    if not is_grad_enabled():
        return False
    return reaches_other_leaf(outputs, {id(i.value) for i in inputs})


def reaches_other_leaf(outputs, own, inside=None):
    """Whether the graph of the tracked ``outputs`` reaches a tracked leaf whose id is not in
    ``own`` (with ``inside``: or a node for which ``inside(node)`` is false)."""
    stack, seen = [], set()
    for o in outputs:
        if type(o) is not GradArray or not o._requires_grad:
            continue
        if o._node is None:
            if id(o) not in own:
                return True
        else:
            stack.append(o._node)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if inside is not None and not inside(node):
            return True
        for edge in node.edges:
            target = edge[1]
            if type(target) is GradArray:
                if target._requires_grad and id(target) not in own:
                    return True
            elif target not in seen:
                stack.append(target)
    return False


def _retire(inputs):
    """This transformation's own leaves are constants to everyone else once its graph is recorded:
    stop them requiring grad, so that an outer transformation walking a graph that reaches them
    (through a recorded derivative or a pullback) does not take them for values it must track.
    Gradients into them are still captured (by identity) when a pullback runs later."""
    for i in inputs:
        if not i.nested:
            i.value._requires_grad = False


def _finish_all(per_arg, raw_grads, recorded):
    """Per-argument gradients, rebuilt into the structure each differentiated argument had."""
    grads, k = [], 0
    for inputs, rebuild in per_arg:
        grads.append(rebuild([i.finish(g, recorded) for i, g in zip(inputs, raw_grads[k:k + len(inputs)])]))
        k += len(inputs)
    return grads


def grad_of(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False):
    """Gradients of ``outputs`` with respect to ``inputs`` (GradArrays), without touching ``.grad``.

    ``inputs`` may be leaves or computed arrays. Unused inputs get None.
    """
    outputs = [outputs] if type(outputs) is GradArray else list(outputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif type(grad_outputs) is GradArray or not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = [grad_outputs]
    seeds = []
    for out, g in zip(outputs, grad_outputs):
        seed = _seed_for(out, g)
        if create_graph:
            seed = seed if type(seed) is GradArray else _make(seed)
        else:
            seed = seed._data if type(seed) is GradArray else seed
        seeds.append(seed)
    keys = [id(x) if x._node is None else (x._node, x._out_index) for x in inputs]
    capture = dict.fromkeys(keys)
    # an output that is one of the inputs (f returned its argument) counts even once that input
    # stopped requiring grad (_retire)
    live = [(o, s) for o, s in zip(outputs, seeds)
            if o._requires_grad or (o._node is None and id(o) in capture)]
    if live:
        backward([o for o, _ in live], [s for _, s in live], retain_graph=retain_graph,
                 create_graph=create_graph, capture=capture)
    return [capture[k] for k in keys]


def _output_check(out, name):
    if type(out) is not GradArray:
        raise TypeError(
            f"{name}: the function returned {type(out).__name__}, not a GradArray, so the result is not "
            "connected to the inputs. Did it convert its input with np.asarray / float(), or build the "
            "result with np.zeros(...) and fill it (see ga.trace_numpy)?")


def _differentiate(f, argnums, has_aux, args, kwargs, name):
    new_args, per_arg, single = _prepare(args, argnums)
    out = f(*new_args, **kwargs)
    aux = None
    if has_aux:
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"{name}(has_aux=True): the function must return (value, aux)")
        out, aux = out
    _output_check(out, name)
    if out.size != 1:
        raise TypeError(f"{name} needs a function with a scalar output; this one returned shape "
                        f"{out.shape}. Use ga.jacobian for vector outputs, or reduce the output.")
    if out.dtype.kind == "c":
        raise TypeError(
            f"{name} needs a real scalar output; this function returned a complex value ({out.dtype}), "
            "whose gradient is not defined as one array. Differentiate np.real(f), np.imag(f) or "
            "np.abs(f) ** 2 explicitly, or use ga.jacobian / ga.vjp with a complex cotangent.")
    flat_inputs = [i for inputs, _ in per_arg for i in inputs]
    nested = _records_for_outer(flat_inputs, [out])
    raw_grads = grad_of(out, [i.value for i in flat_inputs], create_graph=nested)
    _retire(flat_inputs)
    grads = _finish_all(per_arg, raw_grads, nested)
    grads = grads[0] if single else tuple(grads)
    value = out if nested else _plain_value(out)
    if has_aux and not nested:
        aux = _to_plain(aux)
    return value, grads, aux


def _plain_value(out):
    raw = out._data
    if isinstance(raw, np.ndarray) and raw.ndim == 0:
        return raw[()]
    return raw


def grad(f, argnums=0, has_aux=False):
    """``grad(f)(*args)``: the gradient of scalar-valued ``f`` with respect to ``args[argnums]``."""
    def grad_f(*args, **kwargs):
        _, g, aux = _differentiate(f, argnums, has_aux, args, kwargs, "grad")
        return (g, aux) if has_aux else g
    grad_f.__name__ = f"grad({getattr(f, '__name__', 'f')})"
    return grad_f


def value_and_grad(f, argnums=0, has_aux=False):
    """``value_and_grad(f)(*args)`` -> ``(f(*args), grad)``; ``((value, aux), grad)`` with has_aux.

    Plugs into ``scipy.optimize.minimize(fun, x0, jac=True)``.
    """
    def vg(*args, **kwargs):
        value, g, aux = _differentiate(f, argnums, has_aux, args, kwargs, "value_and_grad")
        return ((value, aux), g) if has_aux else (value, g)
    vg.__name__ = f"value_and_grad({getattr(f, '__name__', 'f')})"
    return vg


def vjp(f, *primals, has_aux=False):
    """``out, vjp_fn = vjp(f, *primals)``; ``vjp_fn(cotangent)`` returns one gradient per primal."""
    new_args, per_arg, _ = _prepare(primals, tuple(range(len(primals))))
    out = f(*new_args)
    aux = None
    if has_aux:
        out, aux = out
    out_leaves, out_rebuild = _flatten(out)
    for o in out_leaves:
        _output_check(o, "vjp")
    flat_inputs = [i for inputs, _ in per_arg for i in inputs]
    nested = _records_for_outer(flat_inputs, out_leaves)
    _retire(flat_inputs)

    def vjp_fn(cotangent):
        cots, _ = _flatten(cotangent)
        if len(cots) != len(out_leaves):
            raise ValueError(f"vjp_fn expected {len(out_leaves)} cotangent arrays, got {len(cots)}")
        for c, o in zip(cots, out_leaves):
            _check_like(c, o, "vjp_fn: the cotangent", "the output")
        # a tracked cotangent (Gauss-Newton products, vjp of vjp) makes the pullback recorded too
        recorded = nested or any(type(c) is GradArray and c._requires_grad for c in cots)
        cots = [c if type(c) is GradArray or not recorded else _make(c) for c in cots]
        raw_grads = grad_of(out_leaves, [i.value for i in flat_inputs], cots, retain_graph=True,
                            create_graph=recorded)
        return tuple(_finish_all(per_arg, raw_grads, recorded))

    value = out if nested else out_rebuild([_plain_value(o) if o.ndim == 0 else o._data for o in out_leaves])
    if has_aux:
        return value, vjp_fn, (aux if nested else _to_plain(aux))
    return value, vjp_fn


def jvp(f, primals, tangents):
    """Forward-mode product ``J(primals) @ tangents`` -> ``(f(*primals), tangent_out)``.

    Computed as the derivative of a VJP with respect to its (linear) cotangent: for u a dummy
    cotangent, <vjp(u), t> is linear in u and its gradient with respect to u is J t.
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp needs one tangent per primal: got {len(primals)} primals and "
                         f"{len(tangents)} tangents")
    new_args, per_arg, _ = _prepare(primals, tuple(range(len(primals))))
    flat_inputs = [i for inputs, _ in per_arg for i in inputs]
    flat_tangents = [t for tan in tangents for t in _flatten(tan)[0]]
    if len(flat_tangents) != len(flat_inputs):
        raise ValueError(f"jvp: the tangents hold {len(flat_tangents)} arrays but the primals hold "
                         f"{len(flat_inputs)}; give each primal array a tangent of the same structure")
    for n, (i, t) in enumerate(zip(flat_inputs, flat_tangents)):
        _check_like(t, i.value, f"jvp: tangent {n}", f"primal {n}", python_scalar_ok=i.kind == "python")
    out = f(*new_args)
    _output_check(out, "jvp")
    nested = _records_for_outer(flat_inputs, [out]) or any(
        type(t) is GradArray and t._requires_grad for t in flat_tangents)
    u = _make(np.zeros_like(out._data), requires_grad=True)
    vjps = grad_of(out, [i.value for i in flat_inputs], u, retain_graph=True, create_graph=True)
    total = None
    for g, t in zip(vjps, flat_tangents):
        if g is None:
            continue
        if not nested and type(t) is GradArray:
            t = t._data
        term = np.sum(np.real(np.conj(g) * t)) if g.dtype.kind == "c" else np.sum(g * t)
        total = term if total is None else total + term
    tangent_out = None
    if total is not None and total.requires_grad:
        # d<vjp(u), t>/du = J t; recorded again when an outer transformation differentiates us
        (tangent_out,) = grad_of(total, [u], create_graph=nested)
    _retire(flat_inputs)
    u._requires_grad = False
    if tangent_out is None:
        tangent_out = np.zeros_like(out._data)
    if nested:
        return out, tangent_out if type(tangent_out) is GradArray else _make(tangent_out)
    tangent_out = tangent_out._data if type(tangent_out) is GradArray else tangent_out
    return _plain_value(out) if out.ndim == 0 else out._data, tangent_out


def _identity(n, dtype, like):
    """``np.eye(n, dtype=dtype, like=like)``; Dask's eye refuses the ``order`` np.eye hands it."""
    try:
        return create_like(np.eye, like, n, dtype=dtype)
    except TypeError:
        return np.tri(n, dtype=dtype, like=like) - np.tri(n, k=-1, dtype=dtype, like=like)


def _check_like(value, reference, what, reference_name, python_scalar_ok=True):
    """A tangent or cotangent must have its primal's (output's) shape and dtype: broadcasting or
    casting it silently would give a product with a different vector than the caller meant."""
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        if python_scalar_ok and reference.ndim == 0:
            return
        shape, dtype = (), np.result_type(value)
    else:
        shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
        if shape is None or dtype is None:
            value = np.asarray(value)
            shape, dtype = value.shape, value.dtype
    if tuple(shape) != tuple(reference.shape):
        raise ValueError(f"{what} has shape {tuple(shape)} but {reference_name} has shape "
                         f"{tuple(reference.shape)}; they must match (no broadcasting)")
    if dtype.kind == "c" and reference.dtype.kind != "c":
        raise TypeError(f"{what} is complex ({dtype}) but {reference_name} is real "
                        f"({reference.dtype}); pass a real array")
    if dtype.kind not in "fc" or (dtype != reference.dtype and not python_scalar_ok):
        raise TypeError(f"{what} has dtype {dtype} but {reference_name} has dtype "
                        f"{reference.dtype}; pass .astype({reference.dtype})")


def jacobian(f, argnums=0, has_aux=False):
    """``jacobian(f)(*args)``: array of shape ``out.shape + arg.shape`` (reverse mode, row by row)."""
    def jac_f(*args, **kwargs):
        new_args, per_arg, single = _prepare(args, argnums)
        out = f(*new_args, **kwargs)
        aux = None
        if has_aux:
            out, aux = out
        _output_check(out, "jacobian")
        flat_inputs = [i for inputs, _ in per_arg for i in inputs]
        nested = _records_for_outer(flat_inputs, [out])
        rows = [[] for _ in flat_inputs]
        eye = _identity(out.size, out.dtype, out._data) if out.size else None
        for k in range(out.size):
            seed = np.reshape(eye[k], out.shape)
            gs = grad_of(out, [i.value for i in flat_inputs], _make(seed) if nested else seed,
                         retain_graph=True, create_graph=nested)
            for r, i, g in zip(rows, flat_inputs, gs):
                r.append(i.finish(g, nested))
        _retire(flat_inputs)
        results = []
        for r, i in zip(rows, flat_inputs):
            shape = out.shape + i.value.shape
            if not r:
                block = np.zeros_like(i.value._data, shape=shape)
                results.append(_make(block) if nested else block)
                continue
            block = np.reshape(np.stack([np.asarray(x) if isinstance(x, numbers.Number) else x
                                         for x in r]), shape)
            results.append(block)
        grads, k = [], 0
        for inputs, rebuild in per_arg:
            grads.append(rebuild(results[k:k + len(inputs)]))
            k += len(inputs)
        grads = grads[0] if single else tuple(grads)
        return (grads, _to_plain(aux) if not nested else aux) if has_aux else grads
    jac_f.__name__ = f"jacobian({getattr(f, '__name__', 'f')})"
    return jac_f


def hessian(f, argnums=0):
    """``hessian(f)(*args)``: the Jacobian of the gradient, shape ``arg.shape + arg.shape``."""
    return jacobian(grad(f, argnums=argnums), argnums=argnums)
