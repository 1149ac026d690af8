"""Pydantic models of Submarine's experiment and environment wire format.

The models accept exactly what the Experiment REST API document shows (camelCase
keys), refuse anything else with an error that names the field, and keep what the
user sent so it can be echoed back unchanged (``dump_spec``).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
ENV_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")

#: Role names each framework accepts, exact-case, as the training-operator names them.
FRAMEWORK_ROLES: dict[str, tuple[str, ...]] = {
    "tensorflow": ("Chief", "Master", "Ps", "Worker", "Evaluator"),
    "pytorch": ("Master", "Worker"),
    "xgboost": ("Master", "Worker"),
}
FRAMEWORK_NAMES = {"tensorflow": "TensorFlow", "pytorch": "PyTorch", "xgboost": "XGBoost"}

_QUANTITY = re.compile(r"^(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<suffix>[a-zA-Z]*|[eE][0-9]+)$")
_SUFFIX = {
    "": Decimal(1), "m": Decimal("0.001"),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}
RESOURCE_KEYS = ("cpu", "memory", "gpu", "nvidia.com/gpu")


def parse_quantity(text: str) -> Decimal:
    """Parse a Kubernetes quantity (``500m``, ``2Gi``, ``1024M``, ``1e3``) to a number."""
    match = _QUANTITY.match(text.strip())
    if not match:
        raise ValueError(f"'{text}' is not a quantity (e.g. 2, 500m, 1024M, 2Gi)")
    suffix = match["suffix"]
    try:
        number = Decimal(match["num"])
    except InvalidOperation:
        raise ValueError(f"'{text}' is not a quantity") from None
    if suffix[:1] in ("e", "E") and suffix[1:].isdigit():
        return number * (Decimal(10) ** int(suffix[1:]))
    if suffix not in _SUFFIX:
        raise ValueError(f"'{text}' has an unknown unit '{suffix}' (use m, k, M, G, T, Ki, Mi, Gi, Ti ...)")
    return number * _SUFFIX[suffix]


class Resources(BaseModel):
    """Parsed ``resources`` of a role: cpu in cores, memory in bytes, gpu in devices."""

    model_config = ConfigDict(frozen=True)

    cpu: Decimal | None = None
    memory: int | None = None
    gpu: int | None = None
    raw: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> Resources:
        """Parse ``cpu=1,memory=2Gi,gpu=1``; raise ``ValueError`` naming the bad pair."""
        if text is None or not text.strip():
            return cls()
        values: dict[str, Any] = {}
        raw: dict[str, str] = {}
        for pair in text.split(","):
            key, sep, value = (part.strip() for part in pair.partition("="))
            if not sep or not key or not value:
                raise ValueError(f"'{pair.strip()}' is not key=value (e.g. cpu=1,memory=2Gi,gpu=1)")
            if key not in RESOURCE_KEYS:
                raise ValueError(f"unknown resource '{key}' (known: {', '.join(RESOURCE_KEYS)})")
            name = "gpu" if key == "nvidia.com/gpu" else key
            if name in values:
                raise ValueError(f"'{name}' is given twice")
            try:
                quantity = parse_quantity(value)
            except ValueError as error:
                raise ValueError(f"{key}={value}: {error}") from None
            if quantity <= 0 and name != "gpu":
                raise ValueError(f"{key}={value} must be greater than zero")
            if name == "cpu":
                values["cpu"] = quantity
            elif name == "memory":
                if quantity != quantity.to_integral_value():
                    raise ValueError(f"memory={value} is not a whole number of bytes")
                values["memory"] = int(quantity)
            else:
                if quantity != quantity.to_integral_value():
                    raise ValueError(f"{key}={value} must be a whole number of devices")
                values["gpu"] = int(quantity)
            raw[name] = value
        return cls(**values, raw=raw)


class _Wire(BaseModel):
    """Base of wire models: camelCase aliases, strict types, unknown keys refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True
    )


class ExperimentMeta(_Wire):
    name: str
    namespace: str = "default"
    framework: str
    cmd: str
    env_vars: dict[str, str] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    experiment_id: str | None = None

    @field_validator("name")
    @classmethod
    def _dns_label(cls, value: str) -> str:
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
            raise ValueError(f"unknown framework '{value}' (use TensorFlow, PyTorch or XGBoost)")
        return value

    @field_validator("cmd")
    @classmethod
    def _cmd(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @property
    def framework_key(self) -> str:
        """The framework lower-cased: ``tensorflow``, ``pytorch`` or ``xgboost``."""
        return self.framework.lower()


class EnvironmentRef(_Wire):
    """An experiment's environment: an inline ``image`` or the ``name`` of a stored one."""

    name: str | None = None
    image: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> EnvironmentRef:
        if (self.name is None) == (self.image is None):
            raise ValueError("give either 'name' (a stored environment) or 'image', not both")
        return self


class TaskSpec(_Wire):
    """One role of an experiment (``Worker``, ``Ps`` ...)."""

    replicas: int = 1
    resources: str | None = None
    name: str | None = None
    image: str | None = None
    cmd: str | None = None
    env_vars: dict[str, str] = Field(default_factory=dict)

    @field_validator("replicas")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
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
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value

    @property
    def parsed_resources(self) -> Resources:
        return Resources.parse(self.resources)


class ExperimentSpec(_Wire):
    """The body of ``POST``/``PATCH /api/v1/experiment``."""

    meta: ExperimentMeta
    environment: EnvironmentRef | None = None
    spec: dict[str, TaskSpec]

    @model_validator(mode="after")
    def _roles(self) -> ExperimentSpec:
        if not self.spec:
            raise ValueError("spec: must name at least one role")
        allowed = FRAMEWORK_ROLES[self.meta.framework_key]
        for role in self.spec:
            if role not in allowed:
                name = FRAMEWORK_NAMES[self.meta.framework_key]
                raise ValueError(
                    f"spec.{role}: {name} has no role '{role}' (roles: {', '.join(allowed)})"
                )
        return self

    def dump(self) -> dict[str, Any]:
        """The spec as the user sent it (defaults not filled in), camelCase."""
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")


class KernelSpec(_Wire):
    name: str | None = None
    channels: list[str] = Field(default_factory=list)
    conda_dependencies: list[str] = Field(default_factory=list)
    pip_dependencies: list[str] = Field(default_factory=list)


class EnvironmentSpec(_Wire):
    """The body of ``POST``/``PATCH /api/v1/environment`` (Submarine's EnvironmentSpec)."""

    name: str
    docker_image: str | None = None
    kernel_spec: KernelSpec | None = None
    description: str | None = None
    image: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not ENV_NAME.match(value):
            raise ValueError(
                f"'{value}' is not a valid environment name: letters, digits, '.', '_' and '-', "
                "starting with a letter or digit, at most 253 characters"
            )
        return value

    @property
    def effective_image(self) -> str | None:
        """The container image an experiment using this environment runs in."""
        return self.docker_image or self.image

    def dump(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")


def describe_errors(error: ValidationError) -> str:
    """One line per problem, each starting with the dotted path of the field."""
    lines = []
    for item in error.errors(include_url=False):
        path = ".".join(str(part) for part in item["loc"])
        message = item["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            message = message.removeprefix(prefix)
        if item["type"] == "missing":
            message = "is required"
        elif item["type"] == "extra_forbidden":
            message = "is not a known field"
        lines.append(f"{path}: {message}" if path else message)
    return "; ".join(lines)
