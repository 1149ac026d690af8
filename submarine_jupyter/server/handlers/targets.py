"""``GET /api/v1/target``: where experiments can run, and whether each target is reachable."""

from __future__ import annotations

from .base import SubmarineHandler, endpoint


class TargetsHandler(SubmarineHandler):
    @endpoint("read")
    async def get(self) -> None:
        self.reply(await self.service.backend.describe_all())
