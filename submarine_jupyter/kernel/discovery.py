"""Which Jupyter server the kernel talks to, first match wins.

The ``url``/``token`` arguments (a running server's runtime file gives the token when only
its URL is passed); the environment variables ``SUBMARINE_JUPYTER_URL`` /
``SUBMARINE_JUPYTER_TOKEN`` (``JUPYTER_TOKEN``, the token Jupyter itself reads, is used when
no token is given); the runtime file (``jpserver-<pid>.json``) of the server that started
this kernel; the only Jupyter server running for this user.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_runtime_dir

from .errors import SubmarineError

URL_ENV = "SUBMARINE_JUPYTER_URL"
TOKEN_ENVS = ("SUBMARINE_JUPYTER_TOKEN", "JUPYTER_TOKEN")


@dataclass(frozen=True)
class ServerInfo:
    """Where a Jupyter server is: its URL (base_url included), token, and how it was found."""

    url: str
    token: str
    source: str


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_server_file(path: Path) -> dict[str, Any] | None:
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and info.get("url") else None


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def _env_token() -> str | None:
    return next((os.environ[name] for name in TOKEN_ENVS if os.environ.get(name)), None)


def discover_server(url: str | None = None, token: str | None = None) -> ServerInfo:
    """Find the Jupyter server to talk to (see the module docstring for the order).

    A ``url`` given without a token gets the token of a running server with that URL, if
    any; never a token meant for another server.
    """
    runtime = Path(jupyter_runtime_dir())
    if url:
        if token is None:
            same = (_read_server_file(path) for path in runtime.glob("jpserver-*.json"))
            token = next(
                (info.get("token") or "" for info in same if info and _same_url(info["url"], url)),
                "",
            )
        return ServerInfo(url, token, "argument")
    if os.environ.get(URL_ENV):
        return ServerInfo(
            os.environ[URL_ENV], token if token is not None else _env_token() or "", URL_ENV
        )
    parent = os.environ.get("JPY_PARENT_PID", "")
    parent_pid = int(parent) if parent.isdigit() else os.getppid()
    info = _read_server_file(runtime / f"jpserver-{parent_pid}.json")
    source = "the Jupyter server that started this kernel"
    if info is None:
        running = [
            found
            for path in sorted(runtime.glob("jpserver-*.json"))
            if (found := _read_server_file(path)) and _pid_alive(int(found.get("pid", 0)))
        ]
        if not running:
            raise SubmarineError(
                f"no running Jupyter server found (looked in {runtime}): pass url= and token=, "
                f"or set {URL_ENV} and SUBMARINE_JUPYTER_TOKEN"
            )
        if len(running) > 1:
            urls = ", ".join(found["url"] for found in running)
            raise SubmarineError(
                f"{len(running)} Jupyter servers are running ({urls}): pass url= or set {URL_ENV}"
            )
        info, source = running[0], "the only running Jupyter server"
    return ServerInfo(info["url"], token if token is not None else info.get("token") or "", source)
