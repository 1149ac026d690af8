"""A deployment's Authorizer decides who may read and who may launch, route by route.

Every route declares the resource ``submarine`` and an action (``read`` for GET, ``write``
for whatever creates, changes, stops or deletes), so an Authorizer (JupyterHub's scopes,
say) can allow reading and forbid launching. Enumerated from the server's own routes.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

import pytest
from jupyter_server.auth.authorizer import Authorizer
from tornado.httpclient import AsyncHTTPClient

from submarine_jupyter.server.handlers.base import AUTH_RESOURCE, TOKEN_NEEDED, XSRF_NEEDED

from .conftest import Api, experiment
from .test_openapi import registered_routes


class DenyingAuthorizer(Authorizer):
    """Allows everything but the actions in ``denied``, and records what it was asked."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.denied: set[str] = set()
        self.asked: list[tuple[str, str]] = []

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        self.asked.append((action, resource))
        return action not in self.denied


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any]) -> dict[str, Any]:
    server = {**jp_server_config["ServerApp"], "authorizer_class": DenyingAuthorizer}
    return {**jp_server_config, "ServerApp": server}


def concrete(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\(\?P<(\w+)>\[\^/\]\+\)", lambda m: ids[m.group(1)], path).lstrip("/")


@pytest.mark.parametrize("denied", ["read", "write"])
async def test_each_route_is_refused_when_its_action_is_denied(
    api: Api, jp_serverapp: Any, jp_base_url: str, denied: str
) -> None:
    authorizer = jp_serverapp.authorizer
    assert isinstance(authorizer, DenyingAuthorizer)
    authorizer.denied = set()
    created = await api.ok("POST", "api/v1/experiment", experiment("sleep 30"))
    await api.ok("POST", "api/v1/environment", {"name": "env-a", "dockerImage": "img"})
    ids = {"id": created["experimentId"], "name": "env-a"}
    routes = sorted(registered_routes(jp_serverapp.web_app, jp_base_url))
    assert len(routes) >= 14
    authorizer.denied = {denied}
    for method, path in routes:
        action = "read" if method == "get" else "write"
        body = None
        if method in ("post", "patch"):
            body = {"name": "env-a", "dockerImage": "other"} if "environment" in path else experiment("sleep 30")
        authorizer.asked.clear()
        code, data = await api.call(method.upper(), concrete(path, ids), body)
        assert authorizer.asked == [(action, AUTH_RESOURCE)], (method, path, authorizer.asked)
        if action == denied:
            assert code == 403, (method, path, code, data)
            assert data["message"] == f"User is not authorized to {action} on resource: {AUTH_RESOURCE}.", data
        else:
            assert code != 403, (method, path, code, data)
    authorizer.denied = set()
    # a refused write changed nothing
    if denied == "write":
        stored = await api.ok("GET", f"api/v1/experiment/{created['experimentId']}")
        assert stored["status"] != "Deleted" and stored["spec"] == created["spec"]
        assert (await api.ok("GET", "api/v1/environment/env-a"))["environmentSpec"]["dockerImage"] == "img"


async def test_without_a_token_the_refusal_says_one_is_needed(api: Api) -> None:
    for method, path, body in (("GET", "api/v1/experiment", None), ("POST", "api/v1/experiment", experiment()),
                               ("DELETE", "api/v1/experiment/experiment_1_0001", None)):
        code, data = await api.call(method, path, body, headers={"Authorization": ""})
        assert (code, data["message"]) == (403, TOKEN_NEEDED), (method, data)
    assert await api.ok("GET", "api/v1/experiment") == []


def cookies_of(response: Any) -> dict[str, str]:
    jar: dict[str, str] = {}
    for header in response.headers.get_list("Set-Cookie"):
        name, _, rest = header.partition("=")
        jar[name] = rest.split(";", 1)[0]
    return jar


async def test_a_cookie_session_writes_only_with_its_xsrf_token(api: Api) -> None:
    """JupyterLab's session: the login cookie authenticates, the XSRF header must come too."""
    login = await AsyncHTTPClient().fetch(f"{api.base}lab?token={api.token}", follow_redirects=False, raise_error=False)
    jar = cookies_of(login)
    assert "_xsrf" in jar and any(name.startswith("username-") for name in jar), jar
    cookie = "; ".join(f"{name}={value}" for name, value in jar.items())
    code, data = await api.call("GET", "api/v1/experiment", headers={"Authorization": "", "Cookie": cookie})
    assert code == 200, data
    code, data = await api.call("POST", "api/v1/experiment", experiment(), headers={"Authorization": "", "Cookie": cookie})
    assert (code, data["message"]) == (403, XSRF_NEEDED)
    assert await api.ok("GET", "api/v1/experiment") == []
    xsrf = urllib.parse.unquote(jar["_xsrf"])
    code, data = await api.call("POST", "api/v1/experiment", experiment(),
                                headers={"Authorization": "", "Cookie": cookie, "X-XSRFToken": xsrf})
    assert code == 200, data
