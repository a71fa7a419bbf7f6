"""Test data shared by the test modules."""
import numpy as np


def random_array(rng, *shape, dtype=np.float64):
    """Standard-normal values of ``shape`` (real and imaginary parts for complex dtypes)."""
    a = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dtype)
