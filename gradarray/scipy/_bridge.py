"""The SciPy side of the bridge (``gradarray/_bridge.py``): the registration API the modules of this
package use, and SciPy's array-API mode.

With ``SCIPY_ARRAY_API=1`` SciPy's ``scipy.special`` functions look up ``xp.special.<name>`` on the
array namespace (``gradarray.array_api.special``, set by ``special_functions``), and SciPy refuses a
call that mixes NumPy arrays with another array type ("Multiple namespaces"): ``install`` teaches
SciPy's vendored ``array_namespace`` that such a call belongs to gradarray.
"""
from __future__ import annotations

import functools
import sys

from .. import array_api
from .._bridge import (after_import, holds_gradarray, implements_scipy, implements_scipy_method,
                       install as _install_wrappers, original_method)

__all__ = ["implements_scipy", "implements_scipy_method", "holds_gradarray", "install",
           "original_method"]


def _teach_array_namespace():
    """SciPy's vendored ``array_namespace`` raises "Multiple namespaces" when a GradArray meets NumPy
    arrays, lists or NumPy scalars in one call (legacy code mixes them all the time): such a call
    belongs to gradarray, whose functions accept all of those."""
    compat = sys.modules["scipy._lib.array_api_compat"]
    if getattr(compat.array_namespace, "__gradarray_original__", None):
        return
    original = compat.array_namespace

    @functools.wraps(original)
    def array_namespace(*xs, **kwargs):
        if holds_gradarray(xs):
            return array_api
        return original(*xs, **kwargs)
    array_namespace.__gradarray_original__ = original
    compat.array_namespace = array_namespace


def install():
    """The wrappers and the import hook (``gradarray/_bridge.py``), and SciPy's array-API mode."""
    _install_wrappers()
    after_import("scipy._lib.array_api_compat", _teach_array_namespace)
