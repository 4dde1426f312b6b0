"""Headless Chromium for the dashboard's browser tests: start it, wait for a page, click a node."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .conftest import ROOT, clean_env, evolve_cmd

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# where a point of a plotly trace with this program id (customdata) is drawn, in page pixels
POINT_JS = """
for (const gd of document.querySelectorAll('.js-plotly-plot')) {
  const L = gd._fullLayout, r = gd.getBoundingClientRect();
  for (const t of gd._fullData) {
    if (!t.customdata) continue;
    const i = Array.from(t.customdata).indexOf(Number(arguments[0]));
    if (i >= 0) return [r.left + L._size.l + L.xaxis.l2p(t.x[i]), r.top + L._size.t + L.yaxis.l2p(t.y[i])];
  }
}
return null;"""


def chrome():
    """A headless Chromium driven by chromedriver (Debian packages; scripts/test.sh installs them)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (shutil.which("chromedriver") and os.path.exists(CHROMIUM)):
        message = "chromium + chromium-driver are not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message + "; scripts/test.sh should have installed them")
        pytest.skip(message)
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1500,1100"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or CHROMEDRIVER), options=opts)


def page_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def settled(driver, marker: str, plots: int = 0) -> bool:
    """The marker is on screen with ``plots`` charts drawn, the script run is over and no element of
    the previous page is left."""
    return (marker in page_text(driver)
            and driver.execute_script("return document.querySelectorAll("
                                      "'.js-plotly-plot .main-svg').length") >= 2 * plots
            and not driver.execute_script("return document.querySelectorAll("
                                          "'[data-stale=\"true\"], [data-testid=\"stStatusWidget\"] "
                                          "[data-testid=\"stStatusWidgetRunningIcon\"]').length"))


def wait_for(driver, marker: str, timeout: float = 60, plots: int = 0) -> float:
    """Seconds until the page settled with ``marker`` shown and ``plots`` charts drawn."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if settled(driver, marker, plots):
            elapsed = time.monotonic() - started
            time.sleep(0.3)  # the same a moment later: not between two script runs
            if settled(driver, marker, plots):
                return elapsed
        time.sleep(0.03)
    raise AssertionError(f"{marker!r} not shown after {timeout:.0f} s; the page says:\n"
                         + page_text(driver)[:2000])


def click_point(driver, program_id: int) -> None:
    """Click the plotted point of ``program_id`` (a lineage node or an elite cell)."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    where = driver.execute_script(POINT_JS, program_id)
    assert where is not None, f"program {program_id} is not drawn on this page"
    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(int(where[0]), int(where[1]))
    actions.pointer_action.click()
    actions.perform()


@contextmanager
def serve(runs_dir: Path) -> Iterator[str]:
    """`evolve ui` on the runs under ``runs_dir``, on a free port; yields its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(evolve_cmd("ui", "--runs-dir", str(runs_dir), "--port", str(port)), cwd=ROOT,
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if proc.poll() is not None:
                raise AssertionError("evolve ui exited: " + proc.stdout.read())
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("evolve ui did not answer within 30 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
