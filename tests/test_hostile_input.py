"""Nothing a user sends reaches a path or a shell unquoted: hostile ids, names and replica
names (path traversal raw and encoded, NUL, control characters, shell metacharacters,
10,000 characters) are refused with a 4xx or are inert, and no file outside the state
directory is opened, read or written (watched with inotify), nor any command run."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from submarine_jupyter.wire.openapi import document

from .conftest import experiment
from .inotify import Watch
from .servers import JupyterProcess

SECRET = "the secret outside the state directory"


def hostile(outside: Path, marker: Path) -> list[str]:
    """Values to put where an id, a name or a replica goes (before URL-encoding)."""
    relative = f"../../{outside.name}/secret.txt"
    return [
        "..", relative, "../" * 12 + str(outside / "secret.txt").lstrip("/"), str(outside / "secret.txt"),
        "a\0b", "a\x01\x1bb", f"$(touch {marker})", f"`touch {marker}`", f"x; touch {marker}",
        "experiment_1_0001/../../x", "x" * 10_000, "ünïcödé ✓ 𝄞",
    ]


def routes() -> list[tuple[str, str, list[str]]]:
    """(method, path template, query parameter names) of every documented operation."""
    found = []
    for path, operations in document()["paths"].items():
        for method, operation in operations.items():
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            found.append((method.upper(), path, names))
    return found


def inert(value: str) -> dict[str, Any]:
    """A valid experiment carrying ``value`` where it is only stored or handed over, never run."""
    body = experiment("true", name="ok", env={"V": value})
    body["meta"]["tags"] = [value]
    body["environment"] = {"image": value}
    return body


@pytest.fixture
def server(tmp_path: Path) -> Any:
    started = JupyterProcess(tmp_path / "home").start()
    yield started
    started.stop()


def test_hostile_values_are_refused_or_inert(server: JupyterProcess, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    marker = tmp_path / "marker"
    kept = server.ok("POST", "/api/v1/experiment", experiment("echo kept", name="kept"))
    server.wait(kept["experimentId"])
    watch = Watch(outside)
    answers = 0
    try:
        for value in hostile(outside, marker):
            quoted = urllib.parse.quote(value, safe="")
            for method, template, names in routes():
                if template == "/api/v1/openapi.json":
                    continue
                path = re.sub(r"\{\w+\}", quoted, template)
                query = "&".join(f"{name}={quoted}" for name in names)
                body = None
                if method in ("POST", "PATCH"):
                    body = {"name": value, "dockerImage": value} if "environment" in template else inert(value)
                for url in {path, f"{path}?{query}" if query else path}:
                    code, data = server.call(method, url, body)
                    answers += 1
                    assert isinstance(data, dict) and data.get("code") == code, (method, url[:200], code)
                    assert code < 500, (method, url[:200], code, data)
                    assert SECRET not in str(data), (method, url[:200])
        events = watch.events()
        (outside / "secret.txt").read_text()
        seen = watch.events()  # the watch does see a read: an empty list above means no access
    finally:
        watch.close()
    assert answers > 100
    assert events == [], events
    assert any(name == "secret.txt" for _, name in seen), seen
    assert not marker.exists()
    assert server.ok("GET", f"/api/v1/experiment/{kept['experimentId']}")["status"] == "Succeeded"
