"""Tornado handlers: authentication, the JSON envelope, and error mapping (in one place).

Every route answers with Submarine's envelope, errors included (403 without a token,
400 for a malformed body, 404 for an unknown id, 405 for a wrong method); nothing
here ever answers with a traceback.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
from collections.abc import AsyncGenerator
from typing import Any, cast

import tornado.web
import yaml
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado.http1connection import HTTP1Connection
from tornado.iostream import StreamClosedError

from .backends.base import BackendError
from .service import ApiError, ExperimentService
from .streaming import escaped, json_parts

MAX_BODY_BYTES = 1 << 20
#: A streamed answer whose client reads nothing for this long is cut.
WRITE_TIMEOUT_S = 60.0
ID = r"(?P<experiment_id>[^/]+)"
NAME = r"(?P<name>[^/]+)"
log = logging.getLogger(__name__)


def envelope(code: int, result: Any = None, message: str | None = None) -> dict[str, Any]:
    ok = 200 <= code < 300
    return {
        "status": "OK" if ok else http.HTTPStatus(code).name,
        "code": code,
        "success": True if ok else None,
        "message": message,
        "result": result,
        "attributes": {},
    }


class SubmarineHandler(ExtensionHandlerMixin, APIHandler):
    """Base of every route: envelope out, JSON or YAML in, ``ApiError`` -> envelope."""

    @property
    def service(self) -> ExperimentService:
        return self.settings["submarine_service"]

    async def prepare(self) -> None:  # type: ignore[override]  # as jupyter_server's APIHandler
        await super().prepare()
        if self.current_user:
            await self.service.ensure_started()

    def reply(self, result: Any, code: int = 200) -> None:
        self.set_status(code)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(envelope(code, result)))

    async def reply_streamed(self, result: Any) -> None:
        """``reply`` for a result holding text streams (logs), written piece by piece.

        Each stream's first piece is read before anything is sent, so a log that cannot
        be opened still gets an error envelope; a failure after that cuts the connection,
        so the client sees a broken answer, never a complete-looking short one.
        """
        parts = json_parts(envelope(200, result))
        streams = [part for part in parts if not isinstance(part, str)]
        try:
            first = [await anext(stream, "") for stream in streams]
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            for part in parts:
                if isinstance(part, str):
                    self.write(part)
                    continue
                self.write('"' + escaped(first[streams.index(part)]))
                async for piece in part:
                    self.write(escaped(piece))
                    await self.flush_in_time()
                self.write('"')
        except StreamClosedError:
            return
        except Exception as error:
            if self._headers_written:
                self.cut(error)
                return
            if isinstance(error, BackendError):
                raise ApiError(error.code, error.message) from None
            raise
        finally:
            for stream in streams:
                await _close(stream)
        self.finish()

    async def flush_in_time(self) -> None:
        """``flush``; a client that reads nothing for ``WRITE_TIMEOUT_S`` is cut off, so it
        cannot hold open logs and API server streams forever."""
        try:
            await asyncio.wait_for(self.flush(), WRITE_TIMEOUT_S)
        except asyncio.TimeoutError:
            stalled = OSError(f"the client read nothing for {WRITE_TIMEOUT_S:g} s")
            self.cut(stalled)
            raise StreamClosedError(stalled) from None

    def cut(self, error: BaseException) -> None:
        """End a streamed answer that cannot be completed: close the connection."""
        self.log.error("cut the answer to %s %s: %s", self.request.method, self.request.uri, _one_line(error))
        cast(HTTP1Connection, self.request.connection).close()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message = self._reason
        exc_info = kwargs.get("exc_info")
        if exc_info and isinstance(exc_info[1], tornado.web.HTTPError) and exc_info[1].log_message:
            message = exc_info[1].log_message % exc_info[1].args if exc_info[1].args else exc_info[1].log_message
        if status_code >= 500:
            message = "Internal error in submarine-jupyter; the server log has the details."
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(envelope(status_code, message=message)))

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, ApiError):
            if self._finished:
                return
            self.clear()
            self.set_status(e.code)
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            self.finish(json.dumps(envelope(e.code, message=e.message)))
            return
        super()._handle_request_exception(e)

    def body(self) -> Any:
        """The request body as data: YAML when the Content-Type says so, else JSON."""
        raw = self.request.body
        if len(raw) > MAX_BODY_BYTES:
            raise ApiError(413, f"body: larger than {MAX_BODY_BYTES} bytes")
        if not raw.strip():
            raise ApiError(400, "body: empty; send the spec as JSON (or YAML with Content-Type: application/yaml)")
        content_type = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "body: not UTF-8 text") from None
        if content_type in ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"):
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as error:
                raise ApiError(400, f"body: not valid YAML ({_one_line(error)})") from None
        else:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as error:
                raise ApiError(400, f"body: not valid JSON ({error})") from None
        if not isinstance(data, dict):
            raise ApiError(400, "body: must be an object (a mapping of meta, environment, spec)")
        return data

    def flag(self, name: str) -> bool:
        value = self.get_query_argument(name, "false").strip().lower()
        if value in ("true", "1", "yes"):
            return True
        if value in ("false", "0", "no", ""):
            return False
        raise ApiError(400, f"{name}: must be true or false, got '{value}'")

    def positive_int(self, name: str) -> int | None:
        value = self.get_query_argument(name, None)
        if value is None:
            return None
        if not value.strip().isdigit():
            raise ApiError(400, f"{name}: must be a non-negative integer, got '{value}'")
        return int(value)


async def _close(stream: AsyncGenerator[str, None]) -> None:
    try:
        await stream.aclose()
    except Exception:
        log.exception("closing a log stream failed")


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


class PingHandler(SubmarineHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        self.reply("Pong")


class ExperimentsHandler(SubmarineHandler):
    @tornado.web.authenticated
    async def post(self) -> None:
        dry_run = self.flag("dryRun")
        self.reply(await self.service.create(self.body(), dry_run=dry_run))

    @tornado.web.authenticated
    async def get(self) -> None:
        self.reply(await self.service.list_experiments(self.get_query_argument("status", None)))


class ExperimentHandler(SubmarineHandler):
    @tornado.web.authenticated
    async def get(self, experiment_id: str) -> None:
        self.reply(await self.service.get(experiment_id))

    @tornado.web.authenticated
    async def patch(self, experiment_id: str) -> None:
        self.reply(await self.service.patch(experiment_id, self.body()))

    @tornado.web.authenticated
    async def delete(self, experiment_id: str) -> None:
        self.reply(await self.service.delete(experiment_id))


class AllLogsHandler(SubmarineHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        self.reply(await self.service.all_logs())


class LogsHandler(SubmarineHandler):
    @tornado.web.authenticated
    async def get(self, experiment_id: str) -> None:
        pod_name = self.get_query_argument("podName", None)
        tail_lines = self.positive_int("tailLines")
        if not self.flag("follow"):
            await self.reply_streamed(
                await self.service.logs(experiment_id, pod_name=pod_name, tail_lines=tail_lines)
            )
            return
        stream = await self.service.follow(experiment_id, pod_name=pod_name, tail_lines=tail_lines)
        self.set_header("Content-Type", "application/x-ndjson; charset=UTF-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        try:
            async for batch in stream:
                self.write("".join(
                    json.dumps({"podName": item.pod_name, "line": item.line}) + "\n" for item in batch
                ))
                await self.flush_in_time()
        except StreamClosedError:
            return
        finally:
            await stream.aclose()
        self.finish()


class EnvironmentsHandler(SubmarineHandler):
    @tornado.web.authenticated
    async def post(self) -> None:
        self.reply(await self.service.create_environment(self.body()))

    @tornado.web.authenticated
    async def get(self) -> None:
        self.reply(await self.service.list_environments())


class EnvironmentHandler(SubmarineHandler):
    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        self.reply(await self.service.get_environment(name))

    @tornado.web.authenticated
    async def patch(self, name: str) -> None:
        self.reply(await self.service.patch_environment(name, self.body()))

    @tornado.web.authenticated
    async def delete(self, name: str) -> None:
        self.reply(await self.service.delete_environment(name))


ROUTES: list[tuple[str, type[SubmarineHandler]]] = [
    (r"/api/v1/experiment/ping", PingHandler),
    (r"/api/v1/experiment/logs", AllLogsHandler),
    (rf"/api/v1/experiment/logs/{ID}", LogsHandler),
    (r"/api/v1/experiment", ExperimentsHandler),
    (rf"/api/v1/experiment/{ID}", ExperimentHandler),
    (r"/api/v1/environment", EnvironmentsHandler),
    (rf"/api/v1/environment/{NAME}", EnvironmentHandler),
]
