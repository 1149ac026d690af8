"""The JupyterLab panel in a real browser against the real in-process server.

Each test opens Lab from pytest-jupyter's server, on the local backend (real processes)
and on the Kubernetes backend (the test cluster), drives the Submarine panel with
Playwright and checks the outcome through the REST API. Screenshots land in
docs/screenshots/ (the README shows them).
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import time
from typing import Any
from urllib.parse import urlparse

import pytest

try:
    from playwright.async_api import expect
except ImportError:  # then the `chromium` fixture fails the tests (CI=true) or skips them
    expect = None

LIST_PATH_SUFFIX = "/api/v1/experiment"
PANEL = "#submarine-jupyter-panel"


@pytest.fixture
def submarine_config(backend_config: dict[str, Any]) -> dict[str, Any]:
    return backend_config


def spec(name: str, cmd: str) -> dict[str, Any]:
    return {
        "meta": {"name": name, "framework": "TensorFlow", "cmd": cmd},
        "spec": {"Worker": {"replicas": 1, "resources": "cpu=0.1,memory=64M"}},
    }


def spec_of_magic(line: str) -> dict[str, Any]:
    """What ``%submarine run`` submits for this line, by the magic's own parser and builder."""
    from submarine_jupyter.kernel.magics import build_parser, split_command
    from submarine_jupyter.kernel.spec_builder import build_spec, parse_pairs

    flags, cmd = split_command(line.removeprefix("%submarine "))
    args = build_parser().parse_args(shlex.split(flags))
    assert args.command == "run", line
    return build_spec(
        cmd=cmd, name=args.name, framework=args.framework, workers=args.workers, ps=args.ps,
        chief=args.chief, master=args.master, resources=args.resources, image=args.image,
        environment=args.environment, env=parse_pairs(args.env, "--env"), tags=args.tag,
        namespace=args.namespace,
    )


async def test_create_follow_resize_delete(lab: Any, api: Any) -> None:
    async with lab.open() as page:
        panel = await lab.open_panel(page)
        await lab.widen_sidebar(page, 400)
        await expect(panel.get_by_text("No experiments yet")).to_be_visible()

        # Create through the form.
        await panel.get_by_role("button", name="New", exact=True).click()
        form = panel.locator("form[aria-label='New experiment']")
        await form.locator("input[name=name]").fill("panel-demo")
        await form.locator("textarea[name=cmd]").fill("echo hello-from-panel; sleep 6")
        await form.get_by_label("Role 1 resources").fill("cpu=0.5,memory=128Mi")
        await form.locator("textarea[name=envVars]").fill("GREETING=hello")
        await lab.screenshot(page, "form")
        await form.get_by_role("button", name="Create", exact=True).click()

        detail = panel.locator(".jp-SubmarinePanel-detail")
        await expect(detail.locator(".jp-SubmarinePanel-title .jp-SubmarinePanel-name")).to_have_text("panel-demo")
        experiment_id = await detail.get_attribute("data-experiment-id")
        stored = await api.ok("GET", f"api/v1/experiment/{experiment_id}")
        assert stored["spec"]["meta"]["cmd"] == "echo hello-from-panel; sleep 6"
        assert stored["spec"]["meta"]["envVars"] == {"GREETING": "hello"}
        assert stored["spec"]["spec"] == {"Worker": {"replicas": 1, "resources": "cpu=0.5,memory=128Mi"}}

        # It appears in the list and goes live without a reload.
        await panel.get_by_role("button", name="← Experiments").click()
        item = panel.locator(f".jp-SubmarinePanel-item[data-experiment-id='{experiment_id}']")
        await expect(item.locator(".jp-SubmarinePanel-name")).to_have_text("panel-demo")
        await expect(item).to_have_attribute("data-status", "Running", timeout=30_000)

        # The log of worker 0 follows while it runs.
        await item.click()
        log = detail.locator(".jp-SubmarinePanel-logText")
        await expect(log).to_contain_text("hello-from-panel", timeout=20_000)
        await expect(detail.locator(".jp-SubmarinePanel-logState")).to_have_attribute("data-state", "following")

        # Resize: PATCH with the whole spec, Worker replicas 1 -> 2.
        role = detail.locator("tr[data-role=Worker]")
        await role.get_by_label("Worker replicas").fill("2")
        await role.get_by_role("button", name="Resize").click()
        await expect(role.locator(".jp-SubmarinePanel-replicaCount")).to_have_text("2")
        await expect(detail.locator("tr[data-replica$='-worker-1']")).to_be_visible(timeout=20_000)
        patched = await api.ok("GET", f"api/v1/experiment/{experiment_id}")
        assert patched["spec"]["spec"]["Worker"] == {"replicas": 2, "resources": "cpu=0.5,memory=128Mi"}
        assert patched["spec"]["meta"]["cmd"] == "echo hello-from-panel; sleep 6"

        status = detail.locator(".jp-SubmarinePanel-title .jp-SubmarinePanel-status")
        await expect(status).to_have_text("Succeeded", timeout=60_000)
        await expect(role.get_by_role("button", name="Resize")).to_be_disabled()

        # The log of the chosen replica (the new worker 1) holds the program's output.
        await detail.locator("tr[data-replica$='-worker-1']").click()
        await expect(log).to_contain_text("hello-from-panel", timeout=20_000)
        await expect(detail.locator(".jp-SubmarinePanel-logState")).to_have_attribute("data-state", "ended")
        await lab.screenshot(page, "detail")

        # "Copy as %submarine": the magic's own parser turns the line back into this spec.
        await detail.get_by_role("button", name="Copy as %submarine").click()
        magic = await lab.clipboard(page)
        assert magic.startswith("%submarine run --name panel-demo"), magic
        assert spec_of_magic(magic) == patched["spec"]

        # "Copy as curl": run as copied, it submits the same spec again.
        await detail.get_by_role("button", name="Copy as curl").click()
        curl = await lab.clipboard(page)
        process = await asyncio.create_subprocess_shell(
            curl, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "JUPYTER_TOKEN": lab.token},
        )
        out, err = await process.communicate()
        assert process.returncode == 0, err
        resubmitted = json.loads(out)["result"]
        assert resubmitted["spec"] == patched["spec"]
        await expect(page.locator(".Toastify__toast", has_text="Copied the curl command")).to_be_visible()

        # "Clone" fills the form from this spec under a new name.
        await detail.get_by_role("button", name="Clone").click()
        await expect(form.locator("input[name=name]")).to_have_value("panel-demo-copy")
        await expect(form.get_by_label("Role 1 replicas")).to_have_value("2")
        await expect(form.locator("textarea[name=envVars]")).to_have_value("GREETING=hello")
        await form.get_by_role("button", name="← Experiments").click()

        # More experiments, submitted elsewhere, show up live with their statuses.
        failed = await api.ok("POST", "api/v1/experiment", spec("bad-exit", "echo oops >&2; exit 3"))
        running = await api.ok("POST", "api/v1/experiment", spec("long-train", "sleep 60"))
        items = panel.locator(".jp-SubmarinePanel-item")
        await expect(items).to_have_count(4)
        await expect(panel.locator(f"[data-experiment-id='{resubmitted['experimentId']}']")).to_be_visible()
        failed_item = panel.locator(f"[data-experiment-id='{failed['experimentId']}']")
        await expect(failed_item).to_have_attribute("data-status", "Failed", timeout=30_000)
        running_item = panel.locator(f"[data-experiment-id='{running['experimentId']}']")
        await expect(running_item).to_have_attribute("data-status", "Running", timeout=30_000)
        await expect(page.locator(".Toastify__toast")).to_have_count(0, timeout=10_000)
        await lab.screenshot(page, "list")

        # Filters: by status, then by text.
        await panel.get_by_label("Status").select_option("Failed")
        await expect(items).to_have_count(1)
        await expect(items.first.locator(".jp-SubmarinePanel-name")).to_have_text("bad-exit")
        await panel.get_by_label("Status").select_option("")
        await panel.get_by_label("Filter experiments").fill("long")
        await expect(items).to_have_count(1)
        await expect(items.first.locator(".jp-SubmarinePanel-name")).to_have_text("long-train")
        await panel.get_by_label("Filter experiments").fill("")

        # Delete with confirmation; it disappears from the panel and from the server.
        await item.click()
        await detail.get_by_role("button", name="Delete", exact=True).click()
        await page.locator(".jp-Dialog").get_by_role("button", name="Delete").click()
        await expect(panel.locator(f"[data-experiment-id='{experiment_id}']")).to_have_count(0)
        await expect(items).to_have_count(3)
        code, body = await api.call("GET", f"api/v1/experiment/{experiment_id}")
        assert code == 404, body
    assert lab.page_errors == []


async def test_refused_form_shows_why(lab: Any, api: Any) -> None:
    async with lab.open() as page:
        # Straight to the form from the command palette.
        await lab.run_command(page, "New Submarine Experiment")
        form = page.locator(f"{PANEL} form[aria-label='New experiment']")
        await expect(form).to_be_visible()

        # Client-side: the server's rules, checked before anything is sent.
        await form.locator("input[name=name]").fill("Bad_Name")
        await form.get_by_label("Role 1 resources").fill("cpu=abc")
        await form.get_by_role("button", name="Create", exact=True).click()
        await expect(form.get_by_text("is not a DNS-1123 label")).to_be_visible()
        await expect(form.get_by_text("The command must not be empty")).to_be_visible()
        await expect(form.get_by_text("cpu=abc: 'abc' is not a quantity")).to_be_visible()
        assert await api.ok("GET", "api/v1/experiment") == []

        # Server-side: a stored environment that does not exist; the server's message is shown.
        await form.locator("input[name=name]").fill("needs-env")
        await form.locator("textarea[name=cmd]").fill("true")
        await form.get_by_label("Role 1 resources").fill("cpu=0.1")
        await form.get_by_label("Stored environment").check()
        await form.locator("input[name=environment]").fill("no-such-env")
        await form.get_by_role("button", name="Create", exact=True).click()
        await expect(form.get_by_role("alert")).to_have_text("Environment not found.")
        assert await api.ok("GET", "api/v1/experiment") == []

        # The panel follows Lab's theme (only Lab's CSS variables): the same form, dark.
        await lab.run_command(page, "Use Theme: JupyterLab Dark")
        await page.wait_for_selector("body[data-jp-theme-light='false']", state="attached")
        await expect(form.get_by_role("alert")).to_be_visible()
        await lab.screenshot(page, "form-refused-dark")

        # A dry run of a valid spec is accepted and creates nothing.
        await form.get_by_label("Image", exact=True).check()
        await form.locator("input[name=environment]").fill("python:3.11")
        await form.get_by_role("button", name="Check", exact=True).click()
        await expect(form.get_by_text("The server accepts this spec.")).to_be_visible()
        assert await api.ok("GET", "api/v1/experiment") == []
    assert lab.page_errors == []


@pytest.mark.parametrize("backend_config", ["local"], indirect=True)  # the panel's timing, not a backend's
async def test_polling_backs_off_when_idle_and_hidden(lab: Any) -> None:
    async with lab.open() as page:
        polls: list[float] = []

        def on_request(request: Any) -> None:
            if request.method == "GET" and urlparse(request.url).path.endswith(LIST_PATH_SUFFIX):
                polls.append(time.monotonic())

        page.on("request", on_request)
        opened = time.monotonic()
        await lab.open_panel(page)  # polls at once, then ever more slowly: nothing changes
        await asyncio.sleep(9)
        since_open = [t for t in polls if t >= opened]
        gaps = [b - a for a, b in zip(since_open, since_open[1:])]
        assert len(gaps) >= 3, gaps
        assert gaps[-1] >= 2 * gaps[0], gaps
        assert all(later >= earlier - 0.25 for earlier, later in zip(gaps, gaps[1:])), gaps

        # Hidden tab: the poll already scheduled may run, then nothing for a long while.
        await page.evaluate(
            """() => {
                Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
                document.dispatchEvent(new Event('visibilitychange'));
            }"""
        )
        hidden_at = len(polls)
        await asyncio.sleep(7)
        assert len(polls) - hidden_at <= 1, polls

        # Visible again: it polls at once.
        visible_at = len(polls)
        await page.evaluate(
            """() => {
                Object.defineProperty(document, 'visibilityState', {value: 'visible', configurable: true});
                document.dispatchEvent(new Event('visibilitychange'));
            }"""
        )
        await asyncio.sleep(1)
        assert len(polls) > visible_at, polls
    assert lab.page_errors == []
