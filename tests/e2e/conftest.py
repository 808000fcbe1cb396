"""Browser tests: Playwright's sync API driving Debian's chromium against the server that
``make run`` starts.

``app_server`` (session scope) runs ``make run`` itself — setup (migrate, collectstatic into
hashed, compressed copies), ``load_demo``, then the Makefile's single ``serve`` step — with a
var directory and a free port of its own, DEBUG off, the settings module ``make run`` uses and no
test-only static serving. So a page that works here works for a user who typed ``make run``.
The server is stopped by its process group at teardown, never by name.

Never ``playwright install``: the system chromium at /usr/bin/chromium is used; every browser
test is skipped (with the reason) when it is absent. Screenshots go to ``var/screenshots/``.

The database is the server's, shared by every browser test of the session: make records with
unique names and never depend on counts. Set data up through the UI or ``app_server.manage``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SCREENSHOTS = ROOT / "var" / "screenshots"
DEMO_USER, DEMO_PASSWORD = "demo", "demo-labdb"
CURATOR_USER, CURATOR_PASSWORD = "curator", "curator-labdb"
# A first start may install the lock into .venv; then ~30 s (minutes on a loaded machine:
# LABDB_E2E_START_TIMEOUT_S raises it).
START_TIMEOUT_S = float(os.environ.get("LABDB_E2E_START_TIMEOUT_S", "600"))
# Variables of the test process that would point the server elsewhere than `make run` does.
_NOT_INHERITED = {"DATABASE_URL", "DEBUG", "MEDIA_ROOT", "STATIC_ROOT", "SECRET_KEY",
                  "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "LABDB_S3_BUCKET",
                  "DJANGO_ALLOW_ASYNC_UNSAFE", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PORT", "HOST"}


def pytest_collection_modifyitems(items):
    if Path(CHROMIUM).exists() and shutil.which(CHROMIUM):
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is not installed: browser tests need Debian's "
                                   "chromium package (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


class ManageCommandFailed(subprocess.CalledProcessError):
    """A ``manage.py`` command against the app server failed; the message shows its output."""

    def __str__(self) -> str:
        return f"{super().__str__()}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"


_ATTACH_SCRIPT = """
import time
from pathlib import Path
from django.apps import apps
from characterization.services import attach_data_file
from synthesis import services
sample = services.create_sample(data={"code": CODE, "name": CODE, "material": MATERIAL,
                                      "morphology": MORPHOLOGY}, layers=[], parents=[])
path = Path(PATH)
data_file, _ = attach_data_file(content=path.read_bytes(), filename=path.name, sample=sample)
for _ in range(600):
    data_file.refresh_from_db()
    if data_file.parse_status not in ("pending", "parsing"):
        break
    time.sleep(0.2)
ids = []
for _ in range(100 if MODEL else 0):
    ids = list(apps.get_model(MODEL).objects.filter(data_file=data_file, sample=sample)
               .order_by("pk").values_list("pk", flat=True))
    if ids:
        break
    time.sleep(0.2)
print(data_file.pk, data_file.parse_status, *ids)
"""


@dataclass(frozen=True)
class AppServer:
    """The running ``make run`` server: its URL, its environment and its manage.py."""

    url: str
    env: dict[str, str]

    def manage(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        """Run ``manage.py *args`` against the server's database and media (check=True, text).

        Raises ManageCommandFailed (a CalledProcessError) with the command's output on failure.
        """
        result = subprocess.run([str(PYTHON), "manage.py", *args], cwd=ROOT, env=self.env,
                                input=input, text=True, capture_output=True, timeout=600)
        if result.returncode != 0:
            raise ManageCommandFailed(result.returncode, result.args, result.stdout,
                                      result.stderr)
        return result

    def attach_file(self, path: Path, *, code: str, material: str, morphology: str,
                    rows: str = "") -> tuple[int, str, list[int]]:
        """Store the real file ``path`` on a new sample ``code`` the way an upload does (the
        parse job runs in the shell's background pool, waited for), in the server's database.

        Returns (data file id, parse status, ids of the ``rows`` model's rows of that file on
        that sample, e.g. ``rows="characterization.AbsorptionMeasurement"``)."""
        given = {"PATH": str(path), "CODE": code, "MATERIAL": material,
                 "MORPHOLOGY": morphology, "MODEL": rows}
        prefix = "".join(f"{key} = {value!r}\n" for key, value in given.items())
        out = self.manage("shell", "-c", prefix + _ATTACH_SCRIPT)
        data_file, status, *ids = out.stdout.strip().splitlines()[-1].split()
        return int(data_file), status, [int(i) for i in ids]

    def login(self, page, username: str = DEMO_USER, password: str = DEMO_PASSWORD) -> None:
        """Log ``page`` in through the real login form; returns on the dashboard."""
        page.goto(f"{self.url}/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{self.url}/")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(var_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    env.update(LABDB_VAR_DIR=str(var_dir), PORT=str(port), HOST="127.0.0.1",
               DJANGO_SETTINGS_MODULE="labdb.settings")
    return env


def _wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"`make run` exited with {process.returncode} before serving:\n"
                               f"{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/accounts/login/", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"`make run` did not serve {url} within {START_TIMEOUT_S} s:\n"
                       f"{log.read_text()[-4000:]}")


def stop_app_server(process: subprocess.Popen) -> None:
    """SIGTERM to the server's own process group (make and runserver), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


def start_app_server(var_dir: Path) -> tuple[AppServer, subprocess.Popen]:
    """``make run`` with LABDB_VAR_DIR=var_dir on a free port, once it serves; stop the
    returned process with ``stop_app_server`` (also used by tests/e2e/screenshots.py)."""
    var_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = _server_env(var_dir, port)
    log = var_dir / "make-run.log"
    with open(log, "w") as out:
        process = subprocess.Popen(["make", "--no-print-directory", "run", f"PORT={port}",
                                    "HOST=127.0.0.1"], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    server = AppServer(url=f"http://127.0.0.1:{port}", env=env)
    try:
        _wait_until_serving(server.url, process, log)
    except BaseException:
        stop_app_server(process)
        raise
    return server, process


# One server per test process even where the fixture is imported into a module outside this
# directory (tests/test_readme.py): the last user stops it.
_RUNNING: dict = {}


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """``make run`` in a subprocess with its own var dir and port, stopped at teardown."""
    if not _RUNNING:
        server, process = start_app_server(tmp_path_factory.mktemp("app-server-var"))
        _RUNNING.update(server=server, process=process, users=0)
    _RUNNING["users"] += 1
    try:
        yield _RUNNING["server"]
    finally:
        _RUNNING["users"] -= 1
        if _RUNNING["users"] == 0:
            stop_app_server(_RUNNING.pop("process"))
            _RUNNING.clear()


@pytest.fixture(scope="package")
def browser():
    """One chromium for the browser tests, closed when they are done.

    Playwright's sync API runs an event loop in this thread; while it runs, Django's
    async-safety check would refuse ORM calls of tests that also use the test database, so the
    check is relaxed for exactly that span and restored afterwards.
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


def _watched_page(browser):
    """A fresh context and page that record JavaScript exceptions and console errors.

    One console error is expected and not recorded: chromium's "Failed to load resource" for a
    page (document) the server answered with 4xx on purpose, e.g. a form with errors is a 400.
    The same message for a script, stylesheet, image or fetch is recorded.
    """
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    refused_documents: set[str] = set()

    def on_response(response):
        if response.request.resource_type == "document" and 400 <= response.status < 500:
            refused_documents.add(response.url)

    def on_console(message):
        if message.type != "error":
            return
        if (message.text.startswith("Failed to load resource")
                and message.location.get("url") in refused_documents):
            return
        errors.append(f"console: {message.text} ({message.location})")

    page.on("response", on_response)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.js_errors = errors
    return context, page


def _close_and_check(context, page) -> None:
    errors = list(page.js_errors)
    context.close()
    assert errors == [], f"JavaScript or console errors on the page: {errors}"


@pytest.fixture
def page(browser, app_server):
    """A page of the app server, not logged in; fails at teardown on any JS/console error."""
    context, page = _watched_page(browser)
    yield page
    _close_and_check(context, page)


@pytest.fixture
def member_page(browser, app_server):
    """A page logged in as the demo lab member through the real login form."""
    context, page = _watched_page(browser)
    app_server.login(page)
    yield page
    _close_and_check(context, page)


@pytest.fixture
def curator_page(browser, app_server):
    """A page logged in as the demo curator (curator / curator-labdb) through the login form."""
    context, page = _watched_page(browser)
    app_server.login(page, username=CURATOR_USER, password=CURATOR_PASSWORD)
    yield page
    _close_and_check(context, page)


def shot(page, name: str, *, full_page: bool = False) -> Path:
    """Screenshot ``page`` into var/screenshots/<name>.png (never a tracked file)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
