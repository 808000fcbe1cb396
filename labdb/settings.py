"""labdb settings, read from environment variables (see .env.example).

Boring and strict: every variable is parsed by ``labdb.lib.env``; a malformed value is an error
at start-up. Nothing is switched on an environment *name*; each behaviour has its own variable.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from labdb.lib.env import (
    env_bool,
    env_int,
    env_list,
    env_str,
    load_env_file,
    parse_database_url,
)
from labdb.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
# $LABDB_ENV_FILE, else .env beside manage.py; real environment variables win over the file.
LABDB_ENV_FILE_LOADED = load_env_file(BASE_DIR)
VAR_DIR = Path(env_str("LABDB_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


# Production = DEBUG off behind HTTPS: SECRET_KEY and ALLOWED_HOSTS must be given explicitly.
_PRODUCTION = not env_bool("DEBUG", False) and env_bool("LABDB_HTTPS", False)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once into var/ for local use."""
    key = env_str("SECRET_KEY")
    if key:
        return key
    if _PRODUCTION:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set: with DEBUG=false and LABDB_HTTPS=true (production) it must "
            "be given in the environment or the env file."
        )
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(64))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
if _PRODUCTION and not env_list("ALLOWED_HOSTS", []):
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS is not set: with DEBUG=false and LABDB_HTTPS=true (production) list the "
        "host names the site is served under, e.g. ALLOWED_HOSTS=labdb.example.org."
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before staticfiles: runserver leaves /static/ to WhiteNoise, exactly as in production.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "labdb",  # operator commands (create_curator, migrate_files…) and the start-up log line
    "django.contrib.postgres",  # pg_trgm search indexes (web); inert on SQLite
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "import_export",
    "synthesis",
    "characterization",
    "analysis",
    "web",
    "axes",  # login throttling and lockout (AXES_* below)
    "csp",  # Content-Security-Policy header (CONTENT_SECURITY_POLICY below)
]

MIDDLEWARE = [
    # First: every response and every log record of the request carries X-Request-ID.
    "labdb.middleware.RequestIdMiddleware",
    # Every error answer under /api/ is JSON (also 503 + Retry-After for a busy database).
    "labdb.middleware.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files in every configuration (DEBUG on or off, runserver or a WSGI server).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",  # every page and answer (static files need none)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes requires: a locked-out login gets the lockout response.
    "axes.middleware.AxesMiddleware",
]

# Login throttling (django-axes): AxesStandaloneBackend first refuses a locked-out username+IP
# on every login path (UI, admin, POST /api/auth/login/ basic auth); each failure and lockout
# is an AccessAttempt/AccessFailureLog row and a log line; a curator unlocks by deleting the
# attempt in the admin ("Axes" section) or with `manage.py axes_reset_username USER`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LABDB_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LABDB_LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_HTTP_RESPONSE_CODE = 429
# load_demo refuses --demo-users (known passwords) on a production configuration.
LABDB_PRODUCTION = _PRODUCTION

ROOT_URLCONF = "labdb.urls"
WSGI_APPLICATION = "labdb.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": parse_database_url(env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'labdb.sqlite3'}"))
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not memory: tests that start a real Celery worker share the test database.
    # One file per test process, so concurrent test runs never share a database.
    (VAR_DIR / "test-dbs").mkdir(exist_ok=True)
    DATABASES["default"]["TEST"] = {
        "NAME": str(VAR_DIR / "test-dbs" / f"test-{os.getpid()}.sqlite3")
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "web" / "assets"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Storage: local files by default; any S3-compatible store when LABDB_S3_BUCKET is set.
_S3_BUCKET = env_str("LABDB_S3_BUCKET")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed, compressed copies made by collectstatic; WhiteNoise serves them with a year-long
    # immutable Cache-Control. A {% static %} name missing from the manifest is an error.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if _S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": _S3_BUCKET,
            "endpoint_url": env_str("LABDB_S3_ENDPOINT_URL"),
            "access_key": env_str("LABDB_S3_ACCESS_KEY"),
            "secret_key": env_str("LABDB_S3_SECRET_KEY"),
            # MinIO and Ceph RGW usually want "path"; AWS S3 "virtual" (README "S3 storage").
            "addressing_style": env_str("LABDB_S3_ADDRESSING_STYLE"),
            "region_name": env_str("LABDB_S3_REGION"),
            "file_overwrite": False,
        },
    }

# Uploads: the size limit is a setting (bytes); larger files are refused with a clear error.
LABDB_MAX_UPLOAD_BYTES = env_int("LABDB_MAX_UPLOAD_BYTES", 200 * 1024 * 1024)
LABDB_MAX_EXPANDED_BYTES = env_int("LABDB_MAX_EXPANDED_BYTES", 512 * 1024 * 1024)
# Decoded-size caps for parsers (characterization/parsers/_limits.py), checked before decoding.
LABDB_MAX_PIXELS = env_int("LABDB_MAX_PIXELS", 2**28)
LABDB_MAX_TABLE_CELLS = env_int("LABDB_MAX_TABLE_CELLS", 10_000_000)
# Uploads stream to a temporary file on disk; the per-file limit is enforced while reading.
FILE_UPLOAD_HANDLERS = [
    "labdb.upload_handlers.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# Security: HTTPS-only cookies and HSTS when LABDB_HTTPS is on (production behind TLS).
_HTTPS = env_bool("LABDB_HTTPS", False)
SESSION_COOKIE_SECURE = _HTTPS
CSRF_COOKIE_SECURE = _HTTPS
SECURE_SSL_REDIRECT = _HTTPS and env_bool("LABDB_SSL_REDIRECT", True)
# HSTS is an explicit, hard-to-undo choice: off unless LABDB_HSTS_SECONDS is set (README).
SECURE_HSTS_SECONDS = env_int("LABDB_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("LABDB_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("LABDB_HSTS_PRELOAD", False)
# includeSubDomains and preload are opt-in choices (README "HSTS"), not omissions: check --deploy
# keeps warning about HSTS being off (W004) but not about these two.
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _HTTPS else None
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp), enforcing in every configuration (never report-only):
# scripts only from our own static files (no inline code, no eval); the API docs use the
# sidecar's split views (labdb/urls.py), so they need no inline script either. style-src allows
# 'unsafe-inline' because plotly (and Swagger UI / Redoc) set inline styles. worker-src adds
# blob: because Redoc starts its search worker from a blob URL. Violations are POSTed to
# /csp-report/ and logged (logger "labdb.csp").
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "style-src": [SELF, UNSAFE_INLINE],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "worker-src": [SELF, "blob:"],
        "report-uri": "/csp-report/",
    },
}
LABDB_RETRY_AFTER_S = env_int("LABDB_RETRY_AFTER_S", 5)  # Retry-After of a 503 (database busy)
CSRF_FAILURE_VIEW = "labdb.errors.csrf_failure"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Hashed tokens with expiry (django-rest-knox); header `Authorization: Token <key>`.
        # First, so that a missing, revoked or expired token is a 401 with a Token challenge.
        # Basic authentication is accepted only by POST /api/auth/login/, which mints a token.
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["labdb.lib.permissions.LabMemberPermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "labdb.lib.api.LabdbPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "labdb.lib.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# API tokens (django-rest-knox): hashed at rest, one per script, expiring; members manage their
# own at /account/tokens/ and scripts can get one from POST /api/auth/login/ (basic auth).
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=env_int("LABDB_API_TOKEN_TTL_DAYS", 90)),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "labdb API",
    "DESCRIPTION": "Synthesis, characterization and XAS analysis records of a nanocrystal lab.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One choice set for every printed qualifier (=, <, ~, range …) on steps, additions and
    # measurements: one schema name, not one per field.
    "ENUM_NAME_OVERRIDES": {"QualifierEnum": "synthesis.models.Qualifier",
                            "FlagKindEnum": "synthesis.enums.FlagKind",
                            "DataSourceEnum": "characterization.enums.DataSource",
                            "RunStatusEnum": "analysis.enums.RunStatus"},
    # The JSON error answers (400/401/403/404/409/410/413/415/429/503) each operation can give.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "labdb.lib.api_schema.document_error_responses"],
}

IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False
SIMPLE_HISTORY_REVERT_DISABLED = False

# Background jobs (labdb.lib.jobs): one job path, three runners. "pool" (default without a
# broker): a bounded thread pool inside the server process; "celery" (default with
# CELERY_BROKER_URL): Celery workers; "inline": at once in the calling thread (the pytest
# process sets it in tests/conftest.py; never for a server: requests would wait for the job).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND")
LABDB_JOB_RUNNER = env_str("LABDB_JOB_RUNNER", "celery" if CELERY_BROKER_URL else "pool")
if LABDB_JOB_RUNNER not in ("pool", "celery", "inline"):
    raise ImproperlyConfigured(
        f"LABDB_JOB_RUNNER={LABDB_JOB_RUNNER!r}: expected pool (background threads in the "
        "server), celery (workers; needs CELERY_BROKER_URL) or inline (tests only)."
    )
if LABDB_JOB_RUNNER == "celery" and not CELERY_BROKER_URL:
    raise ImproperlyConfigured(
        "LABDB_JOB_RUNNER=celery needs CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0)."
    )
LABDB_JOB_WORKERS = env_int("LABDB_JOB_WORKERS", 2)
if LABDB_JOB_WORKERS < 1:
    raise ImproperlyConfigured(f"LABDB_JOB_WORKERS={LABDB_JOB_WORKERS}: at least 1 thread.")
# Each parse runs in a child process under these OS limits (characterization/parse_worker.py):
# address space (RLIMIT_AS, MB) and CPU seconds (RLIMIT_CPU; the wall clock gets twice that).
LABDB_PARSE_MEMORY_MB = env_int("LABDB_PARSE_MEMORY_MB", 2048)
LABDB_PARSE_TIMEOUT_S = env_int("LABDB_PARSE_TIMEOUT_S", 120)
if LABDB_PARSE_MEMORY_MB < 64 or LABDB_PARSE_TIMEOUT_S < 1:
    raise ImproperlyConfigured(
        "LABDB_PARSE_MEMORY_MB must be at least 64 and LABDB_PARSE_TIMEOUT_S at least 1 "
        f"(got {LABDB_PARSE_MEMORY_MB} MB, {LABDB_PARSE_TIMEOUT_S} s)."
    )
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# larch and lmfit write to sys.stdout and read its .encoding; keep the real stream.
CELERY_WORKER_REDIRECT_STDOUTS = False
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("LABDB_VISIBILITY_TIMEOUT_S", 3600)
}
LABDB_JOB_HEARTBEAT_TIMEOUT_S = env_int("LABDB_JOB_HEARTBEAT_TIMEOUT_S", 120)
# Queued runs whose message never reached the broker are re-sent after this many seconds.
LABDB_JOB_RESEND_AFTER_S = env_int("LABDB_JOB_RESEND_AFTER_S", 60)
# celery beat runs the re-send sweep and the stale-run reaper this often (labdb/celery.py).
LABDB_JOB_SWEEP_EVERY_S = env_int("LABDB_JOB_SWEEP_EVERY_S", 30)

try:
    LOGGING = logging_config(
        log_format=env_str("LABDB_LOG_FORMAT", "text"), level=env_str("LOG_LEVEL", "WARNING")
    )
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from None
