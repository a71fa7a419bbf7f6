"""The coverage report (gradarray/coverage.py) and the pinned baseline: coverage never silently
regresses. After adding rules, regenerate the baseline with

    python -m gradarray.coverage --write-baseline tests/coverage_baseline.txt
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import gradarray as ga
from gradarray import coverage
from gradarray._tables import RULES

BASELINE = os.path.join(os.path.dirname(__file__), "coverage_baseline.txt")
REGENERATE = "python -m gradarray.coverage --write-baseline tests/coverage_baseline.txt"


@pytest.fixture(scope="module")
def rep():
    return coverage.report()


def test_no_function_lost_its_coverage(rep):
    regressions, _, new = coverage.compare_with_baseline(coverage.read_baseline(BASELINE), rep)
    assert not regressions, (
        f"these NumPy functions were covered according to tests/coverage_baseline.txt and are now "
        f"unsupported: {regressions}")
    unsupported_new = sorted(n for n, s in new.items() if s == "unsupported")
    assert not unsupported_new, (
        f"NumPy {np.__version__} has functions the baseline does not know, and gradarray does not "
        f"support them: {unsupported_new}. Add rules, or regenerate the baseline: {REGENERATE}")


def test_baseline_is_up_to_date(rep):
    """A ratchet: once a function is covered, the baseline must say so (so losing it is caught)."""
    _, newly_covered, _ = coverage.compare_with_baseline(coverage.read_baseline(BASELINE), rep)
    assert not newly_covered, (
        f"{len(newly_covered)} functions are now covered but the baseline still lists them as "
        f"unsupported (e.g. {newly_covered[:5]}): regenerate it with `{REGENERATE}`")


def test_statuses(rep):
    top = rep["numpy"]
    assert top["np.zeros"] == "like-creation"
    assert top["np.add"] == "rule" and top["np.sin"] == "rule"
    assert "np.conj" not in top and "np.conjugate" in top              # aliases listed once
    assert "np.absolute" in top and "np.abs" not in top
    assert {"np.matmul", "np.concatenate", "np.result_type"} <= set(top)   # ufunc, functions
    assert "np.linalg.solve" in rep["numpy.linalg"] and "np.fft.fft" in rep["numpy.fft"]
    assert "np.fft.fftfreq" not in rep["numpy.fft"]                    # not dispatched
    assert "np.linalg.LinAlgError" not in rep["numpy.linalg"]
    for table in rep.values():
        assert set(table.values()) <= set(coverage.STATUSES)


def test_status_follows_the_registries(monkeypatch):
    func = np.fft.fftshift
    before = coverage.status_of(func)
    monkeypatch.setitem(RULES, func, object())
    assert coverage.status_of(func) == "rule"
    monkeypatch.delitem(RULES, func)
    assert coverage.status_of(func) == ("unsupported" if before == "rule" else before)


def test_regression_is_detected():
    baseline = {"np.sin": "rule", "np.fake_covered": "composite", "np.fake_missing": "unsupported"}
    rep = {"numpy": {"np.sin": "unsupported", "np.fake_covered": "composite",
                     "np.fake_missing": "rule", "np.brand_new": "unsupported"}}
    regressions, newly_covered, new = coverage.compare_with_baseline(baseline, rep)
    assert regressions == ["np.sin"]
    assert newly_covered == ["np.fake_missing"]
    assert new == {"np.brand_new": "unsupported"}


def test_baseline_round_trip(tmp_path, rep):
    path = tmp_path / "baseline.txt"
    path.write_text(coverage.format_baseline(rep))
    read = coverage.read_baseline(path)
    assert read == {n: s for t in rep.values() for n, s in t.items()}
    assert coverage.compare_with_baseline(read, rep) == ([], [], {})


def test_command_line(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "gradarray.coverage", *args], check=True,
                              capture_output=True, text=True).stdout

    summary = run()
    assert "numpy.linalg" in summary and "all" in summary and "%" in summary
    table = run("--markdown", "--namespace", "numpy.fft")
    assert table.startswith("| namespace |") and "| `np.fft.fft` |" in table
    listed = run("--unsupported").split()
    assert listed == coverage.unsupported()
    path = tmp_path / "b.txt"
    run("--write-baseline", str(path))
    assert path.read_text().startswith("# Status of every NumPy function")
    assert len(coverage.read_baseline(path)) == sum(len(t) for t in coverage.report().values())


def test_unsupported_means_a_clear_error():
    """What 'unsupported' promises: a tracked input gives a TypeError naming the function."""
    candidates = [n for n in coverage.unsupported(("numpy",))
                  if isinstance(coverage.public_functions()[n], np.ufunc)]
    if not candidates:
        pytest.skip("every top-level ufunc is covered")
    name = candidates[0]
    func = coverage.public_functions()[name]
    x = ga.asarray(np.full(2, 0.5), requires_grad=True)
    with pytest.raises(TypeError, match=name.replace(".", r"\.")):
        func(*([x] * func.nin))
