"""The API's answers, made from stored records: the one place the wire shape is produced."""

from __future__ import annotations

from json.encoder import encode_basestring_ascii
from typing import Any

from ..wire.constants import ExperimentStatus
from ..wire.metrics import Metrics, MetricSeries, Param
from ..wire.responses import Environment, Experiment, LogContent, Replica
from ..wire.responses import PodLog as PodLogAnswer
from ..wire.sweeps import Sweep, SweepSpec, Trial
from ..wire.templates import Template
from .backends.base import PodLog
from .domain import (
    EnvironmentRecord,
    ExperimentRecord,
    ParamRecord,
    ReplicaStatus,
    SeriesRecord,
    SweepRecord,
    TemplateRecord,
)
from .store import StoredExperiment


def replica(status: ReplicaStatus) -> Replica:
    return Replica(
        name=status.name, role=status.role, index=status.index, state=status.state,
        restarts=status.restarts, exit_code=status.exit_code, message=status.message,
    )


def experiment(record: ExperimentRecord, status: ExperimentStatus | None = None) -> Experiment:
    """The experiment object of the API document (plus status message and replicas)."""
    return Experiment(
        experiment_id=record.id, name=record.name, uid=record.uid,
        status=status or record.status,  # type: ignore[arg-type]  # stored statuses are checked on write
        accepted_time=record.accepted_time, created_time=record.created_time,
        running_time=record.running_time, finished_time=record.finished_time,
        status_message=record.status_message, replicas=[replica(r) for r in record.replicas], spec=record.spec,
        pending_spec=record.pending_spec, rerun_of=record.rerun_of, reruns=record.reruns,
        template=record.template, sweep=record.sweep, target=record.target,
    )


def experiment_json(stored: StoredExperiment) -> str:
    """``experiment`` of a stored row as ``json.dumps`` writes it, made from the row's text:
    the stored spec, pending spec and replicas are already the wire's JSON (``rows``), so
    they are spliced in as they are, never decoded."""
    s = _string
    return (
        f'{{"experimentId": {s(stored.id)}, "name": {s(stored.name)}, "uid": {s(stored.uid)}, '
        f'"status": {s(stored.status)}, "acceptedTime": {s(stored.accepted_time)}, '
        f'"createdTime": {s(stored.created_time)}, "runningTime": {s(stored.running_time)}, '
        f'"finishedTime": {s(stored.finished_time)}, "statusMessage": {s(stored.status_message)}, '
        f'"replicas": {stored.replicas}, "spec": {stored.spec}, "pendingSpec": {stored.pending_spec or "null"}, '
        f'"rerunOf": {s(stored.rerun_of)}, "reruns": [{", ".join(map(s, stored.reruns))}], '
        f'"template": {s(stored.template)}, "sweep": {s(stored.sweep)}, "target": {s(stored.target)}}}'
    )


def _string(value: str | None) -> str:
    return "null" if value is None else encode_basestring_ascii(value)


def deleted(record: ExperimentRecord) -> Experiment:
    """The answer to DELETE: status ``Deleted``, replicas that were live now ``Stopped``."""
    answer = experiment(record, "Deleted")
    for item in answer.replicas:
        if item.state in ("Pending", "Running"):
            item.state = "Stopped"
    return answer


def environment(record: EnvironmentRecord) -> Environment:
    return Environment(environment_id=record.id, environment_spec=record.spec)


def log_content(experiment_id: str, pods: list[PodLog]) -> dict[str, Any]:
    """A ``LogContent`` whose ``podLog``s are text streams, read while the answer is written."""
    return {"experimentId": experiment_id, "logContent": [{"podName": p.pod_name, "podLog": p.chunks} for p in pods]}


def log_index(experiment_id: str, pod_names: list[str]) -> LogContent:
    """An entry of ``GET /experiment/logs``: replica names, logs left out."""
    return LogContent(experiment_id=experiment_id, log_content=[PodLogAnswer(pod_name=n, pod_log=None) for n in pod_names])


def metrics(experiment_id: str, cursor: int, collecting: bool, series: list[SeriesRecord]) -> Metrics:
    """An experiment's series, their points as columns."""
    return Metrics(experiment_id=experiment_id, cursor=cursor, collecting=collecting, series=[
        MetricSeries(
            name=s.name, replica=s.replica, source=s.source,  # type: ignore[arg-type]  # sources are written by us
            steps=[p[0] for p in s.points], values=[p[1] for p in s.points], times=[p[2] for p in s.points],
            count=s.count, last=s.last, min=s.min, max=s.max, downsampled=s.downsampled,
        )
        for s in series
    ])


def param(record: ParamRecord) -> Param:
    return Param(key=record.key, value=record.value, replica=record.replica)


def template(record: TemplateRecord) -> Template:
    return Template(experiment_template_id=record.id, experiment_template_spec=record.spec)


def sweep(record: SweepRecord, spec: SweepSpec, statuses: dict[str, str], objectives: dict[str, float]) -> Sweep:
    """A sweep with its trials, best first when it has an objective (a failed trial is never
    the best)."""
    trials = [
        Trial(index=t.index, params=t.params, experiment_id=t.experiment_id,
              status=(statuses.get(t.experiment_id, "Deleted") if t.experiment_id  # type: ignore[arg-type]
                      else "Stopped" if record.status == "Stopped" else "Waiting"),
              objective=objectives.get(t.experiment_id or ""))
        for t in record.trials
    ]
    best = None
    if spec.objective is not None:
        sign = 1 if spec.objective.goal == "min" else -1
        ranked = sorted((t for t in trials if t.objective is not None and t.status != "Failed"),
                        key=lambda t: (sign * (t.objective or 0.0), t.index))
        best = ranked[0].index if ranked else None
        order = {t.index: rank for rank, t in enumerate(ranked)}
        trials.sort(key=lambda t: (order.get(t.index, len(order)), t.index))
    return Sweep(name=record.name, template=spec.template, status=record.status,  # type: ignore[arg-type]
                 status_message=record.status_message, parallel=spec.parallel, objective=spec.objective,
                 trials=trials, best=best)
