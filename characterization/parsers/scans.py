"""Every scan of a multi-scan file as its own set of key numbers (pure; no Django).

A BRML with several ``RawData<N>.xml`` scans, an Edinburgh export with several emission scans,
a Cary CSV with several series, a PerkinElmer Spectrum time series and a SPEC file with several
``#S`` μ(E) scans each yield one measurement row per scan. ``scan_key_numbers`` computes, for
one series, the numbers the file's parser computes for its first scan (same functions, same
units), so row *k* is reproducible from series *k* alone.

Not scans of a measurement: Athena groups (chosen per sample, see the services), OPUS blocks
(absorbance, single channels and interferograms of one measurement), the columns of an XAS
column table whose μ is not formed, TCSPC decays and IRFs (a lifetime needs a fit, not a
parse), %T/%R series of a UV-vis file (no excitonic absorbance maximum is defined on them).
"""

from __future__ import annotations

from . import spectra
from .base import ParsedFile, Series
from .xas_common import xas_key_numbers
from .xrd_common import xrd_key_numbers

NOT_SCANS = ("athena_prj", "opus")
DECAY_KINDS = ("decay", "irf")


def scan_indices(parsed: ParsedFile) -> list[int]:
    """Indices of ``parsed.series`` that are scans of their own; ``[]`` for a single-scan
    file (its one row keeps the file's key numbers) and for formats whose series are no scans.
    """
    scans = parsed.metadata.get("scans") or []
    if parsed.format in NOT_SCANS or len(scans) < 2 or len(parsed.series) < 2:
        return []
    if parsed.metadata.get("kind") in DECAY_KINDS:
        return []
    return [int(s["index"]) for s in scans if 0 <= int(s["index"]) < len(parsed.series)]


def _uvvis(series: Series) -> dict | None:
    if series.y_unit.strip().lower() not in ("abs", "a", "absorbance"):
        return None
    try:
        peak = spectra.first_excitonic_peak_nm(series.x, series.y)
    except ValueError:
        return {"peak_1s_nm": None, "peak_1s_ev": None}
    return {"peak_1s_nm": peak, "peak_1s_ev": spectra.nm_to_ev(peak)}


def _pl(series: Series) -> dict | None:
    if series.x_unit.strip().lower() != "nm":
        return None
    try:
        return spectra.emission_peak_nm(series.x, series.y)
    except ValueError:
        return {"peak_nm": None, "fwhm_nm": None, "fwhm_mev": None}


def _xrd(parsed: ParsedFile, series: Series) -> dict:
    m, k = parsed.metadata, parsed.key_numbers
    return xrd_key_numbers(
        series.x,
        series.y,
        k.get("wavelength_a"),
        kalpha2_a=m.get("kalpha2_a"),
        anode=m.get("anode"),
    )


def _xas(parsed: ParsedFile, series: Series) -> dict:
    k = parsed.key_numbers
    stated_e0 = k.get("e0_ev") if k.get("e0_source") == "file" else None
    numbers = xas_key_numbers(
        series.x, series.y, element=k.get("element"), edge=k.get("edge"), e0_stated_ev=stated_e0
    )
    return {**numbers, "element_stated": k.get("element_stated", False)}


def scan_key_numbers(parsed: ParsedFile, index: int) -> dict | None:
    """Key numbers of scan ``index`` (units in the keys, as the parsers name them), or None
    when that series yields no row of the file's technique (a %T series in a UV-vis file).

    Raises IndexError for an index the file does not have.
    """
    series = parsed.series[index]
    technique = parsed.technique
    if technique == "xrd":
        return _xrd(parsed, series)
    if technique == "uvvis":
        return _uvvis(series)
    if technique == "pl":
        return _pl(series)
    if technique == "ftir":
        return {
            "is_sample_spectrum": parsed.key_numbers.get("is_sample_spectrum", True),
            "wavenumber_min_cm1": float(series.x.min()),
            "wavenumber_max_cm1": float(series.x.max()),
            "n_points": int(series.x.size),
        }
    if technique == "xas":
        return _xas(parsed, series)
    return None
