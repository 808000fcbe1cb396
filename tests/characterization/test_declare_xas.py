"""XAS files that do not name their absorber: kept as 'element unknown' until declared."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from characterization.models import DataFile, XASSpectrum
from tests.conftest import SHARED_DATA
from tests.synthesis import builders

pytestmark = pytest.mark.django_db

# SSRL microprobe scan, 10900–11411 eV, no element or edge in its header (Ge K is 11103 eV).
SSRL = SHARED_DATA / "xas" / "beamlines" / "SSRLmicro_2008.dat"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def unknown(api, member):
    sample = builders.sample("GE-1", material="Ge", morphology="film", actor=member)
    body = {"file": SimpleUploadedFile(SSRL.name, SSRL.read_bytes()), "sample": sample.pk}
    response = api.post("/api/files/", body, format="multipart")
    assert response.status_code == 202, response.content
    return sample, DataFile.objects.get(pk=response.json()["id"])


def _declare(client, data_file, element, edge):
    return client.post(
        f"/api/files/{data_file.pk}/declare-xas/", {"element": element, "edge": edge},
        format="json",
    )


def test_xas_without_element_is_stored_with_no_spectrum_until_declared(unknown, api):
    sample, data_file = unknown
    assert (data_file.technique, data_file.parse_status) == ("xas", "ok")
    assert XASSpectrum.objects.filter(data_file=data_file).count() == 0
    response = _declare(api, data_file, "ge", "k")
    assert response.status_code == 200, response.content
    (spectrum,) = response.json()["spectra"]
    assert (spectrum["sample"], spectrum["element"], spectrum["edge"], spectrum["mode"]) == (
        sample.pk, "Ge", "K", "fluorescence"
    )
    assert (spectrum["facility"], spectrum["e0_ev"]) == ("SSRL", 11107.5)
    data_file.refresh_from_db()
    assert (data_file.declared_xas["element"], data_file.declared_xas["edge"]) == ("Ge", "K")
    # a re-parse keeps the declaration and the one spectrum
    from characterization.services import parse_data_file

    parse_data_file(data_file=data_file)
    assert list(XASSpectrum.objects.filter(data_file=data_file).values_list("element", "edge")) \
        == [("Ge", "K")]


@pytest.mark.parametrize(
    ("element", "edge", "field", "message"),
    [
        ("Xx", "K", "element", "element: 'Xx' is not a chemical element symbol (e.g. Fe, Cd, Se)."),
        ("Ge", "Q", "edge", "edge: Ge has no Q absorption edge; expected K, L1, L2, L3 or M1–M5 "
         "where the element has it."),
        ("Fe", "K", "edge", "edge: the Fe K edge is at 7112 eV, outside this file's energy range "
         "(10900–11411.2 eV); is it another element or edge?"),
    ],
)
def test_declare_xas_rejects_what_cannot_be(unknown, api, element, edge, field, message):
    _, data_file = unknown
    response = _declare(api, data_file, element, edge)
    assert (response.status_code, response.json()["field"], response.json()["message"]) == (
        400, field, message
    )
    assert XASSpectrum.objects.filter(data_file=data_file).count() == 0


def test_declare_xas_only_uploader_sample_owner_or_curator(unknown, other_api, anon_api,
                                                           curator_api):
    _, data_file = unknown
    assert _declare(other_api, data_file, "Ge", "K").status_code == 403
    assert _declare(anon_api, data_file, "Ge", "K").status_code == 401
    assert XASSpectrum.objects.filter(data_file=data_file).count() == 0
    assert _declare(curator_api, data_file, "Ge", "K").status_code == 200
    assert XASSpectrum.objects.filter(data_file=data_file).count() == 1
