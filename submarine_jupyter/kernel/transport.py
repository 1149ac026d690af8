"""HTTP to the API with the standard library: envelopes in, errors as :class:`SubmarineError`,
followed logs as a stream any thread can close."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

from .discovery import discover_server
from .errors import SubmarineError


class Transport:
    """The server's address and token, and one envelope-decoding call."""

    def __init__(
        self, url: str | None = None, token: str | None = None, *, timeout: float = 30.0
    ) -> None:
        server = discover_server(url, token)
        self.url = server.url if server.url.endswith("/") else server.url + "/"
        self.token = server.token
        self.source = server.source
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r}, found via {self.source})"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "submarine-jupyter-kernel"}
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        return headers

    def _url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        suffix = "?" + urllib.parse.urlencode(query) if query else ""
        return f"{self.url}api/v1/{path}{suffix}"

    def _open(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | str | None = None,
        timeout: float | None = None,
    ) -> Any:
        headers = self._headers()
        data, content_type = _encode(body)
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(
            self._url(path, params), data=data, headers=headers, method=method
        )
        try:
            return urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as error:
            raise http_error(error.code, str(error.reason), error.read(), error.url) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise SubmarineError(f"cannot reach the Jupyter server at {self.url}: {reason}") from None

    def _stream(self, path: str, params: Mapping[str, Any], pod: str | None) -> LogStream:
        return LogStream(self._url(path, params), self._headers(), pod, self.url)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            with self._open(method, path, timeout=self.timeout, **kwargs) as response:
                envelope = json.loads(response.read() or b"null")
        except (OSError, http.client.HTTPException, ValueError) as error:
            raise SubmarineError(f"{path}: the answer broke off or is not JSON: {error}") from None
        if not isinstance(envelope, dict) or "result" not in envelope:
            raise SubmarineError(f"{path}: the answer is not an API envelope")
        return envelope["result"]


class LogStream(Iterator[tuple[str, str]]):
    """``(podName, line)`` per record of a followed log (``application/x-ndjson``).

    :meth:`open` sends the request (iterating opens it too); :meth:`close` may be called
    from any thread, even while ``open`` waits for the answer to begin: it shuts the
    connection down, which ends a read blocked in another thread. ``read1`` (unlike
    ``readline``) raises when a chunked stream is cut off, so a server dying mid-stream is
    a :class:`SubmarineError`, not an end.
    """

    def __init__(self, url: str, headers: Mapping[str, str], pod: str | None = None, server: str = "") -> None:
        parts = urllib.parse.urlsplit(url)
        connection = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self.url = url
        self.server = server or f"{parts.scheme}://{parts.netloc}/"
        self._connection = connection(parts.netloc)
        self._target = parts.path + (f"?{parts.query}" if parts.query else "")
        self._headers = dict(headers)
        self._pod = pod
        self._closed = threading.Event()
        self._records: Iterator[tuple[str, str]] | None = None

    def open(self) -> LogStream:
        """Send the request and wait for the answer to begin; an error answer raises."""
        if self._records is not None:
            return self
        self._records = iter(())
        try:
            self._connection.connect()
            if self._closed.is_set():  # closed while connecting
                self._connection.close()
                return self
            self._connection.request("GET", self._target, headers=self._headers)
            response = self._connection.getresponse()
        except (OSError, http.client.HTTPException) as error:
            self._connection.close()
            if self._closed.is_set():
                return self
            raise SubmarineError(f"cannot reach the Jupyter server at {self.server}: {error}") from None
        if response.status != 200:
            with response:
                body = response.read()
            self._connection.close()
            raise http_error(response.status, response.reason, body, self.url)
        self._records = self._read(response)
        return self

    def __next__(self) -> tuple[str, str]:
        return next(self.open()._records or iter(()))

    def close(self) -> None:
        """End the stream: the thread reading it (or waiting in :meth:`open`) stops and
        closes the connection."""
        self._closed.set()
        connection = self._connection.sock
        if connection is not None:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed

    def _read(self, response: http.client.HTTPResponse) -> Iterator[tuple[str, str]]:
        pending = b""
        with response, contextlib.closing(self._connection):
            try:
                while not self._closed.is_set():
                    chunk = response.read1(65536)
                    *records, pending = (pending + chunk).split(b"\n")
                    if not chunk:
                        records.append(pending)  # a last record without its newline
                    for raw in records:
                        if not raw.strip() or self._closed.is_set():
                            continue
                        item = json.loads(raw)
                        if self._pod is None or item["podName"] == self._pod:
                            yield item["podName"], str(item["line"]).rstrip("\n")
                    if not chunk:
                        return
            except (OSError, http.client.HTTPException, ValueError, KeyError) as error:
                if not self._closed.is_set():
                    raise SubmarineError(f"the log stream broke off: {error!r}") from None


def _encode(body: Mapping[str, Any] | str | None) -> tuple[bytes | None, str | None]:
    """A request body and its type: JSON for dicts and JSON text, else YAML text as is."""
    if body is None:
        return None, None
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except ValueError:
            return body.encode(), "application/yaml"
        return json.dumps(parsed).encode(), "application/json"
    return json.dumps(body).encode(), "application/json"


def quote(segment: str) -> str:
    """A path segment, escaped."""
    return urllib.parse.quote(segment, safe="")


def http_error(code: int, reason: str, body: bytes, url: str) -> SubmarineError:
    """The envelope's message and code, or a hint when the answer is not from this API."""
    try:
        envelope = json.loads(body or b"null")
    except ValueError:
        envelope = None
    if code == 403:
        return SubmarineError("Forbidden: the Jupyter token is missing or wrong", 403, "FORBIDDEN")
    if isinstance(envelope, dict) and "code" in envelope and envelope.get("message"):
        return SubmarineError(str(envelope["message"]), int(envelope["code"]), envelope.get("status"))
    if code == 404:
        return SubmarineError(
            f"{url} is not served: is the submarine_jupyter server extension enabled?", 404, "NOT_FOUND"
        )
    return SubmarineError(f"HTTP {code}: {reason}", code)
