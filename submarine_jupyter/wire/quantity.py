"""Kubernetes quantities and the ``resources`` string of a role (``cpu=1,memory=2Gi,gpu=1``)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_QUANTITY = re.compile(r"^(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<suffix>[a-zA-Z]*|[eE][0-9]+)$")
_SUFFIX = {
    "": Decimal(1), "m": Decimal("0.001"),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}
RESOURCE_KEYS = ("cpu", "memory", "gpu", "nvidia.com/gpu")
#: Digits of an exponent at most (``1e999999999`` would take the process's memory).
MAX_EXPONENT = 30


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
        if int(suffix[1:]) > MAX_EXPONENT:
            raise ValueError(f"'{text}': the exponent is larger than {MAX_EXPONENT}")
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
