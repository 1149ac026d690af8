"""Browser fixtures: Debian's Chromium driven by Playwright against the in-process server.

The server is pytest-jupyter's (same process, same pytest run as the API tests); the
page is opened with the server's token. Playwright's async API runs on pytest-jupyter's
loop, so nothing here is an async fixture: ``lab.open()`` is an async context manager.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SUBMARINE_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = REPO / "docs" / "screenshots"
PANEL = "#submarine-jupyter-panel"
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root in CI
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium() -> str:
    """Chromium's path; its absence fails the test under CI=true and skips it elsewhere."""
    if not shutil.which(CHROMIUM) or importlib.util.find_spec("playwright") is None:
        reason = f"browser tests need {CHROMIUM} (apt-get install chromium) and the playwright package"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A labextensions folder holding this checkout's committed bundle.

    A copy, not a symlink (Lab's static handler refuses files resolving outside its
    roots), and one per session: jupyter_server caches where a static file was found,
    across the servers of one process.
    """
    extensions = tmp_path_factory.mktemp("labextensions")
    shutil.copytree(REPO / "submarine_jupyter" / "labextension", extensions / "submarine-jupyter")
    return extensions


#: The settings override the wheel installs (share/jupyter/lab/settings/overrides.d/).
SETTINGS_OVERRIDE = REPO / "jupyter-config" / "lab-settings" / "overrides.d" / "submarine-jupyter.json"


@pytest.fixture
def jp_server_config(jp_server_config: dict[str, Any], bundle_dir: Path, tmp_path: Path) -> dict[str, Any]:
    """Serve this checkout's committed bundle, ahead of any installed copy, with the
    settings override the package installs (saved widget state on), and keep Lab's news
    opt-in toast out of the screenshots."""
    settings = tmp_path / "lab-settings"
    (settings / "overrides.d").mkdir(parents=True)
    shutil.copy(SETTINGS_OVERRIDE, settings / "overrides.d" / SETTINGS_OVERRIDE.name)
    (settings / "overrides.json").write_text(
        json.dumps({"@jupyterlab/apputils-extension:notification": {"fetchNews": "false"}})
    )
    lab = dict(jp_server_config.get("LabServerApp", {}))
    lab["extra_labextensions_path"] = [str(bundle_dir), *lab.get("extra_labextensions_path", [])]
    lab["app_settings_dir"] = str(settings)
    return {**jp_server_config, "LabServerApp": lab}


class Lab:
    """Opens JupyterLab from the in-process server in a headless Chromium."""

    def __init__(self, executable: str, base: str, token: str, screenshots: Path) -> None:
        self.executable = executable
        self.base = base
        self.token = token
        self.screenshots = screenshots
        self.page_errors: list[str] = []
        #: The page of the browser ``open()`` started last.
        self.page: Any = None
        #: The browser console's errors and warnings, for a failing test's report.
        self.console: list[str] = []

    def url_of(self, path: str) -> str:
        """The URL of a Lab page (``lab``, ``lab/tree/x.ipynb``); ``?reset``: from the
        default layout, whatever an earlier test left in the workspace."""
        return f"{self.base}{path}?reset&token={self.token}"

    @contextlib.asynccontextmanager
    async def open(self, path: str = "lab") -> AsyncIterator[Any]:
        """Lab in a new browser, at ``path``; yields the page once Lab has started."""
        from playwright.async_api import async_playwright

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=self.executable, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(
                    viewport={"width": 1280, "height": 860}, permissions=["clipboard-read", "clipboard-write"]
                )
                page = await context.new_page()
                self.page = page
                page.on("pageerror", lambda error: self.page_errors.append(str(error)))
                page.on("console", lambda m: m.type in ("error", "warning") and self.console.append(m.text))
                await page.goto(self.url_of(path))
                await page.wait_for_selector(".jp-Launcher" if path == "lab" else ".jp-LabShell", timeout=90_000)
                yield page
            finally:
                await browser.close()

    @staticmethod
    async def open_panel(page: Any) -> Any:
        """Click the panel's icon in the left sidebar; return the panel locator."""
        await page.click('.jp-SideBar [data-id="submarine-jupyter-panel"]')
        panel = page.locator(PANEL)
        await panel.wait_for(state="visible", timeout=10_000)
        return panel

    async def open_experiment(self, page: Any, experiment_id: str) -> Any:
        """The panel, widened, showing one experiment's detail view."""
        from playwright.async_api import expect

        panel = await self.open_panel(page)
        await self.widen_sidebar(page, 420)
        await panel.locator(f".jp-SubmarinePanel-item[data-experiment-id='{experiment_id}']").click()
        detail = panel.locator(f".jp-SubmarinePanel-detail[data-experiment-id='{experiment_id}']")
        await expect(detail).to_be_visible()
        return detail

    @staticmethod
    async def run_command(page: Any, label: str) -> None:
        """Run a command through Lab's command palette, found by its label."""
        await page.keyboard.press("Control+Shift+C")
        await page.fill(".lm-CommandPalette-input", label)
        await page.click(f".lm-CommandPalette-item:has-text('{label}')")

    @staticmethod
    async def clipboard(page: Any) -> str:
        return await page.evaluate("navigator.clipboard.readText()")

    @staticmethod
    async def widen_sidebar(page: Any, width: int) -> None:
        """Drag the left sidebar's splitter so the panel is `width` pixels wide."""
        handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
        box = await handle.bounding_box()
        panel_box = await page.locator(PANEL).bounding_box()
        y = box["y"] + box["height"] / 2
        await page.mouse.move(box["x"] + box["width"] / 2, y)
        await page.mouse.down()
        await page.mouse.move(panel_box["x"] + width, y, steps=5)
        await page.mouse.up()

    def toast(self, text: str) -> Any:
        """Lab's notification toasts (bottom right) that contain ``text``."""
        assert self.page is not None
        return self.page.locator(".Toastify__toast", has_text=text)

    @staticmethod
    async def settled(locator: Any) -> None:
        """Wait until the element stops moving (a toast sliding in, say)."""
        handle = await locator.element_handle()
        await handle.wait_for_element_state("stable")

    @staticmethod
    async def dismiss_toasts(page: Any) -> None:
        """Hide every notification toast on screen (they stay in Lab's notification list)."""
        toasts = page.locator(".Toastify__toast")
        while await toasts.count():  # clicked at once: they slide out (never "stable")
            await page.evaluate("document.querySelectorAll('.jp-Notification-Toast-Close').forEach(b => b.click())")
            await page.wait_for_timeout(500)

    async def screenshot(self, page: Any, name: str) -> Path:
        """Save the whole Lab window, panel included, as ``<name>.png``."""
        self.screenshots.mkdir(parents=True, exist_ok=True)
        path = self.screenshots / f"{name}.png"
        await page.screenshot(path=str(path))
        return path


@pytest.fixture
def lab(chromium: str, jp_serverapp: Any, http_server: Any, jp_http_port: int, jp_base_url: str,
        tmp_path: Path) -> Lab:
    token = jp_serverapp.identity_provider.token
    # The README's screenshots come from the local backend; other runs keep theirs in tmp_path.
    local = jp_serverapp.web_app.settings["submarine"].experiments.backend.default_backend.name == "local"
    return Lab(chromium, f"http://localhost:{jp_http_port}{jp_base_url}", token,
               SCREENSHOTS if local else tmp_path / "screenshots")
