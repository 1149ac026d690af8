"""SQLite persistence of experiments and environments (metrics: ``store.metrics``).

All access goes through one connection owned by one worker thread, so the event loop
never blocks on disk and concurrent requests are applied one after another (no lost
writes). WAL mode and ``BEGIN IMMEDIATE`` keep the file consistent even if another
process writes the same database; reads take no lock, so they go on meanwhile. A write
that waits longer than ``busy_timeout`` for another process's lock is refused with
``Busy`` (nothing of it is applied), or, for background writers, tried again. The schema
is versioned (``migrations``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ...wire.constants import MAX_PAGE, TERMINAL_STATUSES
from ..domain import EnvironmentRecord, ExperimentRecord
from .migrations import migrate
from .rows import StoredExperiment, environment_from_row, experiment_from_row, experiment_row, stored_experiment

__all__ = ["Busy", "Conflict", "ExperimentQuery", "Store", "StoredExperiment"]

T = TypeVar("T")
log = logging.getLogger(__name__)
#: SQLite's result codes SQLITE_BUSY and SQLITE_LOCKED: another connection holds the lock.
_LOCKED_CODES = (5, 6)
#: Rows ``page_experiments_as`` renders between two pauses that let the event loop take the GIL.
RENDER_SLICE = 20
#: The schema every connection attaches (in memory) to read packed metric batches from (``metrics``).
PACKED_SCHEMA = "metric_batch"
#: The counter bumped in the transaction of every write that changes an experiment's answer.
CHANGES = "experiment_changes"


@dataclass(frozen=True)
class ExperimentQuery:
    """Which experiments, in which order, how many: ``after`` is the ``seq`` a page ends at."""

    status: str | None = None
    name_prefix: str | None = None
    target: str | None = None
    newest_first: bool = False
    after: int | None = None
    limit: int | None = None


class Conflict(Exception):
    """A row with that key already exists."""


class Busy(Exception):
    """Another process held the database locked for longer than the store waits."""


class Store:
    """Experiments and environments in one SQLite file (``busy_timeout``: seconds a write
    waits for another process's lock before it is refused; ``default_target``: where the
    experiments stored before targets ran, named so on the first connection)."""

    def __init__(self, path: Path, busy_timeout: float = 5.0, default_target: str = "local") -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.default_target = default_target
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="submarine-store")
        self._conn: sqlite3.Connection | None = None

    async def run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = True) -> T:
        """``fn(connection)`` in the store's thread, in one transaction (rolled back if it
        raises); ``write=False`` for one that only reads (it takes no lock). ``Busy`` when
        another process keeps the database locked past ``busy_timeout``."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn, write)

    async def run_patiently(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``run`` for a background writer whose change must not be lost (a status a backend
        reported, metrics read from a log): tried again for as long as the database is locked."""
        while True:
            try:
                return await self.run(fn)
            except Busy as error:
                log.warning("submarine_jupyter: %s; trying again", error)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=self.busy_timeout)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        migrate(conn)
        conn.execute(f"ATTACH ':memory:' AS {PACKED_SCHEMA}")
        conn.execute("UPDATE experiments SET target = ? WHERE target IS NULL", (self.default_target,))
        return conn

    def _call(self, fn: Callable[[sqlite3.Connection], T], write: bool) -> T:
        try:
            if self._conn is None:
                self._conn = self._connect()
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.OperationalError as error:
            if getattr(error, "sqlite_errorcode", None) in _LOCKED_CODES or "locked" in str(error):
                raise Busy(f"the database {self.path} is locked by another process "
                           f"(waited {self.busy_timeout:g} s)") from None
            raise
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, _close)
        self._executor.shutdown(wait=True)

    @staticmethod
    def next_value(conn: sqlite3.Connection, counter: str) -> int:
        """The next value of ``counter`` (1, 2, ...), in the caller's transaction."""
        conn.execute(
            "INSERT INTO counters(name, value) VALUES (?, 1) "
            "ON CONFLICT(name) DO UPDATE SET value = value + 1",
            (counter,),
        )
        return int(conn.execute("SELECT value FROM counters WHERE name = ?", (counter,)).fetchone()[0])

    # experiments

    async def insert_experiment(self, make: Callable[[int], ExperimentRecord]) -> ExperimentRecord:
        """Take the next sequence number, build the record with it and store it."""

        def _insert(conn: sqlite3.Connection) -> ExperimentRecord:
            seq = self.next_value(conn, "experiment")
            record = make(seq)
            row = {**experiment_row(record), "seq": seq}
            columns = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            conn.execute(f"INSERT INTO experiments ({columns}) VALUES ({marks})", tuple(row.values()))
            self.next_value(conn, CHANGES)
            return record

        return await self.run(_insert)

    async def get_experiment(self, experiment_id: str) -> ExperimentRecord | None:
        def _get(conn: sqlite3.Connection) -> ExperimentRecord | None:
            row = conn.execute("SELECT * FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
            if row is None:
                return None
            record = experiment_from_row(row)
            _add_reruns(conn, [record])
            return record

        return await self.run(_get, write=False)

    async def list_experiments(self, status: str | None = None) -> list[ExperimentRecord]:
        """Every experiment (with ``status``, if given), oldest first."""
        records, _ = await self.page_experiments(ExperimentQuery(status=status))
        return records

    async def page_experiments(self, query: ExperimentQuery) -> tuple[list[ExperimentRecord], int | None]:
        """One page of experiments in accepted order (newest first if asked), and the ``seq``
        to continue after when more match (``None`` when this page is the last)."""

        def _page(conn: sqlite3.Connection) -> tuple[list[ExperimentRecord], int | None]:
            rows, after = _select(conn, query)
            records = [experiment_from_row(row) for row in rows]
            _add_reruns(conn, records)
            return records, after

        return await self.run(_page, write=False)

    async def page_experiments_as(
        self, query: ExperimentQuery, render: Callable[[StoredExperiment], T]
    ) -> tuple[list[T], int | None]:
        """``page_experiments``, each experiment ``render``ed from its row as stored (JSON
        columns undecoded) in the store's thread, ``RENDER_SLICE`` rows at a time with the
        GIL let go between slices, so the event loop never waits long for it."""

        def _page(conn: sqlite3.Connection) -> tuple[list[T], int | None]:
            rows, after = _select(conn, query)
            reruns = _reruns(conn, [row["id"] for row in rows])
            rendered: list[T] = []
            for start in range(0, len(rows), RENDER_SLICE):
                if start:
                    time.sleep(0)
                rendered += [render(stored_experiment(row, reruns.get(row["id"], [])))
                             for row in rows[start:start + RENDER_SLICE]]
            return rendered, after

        return await self.run(_page, write=False)

    async def experiments_to_resume(self) -> list[ExperimentRecord]:
        """The experiments a starting server takes over: unfinished ones, and those whose
        metrics collection had not finished."""

        def _resume(conn: sqlite3.Connection) -> list[ExperimentRecord]:
            marks = ", ".join("?" for _ in TERMINAL_STATUSES)
            rows = conn.execute(
                f"SELECT * FROM experiments WHERE status NOT IN ({marks}) OR id IN "
                "(SELECT experiment_id FROM metric_collections WHERE finished = 0) ORDER BY seq",
                tuple(sorted(TERMINAL_STATUSES))).fetchall()
            return [experiment_from_row(row) for row in rows]

        return await self.run(_resume, write=False)

    async def update_experiment(
        self, experiment_id: str, change: Callable[[ExperimentRecord], None], *, patient: bool = False
    ) -> ExperimentRecord | None:
        """Read, apply ``change`` to the record and write it back, in one transaction
        (``patient``: ``run_patiently``)."""

        def _update(conn: sqlite3.Connection) -> ExperimentRecord | None:
            row = conn.execute("SELECT * FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
            if row is None:
                return None
            record = experiment_from_row(row)
            change(record)
            values = experiment_row(record)
            values.pop("id")
            assignments = ", ".join(f"{column} = ?" for column in values)
            conn.execute(f"UPDATE experiments SET {assignments} WHERE id = ?", (*values.values(), experiment_id))
            if any(row[column] != value for column, value in values.items() if column != "backend_state"):
                self.next_value(conn, CHANGES)
            return record

        return await (self.run_patiently(_update) if patient else self.run(_update))

    async def delete_experiment(self, experiment_id: str) -> bool:
        def _delete(conn: sqlite3.Connection) -> bool:
            if conn.execute("DELETE FROM experiments WHERE id = ?", (experiment_id,)).rowcount == 0:
                return False
            self.next_value(conn, CHANGES)
            return True

        return await self.run(_delete)

    async def experiment_changes(self) -> int:
        """How many writes have changed an experiment's answer (inserts, deletes, updates
        of anything but the backend's own state): equal values, equal lists."""

        def _changes(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT value FROM counters WHERE name = ?", (CHANGES,)).fetchone()
            return 0 if row is None else int(row[0])

        return await self.run(_changes, write=False)

    # environments

    async def insert_environment(
        self, name: str, make_id: Callable[[int], str], spec: dict[str, Any]
    ) -> EnvironmentRecord:
        def _insert(conn: sqlite3.Connection) -> EnvironmentRecord:
            if conn.execute("SELECT 1 FROM environments WHERE name = ?", (name,)).fetchone():
                raise Conflict(name)
            record = EnvironmentRecord(id=make_id(self.next_value(conn, "environment")), name=name, spec=spec)
            conn.execute(
                "INSERT INTO environments (name, id, spec) VALUES (?, ?, ?)", (name, record.id, json.dumps(spec))
            )
            return record

        return await self.run(_insert)

    async def get_environment(self, name: str) -> EnvironmentRecord | None:
        def _get(conn: sqlite3.Connection) -> EnvironmentRecord | None:
            row = conn.execute("SELECT * FROM environments WHERE name = ?", (name,)).fetchone()
            return environment_from_row(row) if row else None

        return await self.run(_get, write=False)

    async def list_environments(self) -> list[EnvironmentRecord]:
        def _list(conn: sqlite3.Connection) -> list[EnvironmentRecord]:
            return [environment_from_row(r) for r in conn.execute("SELECT * FROM environments ORDER BY id")]

        return await self.run(_list, write=False)

    async def update_environment(self, name: str, spec: dict[str, Any]) -> EnvironmentRecord | None:
        def _update(conn: sqlite3.Connection) -> EnvironmentRecord | None:
            cursor = conn.execute("UPDATE environments SET spec = ? WHERE name = ?", (json.dumps(spec), name))
            if cursor.rowcount == 0:
                return None
            return environment_from_row(conn.execute("SELECT * FROM environments WHERE name = ?", (name,)).fetchone())

        return await self.run(_update)

    async def delete_environment(self, name: str) -> EnvironmentRecord | None:
        def _delete(conn: sqlite3.Connection) -> EnvironmentRecord | None:
            row = conn.execute("SELECT * FROM environments WHERE name = ?", (name,)).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM environments WHERE name = ?", (name,))
            return environment_from_row(row)

        return await self.run(_delete)


def _select(conn: sqlite3.Connection, query: ExperimentQuery) -> tuple[list[sqlite3.Row], int | None]:
    """The rows of one page of ``query``, and the ``seq`` to continue after (``None``: the last)."""
    where: list[str] = []
    args: list[str | int] = []
    if query.status is not None:
        where.append("status = ?")
        args.append(query.status)
    if query.target is not None:
        where.append("target = ?")
        args.append(query.target)
    if query.name_prefix:
        where.append("substr(name, 1, ?) = ?")
        args += [len(query.name_prefix), query.name_prefix]
    if query.after is not None:
        where.append("seq < ?" if query.newest_first else "seq > ?")
        args.append(query.after)
    sql = "SELECT * FROM experiments" + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY seq DESC" if query.newest_first else " ORDER BY seq"
    if query.limit is not None:
        sql += f" LIMIT {int(query.limit) + 1}"
    rows = conn.execute(sql, args).fetchall()
    more = query.limit is not None and len(rows) > query.limit
    rows = rows[: query.limit] if more else rows
    return rows, (int(rows[-1]["seq"]) if more else None)


def _reruns(conn: sqlite3.Connection, ids: list[str]) -> dict[str, list[str]]:
    """The experiments that re-run each of ``ids`` (those that have any), in one query."""
    if not ids:
        return {}
    if len(ids) <= MAX_PAGE:
        rows = conn.execute(f"SELECT rerun_of, id FROM experiments WHERE rerun_of IN ({', '.join('?' * len(ids))}) "
                            "ORDER BY seq", tuple(ids))
    else:
        rows = conn.execute("SELECT rerun_of, id FROM experiments WHERE rerun_of IS NOT NULL ORDER BY seq")
    wanted = set(ids)
    found: dict[str, list[str]] = {}
    for source, rerun in rows:
        if source in wanted:
            found.setdefault(source, []).append(rerun)
    return found


def _add_reruns(conn: sqlite3.Connection, records: list[ExperimentRecord]) -> None:
    """Fill each record's ``reruns`` (the experiments that re-run it)."""
    found = _reruns(conn, [record.id for record in records])
    for record in records:
        record.reruns += found.get(record.id, [])
