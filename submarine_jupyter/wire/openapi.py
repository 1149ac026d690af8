"""The OpenAPI 3.1 document of every route, built from the wire models (never by hand).

``OPERATIONS`` is the API's table of contents; ``document()`` turns it and the models into
the document the server serves at ``GET /api/v1/openapi.json`` and from which the panel's
and the kernel client's types are generated.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .. import __version__
from .constants import FRAMEWORK_ROLES, FRAMEWORKS, MAX_PAGE, ROLE_ORDER, STATUSES, TERMINAL_STATUSES
from .errors import FieldError
from .metrics import DEFAULT_MAX_POINTS, MAX_POINTS, MIN_POINTS, Metrics, Param
from .requests import EnvironmentSpec, EnvironmentUpdate, ExperimentSpec
from .responses import (
    DryRun,
    Envelope,
    Environment,
    ErrorEnvelope,
    Experiment,
    LogContent,
    LogLine,
    Replica,
    Target,
)
from .sweeps import Sweep, SweepSpec
from .templates import Template, TemplateSpec, TemplateSubmit, TemplateUpdate

REF = "#/components/schemas/{model}"
JSON = "application/json"
YAML = "application/yaml"
NDJSON = "application/x-ndjson"


def ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": REF.format(model=model.__name__)}


def array(model: type[BaseModel]) -> dict[str, Any]:
    return {"type": "array", "items": ref(model)}


@dataclass(frozen=True)
class Query:
    name: str
    schema: dict[str, Any]
    description: str
    where: str = "query"
    required: bool = False


BOOLEAN = {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"], "default": "false"}
EXPERIMENT_ID = Query("id", {"type": "string"}, "The experiment's id.", "path", True)
ENVIRONMENT_NAME = Query("name", {"type": "string"}, "The environment's name.", "path", True)
TEMPLATE_NAME = Query("name", {"type": "string"}, "The template's name.", "path", True)
SWEEP_NAME = Query("name", {"type": "string"}, "The sweep's name.", "path", True)
#: Which experiments a list holds, in which order, and its pages (``listExperiments`` and ``listLogs``).
EXPERIMENT_PAGING = (
    Query("status", {"type": "string", "enum": [*STATUSES, *(s.lower() for s in STATUSES)]},
          "Only experiments with this status (any case)."),
    Query("namePrefix", {"type": "string"}, "Only experiments whose name starts with this."),
    Query("target", {"type": "string"}, "Only experiments on this target."),
    Query("sort", {"type": "string", "enum": ["acceptedTime", "-acceptedTime"], "default": "acceptedTime"},
          "`-acceptedTime`: newest first."),
    Query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
          "At most this many; then `attributes.continue` is the token of the next page (null: no more)."),
    Query("continue", {"type": "string"},
          "The `attributes.continue` of the previous page, with the same status, namePrefix, target and sort."),
)
CONTINUE = {"type": "object", "properties": {"continue": {"type": ["string", "null"]}}}
IF_NONE_MATCH = Query("If-None-Match", {"type": "string"},
                      "The ETag of an earlier answer to the same query: 304, no body, while nothing changed.", "header")
MERGE_PATCH = {
    "type": "object",
    "description": "Changes to the spec as a JSON merge patch (RFC 7396), e.g. "
    '{"meta": {"envVars": {"LR": "0.01"}}, "spec": {"Worker": {"replicas": 3}}}; null removes a key.',
}


@dataclass(frozen=True)
class Operation:
    """One route and method: what it takes and what its ``result`` is on success."""

    method: str
    path: str
    operation_id: str
    summary: str
    result: dict[str, Any]
    tag: str = "experiment"
    #: The request body's model, or a schema of its own (then optional).
    body: type[BaseModel] | dict[str, Any] | None = None
    params: tuple[Query, ...] = ()
    #: An ``application/x-ndjson`` answer of these records (``follow=true``).
    stream: type[BaseModel] | None = None
    #: Asks the backend, which may be unreachable (503).
    backend: bool = False
    #: Answers the bare document rather than an envelope.
    raw: bool = False
    description: str = ""
    extra_results: Sequence[dict[str, Any]] = field(default_factory=tuple)
    #: The schema of the envelope's ``attributes`` on success, when it holds anything.
    attributes: dict[str, Any] | None = None
    #: Answers with a weak ETag, and 304 to an ``If-None-Match`` that holds it.
    conditional: bool = False


OPERATIONS: tuple[Operation, ...] = (
    Operation("get", "/api/v1/experiment/ping", "ping", "Check the API is served", {"type": "string", "const": "Pong"}),
    Operation(
        "post", "/api/v1/experiment", "createExperiment", "Create an experiment (or plan it with dryRun)",
        ref(Experiment), body=ExperimentSpec, backend=True, extra_results=(ref(DryRun),),
        params=(Query("dryRun", BOOLEAN, "Only say what would run; start nothing."),),
    ),
    Operation(
        "get", "/api/v1/experiment", "listExperiments", "List experiments, oldest first", array(Experiment),
        params=(*EXPERIMENT_PAGING, IF_NONE_MATCH), attributes=CONTINUE, conditional=True,
        description="Without `limit`, every experiment (as Submarine answers). With it, one page: pages follow "
                    "one another by the position the previous one ended at, so experiments created meanwhile "
                    "never shift a page; an experiment deleted meanwhile is simply not in a later page. "
                    "Every answer has a weak `ETag` that changes whenever any experiment is created, changed "
                    "or deleted; sent back as `If-None-Match`, it gets 304 with no body while none is.",
    ),
    Operation("get", "/api/v1/experiment/{id}", "getExperiment", "One experiment", ref(Experiment),
              params=(EXPERIMENT_ID,)),
    Operation(
        "patch", "/api/v1/experiment/{id}", "patchExperiment", "Replace an experiment's spec",
        ref(ExperimentSpec), body=ExperimentSpec, params=(EXPERIMENT_ID,), backend=True,
        description="A running experiment restarts with the new spec; a finished one only records it.",
    ),
    Operation("delete", "/api/v1/experiment/{id}", "deleteExperiment",
              "Stop every replica and remove the experiment (its status reads Deleted)", ref(Experiment),
              params=(EXPERIMENT_ID,), backend=True),
    Operation(
        "post", "/api/v1/experiment/{id}", "submitTemplate",
        "Submit the template named in the path with values for its parameters", ref(Experiment),
        tag="template", body=TemplateSubmit, backend=True,
        params=(Query("id", {"type": "string"}, "The template's name.", "path", True),),
    ),
    Operation(
        "post", "/api/v1/experiment/{id}/stop", "stopExperiment",
        "Stop every replica and keep the experiment, its logs and metrics (its status reads Stopped)",
        ref(Experiment), params=(EXPERIMENT_ID,), backend=True,
    ),
    Operation(
        "post", "/api/v1/experiment/{id}/rerun", "rerunExperiment",
        "Create a new experiment from this one's spec (the PATCHed one, if any), with changes", ref(Experiment),
        body=MERGE_PATCH, backend=True, extra_results=(ref(DryRun),),
        params=(EXPERIMENT_ID, Query("dryRun", BOOLEAN, "Only say what would run (on the target the changes "
                                     "name, if any); start nothing.")),
        description="It runs on the same target unless the changes name another: `{\"meta\": {\"target\": "
                    "\"gpu\"}}` promotes a local experiment to the cluster target `gpu`, and back.",
    ),
    Operation(
        "get", "/api/v1/experiment/{id}/spec", "getExperimentSpec", "An experiment's spec, as JSON or YAML text",
        ref(ExperimentSpec), params=(EXPERIMENT_ID, Query("format", {"type": "string", "enum": ["json", "yaml"],
                                                              "default": "json"}, "`yaml`: the spec as YAML text.")),
        extra_results=({"type": "string"},),
    ),
    Operation(
        "get", "/api/v1/experiment/{id}/metrics", "getMetrics", "An experiment's metric series", ref(Metrics),
        tag="metrics",
        params=(EXPERIMENT_ID,
                Query("since", {"type": "string", "pattern": r"^\s*[0-9]+\s*$"},
                      "Only points collected after this `cursor` of an earlier answer."),
                Query("name", {"type": "string"}, "Only the series of this metric."),
                Query("replica", {"type": "string"}, "Only the series of this replica: its pod name, or the "
                      "short `worker-1`."),
                Query("maxPoints", {"type": "string", "pattern": r"^\s*[0-9]+\s*$"},
                      f"Points per series at most ({MIN_POINTS} to {MAX_POINTS}, default {DEFAULT_MAX_POINTS}): a "
                      "longer series is downsampled to each bucket's lowest and highest point plus its first and "
                      "newest.")),
    ),
    Operation("get", "/api/v1/experiment/{id}/params", "getParams", "The parameters an experiment's replicas logged",
              array(Param), tag="metrics", params=(EXPERIMENT_ID,)),
    Operation(
        "get", "/api/v1/experiment/logs", "listLogs", "Every experiment's replica names (logs left out)",
        array(LogContent), tag="logs", backend=True, params=EXPERIMENT_PAGING, attributes=CONTINUE,
        description="The experiments chosen and paged as `listExperiments` pages them, in the same order.",
    ),
    Operation(
        "get", "/api/v1/experiment/logs/{id}", "getLogs", "An experiment's replica logs, or follow them",
        ref(LogContent), tag="logs", stream=LogLine, backend=True,
        params=(EXPERIMENT_ID,
                Query("tailLines", {"type": "string", "pattern": r"^\s*[0-9]+\s*$"}, "Only the last N lines."),
                Query("podName", {"type": "string"}, "Only this replica."),
                Query("follow", BOOLEAN, "Stream lines as they are written, until the experiment ends.")),
    ),
    Operation("post", "/api/v1/environment", "createEnvironment", "Store an environment", ref(Environment),
              tag="environment", body=EnvironmentSpec),
    Operation("get", "/api/v1/environment", "listEnvironments", "List environments", array(Environment),
              tag="environment"),
    Operation("get", "/api/v1/environment/{name}", "getEnvironment", "One environment", ref(Environment),
              tag="environment", params=(ENVIRONMENT_NAME,)),
    Operation("patch", "/api/v1/environment/{name}", "patchEnvironment", "Replace an environment's spec",
              ref(Environment), tag="environment", body=EnvironmentUpdate, params=(ENVIRONMENT_NAME,)),
    Operation("delete", "/api/v1/environment/{name}", "deleteEnvironment", "Delete an environment",
              ref(Environment), tag="environment", params=(ENVIRONMENT_NAME,)),
    Operation("post", "/api/v1/template", "createTemplate", "Store a template", ref(Template), tag="template",
              body=TemplateSpec),
    Operation("get", "/api/v1/template", "listTemplates", "List templates", array(Template), tag="template"),
    Operation("get", "/api/v1/template/{name}", "getTemplate", "One template", ref(Template), tag="template",
              params=(TEMPLATE_NAME,)),
    Operation("patch", "/api/v1/template/{name}", "patchTemplate", "Replace a template", ref(Template),
              tag="template", body=TemplateUpdate, params=(TEMPLATE_NAME,)),
    Operation("delete", "/api/v1/template/{name}", "deleteTemplate", "Delete a template", ref(Template),
              tag="template", params=(TEMPLATE_NAME,)),
    Operation("post", "/api/v1/sweep", "createSweep", "Start a sweep: one experiment per trial", ref(Sweep),
              tag="sweep", body=SweepSpec, backend=True),
    Operation("get", "/api/v1/sweep", "listSweeps", "List sweeps", array(Sweep), tag="sweep"),
    Operation("get", "/api/v1/sweep/{name}", "getSweep", "A sweep and its trials, best first", ref(Sweep),
              tag="sweep", params=(SWEEP_NAME,)),
    Operation("post", "/api/v1/sweep/{name}/stop", "stopSweep", "Stop a sweep's running trials and its waiting ones",
              ref(Sweep), tag="sweep", params=(SWEEP_NAME,), backend=True),
    Operation("get", "/api/v1/target", "listTargets", "Where experiments can run, and whether each is reachable",
              array(Target), tag="target", backend=True,
              description="`local` always, plus the Kubernetes targets this server is configured with."),
    Operation("get", "/api/v1/openapi.json", "getOpenApi", "This document", {"type": "object"}, tag="meta", raw=True),
)

#: Models every document holds, requests in validation mode, answers in serialization mode.
REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    ExperimentSpec, EnvironmentSpec, EnvironmentUpdate, FieldError, TemplateSpec, TemplateUpdate, TemplateSubmit,
    SweepSpec,
)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    Experiment, Replica, Environment, LogContent, LogLine, DryRun, Envelope, ErrorEnvelope, Metrics, Param,
    Template, Sweep, Target,
)


def _tidy(node: Any) -> Any:
    """Replace each ``x-request-model`` mark (an echoed body) by a reference to that model,
    and drop the titles pydantic makes up for properties (``Experimentid``)."""
    if isinstance(node, dict):
        if "x-request-model" in node:
            return {"$ref": REF.format(model=node["x-request-model"])}
        tidy = {key: _tidy(value) for key, value in node.items()}
        if isinstance(tidy.get("properties"), dict):
            tidy["properties"] = {
                name: {k: v for k, v in prop.items() if k != "title"} for name, prop in tidy["properties"].items()
            }
        return tidy
    if isinstance(node, list):
        return [_tidy(item) for item in node]
    return node


def _envelope(result: dict[str, Any], attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    properties = {"result": result} if attributes is None else {"result": result, "attributes": attributes}
    return {"allOf": [ref(Envelope), {"type": "object", "properties": properties}]}


def _responses(op: Operation) -> dict[str, Any]:
    error = {"description": "Refused: the message says why.", "content": {JSON: {"schema": ref(ErrorEnvelope)}}}
    results = [op.result, *op.extra_results]
    result = results[0] if len(results) == 1 else {"anyOf": results}
    content: dict[str, Any] = {JSON: {"schema": op.result if op.raw else _envelope(result, op.attributes)}}
    if op.stream is not None:
        content[NDJSON] = {"schema": ref(op.stream)}
    responses: dict[str, Any] = {"200": {"description": "Done.", "content": content}, "4XX": error}
    if op.conditional:
        responses["200"]["headers"] = {"ETag": {"description": "A weak validator of this answer.",
                                                "schema": {"type": "string"}}}
        responses["304"] = {"description": "Not modified: unchanged since the answer with the ETag sent.",
                            "content": {}}
    unavailable = [why for why, applies in (
        ("the backend (e.g. a Kubernetes API server) cannot be reached", op.backend),
        ("another process held the database locked for too long: nothing was changed, try again after "
         "Retry-After seconds", op.method != "get"),
    ) if applies]
    if unavailable:
        text = "; or ".join(unavailable)
        responses["503"] = {**error, "description": f"{text[0].upper()}{text[1:]}."}
    return responses


def _operation(op: Operation) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operationId": op.operation_id, "summary": op.summary, "tags": [op.tag],
        "responses": _responses(op), "security": [{"token": []}, {"cookie": []}],
    }
    if op.description:
        spec["description"] = op.description
    if op.params:
        spec["parameters"] = [
            {"name": p.name, "in": p.where, "required": p.required, "schema": p.schema, "description": p.description}
            for p in op.params
        ]
    if op.body is not None:
        schema = op.body if isinstance(op.body, dict) else ref(op.body)
        spec["requestBody"] = {"required": not isinstance(op.body, dict),
                               "content": {JSON: {"schema": schema}, YAML: {"schema": schema}}}
    return spec


def build_document(
    operations: Sequence[Operation] = OPERATIONS,
    request_models: Sequence[type[BaseModel]] = REQUEST_MODELS,
    response_models: Sequence[type[BaseModel]] = RESPONSE_MODELS,
) -> dict[str, Any]:
    """The OpenAPI document of ``operations`` over these models."""
    _, schemas = models_json_schema(
        [(m, "validation") for m in request_models] + [(m, "serialization") for m in response_models],
        ref_template=REF,
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "submarine-jupyter",
            "version": __version__,
            "description": "Apache Submarine's Experiment REST API, served by a Jupyter server extension.",
            "x-submarine-vocabulary": {
                "frameworks": list(FRAMEWORKS), "statuses": list(STATUSES), "roleOrder": list(ROLE_ORDER),
                "terminalStatuses": [s for s in STATUSES if s in TERMINAL_STATUSES],
                "frameworkRoles": {key: list(roles) for key, roles in FRAMEWORK_ROLES.items()},
            },
        },
        "paths": paths,
        "components": {
            "schemas": _tidy(schemas.get("$defs", {})),
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "Authorization",
                          "description": "`token <Jupyter token>`."},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "_xsrf",
                           "description": "JupyterLab's session cookie plus the `X-XSRFToken` header."},
            },
        },
    }


@functools.cache
def document() -> dict[str, Any]:
    """The document of this server (built once)."""
    return build_document()


if __name__ == "__main__":
    import json
    import sys

    json.dump(document(), sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
