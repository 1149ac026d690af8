"""Pure: metrics in the lines a replica printed.

A line is a JSON object (its numeric fields are metrics) or text in which the filters
find ``(name, value)`` pairs with their first two groups, Katib's ``metricsFormat``
(default ``name=value``). A key of ``STEP_KEYS`` (the first of them present) gives the
point's step and is no metric itself; without one, a point's step is its replica's count
of metric lines so far. Values that are not finite numbers, names that are empty or too
long, and lines that are too long are left out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from math import isfinite

from ...wire.metrics import KATIB_FORMAT, STEP_KEYS
from ..backends.base import LogChunk
from ..store.metrics import Batch, Points

#: (the step the line gives or ``None``, [(name, value), ...])
Parsed = tuple[float | None, list[tuple[str, float]]]
#: Katib's format with its inner groups not captured: the same pairs, found faster.
_KATIB = re.compile(r"([\w|-]+)\s*=\s*([+-]?\d*(?:\.\d+)?(?:[Ee][+-]?\d+)?)")
#: ``_KATIB`` starting only where a name can begin: not inside a run of name characters. A
#: search that tried every place inside a long run would scan the rest of the run from each.
_KATIB_START = re.compile(r"(?<![\w|-])" + _KATIB.pattern)
_STEP_RANK = {key: rank for rank, key in enumerate(STEP_KEYS)}


def finite(value: str | int | float) -> float | None:
    """``value`` as a finite float; ``None`` for anything else (NaN, inf, 1e999, "")."""
    try:
        result = float(value)
    except (ValueError, OverflowError):
        return None
    return result if isfinite(result) else None


class LineParser:
    """Finds the metrics of one line; ``filters`` are Katib ``metricsFormat`` regexes."""

    def __init__(self, filters: Sequence[str] = (), *, max_line_length: int = 65536, max_name_length: int = 256) -> None:
        self.filters = list(filters)
        self.patterns = [re.compile(f) for f in filters if f != KATIB_FORMAT] or [_KATIB]
        self.katib = self.patterns == [_KATIB]
        #: Katib's format needs an ``=``: lines without one are passed over without a search.
        self.needs = "=" if self.katib else ""
        #: One pattern of exactly (name, value): its matches are the pairs.
        self.pairs_only = len(self.patterns) == 1 and self.patterns[0].groups == 2
        self.max_line_length = max_line_length
        self.max_name_length = max_name_length

    def parse(self, line: str) -> Parsed | None:
        """The line's step and metrics; ``None`` when it holds none (or is too long)."""
        if len(line) > self.max_line_length:
            return None
        text = line.strip()
        pairs: Sequence[tuple[str, str | int | float]] | None = (
            _json_pairs(text) if text.startswith("{") and text.endswith("}") else None)
        if pairs is None:
            if self.needs not in text:
                return None
            if self.katib:
                pairs = katib_pairs(text)
            elif self.pairs_only:
                pairs = self.patterns[0].findall(text)
            else:
                pairs = [(groups[0], groups[1]) for pattern in self.patterns for groups in pattern.findall(text)]
        step: float | None = None
        step_rank = len(STEP_KEYS)
        metrics: list[tuple[str, float]] = []
        longest = self.max_name_length
        for name, raw in pairs:
            try:
                value = float(raw)
            except (ValueError, OverflowError):
                continue
            if not isfinite(value) or not name or len(name) > longest:
                continue
            rank = _STEP_RANK.get(name)
            if rank is None:
                metrics.append((name, value))
            elif rank < step_rank:
                step, step_rank = value, rank
        return (step, metrics) if metrics else None


def katib_pairs(text: str) -> list[tuple[str, str]]:
    """``_KATIB.findall(text)`` in time linear in the text's length.

    A search for a name inside a run of name characters fails wherever it starts in the run
    if it fails at the run's start, so only the start is tried, and the place where the last
    pair ended (a value glued to the next name, ``a=1b=2``). All but the rarest lines have
    one pair per ``=``: then no pair began where one ended."""
    pairs = _KATIB_START.findall(text)
    if len(pairs) == text.count("="):
        return pairs
    pairs, at = [], 0
    while (found := _KATIB.match(text, at) or _KATIB_START.search(text, at)) is not None:
        pairs.append((found[1], found[2]))
        at = found.end()
    return pairs


def _json_pairs(text: str) -> list[tuple[str, str | int | float]] | None:
    """The numeric fields of a JSON object; ``None`` when ``text`` is no JSON object."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    return [(k, v) for k, v in value.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]


def log_batch(parser: LineParser, chunks: list[LogChunk], counts: dict[str, int], now: float) -> Batch:
    """The points in ``chunks``, collected at ``now``; ``counts`` (replica -> its metric lines
    so far, the step of a point whose line names none) is brought up to date."""
    batch = Batch()
    points = batch.points
    for chunk in chunks:
        replica = chunk.pod_name
        lines = counts.get(replica, 0)
        for line in chunk.lines:
            found = parser.parse(line)
            if found is None:
                continue
            lines += 1
            step, metrics = found
            at = float(lines) if step is None else step
            for name, value in metrics:
                series = points.get((name, replica))
                if series is None:
                    series = points[(name, replica)] = Points()
                series.steps.append(at)
                series.values.append(value)
        counts[replica] = lines
        batch.positions[replica] = (chunk.position, lines)
    for series in points.values():
        series.times = [now] * len(series.values)
    return batch
