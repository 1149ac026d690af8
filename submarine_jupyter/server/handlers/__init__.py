"""The routes, written as OpenAPI path templates (``{id}``) and registered as regexes."""

from __future__ import annotations

import json
import re

from ...wire.openapi import document
from .base import SubmarineHandler, endpoint
from .environments import EnvironmentHandler, EnvironmentsHandler
from .experiments import (
    AllLogsHandler,
    ExperimentHandler,
    ExperimentsHandler,
    LogsHandler,
    PingHandler,
    RerunHandler,
    SpecHandler,
    StopHandler,
)
from .iterate import SweepHandler, SweepsHandler, SweepStopHandler, TemplateHandler, TemplatesHandler
from .metrics import MetricsHandler, ParamsHandler
from .targets import TargetsHandler


class OpenApiHandler(SubmarineHandler):
    """The OpenAPI document itself (not in an envelope, so tools can read it)."""

    @endpoint("read")
    async def get(self) -> None:
        self.finish(json.dumps(document()))


#: (OpenAPI path template, handler); the first match wins, so literals come before ``{id}``.
TEMPLATES: list[tuple[str, type[SubmarineHandler]]] = [
    ("/api/v1/openapi.json", OpenApiHandler),
    ("/api/v1/experiment/ping", PingHandler),
    ("/api/v1/experiment/logs", AllLogsHandler),
    ("/api/v1/experiment/logs/{id}", LogsHandler),
    ("/api/v1/experiment", ExperimentsHandler),
    ("/api/v1/experiment/{id}", ExperimentHandler),
    ("/api/v1/experiment/{id}/spec", SpecHandler),
    ("/api/v1/experiment/{id}/stop", StopHandler),
    ("/api/v1/experiment/{id}/rerun", RerunHandler),
    ("/api/v1/experiment/{id}/metrics", MetricsHandler),
    ("/api/v1/experiment/{id}/params", ParamsHandler),
    ("/api/v1/environment", EnvironmentsHandler),
    ("/api/v1/environment/{name}", EnvironmentHandler),
    ("/api/v1/template", TemplatesHandler),
    ("/api/v1/template/{name}", TemplateHandler),
    ("/api/v1/sweep", SweepsHandler),
    ("/api/v1/sweep/{name}", SweepHandler),
    ("/api/v1/sweep/{name}/stop", SweepStopHandler),
    ("/api/v1/target", TargetsHandler),
]


def pattern(template: str) -> str:
    """``/api/v1/experiment/{id}`` -> ``/api/v1/experiment/(?P<id>[^/]+)``."""
    return re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)


ROUTES: list[tuple[str, type[SubmarineHandler]]] = [(pattern(t), handler) for t, handler in TEMPLATES]
