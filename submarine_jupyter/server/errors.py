"""``ApiError``: a refusal that becomes an error envelope; the service's texts for it."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..wire.errors import FieldError, describe, field_errors
from .backends.base import BackendError

T = TypeVar("T")

NOT_FOUND_EXPERIMENT = "Not found experiment."
NOT_FOUND_ENVIRONMENT = "Environment not found."


class ApiError(Exception):
    """A refusal that becomes an error envelope with HTTP status ``code``; ``fields`` says
    which fields of a refused body are wrong."""

    def __init__(self, code: int, message: str, fields: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or []


def parse(model: type[BaseModel], body: Any, what: str) -> Any:
    """``body`` as ``model``; a 400 naming each bad field otherwise (``what``: "experiment" ...)."""
    try:
        return model.model_validate(body)
    except ValidationError as error:
        problems = field_errors(error)
        raise ApiError(400, f"Invalid {what} spec: {describe(problems)}", problems) from None


async def backend_call(awaitable: Awaitable[T]) -> T:
    """Await a backend's call; its refusal (``BackendError``) becomes an ``ApiError``."""
    try:
        return await awaitable
    except BackendError as error:
        raise ApiError(error.code, error.message) from None
