"""ExperimentWidget state without a browser: children, values, and clicks calling the API."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from IPython.lib.pretty import pretty

from submarine_jupyter.kernel.client import Experiment, SubmarineClient
from submarine_jupyter.kernel.render import CELL_STYLE as CELL
from submarine_jupyter.kernel.widgets import ExperimentWidget
from tests.kernel_helpers import job_spec, poll_until

EXP_ID = "experiment_1764268605123_0007"
PREFIX = "experiment-1764268605123-0007"


def experiment(status: str = "Running", **changes: Any) -> Experiment:
    replicas = [
        {"name": f"{PREFIX}-worker-{i}", "role": "Worker", "index": i, "state": status,
         "restarts": i, "exitCode": 0 if status == "Succeeded" else None, "message": None}
        for i in range(2)
    ]
    data: dict[str, Any] = {
        "experimentId": EXP_ID, "name": "mnist", "uid": "u", "status": status,
        "acceptedTime": "2026-11-27T18:36:45.123+00:00", "createdTime": None,
        "runningTime": None, "finishedTime": None, "statusMessage": None,
        "replicas": replicas,
        "spec": {"meta": {"name": "mnist", "framework": "PyTorch", "cmd": "x"},
                 "spec": {"Worker": {"replicas": 2}}},
    }
    data.update(changes)
    return data  # type: ignore[return-value]


@pytest.fixture
def offline() -> SubmarineClient:
    """A client that is never called by these tests (state is applied directly)."""
    return SubmarineClient("http://127.0.0.1:9/", "unused")


def test_layout_and_state(offline: SubmarineClient) -> None:
    w = ExperimentWidget(offline, experiment(), autostart=False)
    assert [type(c).__name__ for c in w.children] == ["HTML", "HTML", "Dropdown", "HTML", "HBox", "HBox", "HTML"]
    assert "<b>mnist</b>" in w.header.value and EXP_ID in w.header.value
    assert ">Running</span>" in w.header.value and "elapsed " in w.header.value
    assert f"<td style='{CELL}'>worker-1</td>" in w.replicas.value
    assert w.replica_select.options == (
        ("all replicas", ""), ("worker-0", f"{PREFIX}-worker-0"), ("worker-1", f"{PREFIX}-worker-1"),
    )
    assert w.workers.value == 2 and not w.resize_button.disabled and not w.stop_button.disabled
    assert w.stop_button.description == "Stop" and w.confirm.layout.display == "none"
    assert not w.polling


def test_log_tail_is_bounded_and_selectable(offline: SubmarineClient) -> None:
    w = ExperimentWidget(offline, experiment(), autostart=False, tail=20)
    logs = {
        f"{PREFIX}-worker-0": "".join(f"w0 line {i}\n" for i in range(100)),
        f"{PREFIX}-worker-1": "w1 only line\n",
    }
    w.apply(experiment(), logs)
    shown = w.log_text.splitlines()
    assert len(shown) <= 20
    assert shown[-1] == "[worker-1] w1 only line" and "[worker-0] w0 line 99" in shown
    assert "[worker-1] w1 only line</pre>" in w.log_view.value
    w.replica_select.value = f"{PREFIX}-worker-0"
    assert w.log_text.splitlines() == [f"w0 line {i}" for i in range(80, 100)]
    w.apply(experiment(), {f"{PREFIX}-worker-0": "<b>not markup</b>\n"})
    assert "&lt;b&gt;not markup&lt;/b&gt;</pre>" in w.log_view.value
    w.apply(experiment(), {**logs, f"{PREFIX}-worker-0": "w0 line 100\n"})
    assert w.replica_select.value == f"{PREFIX}-worker-0"  # kept across updates
    assert w.log_text == "w0 line 100"
    w.apply(experiment("Deleted"), {})  # an empty snapshot (replicas gone) keeps the last lines
    assert w.log_text == "w0 line 100"


def test_terminal_state_disables_resize(offline: SubmarineClient) -> None:
    w = ExperimentWidget(
        offline, experiment("Succeeded", finishedTime="2026-11-27T18:37:50.123+00:00"),
        autostart=False,
    )
    assert w.terminal and w.resize_button.disabled and w.workers.disabled
    assert w.stop_button.description == "Delete"
    assert "elapsed 0:01:05" in w.header.value
    assert f"<td style='{CELL}'>0</td></tr>" in w.replicas.value  # exit code column


def test_text_fallback(offline: SubmarineClient) -> None:
    w = ExperimentWidget(
        offline, experiment("Failed", statusMessage="worker-1 exited with 3",
                            finishedTime="2026-11-27T18:36:55.123+00:00"),
        autostart=False,
    )
    summary = pretty(w)
    assert summary.splitlines()[0] == f"mnist ({EXP_ID}): Failed, elapsed 0:00:10"
    assert "worker-1 exited with 3" in summary and "worker-0  Failed" in summary
    bundle = w._repr_mimebundle_()
    assert bundle["text/plain"] == summary
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == w.model_id


# -- live, against the in-process server -------------------------------------------------


async def test_live_updates_resize_and_stop(client: SubmarineClient) -> None:
    created = await asyncio.to_thread(client.create, job_spec("live", 'echo "hi $RANK"; sleep 30', 2))
    w = await asyncio.to_thread(ExperimentWidget, client, created["experimentId"], interval=0.2)
    try:
        assert w.polling
        await poll_until(lambda: w.status == "Running" and "[worker-1] hi 2" in w.log_text)
        assert "[master-0] hi 0" in w.log_text

        w.workers.value = 3
        await asyncio.to_thread(w.resize_button.click)
        spec = (await asyncio.to_thread(client.get, created["experimentId"]))["spec"]
        assert spec["spec"]["Worker"]["replicas"] == 3
        assert w.message.value == "Resized to 3 workers."

        await asyncio.to_thread(w.stop_button.click)
        assert w.confirm.layout.display == "flex" and w.stop_button.disabled
        await asyncio.to_thread(w.cancel_button.click)
        assert w.confirm.layout.display == "none" and not w.terminal  # resizing restarts it

        await asyncio.to_thread(w.stop_button.click)
        await asyncio.to_thread(w.confirm_button.click)
        assert w.status == "Deleted" and w.stop_button.disabled and w.resize_button.disabled
        assert w.message.value == f"Deleted {created['experimentId']}."
        await poll_until(lambda: not w.polling, timeout=5)
        assert (await asyncio.to_thread(client.list)) == []
    finally:
        w.close()


async def test_updates_stop_when_the_experiment_ends(client: SubmarineClient) -> None:
    created = await asyncio.to_thread(client.create, job_spec("ends", "echo done $RANK", 2))
    w = await asyncio.to_thread(ExperimentWidget, client, created, interval=0.2)
    await poll_until(lambda: not w.polling)
    assert w.status == "Succeeded" and ">Succeeded</span>" in w.header.value
    assert "[master-0] done 0" in w.log_text
    master_row = w.replicas.value.split("<tr>")[2]  # the Master completing decides the job
    assert master_row.startswith(f"<td style='{CELL}'>master-0</td>")
    assert ">Succeeded</span>" in master_row and master_row.endswith(f"<td style='{CELL}'>0</td></tr>")


async def test_errors_show_in_the_widget(client: SubmarineClient) -> None:
    created = await asyncio.to_thread(client.create, job_spec("err", "sleep 30"))
    w = await asyncio.to_thread(ExperimentWidget, client, created, autostart=False)
    await asyncio.to_thread(client.delete, created["experimentId"])
    w.workers.value = 4
    await asyncio.to_thread(w.resize_button.click)
    assert "Not found experiment. (404)" in w.message.value
    await asyncio.to_thread(w.refresh)
    assert w.status == "Deleted" and w.stop_button.disabled


async def test_a_new_view_of_an_experiment_takes_over_the_polling(client: SubmarineClient) -> None:
    created = await asyncio.to_thread(client.create, job_spec("views", "sleep 30"))
    first = await asyncio.to_thread(ExperimentWidget, client, created, interval=0.2)
    second = await asyncio.to_thread(ExperimentWidget, client, created, interval=0.2)
    try:
        await poll_until(lambda: not first.polling, timeout=5)
        assert second.polling
    finally:
        first.close()
        second.close()
    await poll_until(lambda: not second.polling, timeout=5)
