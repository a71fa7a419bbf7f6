"""What the core looks up: derivative rules, implementations, and the functions of upper layers.

Owns: :class:`Rule` (how one NumPy callable is differentiated), :class:`ShapeDtype` (what a rule
receives for an argument whose value it does not need), the tables that map NumPy callables to rules
and implementations, and ``upper``: the functions that live above the core (indexing, creation,
array API, ufunc keywords) and that ``GradArray`` methods and dispatch call late-bound.
Rule files, creation and the array-API module register into these tables when they are imported.
Must not know about: GradArray, nodes, dispatch, any rule file — it imports nothing from gradarray.
"""
from __future__ import annotations

# --------------------------------------------------------------------------------------------------
# rules and registries
# --------------------------------------------------------------------------------------------------
class Rule:
    """How to differentiate one NumPy callable.

    ``vjps[i](g, ans, *args, **kwargs)`` returns the gradient for positional argument ``i`` (None when
    that argument is not differentiable); alternatively ``joint(g, ans, *args, **kwargs)`` returns a
    tuple with one entry per positional argument. ``g`` is the upstream gradient (a tuple for
    multi-output functions, zeros filled in for outputs that got none). A gradient for a sequence
    argument (``np.concatenate([a, b])``) is a list, one entry per element.

    ``save``: which forward values the node keeps — "args", "ans", "both" or "none". With "none" or
    "ans", array arguments reach the rule as :class:`ShapeDtype` placeholders (shape/dtype/ndim/size).
    ``params``: the names of the VJP's positional parameters after (g, ans), so that a tracked array
    passed by keyword is routed to the right gradient.
    ``view``: the forward result may share memory with argument 0 (reshape, transpose, basic
    indexing): it then shares the version counter, so in-place writes are seen through the view.
    ``modifies_g``: the (joint) VJP may write into the raw gradient it receives; the engine then
    hands it a buffer of its own (a copy when it has none), never a gradient another node holds.
    """

    __slots__ = ("vjps", "joint", "save_args", "save_ans", "params", "view", "name", "keep",
                 "modifies_g")

    def __init__(self, vjps=None, joint=None, save="args", params=None, view=False, name=None,
                 needs=None, modifies_g=False):
        if (vjps is None) == (joint is None):
            raise ValueError("a rule needs either per-argument vjps or one joint vjp")
        if save not in ("args", "ans", "both", "none"):
            raise ValueError(f"save must be 'args', 'ans', 'both' or 'none', not {save!r}")
        self.vjps = tuple(vjps) if vjps is not None else None
        self.joint = joint
        self.save_args = save in ("args", "both")
        self.save_ans = save in ("ans", "both")
        self.params = params or {}
        self.view = view
        self.name = name
        # ``needs[i]``: the argument positions VJP i reads. From it, ``keep`` maps the positions of
        # the tracked inputs of a call to the arguments worth saving: ``x * 3.0`` with only x
        # tracked saves 3.0, not x (less memory, and x may then be modified in place).
        self.keep = _keep_table(needs) if needs is not None and self.save_args else {}
        self.modifies_g = modifies_g


# NumPy callable -> Rule.  Ufuncs and array functions share one dict: a ufunc object and a function
# object never collide.
RULES: dict = {}
# NumPy function -> Python implementation that receives GradArrays (composites, custom wrappers).
IMPLEMENTATIONS: dict = {}
# (ufunc, method) -> implementation for reduce/accumulate/outer/at/reduceat; method -> generic impl.
UFUNC_METHODS: dict = {}
# Callables that compute untracked results (step functions, predicates, index queries).
NONDIFFERENTIABLE: set = set()
# Non-differentiable ufunc -> composite used when a tracked complex input reaches it: a step
# function on real numbers may be smooth on complex ones (np.sign(z) = z / |z|).
COMPLEX_IMPLEMENTATIONS: dict = {}
# ufunc -> composite used for non-NumPy data, where the backend lacks the ufunc (CuPy 13 has no
# vecdot/matvec/vecmat, and cannot look up scipy.special's private _zeta by name).
DEVICE_UFUNC_FALLBACKS: dict = {}


def _keep_table(needs):
    """{positions of the tracked inputs: (keep argument 0?, keep argument 1?, ...)}; a missing
    entry means: keep every argument."""
    table = {}
    positions = [i for i, n in enumerate(needs) if n is not None]
    for mask in range(1, 1 << len(positions)):
        tracked = tuple(p for k, p in enumerate(positions) if mask >> k & 1)
        kept = frozenset(j for p in tracked for j in needs[p])
        if kept != frozenset(range(len(needs))):
            table[tracked] = tuple(j in kept for j in range(len(needs)))
    return table


class ShapeDtype:
    """Stands in for an argument whose value a rule does not need (only its shape and dtype)."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape = shape
        self.dtype = dtype

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        n = 1
        for s in self.shape:
            n *= s
        return n

    def __repr__(self):
        return f"ShapeDtype({self.shape}, {self.dtype})"



# --------------------------------------------------------------------------------------------------
# functions of the upper layers, bound when their modules are imported (``bind_upper``)
# --------------------------------------------------------------------------------------------------
class _UpperLayers:
    """Late-bound entry points into modules that import the core (so the core cannot import them).

    getitem/setitem: ``overrides.indexing``; to_device/rebuild/create_like/like_creation/asarray:
    ``_creation``; array_namespace: ``array_api``; ufunc_with_kwargs/function_with_out:
    ``overrides.ufunc_methods``; python_ufunc (ufuncs made by ``np.frompyfunc``):
    ``overrides.pyfunc``.
    """

    __slots__ = ("getitem", "setitem", "to_device", "rebuild", "create_like", "like_creation",
                 "array_namespace", "ufunc_with_kwargs", "function_with_out", "asarray",
                 "python_ufunc")

    def __init__(self):
        for name in self.__slots__:
            setattr(self, name, _not_loaded(name))
        self.like_creation = frozenset()


def _not_loaded(name):
    def missing(*args, **kwargs):
        raise RuntimeError(f"gradarray is not fully imported ({name} is not bound); "
                           "import gradarray, not only its private modules")
    return missing


upper = _UpperLayers()


def bind_upper(**functions):
    """Called by an upper layer at import: ``bind_upper(getitem=getitem, setitem=setitem)``."""
    for name, fn in functions.items():
        setattr(upper, name, fn)
