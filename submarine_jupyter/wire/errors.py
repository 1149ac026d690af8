"""Validation errors as the API reports them: one line per field, each naming its path."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError


class FieldError(BaseModel):
    """One problem with a request body: the dotted path of the field and what is wrong."""

    field: str
    message: str


def field_errors(error: ValidationError) -> list[FieldError]:
    """Each problem of ``error`` with the dotted path of its field ("" for the whole body)."""
    problems = []
    for item in error.errors(include_url=False):
        path = ".".join(str(part) for part in item["loc"])
        message = item["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            message = message.removeprefix(prefix)
        if item["type"] == "missing":
            message = "is required"
        elif item["type"] == "extra_forbidden":
            message = "is not a known field"
        if not path and message.startswith("spec") and ": " in message:
            path, message = message.split(": ", 1)  # a rule across fields that names its field
        problems.append(FieldError(field=path, message=message))
    return problems


def describe(problems: list[FieldError]) -> str:
    """``field: message`` per problem, joined by ``; ``."""
    return "; ".join(f"{p.field}: {p.message}" if p.field else p.message for p in problems)
