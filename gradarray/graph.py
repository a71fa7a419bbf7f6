"""Tools for looking at the tape: anomaly mode, a profiler, saved-value hooks, a picture of the graph.

- ``with ga.detect_anomaly():`` records where each node was created (the user's file and line) and,
  during backward, raises at the first gradient that is NaN or inf, naming the forward operation,
  where it was called, and which of its inputs received the bad gradient (PyTorch's
  ``detect_anomaly``). ``detect_anomaly(raise_error=False)`` only marks such nodes (``draw_graph``
  colours them).
- ``with ga.profile() as p:`` counts, times and sizes the recorded operations, forward and backward,
  by operation; ``print(p)`` shows the table (``p.table(sort_by=...)``).
- ``with ga.graph.saved_values_hooks(pack, unpack):`` runs ``pack`` on every array a node saves for
  backward and ``unpack`` before backward uses it (move to host memory, compress...), as PyTorch's
  ``saved_tensors_hooks``.
- ``ga.draw_graph(y, params={"w": w})`` returns the graph as DOT source (and writes SVG/PNG with
  Graphviz's ``dot`` program when ``path=`` is given).

All of it is off by default and costs one attribute read per recorded call and backward step: the
tools install thread-local observers (``_modes._state.on_record`` / ``.watch``) while active.
Must not know about: any rule; it reads nodes (``_tape.Node``) only.
"""
from __future__ import annotations

import html
import os
import shutil
import functools
import subprocess
import threading
import time
import traceback
import weakref
from collections import defaultdict

import numpy as np

from ._array import GradArray, _make
from ._modes import _state
from ._tape import PACKED_NODES
from ._versions import _byte_bounds

__all__ = ["detect_anomaly", "profile", "saved_values_hooks", "draw_graph", "creation_site"]

_CREATED = weakref.WeakKeyDictionary()      # node -> traceback.StackSummary (anomaly mode)
_NONFINITE = weakref.WeakKeyDictionary()    # node -> message of its first non-finite gradient
_local = threading.local()                  # the active tools of this thread, innermost last


# --------------------------------------------------------------------------- observer plumbing
def _tools():
    tools = getattr(_local, "tools", None)
    if tools is None:
        tools = _local.tools = []
    return tools


def _refresh():
    """Point the engine's per-thread observer slots at the active tools (None when there are
    none: the engine then pays one attribute read)."""
    tools = _tools()
    recorders = [t for t in tools if hasattr(t, "on_record")]
    watchers = [t for t in tools if hasattr(t, "before")]
    _state.on_record = (None if not recorders else recorders[0].on_record if len(recorders) == 1
                        else lambda node, out: [r.on_record(node, out) for r in recorders])
    _state.watch = None if not watchers else watchers[0] if len(watchers) == 1 else _Watchers(watchers)


class _Watchers:
    def __init__(self, watchers):
        self.watchers = watchers

    def before(self, node):
        for w in self.watchers:
            w.before(node)

    def after(self, node):
        for w in self.watchers:
            w.after(node)

    def input_grad(self, node, where, g):
        for w in self.watchers:
            w.input_grad(node, where, g)


class _Tool:
    """A context manager (also a decorator) that is active in the thread that entered it."""

    def __enter__(self):
        _tools().append(self)
        _refresh()
        return self

    def __exit__(self, *exc):
        _tools().remove(self)
        _refresh()
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self:
                return func(*args, **kwargs)
        return wrapper


def _raw_values(g):
    values = getattr(g, "values", None)           # SparseGradient / MaskedGradient
    if values is not None and not hasattr(g, "_data"):
        return values
    return g._data if type(g) is GradArray else g


# --------------------------------------------------------------------------------- anomaly mode
def _user_stack():
    """The caller's stack without gradarray's own frames (and without NumPy's dispatch frames)."""
    frames = [f for f in traceback.extract_stack()[:-1]
              if os.sep + "gradarray" + os.sep not in f.filename
              and os.sep + "numpy" + os.sep not in f.filename]
    return traceback.StackSummary.from_list(frames[-8:])


def creation_site(node):
    """Where ``node`` was recorded (a ``traceback.StackSummary``), if anomaly mode was on."""
    return _CREATED.get(node)


class detect_anomaly(_Tool):
    """Find the operation whose backward produced the first NaN or inf (see the module docstring).

    ``check_nan=False`` only records where nodes were created; ``raise_error=False`` marks bad
    nodes for :func:`draw_graph` instead of raising."""

    def __init__(self, check_nan=True, raise_error=True):
        self.check_nan = check_nan
        self.raise_error = raise_error

    def on_record(self, node, out):
        _CREATED[node] = _user_stack()

    def before(self, node):
        pass

    def after(self, node):
        pass

    def input_grad(self, node, where, g):
        if not self.check_nan:
            return
        values = _raw_values(g)
        if values is None or not hasattr(values, "dtype") or values.dtype.kind not in "fc":
            return
        if bool(np.all(np.isfinite(values))):
            return
        kind = "NaN" if bool(np.any(np.isnan(values))) else "inf"
        site = _CREATED.get(node)
        where_text = "".join(site.format()) if site else \
            "  (created before anomaly mode was entered: run the forward pass inside it too)\n"
        message = (f"the backward of {node.name()} produced {kind} in the gradient of its input "
                   f"{where!r}; the forward call was recorded at:\n{where_text}")
        _NONFINITE[node] = message
        if self.raise_error:
            raise FloatingPointError("gradarray.detect_anomaly: " + message)


# ------------------------------------------------------------------------------------- profiler
class profile(_Tool):
    """Per-operation counts, times and memory of the recorded calls, forward and backward.

    Forward time of an operation is the wall time since the previous recorded call (the operation
    itself plus the Python code between the two calls); backward time is the time of its VJPs.
    Memory: bytes of the outputs it created and of the values it saved for backward, and bytes of
    the gradients its backward produced."""

    def __init__(self):
        self.forward = defaultdict(lambda: [0, 0.0, 0, 0])   # name -> [calls, s, out B, saved B]
        self.backward = defaultdict(lambda: [0, 0.0, 0])     # name -> [calls, s, grad B]
        self._last = None
        self._started = None

    def __enter__(self):
        self._last = time.perf_counter()
        return super().__enter__()

    def on_record(self, node, out):
        now = time.perf_counter()
        row = self.forward[node.name()]
        row[0] += 1
        row[1] += now - self._last
        outs = out if isinstance(out, (tuple, list)) else (out,)
        row[2] += sum(o._data.nbytes for o in outs if type(o) is GradArray)
        row[3] += node.saved_nbytes
        self._last = time.perf_counter()

    def before(self, node):
        self._started = time.perf_counter()

    def after(self, node):
        row = self.backward[node.name()]
        row[0] += 1
        row[1] += time.perf_counter() - self._started

    def input_grad(self, node, where, g):
        values = _raw_values(g)
        self.backward[node.name()][2] += getattr(values, "nbytes", 0)

    def totals(self):
        """(forward seconds, backward seconds, forward calls, backward calls)."""
        return (sum(r[1] for r in self.forward.values()), sum(r[1] for r in self.backward.values()),
                sum(r[0] for r in self.forward.values()), sum(r[0] for r in self.backward.values()))

    def table(self, sort_by="total"):
        """The table as text; ``sort_by``: "total", "forward", "backward", "calls", "memory"."""
        names = set(self.forward) | set(self.backward)
        rows = []
        for name in names:
            f = self.forward.get(name, [0, 0.0, 0, 0])
            b = self.backward.get(name, [0, 0.0, 0])
            rows.append((name, f[0], f[1], b[1], f[1] + b[1], f[2] + f[3] + b[2], f[3]))
        key = {"total": 4, "forward": 2, "backward": 3, "calls": 1, "memory": 5}[sort_by]
        rows.sort(key=lambda r: r[key], reverse=True)
        lines = [f"{'operation':<28}{'calls':>8}{'forward ms':>12}{'backward ms':>13}"
                 f"{'total ms':>10}{'memory KiB':>12}{'saved KiB':>11}"]
        for name, calls, fw, bw, total, mem, saved in rows:
            lines.append(f"{name[:27]:<28}{calls:>8}{fw * 1e3:>12.3f}{bw * 1e3:>13.3f}"
                         f"{total * 1e3:>10.3f}{mem / 1024:>12.1f}{saved / 1024:>11.1f}")
        fw, bw, nf, nb = self.totals()
        lines.append(f"{'all':<28}{nf:>8}{fw * 1e3:>12.3f}{bw * 1e3:>13.3f}{(fw + bw) * 1e3:>10.3f}")
        return "\n".join(lines)

    def __str__(self):
        return self.table()


# ---------------------------------------------------------------------------- saved-value hooks
class saved_values_hooks(_Tool):
    """``pack(raw) -> anything`` runs on every array a node recorded in this block saves for
    backward; ``unpack(packed) -> raw`` runs when backward needs it. The node then holds only what
    ``pack`` returned (and the byte range of the original, for the in-place checks). A packed node
    cannot be differentiated twice (``create_graph``): its saved values come back as constants."""

    def __init__(self, pack, unpack):
        self.pack, self.unpack = pack, unpack

    def on_record(self, node, out):
        pack = self._pack
        if node.raw is not None:
            node.raw = tuple(pack(r) for r in node.raw)
            node.args = tuple(None if type(a) is GradArray else a for a in node.args)
        elif node.args:
            node.args = tuple(pack(a._data) if type(a) is GradArray else a for a in node.args)
        if node.ans is not None:
            node.ans = tuple(pack(a) for a in node.ans) if isinstance(node.ans, tuple) \
                else pack(node.ans)
        if node.versions:
            node.versions = [(counter, seen, _byte_bounds(raw)) for counter, seen, raw in
                             node.versions]
        PACKED_NODES[node] = self._unpack_node

    def _pack(self, value):
        """Arrays go through ``pack`` (and are marked); scalars and None stay as they are."""
        if hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, np.generic):
            return _Packed(self.pack(value))
        return value

    def _unpack_node(self, node, create_graph):
        if create_graph:
            raise RuntimeError(f"{node.name()} saved its values through saved_values_hooks, which "
                               "cannot be differentiated twice; record without the hooks for "
                               "create_graph / higher derivatives")
        unpack = self.unpack

        def restore(value, wrap=False):
            if type(value) is not _Packed:
                return value
            raw = unpack(value.packed)
            return _make(raw) if wrap else raw
        if node.raw is not None:
            node.raw = tuple(restore(r) for r in node.raw)
        elif node.args:
            node.args = tuple(restore(a, wrap=True) for a in node.args)
        if node.ans is not None:
            node.ans = tuple(restore(a) for a in node.ans) if isinstance(node.ans, tuple) \
                else restore(node.ans)


class _Packed:
    """A saved value as ``pack`` returned it."""

    __slots__ = ("packed",)

    def __init__(self, packed):
        self.packed = packed


# ------------------------------------------------------------------------------------- drawing
def _walk(outputs):
    """Nodes and leaves reachable from ``outputs``, and the shape/dtype of each node's outputs as
    its consumers saw them."""
    nodes, leaves, out_meta = [], {}, {}
    stack = []
    for o in outputs:
        if o._node is not None:
            out_meta[(o._node, o._out_index)] = (o.shape, o.dtype)
            stack.append(o._node)
        elif o._requires_grad:
            leaves[id(o)] = o
    seen = set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        nodes.append(node)
        for _, t, k, shape, dtype in node.edges:
            if type(t) is GradArray:
                leaves[id(t)] = t
            else:
                out_meta.setdefault((t, k), (shape, dtype))
                stack.append(t)
    return nodes, leaves, out_meta


def draw_graph(outputs, params=None, path=None, format=None):
    """The recorded graph of ``outputs`` (a GradArray or a list of them) as Graphviz DOT source.

    One box per recorded call (operation, output shape and dtype, device, memory of the values it
    saved), one ellipse per leaf, labelled with its name from ``params`` (``{"w": w}``); nodes whose
    backward produced NaN/inf under ``detect_anomaly(raise_error=False)``, and leaves whose
    ``.grad`` holds NaN/inf, are red. With ``path=`` the picture is also written, in ``format``
    (default: the file's extension, e.g. "svg" or "png"), by Graphviz's ``dot`` program (the
    ``graphviz`` Python package is used when installed)."""
    outputs = [outputs] if type(outputs) is GradArray else list(outputs)
    names = {id(v): k for k, v in (params or {}).items()}
    device = str(outputs[0].device) if outputs else "cpu"
    nodes, leaves, out_meta = _walk(outputs)
    ids = {}
    lines = ["digraph gradarray {", '  rankdir="BT";',
             '  node [fontname="Helvetica", fontsize=10];']
    for i, node in enumerate(sorted(nodes, key=lambda n: -n.seq)):
        ids[node] = f"n{i}"
        meta = [out_meta.get((node, k)) for k in range(node.n_out)]
        shape_text = ", ".join(f"{tuple(m[0])} {np.dtype(m[1]).name}" for m in meta if m) or "?"
        saved = node.saved_nbytes
        label = [html.escape(node.name()), shape_text, device]
        if saved:
            label.append(f"saved {_size(saved)}")
        style = ', style="filled", fillcolor="#f4a6a6"' if node in _NONFINITE else \
            ', style="filled", fillcolor="#e8eef7"'
        lines.append(f'  {ids[node]} [shape=box, label="{_join(label)}"{style}];')
    for j, (key, leaf) in enumerate(leaves.items()):
        ids[key] = f"l{j}"
        bad = leaf.grad is not None and not bool(np.all(np.isfinite(leaf.grad.numpy())))
        label = _join([names.get(key, "leaf"), f"{leaf.shape} {leaf.dtype.name}", str(leaf.device)])
        fill = "#f4a6a6" if bad else "#dff0d8"
        lines.append(f'  {ids[key]} [shape=ellipse, style="filled", fillcolor="{fill}", '
                     f'label="{label}"];')
    for node in nodes:
        for where, t, _, _, _ in node.edges:
            source = ids[id(t)] if type(t) is GradArray else ids[t]
            lines.append(f'  {source} -> {ids[node]} [label="{html.escape(str(where))}", '
                         'fontsize=8];')
    lines.append("}")
    dot = "\n".join(lines) + "\n"
    if path is not None:
        _render(dot, path, format)
    return dot


def _join(parts):
    return "\\n".join(html.escape(str(p)).replace('"', "'") for p in parts)


def _size(nbytes):
    return f"{nbytes} B" if nbytes < 1024 else f"{nbytes / 1024:.1f} KiB" if nbytes < 2 ** 20 \
        else f"{nbytes / 2 ** 20:.1f} MiB"


def _render(dot, path, format):
    format = format or os.path.splitext(path)[1].lstrip(".") or "svg"
    try:
        import graphviz
    except ImportError:
        graphviz = None
    if graphviz is not None:
        data = graphviz.Source(dot).pipe(format=format)
    else:
        program = shutil.which("dot")
        if program is None:
            raise RuntimeError("draw_graph(path=...) needs Graphviz's `dot` program (e.g. "
                               "`apt-get install graphviz`) or the `graphviz` Python package; "
                               "the DOT source is returned without it")
        data = subprocess.run([program, f"-T{format}"], input=dot.encode(), check=True,
                              capture_output=True).stdout
    with open(path, "wb") as fh:
        fh.write(data)

