"""The server's services, built once by the app and read by every handler."""

from __future__ import annotations

from dataclasses import dataclass

from .bodies import BodyLimits
from .environments import EnvironmentService
from .logs import LogService
from .metrics.service import MetricsService
from .service import ExperimentService
from .sweeps.service import SweepService
from .templates import TemplateService

SETTINGS_KEY = "submarine"


@dataclass(frozen=True)
class Services:
    experiments: ExperimentService
    environments: EnvironmentService
    logs: LogService
    metrics: MetricsService
    templates: TemplateService
    sweeps: SweepService
    body_limits: BodyLimits
