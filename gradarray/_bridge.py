"""How gradarray gets between legacy code and libraries that never dispatch to it (SciPy,
``numpy.polynomial``, ``np.vectorize``): implementations swapped in where the library would drop the
tape.

Most of SciPy is Python code that starts with ``np.asarray`` (or hands arrays to compiled code), so a
GradArray that reaches it comes out as a plain array with a ``GradientLostWarning``. For each such
function that gradarray differentiates, a rule module registers an *implementation* written with
differentiable ``np.*`` calls (``@implements_scipy("scipy.linalg", "expm")``; the name says where it
is used most, any module works). The bridge puts a thin wrapper in the module's namespace that calls
the implementation when any argument holds a GradArray and the library's own function otherwise (one
type scan per call; behaviour on plain data is unchanged). Methods of classes
(``rv_continuous.logpdf``, ``vectorize.__call__``) are wrapped on the class, so frozen distributions
and names bound before gradarray was imported are covered too.

When the wrappers are installed: at registration for modules already imported, and by an import
hook for modules imported later. A name bound with ``from scipy.x import f`` *before*
``import gradarray`` keeps SciPy's own function; it still warns (``GradientLostWarning``) rather than
losing the gradient silently. Import gradarray first (or ``gradarray.scipy.install()`` and re-import).

Must not know about: any particular rule — rule modules register here; this module only installs.
"""
from __future__ import annotations

import functools
import importlib.abc
import importlib.util
import sys
import threading

from ._array import GradArray

__all__ = ["implements_scipy", "implements_scipy_method", "after_import", "install", "original_method",
           "holds_gradarray", "IMPLEMENTATIONS"]

# "scipy.linalg" -> {"expm": implementation}
IMPLEMENTATIONS: dict = {}
# ("scipy.stats._distn_infrastructure", "rv_continuous") -> {"logpdf": implementation(self, ...)}
METHOD_IMPLEMENTATIONS: dict = {}
# module name -> functions to run once it is imported (``after_import``)
AFTER_IMPORT: dict = {}

_lock = threading.RLock()
_installed: dict = {}          # (module, name) -> the original object, while a wrapper is in place


def holds_gradarray(values) -> bool:
    """Does any value (one level into lists, tuples and dicts, deeper into nested lists) hold a
    GradArray?"""
    for v in values:
        t = type(v)
        if t is GradArray:
            return True
        if (t is list or t is tuple) and holds_gradarray(v):
            return True
        if t is dict and holds_gradarray(v.values()):
            return True
    return False


def implements_scipy(module, name=None):
    """Decorator: the implementation of ``module.name`` used when an argument holds a GradArray."""
    def register(impl):
        IMPLEMENTATIONS.setdefault(module, {})[name or impl.__name__] = impl
        if module in sys.modules:
            _install_module(module)
        return impl
    return register


def implements_scipy_method(module, cls, method):
    """Decorator: the implementation of ``cls.method`` (``impl(self, *args, **kwargs)``)."""
    def register(impl):
        METHOD_IMPLEMENTATIONS.setdefault((module, cls), {})[method] = impl
        if module in sys.modules:
            _install_module(module)
        return impl
    return register


def after_import(module, hook):
    """Run ``hook()`` now if ``module`` is imported, else right after it is."""
    AFTER_IMPORT.setdefault(module, []).append(hook)
    if module in sys.modules:
        hook()


def _wrapper(original, implementation, method=False):
    if method:
        @functools.wraps(original)
        def call(self, *args, **kwargs):
            if holds_gradarray(args) or (kwargs and holds_gradarray(kwargs.values())):
                return implementation(self, *args, **kwargs)
            return original(self, *args, **kwargs)
    else:
        @functools.wraps(original)
        def call(*args, **kwargs):
            if holds_gradarray(args) or (kwargs and holds_gradarray(kwargs.values())):
                return implementation(*args, **kwargs)
            return original(*args, **kwargs)
    call.__gradarray_original__ = original
    return call


def original_method(cls, method):
    """The library's own ``method`` of ``cls`` (or of a base class), behind the wrapper that
    ``implements_scipy_method`` installed there."""
    for klass in cls.__mro__:
        function = klass.__dict__.get(method)
        if function is not None:
            return getattr(function, "__gradarray_original__", function)
    raise AttributeError(method)


def _install_module(module_name):
    """Put the wrappers registered for ``module_name`` (already imported) in place."""
    module = sys.modules[module_name]
    with _lock:
        for name, impl in IMPLEMENTATIONS.get(module_name, {}).items():
            current = getattr(module, name, None)
            if current is None or getattr(current, "__gradarray_original__", None) is not None:
                continue
            _installed[(module_name, name)] = current
            setattr(module, name, _wrapper(current, impl))
        for (mod, cls_name), methods in METHOD_IMPLEMENTATIONS.items():
            if mod != module_name:
                continue
            cls = getattr(module, cls_name)
            for method, impl in methods.items():
                current = cls.__dict__.get(method) or getattr(cls, method)
                if getattr(current, "__gradarray_original__", None) is not None:
                    continue
                _installed[(f"{module_name}.{cls_name}", method)] = current
                setattr(cls, method, _wrapper(current, impl, method=True))


class _AfterImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Import hook: when a SciPy module with registered implementations is imported, install them."""

    def find_spec(self, fullname, path, target=None):
        if not _wanted(fullname):
            return None
        # let the real finders find it, then wrap its loader
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _InstallingLoader(spec.loader, fullname)
        return spec


def _wanted(fullname):
    return fullname in IMPLEMENTATIONS or fullname in AFTER_IMPORT or \
        any(mod == fullname for mod, _ in METHOD_IMPLEMENTATIONS)


class _InstallingLoader(importlib.abc.Loader):
    def __init__(self, loader, fullname):
        self.loader = loader
        self.fullname = fullname

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        _after_import(self.fullname)


def _after_import(fullname):
    _install_module(fullname)
    for hook in AFTER_IMPORT.get(fullname, ()):
        hook()


_hook = _AfterImport()


def install():
    """Install every registered wrapper in the modules already imported, and the import hook for
    the others (idempotent)."""
    with _lock:
        if _hook not in sys.meta_path:
            sys.meta_path.insert(0, _hook)
        for module_name in list(IMPLEMENTATIONS) + [m for m, _ in METHOD_IMPLEMENTATIONS]:
            if module_name in sys.modules:
                _install_module(module_name)
