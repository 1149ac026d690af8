"""Base classes of the wire models: camelCase keys, strict request parsing."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Request(BaseModel):
    """A request body: camelCase aliases, strict types, unknown keys refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True)

    def dump(self) -> dict[str, Any]:
        """The body as the user sent it (defaults not filled in), camelCase."""
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")


class Response(BaseModel):
    """An answer's body: camelCase aliases; every field is always present on the wire."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, json_schema_serialization_defaults_required=True
    )

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")
