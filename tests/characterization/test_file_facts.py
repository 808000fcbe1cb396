"""Every fact a file states lands on its rows: XAS beamline facts, TEM acquisition, the header
tree (searchable), stated times with their time zone, Athena groups, parser-version history."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from characterization.models import DataFile, TEMImageMeasurement, XASSpectrum
from tests.conftest import SHARED_DATA
from tests.synthesis import builders

pytestmark = pytest.mark.django_db

CU_XDI = SHARED_DATA / "xas" / "xdi" / "cu_metal_rt.xdi"
SAED = SHARED_DATA / "instruments" / "tiff" / "JEOL-SightX-SAED-dummy.tif"
PRJ = SHARED_DATA / "lab_exports" / "xas_lcf" / "cyanobacteria.prj"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TIME_ZONE = "Europe/Zurich"


def _upload(client, path, sample, **extra):
    body = {"file": SimpleUploadedFile(path.name, path.read_bytes()), "sample": sample.pk}
    response = client.post("/api/files/", {**body, **extra}, format="multipart")
    assert response.status_code == 202, response.content
    return DataFile.objects.get(pk=response.json()["id"])


def test_xdi_facts_are_on_the_spectrum_with_the_lab_local_time(api, member):
    sample = builders.sample("CU-F", material="Cu", morphology="bulk", actor=member)
    data_file = _upload(api, CU_XDI, sample)
    x = XASSpectrum.objects.get(data_file=data_file)
    assert (x.element, x.edge, x.mode, x.facility, x.beamline) == (
        "Cu", "K", "transmission", "APS", "13ID"
    )
    assert (x.monochromator, x.mono_d_spacing_a, x.e0_ev) == ("Si 111", 3.13553, 8980.0)
    # Scan.start_time 2001-06-26T22:27:31 has no offset: the lab's clock (TIME_ZONE).
    zurich = zoneinfo.ZoneInfo("Europe/Zurich")
    assert x.measured_at == dt.datetime(2001, 6, 26, 22, 27, 31, tzinfo=zurich)
    assert data_file.metadata["fields"]["beamline.focusing"] == "yes"


def test_files_api_filters_on_a_metadata_key(api, member):
    sample = builders.sample("CU-M", material="Cu", morphology="bulk", actor=member)
    cu = _upload(api, CU_XDI, sample)
    _upload(api, SAED, sample)
    listed = api.get("/api/files/?meta=facility:APS").json()["results"]
    by_number = api.get("/api/files/?meta=mono_d_spacing_a:3.13553").json()["results"]
    none = api.get("/api/files/?meta=facility:SSRL").json()["results"]
    assert ([f["id"] for f in listed], [f["id"] for f in by_number], none) == (
        [cu.pk], [cu.pk], []
    )
    bad = api.get("/api/files/?meta=facility")
    assert (bad.status_code, bad.json()["field"]) == (400, "meta")


def test_tem_image_acquisition_facts_are_a_row(api, member):
    sample = builders.sample("NPL-SAED", actor=member)
    data_file = _upload(api, SAED, sample)
    row = TEMImageMeasurement.objects.get(data_file=data_file)
    # a diffraction pattern: calibrated in 1/nm, so no real-space pixel size
    assert (row.accelerating_voltage_kv, row.camera_length_mm, row.magnification,
            row.pixel_size_nm) == (200.0, 400.0, None, None)
    assert row.measured_at == dt.datetime(2015, 7, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Zurich"))
    listed = api.get(f"/api/tem-images/?sample={sample.pk}").json()["results"]
    assert [(r["id"], r["accelerating_voltage_kv"]) for r in listed] == [(row.pk, 200.0)]


def test_athena_project_takes_no_group_by_default_and_the_chosen_ones_when_asked(api, member):
    sample = builders.sample("AU-T", material="Au", morphology="QD", actor=member)
    foil = builders.sample("REF-Au-foil", material="Au", morphology="bulk", actor=member)
    data_file = _upload(api, PRJ, sample)
    assert XASSpectrum.objects.filter(data_file=data_file).count() == 0
    assert [g["label"] for g in data_file.metadata["groups"]][7:9] == ["720", "Au foil"]
    chosen = api.post(f"/api/files/{data_file.pk}/link/",
                      {"sample": sample.pk, "groups": [0, 7]}, format="json")
    reference = api.post(f"/api/files/{data_file.pk}/link/",
                         {"sample": foil.pk, "groups": [8]}, format="json")
    assert (chosen.status_code, reference.status_code) == (200, 200), chosen.content
    rows = XASSpectrum.objects.filter(data_file=data_file).order_by("sample__code", "group_index")
    assert [(r.sample.code, r.group_index, r.group_label, r.element, r.edge) for r in rows] == [
        ("AU-T", 0, "0.12", "Au", "L3"),
        ("AU-T", 7, "720", "Au", "L3"),
        ("REF-Au-foil", 8, "Au foil", "Au", "L3"),
    ]
    bad = api.post(f"/api/files/{data_file.pk}/link/",
                   {"sample": foil.pk, "groups": [17]}, format="json")
    assert (bad.status_code, bad.json()["message"]) == (
        400, "groups: cyanobacteria.prj has 17 groups (0–16); there is no group 17."
    )


def test_athena_groups_chosen_at_upload(api, member):
    sample = builders.sample("AU-U", material="Au", morphology="QD", actor=member)
    data_file = _upload(api, PRJ, sample, groups="1,2")
    assert list(XASSpectrum.objects.filter(data_file=data_file).order_by("group_index")
                .values_list("group_label", flat=True)) == ["2.42", "4.73"]


def test_reparse_files_updates_old_files_and_records_the_parser_change(api, member):
    sample = builders.sample("CU-R", material="Cu", morphology="bulk", actor=member)
    data_file = _upload(api, CU_XDI, sample)
    current = data_file.parser_version
    DataFile.objects.filter(pk=data_file.pk).update(parser_version="0.0-old")
    XASSpectrum.objects.filter(data_file=data_file).update(monochromator="")
    call_command("reparse_files")
    data_file.refresh_from_db()
    (entry,) = data_file.parser_history
    assert (entry["from_version"], entry["to_version"], data_file.parser_version) == (
        "0.0-old", current, current
    )
    assert XASSpectrum.objects.get(data_file=data_file).monochromator == "Si 111"
    latest = data_file.history.order_by("-history_date", "-history_id").first()
    assert latest.history_change_reason.startswith("re-parsed: ")
