"""Strict parsing of settings from environment variables.

A malformed value stops the process at start-up with a message naming the variable, instead of
silently falling back to a default (a typo in DEBUG must never enable debug in production).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str | None = None) -> str | None:
    """The raw value, or ``default`` when unset or empty."""
    value = os.environ.get(name, "").strip()
    return value if value else default


def env_bool(name: str, default: bool) -> bool:
    """Parse a boolean; only 1/0/true/false/yes/no/on/off (any case) are accepted."""
    raw = env_str(name)
    if raw is None:
        return default
    low = raw.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false, 1/0, yes/no).")


def env_int(name: str, default: int) -> int:
    """Parse a base-10 integer."""
    raw = env_str(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    """Comma-separated list, blanks dropped."""
    raw = env_str(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def parse_database_url(url: str, *, var: str = "DATABASE_URL") -> dict:
    """Turn ``sqlite:///path`` or ``postgres://user:pw@host:port/name`` into a DATABASES entry.

    Raises ImproperlyConfigured for any other scheme or a URL without a database name.
    """
    parsed = urlparse(url)
    scheme = parsed.scheme
    options = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    if scheme == "sqlite":
        path = unquote(parsed.path)
        if url.startswith("sqlite:////"):
            path = "/" + path.lstrip("/")
        elif url.startswith("sqlite:///"):
            path = path.lstrip("/")
        if not path:
            raise ImproperlyConfigured(f"{var}={url!r}: a SQLite URL needs a file path.")
        return sqlite_database(path)
    if scheme in {"postgres", "postgresql", "pgsql"}:
        name = unquote(parsed.path.lstrip("/"))
        if not name:
            raise ImproperlyConfigured(f"{var}={url!r}: the database name is missing.")
        try:
            port = parsed.port
        except ValueError:
            raise ImproperlyConfigured(f"{var}={url!r}: the port is not a number.") from None
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": unquote(parsed.hostname or ""),
            "PORT": str(port or ""),
            "CONN_MAX_AGE": env_int("LABDB_DB_CONN_MAX_AGE_S", 60),
            "CONN_HEALTH_CHECKS": env_bool("LABDB_DB_CONN_HEALTH_CHECKS", True),
            "OPTIONS": options,
        }
    raise ImproperlyConfigured(
        f"{var}={url!r}: unsupported scheme {scheme!r} (use sqlite:/// or postgres://)."
    )


def sqlite_database(path: str) -> dict:
    """SQLite tuned for a small multi-user web app: WAL, busy timeout, IMMEDIATE writes, and a
    connection kept by each long-lived thread (the embedded job pool's workers) for
    ``LABDB_DB_CONN_MAX_AGE_S`` seconds instead of one opened and closed per job."""
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": path,
        "CONN_MAX_AGE": env_int("LABDB_DB_CONN_MAX_AGE_S", 60),
        "CONN_HEALTH_CHECKS": env_bool("LABDB_DB_CONN_HEALTH_CHECKS", True),
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
                " PRAGMA foreign_keys=ON;"
            ),
        },
    }


# --- env file --------------------------------------------------------------------------------

_KEY_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def parse_env_file(text: str, *, source: str = ".env") -> dict[str, str]:
    """Parse ``KEY=value`` lines as systemd EnvironmentFile and ``docker --env-file`` read them.

    Blank lines and lines starting with ``#`` are skipped. A value is taken verbatim after the
    first ``=`` (surrounding double or single quotes are removed; no variable expansion). Any
    other line — no ``=``, an invalid name, ``export KEY=…``, a value with an inline ``# comment``
    — raises ImproperlyConfigured naming the file and the line number.
    """
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        where = f"{source}, line {number}"
        if not sep:
            raise ImproperlyConfigured(f"{where}: expected KEY=value, found {raw!r}.")
        if not key or key[0].isdigit() or not set(key) <= _KEY_CHARS:
            raise ImproperlyConfigured(
                f"{where}: {key!r} is not a variable name (letters, digits and _ only; "
                "no 'export')."
            )
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value or "\t#" in value:
            raise ImproperlyConfigured(
                f"{where}: {key} has an inline comment; systemd and docker would keep it as "
                "part of the value. Put comments on their own line."
            )
        if key in values:
            raise ImproperlyConfigured(f"{where}: {key} is set twice in the file.")
        values[key] = value
    return values


def load_env_file(base_dir: Path) -> Path | None:
    """Load the env file into ``os.environ`` without overriding real environment variables.

    The file is ``$LABDB_ENV_FILE`` when set (it must exist), else ``.env`` beside manage.py
    when present. Returns the path loaded, or None. Errors name the file and line.
    """
    named = os.environ.get("LABDB_ENV_FILE", "").strip()
    if named:
        path = Path(named)
        if not path.is_file():
            raise ImproperlyConfigured(f"LABDB_ENV_FILE={named!r}: no such file.")
    else:
        path = base_dir / ".env"
        if not path.is_file():
            return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImproperlyConfigured(f"{path}: cannot be read as UTF-8 text ({exc}).") from None
    for key, value in parse_env_file(text, source=str(path)).items():
        os.environ.setdefault(key, value)
    return path
