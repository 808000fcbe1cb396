"""The README's deployment section, run as an operator would, then used through HTTP only.

Run with ``make test-deploy``: ``scripts/with_postgres.sh`` supplies a throw-away PostgreSQL and
``DATABASE_URL``; ordinary pytest runs leave this test out (tests/deploy/conftest.py) unless
``-m deploy`` is given. The test starts redis-server and moto_server (S3 API, bucket created) on
free loopback ports, writes the documented variables into an env file (mode 600, owned by the
service user, named by ``LABDB_ENV_FILE``; nothing of it is left in the process environment)
and runs the README's own deployment commands: the two ``sh`` blocks of "Deployment" are read
from README.md (``tests.test_readme.readme_blocks``), so the README is the one place they are
kept. Only these substitutions are made, all to sandbox paths and the CI user:
``/var/lib/labdb`` → a fresh temporary state folder, ``/etc/labdb/labdb.env`` → the env file,
``127.0.0.1:8000`` → a free port, the user ``labdb`` → ``labdb-ci`` (the README's ``useradd``
runs if the user is missing, with home ``/var/lib/labdb-ci`` because the state folder is new
each run; an existing user gets the state folder by ``install -d -o``), ``sudo -u labdb -E`` →
``setpriv`` to that user (Debian has no sudo; see ``switch_user``), and
``create_curator``/``create_member`` get ``--password-file`` (the README: "scripts pass
--password-file").

gunicorn, the Celery worker and beat run the README's command lines as ``labdb-ci`` through
``setpriv`` (it execs: the recorded pid is the server's), each in its own process group, and
are stopped by that recorded group (SIGTERM, then SIGKILL) in ``finally``, never by name; so are
redis-server and moto_server (run as root: they stand in for services a deployment does not
own). Not running as root, the test cannot switch users and runs everything as the current
user. Logs are kept (path printed) when the test fails.

Through HTTP: a token (basic auth on /api/auth/login/) for the curator and the member, a
sample, the Cu foil XDI the fit tests use uploaded, the one-path FEFF-path-file fit run on the
worker, the raw file downloaded and its sha256 compared, /health/ 200 with every check ok;
Redis stopped: a second fit run answers 202 queued and /health/ 503 naming the broker; Redis
restarted on the same port: beat re-sends the run, it succeeds at the first attempt, and exactly
one new fit is stored for it.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
import requests

from tests.test_readme import README, readme_blocks

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]
XAS = ROOT.parent / "shared" / "data" / "xas" / "larch_examples"
XDI = XAS / "cu_metal_rt.xdi"
FEFF_PATH = XAS / "feff_cu" / "feffcu01.dat"
USER = "labdb-ci"
USER_HOME = "/var/lib/labdb-ci"
SECRET = "deploy-test-" + "x9Qv2LmT7rW4zK8pN3bY6cH1dF5gJ0sA" * 2
PASSWORDS = {"alice": "curator-deploy-Cd2S", "bob": "member-deploy-HgSe"}
S3_KEY = "deploy-testing"
BUCKET = "labdb-deploy"
IS_ROOT = os.geteuid() == 0


def deployment_blocks() -> tuple[str, str]:
    """The README's setup block (``useradd`` …) and its services block (gunicorn, celery)."""
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    setup = [b.code for b in blocks if b.code.startswith("useradd ")]
    services = [b.code for b in blocks if b.code.startswith(".venv/bin/gunicorn ")]
    assert len(setup) == 1 and len(services) == 1, "README: deployment blocks not found"
    return setup[0], services[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def _wait(predicate, timeout: float, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


@dataclass
class Service:
    """A process started in its own process group; stopped by that recorded pid."""

    name: str
    argv: list[str]
    log: Path
    env: dict | None = None
    proc: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        pgid = self.proc.pid  # start_new_session: the group id is the pid we recorded
        for sig, grace_s in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=grace_s)
                break
            except subprocess.TimeoutExpired:
                continue
        self.proc = None

    def tail(self, chars: int = 3000) -> str:
        return f"--- {self.name} ({self.log}) ---\n" + self.log.read_text(errors="replace")[-chars:]


class Sandbox:
    """Paths, ports and the operator's env file for one deployment."""

    def __init__(self, database_url: str):
        self.top = Path(tempfile.mkdtemp(prefix="labdb-deploy-"))
        self.top.chmod(0o755)  # the service user must reach its state folder and env file
        self.state = self.top / "var-lib-labdb"
        self.env_file = self.top / "labdb.env"
        self.logs = self.top / "logs"
        self.logs.mkdir()
        self.web_port, self.redis_port, self.s3_port = _free_port(), _free_port(), _free_port()
        self.url = f"http://127.0.0.1:{self.web_port}"
        self.s3_url = f"http://127.0.0.1:{self.s3_port}"
        self.database_url = database_url

    def settings(self) -> dict[str, str]:
        """The variables the README's configuration table documents for this deployment."""
        return {
            "DEBUG": "false",
            "SECRET_KEY": SECRET,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LABDB_VAR_DIR": str(self.state),
            "MEDIA_ROOT": str(self.state / "media"),
            "STATIC_ROOT": str(self.state / "static"),
            "DATABASE_URL": self.database_url,
            "LABDB_DB_CONN_MAX_AGE_S": "60",
            "LABDB_S3_BUCKET": BUCKET,
            "LABDB_S3_ENDPOINT_URL": self.s3_url,
            "LABDB_S3_ACCESS_KEY": S3_KEY,
            "LABDB_S3_SECRET_KEY": S3_KEY,
            "LABDB_S3_REGION": "us-east-1",
            "LABDB_S3_ADDRESSING_STYLE": "path",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            # Short sweep so the outage part takes seconds, not the production minute.
            "LABDB_JOB_RESEND_AFTER_S": "2",
            "LABDB_JOB_SWEEP_EVERY_S": "2",
            "LOG_LEVEL": "WARNING",
        }

    def write_env_file(self) -> None:
        lines = ["# labdb deployment test: written as an operator writes /etc/labdb/labdb.env"]
        lines += [f"{key}={value}" for key, value in self.settings().items()]
        self.env_file.write_text("\n".join(lines) + "\n")
        self.env_file.chmod(0o600)

    def process_env(self) -> dict[str, str]:
        """The shell's environment without anything the env file sets (the file must do it)."""
        env = {k: v for k, v in os.environ.items()
               if k not in self.settings() and not k.startswith(("LABDB_", "CELERY_"))}
        env["LABDB_ENV_FILE"] = str(self.env_file)
        env["PYTHONUNBUFFERED"] = "1"
        if IS_ROOT and _user_exists():
            env.update(HOME=pwd.getpwnam(USER).pw_dir, USER=USER, LOGNAME=USER)
        return env

    def operator(self, code: str, switch_user: list[str] = ()) -> str:
        """A README block with the sandbox's paths, port and user (see the module docstring);
        ``sudo -u labdb -E`` becomes ``switch_user``."""
        if IS_ROOT:
            code = re.sub(
                r"^useradd (.*) labdb$",
                lambda m: (f"id -u {USER} >/dev/null 2>&1 || "
                           f"useradd {m.group(1).replace('/var/lib/labdb', USER_HOME)} {USER}; "
                           f"install -d -o {USER} -m 700 /var/lib/labdb"),
                code, flags=re.MULTILINE)
            code = code.replace("sudo -u labdb -E ", " ".join([*switch_user, ""]))
            code = code.replace("-o labdb ", f"-o {USER} ")
        else:  # no user switching possible: the current user runs everything
            code = re.sub(r"^useradd .*$", "install -d -m 700 /var/lib/labdb", code,
                          flags=re.MULTILINE)
            code = code.replace("sudo -u labdb -E ", "").replace("-o labdb ", "")
        code = re.sub(r"^(.*manage\.py create_(curator|member) (\w+).*)$",
                      lambda m: f"{m.group(1)} --password-file {self.password_file(m.group(3))}",
                      code, flags=re.MULTILINE)
        code = code.replace("/etc/labdb/labdb.env", str(self.env_file))
        code = re.sub(r"/var/lib/labdb(?=[/ ;]|$)", str(self.state), code, flags=re.MULTILINE)
        return code.replace("127.0.0.1:8000", f"127.0.0.1:{self.web_port}")

    def password_file(self, username: str) -> Path:
        return self.top / f"{username}.password"

    def hand_over_secrets(self) -> None:
        """Password files and the env file, mode 600, owned by the service user."""
        for username, password in PASSWORDS.items():
            self.password_file(username).write_text(password + "\n")
        for path in (*map(self.password_file, PASSWORDS), self.env_file):
            path.chmod(0o600)
            if IS_ROOT:
                shutil.chown(path, USER)


def _user_exists() -> bool:
    try:
        pwd.getpwnam(USER)
        return True
    except KeyError:
        return False


def switch_user() -> list[str]:
    """The command prefix that runs a program as the service user (empty when not root).

    ``setpriv`` execs the program (the recorded pid is the server's) and leaves the environment
    alone (``LABDB_ENV_FILE`` reaches it, as ``sudo -E`` does). Where the venv's interpreter
    lives in a folder the user cannot enter (here: pyenv's Python under /root, mode 700), the
    user is given the one capability CAP_DAC_READ_SEARCH (read and search any file, nothing
    else: it still cannot write outside its own files); with Debian's /usr/bin/python3.11, as
    on the README's fresh machine, the plain user suffices.
    """
    if not IS_ROOT:
        return []
    plain = ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups"]
    code = "import os; print(os.__file__)"  # the standard library the venv was built on
    python = str(ROOT / ".venv" / "bin" / "python")
    ours = subprocess.run([python, "-c", code], capture_output=True, text=True).stdout
    probe = subprocess.run([*plain, python, "-c", code], capture_output=True, text=True)
    if probe.returncode == 0 and probe.stdout == ours:
        return plain
    return [*plain, "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]


def _bash(code: str, sandbox: Sandbox) -> str:
    result = subprocess.run(["bash", "-e", "-o", "pipefail", "-x", "-c", code], cwd=ROOT,
                            env=sandbox.process_env(), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"{code}\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def _run_setup(sandbox: Sandbox, setup_code: str) -> str:
    """The README's setup block: its first line (the user) alone, so that the password files
    and the env file can be handed to that user, then the rest in one bash."""
    first, rest = setup_code.split("\n", 1)
    log = _bash(sandbox.operator(first), sandbox)
    sandbox.hand_over_secrets()
    return log + _bash(sandbox.operator(rest, switch_user()), sandbox)


def _services(sandbox: Sandbox, services_code: str) -> list[Service]:
    env, prefix = sandbox.process_env(), switch_user()
    found = []
    for line in sandbox.operator(services_code).splitlines():
        if not line.strip():
            continue
        argv = shlex.split(line)
        name = argv[0].rsplit("/", 1)[-1] + ("-" + argv[3] if argv[0].endswith("celery") else "")
        found.append(Service(name, [*prefix, str(ROOT / argv[0]), *argv[1:]],
                             sandbox.logs / f"{name}.log", env))
    assert [s.name for s in found] == ["gunicorn", "celery-worker", "celery-beat"], found
    return found


def _login(sandbox: Sandbox, username: str) -> requests.Session:
    response = requests.post(f"{sandbox.url}/api/auth/login/",
                             auth=(username, PASSWORDS[username]), timeout=30)
    assert response.status_code == 200, response.text
    session = requests.Session()
    session.headers["Authorization"] = f"Token {response.json()['token']}"
    return session


def _admin_login(sandbox: Sandbox, username: str) -> bool:
    """Log in through the admin's own form; True when the admin index is then shown."""
    browser = requests.Session()
    form = browser.get(f"{sandbox.url}/admin/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    answer = browser.post(f"{sandbox.url}/admin/login/?next=/admin/", timeout=30,
                          data={"username": username, "password": PASSWORDS[username],
                                "csrfmiddlewaretoken": token, "next": "/admin/"},
                          headers={"Referer": f"{sandbox.url}/admin/login/"})
    assert answer.status_code == 200, answer.text[:2000]
    return answer.url == f"{sandbox.url}/admin/" and "Site administration" in answer.text


def _fit_model(amp_start: float = 1.0) -> dict:
    """The one-path Cu fit of tests/analysis/test_fit_runs.py (FEFF path file feffcu01);
    ``amp_start`` (the S0² starting value) makes a second, different model (the same model
    on the same spectrum would be answered with the run already made)."""
    starts = {"amp": amp_start, "del_e0": 0.0, "sig2": 0.0, "del_r": 0.0}
    guess = {name: {"kind": "guess", "value": v} for name, v in starts.items()}
    window = {"kmin": 3, "kmax": 17, "kweight": 2, "dk": 4}
    return {
        "feff": {"path_files": {"feffcu01": FEFF_PATH.read_text()}},
        "parameters": guess,
        "datasets": [{
            "id": "cu_rt",
            "processing": {"pre_edge": {}, "autobk": {"rbkg": 1.0, "kweight": 2},
                           "xftf": window},
            "transform": {**window, "window": "kaiser", "rmin": 1.4, "rmax": 3.0},
            "paths": [{"label": "Cu1", "path_file": "feffcu01", "s02": "amp", "e0": "del_e0",
                       "sigma2": "sig2", "deltar": "del_r"}],
        }],
    }


def _finished(api: requests.Session, sandbox: Sandbox, run_id: int, timeout: float) -> dict:
    def done():
        run = api.get(f"{sandbox.url}/api/fit-runs/{run_id}/", timeout=30).json()
        return run if run["status"] in ("succeeded", "failed") else None

    return _wait(done, timeout=timeout, step=1.0)


def _parsed(api: requests.Session, poll_url: str, timeout: float) -> dict:
    """The uploaded file once its parse job has finished (the upload answered 202)."""
    def done():
        body = api.get(poll_url, timeout=30).json()
        return body if body["parse_status"] not in ("pending", "parsing") else None

    return _wait(done, timeout=timeout, step=0.5) or api.get(poll_url, timeout=30).json()


def _health(sandbox: Sandbox) -> requests.Response:
    return requests.get(f"{sandbox.url}/health/", timeout=30)


def test_readme_deployment_runs_and_survives_a_broker_outage():
    database_url = os.environ.get("DATABASE_URL", "")
    assert database_url.startswith("postgres://"), (
        "DATABASE_URL: expected a PostgreSQL URL; run this test with `make test-deploy`")
    assert shutil.which("redis-server"), "redis-server is missing (make system-packages)"
    setup_code, services_code = deployment_blocks()
    sandbox = Sandbox(database_url)
    sandbox.write_env_file()
    redis = Service("redis", [shutil.which("redis-server"), "--port", str(sandbox.redis_port),
                              "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                              "--dir", str(sandbox.top)], sandbox.logs / "redis.log")
    moto = Service("moto", [str(ROOT / ".venv" / "bin" / "moto_server"), "-H", "127.0.0.1",
                            "-p", str(sandbox.s3_port)], sandbox.logs / "moto.log")
    servers: list[Service] = []
    passed = False
    try:
        redis.start()
        moto.start()
        assert _wait(lambda: _listening(sandbox.redis_port), 15), redis.tail()
        assert _wait(lambda: _listening(sandbox.s3_port), 30), moto.tail()
        boto3.client("s3", endpoint_url=sandbox.s3_url, aws_access_key_id=S3_KEY,
                     aws_secret_access_key=S3_KEY, region_name="us-east-1",
                     ).create_bucket(Bucket=BUCKET)

        setup_log = _run_setup(sandbox, setup_code)
        assert "Superuser" not in setup_log  # create_curator, not createsuperuser
        if IS_ROOT:
            assert (sandbox.state / "media").stat().st_uid == pwd.getpwnam(USER).pw_uid
        assert (sandbox.state / "static" / "staticfiles.json").exists()

        servers = _services(sandbox, services_code)
        for server in servers:
            server.start()
        logs = lambda: "\n".join(s.tail() for s in (*servers, redis, moto))  # noqa: E731
        healthy = _wait(lambda: _listening(sandbox.web_port) and _health(sandbox).ok, 60, 1.0)
        assert healthy, logs()
        health = _health(sandbox).json()
        assert health["ok"] is True
        assert sorted(health["checks"]) == ["broker", "database", "migrations", "storage",
                                            "worker"]
        assert all(check["ok"] for check in health["checks"].values()), health
        assert health["checks"]["storage"]["message"] == "S3Storage reachable"
        # gunicorn runs as the service user, not root (its pid is the recorded one).
        if IS_ROOT:
            assert Path(f"/proc/{servers[0].proc.pid}").stat().st_uid == pwd.getpwnam(USER).pw_uid

        _login(sandbox, "alice")
        assert _admin_login(sandbox, "alice") is True  # create_curator: staff
        assert _admin_login(sandbox, "bob") is False  # create_member: no admin
        api = _login(sandbox, "bob")
        code = f"REF-Cu-deploy-{sandbox.web_port}"
        sample = api.post(f"{sandbox.url}/api/samples/", json={
            "code": code, "name": code, "material": "Cu", "morphology": "bulk"}, timeout=30)
        assert sample.status_code == 201, sample.text
        sample_id = sample.json()["id"]
        with XDI.open("rb") as handle:
            upload = api.post(f"{sandbox.url}/api/files/", data={"sample": sample_id},
                              files={"file": (XDI.name, handle)}, timeout=120)
        assert upload.status_code == 202, upload.text  # stored; parsed by a worker
        expected_sha = hashlib.sha256(XDI.read_bytes()).hexdigest()
        assert upload.json()["sha256"] == expected_sha
        parsed = _parsed(api, upload.json()["poll"], timeout=120)
        assert parsed["parse_status"] == "ok", parsed
        spectra = api.get(f"{sandbox.url}/api/xas-spectra/", params={"sample": sample_id},
                          timeout=30).json()["results"]
        assert len(spectra) == 1, spectra
        spectrum_id = spectra[0]["id"]

        download = api.get(f"{sandbox.url}/api/files/{upload.json()['id']}/download/",
                           timeout=60)
        assert download.status_code == 200
        assert hashlib.sha256(download.content).hexdigest() == expected_sha

        first = api.post(f"{sandbox.url}/api/fit-runs/",
                         json={"spectrum": spectrum_id, "model": _fit_model()}, timeout=60)
        assert (first.status_code, first.json()["status"]) == (201, "queued"), first.text
        done = _finished(api, sandbox, first.json()["id"], timeout=120)
        assert done is not None, logs()
        assert done["status"] == "succeeded", done
        assert done["result"] is not None

        # The broker goes away: the run is accepted and queued, /health/ says why.
        redis.stop()
        second = api.post(f"{sandbox.url}/api/fit-runs/",
                          json={"spectrum": spectrum_id, "model": _fit_model(amp_start=0.9)},
                          timeout=120)
        assert second.status_code == 202, second.text
        assert second.json()["status"] == "queued (broker unavailable, will be re-sent)"
        outage = _health(sandbox)
        assert outage.status_code == 503
        assert outage.json()["ok"] is False
        assert outage.json()["checks"]["broker"]["ok"] is False
        assert outage.json()["checks"]["database"]["ok"] is True
        time.sleep(3)  # past LABDB_JOB_RESEND_AFTER_S: the sweep cannot send it yet
        run = api.get(f"{sandbox.url}/api/fit-runs/{second.json()['id']}/", timeout=30).json()
        assert run["status"] == "queued", run

        redis.start()  # same port
        assert _wait(lambda: _listening(sandbox.redis_port), 15), redis.tail()
        done2 = _finished(api, sandbox, second.json()["id"], timeout=150)
        assert done2 is not None, logs()
        assert done2["status"] == "succeeded", done2
        assert done2["attempts"] == 1, done2
        assert done2["result"] not in (None, done["result"])
        fits = api.get(f"{sandbox.url}/api/xas-fits/",
                       params={"sample": sample_id, "source": "computed"}, timeout=30).json()
        assert sorted(f["id"] for f in fits["results"]) == sorted(
            [done["result"], done2["result"]])
        assert _wait(lambda: _health(sandbox).ok, 30, 1.0), _health(sandbox).text
        passed = True
    finally:
        for server in reversed(servers):
            server.stop()
        redis.stop()
        moto.stop()
        if passed:
            shutil.rmtree(sandbox.top, ignore_errors=True)
        else:
            print(f"deploy: logs kept in {sandbox.logs}")
