"""The base of every route: authentication and authorization, the JSON envelope, bodies in.

Every route answers with Submarine's envelope, errors included (403 without a token or
permission, 400 for a malformed body, 404 for an unknown id, 405 for a wrong method);
nothing here ever answers with a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import http
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar, cast

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from pydantic import BaseModel
from tornado.http1connection import HTTP1Connection
from tornado.iostream import StreamClosedError

from ..backends.base import BackendError
from ..bodies import parse_body
from ..errors import ApiError
from ..service import ExperimentService
from ..services import SETTINGS_KEY, Services
from ..store import Busy
from ..streaming import escaped, json_parts

#: A streamed answer whose client reads nothing for this long is cut.
WRITE_TIMEOUT_S = 60.0
#: Seconds a client is asked to wait before it tries again when the database is locked.
BUSY_RETRY_AFTER_S = 1
#: The resource every route names to the server's ``Authorizer`` (with ``read``/``write``).
AUTH_RESOURCE = "submarine"
TOKEN_NEEDED = (
    "Forbidden: this API needs Jupyter's authentication: send the header 'Authorization: token <token>' "
    "(the server's token, as `jupyter server list` shows it), or call it from JupyterLab"
)
XSRF_NEEDED = (
    "Forbidden: a request authenticated by JupyterLab's cookie must also send the X-XSRFToken header "
    "(the value of the _xsrf cookie), as JupyterLab's own requests do; or send a token instead"
)
log = logging.getLogger(__name__)
Method = TypeVar("Method", bound=Callable[..., Awaitable[None]])


def envelope(code: int, result: Any = None, message: str | None = None, attributes: dict[str, Any] | None = None) -> dict[str, Any]:
    ok = 200 <= code < 300
    return {
        "status": "OK" if ok else http.HTTPStatus(code).name,
        "code": code,
        "success": True if ok else None,
        "message": message,
        "result": result,
        "attributes": attributes or {},
    }


def jsonable(value: Any) -> Any:
    """Answers as JSON data: wire models by their camelCase aliases, lists of them too."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    return value


class Refusal(tornado.web.HTTPError):
    """An ``ApiError`` on its way out: Tornado sends it through ``write_error``."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.code, reason=http.HTTPStatus(error.code).phrase)
        self.error = error


def endpoint(action: str) -> Callable[[Method], Method]:
    """A route method: authenticated, authorized for ``action`` on ``AUTH_RESOURCE`` (so a
    deployment's ``Authorizer`` can allow reading and forbid launching), refusals enveloped."""

    def wrap(method: Method) -> Method:
        @functools.wraps(method)
        async def refusing(self: SubmarineHandler, *args: Any, **kwargs: Any) -> None:
            try:
                await method(self, *args, **kwargs)
            except ApiError as error:
                raise Refusal(error) from None
            except Busy as error:
                raise Refusal(ApiError(503, f"Service unavailable: {error}; nothing was changed, try again")) from None

        guarded: Any = authorized(action=action, resource=AUTH_RESOURCE)(refusing)
        return cast(Method, tornado.web.authenticated(guarded))

    return wrap


class SubmarineHandler(ExtensionHandlerMixin, APIHandler):
    """Envelope out, JSON or YAML in, ``ApiError`` -> envelope."""

    auth_resource = AUTH_RESOURCE
    #: Methods that only read what is stored: they answer at once while the server starts
    #: (re-adopting what was running); every other one waits until the backend has started.
    store_only: frozenset[str] = frozenset()

    @property
    def services(self) -> Services:
        return cast(Services, self.settings[SETTINGS_KEY])

    @property
    def service(self) -> ExperimentService:
        return self.services.experiments

    async def prepare(self) -> None:  # type: ignore[override]  # as jupyter_server's APIHandler
        await super().prepare()
        if self.current_user and self.request.method not in self.store_only:
            await self.service.ensure_started()

    def check_xsrf_cookie(self) -> None:
        """Jupyter's XSRF check (it passes token-authenticated requests), with a refusal that
        says what is missing instead of Tornado's "'_xsrf' argument missing from POST"."""
        try:
            super().check_xsrf_cookie()
        except tornado.web.HTTPError as error:
            if error.status_code != 403:
                raise
            raise tornado.web.HTTPError(403, XSRF_NEEDED if self._user() else TOKEN_NEEDED) from None

    def _user(self) -> Any:
        """The authenticated user, once ``prepare`` has looked (``None`` before, or when nobody is)."""
        return getattr(self, "_jupyter_current_user", None)

    def reply(self, result: Any, code: int = 200, attributes: dict[str, Any] | None = None) -> None:
        self.set_status(code)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(envelope(code, jsonable(result), attributes=attributes)))

    def reply_items(self, items: list[str], attributes: dict[str, Any] | None = None) -> None:
        """``reply`` of a list whose items are JSON text already (as ``json.dumps`` writes them)."""
        head, tail = _around_result(attributes)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(head + "[" + ", ".join(items) + "]" + tail)

    async def reply_chunks(self, chunks: AsyncIterator[list[str]]) -> None:
        """``reply_items`` of a list read and sent a chunk at a time: the event loop only joins
        and writes text, and serves other requests between chunks. The first chunk is read
        before anything is sent (an error there still gets an envelope); after that Tornado
        closes the connection on a failure, so the client sees a broken answer, never a
        complete-looking short one."""
        head, tail = _around_result(None)
        first: list[str] = await anext(chunks, [])
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.write(head + "[" + ", ".join(first))
        wrote = bool(first)
        try:
            async for chunk in chunks:
                if chunk:
                    await self.flush_in_time()
                    self.write((", " if wrote else "") + ", ".join(chunk))
                    wrote = True
        except StreamClosedError:
            return
        self.finish("]" + tail)

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
        except TimeoutError:
            stalled = OSError(f"the client read nothing for {WRITE_TIMEOUT_S:g} s")
            self.cut(stalled)
            raise StreamClosedError(stalled) from None

    def cut(self, error: BaseException) -> None:
        """End a streamed answer that cannot be completed: close the connection."""
        self.log.error("cut the answer to %s %s: %s", self.request.method, self.request.uri, _one_line(error))
        cast(HTTP1Connection, self.request.connection).close()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        error = exc_info[1] if exc_info else None
        message = self._reason
        attributes: dict[str, Any] = {}
        if isinstance(error, Refusal):
            message = error.error.message
            if error.error.fields:
                attributes["fieldErrors"] = [jsonable(f) for f in error.error.fields]
        elif status_code >= 500:
            message = "Internal error in submarine-jupyter; the server log has the details."
        elif isinstance(error, tornado.web.HTTPError) and error.log_message:
            message = error.log_message % error.args if error.args else error.log_message
        elif status_code == 403 and not self._user():
            message = TOKEN_NEEDED
        if status_code == 503:
            self.set_header("Retry-After", str(BUSY_RETRY_AFTER_S))
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(envelope(status_code, message=message, attributes=attributes)))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Refusals are answers, not faults: logged at debug; everything else as Tornado does."""
        if isinstance(value, Refusal):
            self.log.debug("%s %s refused: %s", self.request.method, self.request.uri, value.error.message)
            return
        super().log_exception(typ, value, tb)

    def body(self) -> Any:
        """The request body as data (``bodies.parse_body``, within the server's limits)."""
        return parse_body(self.request.body, self.request.headers.get("Content-Type", ""), self.services.body_limits)

    def optional_body(self) -> Any:
        """``body``, or ``None`` when there is none."""
        return self.body() if self.request.body.strip() else None

    def flag(self, name: str) -> bool:
        value = self.get_query_argument(name, "false").strip().lower()
        if value in ("true", "1", "yes"):
            return True
        if value in ("false", "0", "no", ""):
            return False
        raise ApiError(400, f"{name}: must be true or false, got '{value}'")

    def non_negative_int(self, name: str) -> int | None:
        value = self.get_query_argument(name, None)
        if value is None:
            return None
        if not value.strip().isdigit():
            raise ApiError(400, f"{name}: must be a non-negative integer, got '{value}'")
        return int(value)

    def choice(self, name: str, choices: tuple[str, ...]) -> str:
        value = self.get_query_argument(name, choices[0]).strip().lower()
        if value not in choices:
            raise ApiError(400, f"{name}: must be one of {', '.join(choices)}, got '{value}'")
        return value


def _around_result(attributes: dict[str, Any] | None) -> tuple[str, str]:
    """The text of a success envelope before and after its ``result``."""
    mark = "\0result"
    head, tail = json.dumps(envelope(200, mark, attributes=attributes)).split(json.dumps(mark))
    return head, tail


async def _close(stream: AsyncGenerator[str, None]) -> None:
    try:
        await stream.aclose()
    except Exception:
        log.exception("closing a log stream failed")


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())
