"""Answer bodies: what every route returns, the envelope around it included."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema

from .base import Response
from .constants import ExperimentStatus, ReplicaState
from .errors import FieldError

#: A body echoed exactly as the user sent it (what ``Request.dump`` returns); its schema is
#: the request model's, which the OpenAPI document puts in place of this mark.
SpecEcho = Annotated[dict[str, Any], WithJsonSchema({"x-request-model": "ExperimentSpec"})]
EnvironmentEcho = Annotated[dict[str, Any], WithJsonSchema({"x-request-model": "EnvironmentSpec"})]
PendingSpec = Annotated[
    dict[str, Any] | None,
    WithJsonSchema({"anyOf": [{"x-request-model": "ExperimentSpec"}, {"type": "null"}]}),
]


class Replica(Response):
    """One replica (a process locally, a pod on Kubernetes) of an experiment."""

    name: str = Field(description="The pod name: `<experimentId with - for _>-<role lower-case>-<index>`.")
    role: str
    index: int
    state: ReplicaState = "Pending"
    restarts: int = 0
    exit_code: int | None = None
    message: str | None = None


class Experiment(Response):
    """An experiment as the API document shows it, plus why it waits or failed and its replicas."""

    experiment_id: str = Field(description="`experiment_<serverStartMillis>_<seq>`.")
    name: str
    uid: str
    status: ExperimentStatus
    accepted_time: str | None
    created_time: str | None
    running_time: str | None
    finished_time: str | None
    status_message: str | None = Field(description="Why it is waiting or failed, in a person's words.")
    replicas: list[Replica]
    spec: SpecEcho = Field(description="The spec it runs (or ran).")
    pending_spec: PendingSpec = Field(
        None, description="A spec PATCHed after it ended: recorded (Submarine's behaviour) but never run; a re-run "
        "runs it.")
    rerun_of: str | None = Field(None, description="The experiment this one re-runs.")
    reruns: list[str] = Field(default_factory=list, description="The experiments that re-run this one.")
    template: str | None = Field(None, description="The template it was submitted from.")
    sweep: str | None = Field(None, description="The sweep it is a trial of.")
    target: str = Field(description="Where it runs: a target of `GET /api/v1/target`.")


class Environment(Response):
    environment_id: str
    environment_spec: EnvironmentEcho


class PodLog(Response):
    pod_name: str
    pod_log: str | None = Field(description="The log text; null when the replica has not started (or in the index).")


class LogContent(Response):
    experiment_id: str
    log_content: list[PodLog]


class LogLine(Response):
    """One line of a followed log (a record of the `application/x-ndjson` stream)."""

    pod_name: str
    line: str


class TargetCapacity(Response):
    """What a target can give experiments in all, where it is known."""

    cpu: float | None = None
    memory: str | None = Field(None, description="A Kubernetes quantity, e.g. `16Gi`.")
    gpu: int | None = None


class Target(Response):
    """Where experiments can run: this machine, or a Kubernetes cluster."""

    name: str
    backend: str = Field(description="`local`, `kubernetes`, or another installed backend.")
    api: str | None = Field(None, description="A Kubernetes target's Kubeflow API: `training-operator` or `trainer`; null while "
                                   "an `api: auto` target's cluster has not said which it serves.")
    default: bool = Field(description="Where an experiment that names no `meta.target` runs.")
    reachable: bool
    message: str | None = Field(None, description="Why it is not reachable, in a person's words.")
    namespace: str | None = Field(None, description="Where a Kubernetes target puts experiments that name none.")
    capacity: TargetCapacity | None = None


class DryRun(Response):
    """What a create would run, without running it."""

    dry_run: Literal[True] = True
    backend: str
    target: str
    plan: dict[str, Any] = Field(description="The backend's plan: local replicas and their environment, or the Kubernetes manifest.")


class Envelope(Response):
    """Submarine's JsonResponse: every answer of these routes, success or error."""

    status: str = Field(description="`OK`, or the HTTP status name (`BAD_REQUEST`, `NOT_FOUND` ...).")
    code: int
    success: Literal[True] | None
    message: str | None
    result: Any
    attributes: dict[str, Any] = Field(default_factory=dict)


class ErrorAttributes(Response):
    """``{}``, or for a refused body ``fieldErrors``: each problem with its field's dotted path."""

    model_config = Response.model_config | {"json_schema_serialization_defaults_required": False}

    field_errors: list[FieldError] = Field(default_factory=list)


class ErrorEnvelope(Response):
    """An error answer: the HTTP status equals ``code``; ``message`` says what to do."""

    status: str
    code: int
    success: None = None
    message: str
    result: None = None
    attributes: ErrorAttributes = Field(default_factory=ErrorAttributes)
