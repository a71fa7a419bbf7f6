"""Version counters and the write log: detecting in-place writes into values saved for backward.

Owns: ``note_write`` (every in-place write into a GradArray's memory goes through it), the write log
(``_WriteLog``: which byte ranges were written, at which version), and ``_check_versions`` (does a
node's saved value still hold what it held when it was saved?). A counter is a list ``[count]``
shared by an array and its views; the log is its second element once a write happened.
Must not know about: GradArray, dispatch, rules — it sees raw arrays and nodes' ``versions``.
"""
from __future__ import annotations

import bisect

import numpy as np

from . import _backend


def _check_versions(node):
    for counter, seen, raw in node.versions:
        if counter[0] != seen and _writes_overlap(counter, seen, raw):
            raise RuntimeError(
                f"an array saved for the backward pass of {node.rule.name} was modified in place "
                f"afterwards (version {counter[0]}, expected {seen}), so its gradient cannot be "
                "computed. Copy the array (x = x.copy()) before modifying it in place, or move the "
                "in-place operation before the array is used.")




# --------------------------------------------------------------------------------------------------
# version counters: [count] shared by an array and its views; writes are logged with the byte range
# they touched, so that writing into one row of a buffer does not invalidate another row saved for
# backward (the time-loop pattern ``traj[i + 1] = f(traj[i])``).
# --------------------------------------------------------------------------------------------------
def note_write(version, region):
    """Record an in-place write into memory counted by ``version``; ``region``: the raw array view
    that was written (None when unknown: then every saved array of this memory counts as touched)."""
    version[0] += 1
    if len(version) == 1:
        version.append(_WriteLog())
    version[1].add(version[0], None if region is None else _byte_bounds(region))


class _WriteLog:
    """The regions written into one memory, each with the version of its latest write.

    Enough to answer "was ``raw`` written after version ``seen``?": a region written again replaces
    its entry, so a parameter updated in place 20k times keeps one entry (the log grows with the
    number of distinct regions written, not with the number of writes), and a query looks only at
    the regions that start less than the longest region's length before ``raw`` ends (sorted
    starts, bisect), so the time loop ``traj[i + 1] = f(traj[i])`` checks in O(log n), not O(n).
    """

    __slots__ = ("latest", "regions", "longest", "unknown")

    def __init__(self):
        self.latest = {}        # (low, high) -> version of the latest write into it
        self.regions = []       # the same keys, sorted
        self.longest = 0
        self.unknown = 0        # version of the latest write whose region is unknown (0: none)

    def add(self, version, bounds):
        if bounds is None:
            self.unknown = version
            return
        if bounds[1] <= bounds[0]:
            return              # an empty write touches nothing
        if bounds not in self.latest:
            bisect.insort(self.regions, bounds)
            self.longest = max(self.longest, bounds[1] - bounds[0])
        self.latest[bounds] = version

    def touched_after(self, seen, bounds):
        if self.unknown > seen or bounds is None:
            return True
        low, high = bounds
        regions, latest = self.regions, self.latest
        i = bisect.bisect_left(regions, (low - self.longest,))
        end = bisect.bisect_left(regions, (high,))     # regions starting before ``high``
        while i < end:
            region = regions[i]
            if region[1] > low and latest[region] > seen:
                return True
            i += 1
        return False


def _byte_bounds(raw):
    """(low, high) byte addresses spanned by ``raw``, or None when they cannot be known."""
    if type(raw) is tuple:          # already the bounds (saved values packed by saved_values_hooks)
        return raw
    if _backend.LAZY and _backend.is_lazy(raw):
        return None                 # a Dask array is a graph, not memory: unknown (conservative)
    try:
        if isinstance(raw, (np.ndarray, np.generic)):
            if isinstance(raw, np.generic):
                return None
            return np.lib.array_utils.byte_bounds(raw)
        interface = getattr(raw, "__cuda_array_interface__", None)
        if interface is None:
            return None
        low = high = interface["data"][0]
        itemsize = raw.dtype.itemsize
        strides = interface.get("strides") or None
        shape = interface["shape"]
        if any(s == 0 for s in shape):
            return (low, low)
        if strides is None:
            n = 1
            for s in shape:
                n *= s
            return (low, low + n * itemsize)
        for s, st in zip(shape, strides):
            if st < 0:
                low += (s - 1) * st
            else:
                high += (s - 1) * st
        return (low, high + itemsize)
    except Exception:     # unknown array type: be conservative
        return None


def _writes_overlap(version, seen, raw):
    """Did any write after version ``seen`` touch the memory of ``raw``?"""
    if len(version) == 1:           # counted but never logged: assume it did
        return True
    return version[1].touched_after(seen, _byte_bounds(raw))

