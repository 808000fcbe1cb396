"""Every page of the web UI: login required, 200 for a lab member, the content it promises."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.synthesis import builders

pytestmark = pytest.mark.django_db

PAGES = ["/", "/samples/", "/runs/new/", "/fit-runs/?ids=1", "/fit-runs/status.json?ids=1"]

# Recognised as XRDML by its content, then cut short: parses as "failed" (content no parser
# recognises at all is kept as an attachment instead).
BROKEN_XRDML = (b'<?xml version="1.0"?>\n<xrdMeasurements '
                b'xmlns="http://www.xrdml.com/XRDMeasurement/1.5">\n<broken')


@pytest.mark.parametrize("url", [*PAGES, "/samples/1/", "/runs/1/", "/fits/1/",
                                 "/files/1/series.json", "/files/1/preview.png",
                                 "/runs/new/?recipe=1"])
def test_page_anonymous_redirects_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("url", ["/samples/1/files/", "/fits/1/refit/", "/fits/refit-stale/"])
def test_post_anonymous_redirects_to_login(client, url):
    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", PAGES)
def test_page_member_gets_200(web, url):
    assert web.get(url).status_code == 200


def test_login_page_labels_every_field(client):
    html = client.get("/accounts/login/").content.decode()
    assert '<label for="id_username">' in html
    assert '<label for="id_password">' in html


def test_login_with_demo_style_password_reaches_dashboard(client, member):
    response = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice-123"},
                           follow=True)
    assert response.redirect_chain == [("/", 302)]
    assert b"Dashboard" in response.content


def test_dashboard_lists_recent_runs_samples_and_failed_parses(web, member):
    from characterization.services import attach_data_file

    recipe = builders.core_recipe(actor=member)
    from synthesis.services import record_synthesis_run

    record_synthesis_run(data={"code": "RUN-1"}, recipe=recipe, actor=member, products=[
        {"data": {"code": "NPL-A", "name": "a", "material": "CdSe", "morphology": "NPL"}}])
    # Recognised as XRDML but cut short: a failed parse (unrecognised content is an attachment).
    attach_data_file(content=BROKEN_XRDML, filename="junk.txt", sample=None, actor=member)
    html = web.get("/").content.decode()
    assert "RUN-1" in html
    assert "NPL-A" in html
    assert "junk.txt" in html
    assert "✗" in html and "failed" in html  # status is a word and a symbol, not a colour


# --- sample list -----------------------------------------------------------------------------

def _codes(html: str) -> list[str]:
    return re.findall(r'<a href="/samples/\d+/">([^<]+)</a>', html)


@pytest.fixture
def samples(member, other_member):
    from synthesis.services import create_sample

    core = builders.sample("NPL-CdSe-4.5", actor=member, core_ml=4.5,
                           synthesis_date="2024-03-01")
    crown = create_sample(data={"code": "NPL-CdSe/CdS-4.5", "name": "crown", "material": "CdSe/CdS",
                                "morphology": "NPL", "synthesis_date": "2024-04-01"},
                          layers=[{"role": "core", "material": "CdSe", "thickness_ml": 4.5},
                                  {"role": "crown", "material": "CdS"}],
                          parents=[{"parent": core, "process": "crown_growth"}], actor=member)
    qd = builders.sample("QD-CdTe", actor=other_member, material="CdTe", morphology="QD",
                         core_ml=None, synthesis_date="2025-01-10")
    return core, crown, qd


@pytest.mark.parametrize("query, expected", [
    ("", ["NPL-CdSe-4.5", "NPL-CdSe/CdS-4.5", "QD-CdTe"]),
    ("q=cdte", ["QD-CdTe"]),
    ("material=CdSe", ["NPL-CdSe-4.5", "NPL-CdSe/CdS-4.5"]),
    ("morphology=QD", ["QD-CdTe"]),
    ("architecture=core/crown", ["NPL-CdSe/CdS-4.5"]),
    ("architecture=core", ["NPL-CdSe-4.5"]),
    ("core_ml=4.5", ["NPL-CdSe-4.5", "NPL-CdSe/CdS-4.5"]),
    ("date_after=2024-03-15&date_before=2024-12-31", ["NPL-CdSe/CdS-4.5"]),
])
def test_sample_list_filters_reproduce_from_the_url(web, samples, query, expected):
    html = web.get(f"/samples/?{query}").content.decode()
    assert _codes(html) == expected


def test_sample_list_filters_by_owner(web, samples, other_member):
    html = web.get(f"/samples/?owner={other_member.pk}").content.decode()
    assert _codes(html) == ["QD-CdTe"]


def test_sample_list_form_keeps_the_query_and_labels_fields(web, samples):
    html = web.get("/samples/?q=cdte&architecture=core").content.decode()
    assert 'value="cdte"' in html
    for name in ("q", "material", "morphology", "architecture", "core_ml", "owner", "date_after",
                 "date_before"):
        assert f'<label for="id_{name}">' in html


def test_sample_list_bad_filter_value_shows_error_beside_field(web, samples):
    html = web.get("/samples/?core_ml=thick").content.decode()
    assert 'id="id_core_ml_error"' in html


def _count_list_queries(web) -> int:
    web.get("/samples/")  # warm the session and user caches
    with CaptureQueriesContext(connection) as ctx:
        assert web.get("/samples/").status_code == 200
    return len(ctx.captured_queries)


def test_sample_list_query_count_is_pinned_at_1_and_3_samples(web, member):
    from synthesis.services import create_sample

    first = builders.sample("S-1", actor=member, core_ml=3.5)
    one = _count_list_queries(web)
    for code in ("S-2", "S-3"):
        create_sample(data={"code": code, "name": code, "material": "CdSe/CdS",
                            "morphology": "NPL"},
                      layers=[{"role": "core", "material": "CdSe", "thickness_ml": 4.5},
                              {"role": "crown", "material": "CdS"}],
                      parents=[{"parent": first, "process": "crown_growth"}], actor=member)
    three = _count_list_queries(web)
    # session, user, owner choices, samples, layers, parent links: no count query when the
    # page ends the matches (labdb.lib.pagination.capped_page)
    assert (one, three) == (6, 6)


# --- sample page -----------------------------------------------------------------------------

def test_sample_page_shows_layers_and_clickable_lineage(web, samples):
    core, crown, _qd = samples
    html = web.get(f"/samples/{crown.pk}/").content.decode()
    assert "CdS" in html and "crown" in html
    assert f'href="/samples/{core.pk}/">NPL-CdSe-4.5</a> <span class="muted">parent' in html
    html = web.get(f"/samples/{core.pk}/").content.decode()
    assert f'href="/samples/{crown.pk}/">NPL-CdSe/CdS-4.5</a> <span class="muted">child' in html


def test_sample_page_shows_measurements_and_xas_fit_paths_with_errors(web, samples, member):
    from characterization.models import PLMeasurement, TEMSizeMeasurement
    from characterization.services import record_measurement, record_xas_fit

    core = samples[0]
    record_measurement(model=TEMSizeMeasurement, sample=core, actor=member,
                       data={"length_nm": 29.8, "length_sd_nm": 4.6, "source": "published"})
    record_measurement(model=PLMeasurement, sample=core, actor=member,
                       data={"peak_nm": 512.0, "qy_pct": 55.8, "source": "published"})
    record_xas_fit(sample=core, actor=member, data={
        "absorber": "Cd", "edge_name": "K", "source": "published", "citation": "Table 8",
        "r_factor": 0.012}, paths=[{"absorber": "Cd", "scatterer": "S", "n": 2.911, "n_err": 0.432,
                                    "r_a": 2.491, "r_err_a": 0.0247}])
    html = web.get(f"/samples/{core.pk}/").content.decode()
    assert "29.8 ± 4.6" in html
    assert "55.8" in html
    assert "2.911 ± 0.432" in html
    assert "2.491 ± 0.0247" in html
    assert "Table 8" in html


def test_sample_page_unknown_sample_is_404(web, db):
    assert web.get("/samples/999999/").status_code == 404


# --- uploads ---------------------------------------------------------------------------------

def test_upload_real_file_returns_fragment_with_status_and_plot(web, samples):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.conftest import SHARED_DATA

    path = SHARED_DATA / "instruments" / "cary_csv" / "CuPCtS_H2O_vis.csv"
    upload = SimpleUploadedFile(path.name, path.read_bytes(), content_type="text/csv")
    response = web.post(f"/samples/{samples[0].pk}/files/", {"files": [upload]},
                        headers={"X-Requested-With": "fetch"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "CuPCtS_H2O_vis.csv" in html
    assert "✓</span> ok" in html
    file_id = int(re.search(r'id="file-(\d+)"', html).group(1))
    assert web.get(f"/files/{file_id}/preview.png")["Content-Type"] == "image/png"
    series = web.get(f"/files/{file_id}/series.json").json()
    assert len(series["series"][0]["x"]) == len(series["series"][0]["y"]) > 10


def test_upload_unparseable_file_shows_failed_status_and_error(web, samples):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("notes.bin", BROKEN_XRDML)
    html = web.post(f"/samples/{samples[0].pk}/files/", {"files": [upload]},
                    headers={"X-Requested-With": "fetch"}).content.decode()
    assert "✗</span> failed" in html
    assert "Could not parse:" in html


def test_upload_without_js_redirects_back_with_message(web, samples):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("empty.csv", b"")
    response = web.post(f"/samples/{samples[0].pk}/files/", {"files": [upload]}, follow=True)
    assert response.redirect_chain[-1][0] == f"/samples/{samples[0].pk}/#files"
    assert "empty.csv: file: empty.csv is empty." in response.content.decode()


# --- explorer --------------------------------------------------------------------------------

def test_explore_with_no_samples_gets_200(web):
    html = web.get("/explore/").content.decode()
    assert "The table (0 samples)" in html


def test_explore_member_gets_200(web, samples):
    assert web.get("/explore/").status_code == 200


def test_explore_url_reproduces_the_choice(web, samples):
    from analysis.selectors import structure_property_frame  # noqa: F401  (delivered)

    html = web.get("/explore/?x=core_ml&y=qy_pct&group=architecture").content.decode()
    assert '<option value="core_ml" selected>' in html
    assert '<option value="architecture" selected>' in html
    assert 'id="explore-traces"' in html


def test_explore_unknown_column_is_reported_in_words(web, samples):
    html = web.get("/explore/?x=nonsense").content.decode()
    assert "x: &#x27;nonsense&#x27; is not a column that can be plotted" in html


def test_explore_csv_download(web, samples):
    response = web.get("/explore/?format=csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    header = response.content.decode().splitlines()[0].split(",")
    assert header[:3] == ["sample_code", "sample_id", "architecture"]
