"""What the parsed facts become on measurement rows (``characterization.services``'s
``_measured_at`` and ``measurement_from_parsed``; no database needed)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from characterization.models import FTIRMeasurement, XASSpectrum, XRDMeasurement
from characterization.parsers.registry import parse_file
from characterization.services import _measured_at, measurement_from_parsed

from ._files import SHARED_DATA


def _parse(rel: str):
    path = SHARED_DATA / rel
    return parse_file(path.read_bytes(), filename=path.name)


def test_stated_offset_is_kept():
    when = _measured_at(_parse("lab_exports/brml/diffrac.brml"))
    assert when == dt.datetime(
        2017, 8, 4, 16, 43, 2, 345953, tzinfo=dt.timezone(dt.timedelta(hours=1))
    )


def test_naive_time_is_read_in_the_lab_time_zone(settings):
    settings.TIME_ZONE = "Europe/Paris"
    when = _measured_at(_parse("xas/xasdatalibrary/CdS_10K_01.xdi"))
    assert when == dt.datetime(1995, 6, 16, 15, 35, 58, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
    assert when.utcoffset() == dt.timedelta(hours=2)  # CEST in June


def test_xas_facts_land_on_the_spectrum_row():
    model, values = measurement_from_parsed(_parse("xas/xasdatalibrary/CdS_10K_01.xdi"))
    assert model is XASSpectrum
    assert (values["element"], values["edge"], values["mode"], values["temperature_k"]) == (
        "Cd",
        "K",
        "transmission",
        10.0,
    )
    assert values["beamline"] == "SSRL 4-3"


def test_xas_without_a_stated_element_makes_no_spectrum_row_yet():
    parsed = _parse("xas/beamlines/SSRLmicro_2008.dat")
    assert (parsed.technique, parsed.key_numbers["element_stated"]) == ("xas", False)
    assert measurement_from_parsed(parsed) is None


def test_xrd_row_keeps_each_reflection():
    model, values = measurement_from_parsed(_parse("lab_exports/bruker_raw/Cu3Au-2.raw"))
    assert model is XRDMeasurement
    first = values["reflections"][0]
    assert (first["twotheta_deg"], first["kalpha2_twotheta_deg"]) == (23.64, None)
    assert set(first) == {
        "twotheta_deg",
        "height_counts",
        "fwhm_deg",
        "d_a",
        "significance_sigma",
        "kalpha2_twotheta_deg",
    }


def test_opus_absorbance_is_an_ftir_row():
    model, values = measurement_from_parsed(_parse("instruments/opus/test.0000"))
    assert model is FTIRMeasurement
    # README (brukeropus): block "a" spans 699.388954–3998.344938 cm⁻¹
    assert (values["wavenumber_min_cm1"], values["wavenumber_max_cm1"]) == (
        pytest.approx(699.388954, rel=1e-6),
        pytest.approx(3998.344938, rel=1e-6),
    )
