"""The oracle (gradarray/_cupy_oracle.py): what the installed CuPy offers, read from its modules
without a GPU; its snapshot for machines without CuPy; gradarray's own knowledge of CuPy checked
against it; and ``python -m gradarray.coverage --device cuda``."""
import contextlib
import io
import os

import numpy as np
import pytest

import standin
from gradarray import _backend, coverage
from gradarray._cupy_oracle import CupyOracle, Entry, cupy_oracle
from gradarray.overrides import ufunc_methods

ORACLE = standin.ORACLE
LIVE = cupy_oracle()
needs_cupy = pytest.mark.skipif(LIVE is None, reason="CuPy is not installed (CI installs it)")


# ------------------------------------------------------------------------------ the snapshot
@needs_cupy
def test_snapshot_matches_the_installed_cupy():
    """tests/cupy_api_snapshot.json stands in for CuPy where it is not installed."""
    snap = CupyOracle.from_snapshot(standin.SNAPSHOT)
    if snap.version != LIVE.version:
        pytest.skip(f"the snapshot is of CuPy {snap.version}, {LIVE.version} is installed: "
                    "regenerate it with CupyOracle.live().write_snapshot(standin.SNAPSHOT)")
    assert snap.snapshot() == LIVE.snapshot(), ("regenerate tests/cupy_api_snapshot.json: "
                                                "CupyOracle.live().write_snapshot(path)")


def test_snapshot_round_trip(tmp_path):
    path = os.fspath(tmp_path / "oracle.json")
    ORACLE.write_snapshot(path)
    again = CupyOracle.from_snapshot(path)
    assert again.snapshot() == ORACLE.snapshot()
    assert not again.is_live and again.function(np.sum).keywords() == \
        ORACLE.function(np.sum).keywords()


# ----------------------------------------------------------------------- what the oracle reads
def test_what_cupy_lacks():
    """The functions __array_function__ does not find, and the ufuncs __array_ufunc__ does not."""
    lacks = {f"{m.replace('numpy', 'np')}.{n}" for m, n in standin.CUPY_LACKS_FUNCTIONS}
    datetime = {"np.busday_count", "np.busday_offset", "np.datetime_as_string", "np.is_busday"}
    expected = {"np.block", "np.einsum_path", "np.geomspace", "np.histogram_bin_edges",
                "np.insert", "np.nanpercentile", "np.nanquantile", "np.polyder", "np.polydiv",
                "np.polyint", "np.unstack"} | {f"np.linalg.{n}" for n in (
                    "diagonal", "matrix_norm", "multi_dot", "outer", "svdvals", "tensordot",
                    "trace", "vecdot", "vector_norm")}
    if ORACLE.version != "14.2.0":
        pytest.skip(f"the list is CuPy 14.2's; CuPy {ORACLE.version} is the oracle")
    assert lacks == expected | datetime
    assert standin.CUPY_LACKS_UFUNCS == {"isnat", "matvec", "vecmat", "vecdot", "spacing"}


def test_signatures_and_ufunc_keywords():
    sum_ = ORACLE.function(np.sum)
    assert sum_.kind == "function" and {"axis", "dtype", "out", "keepdims"} <= sum_.keywords()
    assert ORACLE.missing_keywords(np.sum) == {"initial", "where"}
    add = ORACLE.ufunc("add")
    assert add.kind == "ufunc" and (add.nin, add.nout) == (2, 1)
    assert add.keywords() == {"out", "dtype", "casting"}          # no where=, order=, subok=
    assert "dd->d" in add.types
    assert add.methods == {"reduce", "accumulate", "reduceat", "outer", "at"}
    assert ORACLE.ufunc("maximum").methods == {"outer", "at"}
    assert ORACLE.ufunc("matmul").kind == "gufunc"
    assert ORACLE.ufunc("erf") is not None and ORACLE.ufunc("_zeta") is None     # cupyx by name
    assert ORACLE.function(np.sinc).kind == "ufunc"               # a function in NumPy
    assert {"zeta", "digamma", "gamma", "j0", "i1e"} <= ORACLE.special_names
    assert {"get", "sum", "astype"} <= ORACLE.ndarray_methods


def test_checks_raise_as_cupy_would():
    x = np.ones(3)
    assert ORACLE.check_function_call(np.insert, (x, 1, 0.0), {}) is NotImplemented
    assert "where" in str(ORACLE.check_function_call(np.sum, (x,), {"where": True}))
    assert "pass it by keyword" in str(ORACLE.check_function_call(np.argmax, (x, 0, None), {}))
    assert ORACLE.check_function_call(np.argmax, (x, 0), {"out": None}) is None
    assert "Wrong arguments" in str(ORACLE.check_ufunc_call(np.sin, "__call__", (x,),
                                                             {"where": True}))
    assert isinstance(ORACLE.check_ufunc_call(np.maximum, "reduce", (x,), {}), NotImplementedError)
    assert "initial" in str(ORACLE.check_ufunc_call(np.add, "reduce", (x,), {"initial": 0.0}))
    assert ORACLE.check_ufunc_call(np.matmul, "reduce", (x,), {}) is NotImplemented
    sc = pytest.importorskip("scipy.special")
    assert "Wrong type" in str(ORACLE.check_ufunc_call(sc.erf, "__call__", (x + 0j,), {}))
    assert ORACLE.check_ufunc_call(sc.erf, "__call__", (x,), {}) is None


def test_standin_quirks_read_from_cupys_sources():
    """What the stand-in refuses from CuPy's sources, beyond the oracle: string bins."""
    raw = standin.asarray(np.array([0.1, 0.5, 0.7]))
    np.histogram(raw.get(), "auto")
    with pytest.raises(NotImplementedError, match="bins"):
        np.histogram(raw, "auto")
    assert np.histogram(raw, 2)[0].get().tolist() == [1, 2]


def test_entry_signature_round_trip():
    e = Entry("function", (("a", 1, False), ("axis", 1, True), ("where", 3, True)))
    assert str(e.signature()) == "(a, axis=..., *, where=...)"
    assert e.keywords() == {"a", "axis", "where"}
    assert Entry.from_json(e.to_json()).params == e.params


# --------------------------------------------------- gradarray's own knowledge of CuPy, checked
def test_gradarrays_ufunc_method_table_matches_cupy():
    """overrides/ufunc_methods.py runs these ufunc methods natively on devices."""
    for method, ufuncs in ufunc_methods._NATIVE_ON_DEVICE.items():
        assert {u.__name__ for u in ufuncs} == standin.CUPY_UFUNC_METHODS[method], method


def test_like_creation_helper_covers_what_numpy_passes():
    """NumPy 2 hands device=None to the like= array's full/ones/eye, which CuPy's lack:
    _backend.create_like calls the backend's own for exactly those."""
    seen = {}

    class Spy:
        def __array_function__(self, func, types, args, kwargs):
            seen[func.__name__] = set(kwargs)

    for f, args in ((np.full, ((2,), 1.0)), (np.ones, ((2,),)), (np.zeros, ((2,),)), (np.eye, (2,)),
                    (np.empty, ((2,),)), (np.arange, (3,)), (np.identity, (2,)), (np.tri, (2,))):
        f(*args, like=Spy())
    refused = {name for name, kws in seen.items()
               if not kws <= ORACLE.function(getattr(np, name)).keywords()}
    assert refused == set(_backend._DEVICE_KEYWORD_CREATION)


def test_bessel_orders_cupyx_lacks():
    """gradarray/special.py's order-2 recurrences exist because cupyx has no jv, yv, iv, kv,
    ive; and zeta goes through cupyx's public zeta because _zeta is not found by name."""
    assert not {"jv", "yv", "iv", "kv", "ive"} & ORACLE.special_names
    assert "zeta" in ORACLE.special_names and ORACLE.ufunc("_zeta") is None


# ---------------------------------------------------------------- coverage --device cuda
def test_device_coverage_has_no_unsupported_function():
    rep = coverage.device_report(ORACLE)
    flat = {n: s for table in rep.values() for n, s in table.items()}
    assert [n for n, s in flat.items() if s == "unsupported"] == []
    assert flat["np.insert"] == "supplied" and flat["np.linalg.matrix_norm"] == "supplied"
    assert flat["np.spacing"] == "supplied" and flat["np.sum"] == "rule"
    assert "np.isnat" not in flat and len(flat) == sum(len(t) for t in coverage.report().values()) - 5


def test_host_statuses_see_through_the_device_dispatchers():
    assert coverage.status_of(np.einsum_path) == "non-differentiable"
    assert coverage.status_of(np.sum) == "rule"
    assert coverage.status_of(np.histogram_bin_edges) == "non-differentiable"


@needs_cupy
def test_device_coverage_command():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert coverage.main(["--device", "cuda"]) == 0
    text = out.getvalue()
    assert "supplied" in text and "np.insert" in text
    assert text.splitlines()[5].split()[-1] == "0"       # the "all" row: 0 unsupported
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        coverage.main(["--device", "cuda", "--markdown"])
    assert "| `np.sum` | rule | initial*, where* |" in out.getvalue()
