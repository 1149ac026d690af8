"""The chart widget's front end in a real notebook: the kernel's ``MetricsChart`` drawn by
the panel's bundle (uPlot), live points by custom messages, and the saved widget state
shown again after the kernel is gone.

A notebook in the server's root runs in Lab: a cell shows a ``MetricsChart`` with three
points, the next appends points (and a second series) by message; the chart holds and
draws exactly those. The notebook is saved (the package's settings override turns on the
widget manager's ``saveState``), every kernel is shut down, and the notebook opened again
in a new browser shows the same points from the saved state, not "model not found".
With the widget manager disabled, the panel still works (its registry is optional).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest

try:
    from playwright.async_api import expect
except ImportError:  # then the `chromium` fixture fails the tests (CI=true) or skips them
    expect = None

from submarine_jupyter.kernel.charts import MODULE

NOTEBOOK = "chart.ipynb"
CHART = ".jp-SubmarineChartWidget"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
FIRST = {"key": "a", "label": "lr=0.1", "steps": [0, 1, 2], "values": [1.0, 0.6, 0.45]}
APPENDED = [
    {"key": "a", "label": "lr=0.1", "steps": [3, 4], "values": [0.3, 0.22]},
    {"key": "b", "label": "lr=0.01", "steps": [0, 1, 2, 3], "values": [1.0, 0.9, 0.8, 0.72]},
]
DRAWN = [
    {"key": "a", "label": "lr=0.1", "steps": [0, 1, 2, 3, 4], "values": [1.0, 0.6, 0.45, 0.3, 0.22]},
    {"key": "b", "label": "lr=0.01", "steps": [0, 1, 2, 3], "values": [1.0, 0.9, 0.8, 0.72]},
]
CELLS = [
    "from submarine_jupyter.kernel.charts import MetricsChart\n"
    f"chart = MetricsChart(series=[{FIRST!r}], title='loss by learning rate', y_label='loss', height=220)\n"
    "heard = []\n"
    "chart.on_msg(lambda _chart, content, _buffers: heard.append(content))\n"
    "chart",
    f"chart.append({APPENDED!r})\n"
    "print('heard', heard)",
]


@pytest.fixture
def submarine_config() -> dict[str, Any]:
    return {"SubmarineJupyter": {"backend": "local"}}  # the widget needs no experiment


@pytest.fixture
def notebook(jp_root_dir: Path) -> Path:
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in CELLS],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    path = jp_root_dir / NOTEBOOK
    nbformat.write(nb, path)
    return path


async def drawn(page: Any) -> list[dict[str, Any]]:
    """What the chart on the page holds for uPlot to draw, per line."""
    return await page.locator(CHART).evaluate("el => el.lineChart.drawn()")


async def kernel_idle(page: Any) -> None:
    """Wait until the notebook's kernel has started and is idle (the status bar says so)."""
    await expect(page.locator(".jp-StatusBar-TextItem", has_text="| Idle").first).to_be_visible(timeout=60_000)


async def run_cell(page: Any, index: int) -> None:
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    await cell.locator(".jp-InputArea-editor").click()
    await page.keyboard.press("Shift+Enter")


async def test_chart_widget_draws_appends_and_survives_the_kernel(
    lab: Any, notebook: Path, jp_serverapp: Any,
) -> None:
    async with lab.open(f"lab/tree/{NOTEBOOK}") as page:
        await page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
        await kernel_idle(page)
        await run_cell(page, 0)
        chart = page.locator(CHART)
        await expect(chart).to_have_attribute("data-points", "3", timeout=60_000)
        assert await drawn(page) == [FIRST]
        await expect(chart.locator("canvas")).to_have_count(1)

        # Points sent as messages are drawn: the new ones added to their series, a new key a new line.
        await run_cell(page, 1)
        await expect(chart).to_have_attribute("data-points", "9", timeout=30_000)
        assert await drawn(page) == DRAWN
        # The new model asked the kernel once to resync (the kernel answered with a reset).
        await expect(page.locator(".jp-OutputArea-output").last).to_have_text("heard [{'type': 'resync'}]")
        await expect(chart.locator(".u-legend")).to_contain_text("lr=0.01")
        await chart.scroll_into_view_if_needed()
        await lab.screenshot(page, "widget-curves")

        # Saved with the widget state (the override turned saveState on).
        await page.keyboard.press("Control+s")
        await expect(page.locator(".jp-mod-dirty")).to_have_count(0, timeout=10_000)
    saved = nbformat.read(notebook, as_version=4)
    state = saved.metadata["widgets"][WIDGET_STATE]["state"]
    charts = [m for m in state.values() if m["model_name"] == "MetricsChartModel"]
    assert len(charts) == 1 and charts[0]["model_module"] == MODULE, json.dumps(state)[:2000]
    assert charts[0]["state"]["series"] == DRAWN

    # No kernel backs the chart any more: it is drawn from the saved state.
    await jp_serverapp.kernel_manager.shutdown_all()
    async with lab.open(f"lab/tree/{NOTEBOOK}") as page:
        chart = page.locator(CHART)
        await expect(chart).to_have_attribute("data-points", "9", timeout=60_000)
        assert await drawn(page) == DRAWN
        await expect(page.get_by_text("model not found")).to_have_count(0)
    assert lab.page_errors == []


@pytest.fixture
def without_widget_manager(jp_server_config: dict[str, Any]) -> None:
    """Disable the widget manager's extension (as `jupyter labextension disable` would);
    the page exposes its app as ``window.jupyterapp``, to ask it which plugins run."""
    settings = Path(jp_server_config["LabServerApp"]["app_settings_dir"])
    (settings / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": ["@jupyter-widgets/jupyterlab-manager"], "exposeAppInBrowser": True}
    ))


@pytest.mark.usefixtures("without_widget_manager")
async def test_the_panel_works_without_the_widget_manager(lab: Any) -> None:
    async with lab.open() as page:
        panel = await lab.open_panel(page)
        await expect(panel.get_by_text("No experiments yet")).to_be_visible()
        activated = "id => window.jupyterapp.isPluginActivated(id)"
        assert await page.evaluate(activated, "submarine-jupyter:widgets")  # with no registry to use
        assert not await page.evaluate(activated, "@jupyter-widgets/jupyterlab-manager:plugin")
    assert lab.page_errors == [] and not [m for m in lab.console if "submarine" in m.lower()], lab.console
