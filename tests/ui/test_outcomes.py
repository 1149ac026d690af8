"""How the panel tells the user how an experiment went, in a real browser against the real
server and real processes (local backend: the panel reads the API whatever the backend).

- The create form starts as ``%submarine run`` does (PyTorch, one Master) and warns, without
  refusing, about Workers without a Master; such a job indeed fails (``KeyError: 'RANK'``).
- Its status message, a traceback, keeps its line breaks and wraps between words.
- An experiment launched from this Lab (through the form, or seen unfinished by this page)
  is announced when it ends, by a notification whose button opens it in the panel; one
  already finished when the page loaded is not.
- A failed experiment opens with the log of the replica that failed, not master-0's.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

import pytest

try:
    from playwright.async_api import expect
except ImportError:  # then the `chromium` fixture fails the tests (CI=true) or skips them
    expect = None

PANEL = "#submarine-jupyter-panel"
RESOURCES = "cpu=0.25,memory=128Mi"
#: Long enough to wrap in the panel; then the script reads RANK as env:// initialisation does.
EXPLANATION = (
    "This training script reads RANK and WORLD_SIZE from its environment, which the operator "
    "sets only when the job has a Master replica, so without one it stops right here."
)
NEEDS_RANK = (
    f"{shlex.quote(sys.executable)} -c "
    + shlex.quote(f"import os, sys; print({EXPLANATION!r}, file=sys.stderr); os.environ['RANK']")
)

#: Words split across two lines of the element (a wrap inside a word), and the element's line count.
WRAP_CHECK = """el => {
    const split = [], tops = new Set();
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        for (const match of node.data.matchAll(/\\S+/g)) {
            const range = document.createRange();
            range.setStart(node, match.index);
            range.setEnd(node, match.index + match[0].length);
            const rects = Array.from(range.getClientRects()).filter(r => r.width > 0);
            if (new Set(rects.map(r => Math.round(r.top))).size > 1) split.push(match[0]);
            rects.forEach(r => tops.add(Math.round(r.top)));
        }
    }
    return {split, lines: tops.size};
}"""


@pytest.fixture
def submarine_config() -> dict[str, Any]:
    return {"SubmarineJupyter": {"backend": "local"}}


def job(name: str, cmd: str, roles: dict[str, int]) -> dict[str, Any]:
    return {
        "meta": {"name": name, "framework": "PyTorch", "cmd": cmd},
        "spec": {role: {"replicas": n, "resources": RESOURCES} for role, n in roles.items()},
    }


async def collapse_panel(page: Any) -> None:
    """Click the panel's sidebar icon again: the side panel closes."""
    await page.click('.jp-SideBar [data-id="submarine-jupyter-panel"]')
    await expect(page.locator(PANEL)).to_be_hidden()


async def test_masterless_pytorch_is_warned_fails_and_is_announced(lab: Any, api: Any) -> None:
    async with lab.open() as page:
        panel = await lab.open_panel(page)
        await lab.widen_sidebar(page, 480)
        await panel.get_by_role("button", name="New", exact=True).click()
        form = panel.locator("form[aria-label='New experiment']")

        # As `%submarine run` would: PyTorch, one Master.
        await expect(form.locator("select[name=framework]")).to_have_value("PyTorch")
        await expect(form.get_by_label("Role 1", exact=True)).to_have_value("Master")
        await expect(form.get_by_label("Role 1 replicas")).to_have_value("1")
        warning = form.get_by_role("note")
        await expect(warning).to_have_count(0)

        # Workers without a Master: a warning, not a refusal.
        await form.get_by_label("Role 1", exact=True).select_option("Worker")
        await expect(warning).to_contain_text("Workers without a Master")
        await expect(warning).to_contain_text("KeyError: 'RANK'")
        await form.locator("input[name=name]").fill("no-master")
        await form.locator("textarea[name=cmd]").fill(NEEDS_RANK)
        await form.get_by_label("Role 1 resources").fill(RESOURCES)
        await expect(form.locator(".jp-SubmarinePanel-fieldError")).to_have_count(0)
        await lab.screenshot(page, "form-no-master-warning")
        await form.get_by_role("button", name="Create", exact=True).click()

        detail = panel.locator(".jp-SubmarinePanel-detail")
        await expect(detail.locator(".jp-SubmarinePanel-title .jp-SubmarinePanel-name")).to_have_text("no-master")
        experiment_id = await detail.get_attribute("data-experiment-id")
        status = detail.locator(".jp-SubmarinePanel-title .jp-SubmarinePanel-status")
        await expect(status).to_have_text("Failed", timeout=30_000)
        failed = await api.ok("GET", f"api/v1/experiment/{experiment_id}")
        assert failed["spec"]["spec"] == {"Worker": {"replicas": 1, "resources": RESOURCES}}
        text = failed["statusMessage"]
        assert "KeyError: 'RANK'" in text and "Traceback (most recent call last):" in text, text

        # The traceback keeps its line breaks, and wraps between words, never inside one.
        shown = detail.get_by_label("Status message")
        await expect(shown).to_contain_text("KeyError: 'RANK'")
        inner = await shown.evaluate("el => el.innerText")
        assert [line.rstrip() for line in inner.split("\n")] == [line.rstrip() for line in text.split("\n")]
        wrap = await shown.evaluate(WRAP_CHECK)
        assert wrap["split"] == [], wrap
        assert wrap["lines"] > len(text.split("\n")), (wrap, text)  # the explanation wrapped
        await lab.settled(lab.toast("Experiment no-master failed"))
        await lab.screenshot(page, "failed-message")

        # Launched from the form: its end is announced; the button opens it in the panel.
        await panel.get_by_role("button", name="← Experiments").click()
        toast = lab.toast("Experiment no-master failed")
        await expect(toast).to_be_visible(timeout=15_000)
        await expect(toast).to_contain_text("Experiment no-master failed: replica worker-0 failed with exit code 1")
        await collapse_panel(page)
        await toast.get_by_role("button", name="Open").click()
        await expect(page.locator(PANEL)).to_be_visible()
        await expect(detail).to_have_attribute("data-experiment-id", experiment_id)
    assert lab.page_errors == []


async def test_the_end_of_an_experiment_seen_running_is_announced(lab: Any, api: Any) -> None:
    before = await api.ok("POST", "api/v1/experiment", job("done-before", "echo done", {"Master": 1}))
    await api.wait(before["experimentId"])
    async with lab.open() as page:
        panel = await lab.open_panel(page)
        await lab.widen_sidebar(page, 400)
        # Submitted elsewhere (a notebook's %submarine, curl), seen running by this Lab.
        created = await api.ok("POST", "api/v1/experiment", job("train-to-tell", "echo training; sleep 4", {"Master": 1}))
        item = panel.locator(f".jp-SubmarinePanel-item[data-experiment-id='{created['experimentId']}']")
        await expect(item).to_have_attribute("data-status", "Running", timeout=20_000)
        await collapse_panel(page)  # polling slows down out of sight, but not past the end of what it awaits

        toast = lab.toast("Experiment train-to-tell succeeded")
        await expect(toast).to_be_visible(timeout=20_000)
        await lab.settled(toast)
        await lab.screenshot(page, "notification")
        await toast.get_by_role("button", name="Open").click()
        await expect(page.locator(PANEL)).to_be_visible()
        detail = panel.locator(".jp-SubmarinePanel-detail")
        await expect(detail).to_have_attribute("data-experiment-id", created["experimentId"])
        await expect(detail.locator(".jp-SubmarinePanel-title .jp-SubmarinePanel-status")).to_have_text("Succeeded")
        # Finished before this page loaded: nothing to tell.
        await expect(lab.toast("done-before")).to_have_count(0)
    assert lab.page_errors == []


async def test_a_failed_experiment_opens_with_the_failed_replicas_log(lab: Any, api: Any) -> None:
    cmd = 'echo "rank $RANK up"; if [ "$RANK" = 2 ]; then echo "boom from rank 2" >&2; exit 3; fi; sleep 60'
    created = await api.ok("POST", "api/v1/experiment", job("one-fails", cmd, {"Master": 1, "Worker": 2}))
    experiment_id = created["experimentId"]
    failed = await api.wait(experiment_id)
    states = {r["name"].rsplit("-", 2)[-2] + "-" + str(r["index"]): r["state"] for r in failed["replicas"]}
    assert failed["status"] == "Failed" and states["worker-1"] == "Failed", failed
    async with lab.open() as page:
        panel = await lab.open_panel(page)
        await lab.widen_sidebar(page, 400)
        await panel.locator(f".jp-SubmarinePanel-item[data-experiment-id='{experiment_id}']").click()
        detail = panel.locator(".jp-SubmarinePanel-detail")
        await expect(detail.locator(".jp-SubmarinePanel-logTitle")).to_have_text("Log of worker-1")
        await expect(detail.locator("tr.jp-mod-selected")).to_have_attribute("data-replica", f"{experiment_id.replace('_', '-')}-worker-1")
        log = detail.get_by_role("log")
        await expect(log).to_contain_text("boom from rank 2", timeout=15_000)
        await expect(log).to_contain_text("rank 2 up")
        # The others stay a click away.
        await detail.locator("tr[data-replica$='-master-0']").click()
        await expect(detail.locator(".jp-SubmarinePanel-logTitle")).to_have_text("Log of master-0")
        await expect(log).to_contain_text("rank 0 up", timeout=15_000)
    assert lab.page_errors == []
