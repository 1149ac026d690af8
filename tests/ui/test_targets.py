"""Several targets in the panel, in a real browser against the real in-process server.

The server has ``local`` and a Kubernetes target ``far`` whose API server is away (its
kubeconfig points at a closed port), so no cluster is needed: each row names its target,
the list filters by target on the server, the detail view names it, "Run on…" lists the
targets (the unreachable one disabled, with why), shows the plan of a dry run and re-runs
the experiment there, and the create form sets ``meta.target`` (Copy as %submarine says
``--target``). Screenshots land in docs/screenshots/.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

try:
    from playwright.async_api import expect
except ImportError:  # then the `chromium` fixture fails the tests (CI=true) or skips them
    expect = None


RESOURCES = "cpu=0.1,memory=64M"


def job(name: str, cmd: str) -> dict[str, Any]:
    return {"meta": {"name": name, "framework": "PyTorch", "cmd": cmd},
            "spec": {"Master": {"replicas": 1, "resources": RESOURCES}}}


def rerun_request(request: Any) -> bool:
    return request.method == "POST" and urlparse(request.url).path.endswith("/rerun")


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def submarine_config(tmp_path: Path) -> dict[str, Any]:
    kubeconfig = tmp_path / "far.kubeconfig"
    kubeconfig.write_text(json.dumps({  # JSON is YAML
        "apiVersion": "v1", "kind": "Config", "current-context": "far", "preferences": {},
        "clusters": [{"name": "far", "cluster": {"server": f"https://127.0.0.1:{closed_port()}",
                                                 "insecure-skip-tls-verify": True}}],
        "users": [{"name": "far", "user": {"token": "none"}}],
        "contexts": [{"name": "far", "context": {"cluster": "far", "user": "far"}}],
    }))
    return {"SubmarineJupyter": {"backend": "local", "targets": {"far": {
        "backend": "kubernetes", "kubeconfig": str(kubeconfig), "context": "far", "reconnect_max": 1.0,
        "default_image": "python:3.11-slim"}}}}


def list_request(request: Any) -> bool:
    return request.method == "GET" and urlparse(request.url).path.endswith("/api/v1/experiment")


def dry_run_request(request: Any) -> bool:
    return rerun_request(request) and "dryRun=true" in request.url


async def open_panel(lab: Any, page: Any) -> Any:
    panel = await lab.open_panel(page)
    await lab.widen_sidebar(page, 460)
    return panel


async def test_the_server_lists_the_unreachable_target(api: Any) -> None:
    targets = {t["name"]: t for t in await api.ok("GET", "api/v1/target")}
    assert set(targets) == {"local", "far"}
    assert targets["local"]["reachable"] and targets["local"]["default"]
    assert (targets["far"]["backend"], targets["far"]["reachable"]) == ("kubernetes", False)
    assert targets["far"]["message"], targets["far"]


async def test_rows_name_their_target_and_the_list_filters_by_target(lab: Any, api: Any) -> None:
    created = await api.ok("POST", "api/v1/experiment", job("here", "echo here"))
    experiment_id = created["experimentId"]
    assert created["target"] == "local"
    async with lab.open() as page:
        panel = await open_panel(lab, page)
        row = panel.locator(f".jp-SubmarinePanel-item[data-experiment-id='{experiment_id}']")
        await expect(row.locator(".jp-SubmarinePanel-target")).to_have_text("local")

        # The filter offers every target and asks the server for that target's list.
        target = panel.get_by_label("Target", exact=True)
        await expect(target.locator("option")).to_have_text(["All targets", "local", "far"])
        async with page.expect_request(list_request) as sent:
            await target.select_option("far")
        assert parse_qs(urlparse((await sent.value).url).query)["target"] == ["far"]
        await expect(panel.locator(".jp-SubmarinePanel-item")).to_have_count(0)
        await expect(panel.locator(".jp-SubmarinePanel-empty")).to_have_text("No experiment on far.")
        async with page.expect_request(list_request) as sent:
            await target.select_option("local")
        assert parse_qs(urlparse((await sent.value).url).query)["target"] == ["local"]
        await expect(panel.locator(".jp-SubmarinePanel-item")).to_have_count(1)
        await expect(row).to_be_visible()
        await lab.screenshot(page, "panel-targets-list")
        async with page.expect_request(list_request) as sent:
            await target.select_option("")
        assert "target" not in parse_qs(urlparse((await sent.value).url).query)
        await expect(row).to_be_visible()

        # The detail view names it too.
        await row.click()
        detail = panel.locator(f".jp-SubmarinePanel-detail[data-experiment-id='{experiment_id}']")
        await expect(detail.get_by_label("Target", exact=True)).to_have_text("local")
    assert lab.page_errors == []


async def test_run_on_plans_first_then_reruns_on_the_chosen_target(lab: Any, api: Any) -> None:
    first = await api.ok("POST", "api/v1/experiment", job("promote-me", "echo ran on $HOSTNAME"))
    first_id = first["experimentId"]
    assert (await api.wait(first_id, timeout=90))["status"] == "Succeeded"
    async with lab.open() as page:
        panel = await open_panel(lab, page)
        await panel.locator(f".jp-SubmarinePanel-item[data-experiment-id='{first_id}']").click()
        detail = panel.locator(f".jp-SubmarinePanel-detail[data-experiment-id='{first_id}']")
        await expect(detail).to_be_visible()

        # A refused dry run: the server's message shows in the dialog, nothing to submit.
        refusal = {"status": "ERROR", "code": 400, "success": False, "result": None,
                   "message": "meta.target: local cannot plan this", "attributes": {}}

        async def refuse(route: Any) -> None:
            await route.fulfill(status=400, content_type="application/json", body=json.dumps(refusal))

        def planning(url: str) -> bool:
            return urlparse(url).path.endswith("/rerun") and "dryRun=true" in url

        await page.route(planning, refuse)
        await detail.get_by_role("button", name="Run on…").click()
        dialog = page.locator(".jp-Dialog")
        await expect(dialog.get_by_role("alert")).to_have_text("meta.target: local cannot plan this")
        await expect(dialog.get_by_role("button", name="Submit")).to_be_disabled()
        await dialog.locator(".jp-Dialog-footer").get_by_role("button", name="Cancel").click()
        await expect(dialog).to_have_count(0)
        await page.unroute(planning, refuse)

        # The targets: the unreachable one disabled, with why; the dry run's plan of the chosen one.
        async with page.expect_request(dry_run_request) as planned:
            await detail.get_by_role("button", name="Run on…").click()
        assert json.loads((await planned.value).post_data) == {"meta": {"target": "local"}}
        targets = dialog.get_by_role("radiogroup", name="Targets")
        await expect(targets.locator("li")).to_have_count(2)
        far = targets.locator("li[data-target='far']")
        await expect(far.get_by_role("radio")).to_be_disabled()
        await expect(far).to_contain_text("Unreachable")
        await expect(targets.locator("li[data-target='local']").get_by_role("radio")).to_be_checked()
        await expect(dialog.locator(".jp-SubmarinePanel-planTitle")).to_have_text("Plan on local (local)")
        plan = dialog.locator(".jp-SubmarinePanel-plan")
        await expect(plan).to_contain_text("echo ran on $HOSTNAME")
        assert json.loads(await plan.inner_text())  # pretty JSON, as the server planned it
        await expect(dialog.get_by_role("button", name="Submit")).to_be_enabled()
        await lab.dismiss_toasts(page)
        await lab.screenshot(page, "panel-run-on-target")

        # Submit: the real re-run, on local, and its detail view.
        async with page.expect_request(lambda r: rerun_request(r) and "dryRun" not in r.url) as sent:
            await dialog.get_by_role("button", name="Submit").click()
        assert json.loads((await sent.value).post_data) == {"meta": {"target": "local"}}
        await expect(dialog).to_have_count(0)
        second_detail = panel.locator(".jp-SubmarinePanel-detail")
        await expect(second_detail.get_by_label("Re-run of")).to_contain_text(first_id)
        second_id = await second_detail.get_attribute("data-experiment-id")
        assert second_id and second_id != first_id
        second = await api.ok("GET", f"api/v1/experiment/{second_id}")
        assert (second["target"], second["rerunOf"]) == ("local", first_id)
        await expect(second_detail.get_by_label("Target", exact=True)).to_have_text("local")
    assert lab.page_errors == []


async def test_the_form_sets_the_target_and_the_magic_names_it(lab: Any, api: Any) -> None:
    async with lab.open() as page:
        panel = await open_panel(lab, page)
        await panel.get_by_role("button", name="New").click()
        form = panel.locator("form[aria-label='New experiment']")
        target = form.locator("select[name=target]")
        await expect(target.locator("option")).to_have_text(["Server default (local)", "local", "far (unreachable)"])
        await form.locator("input[name=name]").fill("targeted")
        await form.locator("textarea[name=cmd]").fill("echo hi")
        await form.get_by_label("Role 1 resources").fill(RESOURCES)
        await form.get_by_role("button", name="Copy as %submarine").click()
        await expect(lab.toast("Copied the %submarine command")).to_have_count(1)
        assert "--target" not in await lab.clipboard(page)

        await target.select_option("local")
        await lab.dismiss_toasts(page)
        await form.get_by_role("button", name="Copy as %submarine").click()
        await expect(lab.toast("Copied the %submarine command")).to_have_count(1)
        assert "--target local" in await lab.clipboard(page)

        await lab.dismiss_toasts(page)
        async with page.expect_request(
                lambda r: r.method == "POST" and urlparse(r.url).path.endswith("/api/v1/experiment")
                and "dryRun" not in r.url) as sent:
            await form.get_by_role("button", name="Create", exact=True).click()
        assert json.loads((await sent.value).post_data)["meta"]["target"] == "local"
        detail = panel.locator(".jp-SubmarinePanel-detail")
        await expect(detail.get_by_label("Target", exact=True)).to_have_text("local")
    assert lab.page_errors == []
