"""Which NumPy functions gradarray can differentiate: ``python -m gradarray.coverage``.

Every public NumPy ufunc and dispatched function of ``numpy``, ``numpy.linalg`` and ``numpy.fft``
gets one status:

- ``rule``: a derivative rule (``gradarray._tables.RULES``);
- ``composite``: an implementation made of differentiable calls (``IMPLEMENTATIONS``);
- ``non-differentiable``: runs on GradArrays, its output carries no gradient (argmax, floor, ...);
- ``like-creation``: a creation function that reaches gradarray through ``like=`` (zeros, arange...);
- ``unsupported``: none of these; with a tracked input it raises a TypeError naming the function.

Usage::

    python -m gradarray.coverage                    # totals per namespace
    python -m gradarray.coverage --markdown         # the full table, for the README/docs
    python -m gradarray.coverage --unsupported      # only the unsupported functions
    python -m gradarray.coverage --write-baseline tests/coverage_baseline.txt
    python -m gradarray.coverage --scipy            # the SciPy table (gradarray/scipy/_coverage.py)
    python -m gradarray.coverage --device cuda      # the table on CuPy-backed GradArrays
    python -m gradarray.coverage --device cuda --markdown

``--device cuda`` gives each function its status on CuPy data, computed against the installed CuPy
(gradarray/_cupy_oracle.py reads what CuPy has from its modules: no GPU needed): the host status when
CuPy has the function (a rule's forward calls CuPy's), ``supplied`` when CuPy lacks it and gradarray
runs its own device composite (gradarray/overrides/device_fallbacks.py), else ``unsupported``.
Datetime functions are left out (CuPy has no datetime dtypes). The Markdown table also lists the
NumPy keywords CuPy's function lacks, marked ``*`` where gradarray adapts them on the device.

The baseline pins the status of every function; ``tests/test_coverage.py`` fails when a function that
was covered becomes unsupported, and when the baseline is stale (regenerate it with the last command).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections import Counter

import numpy as np

import gradarray  # noqa: F401  (registers every rule)
from ._creation import LIKE_CREATION
from ._cupy_oracle import cupy_oracle
from ._tables import DEVICE_UFUNC_FALLBACKS, IMPLEMENTATIONS, NONDIFFERENTIABLE, RULES
from .overrides.device_fallbacks import DEVICE_FUNCTIONS
from .overrides.device_keywords import DEVICE_KEYWORDS

try:                                    # the SciPy half, when SciPy is installed
    from gradarray.scipy import _coverage as scipy_coverage
except ImportError:
    scipy_coverage = None

STATUSES = ("rule", "composite", "non-differentiable", "like-creation", "unsupported")
NAMESPACES = ("numpy", "numpy.linalg", "numpy.fft")
DEVICE_STATUSES = ("rule", "composite", "non-differentiable", "like-creation", "supplied",
                   "unsupported")
# no datetime dtypes on CuPy: these are left out of the device table
DATETIME = frozenset({"np.busday_count", "np.busday_offset", "np.datetime_as_string",
                      "np.is_busday", "np.isnat"})

__all__ = ["STATUSES", "NAMESPACES", "public_functions", "status_of", "report", "unsupported",
           "read_baseline", "format_baseline", "compare_with_baseline", "DEVICE_STATUSES",
           "device_status_of", "device_report", "missing_keywords"]


def _is_dispatched(obj):
    """Ufuncs, and functions that NumPy hands to ``__array_function__``."""
    return isinstance(obj, np.ufunc) or type(obj).__name__ == "_ArrayFunctionDispatcher" or (
        callable(obj) and hasattr(obj, "_implementation"))


def public_functions(namespace="numpy"):
    """``{qualified name: callable}`` for the dispatched public callables of ``namespace``.

    Aliases (``np.conj`` is ``np.conjugate``) are listed once, under the callable's own ``__name__``
    when the namespace exports it, otherwise under the first alias in alphabetical order.
    Creation functions reached through ``like=`` are included for the top level.
    """
    module = importlib.import_module(namespace)
    names = {}                                  # id(obj) -> (obj, [names])
    for name in sorted(dir(module)):
        if name.startswith("_"):
            continue
        obj = getattr(module, name)
        if _is_dispatched(obj) or (namespace == "numpy" and _in(obj, LIKE_CREATION)):
            names.setdefault(id(obj), (obj, []))[1].append(name)
    prefix = "np" + namespace[len("numpy"):]
    out = {}
    for obj, aliases in names.values():
        own = getattr(obj, "__name__", None)
        name = own if own in aliases else aliases[0]
        out[f"{prefix}.{name}"] = obj
    return dict(sorted(out.items()))


def _in(obj, collection):
    try:
        return obj in collection
    except TypeError:               # unhashable
        return False


def _implementation(func):
    """The composite registered for ``func``, seen through the device dispatchers of
    overrides/device_fallbacks.py (which keep the host path as ``.host``)."""
    impl = IMPLEMENTATIONS.get(func) if _in(func, IMPLEMENTATIONS) else None
    while impl is not None and hasattr(impl, "host"):
        impl = impl.host.previous
    return impl


def status_of(func):
    """The status (one of STATUSES) of one NumPy callable."""
    if _in(func, RULES):
        return "rule"
    if _implementation(func) is not None:
        return "composite"
    if _in(func, NONDIFFERENTIABLE):
        return "non-differentiable"
    if _in(func, LIKE_CREATION):
        return "like-creation"
    return "unsupported"


def report(namespaces=NAMESPACES):
    """``{namespace: {qualified name: status}}``."""
    return {ns: {name: status_of(f) for name, f in public_functions(ns).items()} for ns in namespaces}


def unsupported(namespaces=NAMESPACES):
    return [name for table in report(namespaces).values() for name, s in table.items()
            if s == "unsupported"]


# ------------------------------------------------------------------------------ devices
def device_status_of(func, oracle):
    """The status (one of DEVICE_STATUSES) of one NumPy callable on CuPy data, per ``oracle``."""
    host = status_of(func)
    if isinstance(func, np.ufunc):
        has = oracle.ufunc(func.__name__) is not None
        supplied = _in(func, DEVICE_UFUNC_FALLBACKS)
    else:
        has = oracle.function(func) is not None
        supplied = _in(func, DEVICE_FUNCTIONS) and not DEVICE_FUNCTIONS[func].startswith("keywords")
    if has:
        return host
    return "supplied" if supplied and host != "unsupported" else "unsupported"


def device_report(oracle=None, namespaces=NAMESPACES):
    """``{namespace: {qualified name: device status}}`` against ``oracle`` (default: the installed
    CuPy); datetime functions are left out."""
    oracle = oracle or cupy_oracle()
    if oracle is None:
        raise RuntimeError("the device table needs CuPy's modules (no GPU): pip install "
                           "\"gradarray[cuda12]\"")
    return {ns: {name: device_status_of(f, oracle) for name, f in public_functions(ns).items()
                 if name not in DATETIME} for ns in namespaces}


def missing_keywords(oracle=None, namespaces=NAMESPACES):
    """``{qualified name: [keyword, ...]}``: NumPy's keywords that CuPy's function lacks, with a
    ``*`` where gradarray adapts them on the device."""
    oracle = oracle or cupy_oracle()
    out = {}
    for ns in namespaces:
        for name, f in public_functions(ns).items():
            if name in DATETIME or isinstance(f, np.ufunc) or _in(f, LIKE_CREATION):
                continue
            adapted = DEVICE_KEYWORDS.get(f, ()) if _in(f, DEVICE_KEYWORDS) else ()
            lacks = sorted(oracle.missing_keywords(f, renamed=False))
            if lacks:
                out[name] = [k + ("*" if k in adapted else "") for k in lacks]
    return out


def format_device_summary(rep, oracle):
    lines = [f"NumPy on CuPy {oracle.version} data ({'installed' if oracle.is_live else 'snapshot'}"
             f" CuPy, no GPU needed)",
             f"{'namespace':<14}{'total':>7}" + "".join(f"{s:>20}" for s in DEVICE_STATUSES)]
    grand = {}
    for ns, table in list(rep.items()) + [("all", None)]:
        table = grand if table is None else table
        if ns != "all":
            grand.update(table)
        counts = Counter(table.values())
        lines.append(f"{ns:<14}{len(table):>7}" + "".join(f"{counts[s]:>20}" for s in DEVICE_STATUSES))
    supplied = sorted(n for n, s in grand.items() if s == "supplied")
    lines += ["", f"supplied by gradarray (CuPy lacks them): {', '.join(supplied) or 'none'}",
              f"left out (datetime): {', '.join(sorted(DATETIME))}"]
    special = sorted(f.__name__ for f in RULES if isinstance(f, np.ufunc)
                     and not hasattr(np, f.__name__) and not f.__name__.startswith("_"))
    if special:         # SciPy's ufuncs reach cupyx.scipy.special by name on CuPy data
        lacking = [n for n in special if oracle.ufunc(n) is None]
        lines.append(f"scipy.special ufuncs with a rule: {len(special)}, "
                     f"{len(special) - len(lacking)} in cupyx.scipy.special; without a device "
                     f"forward there: {', '.join(lacking)}")
    return "\n".join(lines)


def format_device_markdown(rep, oracle):
    keywords = missing_keywords(oracle)
    out = ["| namespace | total | " + " | ".join(DEVICE_STATUSES) + " |",
           "|---|---:|" + "---:|" * len(DEVICE_STATUSES)]
    for ns, table in rep.items():
        counts = Counter(table.values())
        out.append(f"| {ns} | {len(table)} | " + " | ".join(str(counts[s]) for s in DEVICE_STATUSES)
                   + " |")
    for ns, table in rep.items():
        out += ["", f"### `{ns}` on CuPy {oracle.version}", "",
                "| function | status | NumPy keywords CuPy lacks (* adapted on the device) |",
                "|---|---|---|"]
        for name, status in table.items():
            how = DEVICE_FUNCTIONS.get(public_functions(ns)[name]) if status == "supplied" else None
            out.append(f"| `{name}` | {status}{f' ({how})' if how else ''} | "
                       f"{', '.join(keywords.get(name, []))} |")
    return "\n".join(out)


# ------------------------------------------------------------------------------ formatting
def _totals(table):
    counts = Counter(table.values())
    total = len(table)
    covered = total - counts["unsupported"]
    return counts, total, covered


def format_summary(rep):
    lines = [f"{'namespace':<14}{'total':>7}" + "".join(f"{s:>20}" for s in STATUSES) + f"{'covered':>10}"]
    grand = {}
    for ns, table in rep.items():
        grand.update(table)
        lines.append(_summary_row(ns, table))
    lines.append(_summary_row("all", grand))
    return "\n".join(lines)


def _summary_row(label, table):
    counts, total, covered = _totals(table)
    pct = 100.0 * covered / total if total else 100.0
    return f"{label:<14}{total:>7}" + "".join(f"{counts[s]:>20}" for s in STATUSES) + f"{pct:>9.1f}%"


def format_markdown(rep):
    out = ["| namespace | total | " + " | ".join(STATUSES) + " | covered |",
           "|---|---:|" + "---:|" * len(STATUSES) + "---:|"]
    grand = {}
    for ns, table in list(rep.items()) + [("all", None)]:
        table = grand if table is None else table
        if ns != "all":
            grand.update(table)
        counts, total, covered = _totals(table)
        pct = 100.0 * covered / total if total else 100.0
        out.append(f"| {ns} | {total} | " + " | ".join(str(counts[s]) for s in STATUSES)
                   + f" | {pct:.1f}% |")
    for ns, table in rep.items():
        out += ["", f"### `{ns}`", "", "| function | status |", "|---|---|"]
        out += [f"| `{name}` | {status} |" for name, status in table.items()]
    return "\n".join(out)


# ------------------------------------------------------------------------------ baseline
BASELINE_HEADER = (
    "# Status of every NumPy function in gradarray's coverage report, pinned by tests/test_coverage.py.\n"
    "# Regenerate after adding coverage:  python -m gradarray.coverage --write-baseline "
    "tests/coverage_baseline.txt\n"
)


def format_baseline(rep):
    lines = [BASELINE_HEADER.rstrip("\n"), f"# numpy {np.__version__}"]
    for table in rep.values():
        lines += [f"{name} {status}" for name, status in table.items()]
    return "\n".join(lines) + "\n"


def read_baseline(path):
    """``{qualified name: status}`` from a baseline file."""
    out = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line and not line.startswith("#"):
                name, status = line.rsplit(" ", 1)
                out[name] = status
    return out


def compare_with_baseline(baseline, rep=None):
    """``(regressions, newly_covered, new_functions)`` of the current report against ``baseline``.

    regressions: covered in the baseline, unsupported now. newly_covered: unsupported in the baseline,
    covered now (the baseline is stale). new_functions: not in the baseline at all (another NumPy
    version), with their current status.
    """
    current = {}
    for table in (rep or report()).values():
        current.update(table)
    regressions = sorted(n for n, s in current.items()
                         if s == "unsupported" and baseline.get(n, "unsupported") != "unsupported")
    newly_covered = sorted(n for n, s in current.items()
                           if s != "unsupported" and baseline.get(n) == "unsupported")
    new_functions = {n: s for n, s in current.items() if n not in baseline}
    return regressions, newly_covered, new_functions


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gradarray.coverage",
                                     description="Which NumPy functions gradarray can differentiate.")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--markdown", action="store_true", help="print the full Markdown table")
    group.add_argument("--unsupported", action="store_true", help="list only unsupported functions")
    group.add_argument("--write-baseline", metavar="PATH", help="write the baseline file to PATH")
    group.add_argument("--scipy", action="store_true", help="print the SciPy table (Markdown)")
    parser.add_argument("--device", choices=("cuda",),
                        help="the table on device (CuPy) data, against the installed CuPy")
    parser.add_argument("--namespace", action="append", choices=NAMESPACES,
                        help="restrict to this namespace (repeatable)")
    args = parser.parse_args(argv)
    namespaces = tuple(args.namespace) if args.namespace else NAMESPACES
    if args.device:
        oracle = cupy_oracle()
        if oracle is None:
            print("--device cuda reads CuPy's modules (no GPU needed): pip install "
                  "\"gradarray[cuda12]\"", file=sys.stderr)
            return 1
        rep = device_report(oracle, namespaces)
        if args.unsupported:
            print("\n".join(n for t in rep.values() for n, s in t.items() if s == "unsupported"))
        elif args.markdown:
            print(format_device_markdown(rep, oracle))
        else:
            print(format_device_summary(rep, oracle))
        return 0
    rep = report(namespaces)
    if args.write_baseline:
        with open(args.write_baseline, "w", encoding="utf-8") as fh:
            fh.write(format_baseline(rep))
        n = sum(len(t) for t in rep.values())
        print(f"wrote the status of {n} functions to {args.write_baseline}")
    elif args.unsupported:
        print("\n".join(n for t in rep.values() for n, s in t.items() if s == "unsupported"))
    elif args.markdown:
        print(format_markdown(rep))
    elif args.scipy:
        print(format_scipy_markdown(_scipy_report()))
    else:
        print(format_summary(rep))
        scipy_rep = _scipy_report()
        if scipy_rep:
            print()
            print(format_scipy_summary(scipy_rep))
    return 0


# ------------------------------------------------------------------------------ SciPy
def _scipy_report():
    """The SciPy report, or {} without SciPy (gradarray.scipy then does not exist)."""
    return {} if scipy_coverage is None else scipy_coverage.scipy_report()


def format_scipy_summary(rep):
    totals = scipy_coverage.scipy_totals(rep)
    lines = [f"{'SciPy module':<20}{'total':>7}{'differentiable':>16}"]
    for module, (total, differentiable) in totals.items():
        lines.append(f"{module:<20}{total:>7}{differentiable:>16}")
    lines.append(f"{'all':<20}{sum(t for t, _ in totals.values()):>7}"
                 f"{sum(d for _, d in totals.values()):>16}")
    return "\n".join(lines)


def format_scipy_markdown(rep):
    totals = scipy_coverage.scipy_totals(rep)
    out = ["| SciPy module | public callables | differentiable |", "|---|---:|---:|"]
    out += [f"| {m} | {t} | {d} |" for m, (t, d) in totals.items()]
    out.append(f"| all | {sum(t for t, _ in totals.values())} | "
               f"{sum(d for _, d in totals.values())} |")
    out += ["", "Generated by `python -m gradarray.coverage --scipy`. Statuses:", ""]
    out += [f"- **{status}**: {meaning}" for status, meaning in scipy_coverage.STATUS_MEANINGS]
    for module, table in rep.items():
        out += ["", f"### `{module}`", "", "| function | status |", "|---|---|"]
        out += [f"| `{name}` | {status} |" for name, status in table.items()]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
