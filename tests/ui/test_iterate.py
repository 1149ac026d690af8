"""Iterating from the panel, in a real browser against the real in-process server.

Stop (the record and its logs stay readable), re-run with changes (a merge patch of the
spec; lineage links both ways), a template's form (defaults, required marks, refusals next
to the parameters they name), the notice for a spec PATCHed after the end, and a sweep's
trials, best first, live, with Stop sweep. Screenshots land in docs/screenshots/.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.conftest import ALL_BACKENDS

try:
    from playwright.async_api import expect
except ImportError:  # then the `chromium` fixture fails the tests (CI=true) or skips them
    expect = None

RESOURCES = "cpu=0.1,memory=64M"


@pytest.fixture
def submarine_config(backend_config: dict[str, Any]) -> dict[str, Any]:
    return backend_config


BACKENDS = ALL_BACKENDS  # each test on local, the training-operator and Trainer v2


def job(name: str, cmd: str, roles: dict[str, int] | None = None, env: dict[str, str] | None = None,
        framework: str = "PyTorch") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "meta": {"name": name, "framework": framework, "cmd": cmd},
        "spec": {role: {"replicas": n, "resources": RESOURCES} for role, n in (roles or {"Master": 1}).items()},
    }
    if env:
        spec["meta"]["envVars"] = env
    return spec


def rerun_request(request: Any) -> bool:
    return request.method == "POST" and urlparse(request.url).path.endswith("/rerun")


def status_of(detail: Any) -> Any:
    return detail.locator(".jp-SubmarinePanel-title .jp-SubmarinePanel-status")


async def test_stop_keeps_the_experiment_and_its_logs(lab: Any, api: Any) -> None:
    created = await api.ok("POST", "api/v1/experiment", job(
        "long-train", "echo started; sleep 120", roles={"Master": 1, "Worker": 1}))
    experiment_id = created["experimentId"]
    async with lab.open() as page:
        detail = await lab.open_experiment(page, experiment_id)
        await expect(status_of(detail)).to_have_text("Running", timeout=60_000)
        log = detail.locator(".jp-SubmarinePanel-logText")
        await expect(log).to_contain_text("started", timeout=30_000)

        await detail.get_by_role("button", name="Stop", exact=True).click()
        await expect(status_of(detail)).to_have_text("Stopped", timeout=30_000)
        await expect(detail.get_by_role("button", name="Stop", exact=True)).to_have_count(0)
        stored = await api.ok("GET", f"api/v1/experiment/{experiment_id}")
        assert stored["status"] == "Stopped" and {r["state"] for r in stored["replicas"]} == {"Stopped"}, stored
        await expect(detail.get_by_label("Status message")).to_contain_text("stopped by the user")
        replicas = detail.locator(".jp-SubmarinePanel-replicas tbody tr")
        await expect(replicas).to_have_count(2)
        for i in range(2):
            await expect(replicas.nth(i).locator(".jp-SubmarinePanel-status")).to_have_text("Stopped")

        # Its logs stay readable, replica by replica; nothing follows any more.
        await expect(log).to_contain_text("started")
        await expect(detail.locator(".jp-SubmarinePanel-logState")).to_have_attribute("data-state", "ended")
        await detail.locator("tr[data-replica$='-worker-0']").click()
        await expect(log).to_contain_text("started", timeout=20_000)
        # A resize makes no sense any more; re-running does.
        for resize in await detail.get_by_role("button", name="Resize").all():
            await expect(resize).to_be_disabled()
        await expect(detail.get_by_role("button", name="Re-run with changes")).to_be_enabled()
        await lab.dismiss_toasts(page)
        await lab.screenshot(page, "stopped")

        # Stopped is a status of its own: the list's filter has it.
        panel = page.locator("#submarine-jupyter-panel")
        await panel.get_by_role("button", name="← Experiments").click()
        await panel.get_by_label("Status").select_option("Stopped")
        items = panel.locator(".jp-SubmarinePanel-item")
        await expect(items).to_have_count(1)
        await expect(items.first).to_have_attribute("data-status", "Stopped")

        # Delete stays a separate action, behind a confirmation: cancelled, nothing goes.
        await items.first.click()
        await detail.get_by_role("button", name="Delete", exact=True).click()
        dialog = page.locator(".jp-Dialog")
        await expect(dialog).to_contain_text("Stop ends it and keeps them")
        await dialog.get_by_role("button", name="Cancel").click()
        await expect(dialog).to_have_count(0)
        assert (await api.ok("GET", f"api/v1/experiment/{experiment_id}"))["status"] == "Stopped"
        await detail.get_by_role("button", name="Delete", exact=True).click()
        await page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
        await expect(panel.locator(f"[data-experiment-id='{experiment_id}']")).to_have_count(0)
        assert (await api.call("GET", f"api/v1/experiment/{experiment_id}"))[0] == 404
    assert lab.page_errors == []


async def test_rerun_with_changes_links_both_ways(lab: Any, api: Any) -> None:
    first = await api.ok("POST", "api/v1/experiment", job(
        "lr-run", "echo lr=$LR world=$WORLD_SIZE", env={"LR": "0.1", "KEEP": "yes"}))
    first_id = first["experimentId"]
    assert (await api.wait(first_id, timeout=90))["status"] == "Succeeded"
    async with lab.open() as page:
        panel = page.locator("#submarine-jupyter-panel")
        detail = await lab.open_experiment(page, first_id)
        await detail.get_by_role("button", name="Re-run with changes").click()

        # The create form, prefilled from the spec that ran, under the same name.
        form = panel.locator("form[aria-label='Re-run experiment']")
        await expect(form.locator("h3")).to_have_text("Re-run lr-run with changes")
        await expect(form.locator("input[name=name]")).to_have_value("lr-run")
        await expect(form.locator("textarea[name=cmd]")).to_have_value("echo lr=$LR world=$WORLD_SIZE")
        await expect(form.locator("textarea[name=envVars]")).to_have_value("LR=0.1\nKEEP=yes")
        await expect(form.get_by_label("Role 1", exact=True)).to_have_value("Master")
        await form.locator("textarea[name=envVars]").fill("LR=0.01\nKEEP=yes")
        await form.get_by_role("button", name="Add role").click()
        await expect(form.get_by_label("Role 2", exact=True)).to_have_value("Worker")
        await form.get_by_label("Role 2 replicas").fill("2")
        await form.get_by_label("Role 2 resources").fill(RESOURCES)
        await expect(form.locator(".jp-SubmarinePanel-fieldError")).to_have_count(0)
        await lab.screenshot(page, "rerun-form")

        # What goes is a merge patch of the spec: only what changed.
        async with page.expect_request(rerun_request) as sent:
            await form.get_by_role("button", name="Re-run", exact=True).click()
        request = await sent.value
        assert urlparse(request.url).path.endswith(f"/api/v1/experiment/{first_id}/rerun"), request.url
        assert json.loads(request.post_data) == {
            "meta": {"envVars": {"LR": "0.01"}},
            "spec": {"Worker": {"replicas": 2, "resources": RESOURCES}},
        }

        # The new experiment's detail: the changes reached it, and it links to its origin.
        second_detail = panel.locator(".jp-SubmarinePanel-detail")
        origin = second_detail.get_by_label("Re-run of")
        await expect(origin).to_contain_text(first_id)
        second_id = await second_detail.get_attribute("data-experiment-id")
        assert second_id != first_id
        second = await api.ok("GET", f"api/v1/experiment/{second_id}")
        assert second["rerunOf"] == first_id
        assert second["spec"]["meta"]["envVars"] == {"LR": "0.01", "KEEP": "yes"}
        assert second["spec"]["spec"] == {"Master": {"replicas": 1, "resources": RESOURCES},
                                          "Worker": {"replicas": 2, "resources": RESOURCES}}
        await expect(status_of(second_detail)).to_have_text("Succeeded", timeout=90_000)
        await expect(second_detail.locator(".jp-SubmarinePanel-logText")).to_contain_text(
            "lr=0.01 world=3", timeout=20_000)
        await lab.dismiss_toasts(page)
        await lab.screenshot(page, "rerun-lineage")

        # Both ways: the origin lists its re-run, each link opens the other.
        await origin.get_by_role("button").click()
        first_detail = panel.locator(f".jp-SubmarinePanel-detail[data-experiment-id='{first_id}']")
        await expect(first_detail.get_by_label("Re-runs")).to_contain_text(second_id)
        await first_detail.get_by_label("Re-runs").get_by_role("button").click()
        await expect(panel.locator(f".jp-SubmarinePanel-detail[data-experiment-id='{second_id}']")).to_be_visible()

        # A key the edit removes goes as null: no variables, no Worker.
        await second_detail.get_by_role("button", name="Re-run with changes").click()
        await form.locator("textarea[name=envVars]").fill("")
        await form.get_by_label("Remove role 2").click()
        async with page.expect_request(rerun_request) as sent:
            await form.get_by_role("button", name="Re-run", exact=True).click()
        assert json.loads((await sent.value).post_data) == {"meta": {"envVars": None}, "spec": {"Worker": None}}
        third_detail = panel.locator(".jp-SubmarinePanel-detail")
        await expect(third_detail.get_by_label("Re-run of")).to_contain_text(second_id)
        third = await api.ok("GET", f"api/v1/experiment/{await third_detail.get_attribute('data-experiment-id')}")
        assert "envVars" not in third["spec"]["meta"] and list(third["spec"]["spec"]) == ["Master"], third
    assert lab.page_errors == []


@pytest.mark.parametrize("backend_config", ["local"], indirect=True)  # the panel's notice, not a backend's
async def test_a_spec_patched_after_the_end_says_nothing_ran(lab: Any, api: Any) -> None:
    spec = job("patched-late", "echo ran", roles={"Master": 1, "Worker": 1})
    created = await api.ok("POST", "api/v1/experiment", spec)
    experiment_id = created["experimentId"]
    assert (await api.wait(experiment_id, timeout=90))["status"] == "Succeeded"
    patched = job("patched-late", "echo patched", roles={"Master": 1, "Worker": 2})
    await api.ok("PATCH", f"api/v1/experiment/{experiment_id}", patched)
    async with lab.open() as page:
        panel = page.locator("#submarine-jupyter-panel")
        detail = await lab.open_experiment(page, experiment_id)
        notice = detail.get_by_role("note", name="Pending spec")
        await expect(notice).to_contain_text("nothing was re-run")
        await expect(notice.get_by_label("Recorded changes").locator("li")).to_have_text([
            'meta.cmd: "echo ran" → "echo patched"', "spec.Worker.replicas: 1 → 2"])
        # The facts shown are those of the spec that ran.
        await expect(detail.locator("tr[data-role=Worker] .jp-SubmarinePanel-replicaCount")).to_have_text("1")
        await lab.screenshot(page, "pending-spec")

        await notice.get_by_role("button", name="Re-run with the new spec").click()
        rerun = panel.locator(".jp-SubmarinePanel-detail")
        await expect(rerun.get_by_label("Re-run of")).to_contain_text(experiment_id)
        rerun_id = await rerun.get_attribute("data-experiment-id")
        assert rerun_id != experiment_id
        again = await api.ok("GET", f"api/v1/experiment/{rerun_id}")
        assert again["spec"] == patched and again["rerunOf"] == experiment_id
        await expect(rerun.get_by_role("note", name="Pending spec")).to_have_count(0)
        await expect(rerun.locator(".jp-SubmarinePanel-logText")).to_contain_text("patched", timeout=60_000)

        # Back on the original: the recorded spec has run, as that re-run.
        await rerun.get_by_label("Re-run of").get_by_role("button").click()
        notice = panel.locator(f".jp-SubmarinePanel-detail[data-experiment-id='{experiment_id}']").get_by_role(
            "note", name="Pending spec")
        await expect(notice).to_contain_text(f"It ran as the re-run {rerun_id}")
    assert lab.page_errors == []


TEMPLATE: dict[str, Any] = {
    "name": "mnist-lr",
    "author": "panel-test",
    "description": "Train with a learning rate and a batch size",
    "parameters": [
        {"name": "learning_rate", "value": 0.1, "required": True, "description": "the optimiser's step size"},
        {"name": "batch_size", "value": 150, "required": False, "description": "examples per step"},
    ],
    "experimentSpec": {
        "meta": {"name": "mnist-from-template", "framework": "PyTorch",
                 "cmd": "echo --learning_rate={{learning_rate}} --batch_size={{batch_size}}"},
        "spec": {"Master": {"replicas": 1, "resources": RESOURCES}, "Worker": {"replicas": 1, "resources": RESOURCES}},
    },
}


@pytest.mark.parametrize("backend_config", ["local"], indirect=True)  # the panel's form, not a backend's
async def test_template_form_submits_and_shows_refusals(lab: Any, api: Any) -> None:
    await api.ok("POST", "api/v1/template", TEMPLATE)
    async with lab.open() as page:
        panel = await lab.open_panel(page)
        await lab.widen_sidebar(page, 420)
        await panel.get_by_role("tab", name="Templates").click()
        item = panel.locator(".jp-SubmarinePanel-item[data-template='mnist-lr']")
        await expect(item).to_contain_text("Train with a learning rate")
        await expect(item).to_contain_text("8 parameters, 1 required")
        await lab.screenshot(page, "templates")
        await item.click()

        # A field per parameter: defaults filled in, the required one marked, descriptions shown.
        form = panel.locator("form[aria-label='Submit template']")
        lr = form.locator("[data-field='learning_rate']")
        await expect(lr.locator("input")).to_have_value("0.1")
        await expect(lr.locator(".jp-SubmarinePanel-required")).to_have_text("required")
        await expect(lr.locator("input")).to_have_attribute("aria-required", "true")
        await expect(lr).to_contain_text("the optimiser's step size")
        batch = form.locator("[data-field='batch_size']")
        await expect(batch.locator("input")).to_have_value("150")
        await expect(batch.locator(".jp-SubmarinePanel-required")).to_have_count(0)
        workers = form.locator("[data-field='spec.Worker.replicas']")
        await expect(workers.locator("input")).to_have_value("1")

        # Refused: the required value left blank; the server's words, next to it.
        await lr.locator("input").fill("")
        await workers.locator("input").fill("2")
        await form.get_by_role("button", name="Submit").click()
        await expect(lr.locator(".jp-SubmarinePanel-fieldError")).to_have_text("Template contains unmapped value")
        await expect(form.get_by_role("alert")).to_have_text(
            "Template contains unmapped value: ['learning_rate', 'meta.cmd:learning_rate']")
        await expect(lr.locator("input")).to_have_attribute("aria-invalid", "true")
        await lab.screenshot(page, "template-refused")
        # Refused: a per-role value that is not a number.
        await lr.locator("input").fill("0.05")
        await expect(lr.locator(".jp-SubmarinePanel-fieldError")).to_have_count(0)
        await workers.locator("input").fill("two")
        await form.get_by_role("button", name="Submit").click()
        await expect(workers.locator(".jp-SubmarinePanel-fieldError")).to_have_text("'two' is not a whole number")
        await expect(form.get_by_role("alert")).to_have_text("spec.Worker.replicas: 'two' is not a whole number")
        assert await api.ok("GET", "api/v1/experiment") == []

        # Submitted: the new experiment, filled in from the parameters, links to its template.
        await workers.locator("input").fill("2")
        await form.get_by_role("button", name="Submit").click()
        detail = panel.locator(".jp-SubmarinePanel-detail")
        await expect(detail.locator(".jp-SubmarinePanel-title .jp-SubmarinePanel-name")).to_have_text(
            "mnist-from-template")
        experiment_id = await detail.get_attribute("data-experiment-id")
        stored = await api.ok("GET", f"api/v1/experiment/{experiment_id}")
        assert stored["template"] == "mnist-lr"
        assert stored["spec"]["meta"]["cmd"] == "echo --learning_rate=0.05 --batch_size=150"
        assert stored["spec"]["spec"]["Worker"] == {"replicas": 2, "resources": RESOURCES}
        await expect(status_of(detail)).to_have_text("Succeeded", timeout=90_000)
        await expect(detail.locator(".jp-SubmarinePanel-logText")).to_contain_text("--learning_rate=0.05")
        await detail.get_by_role("button", name="mnist-lr").click()
        await expect(form).to_be_visible()
    assert lab.page_errors == []


TRIAL = "import sys, time\nlr = float(sys.argv[1])\ntime.sleep(float(sys.argv[2]))\nprint(f'step=1 loss={lr * 2:.6g}')\n"


def sweep_template(work_dir: Path, name: str, seconds: str) -> dict[str, Any]:
    (work_dir / "trial.py").write_text(TRIAL)
    return {
        "name": name, "parameters": [{"name": "lr", "value": "0.1"}, {"name": "seconds", "value": seconds}],
        "experimentSpec": {
            "meta": {"name": "trial", "framework": "PyTorch",
                     "cmd": f"{sys.executable} {work_dir / 'trial.py'} {{{{lr}}}} {{{{seconds}}}}"},
            "spec": {"Master": {"replicas": 1, "resources": RESOURCES}},
        },
    }


@pytest.mark.parametrize("backend_config", ["local"], indirect=True)  # the panel's view, not a backend's
async def test_sweep_view_lists_trials_best_first_live_and_stops(lab: Any, api: Any, work_dir: Path) -> None:
    await api.ok("POST", "api/v1/template", sweep_template(work_dir, "trial", "1"))
    await api.ok("POST", "api/v1/sweep", {
        "name": "lr-grid", "template": "trial", "grid": {"lr": ["0.3", "0.1", "0.2"]}, "parallel": 2,
        "objective": {"metric": "loss", "goal": "min"}})
    async with lab.open() as page:
        panel = await lab.open_panel(page)
        await lab.widen_sidebar(page, 420)
        await panel.get_by_role("tab", name="Sweeps").click()
        await panel.locator(".jp-SubmarinePanel-item[data-sweep='lr-grid']").click()
        view = panel.locator(".jp-SubmarinePanel-sweep[data-sweep='lr-grid']")
        trials = view.get_by_role("table", name="Trials").locator("tbody tr")
        await expect(trials).to_have_count(3)
        # Live: it ends without a reload, best first by the objective.
        await expect(view.locator(".jp-SubmarinePanel-title .jp-SubmarinePanel-status")).to_have_text(
            "Succeeded", timeout=90_000)
        await expect(trials.locator("td:nth-child(2)")).to_have_text(["0.1", "0.2", "0.3"])
        await expect(trials.locator(".jp-SubmarinePanel-objective")).to_have_text(["0.2", "0.4", "0.6"])
        await expect(trials.first).to_have_class("jp-mod-best")
        await expect(trials.first).to_contain_text("best")
        await expect(view.get_by_role("button", name="Stop sweep")).to_have_count(0)
        await lab.dismiss_toasts(page)
        await lab.screenshot(page, "sweep")

        # A long sweep: Stop sweep ends its running and its waiting trials.
        await api.ok("POST", "api/v1/template", sweep_template(work_dir, "slow", "120"))
        await api.ok("POST", "api/v1/sweep", {
            "name": "slow-grid", "template": "slow", "grid": {"lr": ["1", "2", "3"]}, "parallel": 1})
        await view.get_by_role("button", name="← Sweeps").click()
        await panel.locator(".jp-SubmarinePanel-item[data-sweep='slow-grid']").click()
        slow = panel.locator(".jp-SubmarinePanel-sweep[data-sweep='slow-grid']")
        slow_trials = slow.get_by_role("table", name="Trials").locator("tbody tr")
        await expect(slow_trials.locator(".jp-SubmarinePanel-status")).to_have_text(
            ["Running", "Waiting", "Waiting"], timeout=60_000)
        await slow.get_by_role("button", name="Stop sweep").click()
        await expect(slow.locator(".jp-SubmarinePanel-title .jp-SubmarinePanel-status")).to_have_text("Stopped")
        await expect(slow_trials.locator(".jp-SubmarinePanel-status")).to_have_text(["Stopped"] * 3)
        assert (await api.ok("GET", "api/v1/sweep/slow-grid"))["status"] == "Stopped"
    assert lab.page_errors == []
