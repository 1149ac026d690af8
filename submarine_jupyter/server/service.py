"""Experiments and environments: ids, validation, lifecycle rules.

The only place that decides what an experiment's status is. Handlers call it; it
calls the store and the backend; backends report back through ``on_event``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ..spec import EnvironmentSpec, ExperimentSpec, describe_errors
from .backends.base import (
    TERMINAL,
    Adoption,
    Backend,
    BackendError,
    BackendEvent,
    LogLine,
    PodLog,
    Status,
    Submission,
)
from .store import Conflict, ExperimentRecord, Store

STATUSES = ("Accepted", "Created", "Running", "Succeeded", "Failed")
#: The times each status implies have been reached.
_TIMES_REACHED: dict[str, tuple[str, ...]] = {
    "Accepted": (),
    "Created": ("created_time",),
    "Running": ("created_time", "running_time"),
    "Succeeded": ("created_time", "running_time", "finished_time"),
    "Failed": ("created_time", "running_time", "finished_time"),
}

NOT_FOUND_EXPERIMENT = "Not found experiment."
NOT_FOUND_ENVIRONMENT = "Environment not found."


class ApiError(Exception):
    """A refusal that becomes an error envelope with HTTP status ``code``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def now_iso() -> str:
    """Local time, ISO-8601 with milliseconds and offset, as the API document shows."""
    return _iso(datetime.now())


def _iso(when: datetime) -> str:
    return when.astimezone().isoformat(timespec="milliseconds")


def _set_times(record: ExperimentRecord, status: Status, began: dict[Status, datetime]) -> None:
    """Set, once each, the times that reaching ``status`` implies: from ``began`` (when the
    backend says each status began) else now, never before the time before it
    (accepted <= created <= running <= finished, whatever the clocks or precision say)."""
    reached = _TIMES_REACHED[status]
    now = datetime.now().astimezone()
    wanted: dict[str, datetime | None] = {
        "created_time": began.get("Created") or began.get(status) or now,
        "running_time": began.get("Running") or (now if status == "Running" else None),
        "finished_time": (began.get(status) or now) if status in TERMINAL else None,
    }
    floor = datetime.fromisoformat(record.accepted_time) if record.accepted_time else None
    for field in ("created_time", "running_time", "finished_time"):
        if field in reached and getattr(record, field) is None and (when := wanted[field]) is not None:
            setattr(record, field, _iso(when if floor is None else max(when, floor)))
        if (current := getattr(record, field)) is not None:
            stamp = datetime.fromisoformat(current)
            floor = stamp if floor is None else max(floor, stamp)


def parse_experiment(body: Any) -> ExperimentSpec:
    try:
        return ExperimentSpec.model_validate(body)
    except ValidationError as error:
        raise ApiError(400, f"Invalid experiment spec: {describe_errors(error)}") from None


def parse_environment(body: Any) -> EnvironmentSpec:
    try:
        return EnvironmentSpec.model_validate(body)
    except ValidationError as error:
        raise ApiError(400, f"Invalid environment spec: {describe_errors(error)}") from None


class ExperimentService:
    """Lifecycle of experiments over a store and a backend."""

    def __init__(self, store: Store, backend: Backend, log: logging.Logger | None = None) -> None:
        self.store = store
        self.backend = backend
        self.log = log or logging.getLogger(__name__)
        self.start_millis = int(time.time() * 1000)
        self._lock = asyncio.Lock()
        self._started: asyncio.Task[None] | None = None

    # start and stop

    async def ensure_started(self) -> None:
        """Start the backend once, handing it every unfinished experiment."""
        if self._started is None:
            self._started = asyncio.ensure_future(self._start())
        await asyncio.shield(self._started)

    async def _start(self) -> None:
        adopt = []
        for record in await self.store.list_experiments():
            if record.status in TERMINAL:
                continue
            spec = ExperimentSpec.model_validate(record.spec)
            adopt.append(Adoption(
                submission=Submission(record.id, spec, record.image),
                status=record.status,  # type: ignore[arg-type]
                state=record.backend_state,
            ))
        await self.backend.start(self.on_event, adopt)

    async def stop(self) -> None:
        if self._started is not None and self._started.done() and not self._started.exception():
            await self.backend.stop()
        await self.store.close()

    # experiments

    async def create(self, body: Any, *, dry_run: bool = False) -> dict[str, Any]:
        spec = parse_experiment(body)
        image = await self._resolve_image(spec)
        if dry_run:
            experiment_id = f"experiment_{self.start_millis}_dryrun"
            plan = await self._backend_call(self.backend.dry_run(Submission(experiment_id, spec, image)))
            return {"dryRun": True, "backend": self.backend.name, "plan": plan}

        def make(seq: int) -> ExperimentRecord:
            return ExperimentRecord(
                id=f"experiment_{self.start_millis}_{seq:04d}",
                name=spec.meta.name,
                uid=str(uuid.uuid4()),
                status="Accepted",
                spec=spec.dump(),
                accepted_time=now_iso(),
                image=image,
            )

        record = await self.store.insert_experiment(make)
        try:
            await self._backend_call(self.backend.submit(Submission(record.id, spec, image)))
        except ApiError:
            await self.store.delete_experiment(record.id)
            raise
        current = await self.store.get_experiment(record.id)
        return (current or record).to_wire()

    async def list_experiments(self, status: str | None = None) -> list[dict[str, Any]]:
        if status is not None:
            matches = [s for s in STATUSES if s.lower() == status.lower()]
            if not matches:
                raise ApiError(400, f"status: unknown status '{status}' (one of {', '.join(STATUSES)})")
            status = matches[0]
        return [record.to_wire() for record in await self.store.list_experiments(status)]

    async def get(self, experiment_id: str) -> dict[str, Any]:
        return (await self._record(experiment_id)).to_wire()

    async def patch(self, experiment_id: str, body: Any) -> dict[str, Any]:
        """Replace the spec; an unfinished experiment is restarted with it, a finished one
        only records it (as Submarine does: its status stays final)."""
        spec = parse_experiment(body)
        record = await self._record(experiment_id)
        old = ExperimentSpec.model_validate(record.spec)
        if spec.meta.framework_key != old.meta.framework_key:
            raise ApiError(400, f"meta.framework: cannot change the framework of an experiment (it is {old.meta.framework})")
        if spec.meta.namespace != old.meta.namespace:
            raise ApiError(400, f"meta.namespace: cannot move an experiment to another namespace (it is in {old.meta.namespace})")
        image = await self._resolve_image(spec)
        async with self._lock:
            if record.status not in TERMINAL:
                await self._backend_call(self.backend.patch(Submission(experiment_id, spec, image)))

            def change(rec: ExperimentRecord) -> None:
                rec.spec = spec.dump()
                rec.name = spec.meta.name
                rec.image = image

            await self.store.update_experiment(experiment_id, change)
        return spec.dump()

    async def delete(self, experiment_id: str) -> dict[str, Any]:
        record = await self._record(experiment_id)
        async with self._lock:
            await self._backend_call(self.backend.delete(experiment_id))
            await self.store.delete_experiment(experiment_id)
        wire = record.to_wire()
        wire["status"] = "Deleted"
        wire["replicas"] = [
            {**replica, "state": "Stopped"} if replica["state"] in ("Pending", "Running") else replica
            for replica in wire["replicas"]
        ]
        return wire

    async def logs(
        self, experiment_id: str, *, pod_name: str | None = None, tail_lines: int | None = None
    ) -> dict[str, Any]:
        """Each replica's log; a ``podLog`` is a text stream, read as the answer is written."""
        await self._record(experiment_id)
        pods = await self._backend_call(
            self.backend.logs(experiment_id, pod_name=pod_name, tail_lines=tail_lines)
        )
        if pod_name is not None and not pods:
            raise ApiError(404, f"podName: experiment {experiment_id} has no replica '{pod_name}'")
        return {"experimentId": experiment_id, "logContent": [_pod_log(p) for p in pods]}

    async def all_logs(self) -> list[dict[str, Any]]:
        """Every experiment's replica names, logs left out (``podLog`` null) as the document shows."""
        result = []
        for record in await self.store.list_experiments():
            pods = await self._backend_call(self.backend.logs(record.id, tail_lines=0))
            result.append({
                "experimentId": record.id,
                "logContent": [{"podName": p.pod_name, "podLog": None} for p in pods],
            })
        return result

    async def follow(
        self, experiment_id: str, *, pod_name: str | None = None, tail_lines: int | None = None
    ) -> AsyncGenerator[list[LogLine], None]:
        """Check the experiment (and replica) exists, then stream batches of its lines."""
        await self.logs(experiment_id, pod_name=pod_name, tail_lines=0)
        return self.backend.follow(experiment_id, pod_name=pod_name, tail_lines=tail_lines)

    async def on_event(self, event: BackendEvent) -> None:
        """Apply a backend's report. Terminal states never change; times are set once."""

        def change(record: ExperimentRecord) -> None:
            if event.state is not None:
                record.backend_state = event.state
            if event.replicas is not None:
                record.replicas = [replica.to_wire() for replica in event.replicas]
            if record.status in TERMINAL:
                return
            if event.status is not None and event.status != record.status:
                record.status = event.status
                _set_times(record, event.status, event.times)
                record.status_message = event.message
            elif event.message is not None:
                record.status_message = event.message

        await self.store.update_experiment(event.experiment_id, change)

    # environments

    async def create_environment(self, body: Any) -> dict[str, Any]:
        spec = parse_environment(body)
        try:
            record = await self.store.insert_environment(
                spec.name, lambda seq: f"environment_{self.start_millis}_{seq:04d}", spec.dump()
            )
        except Conflict:
            raise ApiError(409, f"name: environment '{spec.name}' already exists") from None
        return record.to_wire()

    async def list_environments(self) -> list[dict[str, Any]]:
        return [record.to_wire() for record in await self.store.list_environments()]

    async def get_environment(self, name: str) -> dict[str, Any]:
        record = await self.store.get_environment(name)
        if record is None:
            raise ApiError(404, NOT_FOUND_ENVIRONMENT)
        return record.to_wire()

    async def patch_environment(self, name: str, body: Any) -> dict[str, Any]:
        if isinstance(body, dict) and "name" not in body:
            body = {**body, "name": name}
        spec = parse_environment(body)
        if spec.name != name:
            raise ApiError(400, f"name: cannot rename environment '{name}' to '{spec.name}'")
        record = await self.store.update_environment(name, spec.dump())
        if record is None:
            raise ApiError(404, NOT_FOUND_ENVIRONMENT)
        return record.to_wire()

    async def delete_environment(self, name: str) -> dict[str, Any]:
        record = await self.store.delete_environment(name)
        if record is None:
            raise ApiError(404, NOT_FOUND_ENVIRONMENT)
        return record.to_wire()

    # helpers

    async def _record(self, experiment_id: str) -> ExperimentRecord:
        record = await self.store.get_experiment(experiment_id)
        if record is None:
            raise ApiError(404, NOT_FOUND_EXPERIMENT)
        return record

    async def _resolve_image(self, spec: ExperimentSpec) -> str | None:
        environment = spec.environment
        if environment is None:
            return None
        if environment.name is None:
            return environment.image
        record = await self.store.get_environment(environment.name)
        if record is None:
            raise ApiError(404, NOT_FOUND_ENVIRONMENT)
        return EnvironmentSpec.model_validate(record.spec).effective_image

    @staticmethod
    async def _backend_call(awaitable: Any) -> Any:
        try:
            return await awaitable
        except BackendError as error:
            raise ApiError(error.code, error.message) from None


def _pod_log(pod: PodLog) -> dict[str, Any]:
    return {"podName": pod.pod_name, "podLog": pod.chunks}
