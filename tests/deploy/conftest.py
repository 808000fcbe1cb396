"""The deployment test runs only when asked for (``-m deploy``, ``make test-deploy``): it starts
PostgreSQL-backed servers of its own and takes about a minute, so ordinary runs leave it out."""

from __future__ import annotations


def pytest_collection_modifyitems(config, items):
    if "deploy" in (config.option.markexpr or ""):
        return
    kept = [item for item in items if item.get_closest_marker("deploy") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept
