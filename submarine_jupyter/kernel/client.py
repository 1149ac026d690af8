"""A small HTTP client for Submarine's Experiment REST API as served by a Jupyter server.

Standard library HTTP, so it works the same in a kernel and in a plain script::

    from submarine_jupyter.kernel import SubmarineClient
    client = SubmarineClient()                  # finds the Jupyter server by itself
    exp = client.create({"meta": {...}, "spec": {"Worker": {"replicas": 2}}})
    for pod, line in client.logs(exp["experimentId"], follow=True):
        print(pod, line)
    client.wait(exp["experimentId"], timeout=600, raise_on_failure=True)

Server discovery, first match wins: the ``url``/``token`` arguments (a running server's
runtime file gives the token when only its URL is passed); the environment variables ``SUBMARINE_JUPYTER_URL`` / ``SUBMARINE_JUPYTER_TOKEN`` (``JUPYTER_TOKEN``, the
token Jupyter itself reads, is used when no token is given); the runtime file
(``jpserver-<pid>.json``) of the server that started this kernel; the only Jupyter server
running for this user.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

from jupyter_core.paths import jupyter_runtime_dir

from ..wire.constants import TERMINAL_STATUSES as TERMINAL
from ..wire.constants import pod_name, replica_label
from .types import DryRun, Environment, Experiment, ExperimentSpec, Replica

__all__ = [
    "TERMINAL_STATUSES",
    "DryRun",
    "Environment",
    "Experiment",
    "ExperimentFailed",
    "Replica",
    "ServerInfo",
    "SubmarineClient",
    "SubmarineError",
    "WaitTimeout",
    "discover_server",
    "pod_name",
    "replica_label",
]

#: Statuses an experiment never leaves (``Deleted`` only appears in a DELETE response).
TERMINAL_STATUSES = frozenset(TERMINAL | {"Deleted"})

URL_ENV = "SUBMARINE_JUPYTER_URL"
TOKEN_ENVS = ("SUBMARINE_JUPYTER_TOKEN", "JUPYTER_TOKEN")

# Named so that annotations inside SubmarineClient (which has a ``list`` method) stay clear.
ExperimentList = list[Experiment]
EnvironmentList = list[Environment]


class SubmarineError(Exception):
    """An error answer of the API (its envelope's message and code) or an unreachable server."""

    def __init__(self, message: str, code: int | None = None, status: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status

    def __str__(self) -> str:
        return f"{self.message} ({self.code})" if self.code else self.message


class ExperimentFailed(SubmarineError):
    """Raised by :meth:`SubmarineClient.wait` with ``raise_on_failure=True``."""

    def __init__(self, experiment: Experiment) -> None:
        reason = experiment.get("statusMessage")
        text = f"experiment {experiment.get('experimentId')} Failed"
        super().__init__(f"{text}: {reason}" if reason else text)
        self.experiment = experiment


class WaitTimeout(SubmarineError, TimeoutError):
    """Raised by :meth:`SubmarineClient.wait` when the timeout passes first."""

    def __init__(self, experiment: Experiment, timeout: float) -> None:
        super().__init__(
            f"experiment {experiment.get('experimentId')} is still "
            f"{experiment.get('status')} after {timeout:g} s"
        )
        self.experiment = experiment


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


class SubmarineClient:
    """Typed methods for every route of the Experiment and Environment API."""

    def __init__(
        self, url: str | None = None, token: str | None = None, *, timeout: float = 30.0
    ) -> None:
        server = discover_server(url, token)
        self.url = server.url if server.url.endswith("/") else server.url + "/"
        self.token = server.token
        self.source = server.source
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"SubmarineClient(url={self.url!r}, found via {self.source})"

    # -- transport -------------------------------------------------------------------

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
        headers = {"Accept": "application/json", "User-Agent": "submarine-jupyter-kernel"}
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        data, content_type = _encode(body)
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(
            self._url(path, params), data=data, headers=headers, method=method
        )
        try:
            return urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as error:
            raise _http_error(error) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise SubmarineError(f"cannot reach the Jupyter server at {self.url}: {reason}") from None

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            with self._open(method, path, timeout=self.timeout, **kwargs) as response:
                envelope = json.loads(response.read() or b"null")
        except (OSError, http.client.HTTPException, ValueError) as error:
            raise SubmarineError(f"{path}: the answer broke off or is not JSON: {error}") from None
        if not isinstance(envelope, dict) or "result" not in envelope:
            raise SubmarineError(f"{path}: the answer is not an API envelope")
        return envelope["result"]

    # -- experiments -----------------------------------------------------------------

    def ping(self) -> str:
        """``GET /experiment/ping``: ``"Pong"`` when the API is served."""
        return self._call("GET", "experiment/ping")

    @overload
    def create(self, spec: Mapping[str, Any] | str, *, dry_run: Literal[False] = False) -> Experiment: ...
    @overload
    def create(self, spec: Mapping[str, Any] | str, *, dry_run: Literal[True]) -> DryRun: ...

    def create(self, spec: Mapping[str, Any] | str, *, dry_run: bool = False) -> Experiment | DryRun:
        """Submit an experiment spec (a dict, or JSON or YAML text); ``dry_run`` only plans it."""
        params = {"dryRun": "true"} if dry_run else None
        return self._call("POST", "experiment", body=spec, params=params)

    def list(self, status: str | None = None) -> ExperimentList:
        """All experiments, or those with ``status`` (case-insensitive)."""
        return self._call("GET", "experiment", params={"status": status})

    def get(self, experiment_id: str) -> Experiment:
        return self._call("GET", f"experiment/{_quote(experiment_id)}")

    def patch(self, experiment_id: str, spec: Mapping[str, Any] | str) -> ExperimentSpec:
        """Replace an experiment's spec; returns the new spec."""
        return self._call("PATCH", f"experiment/{_quote(experiment_id)}", body=spec)

    def resize(self, experiment_id: str, replicas: Mapping[str, int]) -> ExperimentSpec:
        """Patch the replica counts of some roles (e.g. ``{"Worker": 3}``), keeping the rest."""
        spec = self.get(experiment_id)["spec"]
        for role, count in replicas.items():
            spec["spec"].setdefault(role, {})["replicas"] = count
        return self.patch(experiment_id, spec)

    def delete(self, experiment_id: str) -> Experiment:
        """Stop and remove an experiment; the answer has ``"status": "Deleted"``."""
        return self._call("DELETE", f"experiment/{_quote(experiment_id)}")

    @overload
    def logs(
        self, experiment_id: str, *, follow: Literal[False] = False,
        replica: str | None = None, tail: int | None = None,
    ) -> dict[str, str]: ...
    @overload
    def logs(
        self, experiment_id: str, *, follow: Literal[True],
        replica: str | None = None, tail: int | None = None,
    ) -> Iterator[tuple[str, str]]: ...

    def logs(
        self, experiment_id: str, *, follow: bool = False,
        replica: str | None = None, tail: int | None = None,
    ) -> dict[str, str] | Iterator[tuple[str, str]]:
        """A replica's logs: ``{podName: text}``, or with ``follow`` ``(podName, line)`` pairs
        as they are written, until the experiment ends.

        ``replica`` is a pod name or its short form (``worker-1``); ``tail`` keeps the last lines.
        """
        pod = pod_name(experiment_id, replica) if replica else None
        path = f"experiment/logs/{_quote(experiment_id)}"
        params = {"podName": pod, "tailLines": tail}
        if not follow:
            result = self._call("GET", path, params=params)
            return {item["podName"]: item.get("podLog") or "" for item in result["logContent"]}
        response = self._open("GET", path, params={**params, "follow": "true"}, timeout=None)
        return _ndjson_lines(response, pod)

    def all_logs(self) -> dict[str, dict[str, str]]:
        """``GET /experiment/logs``: ``{experimentId: {podName: text}}`` for every experiment."""
        return {
            entry["experimentId"]: {
                item["podName"]: item.get("podLog") or "" for item in entry["logContent"]
            }
            for entry in self._call("GET", "experiment/logs")
        }

    def wait(
        self,
        experiment_id: str,
        timeout: float | None = None,
        *,
        raise_on_failure: bool = False,
        until: Iterable[str] = (),
        poll_interval: float = 0.5,
    ) -> Experiment:
        """Block until the experiment is terminal (Succeeded or Failed), or has one of the
        statuses in ``until`` (e.g. ``("Running",)``), and return it.

        Raises :class:`WaitTimeout` after ``timeout`` seconds and, with ``raise_on_failure``,
        :class:`ExperimentFailed` when it failed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        wanted = TERMINAL_STATUSES.union(until)
        while True:
            experiment = self.get(experiment_id)
            if experiment.get("status") in wanted:
                if raise_on_failure and experiment.get("status") == "Failed":
                    raise ExperimentFailed(experiment)
                return experiment
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(experiment, timeout or 0)
                time.sleep(min(poll_interval, left))
            else:
                time.sleep(poll_interval)

    # -- environments ----------------------------------------------------------------

    def create_environment(self, spec: Mapping[str, Any] | str) -> Environment:
        """Store an EnvironmentSpec (``name``, ``dockerImage``, ``kernelSpec`` ...)."""
        return self._call("POST", "environment", body=spec)

    def list_environments(self) -> EnvironmentList:
        return self._call("GET", "environment")

    def get_environment(self, name: str) -> Environment:
        return self._call("GET", f"environment/{_quote(name)}")

    def patch_environment(self, name: str, spec: Mapping[str, Any] | str) -> Environment:
        return self._call("PATCH", f"environment/{_quote(name)}", body=spec)

    def delete_environment(self, name: str) -> Environment:
        return self._call("DELETE", f"environment/{_quote(name)}")


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


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def _http_error(error: urllib.error.HTTPError) -> SubmarineError:
    """The envelope's message and code, or a hint when the answer is not from this API."""
    try:
        body = json.loads(error.read() or b"null")
    except ValueError:
        body = None
    if error.code == 403:
        return SubmarineError("Forbidden: the Jupyter token is missing or wrong", 403, "FORBIDDEN")
    if isinstance(body, dict) and "code" in body and body.get("message"):
        return SubmarineError(str(body["message"]), int(body["code"]), body.get("status"))
    if error.code == 404:
        return SubmarineError(
            f"{error.url} is not served: is the submarine_jupyter server extension enabled?",
            404,
            "NOT_FOUND",
        )
    return SubmarineError(f"HTTP {error.code}: {error.reason}", error.code)


def _ndjson_lines(response: Any, pod: str | None) -> Iterator[tuple[str, str]]:
    """``(podName, line)`` per ndjson record; ``read1`` (unlike ``readline``) raises when a
    chunked stream is cut off, so a server dying mid-stream is an error, not an end."""
    pending = b""
    with response:
        try:
            while True:
                chunk = response.read1(65536)
                *records, pending = (pending + chunk).split(b"\n")
                if not chunk:
                    records.append(pending)  # a last record without its newline
                for raw in records:
                    if not raw.strip():
                        continue
                    item = json.loads(raw)
                    if pod is None or item["podName"] == pod:
                        yield item["podName"], str(item["line"]).rstrip("\n")
                if not chunk:
                    return
        except (OSError, http.client.HTTPException, ValueError, KeyError) as error:
            raise SubmarineError(f"the log stream broke off: {error!r}") from None
