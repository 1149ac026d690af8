"""ExperimentWidget state without a browser: children, values, and clicks calling the API."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from IPython.lib.pretty import pretty

from submarine_jupyter.kernel.client import Experiment, SubmarineClient
from submarine_jupyter.kernel.log_view import LogView
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
    assert [type(c).__name__ for c in w.children] == [
        "HTML", "HTML", "HTML", "HTML", "MetricsView", "LogView", "HBox", "HBox", "HTML"
    ]
    assert w.details.value == ""  # no lineage, nothing pending
    assert "<b>mnist</b>" in w.header.value and EXP_ID in w.header.value
    assert ">Running</span>" in w.header.value and "elapsed " in w.header.value
    assert w.status_message.value == ""
    assert f"<td style='{CELL}'>worker-1</td>" in w.replicas.value
    assert w.logs.select.options == (
        ("all replicas", ""), ("worker-0", f"{PREFIX}-worker-0"), ("worker-1", f"{PREFIX}-worker-1"),
    )
    assert w.workers.value == 2 and not w.resize_button.disabled and not w.stop_button.disabled
    assert w.stop_button.description == "Stop" and w.delete_button.description == "Delete"
    assert not w.delete_button.disabled and w.confirm.layout.display == "none"
    assert w.metrics.layout.display == "none"  # until a metric is reported
    assert not w.polling


def test_log_box_interleaves_by_arrival_and_is_bounded() -> None:
    view = LogView(EXP_ID, tail=20)
    assert view.box.value == "<i>No log lines yet.</i>"
    view.add([(f"{PREFIX}-worker-0", "w0 first"), (f"{PREFIX}-worker-1", "w1 first"),
              (f"{PREFIX}-worker-0", "w0 second")])
    assert view.text == ""  # shown at the next flush: one widget update per refresh
    view.flush()
    assert view.text.splitlines() == ["[worker-0] w0 first", "[worker-1] w1 first", "[worker-0] w0 second"]
    assert view.box.value.endswith("[worker-0] w0 second</pre>")
    view.add((f"{PREFIX}-worker-0", f"w0 line {i}") for i in range(95))
    view.flush()
    shown = view.text.splitlines()  # 20 to 40 lines: the oldest 20 go at once
    assert len(shown) == 35 and shown[0] == "[worker-0] w0 line 60" and shown[-1] == "[worker-0] w0 line 94"
    view.select.value = f"{PREFIX}-worker-1"
    assert view.text == "w1 first"  # a replica's own lines outlive the shared tail
    view.add([(f"{PREFIX}-worker-0", "<b>not markup</b>"), (f"{PREFIX}-worker-1", "w1 second")])
    view.flush()
    assert view.select.value == f"{PREFIX}-worker-1" and view.text == "w1 first\nw1 second"
    view.select.value = f"{PREFIX}-worker-0"
    assert view.box.value.endswith("&lt;b&gt;not markup&lt;/b&gt;</pre>")


def test_log_box_keeps_the_newest_line_in_view_and_the_readers_place() -> None:
    """The scrolling element is the HTML widget's own (kept across updates, only its content
    is replaced) and lays out bottom-up, so the browser starts at the newest line and keeps
    a reader's place; the styles travel as widget state."""
    view = LogView(EXP_ID)
    state = view.box.layout.get_state()
    assert (state["display"], state["flex_flow"], state["overflow"]) == ("flex", "column-reverse", "auto")
    assert state["max_height"] == "240px"
    view.add([(f"{PREFIX}-worker-0", "x")])
    view.flush()
    assert view.box.value.startswith("<pre style='") and "overflow:auto" not in view.box.value


def test_a_failed_experiment_opens_the_failed_replicas_log(offline: SubmarineClient) -> None:
    w = ExperimentWidget(offline, experiment(), autostart=False)
    failed = experiment("Failed", statusMessage="worker-1 exited with code 3:\nTraceback (most recent call last):\n  KeyError: 'RANK'")
    failed["replicas"][0]["state"] = "Stopped"
    w.apply(failed)
    assert w.logs.select.value == f"{PREFIX}-worker-1"
    assert [label for label, _ in w.logs.select.options] == ["all replicas", "worker-1", "worker-0"]
    message = w.status_message.value
    assert message.startswith("<pre style='") and "white-space:pre-wrap;word-break:normal" in message
    assert "code 3:\nTraceback (most recent call last):\n  KeyError: &#x27;RANK&#x27;</pre>" in message
    assert "color:#c62828" in message
    w.logs.select.value = ""  # the reader's choice stays
    w.apply(failed)
    assert w.logs.select.value == ""


def test_terminal_state_disables_resize(offline: SubmarineClient) -> None:
    w = ExperimentWidget(
        offline, experiment("Succeeded", finishedTime="2026-11-27T18:37:50.123+00:00"),
        autostart=False,
    )
    assert w.terminal and w.resize_button.disabled and w.workers.disabled
    assert w.stop_button.disabled and not w.delete_button.disabled  # a stopped one can still be deleted
    assert "elapsed 0:01:05" in w.header.value
    assert f"<td style='{CELL}'>0</td></tr>" in w.replicas.value  # exit code column
    w.apply(experiment("Stopped", finishedTime="2026-11-27T18:37:50.123+00:00"))
    assert w.terminal and w.stop_button.disabled and ">Stopped</span>" in w.header.value


def test_lineage_and_a_pending_spec_are_shown(offline: SubmarineClient) -> None:
    pending = {"meta": {"name": "mnist", "framework": "PyTorch", "cmd": "x"}, "spec": {"Worker": {"replicas": 4}}}
    shown = experiment("Succeeded", rerunOf="experiment_1_0001", reruns=["experiment_1_0009", "experiment_1_0010"],
                       template="train", sweep="grid", pendingSpec=pending)
    w = ExperimentWidget(offline, shown, autostart=False)
    assert ("re-run of experiment_1_0001 · re-run as experiment_1_0009, experiment_1_0010 · from template train · "
            "trial of sweep grid · ") in w.details.value
    assert (f"a new spec (Worker x4) was recorded after it ended and has not run; %submarine rerun {EXP_ID} "
            "runs it</span>") in w.details.value
    assert w.workers.value == 2  # what ran, not what was recorded
    lines = pretty(w).splitlines()
    assert lines[1] == ("  re-run of experiment_1_0001; re-run as experiment_1_0009, experiment_1_0010; "
                        "from template train; trial of sweep grid")
    assert lines[2].startswith("  a new spec (Worker x4) was recorded after it ended")


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
        await poll_until(lambda: w.status == "Running" and "[worker-1] hi 2" in w.logs.text)
        assert "[master-0] hi 0" in w.logs.text

        w.workers.value = 3
        await asyncio.to_thread(w.resize_button.click)
        spec = (await asyncio.to_thread(client.get, created["experimentId"]))["spec"]
        assert spec["spec"]["Worker"]["replicas"] == 3
        assert w.message.value == "Resized to 3 workers."

        await asyncio.to_thread(w.delete_button.click)
        assert w.confirm.layout.display == "flex" and w.delete_button.disabled
        await asyncio.to_thread(w.cancel_button.click)
        assert w.confirm.layout.display == "none" and not w.delete_button.disabled
        assert not w.terminal  # resizing restarts it; Delete asked first and did nothing

        await asyncio.to_thread(w.delete_button.click)
        await asyncio.to_thread(w.confirm_button.click)
        assert w.status == "Deleted" and w.stop_button.disabled and w.delete_button.disabled and w.resize_button.disabled
        assert w.message.value == f"Deleted {created['experimentId']}."
        await poll_until(lambda: not w.polling, timeout=5)
        assert (await asyncio.to_thread(client.list)) == []
    finally:
        w.close()


async def test_the_stop_button_stops_and_keeps_the_experiment(client: SubmarineClient) -> None:
    created = await asyncio.to_thread(client.create, job_spec("stoppable", 'echo "hi $RANK"; sleep 30', 1))
    w = await asyncio.to_thread(ExperimentWidget, client, created["experimentId"], interval=0.2)
    try:
        await poll_until(lambda: w.status == "Running" and "[worker-0] hi 1" in w.logs.text)
        await asyncio.to_thread(w.stop_button.click)  # no question asked: nothing is lost
        assert w.confirm.layout.display == "none"
        assert w.status == "Stopped" and w.terminal and w.stop_button.disabled and not w.delete_button.disabled
        assert w.message.value == f"Stopped {created['experimentId']}; its logs and metrics are kept."
        await poll_until(lambda: not w.polling, timeout=10)
        kept = await asyncio.to_thread(client.get, created["experimentId"])
        assert kept["status"] == "Stopped" and {r["state"] for r in kept["replicas"]} == {"Stopped"}
        logs = await asyncio.to_thread(client.logs, created["experimentId"])
        assert sorted(logs.values()) == ["hi 0\n", "hi 1\n"]
        await asyncio.to_thread(w.stop_button.click)  # stopping it again says why not
        assert "has already ended (Stopped): there is nothing to stop (409)" in w.message.value
    finally:
        w.close()


async def test_updates_stop_when_the_experiment_ends(client: SubmarineClient) -> None:
    created = await asyncio.to_thread(client.create, job_spec("ends", "echo done $RANK", 2))
    w = await asyncio.to_thread(ExperimentWidget, client, created, interval=0.2)
    await poll_until(lambda: not w.polling)
    assert w.status == "Succeeded" and ">Succeeded</span>" in w.header.value
    assert "[master-0] done 0" in w.logs.text
    master_row = w.replicas.value.split("<tr>")[2]  # the Master completing decides the job
    assert master_row.startswith(f"<td style='{CELL}'>master-0</td>")
    assert ">Succeeded</span>" in master_row and master_row.endswith(f"<td style='{CELL}'>0</td></tr>")


async def test_logs_come_from_one_followed_stream_in_the_order_written(
    client: SubmarineClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    log_stream = client.log_stream

    def recording(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return log_stream(*args, **kwargs)

    monkeypatch.setattr(client, "log_stream", recording)
    cmd = 'if [ "$RANK" = 0 ]; then echo a; sleep 2; echo c; sleep 0.5; else sleep 1; echo b; fi'
    created = await asyncio.to_thread(client.create, job_spec("order", cmd))
    w = await asyncio.to_thread(ExperimentWidget, client, created, interval=0.2)
    try:
        await poll_until(lambda: not w.polling)
        assert w.logs.text.splitlines() == ["[master-0] a", "[worker-0] b", "[master-0] c"]
        assert calls == [{"tail": 200}]  # one followed stream, no tails fetched per refresh
    finally:
        w.close()


async def test_a_failed_replica_is_shown_first_live(client: SubmarineClient) -> None:
    cmd = 'if [ "$RANK" = 1 ]; then echo "worker boom"; exit 3; fi; echo "master waits"; sleep 30'
    created = await asyncio.to_thread(client.create, job_spec("fails", cmd))
    w = await asyncio.to_thread(ExperimentWidget, client, created, interval=0.2)
    try:
        await poll_until(lambda: not w.polling)
        assert w.status == "Failed"
        assert w.logs.select.value.endswith("-worker-0") and w.logs.text == "worker boom"
        assert "\n" in w.experiment["statusMessage"] and "\n" in w.status_message.value  # line breaks kept
    finally:
        w.close()


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
