"""The detail view's log box while a replica writes: at the bottom it keeps the newest line
in view across refreshes; scrolled up, it keeps the user's place, even while old lines are
dropped from the top (it holds the last 2000).
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

#: 1990 lines at once (the box holds 2000), then one every 0.1 s: old lines start to drop.
CHATTY = (
    "import time\n"
    "for i in range(1990): print(f'line {i:05d}')\n"
    "for i in range(1990, 2290): print(f'line {i:05d}', flush=True); time.sleep(0.1)\n"
)
AT_BOTTOM = "el => el.scrollHeight - el.scrollTop - el.clientHeight < 8"
#: The text of the line at the box's top edge.
TOP_LINE = """el => {
    const box = el.getBoundingClientRect();
    return document.elementFromPoint(box.left + 20, box.top + 8).textContent;
}"""


@pytest.fixture
def submarine_config() -> dict[str, Any]:
    return {"SubmarineJupyter": {"backend": "local"}}


def newest(text: str) -> int:
    return int(text.split()[-1])


async def test_log_box_follows_the_newest_line_and_keeps_the_users_place(lab: Any, api: Any) -> None:
    cmd = f"{shlex.quote(sys.executable)} -c {shlex.quote(CHATTY)}"
    created = await api.ok("POST", "api/v1/experiment", {
        "meta": {"name": "chatty", "framework": "PyTorch", "cmd": cmd},
        "spec": {"Master": {"replicas": 1, "resources": "cpu=0.25,memory=128Mi"}},
    })
    async with lab.open() as page:
        panel = await lab.open_panel(page)
        await lab.widen_sidebar(page, 480)
        await panel.locator(f".jp-SubmarinePanel-item[data-experiment-id='{created['experimentId']}']").click()
        log = panel.get_by_role("log")
        lines = log.locator(".jp-SubmarinePanel-logLine")
        await expect(log).to_contain_text("line 01995", timeout=30_000)

        # At the bottom: the newest line stays in view as lines come and the panel refreshes.
        seen = []
        for _ in range(3):
            await panel.get_by_role("button", name="Refresh").click()
            await page.wait_for_timeout(700)
            assert await log.evaluate(AT_BOTTOM)
            seen.append(newest(await lines.last.text_content()))
        assert seen == sorted(seen) and seen[0] < seen[-1], seen

        # Scrolled up: the same line stays at the top while lines arrive, old ones are dropped
        # and the panel refreshes.
        await log.hover()
        await page.mouse.wheel(0, -900)
        await page.wait_for_timeout(300)
        assert not await log.evaluate(AT_BOTTOM)
        top = await log.evaluate(TOP_LINE)
        first = int(await log.get_attribute("data-first-line"))
        for _ in range(3):
            await panel.get_by_role("button", name="Refresh").click()
            await page.wait_for_timeout(700)
            assert await log.evaluate(TOP_LINE) == top
        assert int(await log.get_attribute("data-first-line")) > first  # lines were dropped meanwhile
        assert not await log.evaluate(AT_BOTTOM)
        await expect(lines).to_have_count(2000)

        # Back at the bottom, it follows again.
        await log.hover()
        for _ in range(20):  # a wheel turn scrolls a bounded distance, smoothly
            await page.mouse.wheel(0, 3000)
            await page.wait_for_timeout(200)
            if await log.evaluate(AT_BOTTOM):
                break
        before = newest(await lines.last.text_content())
        await page.wait_for_timeout(1000)
        assert await log.evaluate(AT_BOTTOM)
        assert newest(await lines.last.text_content()) > before
    assert lab.page_errors == []
