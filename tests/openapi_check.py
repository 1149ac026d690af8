"""Every answer the suite receives from the API, checked against the OpenAPI document.

``ResponseChecker.install(web_app)`` adds a Tornado output transform to a server: it
collects each ``/api/v1/`` answer's status and body and, when the answer is complete,
validates the body against the schema the document gives for that route, method and
status (a status the document does not list is a failure too). ``conftest`` installs it
on every in-process server and fails a test whose server sent an undocumented answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import tornado.web
from jsonschema import Draft202012Validator
from tornado import httputil

from submarine_jupyter.server.handlers import TEMPLATES, pattern
from submarine_jupyter.wire.openapi import document

NDJSON = "application/x-ndjson"


def operation_for(path: str, method: str, doc: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The document's path template and operation that the server routes ``path`` to."""
    for template, _handler in TEMPLATES:
        if re.fullmatch(pattern(template), path):
            operation = doc["paths"].get(template, {}).get(method.lower())
            return (template, operation) if operation else None
    return None


def response_schema(operation: dict[str, Any], code: int, content_type: str) -> dict[str, Any] | None:
    responses = operation["responses"]
    answer = responses.get(str(code)) or responses.get(f"{str(code)[0]}XX")
    if answer is None:
        return None
    media = content_type.split(";")[0].strip() or "application/json"
    found = answer.get("content", {}).get(media)
    return found["schema"] if found else None


@dataclass
class ResponseChecker:
    """Validates answers; ``problems`` lists each that does not match the document."""

    base_url: str
    doc: dict[str, Any] = field(default_factory=document)
    problems: list[str] = field(default_factory=list)
    checked: int = 0

    def install(self, web_app: tornado.web.Application) -> None:
        checker = self

        class Transform(tornado.web.OutputTransform):
            def __init__(self, request: httputil.HTTPServerRequest) -> None:
                self.request = request
                self.code = 0
                self.content_type = ""
                self.body = b""

            def transform_first_chunk(self, status_code: int, headers: httputil.HTTPHeaders, chunk: bytes,
                                      finishing: bool) -> tuple[int, httputil.HTTPHeaders, bytes]:
                self.code, self.content_type = status_code, headers.get("Content-Type", "")
                return status_code, headers, self.transform_chunk(chunk, finishing)

            def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
                self.body += chunk
                stream = getattr(self.request.connection, "stream", None)
                cut = stream is None or stream.closed()  # a cut answer never reaches a client whole
                if finishing and not cut:
                    checker.check(self.request, self.code, self.content_type, self.body)
                return chunk

        web_app.add_transform(Transform)

    def check(self, request: httputil.HTTPServerRequest, code: int, content_type: str, body: bytes) -> None:
        path = request.path
        if not path.startswith(self.base_url) or not path[len(self.base_url) - 1:].startswith("/api/v1/"):
            return
        path = path[len(self.base_url) - 1:]
        where = f"{request.method} {path} -> {code}"
        found = operation_for(path, request.method or "", self.doc)
        if found is None:
            if code not in (404, 405):  # no such route or method: still an envelope, checked below
                self.problems.append(f"{where}: not in the OpenAPI document")
                return
            schema: dict[str, Any] | None = {"$ref": "#/components/schemas/ErrorEnvelope"}
        elif not body and found[1]["responses"].get(str(code), {}).get("content") == {}:
            self.checked += 1  # documented as bodiless (304 Not Modified)
            return
        else:
            schema = response_schema(found[1], code, content_type)
        if schema is None:
            self.problems.append(f"{where}: status or content type {content_type!r} not documented")
            return
        validator = Draft202012Validator({**schema, "components": self.doc["components"]})
        try:
            text = body.decode("utf-8")
            records = [json.loads(line) for line in text.splitlines() if line.strip()] \
                if content_type.startswith(NDJSON) else [json.loads(text)]
        except ValueError as error:
            self.problems.append(f"{where}: not JSON ({error}): {body[:200]!r}")
            return
        for record in records:
            errors = sorted(validator.iter_errors(record), key=lambda e: list(e.path))
            if errors:
                self.problems.append(f"{where}: {errors[0].message} at {list(errors[0].path)}")
        self.checked += 1
