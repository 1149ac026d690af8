"""Metrics: how an experiment's are collected (a spec extension) and how they are answered.

A series is the values of one metric name from one replica and one source, in the order
they were collected; a point is (step, value, time). Sources: ``log`` (``name=value`` pairs
as Katib's default collector reads them, and JSON lines with numeric fields, in what a
replica prints), ``tensorboard`` (scalars in event files under the replica's
``SUBMARINE_TENSORBOARD_LOG_DIR``), ``tracking`` (Submarine's SDK ``log_metric``).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from .base import Request, Response

#: Katib's default metrics collector format: ``name=value`` (``metricsFormat``).
KATIB_FORMAT = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"
#: Keys that give a point its step, first found wins; without one, the line's order does.
STEP_KEYS = ("step", "iteration", "epoch")
MAX_FILTERS = 16
MAX_FILTER_LENGTH = 512
#: Points per series an answer holds at most by default (``maxPoints``), and its bounds.
DEFAULT_MAX_POINTS = 1000
MIN_POINTS = 2
MAX_POINTS = 10_000
MetricSource = Literal["log", "tensorboard", "tracking"]


class MetricsSpec(Request):
    """How metrics are collected from what the replicas print (an extension of Submarine's
    spec; without it, collection is on with Katib's default format)."""

    enabled: bool = Field(True, description="false: collect no metrics from the logs.")
    filters: list[str] = Field(
        default_factory=list,
        description="Regexes in Katib's metricsFormat: each finds (name, value) pairs in a line with its first two "
        f"groups. Default: Katib's `{KATIB_FORMAT}`.",
    )

    @field_validator("filters")
    @classmethod
    def _filters(cls, value: list[str]) -> list[str]:
        if len(value) > MAX_FILTERS:
            raise ValueError(f"at most {MAX_FILTERS} filters, got {len(value)}")
        for index, text in enumerate(value):
            if len(text) > MAX_FILTER_LENGTH:
                raise ValueError(f"[{index}]: longer than {MAX_FILTER_LENGTH} characters")
            try:
                groups = re.compile(text).groups
            except re.error as error:
                raise ValueError(f"[{index}]: not a regular expression ({error})") from None
            if groups < 2:
                raise ValueError(f"[{index}]: needs two groups, the name and the value (it has {groups})")
        return value


class MetricSeries(Response):
    """One metric of one replica from one source: its points (columns), and what it holds in all."""

    name: str
    replica: str = Field(description="The replica's pod name.")
    source: MetricSource
    steps: list[float]
    values: list[float]
    times: list[float] = Field(
        description="When each point was collected (written, for TensorBoard and the tracking SDK), Unix seconds.")
    count: int = Field(description="Points stored for the series (more than these when downsampled or incremental).")
    last: float | None = Field(description="The value of the newest point.")
    min: float | None
    max: float | None
    downsampled: bool = Field(
        description="The points are a sample: per bucket of consecutive points, its lowest and highest, "
        "plus the first and the newest point."
    )


class Metrics(Response):
    """An experiment's metrics; ``cursor`` passed back as ``since`` returns only newer points."""

    experiment_id: str
    cursor: int
    collecting: bool = Field(
        description="Whether the server may still add points: the experiment runs, or its last output is being "
        "read. Once false (after it ended), the metrics are complete."
    )
    series: list[MetricSeries]


class Param(Response):
    """A parameter a replica logged (Submarine's SDK ``log_param``)."""

    key: str
    value: str
    replica: str
