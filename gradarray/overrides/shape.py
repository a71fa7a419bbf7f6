"""Rules for shape manipulation and joining."""
from __future__ import annotations

import numpy as np

from .._registry import defvjp

defvjp(np.reshape, lambda g, ans, a, *args, **kwargs: np.reshape(g, a.shape), save="none", view=True)
defvjp(np.copy, lambda g, ans, a, *args, **kwargs: g, save="none")
defvjp(np.broadcast_to, lambda g, ans, a, shape, subok=False: g, save="none", view=True)


def _astype(x, dtype):
    return x.astype(dtype)


from .._registry import Primitive  # noqa: E402

astype_primitive = Primitive(_astype)
defvjp(astype_primitive, lambda g, ans, x, dtype: g, save="none")   # the engine casts g back
