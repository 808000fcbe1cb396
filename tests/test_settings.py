"""Settings are parsed strictly from the environment; production settings pass check --deploy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from labdb.lib.env import env_bool, parse_database_url

ROOT = Path(__file__).resolve().parents[1]


def _manage(*args: str, env: dict, tmp_path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DEBUG"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        text=True,
        capture_output=True,
        env={**clean, "LABDB_VAR_DIR": str(tmp_path), **env},
        timeout=120,
    )


def test_bad_boolean_is_an_error_at_start(tmp_path):
    result = _manage("check", env={"DEBUG": "maybe"}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean (use true/false, 1/0, yes/no)." in result.stderr


def test_bad_database_url_is_an_error_at_start(tmp_path):
    result = _manage("check", env={"DATABASE_URL": "mysql://x@y/z"}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "unsupported scheme 'mysql'" in result.stderr


def test_check_deploy_passes_with_production_variables(tmp_path):
    env = {
        "DEBUG": "false",
        "SECRET_KEY": "k" * 20 + "-Zq8#p2@L9!vX4$wR7&nT1^bY6*mC3(sD0)fG5",
        "ALLOWED_HOSTS": "labdb.example.org",
        "LABDB_HTTPS": "true",
        "LABDB_HSTS_SECONDS": "31536000",  # HSTS is explicit (README); without it W004 warns
    }
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_secret_key_generated_into_var_when_absent(tmp_path):
    result = _manage("check", env={"SECRET_KEY": ""}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    key = (tmp_path / "secret_key").read_text()
    assert len(key) >= 64


@pytest.mark.parametrize(
    "raw,expected", [("true", True), ("0", False), ("Yes", True), ("off", False)]
)
def test_env_bool_accepts(monkeypatch, raw, expected):
    monkeypatch.setenv("X_FLAG", raw)
    assert env_bool("X_FLAG", default=not expected) is expected


def test_database_urls_parsed():
    pg = parse_database_url("postgres://lab:s%40cret@db.example.org:5433/labdb")
    assert (pg["ENGINE"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"], pg["NAME"]) == (
        "django.db.backends.postgresql",
        "lab",
        "s@cret",
        "db.example.org",
        "5433",
        "labdb",
    )
    lite = parse_database_url("sqlite:////srv/labdb/db.sqlite3")
    assert (lite["NAME"], lite["OPTIONS"]["transaction_mode"]) == (
        "/srv/labdb/db.sqlite3",
        "IMMEDIATE",
    )
    with pytest.raises(ImproperlyConfigured):
        parse_database_url("postgres://host:notaport/db")


def test_static_files_served_by_whitenoise_from_hashed_compressed_copies():
    from django.conf import settings

    middleware = settings.MIDDLEWARE
    security = middleware.index("django.middleware.security.SecurityMiddleware")
    assert middleware[security + 1] == "whitenoise.middleware.WhiteNoiseMiddleware"
    apps = settings.INSTALLED_APPS
    assert apps.index("whitenoise.runserver_nostatic") + 1 == apps.index(
        "django.contrib.staticfiles")
    # the settings module's own value (the test session collects into a temporary root)
    from labdb import settings as labdb_settings

    assert labdb_settings.STORAGES["staticfiles"] == {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}
    assert labdb_settings.DEBUG is False


def test_api_authentication_token_first_and_no_basic_auth():
    from django.conf import settings

    assert settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] == [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ]
    assert "rest_framework.authtoken" not in settings.INSTALLED_APPS
    assert settings.REST_KNOX["AUTH_HEADER_PREFIX"] == "Token"


def test_api_token_lifetime_is_a_strict_setting(tmp_path):
    result = _manage("shell", "-c", "from django.conf import settings; "
                     "print(settings.REST_KNOX['TOKEN_TTL'].days)",
                     env={"LABDB_API_TOKEN_TTL_DAYS": "30"}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "30"
    bad = _manage("check", env={"LABDB_API_TOKEN_TTL_DAYS": "a month"}, tmp_path=tmp_path)
    assert bad.returncode != 0
    assert "LABDB_API_TOKEN_TTL_DAYS" in bad.stderr


def test_make_run_serves_through_the_one_serve_step():
    """`make run` = demo (setup + load_demo) then `serve`; the browser tests run `make run`."""
    dry = subprocess.run(["make", "-n", "--no-print-directory", "run"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    commands = [line for line in dry.splitlines() if "manage.py" in line]
    assert [c.split("manage.py ")[1] for c in commands if "runserver" in c] == [
        "runserver --noreload 127.0.0.1:8000"]
    assert any("collectstatic --noinput" in c for c in commands)
    assert any("load_demo" in c for c in commands)
