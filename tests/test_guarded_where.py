"""Guarded computations (issue 12, point 7): ``np.where(r > 0, 1 / r, 0)`` at ``r == 0`` gives the
finite gradient of what NumPy returns, not the NaN of 0 * inf that PyTorch, JAX and autograd give."""
import numpy as np
import pytest

import gradarray as ga
from gradarray.testing import gradcheck

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")    # NumPy's own 1/0 in forward


def _grad(f, x):
    return ga.grad(lambda v: np.sum(f(v)))(np.asarray(x, dtype=float))


GUARDED = {
    "reciprocal": (lambda r: np.where(r > 0, 1.0 / r, 0.0), [0.0, 2.0], [0.0, -0.25]),
    "sqrt_log_chain": (lambda r: np.where(r > 0, np.sqrt(r) * np.log(r), 0.0), [0.0, 1.0],
                       [0.0, 1.0]),
    "power_chain": (lambda r: np.where(r != 0, np.exp(-1.0 / r ** 2), 0.0), [0.0, 1.0],
                    [0.0, 2.0 * np.exp(-1.0)]),
    "sinc": (lambda x: np.where(x == 0, 1.0, np.sin(x) / x), [0.0, np.pi / 2],
             [0.0, -4.0 / np.pi ** 2]),
    "log_of_zero_branch_scalar_other": (lambda p: np.where(p > 0, p * np.log(p), 0.0), [0.0, 1.0],
                                        [0.0, 1.0]),
}


@pytest.mark.parametrize("name", sorted(GUARDED))
def test_guarded_branch_at_its_singular_point(name):
    f, x, expected = GUARDED[name]
    np.testing.assert_allclose(_grad(f, x), expected, atol=1e-12)


@pytest.mark.parametrize("name", sorted(GUARDED))
def test_guarded_branch_matches_finite_differences_away_from_the_guard(name):
    f = GUARDED[name][0]
    assert gradcheck(lambda v: np.sum(f(v) * np.arange(1.0, 4.0)), np.array([0.7, 1.3, 2.1]))


def test_broadcast_condition_and_both_branches_used():
    r = np.array([[0.0, 1.0, 4.0], [2.0, 0.0, 9.0]])
    cond = np.array([True, False, True])                    # broadcast over rows
    f = lambda v: np.where(cond & (v > 0), 1.0 / v, v * 3.0)   # noqa: E731
    got = _grad(f, r)
    expected = np.where(cond & (r > 0), -1.0 / np.where(r > 0, r, 1.0) ** 2, 3.0)
    np.testing.assert_allclose(got, expected)


def test_value_used_in_both_a_guarded_and_a_plain_path():
    f = lambda r: np.where(r > 0, 1.0 / r, 0.0) + r ** 2   # noqa: E731
    np.testing.assert_allclose(_grad(f, [0.0, 2.0]), [0.0, -0.25 + 4.0])


def test_a_real_nan_in_the_kept_branch_still_shows():
    f = lambda r: np.where(r >= 0, 1.0 / r, 0.0)           # noqa: E731  kept at r == 0: inf
    assert np.isinf(_grad(f, [0.0])[0])


def test_backward_method_and_jacobian_agree():
    r = ga.asarray(np.array([0.0, 0.5, 2.0]), requires_grad=True)
    np.sum(np.where(r > 0, np.log(r) * r, 0.0)).backward()
    np.testing.assert_allclose(r.grad.numpy(), [0.0, np.log(0.5) + 1, np.log(2.0) + 1])
    jac = ga.jacobian(lambda v: np.where(v > 0, 1.0 / v, 0.0))(np.array([0.0, 2.0]))
    np.testing.assert_allclose(jac, np.diag([0.0, -0.25]))
