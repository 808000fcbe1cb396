"""Simulated spectra (FDMNES, FEFF xmu.dat) uploaded to a model-structure sample.

A model structure is a reference sample (``is_reference=True``) created like any other; the
simulation outputs uploaded to it become XAS spectra with ``source="simulated"``, labelled
SIMULATED in the API, on the sample page and in the plots, and readable as μ(E) by the fit
and LCF path (``load_mu``). Real files from shared/data; real database; inline jobs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from analysis.services.fits import load_mu
from characterization.models import DataFile, XASSpectrum
from characterization.services import parse_data_file
from synthesis.models import Sample

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
RAW = SHARED / "xas" / "beamlines" / "FDMNES_2022_Mo2C_out.dat"
CONV = SHARED / "xas" / "beamlines" / "FDMNES_2022_Mo2C_out_conv.dat"
XMU = Path(__file__).parent / "parsers" / "data" / "feff8l_cds" / "xmu.dat"


@pytest.fixture
def model_sample(api) -> Sample:
    body = {"code": "MODEL-Mo2C (FDMNES)", "name": "Mo2C model structure (FDMNES)",
            "material": "Mo2C", "morphology": "bulk", "is_reference": True,
            "external_origin": "model structure: simulated spectra only",
            "notes": "FDMNES 2022 XANES of Mo2C (xraylarch examples)"}
    response = api.post("/api/samples/", body, format="json")
    assert response.status_code == 201, response.content
    return Sample.objects.get(pk=response.json()["id"])


def _upload(api, sample: Sample, path: Path) -> DataFile:
    body = {"file": SimpleUploadedFile(path.name, path.read_bytes()), "sample": sample.pk}
    response = api.post("/api/files/", body, format="multipart")
    assert response.status_code == 202, response.content
    return DataFile.objects.get(pk=response.json()["id"])


def _loadtxt_after(path: Path, marker: str) -> np.ndarray:
    lines = path.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip().startswith(marker))
    return np.loadtxt(lines[start + 1 :])


def test_fdmnes_upload_is_a_simulated_spectrum_of_the_model_sample(api, model_sample):
    raw, conv = _upload(api, model_sample, RAW), _upload(api, model_sample, CONV)
    assert (raw.format, raw.parse_status, conv.format, conv.parse_status) == (
        "fdmnes", "ok", "fdmnes", "ok")
    rows = api.get(f"/api/xas-spectra/?sample={model_sample.pk}").json()["results"]
    by_file = {r["data_file"]: r for r in rows}
    assert sorted(by_file) == sorted([raw.pk, conv.pk])
    got = [(by_file[f.pk]["source"], by_file[f.pk]["element"], by_file[f.pk]["edge"],
            by_file[f.pk]["e0_ev"], by_file[f.pk]["measured_at"]) for f in (raw, conv)]
    assert got == [("simulated", "Mo", "K", 20000.0, None)] * 2
    simulation = [by_file[f.pk]["extra"]["simulation"] for f in (raw, conv)]
    assert [(s["simulation_code"], s["convoluted"]) for s in simulation] == [
        ("FDMNES", False), ("FDMNES", True)]
    assert simulation[1]["convolution"]["gamma_hole_ev"] == 1.25
    assert simulation[0]["energy_reference"]["e_edge_ev"] == 20000.0
    only_simulated = api.get(f"/api/xas-spectra/?sample={model_sample.pk}&source=measured")
    assert only_simulated.json()["count"] == 0


def test_simulated_spectrum_loads_as_mu_for_fits_and_lcf(api, model_sample):
    """``load_mu`` (the path every XAS run reads μ(E) through) returns E_edge + ΔE and the
    cross-section column, checked against numpy.loadtxt of the same file."""
    _upload(api, model_sample, CONV)
    spectrum = XASSpectrum.objects.get(sample=model_sample)
    energy_ev, mu, provenance = load_mu(spectrum)
    table = _loadtxt_after(CONV, "Energy")
    np.testing.assert_array_equal(energy_ev, 20000.0 + table[:, 0])
    np.testing.assert_array_equal(mu, table[:, 1])
    assert (provenance["parser"], provenance["file"]) == ("labdb.fdmnes", CONV.name)


def test_reparse_replaces_the_simulated_row(api, model_sample):
    data_file = _upload(api, model_sample, RAW)
    first = XASSpectrum.objects.get(data_file=data_file)
    parse_data_file(data_file=data_file)
    rows = list(XASSpectrum.objects.filter(data_file=data_file))
    assert [(r.source, r.sample_id) for r in rows] == [("simulated", model_sample.pk)]
    assert rows[0].pk != first.pk


def test_feff_xmu_upload_is_simulated_with_its_structure(api, model_sample):
    data_file = _upload(api, model_sample, XMU)
    spectrum = XASSpectrum.objects.get(data_file=data_file)
    assert (spectrum.source, spectrum.element, spectrum.edge) == ("simulated", "Cd", "K")
    assert spectrum.extra["simulation"]["structure"] == {
        "stated": True, "title": "CdS zincblende a=5.818, Cd K", "path_rmax_a": 5.0}
    assert spectrum.extra["simulation"]["calculation"] == "EXAFS"


def test_sample_page_labels_simulated_spectra(api, model_sample, client, member):
    _upload(api, model_sample, CONV)
    client.force_login(member)
    page = client.get(f"/samples/{model_sample.pk}/").content.decode()
    assert '<span class="badge badge-warn"><span aria-hidden="true">≈</span> SIMULATED</span>' in (
        page)
    assert "FDMNES Revision 20th of January 2022 · convoluted" in page
    assert ('<span data-model-structure>model structure: every spectrum of it is <span class="'
            'badge badge-warn"><span aria-hidden="true">≈</span> SIMULATED</span> (computed from '
            "a structure, not measured)</span>") in page


def test_xas_plot_offers_the_other_simulated_spectra_as_overlays(api, model_sample, client,
                                                                  member):
    raw, conv = _upload(api, model_sample, RAW), _upload(api, model_sample, CONV)
    client.force_login(member)
    page = client.get(f"/samples/{model_sample.pk}/").content.decode()
    assert page.count("data-simulated-overlay ") == 2  # one select per XAS file's plot
    option = (f'<option value="/files/{conv.pk}/series.json">SIMULATED · Mo K · '
              "MODEL-Mo2C (FDMNES) · FDMNES convoluted</option>")
    raw_option = (f'<option value="/files/{raw.pk}/series.json">SIMULATED · Mo K · '
                  "MODEL-Mo2C (FDMNES) · FDMNES raw</option>")
    assert (page.count(option), page.count(raw_option)) == (1, 1)  # never its own file
    assert "js/simulated_overlay" in page


def test_fit_builder_lists_a_simulated_spectrum_as_simulated(api, model_sample, client, member):
    data_file = _upload(api, model_sample, RAW)
    spectrum = XASSpectrum.objects.get(data_file=data_file)
    client.force_login(member)
    page = client.get(f"/fit-builder/?spectra={spectrum.pk}").content.decode()
    label = f"SIMULATED · MODEL-Mo2C (FDMNES) · Mo K · {RAW.name}"
    assert f'<option value="{spectrum.pk}">{label}</option>' in page
