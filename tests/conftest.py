"""Shared fixtures: real database, real users in real groups, API clients."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def collected_static(tmp_path_factory):
    """collectstatic once per test session into a fresh directory, so {% static %} resolves
    through a real manifest (a name missing from it fails the test, as it would in production).
    Uncompressed (Django's ManifestStaticFilesStorage, <1 s instead of ~5 s): compression only
    changes what WhiteNoise serves, which the browser tests check against `make run`'s server."""
    from django.conf import settings
    from django.core.management import call_command
    from django.test.utils import override_settings

    storages = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"}}
    with override_settings(STATIC_ROOT=tmp_path_factory.mktemp("static"), STORAGES=storages):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield


@pytest.fixture(scope="session", autouse=True)
def inline_jobs():
    """Background jobs run inline in the pytest process (at submit time, in the caller's
    transaction), so a test sees a job's result at once. Only this process: servers and workers
    the tests start keep their own runner (make run's server uses the embedded pool)."""
    from django.test.utils import override_settings

    with override_settings(LABDB_JOB_RUNNER="inline"):
        yield


@pytest.fixture(scope="session")
def s3_endpoint():
    """URL of a real S3-API server (moto_server subprocess on loopback) for this test process;
    make a bucket per test with ``tests.s3.new_bucket``."""
    from tests.s3 import moto_server

    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def curators_group(db):
    from django.contrib.auth.models import Group

    return Group.objects.get_or_create(name="curators")[0]


@pytest.fixture
def member(db):
    from django.contrib.auth.models import User

    return User.objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def other_member(db):
    from django.contrib.auth.models import User

    return User.objects.create_user("bob", password="pw-bob-123")


@pytest.fixture
def curator(db, curators_group):
    from django.contrib.auth.models import User

    user = User.objects.create_user("carol", password="pw-carol-123")
    user.groups.add(curators_group)
    return user


def _client(user=None):
    from rest_framework.test import APIClient

    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def api(member):
    return _client(member)


@pytest.fixture
def other_api(other_member):
    return _client(other_member)


@pytest.fixture
def curator_api(curator):
    return _client(curator)


@pytest.fixture
def anon_api(db):
    return _client()


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``--dist loadgroup``) every test that uses the ``make run`` server
    runs in one worker, so the server (and its demo load) starts once, not once per worker."""
    for item in items:
        if "app_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("app_server"))
