"""The ``functional_api`` parametrisation (tests/conftest.py): tests that use the functional API run
twice, ``eager`` and ``jit``. Under ``jit``, ``ga.grad`` & co. are checking wrappers: each call
computes the eager result, then the same through ``ga.jit`` three times with the same arguments
(traced; traced again and validated; replayed), which must be identical to it; the test then checks
the replayed result. ``gradcheck`` does the same for its VJP (``gradarray.testing._jit_default``).

``jit`` outside for ``grad``, ``value_and_grad``, ``jacobian`` (``ga.jit(ga.grad(f))``: forward and
backward recorded as one program); inside for ``vjp``, ``jvp``, ``hessian`` (``ga.vjp(ga.jit(f))``:
the jitted call's node). ``COUNTS`` says how many checked calls replayed and why the others ran
eagerly; a call counts as replayed only when its ``Jitted.stats`` show a replay.
"""
import ast
import collections
import functools
import inspect
import pathlib
import textwrap
import threading
import warnings

import gradarray as ga
import gradarray.functional as F
import gradarray.testing as T
from gradarray.jit import JitWarning
from gradarray.testing import _assert_identical, _rounds_differently

TRANSFORMS = ("grad", "value_and_grad", "jacobian", "vjp", "jvp", "hessian")
_ORIGINAL = {name: getattr(F, name) for name in TRANSFORMS}
_TESTS = pathlib.Path(__file__).resolve().parent


# ------------------------------------------------------------------------------ counting
class Counts:
    """Per transform: checked calls, calls replayed, reasons of the calls that ran eagerly."""

    def __init__(self):
        self.calls = collections.Counter()
        self.replayed = collections.Counter()
        self.rounded = collections.Counter()
        self.reasons = collections.Counter()

    def record(self, name, jitted, refusals, exact):
        self.calls[name] += 1
        self.rounded[name] += not exact
        if jitted.stats["replays"]:
            self.replayed[name] += 1
            return
        whys = {_reason(w.message) for w in refusals} or {
            "traced on every call: the two recordings differ" if jitted.stats["traces"] == 3
            else f"no replay, no JitWarning ({jitted.stats})"}
        self.reasons.update(whys)

    def summary(self, top=5):
        n, r = sum(self.calls.values()), sum(self.replayed.values())
        reasons = "; ".join(f"{why} ({k})" for why, k in self.reasons.most_common(top))
        lines = [f"functional API under ga.jit: {n} calls, {r} replayed, {n - r} ran eagerly"
                 + (f": {reasons}" if reasons else "")]
        lines += [f"  {name}: {self.calls[name]} calls, {self.replayed[name]} replayed"
                  + (f", {self.rounded[name]} equal only to rounding" if self.rounded[name] else "")
                  for name in sorted(self.calls)]
        return lines


def _reason(message):
    """``ga.jit(f): <why>; these calls run eagerly.`` -> ``<why>``, details in brackets cut."""
    why = str(message).partition("): ")[2].rpartition("; these calls run eagerly")[0]
    return why.split(" (", 1)[0]


COUNTS = Counts()


# ------------------------------------------------------------------------------ the wrappers
_active = threading.local()


def _busy():
    """Inside a checked call (a transform used by ``f``, ``hessian`` = ``jacobian(grad)``), the
    transforms are the originals: only the outermost call is checked."""
    return getattr(_active, "depth", 0) > 0


class _Checking:
    def __enter__(self):
        _active.depth = getattr(_active, "depth", 0) + 1

    def __exit__(self, *exc):
        _active.depth -= 1


def _three_calls(name, jitted, call, expected):
    """``call()`` three times; each result identical to ``expected``. Returns the third (replayed).
    The calls' warnings are held back (the eager call showed them to the test); ``JitWarning``s
    are counted."""
    exact = True
    with _Checking(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in (1, 2, 3):
            result = call()
            exact &= _assert_identical(result, expected, f"ga.{name} under ga.jit, call {k}",
                                       _rounds_differently(jitted))
    COUNTS.record(name, jitted, [w for w in caught if issubclass(w.category, JitWarning)], exact)
    return result


def _jit_outside(name):
    """``ga.jit(T(f))`` against ``T(f)``: grad, value_and_grad, jacobian."""
    original = _ORIGINAL[name]

    @functools.wraps(original)
    def transform(f, *targs, **tkw):
        eager = original(f, *targs, **tkw)

        @functools.wraps(eager)
        def checked(*args, **kwargs):
            if _busy():
                return eager(*args, **kwargs)
            with _Checking():
                expected = eager(*args, **kwargs)
            jitted = ga.jit(eager)
            return _three_calls(name, jitted, lambda: jitted(*args, **kwargs), expected)
        return checked
    return transform


def _hessian(f, *targs, **tkw):
    """``hessian(ga.jit(f))`` against ``hessian(f)``."""
    eager = _ORIGINAL["hessian"](f, *targs, **tkw)

    @functools.wraps(eager)
    def checked(*args, **kwargs):
        if _busy():
            return eager(*args, **kwargs)
        with _Checking():
            expected = eager(*args, **kwargs)
        jitted = ga.jit(f)
        through = _ORIGINAL["hessian"](jitted, *targs, **tkw)
        return _three_calls("hessian", jitted, lambda: through(*args, **kwargs), expected)
    return checked


def _jvp(f, primals, tangents):
    """``jvp(ga.jit(f), ...)`` against ``jvp(f, ...)``."""
    jvp = _ORIGINAL["jvp"]
    if _busy():
        return jvp(f, primals, tangents)
    with _Checking():
        expected = jvp(f, primals, tangents)
    jitted = ga.jit(f)
    return _three_calls("jvp", jitted, lambda: jvp(jitted, primals, tangents), expected)


def _vjp(f, *primals, **kw):
    """``vjp(ga.jit(f), ...)`` against ``vjp(f, ...)``; the pullback compares the three jitted
    pullbacks with the eager one and returns the last one's gradients."""
    vjp = _ORIGINAL["vjp"]
    if _busy():
        return vjp(f, *primals, **kw)
    with _Checking():
        expected = vjp(f, *primals, **kw)
    jitted = ga.jit(f)
    runs = []

    def call():                 # the outputs (and aux) are compared here, the pullbacks later
        runs.append(vjp(jitted, *primals, **kw))
        return runs[-1][:1] + runs[-1][2:]
    _three_calls("vjp", jitted, call, expected[:1] + expected[2:])

    def pullback(cotangent):
        grads = expected[1](cotangent)
        with _Checking():
            for k, run in enumerate(runs, 1):
                result = run[1](cotangent)
                if not _assert_identical(result, grads, f"ga.vjp under ga.jit, call {k}: the "
                                         "pullback", _rounds_differently(jitted)):
                    COUNTS.rounded["vjp"] += 1
        return result
    return (runs[-1][0], pullback) + tuple(runs[-1][2:])


WRAPPERS = {"grad": _jit_outside("grad"), "value_and_grad": _jit_outside("value_and_grad"),
            "jacobian": _jit_outside("jacobian"), "hessian": _hessian, "jvp": _jvp, "vjp": _vjp}


def install(monkeypatch):
    """The ``jit`` run of a test: the checking wrappers in ``gradarray`` and
    ``gradarray.functional``, ``gradcheck`` through ``ga.jit`` too."""
    for name, wrapper in WRAPPERS.items():
        monkeypatch.setattr(ga, name, wrapper)
        monkeypatch.setattr(F, name, wrapper)
    monkeypatch.setattr(T, "_jit_default", True)
    monkeypatch.setattr(T, "_jit_instead_of_differences", True)    # the eager run did them
    monkeypatch.setattr(T, "_jit_observer", COUNTS.record)


# ------------------------------------------------------------------------------ which tests
_OWNERS = {"ga", "gradarray", "F"}
_CHECKS = {"gradcheck", "gradgradcheck"}


def uses_functional_api(function):
    """Does the test's source (or a function of the test modules it names) use the functional API:
    ``ga.grad``... (``gradarray.``, ``F.``, ``gradarray.functional.``), ``gradcheck``,
    ``gradgradcheck``?"""
    return _uses(function, set())


def _uses(function, seen):
    code = getattr(function, "__code__", None)
    if code is None or code in seen or not _in_tests(code):
        return False
    seen.add(code)
    tree = _parse(code)
    if tree is None:
        return False
    helpers = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            owner = node.value
            if node.attr in _CHECKS or (node.attr in TRANSFORMS and (
                    (isinstance(owner, ast.Name) and owner.id in _OWNERS) or
                    (isinstance(owner, ast.Attribute) and owner.attr == "functional"))):
                return True
        elif isinstance(node, ast.Name):
            if node.id in _CHECKS:
                return True
            helper = function.__globals__.get(node.id)
            if inspect.isfunction(helper):
                helpers.append(helper)
    return any(_uses(h, seen) for h in helpers)


def _in_tests(code):
    return pathlib.Path(code.co_filename).resolve().parent == _TESTS


@functools.lru_cache(maxsize=None)
def _parse(code):
    try:
        lines, _ = inspect.getsourcelines(code)
    except (OSError, TypeError):
        return None
    try:
        return ast.parse(textwrap.dedent("".join(lines)))
    except SyntaxError:         # a lambda inside a longer expression
        return None
