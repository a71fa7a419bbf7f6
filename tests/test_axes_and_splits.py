"""Axis arguments checked like NumPy's, and the backward of splits into any number of sections.

``test_bad_axis_like_numpy`` sweeps every function gradarray gives a rule or a composite that takes
``axis`` (or ``axes``, ``axis1``/``axis2``, ``source``/``destination``, ``axisa``/``axisb``/
``axisc``, ``start``): for each out-of-range axis (``ndim`` and ``-ndim - 1``) and repeated axis,
the call on GradArrays must raise the same exception type as the call on plain ndarrays (usually
``numpy.exceptions.AxisError``, a subclass of both ValueError and IndexError), or, where NumPy
accepts the call, return the same value.
"""
import inspect
import warnings

import numpy as np
import pytest
from numpy.exceptions import AxisError

import gradarray as ga
from gradarray.testing import gradcheck, gradgradcheck

from _arrays import random_array

R = np.random.default_rng(7)
X = random_array(R, 3, 4)                   # the 2-d operand of most cases
C3 = random_array(R, 4, 3)                  # 3-vectors along the last axis (cross products)
POS = np.abs(random_array(R, 3, 4)) + 0.5   # positive (geomspace, logaddexp)
IDX = np.argsort(X, axis=0)                 # integer indices of X's shape (take/put_along_axis)


def _plain(a):
    return np.array(a, copy=True)


def _tracked(a):
    return ga.asarray(np.array(a, copy=True), requires_grad=True)


def _method(name, *args):
    """``a.name(*args, **kwargs)``; in-place methods (sort, partition) give back the array."""
    def call(a, **kwargs):
        out = getattr(a, name)(*args, **kwargs)
        return a if out is None else out
    call.__name__ = name
    return call


def _axis_cases(ndim):
    """Out-of-range axes, positive and negative."""
    return [{"axis": ndim}, {"axis": -ndim - 1}]


def _tuple_cases(ndim, key="axis"):
    """Out of range inside a tuple, and repeated axes (also spelled once negative)."""
    return [{key: ndim}, {key: -ndim - 1}, {key: (0, ndim)}, {key: (-ndim - 1, 0)},
            {key: (0, 0)}, {key: (1, -ndim + 1)}]


def _pair_cases(ndim, first, second, defaults=(0, 1)):
    """Two single-axis arguments (axis1/axis2, source/destination, ...): each out of range, and
    both naming the same axis."""
    a, b = defaults
    return [{first: ndim, second: b}, {first: -ndim - 1, second: b},
            {first: a, second: ndim}, {first: a, second: -ndim - 1},
            {first: 1, second: 1}, {first: 1, second: -ndim + 1}]


X_ = lambda w: (w(X),)                                          # noqa: E731
TUPLE_REDUCTIONS = [np.sum, np.prod, np.mean, np.std, np.var, np.nansum, np.nanprod, np.nanmean,
                    np.nanstd, np.nanvar, np.max, np.min, np.amax, np.amin, np.nanmax, np.nanmin,
                    np.ptp, np.median, np.nanmedian, np.average, np.linalg.vector_norm,
                    np.add.reduce, np.multiply.reduce, np.maximum.reduce, np.minimum.reduce,
                    np.logaddexp.reduce, np.fmax.reduce,
                    np.count_nonzero, np.all, np.any]            # (computed by NumPy, untracked)
AXIS_ONLY = [np.cumsum, np.cumprod, np.nancumsum, np.nancumprod, np.diff, np.trapezoid, np.unwrap,
             np.sort, np.argsort, np.add.accumulate, np.multiply.accumulate,
             np.maximum.accumulate, np.minimum.accumulate, np.logaddexp.accumulate,
             np.fft.fft, np.fft.ifft, np.fft.rfft, np.fft.irfft, np.fft.hfft, np.fft.ihfft,
             np.linalg.norm, np.argmax, np.argmin, np.nanargmax, np.nanargmin]
NEWER = [getattr(np, name) for name in ("cumulative_sum", "cumulative_prod", "unstack")
         if hasattr(np, name)]                                     # NumPy >= 2.1
AXIS_ONLY += NEWER
AXES_FFT = [np.fft.fftn, np.fft.ifftn, np.fft.rfftn, np.fft.irfftn, np.fft.fft2, np.fft.ifft2,
            np.fft.rfft2, np.fft.irfft2, np.fft.fftshift, np.fft.ifftshift]


def _name(f):
    if isinstance(getattr(f, "__self__", None), np.ufunc):
        return f"{f.__self__.__name__}.{f.__name__}"
    module = getattr(f, "__module__", "") or ""
    prefix = module.replace("numpy", "np") + "." if module.startswith("numpy.") else ""
    return prefix + getattr(f, "__name__", repr(f))


# (ga function, numpy reference, args builder, bad-axis keyword sets); the builder receives the
# function that makes an array argument (plain copy or tracked GradArray)
CASES = []


def case(func, build, kwargs_list, reference=None):
    CASES.extend((func, reference or func, build, kw) for kw in kwargs_list)


for _f in TUPLE_REDUCTIONS:
    case(_f, X_, _tuple_cases(2) + [{"axis": (0, 2), "keepdims": True}])
for _f in AXIS_ONLY:
    case(_f, X_, _axis_cases(2) + [{"axis": (0, 0)}])
for _f in AXES_FFT:
    case(_f, X_, _tuple_cases(2, "axes"))
case(np.linalg.norm, X_, [{"axis": (0, 2)}, {"axis": (-3, 1)}, {"axis": (0, 0)},
                          {"axis": (1, -1), "ord": "fro"}, {"axis": (0, 2), "ord": 1}])
case(np.quantile, lambda w: (w(X), 0.3), _tuple_cases(2))
case(np.percentile, lambda w: (w(X), 30), _tuple_cases(2))
case(np.nanquantile, lambda w: (w(X), 0.3), _tuple_cases(2))
case(np.nanpercentile, lambda w: (w(X), 30), _tuple_cases(2))
case(np.average, lambda w: (w(X),), [{"axis": 2, "weights": np.ones(4)},
                                     {"axis": -3, "weights": np.ones(3)},
                                     {"axis": (0, 0), "weights": np.ones((3, 4))}])
case(np.add.reduceat, lambda w: (w(X), [0, 2]), _axis_cases(2))
case(np.gradient, X_, _tuple_cases(2))
case(np.partition, lambda w: (w(X), 1), _axis_cases(2))
case(np.argpartition, lambda w: (w(X), 1), _axis_cases(2))
case(np.unique, X_, _axis_cases(2))
case(np.take, lambda w: (w(X), [0, 1]), _axis_cases(2))
case(np.take_along_axis, lambda w: (w(X), IDX), _axis_cases(2))
case(np.put_along_axis, lambda w: (w(X), IDX, w(X)), _axis_cases(2))
case(np.compress, lambda w: ([True, False, True], w(X)), _axis_cases(2))
case(np.delete, lambda w: (w(X), 1), _axis_cases(2))
case(np.insert, lambda w: (w(X), 1, 5.0), _axis_cases(2))
case(np.repeat, lambda w: (w(X), 2), _axis_cases(2))
case(np.append, lambda w: (w(X), w(X)), _axis_cases(2))
case(np.apply_along_axis, lambda w: (np.sum, 2, w(X)), [{}])
case(np.apply_along_axis, lambda w: (np.sum, -3, w(X)), [{}])
case(np.apply_over_axes, lambda w: (np.sum, w(X)), [{"axes": 2}, {"axes": (-3,)}, {"axes": (0, 0)}])
if "axis" in inspect.signature(np.trim_zeros).parameters:        # NumPy >= 2.2
    case(np.trim_zeros, X_, _tuple_cases(2))
case(np.flip, X_, _tuple_cases(2))
case(np.roll, lambda w: (w(X), 1), _tuple_cases(2))
case(np.roll, lambda w: (w(X), (1, 2)), [{"axis": (0, 0)}, {"axis": (1, -1)}])
case(np.rot90, X_, [{"axes": (0, 2)}, {"axes": (-3, 1)}, {"axes": (0, 0)}, {"axes": (1, -1)}])
case(np.concatenate, lambda w: ([w(X), w(X)],), _axis_cases(2))
case(np.stack, lambda w: ([w(X), w(X)],), _axis_cases(3))
case(np.split, lambda w: (w(X), 1), _axis_cases(2))
case(np.array_split, lambda w: (w(X), 2), _axis_cases(2))
case(np.expand_dims, X_, _tuple_cases(3))
case(np.squeeze, lambda w: (w(X[None, :, None]),), _tuple_cases(4))
case(np.transpose, X_, [{"axes": (0, 2)}, {"axes": (-3, 1)}, {"axes": (0, 0)},
                        {"axes": (1, -1)}, {"axes": (1, 0, 2)}])
case(np.swapaxes, X_, _pair_cases(2, "axis1", "axis2"))
case(np.moveaxis, X_, _pair_cases(2, "source", "destination") + [
    {"source": (0, 0), "destination": (0, 1)}, {"source": (0, 1), "destination": (1, -1)},
    {"source": (0, 2), "destination": (0, 1)}])
case(np.rollaxis, X_, [{"axis": 2}, {"axis": -3}, {"axis": 0, "start": 3},
                       {"axis": 0, "start": -3}, {"axis": 1, "start": 2}])
case(np.diagonal, X_, _pair_cases(2, "axis1", "axis2"))
case(np.trace, X_, _pair_cases(2, "axis1", "axis2"))
case(np.cross, lambda w: (w(C3), w(C3)),
     [{"axis": 2}, {"axis": -3}, {"axisa": 2}, {"axisb": -3}, {"axisc": 2}, {"axisc": -2}])
case(np.tensordot, lambda w: (w(X), w(X.T)),
     [{"axes": ([2], [0])}, {"axes": ([1], [-3])}, {"axes": ([1, 1], [0, 0])}])
case(np.linalg.tensordot, lambda w: (w(X), w(X.T)),
     [{"axes": ([2], [0])}, {"axes": ([1], [-3])}, {"axes": ([1, 1], [0, 0])}])
case(np.linalg.vecdot, lambda w: (w(X), w(X)), _axis_cases(2))
case(np.linalg.cross, lambda w: (w(C3), w(C3)), _axis_cases(2))
case(np.linalg.tensorsolve, lambda w: (w(random_array(R, 2, 3, 6)), w(X[:2, :3])),
     [{"axes": (3,)}, {"axes": (-4,)}, {"axes": (0, 0)}])
case(np.vecdot, lambda w: (w(X), w(X)), _axis_cases(2))
case(np.matmul, lambda w: (w(X), w(X.T)), [{"axes": [(0, 2), (0, 1), (0, 1)]},
                                           {"axes": [(0, 1), (-3, 1), (0, 1)]},
                                           {"axes": [(0, 0), (0, 1), (0, 1)]}])
for _f in (np.linspace, np.logspace, np.geomspace):
    case(_f, lambda w: (w(POS[0]), w(POS[1] + 1)), [{"axis": 2}, {"axis": -3}])
for _f in (ga.fft.hfftn, ga.fft.ihfftn):
    reference = {ga.fft.hfftn: np.fft.irfftn, ga.fft.ihfftn: np.fft.rfftn}[_f]
    case(_f, X_, _tuple_cases(2, "axes"), reference=reference)
for _f in (ga.fft.hfft2, ga.fft.ihfft2):
    reference = {ga.fft.hfft2: np.fft.irfft2, ga.fft.ihfft2: np.fft.rfft2}[_f]
    case(_f, X_, [{"axes": (0, 2)}, {"axes": (-3, 1)}, {"axes": (0, 0)}], reference=reference)
for _meth, _args, _cases in [
        ("sort", (), _axis_cases(2)), ("argsort", (), _axis_cases(2)),
        ("partition", (1,), _axis_cases(2)), ("compress", ([True, False, True],), _axis_cases(2)),
        ("sum", (), _tuple_cases(2)), ("mean", (), _tuple_cases(2)), ("max", (), _tuple_cases(2)),
        ("cumsum", (), _axis_cases(2)), ("squeeze", (), _tuple_cases(2)),
        ("take", ([0],), _axis_cases(2)), ("repeat", (2,), _axis_cases(2))]:
    case(_method(_meth, *_args), X_, _cases)
case(_method("swapaxes", 0, 2), X_, [{}])
case(_method("transpose", 0, 0), X_, [{}])
case(_method("diagonal", 0, 1, 2), X_, [{}])
case(_method("trace", 0, 0, 0), X_, [{}])


def _outcome(func, build, make, kwargs):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return func(*build(make), **kwargs), None
    except Exception as e:                      # noqa: BLE001 (compared with NumPy's below)
        return None, e


def _host(out, backend=None):
    if isinstance(out, (tuple, list)):
        return [_host(o, backend) for o in out]
    if isinstance(out, ga.GradArray):
        return backend.to_host(out) if backend is not None else out.numpy()
    return np.asarray(out)


def _case_id(c):
    func, _, _, kwargs = c
    return f"{_name(func)}-{kwargs}"


def _check_like_numpy(func, reference, build, kwargs, make, backend=None):
    expected, np_err = _outcome(reference, build, _plain, kwargs)
    got, ga_err = _outcome(func, build, make, kwargs)
    if np_err is not None:
        assert ga_err is not None, f"NumPy raises {np_err!r}; gradarray returned {got!r}"
        assert isinstance(ga_err, type(np_err)), \
            f"NumPy raises {type(np_err).__name__}, gradarray {type(ga_err).__name__}: {ga_err!r}"
        message = str(ga_err)
        assert message, "the error needs a message"
        if isinstance(np_err, AxisError):       # names the axis (or rollaxis' start) it refuses
            assert "axis" in message or "start" in message, message
        return
    assert ga_err is None, f"NumPy accepts the call; gradarray raises {ga_err!r}"
    if func is reference:
        np.testing.assert_allclose(_host(got, backend), _host(expected), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("func, reference, build, kwargs", CASES, ids=[_case_id(c) for c in CASES])
def test_bad_axis_like_numpy(func, reference, build, kwargs):
    _check_like_numpy(func, reference, build, kwargs, _tracked)


@pytest.mark.parametrize("func, reference, build, kwargs", CASES, ids=[_case_id(c) for c in CASES])
def test_bad_axis_like_numpy_untracked(func, reference, build, kwargs):
    """Without gradient tracking many functions take a shortcut to NumPy: the same errors."""
    _check_like_numpy(func, reference, build, kwargs, lambda a: ga.asarray(np.array(a, copy=True)))


@pytest.mark.parametrize("func, reference, build, kwargs", CASES, ids=[_case_id(c) for c in CASES])
def test_bad_axis_on_a_device_like_numpy(backend, func, reference, build, kwargs):
    """Device arrays take gradarray's own code paths where CuPy lacks a function or keyword
    (cumulative_sum, vector_norm, nanquantile, ufunc methods): the same errors there. Only the
    calls NumPy refuses are run (what a device backend supports at all is tested elsewhere)."""
    if backend.name == "numpy":
        pytest.skip("the NumPy backend is swept above")
    if _outcome(reference, build, _plain, kwargs)[1] is None:
        pytest.skip("NumPy accepts this call")

    def make(a):
        return ga.asarray(backend.asarray(a), requires_grad=True)
    _check_like_numpy(func, reference, build, kwargs, make, backend)


# 0-d arrays: every axis is out of range (NumPy's own exceptions for 0-d reduce are kept)
Z = np.array(1.5)
Z_CASES = [(np.sort, (), {}), (np.sort, (), {"axis": 0}), (np.partition, (0,), {}),
           (np.diff, (), {}), (np.diff, (), {"axis": 0}), (np.trapezoid, (), {}),
           (np.gradient, (), {}), (np.cumsum, (), {"axis": 0}), (np.add.accumulate, (), {}),
           (np.maximum.accumulate, (), {}), (np.logaddexp.accumulate, (), {}),
           (np.add.reduceat, ([0],), {}), (np.fmax.reduce, (), {"axis": 0}),
           (np.fmax.reduce, (), {"axis": -1}), (np.fmax.reduce, (), {"axis": 1}),
           (np.fmax.reduce, (), {"axis": (0,)}), (np.logaddexp.reduce, (), {"axis": 0}),
           (np.linalg.vecdot, (), {}), (np.linalg.vector_norm, (), {"axis": 0}),
           (np.median, (), {"axis": 0}), (np.rollaxis, (0,), {})] + [(f, (), {}) for f in NEWER]


@pytest.mark.parametrize("func, extra, kwargs", Z_CASES,
                         ids=[f"{_name(f)}-{kw}" for f, _, kw in Z_CASES])
def test_zero_dimensional_axis_like_numpy(func, extra, kwargs):
    build = (lambda w: (w(Z),) + extra) if func is not np.linalg.vecdot else (lambda w: (w(Z), w(Z)))
    _check_like_numpy(func, func, build, kwargs, _tracked)


# the array-API namespace, against array_api_compat's NumPy namespace
XP_CASES = [("argsort", {}), ("argsort", {"descending": True}), ("sort", {"descending": True}),
            ("unstack", {}), ("vecdot", {}), ("cumulative_sum", {}), ("concat", {}),
            ("expand_dims", {}), ("flip", {}), ("roll", {"shift": 1}), ("stack", {}),
            ("take", {}), ("diff", {}), ("sum", {}), ("std", {}), ("max", {})]


@pytest.mark.parametrize("name, extra", XP_CASES, ids=[f"{n}-{e}" for n, e in XP_CASES])
@pytest.mark.parametrize("axis", [2, -3, (0, 0), (0, 2)])
def test_array_api_bad_axis_like_numpy(name, extra, axis):
    xpn = pytest.importorskip("array_api_compat.numpy")
    from gradarray import array_api as xpg

    def build(xp):
        def args(w):
            a = w(X)
            if name in ("concat", "stack"):
                return ([a, a],)
            if name == "vecdot":
                return (a, a)
            if name == "take":
                return (a, xp.asarray([0, 1]))
            return (a,)
        return args
    kwargs = {**extra, "axis": axis}
    expected, np_err = _outcome(getattr(xpn, name), build(xpn), np.asarray, kwargs)
    got, ga_err = _outcome(getattr(xpg, name), build(ga), _tracked, kwargs)
    if np_err is None:
        assert ga_err is None, f"NumPy accepts the call; gradarray raises {ga_err!r}"
        np.testing.assert_allclose(_host(got), _host(expected))
    else:
        assert isinstance(ga_err, type(np_err)), f"NumPy raises {np_err!r}, gradarray {ga_err!r}"


# ------------------------------------------------------------------------------------- splitting
def _split_loss(split, sections, axis, used):
    """f(x): the split pieces (only those in ``used``, or all), each weighted differently."""
    def f(x):
        kwargs = {} if axis is None else {"axis": axis}
        pieces = split(x, sections, **kwargs)
        keep = range(len(pieces)) if used is None else [i for i in used if i < len(pieces)]
        return [pieces[i] * (i + 1.0) for i in keep]
    return f


SPLIT_CASES = [
    # (function, shape, sections or indices, axis)
    (np.split, (6,), 1, 0), (np.split, (6,), 2, 0), (np.split, (6,), 3, -1),
    (np.split, (4, 6), 1, 1), (np.split, (4, 6), 2, 0), (np.split, (4, 6), 3, -1),
    (np.split, (2, 3, 4), 1, 2), (np.split, (2, 3, 4), 2, -1),
    (np.split, (6,), [], 0), (np.split, (6,), [2], 0), (np.split, (4, 6), [1, 4], 1),
    (np.split, (4, 6), [0, 0, 6], 1), (np.split, (6,), [-2], 0), (np.split, (6,), [2, 10], 0),
    # indices out of order: the pieces overlap (x[0:3], x[3:1], x[1:4]), so gradients add up
    (np.split, (4, 6), [3, 1], 0), (np.split, (6,), [4, -4], 0),
    (np.split, (4, 6), np.array([5, 2, 3]), 1),
    (np.array_split, (5,), 1, 0), (np.array_split, (5,), 2, 0), (np.array_split, (5,), 3, 0),
    (np.array_split, (4, 5), 1, 1), (np.array_split, (4, 5), 3, 1), (np.array_split, (4, 5), 3, -2),
    (np.array_split, (7, 2), 4, 0), (np.array_split, (3,), 5, 0), (np.array_split, (2, 3, 4), 1, 1),
    (np.array_split, (4, 5), [2], -1), (np.array_split, (4, 5), [], 0),
    (np.hsplit, (6,), 1, None), (np.hsplit, (4, 6), 1, None), (np.hsplit, (4, 6), 3, None),
    (np.hsplit, (2, 4, 3), [1], None),
    (np.vsplit, (4, 6), 1, None), (np.vsplit, (4, 6), 2, None), (np.vsplit, (4, 3, 2), [1, 3], None),
    (np.dsplit, (2, 3, 4), 1, None), (np.dsplit, (2, 3, 4), 2, None), (np.dsplit, (2, 3, 4), [3], None),
]


@pytest.mark.parametrize("split, shape, sections, axis", SPLIT_CASES,
                         ids=[f"{s.__name__}-{sh}-{sec}-{ax}" for s, sh, sec, ax in SPLIT_CASES])
@pytest.mark.parametrize("used", [None, [0], [1, 2]], ids=["all", "first", "later"])
def test_split_gradients(split, shape, sections, axis, used):
    f = _split_loss(split, sections, axis, used)
    x = random_array(R, *shape)
    pieces = f(ga.asarray(x))
    if not pieces:
        pytest.skip("no piece used")
    ref = _split_loss(split, sections, axis, used)(x)
    for p, r in zip(pieces, ref):
        np.testing.assert_allclose(p.numpy(), r)
    assert gradcheck(f, x)


def test_split_into_one_section_backward():
    """The reported case: one section (a one-output node), with .backward() and create_graph."""
    x = ga.asarray(random_array(R, 2, 3), requires_grad=True)
    (piece,) = np.split(x, 1)
    np.sum(piece * 3.0).backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 3), 3.0))
    y = ga.asarray(random_array(R, 4), requires_grad=True)
    (only,) = np.array_split(y, 1, axis=0)
    np.sum(only ** 2).backward()
    np.testing.assert_allclose(y.grad.numpy(), 2 * y.numpy())
    # second derivatives: the VJP itself runs on GradArrays under create_graph
    assert gradgradcheck(lambda t: np.split(t, 1, axis=1)[0] ** 3, random_array(R, 2, 3))
    assert gradgradcheck(lambda t: np.array_split(t ** 2, 1)[0], random_array(R, 3))


def test_split_with_overlapping_pieces_second_order():
    assert gradgradcheck(lambda t: np.split(t, [3, 1], axis=1)[2] ** 2, random_array(R, 2, 5))
    assert gradgradcheck(lambda t: [p ** 2 for p in np.array_split(t, [4, 1])], random_array(R, 6))


@pytest.mark.parametrize("split", [np.split, np.array_split])
def test_split_one_section_on_a_device(backend, split):
    x = backend.asarray(random_array(R, 3, 4))
    assert gradcheck(lambda t: split(t, 1, axis=1), x)
    assert gradcheck(lambda t: split(t, 2, axis=0)[0] if split is np.array_split else
                     split(t, 2, axis=1)[1], x)
    assert gradcheck(lambda t: split(t, [3, 1], axis=1), x)          # overlapping pieces
