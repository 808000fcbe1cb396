"""Fixtures for the web UI tests: a logged-in lab member and small real datasets."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.fixture
def web(member) -> Client:
    """A Django test client logged in as the lab member ``alice``."""
    client = Client()
    client.force_login(member)
    return client


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Uploaded files and previews go to a throwaway directory."""
    settings.MEDIA_ROOT = tmp_path / "media"
