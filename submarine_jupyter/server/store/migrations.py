"""The database's schema, as ordered migrations; ``PRAGMA user_version`` says which ran.

A database written before versioning (``user_version`` 0, tables present) is version 1's
schema exactly, which migration 1 creates only where it is missing. A new column or table
is a new migration appended here, never an edit of an old one.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    # 1: the schema of release 0.1.0
    """
    CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS experiments (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        name TEXT NOT NULL,
        uid TEXT NOT NULL,
        status TEXT NOT NULL,
        status_message TEXT,
        accepted_time TEXT,
        created_time TEXT,
        running_time TEXT,
        finished_time TEXT,
        spec TEXT NOT NULL,
        image TEXT,
        replicas TEXT NOT NULL DEFAULT '[]',
        backend_state TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE IF NOT EXISTS environments (
        name TEXT PRIMARY KEY,
        id TEXT NOT NULL,
        spec TEXT NOT NULL
    );
    """,
    # 2: metrics (series, their points, where collection stands) and logged params
    """
    CREATE TABLE metric_series (
        id INTEGER PRIMARY KEY,
        experiment_id TEXT NOT NULL,
        name TEXT NOT NULL,
        replica TEXT NOT NULL,
        source TEXT NOT NULL,
        count INTEGER NOT NULL DEFAULT 0,
        last REAL,
        min REAL,
        max REAL,
        last_seq INTEGER NOT NULL DEFAULT 0,
        UNIQUE (experiment_id, name, replica, source)
    );
    CREATE TABLE metric_points (
        series_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        step REAL NOT NULL,
        value REAL NOT NULL,
        time REAL NOT NULL,
        PRIMARY KEY (series_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE metric_collections (
        experiment_id TEXT PRIMARY KEY,
        finished INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE metric_positions (
        experiment_id TEXT NOT NULL,
        source TEXT NOT NULL,
        key TEXT NOT NULL,
        position TEXT NOT NULL,
        metric_lines INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (experiment_id, source, key)
    );
    CREATE TABLE params (
        experiment_id TEXT NOT NULL,
        replica TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (experiment_id, replica, key)
    );
    """,
    # 3: re-runs, specs recorded after the end, templates and sweeps
    """
    ALTER TABLE experiments ADD COLUMN pending_spec TEXT;
    ALTER TABLE experiments ADD COLUMN rerun_of TEXT;
    ALTER TABLE experiments ADD COLUMN template TEXT;
    ALTER TABLE experiments ADD COLUMN sweep TEXT;
    CREATE INDEX experiments_by_rerun_of ON experiments (rerun_of);
    CREATE TABLE templates (
        name TEXT PRIMARY KEY,
        id TEXT NOT NULL,
        spec TEXT NOT NULL
    );
    CREATE TABLE sweeps (
        name TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        status TEXT NOT NULL,
        status_message TEXT,
        seq INTEGER NOT NULL
    );
    CREATE TABLE sweep_trials (
        sweep TEXT NOT NULL,
        idx INTEGER NOT NULL,
        params TEXT NOT NULL,
        experiment_id TEXT,
        PRIMARY KEY (sweep, idx)
    );
    """,
    # 4: pages of experiments in order, and by status, without a scan
    """
    CREATE UNIQUE INDEX experiments_by_seq ON experiments (seq);
    CREATE INDEX experiments_by_status ON experiments (status, seq);
    """,
    # 5: where each experiment runs (NULL: stored before targets, on the default target)
    """
    ALTER TABLE experiments ADD COLUMN target TEXT;
    CREATE INDEX experiments_by_target ON experiments (target, seq);
    """,
)
VERSION = len(MIGRATIONS)


class NewerDatabase(RuntimeError):
    """The database was written by a newer release than this one."""


def migrate(conn: sqlite3.Connection) -> int:
    """Bring ``conn``'s database to ``VERSION``, each migration in its own transaction;
    the version it was at before."""
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > VERSION:
        raise NewerDatabase(
            f"the database has schema version {found}, newer than this release's {VERSION}: "
            "upgrade submarine-jupyter, or point it at another state_dir"
        )
    for version in range(found + 1, VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[version - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return found


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
