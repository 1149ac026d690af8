"""The panel at 10,000 experiments: the first page shows at once, scrolling reads older pages
while the DOM holds only the rows in view, and an idle panel's polls are answered 304."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from bench.list_scale import insert_rows, record

try:
    from playwright.async_api import expect
except ImportError:  # then the `chromium` fixture fails the tests (CI=true) or skips them
    expect = None

ROWS = 10_000
LIST_PATH_SUFFIX = "/api/v1/experiment"


@pytest.fixture
def submarine_config() -> dict[str, Any]:
    return {"SubmarineJupyter": {"backend": "local"}}


NEWEST = {"meta": {"name": "newest", "framework": "TensorFlow", "cmd": "true"}, "spec": {"Worker": {"replicas": 1}}}


def item_id(seq: int) -> str:
    return record(seq).id


async def test_ten_thousand_experiments_page_scroll_and_idle_304s(lab: Any, api: Any, jp_serverapp: Any) -> None:
    await jp_serverapp.web_app.settings["submarine"].experiments.store.run(lambda conn: insert_rows(conn, ROWS))
    answers: list[tuple[dict[str, list[str]], int]] = []

    def on_response(response: Any) -> None:
        url = urlparse(response.url)
        if response.request.method == "GET" and url.path.endswith(LIST_PATH_SUFFIX):
            answers.append((parse_qs(url.query), response.status))

    async with lab.open() as page:
        page.on("response", on_response)
        started = time.monotonic()
        panel = await lab.open_panel(page)
        items = panel.locator(".jp-SubmarinePanel-item")
        rows = panel.get_by_label("Experiments", exact=True)
        await expect(items.first).to_have_attribute("data-experiment-id", item_id(ROWS))
        shown_in = time.monotonic() - started
        assert shown_in < 5, shown_in
        # (the panel read its first page as Lab started; it polls that page since)
        assert answers and all(params == {"limit": ["100"], "sort": ["-acceptedTime"]} for params, _ in answers)
        await expect(rows).to_have_attribute("data-count", "100")
        drawn = await items.count()
        assert 5 <= drawn <= 40, drawn  # only a window of the 100 read
        await lab.widen_sidebar(page, 420)
        await lab.screenshot(page, "list-10k")

        # Scrolling to the end of what is read reads the next page, and again.
        body = panel.locator(".jp-SubmarinePanel-body")
        for count in (200, 300, 400, 500):
            await body.evaluate("b => { b.scrollTop = b.scrollHeight; }")
            await expect(rows).to_have_attribute("data-count", str(count))
        await expect(panel.locator(f"[data-experiment-id='{item_id(ROWS - 399)}']")).to_be_in_viewport()
        await expect(panel.locator(f"[data-experiment-id='{item_id(ROWS)}']")).to_have_count(0)  # scrolled out
        assert 5 <= await items.count() <= 40
        assert [params.get("limit") for params, code in answers if "continue" in params][:4] == [["100"]] * 4

        # Idle: every poll asks for the first page with its ETag and gets 304 (no body).
        await body.evaluate("b => { b.scrollTop = 0; }")
        idle_from = len(answers)
        await asyncio.sleep(9)
        idle = answers[idle_from:]
        assert len(idle) >= 2 and all(code == 304 and "continue" not in params for params, code in idle), idle

        # A change anywhere: the next poll gets 200 and reads again what was read (500 rows).
        created = await api.ok("POST", "api/v1/experiment", NEWEST)
        changed_from = len(answers)
        await expect(items.first).to_have_attribute("data-experiment-id", created["experimentId"], timeout=20_000)
        assert any(code == 200 for _, code in answers[changed_from:]), answers[changed_from:]
        await expect(rows).to_have_attribute("data-count", "500")

        # An experiment beyond the pages read, reached by a link, is read by its id.
        small = {"resources": "cpu=0.1,memory=64M"}
        rerun = await api.ok("POST", f"api/v1/experiment/{item_id(1)}/rerun",
                             {"meta": {"cmd": "true"}, "spec": {"Master": small, "Worker": {**small, "replicas": 1}}})
        await expect(items.first).to_have_attribute("data-experiment-id", rerun["experimentId"], timeout=20_000)
        await items.first.click()
        await panel.get_by_label("Re-run of").get_by_role("button").click()
        detail = panel.locator(f".jp-SubmarinePanel-detail[data-experiment-id='{item_id(1)}']")
        await expect(detail.locator(".jp-SubmarinePanel-name")).to_have_text("run-1")
    assert lab.page_errors == []
