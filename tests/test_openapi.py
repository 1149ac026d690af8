"""The OpenAPI document: served, built from the models, and covering every registered route."""

from __future__ import annotations

import re
from typing import Any

import pytest
import tornado.web
from jsonschema import Draft202012Validator
from jupyter_server.base.handlers import APIHandler

from submarine_jupyter.server.handlers import SubmarineHandler
from submarine_jupyter.wire.openapi import OPERATIONS, document

from .conftest import Api
from .openapi_check import ResponseChecker

METHODS = ("get", "post", "put", "patch", "delete", "head")


@pytest.fixture
def submarine_config(backend_config: dict[str, Any]) -> dict[str, Any]:
    return backend_config


def registered_routes(web_app: tornado.web.Application, base_url: str) -> set[tuple[str, str]]:
    """(method, path regex without the base URL) of every route a SubmarineHandler serves."""
    found: set[tuple[str, str]] = set()

    def walk(rules: list[Any]) -> None:
        for rule in rules:
            if hasattr(rule.target, "rules"):
                walk(rule.target.rules)
            elif isinstance(rule.target, type) and issubclass(rule.target, SubmarineHandler):
                regex = rule.matcher.regex.pattern.removesuffix("$")
                path = "/" + regex.removeprefix(re.escape(base_url)).removeprefix(base_url).lstrip("/")
                for method in METHODS:
                    if getattr(rule.target, method) not in (getattr(tornado.web.RequestHandler, method),
                                                            getattr(APIHandler, method, None)):
                        found.add((method, path))

    walk(web_app.default_router.rules)
    return found


def documented_routes() -> set[tuple[str, str]]:
    return {
        (method, re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path))
        for path, operations in document()["paths"].items() for method in operations
    }


async def test_every_registered_route_is_in_the_document(api: Api, jp_serverapp: Any, jp_base_url: str) -> None:
    routes = registered_routes(jp_serverapp.web_app, jp_base_url)
    assert len(routes) == len(OPERATIONS)
    assert routes == documented_routes()


async def test_the_document_is_served_and_needs_the_token(api: Api) -> None:
    code, served = await api.call("GET", "api/v1/openapi.json")
    assert code == 200 and served == document()
    code, refused = await api.call("GET", "api/v1/openapi.json", headers={"Authorization": ""})
    assert code == 403 and refused["code"] == 403


def test_every_schema_is_a_valid_json_schema() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    for _name, schema in doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert operation["operationId"] and "4XX" in operation["responses"], (method, path)
            for answer in operation["responses"].values():
                for media in answer["content"].values():
                    Draft202012Validator.check_schema(media["schema"])


async def test_an_answer_off_the_document_is_caught(api: Api, response_checker: ResponseChecker) -> None:
    """The checker every test runs under does fail: a body, a status and a route it must refuse."""
    created = await api.ok("POST", "api/v1/experiment", {
        "meta": {"name": "checked", "framework": "TensorFlow", "cmd": "true"}, "spec": {"Worker": {"replicas": 1}}})
    checked = response_checker.checked
    assert checked > 0

    class Request:
        method = "GET"
        path = f"{response_checker.base_url}api/v1/experiment/{created['experimentId']}"

    wrong = b'{"status": "OK", "code": 200, "success": true, "message": null, "attributes": {}, "result": {"name": 1}}'
    response_checker.check(Request(), 200, "application/json", wrong)  # type: ignore[arg-type]
    response_checker.check(Request(), 500, "application/json", b"{}")  # type: ignore[arg-type]
    Request.path = f"{response_checker.base_url}api/v1/experiment/{created['experimentId']}/nowhere"
    response_checker.check(Request(), 200, "application/json", b"{}")  # type: ignore[arg-type]
    problems, response_checker.problems = response_checker.problems, []
    assert len(problems) == 3, problems
    assert "'experimentId' is a required property" in problems[0] or "is not of type" in problems[0], problems
    assert "not documented" in problems[1] and "not in the OpenAPI document" in problems[2], problems
