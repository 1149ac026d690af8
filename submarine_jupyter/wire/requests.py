"""Request bodies: Submarine's ExperimentSpec and EnvironmentSpec.

The models accept exactly what the Experiment REST API document shows (camelCase keys),
refuse anything else with an error that names the field, and keep what the user sent so
it can be echoed back unchanged (``dump``). These rules are checked by the server alone;
every face (magics, panel, curl) learns of a mistake from its answer.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic.json_schema import JsonDict

from .base import Request
from .code import CodeSpec
from .constants import FRAMEWORK_ROLES, FRAMEWORKS, framework_name
from .metrics import MetricsSpec
from .quantity import Resources

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
ENV_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")
ENV_NAME_RULE = "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 253 characters"
#: An environment variable's name, as Kubernetes accepts it (and a process can be given it).
ENV_VAR_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def _process_text_problem(text: str) -> str | None:
    """Why no process (nor pod) can be given ``text``, if it cannot."""
    if "\0" in text:
        return "contains a NUL character, which no process can be given"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return f"contains {text[error.start]!r} at {error.start}, a lone surrogate that is not text (not UTF-8)"
    return None


def _env_vars(value: dict[str, str]) -> dict[str, str]:
    """Names a process (and a pod) can be given; values it can be given."""
    for name, text in value.items():
        if not ENV_VAR_NAME.match(name):
            raise ValueError(f"{name!r} is not an environment variable name (letters, digits, '_', '-', '.'; "
                             "not starting with a digit)")
        if problem := _process_text_problem(text):
            raise ValueError(f"{name}: the value {problem}")
    return value


def _command(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    if problem := _process_text_problem(value):
        raise ValueError(problem)
    return value
_LABEL_SCHEMA: JsonDict = {"pattern": DNS1123_LABEL.pattern, "maxLength": 63}


class ExperimentMeta(Request):
    name: str = Field(json_schema_extra=_LABEL_SCHEMA, description="A DNS-1123 label.")
    namespace: str = Field("default", json_schema_extra=_LABEL_SCHEMA)
    framework: str = Field(description=f"One of {', '.join(FRAMEWORKS)}, in any case; stored as sent.")
    cmd: str = Field(description="A shell command line, run as `sh -c` by every backend.")
    env_vars: dict[str, str] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    experiment_id: str | None = None
    target: str | None = Field(
        None, json_schema_extra=_LABEL_SCHEMA,
        description="Where it runs: a target of `GET /api/v1/target` (default: the server's default target).")

    @field_validator("name", "target")
    @classmethod
    def _dns_label(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if len(value) > 63 or not DNS1123_LABEL.match(value):
            raise ValueError(
                f"'{value}' is not a DNS-1123 label: use lower-case letters, digits and '-', "
                "start and end with a letter or digit, at most 63 characters"
            )
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if len(value) > 63 or not DNS1123_LABEL.match(value):
            raise ValueError(f"'{value}' is not a valid namespace (a DNS-1123 label)")
        return value

    @field_validator("framework")
    @classmethod
    def _framework(cls, value: str) -> str:
        if value.lower() not in FRAMEWORK_ROLES:
            raise ValueError(f"unknown framework '{value}' (use {', '.join(FRAMEWORKS)})")
        return value

    @field_validator("cmd")
    @classmethod
    def _cmd(cls, value: str) -> str:
        return _command(value)

    @field_validator("env_vars")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        return _env_vars(value)

    @property
    def framework_key(self) -> str:
        """The framework lower-cased: ``tensorflow``, ``pytorch`` or ``xgboost``."""
        return self.framework.lower()


class EnvironmentRef(Request):
    """An experiment's environment: an inline ``image`` or the ``name`` of a stored one."""

    name: str | None = Field(None, json_schema_extra={"pattern": ENV_NAME.pattern})
    image: str | None = Field(None, json_schema_extra={"minLength": 1})

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME.match(value):
            raise ValueError(f"'{value}' is not a valid environment name: {ENV_NAME_RULE}")
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value

    @model_validator(mode="after")
    def _one_of(self) -> EnvironmentRef:
        if self.name is None and self.image is None:
            raise ValueError("give either 'name' (a stored environment) or 'image'")
        if self.name is not None and self.image is not None:
            raise ValueError("give either 'name' (a stored environment) or 'image', not both")
        return self


class TaskSpec(Request):
    """One role of an experiment (``Worker``, ``Ps`` ...)."""

    replicas: int = Field(1, ge=1)
    resources: str | None = Field(None, description="`cpu`, `memory` and `gpu` as `k=v` pairs: `cpu=1,memory=2Gi`.")
    name: str | None = None
    image: str | None = None
    cmd: str | None = None
    env_vars: dict[str, str] = Field(default_factory=dict)

    @field_validator("replicas", mode="before")
    @classmethod
    def _positive(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and value < 1:
            raise ValueError(f"must be at least 1, got {value}")
        return value

    @field_validator("resources")
    @classmethod
    def _resources(cls, value: str | None) -> str | None:
        Resources.parse(value)
        return value

    @field_validator("cmd")
    @classmethod
    def _cmd(cls, value: str | None) -> str | None:
        return None if value is None else _command(value)

    @field_validator("env_vars")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        return _env_vars(value)

    @property
    def parsed_resources(self) -> Resources:
        return Resources.parse(self.resources)


class ExperimentSpec(Request):
    """The body of ``POST``/``PATCH /api/v1/experiment``."""

    meta: ExperimentMeta
    environment: EnvironmentRef | None = None
    metrics: MetricsSpec | None = Field(None, description="submarine-jupyter's extension: metric collection.")
    code: CodeSpec | None = Field(None, description="The code to fetch before the replicas start; they run in it.")
    spec: dict[str, TaskSpec] = Field(
        description="Roles by name (exact case, per framework: "
        + "; ".join(f"{framework_name(f)}: {', '.join(roles)}" for f, roles in FRAMEWORK_ROLES.items()) + ")."
    )

    @model_validator(mode="after")
    def _roles(self) -> ExperimentSpec:
        if not self.spec:
            raise ValueError("spec: must name at least one role")
        allowed = FRAMEWORK_ROLES[self.meta.framework_key]
        for role in self.spec:
            if role not in allowed:
                name = framework_name(self.meta.framework)
                raise ValueError(f"spec.{role}: {name} has no role '{role}' (roles: {', '.join(allowed)})")
        return self


class KernelSpec(Request):
    name: str | None = None
    channels: list[str] = Field(default_factory=list)
    conda_dependencies: list[str] = Field(default_factory=list)
    pip_dependencies: list[str] = Field(default_factory=list)


class _EnvironmentBody(Request):
    name: str | None = Field(None, json_schema_extra={"pattern": ENV_NAME.pattern})
    docker_image: str | None = None
    kernel_spec: KernelSpec | None = None
    description: str | None = None
    image: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME.match(value):
            raise ValueError(f"'{value}' is not a valid environment name: {ENV_NAME_RULE}")
        return value


class EnvironmentUpdate(_EnvironmentBody):
    """The body of ``PATCH /api/v1/environment/{name}``: an EnvironmentSpec whose ``name``
    may be left out (it is the one in the path, and cannot change)."""


class EnvironmentSpec(_EnvironmentBody):
    """The body of ``POST /api/v1/environment`` (Submarine's EnvironmentSpec)."""

    name: str = Field(json_schema_extra={"pattern": ENV_NAME.pattern})

    @property
    def effective_image(self) -> str | None:
        """The container image an experiment using this environment runs in."""
        return self.docker_image or self.image
