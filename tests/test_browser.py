"""The report and the Locust web UI in a real browser: headless Chromium (Debian's), driven by Playwright.

Screenshots go to tests/artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from helpers import assert_all_gone

from harness import REPO
from harness.processes.supervisor import free_port

CHROMIUM = shutil.which("chromium")
ARTIFACTS = REPO / "tests" / "artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed: run `make setup`")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def test_report_charts_render(browser: Any, tiny_run: Path) -> None:
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto((tiny_run / "index.html").as_uri())
    widths = page.evaluate("[...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
    assert len(widths) >= 8
    assert all(ok and w > 100 and h > 100 for ok, w, h in widths), widths
    assert page.locator("table.summary tr").count() >= 5
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)


@pytest.fixture
def ui() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "harness", "ui", "python", "-t", "http", "--port", str(port),
                             "--scenario", str(REPO / "tests" / "scenarios" / "tiny.toml")],
                            cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, "harness ui exited early; see results/ui-logs/"
        try:
            if requests.get(url + "/", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "the Locust web UI did not come up within 90 s"
        time.sleep(0.2)
    try:
        yield url, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_ui_microseconds_tab_and_clean_stop(browser: Any, ui: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, proc = ui
    family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    assert len(family) >= 3  # the harness, the service, Locust
    r = requests.post(url + "/swarm", data={"user_count": 2, "spawn_rate": 2,
                                            "user_classes": "python_http_echo_64B"}, timeout=10)
    assert r.json()["success"], r.text
    page = browser.new_page(viewport={"width": 1300, "height": 800})
    page.goto(url + "/?tab=microseconds")
    row = page.locator("tr", has_text="python_http_echo_64B")
    row.wait_for(timeout=20_000)
    deadline = time.monotonic() + 20
    while True:
        cells = row.first.locator("td").all_inner_texts()
        numbers = [float(c.replace(",", "")) for c in cells[1:] if c.replace(",", "").replace(".", "").isdigit()]
        if len(numbers) >= 8 and numbers[0] > 0 and numbers[3] > 0:
            break
        assert time.monotonic() < deadline, f"no microsecond figures in the tab: {cells}"
        time.sleep(0.5)
    requests_done, p50 = numbers[0], numbers[3]
    assert requests_done > 10 and 5 < p50 < 1_000_000
    page.screenshot(path=str(ARTIFACTS / "ui-microseconds.png"))
    # Ctrl-C stops everything it started.
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=30)
    assert_all_gone(family, timeout_s=10)
