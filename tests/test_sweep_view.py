"""SweepView: a sweep's trials best first, as tables and as a widget kept live until the sweep ends."""

from __future__ import annotations

import asyncio
from typing import Any

from IPython.lib.pretty import pretty

from submarine_jupyter.kernel.client import SubmarineClient, Sweep
from submarine_jupyter.kernel.sweep_view import SweepView, sweep_text, sweeps_table
from tests.kernel_helpers import poll_until
from tests.test_magics_iterate import TEMPLATE


def sweep(status: str = "Running", **changes: Any) -> Sweep:
    data: dict[str, Any] = {
        "name": "grid", "template": "train", "status": status, "statusMessage": None, "parallel": 2,
        "objective": {"metric": "loss", "goal": "min"}, "best": 2,
        "trials": [
            {"index": 2, "params": {"lr": "0.01", "batch": "32"}, "experimentId": "experiment_1_0003",
             "status": "Succeeded", "objective": 0.032},
            {"index": 0, "params": {"lr": "0.1", "batch": "32"}, "experimentId": "experiment_1_0001",
             "status": "Succeeded", "objective": 0.32},
            {"index": 1, "params": {"lr": "0.1", "batch": "64"}, "experimentId": "experiment_1_0002",
             "status": "Running", "objective": None},
            {"index": 3, "params": {"lr": "0.01", "batch": "64"}, "experimentId": None, "status": "Waiting",
             "objective": None},
        ],
    }
    data.update(changes)
    return data  # type: ignore[return-value]


def test_text_and_tables_best_first() -> None:
    assert sweep_text(sweep()).splitlines() == [
        "grid: Running; template train, 2 of 4 trials ended, 2 at a time, objective loss (min)",
        "best: #2 lr=0.01 batch=32, loss 0.032 (experiment_1_0003)",
        "TRIAL  lr    batch  STATUS     loss   EXPERIMENT",
        "-----  ----  -----  ---------  -----  -----------------",
        "2      0.01  32     Succeeded  0.032  experiment_1_0003",
        "0      0.1   32     Succeeded  0.32   experiment_1_0001",
        "1      0.1   64     Running           experiment_1_0002",
        "3      0.01  64     Waiting",
    ]
    plain = sweep("Stopped", objective=None, best=None, statusMessage="stopped by the user")
    assert sweep_text(plain).splitlines()[:2] == [
        "grid: Stopped; template train, 2 of 4 trials ended, 2 at a time", "  stopped by the user"]
    assert sweep_text(plain).splitlines()[2].split() == ["TRIAL", "lr", "batch", "STATUS", "OBJECTIVE", "EXPERIMENT"]
    html, text = sweeps_table([sweep(), plain])
    assert text.splitlines()[2].split() == ["grid", "train", "Running", "2", "of", "4", "trials", "ended", "#2",
                                            "lr=0.01", "batch=32", "0.032"]
    assert text.splitlines()[3].split() == ["grid", "train", "Stopped", "2", "of", "4", "trials", "ended"]
    assert ">Running</span>" in html and ">Stopped</span>" in html
    assert sweeps_table([]) == ("<i>No sweeps.</i>", "No sweeps.")


def test_the_widget_marks_the_best_and_falls_back_to_text() -> None:
    offline = SubmarineClient("http://127.0.0.1:9/", "unused")
    view = SweepView(offline, sweep(), autostart=False)
    assert [type(c).__name__ for c in view.children] == ["HTML", "HTML", "Button", "HTML"]
    assert "<b>grid</b>" in view.header.value and ">Running</span>" in view.header.value
    assert "best: #2 lr=0.01 batch=32, loss 0.032" in view.header.value
    rows = view.table.value.split("<tr>")[2:]
    assert rows[0].startswith("<td style='text-align:left;padding:2px 16px 2px 0'><b>2 ★</b></td>")
    assert ">Waiting</span>" in rows[3] and not view.stop_button.disabled and not view.polling
    assert pretty(view) == sweep_text(sweep())
    view.apply(sweep("Succeeded"))
    assert view.ended and view.stop_button.disabled


# -- live, against the in-process server -------------------------------------------------


async def test_the_view_follows_a_sweep_to_its_end(client: SubmarineClient) -> None:
    await asyncio.to_thread(client.create_template, TEMPLATE)
    created = await asyncio.to_thread(client.create_sweep, {
        "name": "live", "template": "echo-loss", "grid": {"lr": ["0.5", "0.25"]}, "params": {"seconds": "1"},
        "objective": {"metric": "loss", "goal": "min"}})
    view = await asyncio.to_thread(SweepView, client, "live", interval=0.2)
    try:
        assert view.polling and "Waiting" in view.table.value
        await poll_until(lambda: not view.polling, timeout=60)
        assert view.sweep["status"] == "Succeeded" and ">Succeeded</span>" in view.header.value
        assert [t["params"]["lr"] for t in view.sweep["trials"]] == ["0.25", "0.5"]  # best first
        assert "best: #1 seconds=1 lr=0.25, loss 0.25" in view.header.value
        assert view.stop_button.disabled and created["trials"][0]["status"] != "Succeeded"
    finally:
        view.close()


async def test_its_button_stops_the_sweep_and_a_newer_view_takes_over(client: SubmarineClient) -> None:
    await asyncio.to_thread(client.create_template, TEMPLATE)
    await asyncio.to_thread(client.create_sweep, {
        "name": "long", "template": "echo-loss", "grid": {"lr": ["1", "2"]}, "params": {"seconds": "30"}})
    first = await asyncio.to_thread(SweepView, client, "long", interval=0.2)
    second = await asyncio.to_thread(SweepView, client, "long", interval=0.2)
    try:
        await poll_until(lambda: not first.polling, timeout=5)
        assert second.polling
        await poll_until(lambda: second.sweep["trials"][0]["status"] == "Running", timeout=60)
        await asyncio.to_thread(second.stop_button.click)
        assert second.sweep["status"] == "Stopped" and second.message.value == "Stopped sweep long."
        assert [t["status"] for t in second.sweep["trials"]] == ["Stopped", "Stopped"]
        await poll_until(lambda: not second.polling, timeout=5)
        again = await asyncio.to_thread(client.get_sweep, "long")
        assert again["status"] == "Stopped" and again["statusMessage"] == "stopped by the user"
    finally:
        first.close()
        second.close()
