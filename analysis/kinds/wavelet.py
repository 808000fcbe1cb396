"""Kind ``xas_wavelet``: Cauchy wavelet transform of one stored spectrum's k^w·χ(k).

Input: one ``XASSpectrum`` with a parsed raw file (simulated spectra are accepted and labelled
SIMULATED). χ(k) is extracted from the stored bytes by larch (``pre_edge`` + ``autobk`` with
``rbkg_a``, E0 from ``e0_ev`` or the spectrum's stored E0, else larch's), then
:func:`analysis.engines.wavelet.wavelet_transform` gives |W(k, R)| (≤ 200 × 200 stored),
|χ(R)| and the ridge maximum of every R band.

Result mapping: one computed ``ReportedQuantity`` per band on the spectrum's sample — the R
(Å) of the band's ridge maximum, with its k (Å⁻¹) and |W| in ``extra``. The map itself stays in
the run's JSON output (plotted on the run page).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from analysis.engines import wavelet as engine
from analysis.kinds.base import AnalysisKind, InputRole, Progress, register
from analysis.kinds.calculators import record
from characterization.enums import DataSource
from labdb.lib.errors import DomainError, EngineError

if TYPE_CHECKING:  # pragma: no cover
    from analysis.models import AnalysisRun
    from characterization.models import XASSpectrum

SIMULATED = "SIMULATED"
#: E = E0 + ħ²k²/2m: k (Å⁻¹) = sqrt((E − E0) / 3.80998…) with E in eV.
_ETOK_EV = 3.8099821161548593


class _RangeField(serializers.ListField):
    def __init__(self, unit: str, **kwargs: Any) -> None:
        super().__init__(child=serializers.FloatField(min_value=0.0), min_length=2,
                         max_length=2, help_text=f"[start, end] in {unit}", **kwargs)

    def to_internal_value(self, data: Any) -> list[float]:
        value = super().to_internal_value(data)
        if not value[0] < value[1]:
            raise ValidationError("expected [start, end] with start < end.")
        return value


class WaveletParameters(serializers.Serializer):
    k_weight = serializers.IntegerField(default=2, min_value=0, max_value=3)
    eta = serializers.IntegerField(
        default=None, allow_null=True, min_value=1, max_value=5000,
        help_text="Cauchy order η; empty = larch's (its number of R points, 326 at 0.05 Å⁻¹).")
    k_range_inv_a = _RangeField("Å⁻¹", required=False, allow_null=True)
    r_range_a = _RangeField("Å", default=[0.0, 6.0])
    bands_a = serializers.ListField(child=_RangeField("Å"), default=list, max_length=10,
                                    help_text="R bands [R1, R2] (Å): one ridge maximum each.")
    rbkg_a = serializers.FloatField(default=1.0, min_value=0.3, max_value=3.0)
    e0_ev = serializers.FloatField(default=None, allow_null=True)
    dk_inv_a = serializers.FloatField(default=1.0, min_value=0.0, max_value=5.0,
                                      help_text="Hanning sill of the |χ(R)| panel (Å⁻¹).")

    def validate(self, attrs: dict) -> dict:
        if attrs["r_range_a"][1] > engine.RMAX_OUT_A:
            raise ValidationError({"r_range_a": f"R ends at most at {engine.RMAX_OUT_A:g} Å."})
        lo, hi = attrs["r_range_a"]
        for i, (r1, r2) in enumerate(attrs["bands_a"]):
            if not lo <= r1 < r2 <= hi:
                raise ValidationError({"bands_a": (
                    f"band {i + 1} [{r1:g}, {r2:g}] Å lies outside the R range "
                    f"[{lo:g}, {hi:g}] Å.")})
        return attrs


def spectrum_label(spectrum: XASSpectrum) -> str:
    name = f"{spectrum.sample} {spectrum.element} {spectrum.edge}"
    if spectrum.group_label:
        name = f"{name} {spectrum.group_label}"
    return f"{name} ({SIMULATED})" if spectrum.source == DataSource.SIMULATED else name


def _read_mu(spectrum: XASSpectrum) -> tuple[np.ndarray, np.ndarray, dict]:
    from analysis.services.fits import load_mu

    data_file = spectrum.data_file
    if data_file is None or data_file.parse_status != "ok":
        raise DomainError(f"inputs.spectrum: {spectrum_label(spectrum)} (id {spectrum.pk}) has "
                          "no parsed raw data file (published spectra carry no μ(E)).",
                          field="inputs.spectrum")
    try:
        energy, mu, raw = load_mu(spectrum)
    except DomainError as exc:
        raise DomainError(exc.message.replace("spectrum:", "inputs.spectrum:", 1),
                          field="inputs.spectrum") from exc
    return np.asarray(energy, dtype=float), np.asarray(mu, dtype=float), raw


def _e0(parameters: dict, spectrum: XASSpectrum) -> float | None:
    return parameters.get("e0_ev") or spectrum.e0_ev


def _k_end(energy: np.ndarray, mu: np.ndarray, e0_ev: float | None) -> float:
    """The last k (Å⁻¹) of the data; E0 estimated at the steepest rise of μ(E) if unknown."""
    if e0_ev is None:
        e0_ev = float(energy[int(np.argmax(np.gradient(mu, energy)))])
    return math.sqrt(max(0.0, float(energy[-1]) - e0_ev) / _ETOK_EV)


_ENGINE_FIELDS = {"k_range": "k_range_inv_a", "r_range": "r_range_a", "bands": "bands_a"}


def _parameter_of(engine_field: str | None) -> str:
    """``parameters.<name>`` of an engine error's field (``bands.1`` → ``bands_a``)."""
    if engine_field == "chi":
        return "inputs.spectrum"
    head = (engine_field or "").split(".")[0]
    return f"parameters.{_ENGINE_FIELDS.get(head, head)}"


class WaveletKind(AnalysisKind):
    name = "xas_wavelet"
    label = "Cauchy wavelet transform (EXAFS)"
    engine_name = engine.ENGINE_NAME
    engine_version = engine.ENGINE_VERSION
    inputs = (InputRole("spectrum", "spectrum", help="The spectrum whose χ(k) to transform."),)
    parameters = WaveletParameters
    form_template = "analysis/kinds/wavelet_form.html"
    result_template = "analysis/kinds/wavelet.html"

    def check(self, parameters: dict, inputs: Mapping[str, Any]) -> None:
        spectrum = inputs["spectrum"]
        try:
            energy, mu, _raw = _read_mu(spectrum)
        except DomainError as exc:
            raise ValidationError({"inputs.spectrum": exc.message}) from exc
        e0 = _e0(parameters, spectrum)
        if e0 is not None and not energy[0] < e0 < energy[-1]:
            raise ValidationError({"parameters.e0_ev": (
                f"E0 = {e0:g} eV is outside the data ({energy[0]:g}–{energy[-1]:g} eV).")})
        k_end = _k_end(energy, mu, e0)
        k_range = parameters.get("k_range_inv_a")
        if k_range and k_range[1] > k_end + 0.05:
            raise ValidationError({"parameters.k_range_inv_a": (
                f"k ends at {k_range[1]:g} Å⁻¹, beyond the data of {spectrum_label(spectrum)}, "
                f"which end at k ≈ {k_end:.2f} Å⁻¹.")})

    def load(self, run: AnalysisRun, inputs: Mapping[str, Any]) -> dict:
        spectrum = inputs["spectrum"]
        energy, mu, raw = _read_mu(spectrum)
        return {"energy_ev": energy, "mu": mu, "raw": raw, "e0_ev": _e0(run.parameters, spectrum),
                "label": spectrum_label(spectrum),
                "simulated": spectrum.source == DataSource.SIMULATED}

    def compute(self, loaded: dict, parameters: dict, progress: Progress) -> dict:
        from analysis.engines.xas_processing import process_mu

        progress(10, "extracting χ(k) (larch pre_edge + autobk)")
        pre_edge = {"e0": loaded["e0_ev"]} if loaded["e0_ev"] else {}
        done = process_mu(loaded["energy_ev"], loaded["mu"], pre_edge=pre_edge,
                          autobk={"rbkg": parameters["rbkg_a"]}, xftf={})
        k = done.k_inv_a
        k_range = parameters.get("k_range_inv_a") or [2.0, float(k[-1])]
        progress(40, "Cauchy wavelet transform (larch cauchy_wavelet)")
        try:
            out = engine.wavelet_transform(
                k, done.chi, k_weight=parameters["k_weight"], k_range_inv_a=k_range,
                r_range_a=parameters["r_range_a"], bands_a=parameters["bands_a"],
                eta=parameters["eta"], dk_inv_a=parameters["dk_inv_a"])
        except EngineError as exc:
            raise EngineError(exc.message, field=_parameter_of(exc.field)) from exc
        return {**out, "spectrum": {"label": loaded["label"], "simulated": loaded["simulated"],
                                    **loaded["raw"]},
                "processing": done.parameters, "e0_ev": done.e0_ev}

    def store(self, run: AnalysisRun, result: dict, inputs: Mapping[str, Any]) -> list:
        spectrum = inputs["spectrum"]
        tag = f" ({SIMULATED})" if result["spectrum"]["simulated"] else ""
        weight = result["parameters"]["k_weight"]
        rows = []
        for ridge in result["ridges"]:
            r1, r2 = ridge["band_a"]
            rows.append(record(
                run, spectrum.sample,
                quantity=f"Cauchy wavelet ridge R, band {r1:g}–{r2:g} Å (k^{weight}){tag}",
                value=ridge["r_a"], err=None, unit="angstrom", k_inv_a=ridge["k_inv_a"],
                magnitude=ridge["magnitude"], band_a=ridge["band_a"], eta=result["eta"],
                spectrum=spectrum.pk, simulated=result["spectrum"]["simulated"],
                phase_corrected=False))
        return rows

    def summary(self, run: AnalysisRun) -> str:
        out = run.output or {}
        ridges = out.get("ridges") or []
        text = ", ".join(f"R {r['r_a']:.2f} Å at k {r['k_inv_a']:.1f} Å⁻¹" for r in ridges)
        return f"η = {out['eta']}" + (f"; ridges: {text}" if text else "") if out else ""


KIND = register(WaveletKind())
