"""A real ``jupyter server`` subprocess with the extension enabled by its installed drop-in."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

TOKEN = "subprocess-test-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class JupyterProcess:
    """``python -m jupyter_server`` on a free port, its state in ``home`` (or ``state_dir``)."""

    def __init__(self, home: Path, *args: str, state_dir: Path | None = None) -> None:
        self.home = home
        self.args = args
        self.state_dir = state_dir or home / "state"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        for sub in ("root", "config", "data", "runtime", "state"):
            (home / sub).mkdir(parents=True, exist_ok=True)

    def launch(self) -> JupyterProcess:
        """Start the server process, its output appended to ``server.log``; no waiting."""
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(self.home / "config"),
            "JUPYTER_DATA_DIR": str(self.home / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.home / "runtime"),
        }
        with open(self.home / "server.log", "ab") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", "--ip=127.0.0.1",
                 f"--port={self.port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}",
                 f"--ServerApp.root_dir={self.home / 'root'}",
                 f"--SubmarineJupyter.state_dir={self.state_dir}", *self.args],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )
        return self

    def start(self, timeout: float = 60, poll: float = 0.2) -> JupyterProcess:
        """``launch``, then wait until the extension answers its ping."""
        self.launch()
        self._wait_for("/api/v1/experiment/ping", timeout, poll)
        return self

    def wait_for_jupyter(self, timeout: float = 60, poll: float = 0.01) -> None:
        """After ``launch``: wait until Jupyter's own ``/api/status`` answers (the extension
        not asked anything yet)."""
        self._wait_for("/api/status", timeout, poll)

    def _wait_for(self, path: str, timeout: float, poll: float) -> None:
        assert self.process is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.call("GET", path)[0] == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{self.log_text()[-3000:]}")
            time.sleep(poll)

    def log_text(self) -> str:
        return (self.home / "server.log").read_text(errors="replace")

    def call(self, method: str, path: str, body: Any = None, token: str | None = TOKEN) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if token:
            request.add_header("Authorization", f"token {token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        code, data = self.call(method, path, body)
        assert code == 200, (code, data)
        return data["result"]

    def wait(self, experiment_id: str, statuses: tuple[str, ...] = ("Succeeded", "Failed"), timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            item = self.ok("GET", f"/api/v1/experiment/{experiment_id}")
            if item["status"] in statuses:
                return item
            assert time.monotonic() < deadline, item
            time.sleep(0.1)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), as Ctrl-C would do."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)
