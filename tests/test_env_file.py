"""The env file is parsed strictly, real environment variables win, production needs its keys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from labdb.lib.env import parse_env_file

ROOT = Path(__file__).resolve().parents[1]
_OURS = {"DATABASE_URL", "DEBUG", "LABDB_HTTPS", "SECRET_KEY", "ALLOWED_HOSTS", "LABDB_ENV_FILE"}


def _manage(*args: str, env: dict, tmp_path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in _OURS and not k.startswith("LABDB_")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        text=True,
        capture_output=True,
        env={**clean, "LABDB_VAR_DIR": str(tmp_path / "var"), **env},
        timeout=120,
    )


def _shell(code: str, *, env: dict, tmp_path) -> subprocess.CompletedProcess:
    return _manage("shell", "--no-imports", "-c", code, env=env, tmp_path=tmp_path)


def test_key_value_lines_comments_and_quotes():
    text = "# database\nDATABASE_URL=postgres://u:p@h/db\n\nDEBUG=\"false\"\nNAME='a b'\nEMPTY=\n"
    assert parse_env_file(text) == {
        "DATABASE_URL": "postgres://u:p@h/db",
        "DEBUG": "false",
        "NAME": "a b",
        "EMPTY": "",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "DEBUG=false\nLABDB_HTTPS=true   # TLS\n",
            "env, line 2: LABDB_HTTPS has an inline comment",
        ),
        ("DEBUG=false\njust words\n", "env, line 2: expected KEY=value, found 'just words'."),
        ("export DEBUG=false\n", "env, line 1: 'export DEBUG' is not a variable name"),
        ("DEBUG=1\nDEBUG=0\n", "env, line 2: DEBUG is set twice in the file."),
    ],
)
def test_unparsable_line_names_its_line_number(text, message):
    with pytest.raises(ImproperlyConfigured) as info:
        parse_env_file(text, source="env")
    assert message in str(info.value)


def test_env_file_is_read_and_real_environment_wins(tmp_path):
    env_file = tmp_path / "labdb.env"
    media = tmp_path / "from-file-media"
    env_file.write_text(f"MEDIA_ROOT={media}\nTIME_ZONE=Europe/Zurich\n")
    result = _shell(
        "from django.conf import settings; print(settings.MEDIA_ROOT, settings.TIME_ZONE)",
        env={"LABDB_ENV_FILE": str(env_file), "TIME_ZONE": "UTC"},
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{media} UTC"


def test_bad_env_file_stops_the_start(tmp_path):
    env_file = tmp_path / "labdb.env"
    env_file.write_text("DEBUG=false\nLABDB_HTTPS=true # behind nginx\n")
    result = _manage("check", env={"LABDB_ENV_FILE": str(env_file)}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert f"{env_file}, line 2: LABDB_HTTPS has an inline comment" in result.stderr


def test_named_env_file_must_exist(tmp_path):
    missing = tmp_path / "nope.env"
    result = _manage("check", env={"LABDB_ENV_FILE": str(missing)}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert f"LABDB_ENV_FILE='{missing}': no such file." in result.stderr


def test_env_example_is_accepted_by_the_strict_parser():
    values = parse_env_file((ROOT / ".env.example").read_text(), source=".env.example")
    assert values["DEBUG"] == "false"
    assert all("#" not in v for v in values.values())


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("SECRET_KEY", "SECRET_KEY is not set: with DEBUG=false and LABDB_HTTPS=true"),
        ("ALLOWED_HOSTS", "ALLOWED_HOSTS is not set: with DEBUG=false and LABDB_HTTPS=true"),
    ],
)
def test_production_requires_secret_key_and_allowed_hosts(tmp_path, missing, message):
    env = {
        "DEBUG": "false",
        "LABDB_HTTPS": "true",
        "SECRET_KEY": "x" * 60,
        "ALLOWED_HOSTS": "labdb.example.org",
    }
    del env[missing]
    result = _manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr


def test_https_alone_sends_no_hsts_and_preload_is_explicit(tmp_path):
    code = (
        "from django.conf import settings as s;"
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_PRELOAD, s.SECURE_HSTS_INCLUDE_SUBDOMAINS,"
        " s.DATABASES['default']['CONN_MAX_AGE'])"
    )
    base = {"DEBUG": "false", "LABDB_HTTPS": "true", "SECRET_KEY": "x" * 60}
    base |= {"ALLOWED_HOSTS": "labdb.example.org", "DATABASE_URL": "postgres://u:p@db/labdb"}
    plain = _shell(code, env=base, tmp_path=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.strip() == "0 False False 60"
    chosen = _shell(
        code,
        env=base
        | {"LABDB_HSTS_SECONDS": "31536000", "LABDB_HSTS_PRELOAD": "true"}
        | {"LABDB_DB_CONN_MAX_AGE_S": "0"},
        tmp_path=tmp_path,
    )
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.strip() == "31536000 True False 0"


def test_startup_line_names_database_storage_and_jobs(tmp_path):
    result = _manage("check", env={}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "labdb: database" in line]
    assert len(lines) == 1
    var = tmp_path / "var"
    assert lines[0].endswith(
        f"INFO labdb [-] labdb: database sqlite3 ({var / 'labdb.sqlite3'}); storage local files "
        f"in {var / 'media'}; no broker, jobs run in-process"
    )
