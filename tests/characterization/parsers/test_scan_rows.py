"""Every scan of a multi-scan file its own measurement row; XAS column tables declared.

Unlike the other modules here these tests use the database (rows are what they check): real
uploads through the API, real files from shared/data. Independent readers: numpy.loadtxt on
the Edinburgh table, the BRML README's scan count, larch.io.read_ascii for the XAS tables.
"""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from characterization.models import DataFile, PLMeasurement, XASSpectrum, XRDMeasurement
from characterization.parsers.registry import parse_file
from characterization.services import xas_spectrum_series
from tests.synthesis import builders

from ._files import SHARED_DATA, XAS

pytestmark = pytest.mark.django_db
EDINST = SHARED_DATA / "lab_exports" / "edinst"
BEAMLINES = XAS / "beamlines"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def sample(member):
    return builders.sample("SCAN-1", material="CdSe", morphology="NPL", actor=member)


def _upload(api, sample, path) -> DataFile:
    body = {"file": SimpleUploadedFile(path.name, path.read_bytes()), "sample": sample.pk}
    response = api.post("/api/files/", body, format="multipart")
    assert response.status_code == 202, response.content
    return DataFile.objects.get(pk=response.json()["id"])


def test_each_emission_scan_is_its_own_pl_row(api, sample, client, member):
    """Fluoracle_emission_multiple.txt: 5 emission scans (Em 1 … Em 5), 500–600 nm. Each row's
    peak is the wavelength of that column's maximum read with numpy.loadtxt."""
    path = EDINST / "Fluoracle_emission_multiple.txt"
    data_file = _upload(api, sample, path)
    lines = path.read_text(encoding="latin-1").splitlines()
    table = np.loadtxt([ln for ln in lines if ln[:1].isdigit()])
    rows = list(PLMeasurement.objects.filter(data_file=data_file).order_by("scan_index"))
    assert [(r.scan_index, r.scan_label) for r in rows] == [(i, f"Em {i + 1}") for i in range(5)]
    assert [r.peak_nm for r in rows] == [float(table[np.argmax(table[:, k]), 0]) for k in
                                         range(1, 6)]
    listed = api.get(f"/api/pl-measurements/?sample={sample.pk}").json()["results"]
    assert sorted((r["scan_index"], r["scan_label"]) for r in listed) == [
        (i, f"Em {i + 1}") for i in range(5)
    ]
    client.force_login(member)
    page = client.get(f"/samples/{sample.pk}/").content.decode()
    assert [f"scan {i}: Em {i + 1}" in page for i in range(5)] == [True] * 5
    assert "5 scans in this file" in page


def test_each_brml_scan_is_its_own_xrd_row_with_its_start_time(api, sample):
    """Diffrac_multiple.brml: 80 RawData scans of 12–14.5° 2θ, each with its own
    TimeStampStarted (RawData1 started 2017-10-10 19:09:35.806 +01:00)."""
    data_file = _upload(api, sample, SHARED_DATA / "lab_exports" / "brml" / "Diffrac_multiple.brml")
    rows = list(XRDMeasurement.objects.filter(data_file=data_file).order_by("scan_index"))
    assert [r.scan_index for r in rows] == list(range(80))
    assert [r.scan_label for r in rows[:3]] == ["RawData0", "RawData1", "RawData2"]
    assert rows[1].measured_at == dt.datetime(
        2017, 10, 10, 19, 9, 35, 806143, tzinfo=dt.timezone(dt.timedelta(hours=1))
    )
    assert {(r.twotheta_min_deg, r.twotheta_max_deg) for r in rows[:2]} == {(12.0001, 14.5001)}
    assert len({r.measured_at for r in rows}) == 80


def test_decays_are_addressable_scans_but_no_rows(api, sample, client, member):
    """F980_IRF_multiple.txt: 44 TCSPC decays; a lifetime needs a fit, so no row is derived,
    but every decay is listed on the file (metadata.scans, page)."""
    data_file = _upload(api, sample, EDINST / "F980_IRF_multiple.txt")
    assert PLMeasurement.objects.filter(data_file=data_file).count() == 0
    scans = api.get(f"/api/files/{data_file.pk}/").json()["metadata"]["scans"]
    assert [s["label"] for s in scans] == [f"Decay{i}" for i in range(1, 45)]
    client.force_login(member)
    page = client.get(f"/samples/{sample.pk}/").content.decode()
    assert "44 scans in this file" in page


def test_snbl_scans_become_two_spectra_once_the_absorber_is_declared(api, sample):
    """ESRF_SNBL_2013.dat: GeO2 (its #F path), two #S scans, no element in the header; each
    spectrum row keeps its scan's own start time."""
    path = BEAMLINES / "ESRF_SNBL_2013.dat"
    data_file = _upload(api, sample, path)
    response = api.post(f"/api/files/{data_file.pk}/declare-xas/",
                        {"element": "Ge", "edge": "K"}, format="json")
    assert response.status_code == 200, response.content
    spectra = sorted(response.json()["spectra"], key=lambda r: r["group_index"])
    assert [(r["group_index"], r["group_label"], r["mode"]) for r in spectra] == [
        (0, "μ(E) scan 1", "transmission"), (1, "μ(E) scan 2", "transmission")
    ]
    rows = XASSpectrum.objects.filter(data_file=data_file).order_by("group_index")
    assert [r.measured_at for r in rows] == [  # each scan's #D, read in the lab's time zone
        timezone.make_aware(dt.datetime(2013, 6, 28, 13, 44, 15)),
        timezone.make_aware(dt.datetime(2013, 6, 28, 13, 49, 9)),
    ]
    parsed = parse_file(path.read_bytes(), filename=path.name)
    second = XASSpectrum.objects.get(data_file=data_file, group_index=1)
    assert xas_spectrum_series(second, parsed).x.size == 906  # the fit reads scan 2, not 1


def _larch_table(path) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from larch.io import read_ascii
    return np.asarray(read_ascii(str(path)).data, dtype=float)


def test_column_table_spectrum_is_created_by_declaring_its_columns(api, sample):
    """generic_columns_no_header.dat (Ge K range 10.9–11.5 keV): stored with μ not formed and
    no spectrum; the API declaration (energy col 1 in eV, transmission col2/col3) creates it,
    and the μ a fit reads is ln(col2/col3) of larch's table."""
    path = BEAMLINES / "generic_columns_no_header.dat"
    data_file = _upload(api, sample, path)
    assert (data_file.parse_status, data_file.key_numbers["mu_formed"]) == ("ok", False)
    assert XASSpectrum.objects.filter(data_file=data_file).count() == 0
    body = {"element": "Ge", "edge": "K", "energy_column": "1", "energy_unit": "eV",
            "mode": "transmission", "numerator": "2", "denominator": "3"}
    response = api.post(f"/api/files/{data_file.pk}/declare-xas/", body, format="json")
    assert response.status_code == 200, response.content
    (row,) = response.json()["spectra"]
    assert (row["element"], row["edge"], row["mode"], row["sample"]) == (
        "Ge", "K", "transmission", sample.pk
    )
    data_file.refresh_from_db()
    assert data_file.declared_xas["columns"] == {
        "energy_column": 1, "energy_unit": "eV", "mode": "transmission",
        "numerator": 2, "denominator": 3,
    }
    table = _larch_table(path)
    series = xas_spectrum_series(XASSpectrum.objects.get(data_file=data_file),
                                 parse_file(path.read_bytes(), filename=path.name))
    np.testing.assert_allclose(series.y, np.log(table[1] / table[2]), rtol=1e-12)


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({}, "energy_column", "energy_column: generic_columns_no_header.dat does not say which "
         "columns form μ; declare the energy column and unit, transmission or fluorescence, "
         "and the numerator and denominator columns."),
        ({"energy_column": "1", "energy_unit": "eV", "mode": "transmission", "numerator": "2",
          "denominator": "9"}, "denominator", "denominator: '9' is not a column of this file; "
         "expected a column number 1–7 or one of the names col1, col2, col3, col4, col5, col6, "
         "col7"),
        ({"energy_column": "1", "energy_unit": "keV", "mode": "transmission", "numerator": "2",
          "denominator": "3"}, "edge", "edge: the Ge K edge is at 11103 eV, outside this "
         "file's energy range (1.09069e+07–1.15056e+07 eV); is it another element or edge?"),
    ],
)
def test_column_declaration_that_cannot_be_is_refused_naming_the_field(
    api, sample, extra, field, message
):
    data_file = _upload(api, sample, BEAMLINES / "generic_columns_no_header.dat")
    body = {"element": "Ge", "edge": "K", **extra}
    response = api.post(f"/api/files/{data_file.pk}/declare-xas/", body, format="json")
    assert (response.status_code, response.json()["field"], response.json()["message"]) == (
        400, field, message
    )
    assert XASSpectrum.objects.filter(data_file=data_file).count() == 0
    data_file.refresh_from_db()
    assert data_file.declared_xas == {}


def test_cls_columns_declared_on_the_sample_page(api, sample, client, member):
    """CLSHXMA.dat names its detectors only $(Detector1)…: the sample page offers the column
    form; posting it (fluorescence detector1/detector2, As K) creates the spectrum."""
    path = BEAMLINES / "CLSHXMA.dat"
    data_file = _upload(api, sample, path)
    client.force_login(member)
    page = client.get(f"/samples/{sample.pk}/").content.decode()
    assert "nor which columns form μ" in page and 'name="numerator"' in page
    form = {"element": "As", "edge": "K", "energy_column": "3", "energy_unit": "eV",
            "mode": "fluorescence", "numerator": "5", "denominator": "6"}
    response = client.post(f"/samples/{sample.pk}/files/{data_file.pk}/declare-xas/", form)
    assert response.status_code == 302
    spectrum = XASSpectrum.objects.get(data_file=data_file)
    assert (spectrum.element, spectrum.edge, spectrum.mode) == ("As", "K", "fluorescence")
    table = _larch_table(path)
    series = xas_spectrum_series(spectrum, parse_file(path.read_bytes(), filename=path.name))
    np.testing.assert_allclose(series.y, table[4] / table[5], rtol=1e-12)
