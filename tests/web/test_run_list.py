"""The run list (/runs/): filters reproduce from the URL, newest first, paginated; the
dashboard lists runs, samples and files by time, so a run just logged comes first."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.synthesis import builders

UTC = dt.UTC


def _codes(html: str) -> list[str]:
    return re.findall(r'<td><a href="/runs/\d+/">([^<]+)</a></td>', html)


def _run(recipe, code, started, actor, product=None, **inputs):
    from synthesis.services import record_synthesis_run

    products = [{"data": {"code": product, "name": product, "material": "CdSe",
                          "morphology": "NPL"}}] if product else []
    return record_synthesis_run(
        data={"code": code, "started_at": started, "operator": actor}, recipe=recipe,
        products=products, unknown_inputs=[i.name for i in recipe.inputs.all()], actor=actor)


@pytest.fixture
def runs(member, other_member):
    core = builders.core_recipe(actor=member)
    shell = builders.shell_recipe(actor=member)
    return {
        "core": core, "shell": shell,
        "a": _run(core, "R-2024-01", dt.datetime(2024, 1, 10, 9, tzinfo=UTC), member, "NPL-A1"),
        "b": _run(core, "R-2024-06", dt.datetime(2024, 6, 2, 9, tzinfo=UTC), other_member,
                  "NPL-B7"),
        "c": _run(shell, "R-2025-02", dt.datetime(2025, 2, 20, 9, tzinfo=UTC), member,
                  "CS-C3"),
        "d": _run(shell, "R-UNDATED", None, other_member),  # logged now, no start time
    }


def test_run_list_is_newest_first_by_performed_else_logged_time(web, runs):
    html = web.get("/runs/").content.decode()
    assert _codes(html) == ["R-UNDATED", "R-2025-02", "R-2024-06", "R-2024-01"]
    assert "4 runs, newest first" in html


@pytest.mark.parametrize(("query", "expected"), [
    ("recipe={core}", ["R-2024-06", "R-2024-01"]),
    ("recipe={shell}", ["R-UNDATED", "R-2025-02"]),
    ("operator={bob}", ["R-UNDATED", "R-2024-06"]),
    ("product=b7", ["R-2024-06"]),
    ("product=NPL-", ["R-2024-06", "R-2024-01"]),
    ("date_after=2024-02-01&date_before=2025-01-31", ["R-2024-06"]),
    ("recipe={core}&operator={alice}", ["R-2024-01"]),
])
def test_run_list_filters_reproduce_from_the_url(web, runs, member, other_member, query,
                                                 expected):
    url = "/runs/?" + query.format(core=runs["core"].pk, shell=runs["shell"].pk,
                                   alice=member.pk, bob=other_member.pk)
    assert _codes(web.get(url).content.decode()) == expected


def test_run_list_bad_date_is_named(web, runs):
    response = web.get("/runs/?date_after=2024-13-45")
    html = response.content.decode()
    assert response.status_code == 400
    assert "Enter a valid date." in html
    assert "A filter above is not valid" in html
    assert _codes(html) == []


def test_run_list_paginates(web, runs, member, settings):
    from web import search_views

    recipe = runs["core"]
    for i in range(search_views.RUNS_PER_PAGE):
        _run(recipe, f"R-BULK-{i:03d}", dt.datetime(2023, 1, 1, tzinfo=UTC)
             + dt.timedelta(hours=i), member)
    first = web.get("/runs/").content.decode()
    assert len(_codes(first)) == search_views.RUNS_PER_PAGE
    assert "Page 1 of 2" in first
    second = web.get("/runs/?page=2").content.decode()
    assert _codes(second) == ["R-BULK-003", "R-BULK-002", "R-BULK-001", "R-BULK-000"]
    filtered = web.get(f"/runs/?recipe={recipe.pk}&page=2").content.decode()
    assert f'href="?recipe={recipe.pk}&amp;page=1"' in filtered


def test_run_list_query_count_does_not_grow_with_runs(web, runs, member):
    with CaptureQueriesContext(connection) as four:
        web.get("/runs/")
    for i in range(3):
        _run(runs["core"], f"R-MORE-{i}", None, member, f"NPL-MORE-{i}")
    with CaptureQueriesContext(connection) as seven:
        web.get("/runs/")
    assert len(seven.captured_queries) == len(four.captured_queries)


def test_header_links_to_the_run_list(web, runs):
    html = web.get("/").content.decode()
    assert '<a href="/runs/" >Runs</a>' in html
    assert 'action="/search/"' in html
    assert 'aria-current="page">Runs</a>' in web.get("/runs/").content.decode()


def test_dashboard_lists_a_run_just_logged_first(web, runs, member):
    """Runs are listed by when they were logged, not by code or start time."""
    _run(runs["core"], "A-000-JUST-LOGGED", dt.datetime(2020, 1, 1, tzinfo=UTC), member,
         "AAA-NEW")
    html = web.get("/").content.decode()
    runs_section = html[html.index('id="h-runs"'):html.index('id="h-samples"')]
    assert _codes(runs_section) == ["A-000-JUST-LOGGED", "R-UNDATED", "R-2025-02",
                                    "R-2024-06", "R-2024-01"]
    samples_section = html[html.index('id="h-samples"'):html.index('id="h-fits"')]
    assert re.findall(r'<a href="/samples/\d+/">([^<]+)</a>', samples_section) == [
        "AAA-NEW", "CS-C3", "NPL-B7", "NPL-A1"]


def test_dashboard_lists_recent_files_newest_first(web, runs, member):
    from characterization.services import attach_data_file
    from synthesis.models import Sample
    from tests.conftest import SHARED_DATA

    sample = Sample.objects.get(code="NPL-A1")
    for name in ("filters.csv", "CuPCtS_H2O_vis.csv"):
        path = SHARED_DATA / "instruments" / "cary_csv" / name
        attach_data_file(content=path.read_bytes(), filename=name, sample=sample, actor=member)
    html = web.get("/").content.decode()
    files = html[html.index('id="h-files"'):html.index('id="h-parses"')]
    assert re.findall(r'#files">([^<]+)</a>', files) == ["CuPCtS_H2O_vis.csv", "filters.csv"]
