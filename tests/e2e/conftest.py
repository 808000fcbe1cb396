"""Browser tests: Playwright's sync API driving Debian's chromium against ``live_server``.

Never ``playwright install``: the system chromium at /usr/bin/chromium is used; every test is
skipped (with the reason) when it is absent. Screenshots go to ``var/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
DEMO_USER, DEMO_PASSWORD = "demo", "demo-labdb"


def pytest_collection_modifyitems(items):
    if Path(CHROMIUM).exists() and shutil.which(CHROMIUM):
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is not installed: browser tests need Debian's "
                                   "chromium package (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="package")
def browser():
    """One chromium for the browser tests, closed when they are done.

    Playwright's sync API runs an event loop in this thread; while it runs, Django's
    async-safety check would refuse the ORM calls of the tests' own fixtures and assertions,
    so the check is relaxed for exactly that span and restored afterwards.
    """
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture
def demo(db):
    """The demo lab member plus the first paper of the demo data set (NPL recipes, samples,
    TEM/PL/XAS values and the aging study); about 5 s."""
    from django.db import transaction

    from analysis.demo import ensure_demo_users
    from characterization.demo import load_characterization
    from synthesis.demo import load_synthesis, read_demo_file

    actor = ensure_demo_users()
    data = read_demo_file("seed000.json")
    with transaction.atomic():
        load_characterization(load_synthesis(data, actor=actor), data)
    return actor


@pytest.fixture
def logged_in(page, live_server, demo):
    """A page logged in as the demo lab member through the real login form."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(DEMO_USER)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    return page


def shot(page, name: str, *, full_page: bool = False) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
