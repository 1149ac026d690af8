"""Pure: a series' points, at most ``max_points`` of them, keeping its shape.

The first and the newest point always stay; the points between are cut into
``(max_points - 2) // 2`` buckets of consecutive points, and each bucket keeps its lowest
and its highest point (the first of equals), in their order. So the last value and the
extremes of every stretch survive. Points arrive as a stream; only the kept ones and the
current bucket's two candidates are held.
"""

from __future__ import annotations

from collections.abc import Iterable

#: (step, value, time)
Point = tuple[float, float, float]


def downsample(points: Iterable[Point], count: int, max_points: int) -> tuple[list[Point], bool]:
    """At most ``max_points`` of the ``count`` points, and whether any was left out."""
    if count <= max_points:
        return list(points), False
    buckets = (max_points - 2) // 2
    inner = count - 2  # the points between the first and the newest
    kept: list[Point] = []
    low: tuple[int, Point] | None = None
    high: tuple[int, Point] | None = None
    bucket = -1
    for index, point in enumerate(points):
        if index == 0 or index > inner:  # the first, and the newest
            kept.extend(_ordered(low, high))
            low = high = None
            kept.append(point)
            continue
        if not buckets:
            continue
        here = (index - 1) * buckets // inner
        if here != bucket or low is None or high is None:
            kept.extend(_ordered(low, high))
            bucket, low, high = here, (index, point), (index, point)
        elif point[1] < low[1][1]:
            low = (index, point)
        elif point[1] > high[1][1]:
            high = (index, point)
    return kept, True


def _ordered(low: tuple[int, Point] | None, high: tuple[int, Point] | None) -> list[Point]:
    """A bucket's lowest and highest point in the order they came (one, if they are one)."""
    if low is None or high is None:
        return []
    if low[0] == high[0]:
        return [low[1]]
    return [low[1], high[1]] if low[0] < high[0] else [high[1], low[1]]
