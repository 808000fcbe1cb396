"""Values typed in at the bench: services (validation, permissions, versions) and the API."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied

from characterization import services
from characterization.models import (
    AbsorptionMeasurement,
    PLMeasurement,
    ReportedQuantity,
    TEMSizeMeasurement,
)
from characterization.services import ManualEntryError
from labdb.lib.errors import ConflictError
from tests.synthesis import builders

pytestmark = pytest.mark.django_db

QY = {"qy_pct": 62.5, "qy_method": "relative", "reference_dye": "rhodamine 6G",
      "solvent": "hexane", "excitation_nm": 405}


@pytest.fixture
def sample(member):
    return builders.sample("NPL-MAN", actor=member, synthesis_date=dt.date(2026, 1, 5))


def _record(kind, sample, actor, **entry):
    return services.record_manual_measurement(kind=kind, sample=sample, entry=entry, actor=actor)


def test_qy_relative_stored_with_method_author_and_manual_source(sample, member):
    pl = _record("qy", sample, member, **QY, measured_on=dt.date(2026, 2, 1), notes="bench 3")
    stored = PLMeasurement.objects.get(pk=pl.pk)
    assert (stored.source, stored.owner, stored.qy_pct, stored.qy_method, stored.reference_dye,
            stored.solvent, stored.excitation_nm, stored.notes, stored.extra) == (
        "manual", member, 62.5, "relative", "rhodamine 6G", "hexane", 405.0, "bench 3",
        {"manual_kind": "qy"})
    assert stored.measured_at.date() == dt.date(2026, 2, 1)
    assert stored.created_at is not None
    assert stored.history.first().history_user == member


def test_tem_size_goes_to_the_measured_dimension(sample, member):
    tem = _record("tem", sample, member, dimension="edge", mean_nm=12.4, sd_nm=0.8, n_counted=212)
    stored = TEMSizeMeasurement.objects.get(pk=tem.pk)
    assert (stored.edge_nm, stored.edge_sd_nm, stored.n_counted, stored.length_nm,
            stored.diameter_nm) == (12.4, 0.8, 212, None, None)
    assert services.manual_entry_of(stored) == {
        "dimension": "edge", "mean_nm": 12.4, "sd_nm": 0.8, "n_counted": 212,
        "measured_on": None, "notes": ""}


def test_absorption_1s_peak_also_stored_in_ev(sample, member):
    row = _record("absorption", sample, member, peak_1s_nm=512.0)
    assert AbsorptionMeasurement.objects.get(pk=row.pk).peak_1s_ev == 2.421566


def test_quantity_with_pint_unit(sample, member):
    row = _record("quantity", sample, member, quantity="PL lifetime", value=18.2, err=0.4,
                  unit="ns")
    stored = ReportedQuantity.objects.get(pk=row.pk)
    assert (stored.quantity, stored.value, stored.err, stored.unit, stored.source) == (
        "PL lifetime", 18.2, 0.4, "ns", "manual")


@pytest.mark.parametrize("entry,errors", [
    ({**QY, "qy_pct": 120}, {"qy_pct": "QY (%): 120 % is not plausible; expected at least 0 "
                                        "and at most 100 % (a percentage)."}),
    ({**QY, "reference_dye": ""}, {"reference_dye": "reference dye: a relative QY needs the dye "
                                   "it was measured against (e.g. rhodamine 6G in ethanol)."}),
    ({**QY, "qy_method": "absolute"}, {"reference_dye": "reference dye: an absolute QY "
                                       "(integrating sphere) has no reference dye; leave it "
                                       "empty or choose 'relative'."}),
    ({**QY, "excitation_nm": 40, "qy_method": "guess"}, {
        "qy_method": "QY method: 'guess' is not a method; choose 'absolute' (integrating "
                     "sphere) or 'relative' (to a reference dye).",
        "excitation_nm": "excitation wavelength (nm): 40 nm is not plausible; expected at "
                         "least 200 and at most 3000 nm (enter the wavelength in nm)."}),
])
def test_qy_entry_errors_name_every_field_and_write_nothing(sample, member, entry, errors):
    with pytest.raises(ManualEntryError) as caught:
        _record("qy", sample, member, **entry)
    assert caught.value.errors == errors
    assert PLMeasurement.objects.count() == 0


def test_tem_entry_errors(sample, member):
    with pytest.raises(ManualEntryError) as caught:
        _record("tem", sample, member, dimension="height", mean_nm=-3, sd_nm=-1, n_counted=0)
    assert caught.value.errors == {
        "dimension": "what was measured: 'height' is not one of length, width, diameter, "
                     "thickness, edge.",
        "mean_nm": "mean size (nm): -3 nm is not plausible; expected greater than 0 and at "
                   "most 100000 nm.",
        "sd_nm": "SD (nm): -1 nm is negative; a standard deviation is ≥ 0.",
        "n_counted": "N counted: 0 — at least 1 particle must have been counted.",
    }
    assert TEMSizeMeasurement.objects.count() == 0


def test_n_counted_must_be_whole(sample, member):
    with pytest.raises(ManualEntryError) as caught:
        _record("tem", sample, member, dimension="length", mean_nm=20, n_counted=12.5)
    assert caught.value.errors == {
        "n_counted": "N counted: 12.5 is not a whole number of particles."}


@pytest.mark.parametrize("unit,message", [
    ("furlongz", "unit: 'furlongz' is not a unit labdb knows; expected a unit such as nm, eV, "
                 "meV, ns, K, °, Å⁻¹, mol/L or %, or no unit."),
    ("a.u.", "unit: 'a.u.' is ambiguous (read as atomic mass unit × year); leave the unit "
             "empty for arbitrary or relative units."),
])
def test_unknown_unit_rejected(sample, member, unit, message):
    with pytest.raises(ManualEntryError) as caught:
        _record("quantity", sample, member, quantity="x", value=1, unit=unit)
    assert caught.value.errors == {"unit": message}
    assert ReportedQuantity.objects.count() == 0


def test_measured_on_before_synthesis_or_in_future_rejected(sample, member):
    with pytest.raises(ManualEntryError) as caught:
        _record("pl", sample, member, peak_nm=512, measured_on=dt.date(2025, 12, 31))
    assert caught.value.errors == {"measured_on": "measured on: 2025-12-31 is before NPL-MAN "
                                                  "was synthesised (2026-01-05)."}
    future = dt.date.today() + dt.timedelta(days=2)
    with pytest.raises(ManualEntryError) as caught:
        _record("pl", sample, member, peak_nm=512, measured_on=future)
    assert caught.value.errors == {"measured_on": f"measured on: {future} is in the future."}


def test_only_owner_and_curators_add(sample, member, other_member, curator):
    with pytest.raises(PermissionDenied) as caught:
        _record("pl", sample, other_member, peak_nm=512)
    assert str(caught.value) == (
        "Only the owner of NPL-MAN (alice) and curators can add measurements to it.")
    assert _record("pl", sample, curator, peak_nm=512).owner == curator
    assert PLMeasurement.objects.count() == 1


def test_edit_by_author_with_version_and_conflict_names_who(sample, member, curator):
    pl = _record("pl", sample, member, peak_nm=512, fwhm_nm=9)
    services.update_manual_measurement(measurement=pl, entry={"fwhm_nm": 8.5},
                                       expected_version=1, actor=curator)
    with pytest.raises(ConflictError) as caught:
        services.update_manual_measurement(measurement=pl, entry={"peak_nm": 515},
                                           expected_version=1, actor=member)
    assert caught.value.message == (
        "This PL peak was changed by carol since you opened it (your version 1, now version 2)"
        " — reload the page to see the change, then edit again.")
    stored = PLMeasurement.objects.get(pk=pl.pk)
    assert (stored.peak_nm, stored.fwhm_nm, stored.version) == (512.0, 8.5, 2)


def test_other_member_cannot_edit_or_retire(sample, member, other_member):
    pl = _record("pl", sample, member, peak_nm=512)
    with pytest.raises(PermissionDenied):
        services.update_manual_measurement(measurement=pl, entry={"peak_nm": 500},
                                           expected_version=1, actor=other_member)
    with pytest.raises(PermissionDenied):
        services.retire_manual_measurement(measurement=pl, reason="typo", expected_version=1,
                                           actor=other_member)
    assert PLMeasurement.objects.get(pk=pl.pk).version == 1


def test_retire_needs_reason_and_current_version(sample, member):
    pl = _record("pl", sample, member, peak_nm=512)
    with pytest.raises(ConflictError):
        services.retire_manual_measurement(measurement=pl, reason="typo", expected_version=3,
                                           actor=member)
    retired = services.retire_manual_measurement(measurement=pl, reason="typo in the peak",
                                                 expected_version=1, actor=member)
    assert (retired.is_retired, retired.retired_reason, retired.version) == (
        True, "typo in the peak", 2)


def test_published_rows_are_not_edited_as_manual(sample, member):
    published = services.record_measurement(model=PLMeasurement, sample=sample, actor=member,
                                            data={"peak_nm": 512, "source": "published"})
    with pytest.raises(services.DomainError) as caught:
        services.update_manual_measurement(measurement=published, entry={"peak_nm": 1},
                                           expected_version=1, actor=member)
    assert caught.value.message == (
        f"This value (id {published.pk}) was not entered by hand (source: published); only "
        "manual measurements are edited here.")


# --- API ---------------------------------------------------------------------------------------

def test_api_create_qy_then_patch_then_conflict_then_retire(api, sample, curator_api):
    created = api.post("/api/manual-measurements/", {"kind": "qy", "sample": sample.pk, **QY},
                       format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["kind"], body["source"], body["version"], body["entry"]["qy_pct"],
            body["entry"]["qy_method"], body["measurement_url"]) == (
        "qy", "manual", 1, 62.5, "relative", f"/api/pl-measurements/{body['id']}/")
    url = f"/api/manual-measurements/qy/{body['id']}/"
    patched = curator_api.patch(url, {"version": 1, "qy_pct": 64.0}, format="json")
    assert (patched.status_code, patched.json()["entry"]["qy_pct"]) == (200, 64.0)
    stale = api.patch(url, {"version": 1, "qy_pct": 10}, format="json")
    assert stale.status_code == 409
    assert stale.json()["message"].startswith("This quantum yield was changed by carol since "
                                              "you opened it")
    assert stale.json()["current_version"] == 2
    listed = api.get(f"/api/pl-measurements/?sample={sample.pk}&source=manual").json()
    assert [r["qy_pct"] for r in listed["results"]] == [64.0]
    retired = api.delete(f"{url}?reason=wrong+dye&version=2")
    assert (retired.status_code, retired.json()["is_retired"]) == (200, True)


def test_api_bad_values_400_with_every_field(api, sample):
    response = api.post("/api/manual-measurements/", {
        "kind": "tem", "sample": sample.pk, "dimension": "length", "mean_nm": 0, "sd_nm": -2},
        format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "mean_nm": "mean size (nm): 0 nm is not plausible; expected greater than 0 and at most "
                   "100000 nm.",
        "sd_nm": "SD (nm): -2 nm is negative; a standard deviation is ≥ 0.",
    }
    assert TEMSizeMeasurement.objects.count() == 0


def test_api_other_member_403_anonymous_401(other_api, anon_api, sample):
    body = {"kind": "pl", "sample": sample.pk, "peak_nm": 512}
    assert other_api.post("/api/manual-measurements/", body, format="json").status_code == 403
    assert anon_api.post("/api/manual-measurements/", body, format="json").status_code in (
        401, 403)
    assert PLMeasurement.objects.count() == 0


def test_api_generic_endpoint_refuses_manual_source(api, sample):
    response = api.post("/api/pl-measurements/", {"sample": sample.pk, "peak_nm": 512,
                                                  "source": "manual"}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "source"


def test_api_generic_endpoint_refuses_to_patch_manual_rows(api, sample, member):
    pl = _record("pl", sample, member, peak_nm=512)
    response = api.patch(f"/api/pl-measurements/{pl.pk}/", {"version": 1, "peak_nm": 90},
                         format="json")
    assert (response.status_code, response.json()["message"]) == (
        400, f"source: values entered by hand are changed through "
             f"/api/manual-measurements/pl/{pl.pk}/.")
    assert PLMeasurement.objects.get(pk=pl.pk).peak_nm == 512.0
