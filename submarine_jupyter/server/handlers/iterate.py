"""Template and sweep routes."""

from __future__ import annotations

from .base import SubmarineHandler, endpoint


class TemplatesHandler(SubmarineHandler):
    @endpoint("write")
    async def post(self) -> None:
        self.reply(await self.services.templates.create(self.body()))

    @endpoint("read")
    async def get(self) -> None:
        self.reply(await self.services.templates.list())


class TemplateHandler(SubmarineHandler):
    @endpoint("read")
    async def get(self, name: str) -> None:
        self.reply(await self.services.templates.get(name))

    @endpoint("write")
    async def patch(self, name: str) -> None:
        self.reply(await self.services.templates.patch(name, self.body()))

    @endpoint("write")
    async def delete(self, name: str) -> None:
        self.reply(await self.services.templates.delete(name))


class SweepsHandler(SubmarineHandler):
    @endpoint("write")
    async def post(self) -> None:
        self.reply(await self.services.sweeps.create(self.body()))

    @endpoint("read")
    async def get(self) -> None:
        self.reply(await self.services.sweeps.list())


class SweepHandler(SubmarineHandler):
    @endpoint("read")
    async def get(self, name: str) -> None:
        self.reply(await self.services.sweeps.get(name))


class SweepStopHandler(SubmarineHandler):
    @endpoint("write")
    async def post(self, name: str) -> None:
        self.reply(await self.services.sweeps.stop(name))
