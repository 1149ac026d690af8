"""Environment routes (Submarine's EnvironmentSpec)."""

from __future__ import annotations

from .base import SubmarineHandler, endpoint


class EnvironmentsHandler(SubmarineHandler):
    store_only = frozenset({"GET"})

    @endpoint("write")
    async def post(self) -> None:
        self.reply(await self.services.environments.create(self.body()))

    @endpoint("read")
    async def get(self) -> None:
        self.reply(await self.services.environments.list())


class EnvironmentHandler(SubmarineHandler):
    store_only = frozenset({"GET"})

    @endpoint("read")
    async def get(self, name: str) -> None:
        self.reply(await self.services.environments.get(name))

    @endpoint("write")
    async def patch(self, name: str) -> None:
        self.reply(await self.services.environments.patch(name, self.body()))

    @endpoint("write")
    async def delete(self, name: str) -> None:
        self.reply(await self.services.environments.delete(name))
