"""The NumPy functions that closed the coverage report: apply_along_axis, apply_over_axes, piecewise,
polydiv, roots and the set operations (differentiable values), and the non-differentiable ones
(isin, isneginf/isposinf, bit packing, business days, datetime_as_string, save/savez/savetxt).
Forward values against NumPy, gradients against finite differences."""
import io
import warnings

import numpy as np
import pytest

import gradarray as ga
from gradarray.coverage import status_of
from gradarray.testing import gradcheck, gradgradcheck


def _host(backend, x):
    return backend.to_host(x._data if isinstance(x, ga.GradArray) else x)


def _tracked(backend, a):
    return ga.asarray(backend.asarray(a), requires_grad=True)


def _same(backend, got, expected, rtol=1e-12):
    if isinstance(expected, tuple):
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            _same(backend, g, e, rtol)
        return
    assert type(got) is ga.GradArray
    host = _host(backend, got)
    assert host.shape == np.shape(expected) and host.dtype == np.asarray(expected).dtype
    np.testing.assert_allclose(host, expected, rtol=rtol, atol=1e-12)


def _as_gradarray(p):
    """The stand-in array cannot be iterated element by element (its __iter__ wraps NumPy scalars),
    and the dispatchers of np.roots and np.piecewise iterate their argument: give them a GradArray
    in the finite differences too."""
    return p if isinstance(p, ga.GradArray) else ga.asarray(p)


@pytest.mark.parametrize("func", [np.apply_along_axis, np.apply_over_axes, np.piecewise,
                                  np.polydiv, np.roots, np.union1d, np.intersect1d, np.setdiff1d,
                                  np.setxor1d])
def test_covered_as_composites(func):
    assert status_of(func) == "composite"


# ------------------------------------------------------------------------------ apply_along_axis
ALONG = [
    (lambda v: v * np.sum(v), 1, ()),                                  # vector -> vector
    (lambda v: np.sum(v ** 2), 0, ()),                                 # vector -> scalar
    (lambda v: np.outer(v, v[:2]), -1, ()),                            # vector -> matrix
    (lambda v, s, power=1: s * v[::-1] ** power, 1, (2.0,)),          # *args and **kwargs
]


@pytest.mark.parametrize("k", range(len(ALONG)))
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 2)])
def test_apply_along_axis(backend, rng, k, shape):
    func1d, axis, args = ALONG[k]
    kwargs = dict(power=2) if k == 3 else {}
    x = rng.standard_normal(shape)
    expected = np.apply_along_axis(func1d, axis, x, *args, **kwargs)
    _same(backend, np.apply_along_axis(func1d, axis, _tracked(backend, x), *args, **kwargs), expected)
    gradcheck(lambda a: np.apply_along_axis(func1d, axis, a, *args, **kwargs), backend.asarray(x))


def test_apply_along_axis_edge_cases(backend, rng):
    x = rng.standard_normal((3, 2))
    # a function that returns a constant (a Python float): NumPy's values, nothing tracked
    out = np.apply_along_axis(lambda v: 1.5, 0, _tracked(backend, x))
    _same(backend, out, np.apply_along_axis(lambda v: 1.5, 0, x))
    # the first result's dtype is the output's (NumPy writes into an array of that dtype)
    f = lambda v: np.sum(v) if v[0] > 0 else 1  # noqa: E731
    _same(backend, np.apply_along_axis(f, 1, ga.asarray(backend.asarray(x))),
          np.apply_along_axis(f, 1, x))
    with pytest.raises(ValueError, match="iteration dimensions are 0"):
        np.apply_along_axis(np.sum, 0, ga.asarray(backend.asarray(np.zeros((3, 0)))))


def test_apply_along_axis_second_order(rng):
    gradgradcheck(lambda a: np.apply_along_axis(lambda v: v * np.sum(v), 0, a),
                  rng.standard_normal((3, 2)))


def test_apply_over_axes(backend, rng):
    x = rng.standard_normal((2, 3, 2))
    for func, axes in [(np.sum, [0, 2]), (np.mean, -1), (lambda a, ax: np.cumsum(a, axis=ax), (1,))]:
        _same(backend, np.apply_over_axes(func, _tracked(backend, x), axes),
              np.apply_over_axes(func, x, axes))
        gradcheck(lambda a: np.apply_over_axes(func, a, axes), backend.asarray(x))
    with pytest.raises(ValueError, match="correct shape"):
        np.apply_over_axes(lambda a, ax: np.sum(a, axis=(0, 1)), ga.asarray(x), [0])


# ------------------------------------------------------------------------------------- piecewise
def _away_from(x, points, gap=0.1):
    """x with no element within ``gap`` of a breakpoint (finite differences must not cross one)."""
    for p in points:
        x = np.where(np.abs(x - p) < gap, p + 2 * gap, x)
    return x


PIECEWISE = [
    # conditions, functions (a later condition wins where several hold; constants; otherwise)
    (lambda a: [a < 0, a > 0.5], [lambda v: v ** 2, np.sin, 0.3]),
    (lambda a: [a < 0, a > -0.5], [lambda v: v ** 2, lambda v: 3 * v]),           # overlap: 2nd wins
    (lambda a: a > 0, [np.exp, lambda v: -v]),                                    # one condition
    (lambda a: [a > 0], [lambda v, s, t=1.0: s * v * t], (2.0,), dict(t=-1.5)),   # args, kw
]


@pytest.mark.parametrize("k", range(len(PIECEWISE)))
def test_piecewise(backend, rng, k):
    conds, funcs, args, kw = (PIECEWISE[k] + ((), {}))[:4]
    # one condition array that is not in a list: NumPy takes it as one condition for 1-D x only
    x = _away_from(rng.standard_normal(8 if k == 2 else (3, 4)), [0.0, 0.5, -0.5])

    def g(a):
        return np.piecewise(a, conds(a), funcs, *args, **kw)
    _same(backend, g(_tracked(backend, x)), g(x))
    gradcheck(lambda a: g(_as_gradarray(a)), backend.asarray(x))


def test_piecewise_gradient_only_through_chosen_pieces(backend):
    x = np.array([-2.0, -0.25, 1.0, 3.0])
    xt = _tracked(backend, x)
    # x < 0 -> x**3 is overridden by x > -1 -> 5x at -0.25; constants give no gradient
    y = np.piecewise(xt, [x < 0, x > -1, x > 2], [lambda v: v ** 3, lambda v: 5 * v, 7.0])
    np.testing.assert_allclose(_host(backend, y), [-8.0, -1.25, 5.0, 7.0])
    np.sum(y).backward()
    np.testing.assert_allclose(_host(backend, xt.grad), [12.0, 5.0, 5.0, 0.0])


def test_piecewise_tracked_parameter_and_scalar_input(backend, rng):
    x = np.array([-1.0, 0.5, 2.0])
    w = backend.asarray(np.array(1.3))
    xg = ga.asarray(backend.asarray(x))
    gradcheck(lambda w: np.piecewise(xg, [x < 0], [lambda v: v * w, lambda v: v + w ** 2]), w)
    # a plain host x reaches gradarray through a GradArray condition; the result keeps the tape
    if backend.name == "numpy":
        gradcheck(lambda w: np.piecewise(x, [xg < 0], [lambda v: v * w, 0.5]), w)
    # 0-d input: the conditions are scalars
    for value in (-0.7, 0.7):
        f = lambda a: np.piecewise(a, [a < 0, a >= 0], [np.sin, np.cos])  # noqa: E731
        _same(backend, f(_tracked(backend, np.array(value))), f(np.array(value)))
        gradcheck(f, backend.asarray(np.array(value)))


# --------------------------------------------------------------------------------------- polydiv
@pytest.mark.parametrize("m,n", [(5, 3), (4, 4), (3, 1), (2, 4)])
def test_polydiv(backend, rng, m, n):
    u, v = rng.standard_normal(m), rng.standard_normal(n)
    _same(backend, np.polydiv(_tracked(backend, u), _tracked(backend, v)), np.polydiv(u, v))
    gradcheck(np.polydiv, backend.asarray(u), backend.asarray(v))


def test_polydiv_exact_division_complex_and_second_order(backend, rng):
    v = np.array([1.0, -2.0, 0.5])
    u = np.polymul(v, [2.0, 1.0, -1.0])             # remainder 0: NumPy strips it to one zero
    _same(backend, np.polydiv(_tracked(backend, u), _tracked(backend, v)), np.polydiv(u, v))
    uc = rng.standard_normal(4) + 1j * rng.standard_normal(4)
    _same(backend, np.polydiv(_tracked(backend, uc), v), np.polydiv(uc, v))
    gradcheck(np.polydiv, backend.asarray(uc), backend.asarray(v + 0.3j))
    gradgradcheck(np.polydiv, rng.standard_normal(4), rng.standard_normal(2))
    # integer coefficients: float results, as NumPy's
    _same(backend, np.polydiv(ga.asarray(backend.asarray(np.array([1, 2, 3]))), [1, 1]),
          np.polydiv(np.array([1, 2, 3]), [1, 1]))


# ----------------------------------------------------------------------------------------- roots
ROOTS = [
    # (number of leading zeros, the rest of the coefficients)
    (0, np.array([1.0, -6.0, 11.0, -6.0])),        # real roots 1, 2, 3
    (0, np.array([1.0, 0.4, 2.0, -0.7])),          # a complex-conjugate pair
    (1, np.array([2.0, -3.0, 1.0])),               # a leading zero: stripped
    (0, np.array([1.0, 0.5, 2.0, 0.0])),           # a trailing zero: a root at 0
    (2, np.array([3.0, 0.0])),                     # one nonzero coefficient, one root at 0
    (0, np.array([2.0 + 1j, -1.0, 0.5j])),         # complex coefficients
]


@pytest.mark.parametrize("k", range(len(ROOTS)))
def test_roots(backend, k):
    lead, q = ROOTS[k]
    p = np.concatenate([np.zeros(lead), q])
    _same(backend, np.roots(_tracked(backend, p)), np.roots(p))
    # perturbing a leading zero changes the number of roots: finite differences for the rest only
    # (the trailing zero of cases 3 and 4 is perturbed: the root at 0 moves)
    gradcheck(lambda a: np.roots(_as_gradarray(np.concatenate([np.zeros_like(a, shape=(lead,)), a]))),
              backend.asarray(q))


def test_roots_derivative_for_a_stripped_leading_zero():
    """A leading zero coefficient still moves the finite roots (dr/dp0 = -r^(N-1) / p'(r)); compare
    with central differences of NumPy's roots, matched to the unperturbed ones (the perturbed
    polynomial has one more, very large, root)."""
    p = np.array([0.0, 2.0, -3.0, 1.0])                 # roots 1 and 0.5
    roots = np.roots(p)
    eps = 1e-7
    up, down = np.roots(p + [eps, 0, 0, 0]), np.roots(p - [eps, 0, 0, 0])
    for i, r in enumerate(roots):
        pt = ga.asarray(p, requires_grad=True)
        np.roots(pt)[i].backward()
        numeric = (up[np.argmin(abs(up - r))] - down[np.argmin(abs(down - r))]) / (2 * eps)
        np.testing.assert_allclose(pt.grad.numpy()[0], numeric, rtol=1e-5)


def test_roots_edge_cases(backend):
    _same(backend, np.roots(_tracked(backend, np.zeros(3))), np.roots(np.zeros(3)))
    _same(backend, np.roots(_tracked(backend, np.array([4.0]))), np.roots(np.array([4.0])))
    _same(backend, np.roots(ga.asarray(backend.asarray(np.array([1, -3, 2])))), np.roots([1, -3, 2]))
    with pytest.raises(ValueError, match="rank-1"):
        np.roots(ga.asarray(backend.asarray(np.ones((2, 2)))))


# -------------------------------------------------------------------------------- set operations
A = np.array([[3.0, 1.0, 7.0], [2.0, 1.0, 3.0]])    # duplicates 1 and 3
B = np.array([2.0, 5.0, 7.0, 5.0, -1.0])


@pytest.mark.parametrize("func,kwargs", [
    (np.union1d, {}), (np.intersect1d, {}), (np.setdiff1d, {}), (np.setxor1d, {}),
    (np.intersect1d, dict(return_indices=True)),
    (np.intersect1d, dict(assume_unique=True)), (np.setdiff1d, dict(assume_unique=True)),
    (np.setxor1d, dict(assume_unique=True)),
])
def test_set_values(backend, func, kwargs):
    a, b = (np.unique(A), np.unique(B)) if kwargs.get("assume_unique") else (A, B)
    expected = func(a, b, **kwargs)
    for args in [(_tracked(backend, a), _tracked(backend, b)),
                 (_tracked(backend, a), b.tolist()),
                 (a.tolist(), _tracked(backend, b)),
                 (ga.asarray(backend.asarray(a)), ga.asarray(backend.asarray(b)))]:
        got = func(*args, **kwargs)
        _same(backend, got, expected)
        for extra in (got[1:] if isinstance(got, tuple) else ()):
            assert not extra.requires_grad


# The values are locally smooth functions of the inputs only when a value shared by both inputs (or
# repeated in one) moves as one: the second operand is built from elements of the first.
def _shared(a, c):
    return np.concatenate([a[np.array([1, 4])], c])          # a[1] and a[4] are in both


SET_GRADS = [
    lambda a, c: np.union1d(a, _shared(a, c)),
    lambda a, c: np.intersect1d(a, _shared(a, c)),
    lambda a, c: np.intersect1d(_shared(a, c), a, return_indices=True)[0],
    lambda a, c: np.setdiff1d(a, _shared(a, c)),
    lambda a, c: np.setdiff1d(_shared(a, c), a),
    lambda a, c: np.setxor1d(a, _shared(a, c)),
    lambda a, c: np.setxor1d(np.concatenate([a, a[:2]]), c),     # duplicates inside ar1
    lambda a, c: np.union1d(np.reshape(a, (2, 3)), c),           # 2-D input, flattened
    lambda a, c: np.intersect1d(a, _shared(a, c), assume_unique=True),
    lambda a, c: np.setdiff1d(a, _shared(a, c), assume_unique=True),
    lambda a, c: np.setxor1d(a, _shared(a, c), assume_unique=True),
]


@pytest.mark.parametrize("k", range(len(SET_GRADS)))
def test_set_gradients(backend, rng, k):
    a = rng.permutation(np.arange(6.0)) + 0.25 * rng.standard_normal(6)
    c = np.array([10.5, -3.25])
    gradcheck(SET_GRADS[k], backend.asarray(a), backend.asarray(c))


@pytest.mark.parametrize("func", [np.union1d, np.intersect1d])
def test_shared_value_takes_its_gradient_from_the_first_input(backend, func):
    """Documented choice: a value in both inputs comes from its first occurrence in ar1."""
    a, b = np.array([4.0, 2.0, 2.0, 9.0]), np.array([2.0, 7.0, 4.0, 2.0])
    at, bt = _tracked(backend, a), _tracked(backend, b)
    out = func(at, bt)
    weights = np.arange(1.0, out.shape[0] + 1.0)
    np.sum(out * ga.asarray(backend.asarray(weights))).backward()
    host = _host(backend, out)
    grad_a, grad_b = _host(backend, at.grad), _host(backend, bt.grad)
    for value, w in zip(host, weights):
        first_in_a = np.flatnonzero(a == value)
        if first_in_a.size:
            assert grad_a[first_in_a[0]] == w and grad_a[first_in_a[1:]].sum() == 0
            assert grad_b[b == value].sum() == 0
        else:
            assert grad_b[np.flatnonzero(b == value)[0]] == w


def test_setdiff1d_second_input_gets_no_gradient(backend):
    a, b = np.array([3.0, 1.0, 3.0, 5.0]), np.array([5.0, 0.0])
    at, bt = _tracked(backend, a), _tracked(backend, b)
    out = np.setdiff1d(at, bt)
    np.sum(out * 2.0 + bt[0]).backward()          # bt reaches the loss only through bt[0]
    np.testing.assert_array_equal(_host(backend, at.grad), [2.0, 2.0, 0.0, 0.0])
    np.testing.assert_array_equal(_host(backend, bt.grad), [2.0, 0.0])


# ---------------------------------------------------------------------------- non-differentiable
def test_isin_isneginf_isposinf(backend, rng):
    x = np.array([1.0, -np.inf, 2.0, np.inf, np.nan, 3.0])
    xt = _tracked(backend, x)
    values = backend.asarray(np.array([2.0, 3.0]))
    for f, expected in [(lambda a: np.isin(a, values), np.isin(x, [2.0, 3.0])),
                        (lambda a: np.isin(a, values, invert=True), np.isin(x, [2, 3], invert=True)),
                        (np.isneginf, np.isneginf(x)), (np.isposinf, np.isposinf(x))]:
        out = f(xt)
        assert type(out) is ga.GradArray and not out.requires_grad
        np.testing.assert_array_equal(_host(backend, out), expected)
    # the mask can select a differentiable value
    y = xt[np.isin(xt, backend.asarray(np.array([2.0])))]
    np.sum(y * 3.0).backward()
    np.testing.assert_array_equal(_host(backend, xt.grad), [0, 0, 3.0, 0, 0, 0])


def test_packbits_unpackbits(backend):
    bits = np.array([[1, 0, 1, 1, 0, 0, 1, 0, 1], [0, 1, 1, 0, 1, 0, 0, 1, 1]], dtype=np.uint8)
    packed = np.packbits(ga.asarray(backend.asarray(bits)), axis=1)
    np.testing.assert_array_equal(_host(backend, packed), np.packbits(bits, axis=1))
    unpacked = np.unpackbits(packed, axis=1, count=9)
    np.testing.assert_array_equal(_host(backend, unpacked), bits)
    assert not unpacked.requires_grad


def test_business_days_and_datetime_strings():
    begin = np.array(["2024-01-01", "2024-03-15", "2024-07-04"], dtype="datetime64[D]")
    end = np.array(["2024-01-31", "2024-03-18", "2024-12-25"], dtype="datetime64[D]")
    b, e = ga.asarray(begin), ga.asarray(end)
    cases = [(np.busday_count, (b, e), (begin, end), dict(holidays=["2024-01-15"])),
             (np.busday_offset, (b, 3), (begin, 3), dict(roll="forward")),
             (np.is_busday, (e,), (end,), dict(weekmask="1111100")),
             (np.datetime_as_string, (b,), (begin,), dict(unit="D"))]
    for func, args, np_args, kwargs in cases:
        out = func(*args, **kwargs)
        assert type(out) is ga.GradArray and not out.requires_grad
        np.testing.assert_array_equal(out.numpy(), func(*np_args, **kwargs))


@pytest.mark.parametrize("writer", ["save", "savez", "savez_compressed", "savetxt"])
def test_io_writes_values_of_tracked_arrays(backend, rng, writer):
    """Writing a tracked array is not a gradient path: the raw values are written, with no
    GradientLostWarning (and no error in strict mode, where converting would raise)."""
    x = rng.standard_normal((2, 3))
    xt = _tracked(backend, x)
    buf = io.BytesIO()
    previous = ga.set_strict(True) if hasattr(ga, "set_strict") else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            if writer == "save":
                np.save(buf, xt)
            elif writer == "savetxt":
                np.savetxt(buf, xt)
            else:
                getattr(np, writer)(buf, xt, second=xt * 2.0)
    finally:
        if previous is not None:
            ga.set_strict(previous)
    buf.seek(0)
    if writer == "save":
        np.testing.assert_array_equal(np.load(buf), x)
    elif writer == "savetxt":
        np.testing.assert_allclose(np.loadtxt(buf), x, rtol=1e-15)
    else:
        with np.load(buf) as data:
            np.testing.assert_array_equal(data["arr_0"], x)
            np.testing.assert_array_equal(data["second"], x * 2.0)
