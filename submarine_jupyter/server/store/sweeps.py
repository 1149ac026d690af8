"""Sweeps and their trials in SQLite, through the ``Store``'s one writer thread."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..domain import SweepRecord, TrialRecord
from . import Conflict, Store


class SweepStore:
    """Sweeps by name, each with its trials in order; each call is one transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def insert(self, name: str, spec: dict[str, Any], trials: list[dict[str, str]]) -> SweepRecord:
        def insert(conn: sqlite3.Connection) -> SweepRecord:
            if conn.execute("SELECT 1 FROM sweeps WHERE name = ?", (name,)).fetchone():
                raise Conflict(name)
            conn.execute("INSERT INTO sweeps (name, spec, status, seq) VALUES (?, ?, 'Running', ?)",
                         (name, json.dumps(spec), Store.next_value(conn, "sweep")))
            conn.executemany("INSERT INTO sweep_trials (sweep, idx, params) VALUES (?, ?, ?)",
                             [(name, index, json.dumps(params)) for index, params in enumerate(trials)])
            return _read(conn, name)  # type: ignore[return-value]  # just inserted

        return await self.store.run(insert)

    async def get(self, name: str) -> SweepRecord | None:
        return await self.store.run(lambda conn: _read(conn, name), write=False)

    async def list(self) -> list[SweepRecord]:
        def read(conn: sqlite3.Connection) -> list[SweepRecord]:
            names = [row[0] for row in conn.execute("SELECT name FROM sweeps ORDER BY seq")]
            return [sweep for name in names if (sweep := _read(conn, name)) is not None]

        return await self.store.run(read, write=False)

    async def assign(self, name: str, index: int, experiment_id: str) -> None:
        """Trial ``index`` runs as ``experiment_id``."""
        await self.store.run_patiently(lambda conn: conn.execute(
            "UPDATE sweep_trials SET experiment_id = ? WHERE sweep = ? AND idx = ?", (experiment_id, name, index)))

    async def finish(self, name: str, status: str, message: str | None = None) -> None:
        await self.store.run_patiently(lambda conn: conn.execute(
            "UPDATE sweeps SET status = ?, status_message = ? WHERE name = ?", (status, message, name)))


def _read(conn: sqlite3.Connection, name: str) -> SweepRecord | None:
    row = conn.execute("SELECT * FROM sweeps WHERE name = ?", (name,)).fetchone()
    if row is None:
        return None
    trials = [TrialRecord(index=t["idx"], params=json.loads(t["params"]), experiment_id=t["experiment_id"])
              for t in conn.execute("SELECT * FROM sweep_trials WHERE sweep = ? ORDER BY idx", (name,))]
    return SweepRecord(name=row["name"], spec=json.loads(row["spec"]), status=row["status"],
                       status_message=row["status_message"], trials=trials)
