"""The stand-in device array refuses what the installed CuPy refuses (tests/standin.py, "CuPy's
limits", derived by gradarray/_cupy_oracle.py), and gradarray's backend-generic code paths (scatter-add, running extremes, ufunc methods) work anyway.

Each refusal is checked on a raw stand-in array, next to the same call on NumPy succeeding: the
table is only worth something if NumPy really accepts what the stand-in refuses.
"""
import numpy as np
import pytest

import gradarray as ga
import standin
from gradarray.testing import gradcheck, gradgradcheck
from standin import StandinArray


@pytest.fixture
def raw():
    return standin.asarray(np.arange(1.0, 7.0))


# ------------------------------------------------------------------------------ ufunc inputs
def test_0d_host_array_refused_in_ufuncs_but_not_in_comparisons(raw):
    with pytest.raises(TypeError):
        np.add(raw, np.asarray(1.0))
    np.add(raw.get(), np.asarray(1.0))
    assert isinstance(raw * np.float64(2.0) + 1, StandinArray)     # scalars are fine
    for name in sorted(standin.CUPY_0D_HOST_OK):
        out = getattr(np, name)(raw, np.asarray(3.0))
        np.testing.assert_array_equal(out.get(), getattr(np, name)(raw.get(), 3.0))


@pytest.mark.parametrize("arg", [(1.0, 2.0), [1.0, 2.0], slice(0, 2)], ids=["tuple", "list", "slice"])
def test_sequence_ufunc_arguments_refused(raw, arg):
    with pytest.raises(TypeError):
        np.add(raw[:2], arg)


@pytest.mark.parametrize("name", sorted(standin.CUPY_LACKS_UFUNCS))
def test_ufuncs_cupy_lacks_refused(name):
    ufunc = getattr(np, name)
    args = {"isnat": [np.zeros(2, "datetime64[s]")],
            "bitwise_count": [np.arange(3)],
            "matvec": [np.ones((2, 2)), np.ones(2)],
            "vecmat": [np.ones(2), np.ones((2, 2))],
            "vecdot": [np.ones(2), np.ones(2)]}.get(name, [np.ones(2)] * ufunc.nin)
    ufunc(*args)                                     # NumPy accepts it
    with pytest.raises(TypeError):
        ufunc(*[standin.asarray(a) for a in args])


def test_ufunc_lookup_is_by_name():
    # a ufunc whose __name__ CuPy cannot find (as scipy.special.zeta's '_zeta' is not found)
    unnamed = np.frompyfunc(lambda x: x, 1, 1)       # __name__ '<lambda> (vectorized)'
    assert unnamed.__name__ not in standin.CUPY_UFUNC_NAMES
    unnamed(np.ones(2))
    with pytest.raises(TypeError):
        unnamed(standin.asarray(np.ones(2)))
    assert {"sin", "matmul", "erf", "psi"} <= standin.CUPY_UFUNC_NAMES


# ---------------------------------------------------------------------------- ufunc methods
@pytest.mark.parametrize("method", ["reduce", "accumulate"])
def test_reduce_and_accumulate_only_add_and_multiply(raw, method):
    for name in ("add", "multiply"):
        got = getattr(getattr(np, name), method)(raw)
        np.testing.assert_allclose(got.get(), getattr(getattr(np, name), method)(raw.get()))
    getattr(np.maximum, method)(raw.get())
    with pytest.raises(NotImplementedError):
        getattr(np.maximum, method)(raw)


def test_reduceat_only_add(raw):
    idx = standin.asarray(np.array([0, 2]))
    np.testing.assert_allclose(np.add.reduceat(raw, idx).get(), [3.0, 18.0])
    with pytest.raises(NotImplementedError):
        np.multiply.reduceat(raw, idx)


def test_at_only_for_cupys_seven_ufuncs(raw):
    idx = standin.asarray(np.array([0, 0, 2]))
    for name in sorted(standin.CUPY_UFUNC_METHODS["at"]):
        a = standin.asarray(np.arange(6, dtype=np.int32))
        getattr(np, name).at(a, idx, 1)
    np.multiply.at(raw.get(), np.array([0, 0]), 2.0)
    with pytest.raises(NotImplementedError):
        np.multiply.at(raw, idx, 2.0)
    with pytest.raises(TypeError, match="data type"):      # add.at: CuPy's dtypes only
        np.add.at(standin.asarray(np.arange(6, dtype=np.int16)), idx, 1)
    with pytest.raises(TypeError, match="data type"):      # subtract.at: int32/uint32 only
        np.subtract.at(raw, idx, 1.0)


def test_at_refuses_tuple_and_host_indices_through_numpy(raw):
    a = standin.asarray(np.zeros((2, 3)))
    i = standin.asarray(np.array([0, 1, 1]))
    with pytest.raises(TypeError):
        np.add.at(a, (i, i), 1.0)
    with pytest.raises(TypeError):
        np.add.at(raw, np.array([0, 0]), 1.0)
    np.add.at(raw, standin.asarray(np.array([0, 0])), 1.0)     # a device index works
    np.testing.assert_array_equal(raw.get()[:2], [3.0, 2.0])


def test_backend_add_at_takes_tuple_indices_but_not_every_dtype():
    a = standin.asarray(np.zeros((2, 3)))
    i = standin.asarray(np.array([0, 1, 1]))
    standin.namespace.add.at(a, (i, np.array([2, 0, 0])), 1.0)      # as cupy.add.at does
    np.testing.assert_array_equal(a.get(), [[0, 0, 1], [2, 0, 0]])
    for dtype in (np.complex128, np.int16, np.int8):
        np.add.at(np.zeros(3, dtype), np.array([0, 0]), 1)
        with pytest.raises(TypeError):
            standin.namespace.add.at(standin.asarray(np.zeros(3, dtype)), np.array([0, 0]), 1)


# -------------------------------------------------------------------------- functions, kwargs
def _function_args(module, name):
    """Arguments NumPy accepts for each function in the table (host arrays)."""
    m, v = np.arange(1.0, 5.0).reshape(2, 2), np.arange(1.0, 4.0)
    days = np.array(["2024-01-05", "2024-01-08"], dtype="datetime64[D]")
    return {
        "insert": (v, 1, 0.0), "geomspace": (v, 2 * v), "nanquantile": (v, 0.5),
        "nanpercentile": (v, 50), "cumulative_sum": (v,), "cumulative_prod": (v,), "unstack": (m,),
        "astype": (v, np.float32), "unique_values": (v,), "unique_counts": (v,),
        "unique_inverse": (v,), "unique_all": (v,), "trapezoid": (v,), "block": ([v, v],),
        "apply_over_axes": (np.sum, m, [0]), "einsum_path": ("ij,jk", m, m), "polyder": (v,),
        "polyint": (v,), "polydiv": (v, v[:2]), "vector_norm": (v,), "matrix_norm": (m,),
        "svdvals": (m,), "trace": (m,), "outer": (v, v), "tensordot": (m, m), "vecdot": (v, v),
        "matmul": (m, m), "diagonal": (m,), "cross": (v, v), "matrix_transpose": (m,),
        "cond": (m,), "multi_dot": ([m, m, m],), "histogram_bin_edges": (v,),
        "busday_count": (days, days), "busday_offset": (days, np.arange(2)), "is_busday": (days,),
        "datetime_as_string": (days,),
    }[name]


@pytest.mark.parametrize("module, name", sorted(standin.CUPY_LACKS_FUNCTIONS))
def test_functions_cupy_lacks_refused(module, name):
    func = getattr(np.linalg if module == "numpy.linalg" else np, name)
    args = _function_args(module, name)
    func(*args)                                      # NumPy accepts it
    on_device = [standin.asarray(a) if isinstance(a, np.ndarray) else
                 [standin.asarray(x) for x in a] if isinstance(a, list) and name != "apply_over_axes"
                 else a for a in args]
    with pytest.raises(TypeError):
        func(*on_device)


def test_aliases_cupy_has_by_name_still_work(raw):
    np.testing.assert_array_equal(np.concat([raw, raw]).get(), np.concatenate([raw.get()] * 2))
    assert np.permute_dims(standin.asarray(np.ones((2, 3))), (1, 0)).shape == (3, 2)


KEYWORD_CASES = {np.sort: ("order", "stable"), np.argsort: ("order", "stable"),
                 np.partition: ("kind", "order"), np.argpartition: ("kind", "order"),
                 np.unique: ("sorted",), np.sum: ("initial", "where"), np.mean: ("where",),
                 np.var: ("where", "mean", "correction"), np.std: ("where", "mean", "correction"),
                 np.nansum: ("initial", "where"), np.nanmean: ("where",),
                 np.nanvar: ("where", "mean", "correction"),
                 np.nanstd: ("where", "mean", "correction")}


@pytest.mark.parametrize("func", sorted(KEYWORD_CASES, key=lambda f: f.__name__),
                         ids=lambda f: f.__name__)
def test_keywords_cupy_lacks_refused(func):
    """A sample of the keywords the oracle finds missing from CuPy's signatures."""
    host = np.array([3.0, 1.0, 2.0])
    assert set(KEYWORD_CASES[func]) <= standin.CUPY_LACKS_KEYWORDS[func]
    for name in KEYWORD_CASES[func]:
        value = {"order": None, "stable": None, "kind": "introselect", "sorted": True, "where": True,
                 "initial": 0.0, "mean": np.mean(host, keepdims=True), "correction": 0}[name]
        args = (host, 1) if func in (np.partition, np.argpartition) else (host,)
        func(*args, **{name: value})                 # NumPy accepts it
        with pytest.raises(TypeError, match=name):
            func(standin.asarray(args[0]), *args[1:], **{name: value})
    args = (host, 1) if func in (np.partition, np.argpartition) else (host,)
    func(standin.asarray(args[0]), *args[1:])        # without them it works


def test_sort_kinds(raw):
    np.sort(raw, kind="stable")
    np.sort(raw.get(), kind="heapsort")
    with pytest.raises(NotImplementedError):
        np.sort(raw, kind="heapsort")


@pytest.mark.parametrize("func", [np.zeros_like, np.ones_like, np.empty_like,
                                  lambda a, shape: np.full_like(a, 2.0, shape=shape)])
def test_like_functions_ignore_empty_shape(func, raw):
    assert func(raw.get(), shape=()).shape == ()
    assert func(raw, shape=()).shape == raw.shape           # CuPy's quirk
    assert func(raw, shape=(2,)).shape == (2,)
    assert standin.namespace.zeros_like(raw, shape=()).shape == raw.shape


# ------------------------------------------- gradarray's generic paths under the strict stand-in
def _dev(a):
    return standin.asarray(np.asarray(a))


def test_scatter_with_tuple_index_and_complex_on_device(rng):
    x = _dev(rng.normal(size=(3, 4)) + 1j * rng.normal(size=(3, 4)))
    rows, cols = np.array([0, 2, 2, 0]), np.array([1, 3, 3, 1])
    gradcheck(lambda x: x[rows, cols] * x[rows, cols], x)
    gradcheck(lambda x: x[:, [0, 0, 3]], x)
    gradcheck(lambda x: x[[2, 0, 2]], x)


def test_scatter_into_0d(rng):
    x = _dev(rng.normal(size=()))
    gradcheck(lambda x: x[...] * x[()], x)


@pytest.mark.parametrize("name", ["maximum", "minimum", "fmax", "fmin"])
@pytest.mark.parametrize("axis", [0, 1])
def test_running_extremes_on_device(name, axis):
    ufunc = getattr(np, name)
    host = np.array([[1.0, 3.0, 2.5, 2.0, 5.0], [4.0, -1.0, 6.0, 0.5, 6.5], [0.0, 2.0, 1.0, 7.0, 3.0]])
    x = ga.asarray(_dev(host), requires_grad=True)
    y = ufunc.accumulate(x, axis=axis)
    np.testing.assert_array_equal(y.numpy(), ufunc.accumulate(host, axis=axis))
    gradcheck(lambda x: ufunc.accumulate(x, axis=axis), _dev(host))


def test_running_extreme_second_order_on_device():
    # an untracked GradArray: gradgradcheck also calls f on its arguments as given, and on a raw
    # device array np.maximum.accumulate is refused (CuPy lacks it); through gradarray it works
    gradgradcheck(lambda x: np.maximum.accumulate(x, axis=1) * x,
                  ga.asarray(_dev(np.array([[0.3, 1.2, 0.7], [2.0, 0.1, 2.5]]))))


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "maximum", "divide"])
def test_ufunc_at_on_device(name):
    ufunc = getattr(np, name)
    host = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    index = np.array([0, 2, 0, 4, 0])
    v_host = np.array([0.5, 1.5, 2.5, 3.5, 4.5])

    def f(x, v):
        y = x * 1.0
        ufunc.at(y, index, v)
        return y
    gradcheck(f, _dev(host), _dev(v_host))
    expected = host.copy()
    ufunc.at(expected, index, v_host)
    np.testing.assert_allclose(f(ga.asarray(_dev(host)), ga.asarray(_dev(v_host))).numpy(), expected)


def test_untracked_ufunc_methods_cupy_lacks_still_work_on_device():
    host = np.array([[1.0, 4.0, 2.0], [3.0, 0.5, 6.0]])
    x = ga.asarray(_dev(host))
    np.testing.assert_array_equal(np.maximum.reduce(x, axis=1).numpy(), np.maximum.reduce(host, 1))
    np.testing.assert_array_equal(np.minimum.accumulate(x, axis=1).numpy(),
                                  np.minimum.accumulate(host, axis=1))
    np.testing.assert_array_equal(np.maximum.reduceat(x, [0, 2], axis=1).numpy(),
                                  np.maximum.reduceat(host, [0, 2], axis=1))
    np.testing.assert_array_equal(np.add.reduceat(x, [0, 2], axis=1).numpy(),     # host indices
                                  np.add.reduceat(host, [0, 2], axis=1))
    y, h = ga.asarray(_dev(host)), host.copy()
    np.multiply.at(y, (np.array([0, 0, 1]), np.array([1, 1, 2])), 3.0)
    np.multiply.at(h, (np.array([0, 0, 1]), np.array([1, 1, 2])), 3.0)
    np.testing.assert_array_equal(y.numpy(), h)
    z, h = ga.asarray(_dev(host + 0j)), host + 0j
    np.add.at(z, (np.array([0, 0]), np.array([2, 2])), 1j)
    np.add.at(h, (np.array([0, 0]), np.array([2, 2])), 1j)
    np.testing.assert_array_equal(z.numpy(), h)


def test_reduce_with_initial_and_where_on_device():
    host = np.array([[1.0, 4.0, 2.0], [3.0, 0.5, 6.0]])
    mask = np.array([[True, False, True], [False, True, True]])
    for ufunc, initial in ((np.add, 0.5), (np.multiply, 2.0), (np.maximum, -1.0)):
        def f(x, ufunc=ufunc, initial=initial):
            return ufunc.reduce(x, axis=1, initial=initial, where=_dev(mask))
        gradcheck(f, _dev(host))
        np.testing.assert_allclose(f(ga.asarray(_dev(host))).numpy(),
                                   ufunc.reduce(host, axis=1, initial=initial, where=mask))
