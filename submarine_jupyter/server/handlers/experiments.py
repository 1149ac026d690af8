"""Experiment routes: create, list, get, spec, patch, delete, logs and follow."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tornado.iostream import StreamClosedError

from .. import streaming
from ..paging import chunked, continue_token, experiment_query, list_etag
from ..store import ExperimentQuery
from .base import SubmarineHandler, endpoint

NDJSON = "application/x-ndjson; charset=UTF-8"
#: One page of a list for a query: its items as JSON text, and where the next page starts.
Page = Callable[[ExperimentQuery], Awaitable[tuple[list[str], int | None]]]
#: A count of experiment changes (what a list's ETag is made from).
Changes = Callable[[], Awaitable[int]]


class ListHandler(SubmarineHandler):
    """A list of experiments (or of something per experiment), paged like them."""

    async def reply_list(self, page: Page, changes: Changes | None = None) -> None:
        """One page when ``limit`` is given, with the ``continue`` token of the next; without
        it, every item, streamed a chunk at a time. With ``changes``, a weak ETag, and 304
        without reading a row when ``If-None-Match`` holds it (counted before the rows are
        read, so a change meanwhile makes the next request a full one, never a stale 304)."""
        arg = self.get_query_argument
        query = experiment_query(arg("status", None), arg("namePrefix", None), arg("sort", None),
                                 arg("limit", None), arg("continue", None), arg("target", None))
        if changes is not None:
            self.set_header("ETag", list_etag(query, await changes()))
            if self.check_etag_header():
                self.set_status(304)
                self.finish()
                return
        if query.limit is None:
            await self.reply_chunks(chunked(page, query))
            return
        items, after = await page(query)
        self.reply_items(items, attributes={"continue": continue_token(query, after)})


class PingHandler(SubmarineHandler):
    store_only = frozenset({"GET"})

    @endpoint("read")
    async def get(self) -> None:
        self.reply("Pong")


class ExperimentsHandler(ListHandler):
    store_only = frozenset({"GET"})

    @endpoint("write")
    async def post(self) -> None:
        dry_run = self.flag("dryRun")
        self.reply(await self.service.create(self.body(), dry_run=dry_run))

    @endpoint("read")
    async def get(self) -> None:
        await self.reply_list(self.service.page, self.service.changes)


class ExperimentHandler(SubmarineHandler):
    store_only = frozenset({"GET"})

    @endpoint("read")
    async def get(self, id: str) -> None:
        self.reply(await self.service.get(id))

    @endpoint("write")
    async def post(self, id: str) -> None:
        """Submit the template named ``id`` (Submarine's route for it)."""
        self.reply(await self.services.templates.submit(id, self.body()))

    @endpoint("write")
    async def patch(self, id: str) -> None:
        self.reply(await self.service.patch(id, self.body()))

    @endpoint("write")
    async def delete(self, id: str) -> None:
        self.reply(await self.service.delete(id))


class StopHandler(SubmarineHandler):
    @endpoint("write")
    async def post(self, id: str) -> None:
        self.reply(await self.service.stop_experiment(id))


class RerunHandler(SubmarineHandler):
    @endpoint("write")
    async def post(self, id: str) -> None:
        self.reply(await self.service.rerun(id, self.optional_body(), dry_run=self.flag("dryRun")))


class SpecHandler(SubmarineHandler):
    store_only = frozenset({"GET"})

    @endpoint("read")
    async def get(self, id: str) -> None:
        self.reply(await self.service.spec(id, self.choice("format", ("json", "yaml"))))


class AllLogsHandler(ListHandler):
    @endpoint("read")
    async def get(self) -> None:
        await self.reply_list(self.services.logs.index_page)


class LogsHandler(SubmarineHandler):
    @endpoint("read")
    async def get(self, id: str) -> None:
        pod_name = self.get_query_argument("podName", None)
        tail_lines = self.non_negative_int("tailLines")
        if not self.flag("follow"):
            await self.reply_streamed(await self.services.logs.logs(id, pod_name=pod_name, tail_lines=tail_lines))
            return
        stream = await self.services.logs.follow(id, pod_name=pod_name, tail_lines=tail_lines)
        self.set_header("Content-Type", NDJSON)
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        try:
            await self.flush_in_time()  # the headers at once: the client knows the stream is on
            async for batch in stream:
                self.write(streaming.ndjson(batch))
                await self.flush_in_time()
        except StreamClosedError:
            return
        finally:
            await stream.aclose()
        self.finish(set_content_type=NDJSON)  # jupyter_server's finish would say JSON
