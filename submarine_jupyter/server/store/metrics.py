"""Metrics in SQLite, through the ``Store``'s one writer thread: series and their points,
where each source's collection stands, params, and reads bounded per series.

A batch's points and the positions after it are written in one transaction, so a
collection that stops anywhere (a server restart, a cancel) resumes exactly where its
last batch ended, never counting a line twice. A point's ``seq``, from one counter of the
whole database, is the collection sequence an answer's ``cursor`` is made of: it only grows.
Points are stored by (series, seq), so a series is read, counted and deleted by range.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from ...wire.constants import replica_sort_key
from ..domain import ParamRecord, SeriesRecord
from ..metrics.downsample import downsample
from . import PACKED_SCHEMA, Store

SEQUENCE = "metric_point"
#: A packed batch's table: its points, by series (an index into ``Packed.series``) in order.
_PACKED_TABLE = ("CREATE TABLE p (k INTEGER NOT NULL, ord INTEGER NOT NULL, step REAL NOT NULL, value REAL NOT NULL, "
                 "time REAL NOT NULL, PRIMARY KEY (k, ord)) WITHOUT ROWID")


@dataclass
class Points:
    """New points of one series, as columns."""

    steps: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)


#: (name, replica) -> the new points of that series
SeriesPoints = dict[tuple[str, str], Points]


@dataclass
class Batch:
    """What one read of a source found, and where that source stands after it."""

    points: SeriesPoints = field(default_factory=dict)
    #: key (a replica, a file ...) -> (position, metric lines so far)
    positions: dict[str, tuple[Any, int]] = field(default_factory=dict)
    params: list[ParamRecord] = field(default_factory=list)
    #: ``points`` packed (``packed``) by the process that found them; then ``points`` is empty.
    packed: Packed | None = None


@dataclass(frozen=True)
class Packed:
    """Points as a small SQLite database (``_PACKED_TABLE``) and the (name, replica) of each
    series in it: the store copies each series in one statement, which runs with the
    interpreter lock let go, so storing a burst of points does not hold up the event loop."""

    series: list[tuple[str, str]]
    database: bytes


def pack(points: SeriesPoints) -> Packed:
    """``points`` as a ``Packed``."""
    if not points:
        return Packed([], b"")
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(_PACKED_TABLE)
        for index, new in enumerate(points.values()):
            conn.executemany("INSERT INTO p VALUES (?, ?, ?, ?, ?)", zip(
                repeat(index), range(len(new.values)), new.steps, new.values, new.times, strict=False))
        conn.commit()
        return Packed(list(points), conn.serialize())
    finally:
        conn.close()


def packed(batch: Batch) -> Batch:
    """``batch`` with its points packed, to hand to another process."""
    return Batch(positions=batch.positions, params=batch.params, packed=pack(batch.points))


class MetricsStore:
    """An experiment's metrics; each call is one transaction of ``store``'s writer."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def collections(self) -> dict[str, bool]:
        """Every experiment whose metrics are collected, and whether that is finished."""
        def read(conn: sqlite3.Connection) -> dict[str, bool]:
            return {row[0]: bool(row[1]) for row in conn.execute("SELECT experiment_id, finished FROM metric_collections")}

        return await self.store.run(read, write=False)

    async def begin(self, experiment_id: str) -> None:
        await self.store.run_patiently(lambda conn: conn.execute(
            "INSERT INTO metric_collections (experiment_id) VALUES (?) "
            "ON CONFLICT(experiment_id) DO UPDATE SET finished = 0", (experiment_id,)))

    async def finish(self, experiment_id: str) -> None:
        await self.store.run_patiently(lambda conn: conn.execute(
            "UPDATE metric_collections SET finished = 1 WHERE experiment_id = ?", (experiment_id,)))

    async def positions(self, experiment_id: str, source: str) -> dict[str, tuple[Any, int]]:
        """key -> (position, metric lines so far) of each thing ``source`` has read."""
        def read(conn: sqlite3.Connection) -> dict[str, tuple[Any, int]]:
            rows = conn.execute("SELECT key, position, metric_lines FROM metric_positions "
                                "WHERE experiment_id = ? AND source = ?", (experiment_id, source))
            return {key: (json.loads(position), lines) for key, position, lines in rows}

        return await self.store.run(read, write=False)

    async def write(self, experiment_id: str, source: str, batch: Batch, max_series: int) -> list[str]:
        """Store a batch; the names left out because the experiment has ``max_series`` series."""
        def write(conn: sqlite3.Connection) -> list[str]:
            dropped = _add_points(conn, experiment_id, source, batch.packed or pack(batch.points), max_series)
            conn.executemany(
                "INSERT INTO metric_positions (experiment_id, source, key, position, metric_lines) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(experiment_id, source, key) "
                "DO UPDATE SET position = excluded.position, metric_lines = excluded.metric_lines",
                [(experiment_id, source, key, json.dumps(position), lines)
                 for key, (position, lines) in batch.positions.items()])
            conn.executemany(
                "INSERT INTO params (experiment_id, replica, key, value) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(experiment_id, replica, key) DO UPDATE SET value = excluded.value",
                [(experiment_id, p.replica, p.key, p.value) for p in batch.params])
            return dropped

        return await self.store.run_patiently(write)

    async def series(self, experiment_id: str, *, since: int, name: str | None, replica: str | None,
                     max_points: int) -> tuple[int, list[SeriesRecord]]:
        """The cursor, and the series with points after ``since`` (each at most ``max_points``)."""
        def read(conn: sqlite3.Connection) -> tuple[int, list[SeriesRecord]]:
            (newest,) = conn.execute("SELECT coalesce(max(last_seq), 0) FROM metric_series WHERE experiment_id = ?",
                                     (experiment_id,)).fetchone()
            query, args = "SELECT * FROM metric_series WHERE experiment_id = ? AND last_seq > ?", [experiment_id, since]
            for column, value in (("name", name), ("replica", replica)):
                if value is not None:
                    query += f" AND {column} = ?"
                    args.append(value)
            found = []
            for row in conn.execute(query, args).fetchall():
                count = row["count"] if since == 0 else conn.execute(
                    "SELECT count(*) FROM metric_points WHERE series_id = ? AND seq > ?", (row["id"], since)).fetchone()[0]
                points = conn.execute("SELECT step, value, time FROM metric_points WHERE series_id = ? AND seq > ? "
                                      "ORDER BY seq", (row["id"], since))
                kept, downsampled = downsample(((s, v, t) for s, v, t in points), count, max_points)
                found.append(SeriesRecord(row["name"], row["replica"], row["source"], row["count"], row["last"],
                                          row["min"], row["max"], kept, downsampled))
            found.sort(key=lambda s: (s.name, replica_sort_key(s.replica), s.source))
            return max(newest, since), found

        return await self.store.run(read, write=False)

    async def last_values(self, experiment_ids: list[str], name: str) -> dict[str, list[tuple[str, str, float]]]:
        """For each experiment, (replica, source, last value) of every series of metric ``name``."""
        def read(conn: sqlite3.Connection) -> dict[str, list[tuple[str, str, float]]]:
            found: dict[str, list[tuple[str, str, float]]] = {}
            marks = ", ".join("?" for _ in experiment_ids)
            for row in conn.execute(
                    f"SELECT experiment_id, replica, source, last FROM metric_series "
                    f"WHERE name = ? AND last IS NOT NULL AND experiment_id IN ({marks})", (name, *experiment_ids)):
                found.setdefault(row[0], []).append((row[1], row[2], row[3]))
            return found

        return await self.store.run(read, write=False) if experiment_ids else {}

    async def params(self, experiment_id: str) -> list[ParamRecord]:
        def read(conn: sqlite3.Connection) -> list[ParamRecord]:
            rows = conn.execute("SELECT key, value, replica FROM params WHERE experiment_id = ? ORDER BY rowid",
                                (experiment_id,))
            return [ParamRecord(key, value, replica) for key, value, replica in rows]

        return await self.store.run(read, write=False)

    async def delete(self, experiment_id: str) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM metric_points WHERE series_id IN "
                         "(SELECT id FROM metric_series WHERE experiment_id = ?)", (experiment_id,))
            for table in ("metric_series", "metric_positions", "metric_collections", "params"):
                conn.execute(f"DELETE FROM {table} WHERE experiment_id = ?", (experiment_id,))

        await self.store.run(delete)


def _add_points(conn: sqlite3.Connection, experiment_id: str, source: str, points: Packed,
                max_series: int) -> list[str]:
    """Insert ``points`` and update their series' totals; names beyond ``max_series`` are dropped."""
    if not points.series:
        return []
    conn.deserialize(points.database, name=PACKED_SCHEMA)
    dropped: list[str] = []
    known: int | None = None
    row = conn.execute("SELECT value FROM counters WHERE name = ?", (SEQUENCE,)).fetchone()
    seq = row[0] if row else 0
    for index, (name, replica) in enumerate(points.series):
        count, low, high = conn.execute(f"SELECT count(*), min(value), max(value) FROM {PACKED_SCHEMA}.p "
                                        "WHERE k = ?", (index,)).fetchone()
        if not count:
            continue
        found = conn.execute("SELECT id FROM metric_series WHERE experiment_id = ? AND name = ? AND replica = ? "
                             "AND source = ?", (experiment_id, name, replica, source)).fetchone()
        if found is None:
            if known is None:
                (known,) = conn.execute("SELECT count(*) FROM metric_series WHERE experiment_id = ?",
                                        (experiment_id,)).fetchone()
            if known >= max_series:
                dropped.append(name)
                continue
            known += 1
            series_id = conn.execute("INSERT INTO metric_series (experiment_id, name, replica, source) "
                                     "VALUES (?, ?, ?, ?)", (experiment_id, name, replica, source)).lastrowid
        else:
            (series_id,) = found
        (last,) = conn.execute(f"SELECT value FROM {PACKED_SCHEMA}.p WHERE k = ? ORDER BY ord DESC LIMIT 1",
                               (index,)).fetchone()
        first, seq = seq + 1, seq + count
        conn.execute(f"INSERT INTO metric_points (series_id, seq, step, value, time) "
                     f"SELECT ?, ? + ord, step, value, time FROM {PACKED_SCHEMA}.p WHERE k = ? ORDER BY ord",
                     (series_id, first, index))
        conn.execute("UPDATE metric_series SET count = count + ?, last = ?, min = min(coalesce(min, ?), ?), "
                     "max = max(coalesce(max, ?), ?), last_seq = ? WHERE id = ?",
                     (count, last, low, low, high, high, seq, series_id))
    conn.execute("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = ?",
                 (SEQUENCE, seq, seq))
    return dropped
