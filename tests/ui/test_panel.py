"""The JupyterLab panel in a real browser against the real in-process server.

Each test opens Lab from pytest-jupyter's server, on the local backend (real processes)
and on the Kubernetes backend (the test cluster), drives the Submarine panel with
Playwright and checks the outcome through the REST API. Screenshots land in
docs/screenshots/ (the README shows them).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shlex
import time
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.conftest import ALL_BACKENDS, experiment

try:
    from playwright.async_api import expect
except ImportError:  # then the `chromium` fixture fails the tests (CI=true) or skips them
    expect = None

LIST_PATH_SUFFIX = "/api/v1/experiment"
PANEL = "#submarine-jupyter-panel"
RESOURCES = "cpu=0.25,memory=128Mi"


@pytest.fixture
def submarine_config(backend_config: dict[str, Any]) -> dict[str, Any]:
    return backend_config


BACKENDS = ALL_BACKENDS  # each test on local, the training-operator and Trainer v2


def spec(name: str, cmd: str) -> dict[str, Any]:
    return {
        "meta": {"name": name, "framework": "PyTorch", "cmd": cmd},
        "spec": {"Master": {"replicas": 1, "resources": "cpu=0.1,memory=64M"}},
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


@pytest.mark.parametrize("backend_config", ["local", "kubernetes"], indirect=True)  # resizes a running job, which Trainer v2 refuses (409)
async def test_create_follow_resize_delete(lab: Any, api: Any) -> None:
    async with lab.open() as page:
        panel = await lab.open_panel(page)
        await lab.widen_sidebar(page, 400)
        await expect(panel.get_by_text("No experiments yet")).to_be_visible()

        # Create through the form: PyTorch with a Master by default (as %submarine run), plus a Worker.
        await panel.get_by_role("button", name="New", exact=True).click()
        form = panel.locator("form[aria-label='New experiment']")
        await expect(form.locator("select[name=framework]")).to_have_value("PyTorch")
        await expect(form.get_by_label("Role 1", exact=True)).to_have_value("Master")
        await form.locator("input[name=name]").fill("panel-demo")
        await form.locator("textarea[name=cmd]").fill("echo hello-from-panel; sleep 6")
        await form.get_by_label("Role 1 resources").fill(RESOURCES)
        await form.get_by_role("button", name="Add role").click()
        await expect(form.get_by_label("Role 2", exact=True)).to_have_value("Worker")
        await form.get_by_label("Role 2 resources").fill(RESOURCES)
        await form.locator("textarea[name=envVars]").fill("GREETING=hello")
        await expect(form.get_by_role("note")).to_have_count(0)  # a Master: no warning
        await lab.screenshot(page, "form")
        await form.get_by_role("button", name="Create", exact=True).click()

        detail = panel.locator(".jp-SubmarinePanel-detail")
        await expect(detail.locator(".jp-SubmarinePanel-title .jp-SubmarinePanel-name")).to_have_text("panel-demo")
        experiment_id = await detail.get_attribute("data-experiment-id")
        stored = await api.ok("GET", f"api/v1/experiment/{experiment_id}")
        assert stored["spec"]["meta"]["cmd"] == "echo hello-from-panel; sleep 6"
        assert stored["spec"]["meta"]["framework"] == "PyTorch"
        assert stored["spec"]["meta"]["envVars"] == {"GREETING": "hello"}
        assert stored["spec"]["spec"] == {
            "Master": {"replicas": 1, "resources": RESOURCES}, "Worker": {"replicas": 1, "resources": RESOURCES},
        }

        # It appears in the list and goes live without a reload.
        await panel.get_by_role("button", name="← Experiments").click()
        item = panel.locator(f".jp-SubmarinePanel-item[data-experiment-id='{experiment_id}']")
        await expect(item.locator(".jp-SubmarinePanel-name")).to_have_text("panel-demo")
        await expect(item).to_have_attribute("data-status", "Running", timeout=30_000)

        # The log of the first replica (master 0) follows while it runs.
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
        assert patched["spec"]["spec"]["Worker"] == {"replicas": 2, "resources": RESOURCES}
        assert patched["spec"]["meta"]["cmd"] == "echo hello-from-panel; sleep 6"

        status = detail.locator(".jp-SubmarinePanel-title .jp-SubmarinePanel-status")
        await expect(status).to_have_text("Succeeded", timeout=60_000)
        await expect(role.get_by_role("button", name="Resize")).to_be_disabled()

        # The log of the chosen replica (the new worker 1) holds the program's output.
        await detail.locator("tr[data-replica$='-worker-1']").click()
        await expect(log).to_contain_text("hello-from-panel", timeout=20_000)
        await expect(detail.locator(".jp-SubmarinePanel-logState")).to_have_attribute("data-state", "ended")
        await lab.screenshot(page, "detail")

        # The read-only spec is the server's own YAML of the stored spec, read again after the resize.
        yaml_view = detail.get_by_label("Spec as YAML")
        await expect(yaml_view).to_contain_text("replicas: 2")
        server_yaml = await api.ok("GET", f"api/v1/experiment/{experiment_id}/spec", params={"format": "yaml"})
        assert "name: panel-demo" in server_yaml and "replicas: 2" in server_yaml, server_yaml
        assert await yaml_view.text_content() == server_yaml

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
        await expect(form.get_by_label("Role 2 replicas")).to_have_value("2")
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
        # The resubmitted copy ends: this Lab saw it run, so its end is announced (as panel-demo's
        # was; see tests/ui/test_outcomes.py). The toasts are put away for the list's screenshot.
        resubmitted_item = panel.locator(f"[data-experiment-id='{resubmitted['experimentId']}']")
        await expect(resubmitted_item).to_have_attribute("data-status", "Succeeded", timeout=30_000)
        await expect(lab.toast("Experiment panel-demo succeeded").first).to_be_visible()
        await page.wait_for_timeout(500)
        await lab.dismiss_toasts(page)
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


@pytest.mark.parametrize("backend_config", ["trainer"], indirect=True)  # what Trainer v2 refuses
async def test_on_trainer_v2_resize_says_why_it_cannot_and_changes_nothing(lab: Any, api: Any) -> None:
    """Kubeflow Trainer builds a running TrainJob's nodes once: the panel shows the server's 409,
    which points to a re-run, and the experiment keeps its spec and replicas."""
    created = await api.ok("POST", "api/v1/experiment", experiment(
        "sleep 30", name="v2-resize", framework="PyTorch", roles={"Master": 1, "Worker": 1}))
    experiment_id = created["experimentId"]
    await api.wait(experiment_id, ("Running",), timeout=60)
    async with lab.open() as page:
        detail = await lab.open_experiment(page, experiment_id)
        role = detail.locator("tr[data-role=Worker]")
        await role.get_by_label("Worker replicas").fill("2")
        await role.get_by_role("button", name="Resize").click()
        alert = detail.get_by_role("alert")
        await expect(alert).to_contain_text(f"TrainJob {experiment_id.replace('_', '-')} cannot change while it runs")
        await expect(alert).to_contain_text(f"POST /api/v1/experiment/{experiment_id}/rerun")
        await expect(role.locator(".jp-SubmarinePanel-replicaCount")).to_have_text("1")
        await lab.screenshot(page, "resize-refused-trainer")
    stored = await api.ok("GET", f"api/v1/experiment/{experiment_id}")
    assert stored["spec"]["spec"]["Worker"]["replicas"] == 1 and stored["status"] == "Running"
    assert lab.page_errors == []


def field_error(form: Any, field: str) -> Any:
    """The error shown under one of the form's fields (``name``, ``cmd``, ``environment`` ...)."""
    return form.locator(f"[data-field={field}] > .jp-SubmarinePanel-fieldError")


def role_error(form: Any, index: int, part: str) -> Any:
    """The error shown under role row ``index`` for its ``role``, ``replicas`` or ``resources``."""
    return form.locator(f".jp-SubmarinePanel-roleRow[data-role-index='{index}'] "
                        f".jp-SubmarinePanel-fieldError[data-field={part}]")


def dry_run_answer(response: Any) -> bool:
    return response.request.method == "POST" and "dryRun=true" in response.url


async def test_refused_form_shows_why(lab: Any, api: Any) -> None:
    async with lab.open() as page:
        # Straight to the form from the command palette.
        await lab.run_command(page, "New Submarine Experiment")
        form = page.locator(f"{PANEL} form[aria-label='New experiment']")
        await expect(form).to_be_visible()

        # As the user types, the server checks the draft (a debounced ?dryRun=true) and each of
        # its field errors appears, in the server's words, under the field it names.
        async with page.expect_response(dry_run_answer) as answer:
            await form.locator("input[name=name]").fill("Bad_Name")
        dry_run = await (await answer.value).json()
        assert dry_run["code"] == 400, dry_run
        problems = {e["field"]: e["message"] for e in dry_run["attributes"]["fieldErrors"]}
        assert problems["meta.name"].startswith("'Bad_Name' is not a DNS-1123 label"), problems
        await expect(field_error(form, "name")).to_have_text(problems["meta.name"])
        # The command, not yet touched, keeps quiet until Create.
        assert problems["meta.cmd"] == "must not be empty", problems
        await expect(field_error(form, "cmd")).to_have_count(0)

        await form.get_by_label("Role 1 resources").fill("cpu=abc")
        await expect(role_error(form, 0, "resources")).to_have_text(
            "cpu=abc: 'abc' is not a quantity (e.g. 2, 500m, 1024M, 2Gi)"
        )
        # Create: every problem shows, the untouched command's too, and nothing is created.
        await form.get_by_role("button", name="Create", exact=True).click()
        await expect(field_error(form, "cmd")).to_have_text("must not be empty")
        await expect(field_error(form, "name")).to_contain_text("is not a DNS-1123 label")
        await expect(role_error(form, 0, "resources")).to_contain_text("'abc' is not a quantity")
        await expect(form.get_by_text("Fix the 3 problems marked above.")).to_be_visible()
        await lab.screenshot(page, "form-field-errors")
        assert await api.ok("GET", "api/v1/experiment") == []

        # A rule only the server had right (the panel's old copy of it let this through).
        await form.get_by_label("Role 1 resources").fill("cpu=0.1,memory=1.0000000001Gi")
        await expect(role_error(form, 0, "resources")).to_have_text(
            "memory=1.0000000001Gi is not a whole number of bytes"
        )

        # Fixing a field clears its error; replicas and roles are the server's to judge too.
        await form.locator("input[name=name]").fill("needs-env")
        await form.locator("textarea[name=cmd]").fill("true")
        await form.get_by_label("Role 1 resources").fill("cpu=0.1")
        await expect(form.locator(".jp-SubmarinePanel-fieldError")).to_have_count(0)
        await form.locator("select[name=framework]").select_option("TensorFlow")  # Role 1 stays the Master
        await form.get_by_role("button", name="Add role").click()
        await expect(form.get_by_label("Role 2", exact=True)).to_have_value("Chief")
        await form.get_by_label("Role 2 replicas").fill("0")
        await expect(role_error(form, 1, "replicas")).to_have_text("must be at least 1, got 0")
        await form.get_by_label("Role 2 replicas").fill("1")
        await form.locator("select[name=framework]").select_option("PyTorch")
        await expect(role_error(form, 1, "role")).to_have_text("PyTorch has no role 'Chief' (roles: Master, Worker)")
        await expect(role_error(form, 0, "role")).to_have_count(0)
        await form.get_by_label("Remove role 2").click()
        await expect(form.locator(".jp-SubmarinePanel-fieldError")).to_have_count(0)

        # KEY=VALUE lines are the form's own parsing: the server never sees them as typed.
        await form.locator("textarea[name=envVars]").fill("oops")
        await expect(field_error(form, "envVars")).to_have_text("'oops' is not KEY=VALUE")
        await form.locator("textarea[name=envVars]").fill("")
        await expect(field_error(form, "envVars")).to_have_count(0)

        # An environment kind without a value: the server says what it needs, under the field.
        await form.get_by_label("Image", exact=True).check()
        await expect(field_error(form, "environment")).to_have_text(
            "give either 'name' (a stored environment) or 'image'"
        )

        # Server-side: a stored environment that does not exist; the server's message is shown.
        await form.get_by_label("Stored environment").check()
        await form.locator("input[name=environment]").fill("no-such-env")
        await form.get_by_role("button", name="Create", exact=True).click()
        await expect(form.get_by_role("alert")).to_have_text("Environment not found.")
        await expect(form.locator(".jp-SubmarinePanel-fieldError")).to_have_count(0)
        assert await api.ok("GET", "api/v1/experiment") == []

        # The panel follows Lab's theme (only Lab's CSS variables): the same form, dark.
        await lab.run_command(page, "Use Theme: JupyterLab Dark")
        await page.wait_for_selector("body[data-jp-theme-light='false']", state="attached")
        await page.wait_for_selector("#jupyterlab-splash", state="detached")  # Lab's overlay while it switches
        await expect(form.get_by_role("alert")).to_be_visible()
        await lab.screenshot(page, "form-refused-dark")

        # A dry run of a valid spec is accepted and creates nothing.
        await form.get_by_label("Image", exact=True).check()
        await form.locator("input[name=environment]").fill("python:3.11")
        await form.get_by_role("button", name="Check", exact=True).click()
        await expect(form.get_by_text("The server accepts this spec.")).to_be_visible()
        await expect(form.get_by_role("alert")).to_have_count(0)
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
        gaps = [b - a for a, b in itertools.pairwise(since_open)]
        assert len(gaps) >= 3, gaps
        assert gaps[-1] >= 2 * gaps[0], gaps
        assert all(later >= earlier - 0.25 for earlier, later in itertools.pairwise(gaps)), gaps

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
