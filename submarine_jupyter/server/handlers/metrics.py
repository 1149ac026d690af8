"""Metric routes: an experiment's series (incrementally, bounded) and its logged params."""

from __future__ import annotations

from .base import SubmarineHandler, endpoint


class MetricsHandler(SubmarineHandler):
    @endpoint("read")
    async def get(self, id: str) -> None:
        self.reply(await self.services.metrics.metrics(
            id, since=self.non_negative_int("since"), name=self.get_query_argument("name", None),
            replica=self.get_query_argument("replica", None), max_points=self.non_negative_int("maxPoints"),
        ))


class ParamsHandler(SubmarineHandler):
    @endpoint("read")
    async def get(self, id: str) -> None:
        self.reply(await self.services.metrics.params(id))
