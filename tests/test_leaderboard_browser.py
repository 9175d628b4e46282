"""The web leaderboard in a real browser: headless Chromium (Debian's package) driven by Playwright, against a
live ``qabench leaderboard serve`` on a loopback port. Screenshots go to ``screenshots/`` (git-ignored).

The browser and the server start once for the module. Outside CI a missing
Chromium or Playwright skips these tests with the reason; with ``CI=true``
they fail instead (``.ci/run`` installs Chromium).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
from test_leaderboard_web import EVIL, write_runs

from leaderboard.store import add_records

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``qabench leaderboard serve`` over a fresh SQLite leaderboard with :func:`write_runs`; yields its base URL."""
    root = tmp_path_factory.mktemp("browser")
    db = root / "lb.db"
    add_records(db, write_runs(root / "runs"), n_boot=100)
    port = _free_port()
    code = "import sys; from harness.cli import main; main(sys.argv[1:])"
    proc = subprocess.Popen([sys.executable, "-c", code, "leaderboard", "--db", str(db), "serve", "--port", str(port)], cwd=REPO,
                            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"serve did not start: {proc.communicate()[1]}")
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def page(server: str):  # type: ignore[no-untyped-def]
    """A Chromium page (1400 px wide) on the live server."""
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} not found: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: pip install playwright")
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.set_default_timeout(60_000)
        yield tab
        browser.close()


def _ids(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.locator("#ranked a.run").all_inner_texts()


def test_table_sort_run_predictions_wrong_answers_and_compare_in_a_browser(server: str, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(server + "/")
    assert _ids(page) == ["bert-0", "bert-1", "gpt-0"]
    assert page.locator("#ranked th").first.is_visible()
    page.screenshot(path=str(SCREENSHOTS / "ranked-table.png"), full_page=True)

    page.click('#ranked th[data-column="train_seconds"] a')  # numbers sort best (largest) first, a second click flips
    page.wait_for_url("**sort=train_seconds*")
    assert _ids(page) == ["bert-1", "bert-0", "gpt-0"]
    page.click('#ranked th[data-column="train_seconds"] a')
    page.wait_for_url("**sort=train_seconds%3Aasc*")
    assert _ids(page) == ["gpt-0", "bert-0", "bert-1"]
    page.screenshot(path=str(SCREENSHOTS / "ranked-table-sorted.png"), full_page=True)

    page.select_option('select[name="backbone"]', "bert")
    page.click('form.filters button[type="submit"]')
    page.wait_for_url("**backbone=bert*")
    assert _ids(page) == ["bert-0", "bert-1"]

    page.click("#ranked a.run >> text=bert-0")
    page.wait_for_url("**/run/bert-0")
    assert page.locator("#run-id").inner_text() == "bert-0"
    assert page.locator("#curves svg").count() == 2
    assert "120 of 120 examples" in page.locator("#prediction-count").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "run-page.png"), full_page=True)

    page.click(".pager a.next >> nth=0")
    page.wait_for_url("**page=2*")
    assert "page 2 of 3" in page.locator("#prediction-count").inner_text()
    assert page.locator("#prediction-rows tbody tr").first.locator("td").first.inner_text() == "50"

    page.check('input[name="wrong"]')
    page.click('#predictions ~ form.filters button[type="submit"]')
    page.wait_for_url("**wrong=1*")
    assert "30 of 120 examples, wrong answers only" in page.locator("#prediction-count").inner_text()
    assert page.locator("#prediction-rows tr.right").count() == 0 and page.locator("#prediction-rows tr.wrong").count() == 30
    page.screenshot(path=str(SCREENSHOTS / "run-page-wrong-answers.png"), full_page=True)

    page.fill('#compare-form input[name="b"]', "gpt-0")
    page.click('#compare-form button[type="submit"]')
    page.wait_for_url("**/compare?a=bert-0&b=gpt-0*")
    assert page.locator("#run-b").inner_text() == "gpt-0"
    assert page.locator("#paired tbody tr").count() == 2
    assert "90 of 120 shared examples answered differently" in page.locator("#diff-count").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "compare-page.png"), full_page=True)

    # Markup in records is text on the page, never a script that runs.
    page.goto(server + "/run/gpt-0")
    assert EVIL in page.locator("table.fields").inner_text()
    assert page.evaluate("document.querySelectorAll('script').length") == 0


def test_the_suite_selector_switches_to_the_ad_hoc_runs_shown_without_rank(server: str, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(server + "/")
    assert page.locator("#section-title").inner_text().startswith("demo v2 (decaScore over 2 tasks)")
    page.select_option('#section-form select[name="section"]', "adhoc")
    page.click('#section-form button[type="submit"]')
    page.wait_for_url("**section=adhoc*")
    assert _ids(page) == ["other-tasks"]
    assert page.locator("#ranked tbody tr td").first.inner_text() == "–"  # no rank outside a suite protocol
    assert page.locator('#ranked th[data-column="decaScore"]').count() == 0
    page.screenshot(path=str(SCREENSHOTS / "ranked-table-ad-hoc.png"), full_page=True)
