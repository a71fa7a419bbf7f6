"""Grad mode and strict mode: the two switches every other module reads.

Owns: whether the tape records (thread-local, ``no_grad``/``enable_grad``/``set_grad_enabled``),
what a conversion of a tracked array to a plain ndarray does (warn, or raise in strict mode), and
the thread's observers of recording and backward (set by ``gradarray.graph``).
Must not know about: arrays, nodes, rules — it imports nothing from gradarray.
"""
from __future__ import annotations

import functools
import threading

class _ThreadState(threading.local):
    """Per-thread settings; class attributes are the defaults every new thread starts with."""
    enabled = True      # grad mode
    # observers installed by gradarray.graph (anomaly mode, profiler, saved-value hooks); None
    # costs one attribute read per recorded call / backward step
    on_record = None    # on_record(node, output) after a call is recorded
    watch = None        # an object with before(node), after(node), input_grad(node, where, g)
    # ga.jit's recorder while it traces a call (gradarray/_trace_program.Tracer): dispatch hands it
    # each backend call, GradArray each value read, backward the pass; None costs one attribute read
    tracer = None


_state = _ThreadState()


# --------------------------------------------------------------------------------------------------
# grad mode (thread-local)
# --------------------------------------------------------------------------------------------------
def is_grad_enabled() -> bool:
    return _state.enabled


def _set_grad_enabled(flag: bool) -> bool:
    previous = _state.enabled
    _state.enabled = flag
    return previous


class _GradModeContext:
    """Base of ``no_grad`` / ``enable_grad``: a context manager that also decorates functions."""

    _flag = True

    def __enter__(self):
        self._previous = _set_grad_enabled(self._flag)
        return self

    def __exit__(self, *exc):
        _set_grad_enabled(self._previous)
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with type(self)():
                return func(*args, **kwargs)
        return wrapper


class no_grad(_GradModeContext):
    """Run NumPy code without recording a tape (thread-local)."""
    _flag = False


class enable_grad(_GradModeContext):
    """Re-enable recording inside a ``no_grad`` block (thread-local)."""
    _flag = True


class set_grad_enabled(_GradModeContext):
    def __init__(self, mode: bool):
        self._flag = bool(mode)

    def __call__(self, func):  # pragma: no cover - same as base, kept for symmetry
        return super().__call__(func)


# --------------------------------------------------------------------------------------------------
# strict mode: what happens when a tracked array is converted to a plain ndarray
# --------------------------------------------------------------------------------------------------
class GradientLostWarning(UserWarning):
    """A tracked GradArray was converted to a plain array; gradients cannot flow through it."""


_strict = [False]


def set_strict(flag: bool = True) -> bool:
    """In strict mode, converting a tracked GradArray to a plain ndarray raises instead of warning."""
    previous = _strict[0]
    _strict[0] = bool(flag)
    return previous

