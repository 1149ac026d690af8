"""Records to table rows and back: JSON columns, replicas in their persisted (camelCase) form."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from ..domain import EnvironmentRecord, ExperimentRecord, ReplicaStatus

_REPLICA_KEYS = (("name", "name"), ("role", "role"), ("index", "index"), ("state", "state"),
                 ("restarts", "restarts"), ("exit_code", "exitCode"), ("message", "message"))


def replica_row(replica: ReplicaStatus) -> dict[str, Any]:
    return {column: getattr(replica, attribute) for attribute, column in _REPLICA_KEYS}


def replica_from_row(row: dict[str, Any]) -> ReplicaStatus:
    return ReplicaStatus(**{attribute: row[column] for attribute, column in _REPLICA_KEYS if column in row})


def experiment_row(record: ExperimentRecord) -> dict[str, Any]:
    return {
        "id": record.id, "name": record.name, "uid": record.uid, "status": record.status,
        "status_message": record.status_message, "accepted_time": record.accepted_time,
        "created_time": record.created_time, "running_time": record.running_time,
        "finished_time": record.finished_time, "spec": json.dumps(record.spec), "image": record.image,
        "replicas": json.dumps([replica_row(r) for r in record.replicas]),
        "backend_state": json.dumps(record.backend_state),
        "pending_spec": None if record.pending_spec is None else json.dumps(record.pending_spec),
        "rerun_of": record.rerun_of, "template": record.template, "sweep": record.sweep, "target": record.target,
    }


def experiment_from_row(row: sqlite3.Row) -> ExperimentRecord:
    return ExperimentRecord(
        id=row["id"], name=row["name"], uid=row["uid"], status=row["status"],
        status_message=row["status_message"], accepted_time=row["accepted_time"],
        created_time=row["created_time"], running_time=row["running_time"],
        finished_time=row["finished_time"], spec=json.loads(row["spec"]), image=row["image"],
        replicas=[replica_from_row(r) for r in json.loads(row["replicas"])],
        backend_state=json.loads(row["backend_state"]),
        pending_spec=None if row["pending_spec"] is None else json.loads(row["pending_spec"]),
        rerun_of=row["rerun_of"], template=row["template"], sweep=row["sweep"], target=row["target"],
    )


@dataclass(frozen=True, slots=True)
class StoredExperiment:
    """An experiment row as stored, its JSON columns left as text (``experiment_row`` writes
    them with ``json.dumps``'s defaults), and the experiments that re-run it."""

    id: str
    name: str
    uid: str
    status: str
    status_message: str | None
    accepted_time: str | None
    created_time: str | None
    running_time: str | None
    finished_time: str | None
    spec: str
    replicas: str
    pending_spec: str | None
    rerun_of: str | None
    template: str | None
    sweep: str | None
    target: str | None
    reruns: list[str]


def stored_experiment(row: sqlite3.Row, reruns: list[str]) -> StoredExperiment:
    return StoredExperiment(
        id=row["id"], name=row["name"], uid=row["uid"], status=row["status"], status_message=row["status_message"],
        accepted_time=row["accepted_time"], created_time=row["created_time"], running_time=row["running_time"],
        finished_time=row["finished_time"], spec=row["spec"], replicas=row["replicas"],
        pending_spec=row["pending_spec"], rerun_of=row["rerun_of"], template=row["template"], sweep=row["sweep"],
        target=row["target"], reruns=reruns,
    )


def environment_from_row(row: sqlite3.Row) -> EnvironmentRecord:
    return EnvironmentRecord(id=row["id"], name=row["name"], spec=json.loads(row["spec"]))
