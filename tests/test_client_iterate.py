"""The client's stop, rerun, template and sweep methods against the in-process server."""

from __future__ import annotations

import asyncio

import pytest

from submarine_jupyter.kernel.client import SubmarineClient, SubmarineError, SweepTimeout
from tests.kernel_helpers import job_spec, poll_until
from tests.test_magics_iterate import TEMPLATE


async def test_stop_then_rerun_with_a_merge_patch(client: SubmarineClient) -> None:
    spec = job_spec("orig", 'echo "lr=$LR"; sleep 30', 1)
    spec["meta"]["envVars"] = {"LR": "0.1", "KEEP": "yes"}
    created = await asyncio.to_thread(client.create, spec)
    experiment_id = created["experimentId"]
    await asyncio.to_thread(client.wait, experiment_id, 60, until=["Running"])
    stopped = await asyncio.to_thread(client.stop, experiment_id)
    assert stopped["status"] == "Stopped" and stopped["finishedTime"]
    assert (await asyncio.to_thread(client.wait, experiment_id, 5))["status"] == "Stopped"  # terminal for wait too
    with pytest.raises(SubmarineError) as refused:
        await asyncio.to_thread(client.stop, experiment_id)
    assert refused.value.code == 409

    changes = {"meta": {"cmd": 'echo "lr=$LR keep=$KEEP"', "envVars": {"LR": "0.01"}}, "spec": {"Worker": None}}
    again = await asyncio.to_thread(client.rerun, experiment_id, changes)
    assert again["rerunOf"] == experiment_id and again["experimentId"] != experiment_id
    assert again["spec"]["meta"]["envVars"] == {"LR": "0.01", "KEEP": "yes"} and list(again["spec"]["spec"]) == ["Master"]
    done = await asyncio.to_thread(client.wait, again["experimentId"], 60)
    assert done["status"] == "Succeeded"
    assert list((await asyncio.to_thread(client.logs, again["experimentId"])).values()) == ["lr=0.01 keep=yes\n"]
    assert (await asyncio.to_thread(client.get, experiment_id))["reruns"] == [again["experimentId"]]
    same = await asyncio.to_thread(client.rerun, experiment_id)
    assert same["spec"] == created["spec"] and same["rerunOf"] == experiment_id
    with pytest.raises(SubmarineError) as missing:
        await asyncio.to_thread(client.rerun, "experiment_1_0001")
    assert (missing.value.code, missing.value.message) == (404, "Not found experiment.")


async def test_templates_from_yaml_text_and_submitted_with_params(client: SubmarineClient) -> None:
    created = await asyncio.to_thread(client.create_template, TEMPLATE)
    assert created["experimentTemplateSpec"]["name"] == "echo-loss"
    assert await asyncio.to_thread(client.list_templates) == [created]
    assert await asyncio.to_thread(client.get_template, "echo-loss") == created
    spec = dict(created["experimentTemplateSpec"], description="changed")
    spec["parameters"] = [p for p in spec["parameters"] if not p["name"].startswith("spec.")]
    patched = await asyncio.to_thread(client.patch_template, "echo-loss", spec)
    assert patched["experimentTemplateSpec"]["description"] == "changed"
    assert patched["experimentTemplateId"] == created["experimentTemplateId"]

    experiment = await asyncio.to_thread(client.submit_template, "echo-loss", {"lr": 0.75})
    assert experiment["template"] == "echo-loss" and experiment["spec"]["meta"]["cmd"] == 'echo "step=1 loss=0.75"; sleep 0'
    defaults = await asyncio.to_thread(client.submit_template, "echo-loss")
    assert defaults["spec"]["meta"]["cmd"] == 'echo "step=1 loss=0.5"; sleep 0'
    with pytest.raises(SubmarineError) as refused:
        await asyncio.to_thread(client.submit_template, "echo-loss", {"nope": 1})
    assert refused.value.code == 400 and "Parameters contains illegal key: ['nope']" in refused.value.message

    assert (await asyncio.to_thread(client.delete_template, "echo-loss"))["experimentTemplateId"] == created[
        "experimentTemplateId"]
    with pytest.raises(SubmarineError) as gone:
        await asyncio.to_thread(client.get_template, "echo-loss")
    assert (gone.value.code, gone.value.message) == (404, "ExperimentTemplate not found.")


async def test_sweeps_wait_and_compare_best_first(client: SubmarineClient) -> None:
    await asyncio.to_thread(client.create_template, TEMPLATE)
    created = await asyncio.to_thread(client.create_sweep, {
        "name": "cmp", "template": "echo-loss", "grid": {"lr": ["0.5", "0.25"]}, "params": {"seconds": "1"},
        "parallel": 2, "objective": {"metric": "loss", "goal": "min"}})
    assert created["status"] == "Running" and [s["name"] for s in await asyncio.to_thread(client.list_sweeps)] == ["cmp"]
    with pytest.raises(SweepTimeout, match=r"sweep cmp is still Running after 0\.1 s"):
        await asyncio.to_thread(client.wait_sweep, "cmp", 0.1)
    done = await asyncio.to_thread(client.wait_sweep, "cmp", 60)
    assert done["status"] == "Succeeded" and done["best"] == 1
    assert [t["objective"] for t in done["trials"]] == [0.25, 0.5]

    comparison = await asyncio.to_thread(client.comparison, sweep="cmp")
    rows = comparison.rows()
    assert [(r["trial"], r["trial.lr"], r["trial.seconds"], r["objective"], r["loss.last"]) for r in rows] == [
        (1, "0.25", "1", 0.25, 0.25), (0, "0.5", "1", 0.5, 0.5)]
    assert [r["experimentId"] for r in rows] == [t["experimentId"] for t in done["trials"]]
    assert [s["label"] for s in comparison.chart_series("loss")] == ["#1 seconds=1 lr=0.25", "#0 seconds=1 lr=0.5"]
    frame = await asyncio.to_thread(client.compare, sweep="cmp", metric="loss")
    assert list(frame["objective"]) == [0.25, 0.5]
    with pytest.raises(ValueError, match=r"no experiment to compare \(sweep cmp, Failed\)"):
        await asyncio.to_thread(client.comparison, sweep="cmp", status="Failed")

    stopped = await asyncio.to_thread(client.stop_sweep, "cmp")  # it has ended: nothing changes
    assert stopped["status"] == "Succeeded"
    with pytest.raises(SubmarineError) as missing:
        await asyncio.to_thread(client.get_sweep, "nope")
    assert (missing.value.code, missing.value.message) == (404, "Sweep not found.")


async def test_stopping_a_sweep_stops_its_running_trial(client: SubmarineClient) -> None:
    await asyncio.to_thread(client.create_template, TEMPLATE)
    created = await asyncio.to_thread(client.create_sweep, {
        "name": "stop-me", "template": "echo-loss", "grid": {"lr": ["1", "2"]}, "params": {"seconds": "30"}})
    running = created["trials"][0]["experimentId"]
    await poll_until(lambda: client.get(running)["status"] == "Running", timeout=60)
    stopped = await asyncio.to_thread(client.stop_sweep, "stop-me")
    assert stopped["status"] == "Stopped" and [t["status"] for t in stopped["trials"]] == ["Stopped", "Stopped"]
    assert (await asyncio.to_thread(client.get, running))["status"] == "Stopped"
