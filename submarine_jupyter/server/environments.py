"""Stored environments (Submarine's EnvironmentSpec): create, list, get, patch, delete."""

from __future__ import annotations

from typing import Any

from ..wire.requests import EnvironmentSpec, EnvironmentUpdate
from ..wire.responses import Environment
from . import answers
from .errors import NOT_FOUND_ENVIRONMENT, ApiError, parse
from .store import Conflict, Store


class EnvironmentService:
    """Environments by name; ids ``environment_<serverStartMillis>_<seq>``."""

    def __init__(self, store: Store, start_millis: int) -> None:
        self.store = store
        self.start_millis = start_millis

    async def create(self, body: Any) -> Environment:
        spec: EnvironmentSpec = parse(EnvironmentSpec, body, "environment")
        try:
            record = await self.store.insert_environment(
                spec.name, lambda seq: f"environment_{self.start_millis}_{seq:04d}", spec.dump()
            )
        except Conflict:
            raise ApiError(409, f"name: environment '{spec.name}' already exists") from None
        return answers.environment(record)

    async def list(self) -> list[Environment]:
        return [answers.environment(record) for record in await self.store.list_environments()]

    async def get(self, name: str) -> Environment:
        record = await self.store.get_environment(name)
        if record is None:
            raise ApiError(404, NOT_FOUND_ENVIRONMENT)
        return answers.environment(record)

    async def patch(self, name: str, body: Any) -> Environment:
        update: EnvironmentUpdate = parse(EnvironmentUpdate, body, "environment")
        if update.name is not None and update.name != name:
            raise ApiError(400, f"name: cannot rename environment '{name}' to '{update.name}'")
        fields = {key: value for key, value in update.dump().items() if key != "name"}
        record = await self.store.update_environment(name, {"name": name, **fields})
        if record is None:
            raise ApiError(404, NOT_FOUND_ENVIRONMENT)
        return answers.environment(record)

    async def delete(self, name: str) -> Environment:
        record = await self.store.delete_environment(name)
        if record is None:
            raise ApiError(404, NOT_FOUND_ENVIRONMENT)
        return answers.environment(record)
