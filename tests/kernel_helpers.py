"""Fixtures and helpers shared by the kernel-side tests (client, magics, widgets, notebooks).

The in-process Jupyter server runs on the pytest event loop, so every synchronous client
call from an async test goes through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from submarine_jupyter.kernel.client import TERMINAL_STATUSES, SubmarineClient
from submarine_jupyter.kernel.magics import SubmarineMagics

#: A short job: every replica prints three numbered lines with its rank, then exits 0; rank 0
#: lingers (as a barrier would make it) since the Master ending stops the other replicas.
STEPS_CMD = (
    'for i in 1 2 3; do echo "step $i of rank $RANK/$WORLD_SIZE"; sleep 0.2; done; '
    'if [ "$RANK" = 0 ]; then sleep 1.5; fi'
)


def job_spec(name: str = "smoke", cmd: str = STEPS_CMD, workers: int = 1) -> dict[str, Any]:
    """A PyTorch job: one Master (rank 0) and ``workers`` Workers (ranks 1..), small resources."""
    task = {"resources": "cpu=100m,memory=64Mi"}
    return {
        "meta": {"name": name, "framework": "PyTorch", "cmd": cmd},
        "spec": {"Master": {"replicas": 1, **task}, "Worker": {"replicas": workers, **task}},
    }


@pytest.fixture
def server_url(http_server: Any, jp_http_port: int, jp_base_url: str) -> str:
    """The in-process server's URL, base_url included (listening once this fixture runs)."""
    return f"http://127.0.0.1:{jp_http_port}{jp_base_url}"


@pytest.fixture
def server_token(jp_serverapp: Any) -> str:
    return jp_serverapp.identity_provider.token


@pytest.fixture
def stop_leftovers(
    server_url: str, server_token: str, jp_asyncio_loop: asyncio.AbstractEventLoop
) -> Iterator[None]:
    """After the test, delete experiments still going so no replica outlives it."""
    yield
    leftover = SubmarineClient(server_url, server_token)

    def stop_all() -> None:
        for experiment in leftover.list():
            if experiment["status"] not in TERMINAL_STATUSES:
                leftover.delete(experiment["experimentId"])

    jp_asyncio_loop.run_until_complete(asyncio.to_thread(stop_all))


@pytest.fixture
def client(server_url: str, server_token: str, stop_leftovers: None) -> SubmarineClient:
    return SubmarineClient(server_url, server_token)


@pytest.fixture
def server_env(
    server_url: str, server_token: str, stop_leftovers: None, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Point discovery (and any kernel started from now on) at the in-process server."""
    env = {"SUBMARINE_JUPYTER_URL": server_url, "SUBMARINE_JUPYTER_TOKEN": server_token}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@dataclass
class CellResult:
    """What a cell printed and displayed, and the error it ended with."""

    stdout: str
    stderr: str
    outputs: list[dict[str, Any]] = field(default_factory=list)
    error: BaseException | None = None

    def text(self) -> str:
        """Everything a terminal would show: stdout, stderr and the displayed plain text."""
        shown = "\n".join(output.get("text/plain", "") for output in self.outputs)
        return "\n".join((self.stdout, shown, self.stderr))


class Shell:
    """An IPython shell with ``%load_ext submarine_jupyter`` done, run off the event loop."""

    def __init__(self) -> None:
        self.ip = InteractiveShell.instance()
        self.ip.run_line_magic("load_ext", "submarine_jupyter")
        self.magics = SubmarineMagics(self.ip)  # fresh: no client cached by an earlier test
        self.ip.register_magics(self.magics)

    def run_sync(self, source: str) -> CellResult:
        with capture_output() as captured:
            result = self.ip.run_cell(source, store_history=False)
        return CellResult(
            captured.stdout,
            captured.stderr,
            [output.data for output in captured.outputs],
            result.error_in_exec or result.error_before_exec,
        )

    async def run(self, source: str) -> CellResult:
        return await asyncio.to_thread(self.run_sync, source)

    @property
    def ns(self) -> dict[str, Any]:
        return self.ip.user_ns


@pytest.fixture
def shell(server_env: dict[str, str]) -> Shell:
    return Shell()


async def poll_until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait (without blocking the server's loop) until ``check()`` is true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await asyncio.to_thread(check):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.2)
