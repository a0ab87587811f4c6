"""Half-open integer intervals [lo, hi): record ranges of a producer's stream, compactly."""

from __future__ import annotations

from collections.abc import Iterable

Interval = tuple[int, int]


def merge(items: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint, non-adjacent union of ``items``."""
    out: list[Interval] = []
    for lo, hi in sorted([i for i in items if i[1] > i[0]]):
        if out and lo <= out[-1][1]:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def total(items: Iterable[Interval]) -> int:
    return sum(hi - lo for lo, hi in items)


def subtract(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """a minus b, both merged."""
    out: list[Interval] = []
    j = 0
    for lo, hi in a:
        cur = lo
        while j < len(b) and b[j][1] <= cur:
            j += 1
        k = j
        while k < len(b) and b[k][0] < hi:
            if b[k][0] > cur:
                out.append((cur, b[k][0]))
            cur = max(cur, b[k][1])
            k += 1
        if cur < hi:
            out.append((cur, hi))
    return out


def intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """a and b, both merged."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def contains(a: list[Interval], x: int) -> bool:
    from bisect import bisect_right

    i = bisect_right(a, (x, float("inf"))) - 1
    return i >= 0 and a[i][0] <= x < a[i][1]


def closed(items: Iterable[Interval]) -> list[list[int]]:
    """As inclusive [first, last] pairs, for people."""
    return [[lo, hi - 1] for lo, hi in items]


def clip(a: list[Interval], lo: int, hi: int) -> list[Interval]:
    """``intersect([(lo, hi)], a)`` for merged ``a``, found by bisection: O(log n + pieces), so a
    reader can clip many ranges against one long interval list without a quadratic scan."""
    from bisect import bisect_right

    out: list[Interval] = []
    if lo >= hi:
        return out
    j = bisect_right(a, lo, key=lambda i: i[1])  # the first interval ending after lo
    while j < len(a) and a[j][0] < hi:
        piece = (max(lo, a[j][0]), min(hi, a[j][1]))
        if piece[0] < piece[1]:
            out.append(piece)
        j += 1
    return out


def add(a: list[Interval], lo: int, hi: int) -> None:
    """Add [lo, hi) to merged ``a`` in place, keeping it merged (as :func:`merge` would): a
    union that grows one range at a time without re-merging everything seen so far."""
    from bisect import bisect_left, bisect_right

    if hi <= lo:
        return
    i = bisect_left(a, lo, key=lambda x: x[1])  # the first interval ending at or after lo: touches it
    j = bisect_right(a, hi, key=lambda x: x[0])  # past the last interval starting at or before hi
    if i < j:
        lo, hi = min(lo, a[i][0]), max(hi, a[j - 1][1])
    a[i:j] = [(lo, hi)]
