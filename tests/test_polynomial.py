"""gradarray.polynomial and numpy.polynomial under trace_numpy, against finite differences."""
import warnings

import numpy as np
import pytest
from numpy.polynomial import Chebyshev, Legendre, Polynomial
from numpy.polynomial import chebyshev as C
from numpy.polynomial import polynomial as P

import gradarray as ga
import gradarray.polynomial as gp
from gradarray._tables import IMPLEMENTATIONS, RULES
from gradarray.testing import gradcheck, gradgradcheck
from gradarray.trace import trace_numpy

X = np.array([-0.8, -0.1, 0.35, 0.9])
C1 = np.array([0.5, -1.0, 2.0, 0.3])
C2 = np.array([[0.5, 1.0], [-1.0, 0.2], [2.0, 0.3]])


@pytest.fixture(autouse=True)
def tape_must_not_be_lost():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ga.GradientLostWarning)
        yield


def needs_lstsq():
    if np.linalg.lstsq not in RULES and np.linalg.lstsq not in IMPLEMENTATIONS:
        pytest.skip("fitting needs the np.linalg.lstsq rule (linalg family)")


VALS = ["polyval", "chebval", "legval", "hermval", "hermeval", "lagval"]


@pytest.mark.parametrize("name", VALS)
def test_val_x_and_coefficients(backend, name):
    f = getattr(gp, name)
    gradcheck(f, backend.asarray(X), backend.asarray(C1))
    gradcheck(f, backend.asarray(X), backend.asarray(C2))           # tensor=True: shape (2, 4)
    gradcheck(lambda x, c: f(x, c, tensor=False), backend.asarray(X[:2]), backend.asarray(C2))


@pytest.mark.parametrize("name", VALS)
def test_val_matches_numpy(name):
    module = {"poly": "polynomial", "cheb": "chebyshev", "leg": "legendre", "herm": "hermite",
              "herme": "hermite_e", "lag": "laguerre"}[name[:-3]]
    ref = getattr(getattr(np.polynomial, module), name)
    f = getattr(gp, name)
    for c in (C1, C2, [1, 2, 3]):
        assert np.allclose(f(ga.asarray(X), c).numpy(), ref(X, c))
    assert np.allclose(f(0.3, ga.asarray(C1)).numpy(), ref(0.3, C1))


def test_second_order():
    gradgradcheck(gp.chebval, X, C1)


def test_algebra_functions():
    gradcheck(lambda a, b: gp.polymul(a, b), C1, C1[:2])
    gradcheck(lambda a: gp.polyder(a, 2), C1)
    gradcheck(lambda a, b: gp.hermadd(a, b), C1, C1[:3])


def test_classes_inside_trace_numpy():
    def evaluate(c, x):
        with trace_numpy():
            return Polynomial(c)(x) + Chebyshev(c, domain=[-2, 2])(x) + Legendre(c)(x) + \
                Polynomial(c).deriv()(x)
    gradcheck(evaluate, C1, X)


@pytest.mark.parametrize("legacy", [lambda x: gp.legvander(x, 3), lambda x: gp.polyvander(x, 3), lambda c: Legendre(c).deriv()(X),
                                    lambda c: gp.chebint(c, lbnd=0.5, k=[1.0]),
                                    lambda c: gp.polyint(c, m=2, k=[0.5, 1.0])])
def test_recurrences_into_one_buffer(legacy):
    """legvander fills v[i] from v[i-1] * x (saved) and then writes v[i + 1]: the engine sees a write
    into the buffer that holds a saved row (one version counter per buffer; reported)."""
    try:
        gradcheck(trace_numpy(legacy), C1)
    except (RuntimeError, TypeError) as exc:
        if "modified in place" in str(exc) or "item assignment" in str(exc):
            pytest.xfail(f"engine limitation, reported: {exc}"[:200])
        raise


def test_polyval_from_numpy_module_inside_trace_numpy():
    # numpy.polynomial.polynomial.polyval itself (not the gp wrapper) on tracked coefficients
    gradcheck(trace_numpy(lambda x, c: P.polyval(x, c)), X, C1)
    gradcheck(trace_numpy(lambda x, c: C.chebval(x, c)), X, C1)


def test_fits():
    needs_lstsq()
    x = np.linspace(-1, 1, 7)
    y = np.cos(2 * x) + 0.1 * x
    gradcheck(lambda y: gp.polyfit(x, y, 3), y)
    gradcheck(lambda y: gp.chebfit(x, y, 2), y)

    def fit_class(y):
        with trace_numpy():
            return Polynomial.fit(x, y, 3).coef
    gradcheck(fit_class, y)


def test_fit_with_respect_to_x():
    """NumPy's fit does ``scl[scl == 0] = 1`` on the output of np.sqrt, which the sqrt rule saved:
    the engine refuses the write into a saved output (reported; needs copy-on-write of saved outputs)."""
    needs_lstsq()
    x = np.linspace(-1, 1, 7)
    try:
        gradcheck(lambda x: gp.polyfit(x, np.cos(x), 2), x)
    except RuntimeError as exc:
        if "modified in place" in str(exc):
            pytest.xfail("write into the saved output of sqrt (reported)")
        raise
