"""Each backend owns its settings; release 0.1.0's spellings still work, with a warning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from submarine_jupyter.server.backends import registry
from submarine_jupyter.server.backends.local import LocalBackend

from .servers import JupyterProcess


@pytest.fixture
def submarine_config() -> dict[str, Any]:
    return {
        "SubmarineJupyter": {"memory_capacity": "2Gi", "cpu_capacity": 3.0, "max_restarts": 2},
        "LocalBackend": {"max_restarts": 4},
    }


async def test_old_spellings_move_to_the_backend(jp_serverapp: Any) -> None:
    backend = jp_serverapp.web_app.settings["submarine"].experiments.backend.default_backend
    assert isinstance(backend, LocalBackend)
    assert (backend.memory_capacity, backend.cpu_capacity) == ("2Gi", 3.0)
    assert backend.admission.capacity.total.memory == 2 << 30
    assert backend.max_restarts == 4  # the new spelling wins where both are given


def test_the_warning_names_the_new_spelling(tmp_path: Path) -> None:
    server = JupyterProcess(tmp_path, "--SubmarineJupyter.grace_period=2", "--LocalBackend.max_restarts=1").start()
    try:
        assert server.ok("GET", "/api/v1/experiment/ping") == "Pong"
    finally:
        server.stop()
    log = server.log_text()
    assert "c.SubmarineJupyter.grace_period is deprecated: use c.LocalBackend.grace_period" in log
    assert "max_restarts is deprecated" not in log


def test_backends_come_from_entry_points() -> None:
    assert {"local", "kubernetes"} <= set(registry.available())
    assert registry.load("local") is LocalBackend
    with pytest.raises(ValueError, match=r"no backend named 'nope' is installed .*local"):
        registry.load("nope")


def test_an_unknown_backend_is_named_in_the_log_and_nothing_is_served(tmp_path: Path) -> None:
    """Jupyter keeps a server whose extension fails to load; the log says why."""
    server = JupyterProcess(tmp_path, "--SubmarineJupyter.backend=nope")
    with pytest.raises(json.JSONDecodeError):  # Jupyter's HTML 404: the API is not there
        server.start(timeout=30)
    server.stop()
    assert "no backend named 'nope' is installed (installed: kubernetes, local)" in server.log_text()
