"""Metrics and params from Submarine's tracking SDK (``submarine.log_metric``/``log_param``).

Each local replica's ``SUBMARINE_DB_URI`` points the SDK at one SQLite file per
experiment, where it creates its own ``metric`` and ``param`` tables; new rows are read
by rowid. The SDK names a replica by its task (``TF_CONFIG``) or by ``RANK``
(``master-0``, ``worker-<rank>``); ``replica_of`` turns that back into the pod name.
Blocking: call ``read`` from a worker thread.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from ...wire.constants import pod_name
from ...wire.requests import ExperimentSpec
from ..domain import ParamRecord
from ..store.metrics import Batch, Points
from .parse import finite

#: Rows read from a table per call at most.
MAX_ROWS = 10_000


def replica_of(experiment_id: str, spec: ExperimentSpec) -> Callable[[str], str]:
    """The pod name of the replica the SDK calls ``worker_index``: its task for TensorFlow;
    for PyTorch and XGBoost its rank (Master *i* is rank *i*, Worker *i* rank *i* + masters)."""
    replicas = [(role, i) for role, task in spec.spec.items() for i in range(task.replicas)]
    masters = spec.spec["Master"].replicas if "Master" in spec.spec else 0

    def name(worker_index: str) -> str:
        if len(replicas) == 1:
            role, index = replicas[0]
            return pod_name(experiment_id, f"{role.lower()}-{index}")
        label, _, number = worker_index.rpartition("-")
        if spec.meta.framework_key != "tensorflow" and number.isdigit() and masters:
            rank = int(number) if label == "worker" else 0
            worker_index = f"master-{rank}" if rank < masters else f"worker-{rank - masters}"
        return pod_name(experiment_id, worker_index)

    return name


def _time(stamp: object) -> float:
    """A row's ``timestamp`` (the SDK's local ``datetime.now()``) in Unix seconds."""
    try:
        return datetime.fromisoformat(str(stamp)).timestamp()
    except ValueError:
        return time.time()


class TrackingReader:
    """New rows of the SDK's file; ``after``: table -> the last rowid read."""

    def __init__(self, path: Path, replica_of: Callable[[str], str], after: dict[str, int]) -> None:
        self.path = path
        self.replica_of = replica_of
        self.after = dict(after)

    def read(self) -> tuple[Batch, bool]:
        """The rows added since the last read, and whether a table has more than was read."""
        batch = Batch()
        if not self.path.exists():
            return batch, False
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            more = False
            if "metric" in tables:
                rows = self._rows(conn, batch, "metric", "key, value, worker_index, timestamp, step, is_nan")
                for _, key, value, worker, stamp, step, is_nan in rows:
                    number = None if is_nan else finite(value)
                    if number is not None and key:
                        series = batch.points.setdefault((str(key), self.replica_of(str(worker))), Points())
                        series.steps.append(float(step or 0))
                        series.values.append(number)
                        series.times.append(_time(stamp))
                more = len(rows) == MAX_ROWS
            if "param" in tables:
                rows = self._rows(conn, batch, "param", "key, value, worker_index")
                batch.params = [ParamRecord(str(k), str(v), self.replica_of(str(w))) for _, k, v, w in rows]
                more = more or len(rows) == MAX_ROWS
        finally:
            conn.close()
        return batch, more

    def _rows(self, conn: sqlite3.Connection, batch: Batch, table: str, columns: str) -> list[tuple[Any, ...]]:
        """The table's new rows (rowid first); ``batch`` gets the table's new position."""
        rows = conn.execute(f"SELECT rowid, {columns} FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?",
                            (self.after.get(table, 0), MAX_ROWS)).fetchall()
        if rows:
            self.after[table] = int(rows[-1][0])
            batch.positions[table] = ({"rowid": self.after[table]}, 0)
        return rows
