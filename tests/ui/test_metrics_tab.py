"""The panel's metrics: the detail view's Metrics tab and the compare view, in a real
browser against the real server and real training processes.

A PyTorch job whose Master and Worker print ``step=i loss=... acc=...`` lines runs while
the Metrics tab is open: a chart per metric appears with a line per replica, grows as the
replicas print (reading only points newer than the last answer's cursor), and ends holding
exactly the API's series; the latest values are the API's. Two runs with different
"learning rates" are then ticked in the list and compared: the loss of each run's Master
overlaid, and a table with their status, duration and last/min/max.
"""

from __future__ import annotations

import itertools
import shlex
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

try:
    from playwright.async_api import expect
except ImportError:  # then the `chromium` fixture fails the tests (CI=true) or skips them
    expect = None

PANEL = "#submarine-jupyter-panel"
RESOURCES = "cpu=0.25,memory=128Mi"
#: Prints one line of metrics per step; each rank's loss decays at its own rate.
TRAIN = """\
import os, sys, time
rank = int(os.environ.get("RANK", "0"))
steps, lr, pause = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
for step in range(steps):
    loss = round(2.0 / (1 + lr * (rank + 1) * step), 4)
    print(f"step={step} loss={loss} acc={round(1 - loss / 2, 4)}", flush=True)
    time.sleep(pause)
"""


@pytest.fixture
def submarine_config() -> dict[str, Any]:
    # The panel reads the API whatever the backend; the backends' metrics are tested server-side.
    return {"SubmarineJupyter": {"backend": "local"}}


@pytest.fixture
def train_script(work_dir: Path) -> str:
    (work_dir / "train.py").write_text(TRAIN)
    return f"{shlex.quote(sys.executable)} train.py"


def job(name: str, cmd: str, workers: int = 1) -> dict[str, Any]:
    roles: dict[str, Any] = {"Master": {"replicas": 1, "resources": RESOURCES}}
    if workers:
        roles["Worker"] = {"replicas": workers, "resources": RESOURCES}
    return {"meta": {"name": name, "framework": "PyTorch", "cmd": cmd}, "spec": roles}


async def chart_lines(section: Any) -> list[dict[str, Any]]:
    """What a chart in the page holds for uPlot to draw, per line."""
    return await section.locator(".jp-SubmarineChart").evaluate("el => el.lineChart.drawn()")


def short(experiment_id: str, pod: str) -> str:
    return pod.removeprefix(experiment_id.replace("_", "-") + "-")


async def test_metrics_tab_draws_the_apis_series_live(lab: Any, api: Any, train_script: str) -> None:
    async with lab.open() as page:
        answers: list[tuple[dict[str, list[str]], dict[str, Any]]] = []

        async def on_response(response: Any) -> None:
            if urlparse(response.url).path.endswith("/metrics") and response.ok:
                answers.append((parse_qs(urlparse(response.url).query), (await response.json())["result"]))

        page.on("response", on_response)
        panel = await lab.open_panel(page)
        await lab.widen_sidebar(page, 480)
        created = await api.ok("POST", "api/v1/experiment", job("curves", f"{train_script} 40 0.5 0.25"))
        experiment_id = created["experimentId"]
        await panel.locator(f".jp-SubmarinePanel-item[data-experiment-id='{experiment_id}']").click()
        detail = panel.locator(".jp-SubmarinePanel-detail")
        await detail.get_by_role("tab", name="Metrics").click()

        # A chart per metric, a line per replica, growing while the replicas print.
        loss = detail.locator(".jp-SubmarinePanel-metric[data-metric=loss]")
        await expect(loss.locator("canvas")).to_have_count(1, timeout=30_000)
        await expect(detail.locator(".jp-SubmarinePanel-metric")).to_have_count(2)  # acc, loss
        await expect(detail.locator(".jp-SubmarinePanel-metric").first).to_have_attribute("data-metric", "acc")
        chart = loss.locator(".jp-SubmarineChart")
        await expect(chart).not_to_have_attribute("data-points", "0")
        early = int(await chart.get_attribute("data-points"))
        await page.wait_for_timeout(2500)
        later = int(await chart.get_attribute("data-points"))
        assert 0 < early < later < 80, (early, later)
        status = detail.locator(".jp-SubmarinePanel-title .jp-SubmarinePanel-status")
        assert await status.text_content() == "Running"

        # Ended: the chart holds exactly the API's series, point for point.
        await expect(status).to_have_text("Succeeded", timeout=60_000)
        await expect(chart).to_have_attribute("data-points", "80", timeout=15_000)
        full = await api.ok("GET", f"api/v1/experiment/{experiment_id}/metrics")
        by_replica = {short(experiment_id, s["replica"]): s for s in full["series"] if s["name"] == "loss"}
        assert sorted(by_replica) == ["master-0", "worker-0"]
        drawn = await chart_lines(loss)
        assert [line["label"] for line in drawn] == ["master-0", "worker-0"]
        for line in drawn:
            series = by_replica[line["label"]]
            assert (line["steps"], line["values"]) == (series["steps"], series["values"])
            assert series["steps"] == list(range(40)) and not series["downsampled"]

        # The latest values are the API's.
        rows = loss.locator(".jp-SubmarinePanel-latest tbody tr")
        await expect(rows).to_have_count(2)
        master_last = by_replica["master-0"]["last"]
        await expect(rows.first.locator(".jp-SubmarinePanel-last")).to_have_text(f"{master_last:.4g}")
        await expect(loss.locator(".jp-SubmarinePanel-downsampled")).to_have_count(0)
        await loss.scroll_into_view_if_needed()
        await expect(lab.toast("Experiment curves succeeded")).to_be_visible()  # it ran while this Lab looked
        await lab.dismiss_toasts(page)
        await lab.screenshot(page, "metrics-tab")

        # Theme-aware: in Lab's dark theme the chart is redrawn in its colours.
        light = await chart.evaluate("el => el.lineChart.theme")
        await lab.run_command(page, "Use Theme: JupyterLab Dark")
        await page.wait_for_selector("body[data-jp-theme-light='false']", state="attached")
        await page.wait_for_selector("#jupyterlab-splash", state="detached")
        dark_text = await page.evaluate(
            "getComputedStyle(document.body).getPropertyValue('--jp-ui-font-color1').trim()"
        )
        await page.wait_for_function(
            "([el, text]) => el.lineChart.theme.text === text", arg=[await chart.element_handle(), dark_text]
        )
        dark = await chart.evaluate("el => el.lineChart.theme")
        assert dark["light"] is False and light["light"] is True
        assert dark["text"] == dark_text != light["text"] and dark["grid"] != light["grid"]
        assert await chart_lines(loss) == drawn
        await lab.screenshot(page, "metrics-tab-dark")
        # Lab keeps the theme in its user settings, which the next tests' servers share.
        await lab.run_command(page, "Use Theme: JupyterLab Light")
        await page.wait_for_selector("body[data-jp-theme-light='true']", state="attached")
        await page.wait_for_function(
            "([el, text]) => el.lineChart.theme.text === text", arg=[await chart.element_handle(), light["text"]]
        )

    # Incremental: the first read takes everything, each later one passes the previous cursor
    # back as `since` and gets only newer points; together they are the series, once each.
    assert answers and "since" not in answers[0][0], answers[0]
    for (_, before), (query, _after) in itertools.pairwise(answers):
        assert query["since"] == [str(before["cursor"])], (query, before["cursor"])
    received: dict[tuple[str, str], list[float]] = {}
    for _, answer in answers:
        for series in answer["series"]:
            received.setdefault((series["name"], series["replica"]), []).extend(series["steps"])
    for series in full["series"]:
        assert received[(series["name"], series["replica"])] == series["steps"]
    assert lab.page_errors == []


async def test_compare_view_overlays_runs(lab: Any, api: Any, train_script: str) -> None:
    fast = await api.ok("POST", "api/v1/experiment", job("lr-fast", f"{train_script} 20 1.0 0.05", workers=0))
    slow = await api.ok("POST", "api/v1/experiment", job("lr-slow", f"{train_script} 30 0.1 0.05", workers=0))
    runs = {"lr-fast": fast["experimentId"], "lr-slow": slow["experimentId"]}
    for experiment_id in runs.values():
        await api.wait(experiment_id)
    series = {}
    for name, experiment_id in runs.items():
        answer = await api.complete_metrics(experiment_id, name="loss")
        (series[name],) = answer["series"]

    async with lab.open() as page:
        panel = await lab.open_panel(page)
        await lab.widen_sidebar(page, 480)
        compare = panel.get_by_role("button", name="Compare (1)")
        await panel.get_by_label("Compare lr-fast").check()
        await expect(compare).to_be_disabled()
        await panel.get_by_label("Compare lr-slow").check()
        await panel.get_by_role("button", name="Compare (2)").click()

        view = panel.locator(".jp-SubmarinePanel-compare")
        await expect(view.get_by_label("Metric")).to_have_value("loss")
        chart = view.locator(".jp-SubmarineChart")
        await expect(chart).to_have_attribute("data-points", "50", timeout=15_000)
        drawn = await chart.evaluate("el => el.lineChart.drawn()")
        assert [line["label"] for line in drawn] == ["lr-fast", "lr-slow"]
        for line in drawn:
            assert (line["steps"], line["values"]) == (series[line["label"]]["steps"], series[line["label"]]["values"])

        # The table: name, status, duration, and the metric's last / min / max per run.
        for name, experiment_id in runs.items():
            row = view.locator(f"tr[data-experiment-id='{experiment_id}']")
            cells = await row.locator("td").all_text_contents()
            s = series[name]
            assert cells[0] == name and cells[1] == "Succeeded" and cells[2].endswith("s"), cells
            assert cells[3] == "master-0", cells
            assert cells[4:] == [f"{s['last']:.4g}", f"{s['min']:.4g}", f"{s['max']:.4g}"], cells
        await lab.screenshot(page, "compare")

        # Another metric, overlaid the same way.
        await view.get_by_label("Metric").select_option("acc")
        await expect(chart.locator(".u-legend")).to_contain_text("lr-slow")
        await expect(chart).to_have_attribute("data-points", "50")
    assert lab.page_errors == []


async def test_a_long_series_is_drawn_downsampled_and_says_so(lab: Any, api: Any, train_script: str) -> None:
    created = await api.ok("POST", "api/v1/experiment", job("long-run", f"{train_script} 1500 0.01 0", workers=0))
    experiment_id = created["experimentId"]
    await api.wait(experiment_id)
    answer = await api.complete_metrics(experiment_id, name="loss")
    (series,) = answer["series"]
    assert series["downsampled"] and series["count"] == 1500 and len(series["steps"]) < 1500, series["count"]
    async with lab.open() as page:
        panel = await lab.open_panel(page)
        await lab.widen_sidebar(page, 480)
        await panel.locator(f".jp-SubmarinePanel-item[data-experiment-id='{experiment_id}']").click()
        await panel.get_by_role("tab", name="Metrics").click()
        loss = panel.locator(".jp-SubmarinePanel-metric[data-metric=loss]")
        await expect(loss.locator(".jp-SubmarinePanel-downsampled")).to_have_text(
            f"Downsampled: {len(series['steps'])} of 1500 points drawn (per bucket its lowest and highest "
            "point, plus the first and the newest)."
        )
        (line,) = await chart_lines(loss)
        assert (line["steps"], line["values"]) == (series["steps"], series["values"])
        assert line["steps"][-1] == 1499  # the newest point is kept
    assert lab.page_errors == []
