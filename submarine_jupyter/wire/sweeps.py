"""Sweeps: one experiment per trial of a template's parameters, judged by a metric.

A grid takes every combination of the values given per parameter, in order; a random
sweep draws ``count`` trials from distributions (``uniform(a,b)``, ``loguniform(a,b)``,
``randint(a,b)``, ``choice(x,y,...)``). At most ``parallel`` trials are unfinished at a
time; the others wait their turn (and then the machine's fair queue). The objective is the
last value of a metric (the trial's lead replica: Chief or Master, else worker 0).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import Request, Response
from .constants import ExperimentStatus
from .requests import DNS1123_LABEL

DISTRIBUTION = re.compile(r"^\s*(uniform|loguniform|randint|choice)\((.*)\)\s*$")
MAX_TRIALS = 1000
SweepStatus = Literal["Running", "Succeeded", "Failed", "Stopped"]


class Objective(Request):
    metric: str = Field(min_length=1, max_length=256)
    goal: Literal["min", "max"] = "min"


class RandomSearch(Request):
    count: int = Field(ge=1, le=MAX_TRIALS)
    params: dict[str, str] = Field(description="Parameter -> distribution, e.g. \"loguniform(1e-4,1e-1)\".")
    seed: int | None = None

    @field_validator("params")
    @classmethod
    def _distributions(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not DISTRIBUTION.match(text):
                raise ValueError(f"{name}: '{text}' is not uniform(a,b), loguniform(a,b), randint(a,b) or choice(...)")
        return value


class SweepSpec(Request):
    """The body of ``POST /api/v1/sweep``."""

    name: str = Field(json_schema_extra={"pattern": DNS1123_LABEL.pattern, "maxLength": 63})
    template: str = Field(description="The template each trial is submitted from.")
    params: dict[str, str] = Field(default_factory=dict, description="Values every trial gets.")
    grid: dict[str, list[str]] = Field(default_factory=dict, description="Parameter -> its values: every combination.")
    random: RandomSearch | None = None
    parallel: int = Field(1, ge=1, le=64, description="Trials unfinished at a time at most.")
    objective: Objective | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if len(value) > 63 or not DNS1123_LABEL.match(value):
            raise ValueError(f"'{value}' is not a DNS-1123 label")
        return value

    @field_validator("grid")
    @classmethod
    def _grid(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        size = 1
        for name, values in value.items():
            if not values:
                raise ValueError(f"{name}: give at least one value")
            size *= len(values)
        if size > MAX_TRIALS:
            raise ValueError(f"{size} combinations: at most {MAX_TRIALS} trials")
        return value

    @model_validator(mode="after")
    def _one_search(self) -> SweepSpec:
        if bool(self.grid) == (self.random is not None):
            raise ValueError("give either 'grid' or 'random'")
        return self


class Trial(Response):
    index: int
    params: dict[str, str]
    experiment_id: str | None = Field(description="Null while the trial waits its turn.")
    status: ExperimentStatus | Literal["Waiting"]
    objective: float | None = Field(description="The objective metric's last value, when reported.")


class Sweep(Response):
    name: str
    template: str
    status: SweepStatus
    status_message: str | None = Field(None, description="Why it failed or stopped, in a person's words.")
    parallel: int
    objective: Objective | None
    trials: list[Trial] = Field(description="Best first when there is an objective, else in order.")
    best: int | None = Field(description="The index of the best trial so far.")
