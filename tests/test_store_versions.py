"""The store's schema is versioned: a database of release 0.1.0 reads back unchanged."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from submarine_jupyter.server.store import Store
from submarine_jupyter.server.store.migrations import VERSION, NewerDatabase, migrate

from .servers import JupyterProcess

RELEASE = Path(__file__).parent / "data" / "release-0.1.0"
RELEASED_KEYS = ("experimentId", "name", "uid", "status", "acceptedTime", "createdTime", "runningTime",
                 "finishedTime", "statusMessage", "replicas", "spec")


def as_released(experiments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The experiments with only the keys release 0.1.0 answered (later releases add some)."""
    return [{key: experiment[key] for key in RELEASED_KEYS} for experiment in experiments]


def user_version(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def test_a_release_0_1_0_database_reads_back_unchanged(tmp_path: Path) -> None:
    expected = json.loads((RELEASE / "expected.json").read_text())
    shutil.copytree(RELEASE / "state", tmp_path / "state")
    assert user_version(tmp_path / "state" / "submarine.db") == 0
    server = JupyterProcess(tmp_path).start()
    try:
        listed = server.ok("GET", "/api/v1/experiment")
        adopted = server.wait(expected["adopted"])
        finished = [e for e in server.ok("GET", "/api/v1/experiment") if e["experimentId"] != expected["adopted"]]
        assert as_released(finished) == expected["experiments"]
        assert as_released([e for e in listed if e["experimentId"] != expected["adopted"]]) == expected["experiments"]
        assert all(e["pendingSpec"] is None and e["rerunOf"] is None and e["reruns"] == [] for e in finished)
        assert server.ok("GET", "/api/v1/environment") == expected["environments"]
        for experiment_id, logs in expected["logs"].items():
            assert server.ok("GET", f"/api/v1/experiment/logs/{experiment_id}") == logs
        index = [e for e in server.ok("GET", "/api/v1/experiment/logs") if e["experimentId"] != expected["adopted"]]
        assert index == expected["logIndex"]
        # the experiment left running under 0.1.0 is re-adopted from that release's state
        assert adopted["status"] == "Succeeded", adopted
        logs = server.ok("GET", f"/api/v1/experiment/logs/{expected['adopted']}")["logContent"]
        assert logs[0]["podLog"] == "finished while away\n"
        new = server.ok("POST", "/api/v1/experiment", {
            "meta": {"name": "after-upgrade", "framework": "TensorFlow", "cmd": "true"},
            "spec": {"Worker": {"replicas": 1}}})
        assert int(new["experimentId"].rsplit("_", 1)[1]) == 6  # the sequence goes on
    finally:
        server.stop()
    assert user_version(tmp_path / "state" / "submarine.db") == VERSION


def test_migrations_run_once_and_in_order(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    conn = sqlite3.connect(db, isolation_level=None)
    assert migrate(conn) == 0
    assert migrate(conn) == VERSION  # nothing left to do
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"counters", "experiments", "environments"} <= tables
    conn.close()
    assert user_version(db) == VERSION


async def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "newer.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {VERSION + 1}")
    store = Store(db)
    with pytest.raises(NewerDatabase, match="newer than this release"):
        await store.list_experiments()
    await store.close()
