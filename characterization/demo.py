"""Load the characterization half of a demo-data file: every printed number with its citation.

Published values are stored exactly as printed (``as_printed`` keeps the digits); paper
inconsistencies become curator flags on the affected record, never silent corrections.
"""

from __future__ import annotations

import re

from characterization import services
from characterization.enums import DataSource
from characterization.models import (
    AbsorptionMeasurement,
    CompositionMeasurement,
    PLMeasurement,
    ReportedQuantity,
    TEMSizeMeasurement,
    XASSpectrum,
)
from synthesis.demo import DemoContext
from synthesis.services import flag_record

DAYS_PER_UNIT = {"day": 1.0, "week": 7.0, "month": 365.25 / 12, "year": 365.25}
_AGE = re.compile(r"([\d.]+)\s*(day|week|month|year)s?", re.IGNORECASE)


def age_days_from_label(label: str | None) -> float | None:
    """'2.5 months' → 76.09 days (mean month 30.44 d); None when no age is printed."""
    if not label:
        return None
    match = _AGE.search(label)
    if not match:
        return None
    return round(float(match.group(1)) * DAYS_PER_UNIT[match.group(2).lower()], 2)


def _qualifier(item: dict) -> str:
    """How the main printed value relates to the quantity: the transcribed ``qualifier``, else
    "range" when an upper end (``value_max``/``qy_pct_max``) is printed, "~" when approximate,
    blank (as given) otherwise."""
    if item.get("qualifier"):
        return item["qualifier"]
    if item.get("value_max") is not None or item.get("qy_pct_max") is not None:
        return "range"
    return "~" if item.get("approx") else ""


def _common(ctx: DemoContext, item: dict) -> dict:
    """Fields every published measurement shares."""
    label = item.get("age_label") or ""
    notes = item.get("note") or (item.get("extra") or {}).get("note") or ""
    if label:
        notes = f"{notes} age_days derived from the printed age '{label}'.".strip()
    return {
        "source": DataSource.PUBLISHED,
        "paper": ctx.paper,
        "citation": str(item.get("citation") or "")[:200],
        "age_label": label[:40],
        "age_days": age_days_from_label(label),
        "measured_at": item.get("measured_at"),
        "as_printed": item.get("as_printed") or {},
        "qualifier": _qualifier(item),
        "notes": str(notes),
        "extra": item.get("extra") or {},
    }


def _pick(item: dict, names: tuple[str, ...]) -> dict:
    return {name: item.get(name) for name in names}


def _sample(ctx: DemoContext, code: str | None):
    return ctx.samples[code] if code else None


def load_tem_sizes(ctx: DemoContext, rows: list[dict]) -> None:
    names = (
        "length_nm",
        "length_sd_nm",
        "width_nm",
        "width_sd_nm",
        "diameter_nm",
        "diameter_sd_nm",
        "thickness_nm",
        "n_counted",
    )
    for item in rows:
        services.record_measurement(
            model=TEMSizeMeasurement,
            sample=_sample(ctx, item["sample"]),
            data={**_common(ctx, item), **_pick(item, names)},
            actor=ctx.actor,
        )


def load_pl(ctx: DemoContext, rows: list[dict]) -> None:
    numbers = ("peak_nm", "fwhm_nm", "fwhm_nm_max", "fwhm_mev", "fwhm_mev_max", "qy_pct",
               "qy_pct_max", "excitation_nm")
    for item in rows:
        texts = {
            name: str(item.get(name) or "")[:100]
            for name in ("qy_method", "reference_dye", "solvent")
        }
        # The linewidth has its own qualifier ("~167–196 meV" beside a QY "below 1 %").
        ranged = item.get("fwhm_mev_max") is not None or item.get("fwhm_nm_max") is not None
        texts["fwhm_qualifier"] = item.get("fwhm_qualifier") or ("range" if ranged else "")
        services.record_measurement(
            model=PLMeasurement,
            sample=_sample(ctx, item["sample"]),
            data={**_common(ctx, item), **_pick(item, numbers), **texts},
            actor=ctx.actor,
        )


def load_absorption(ctx: DemoContext, rows: list[dict]) -> None:
    for item in rows:
        services.record_measurement(
            model=AbsorptionMeasurement,
            sample=_sample(ctx, item["sample"]),
            data={**_common(ctx, item), **_pick(item, ("peak_1s_nm", "peak_1s_ev"))},
            actor=ctx.actor,
        )


def load_lifetimes(ctx: DemoContext, rows: list[dict]) -> None:
    for item in rows:
        components = [
            {
                "amplitude": c.get("amplitude"),
                "amplitude_err": c.get("amplitude_err"),
                "tau_ns": c["tau_ns"],
                "tau_err_ns": c.get("tau_err_ns"),
            }
            for c in item.get("components") or []
        ]
        services.record_pl_lifetime(
            sample=_sample(ctx, item["sample"]),
            components=components,
            actor=ctx.actor,
            data={**_common(ctx, item), "average_tau_ns": item.get("average_tau_ns")},
        )


def load_composition(ctx: DemoContext, rows: list[dict]) -> None:
    for item in rows:
        services.record_measurement(
            model=CompositionMeasurement,
            sample=_sample(ctx, item["sample"]),
            actor=ctx.actor,
            data={
                **_common(ctx, item),
                "method": item.get("method") or "other",
                "ratios": item.get("ratios") or {},
            },
        )


def load_spectra(ctx: DemoContext, rows: list[dict]) -> None:
    for item in rows:
        services.record_measurement(
            model=XASSpectrum,
            sample=_sample(ctx, item["sample"]),
            actor=ctx.actor,
            data={
                **_common(ctx, item),
                "element": item["element"],
                "edge": item["edge"],
                "mode": item.get("mode") or "unknown",
                "facility": str(item.get("facility") or "")[:100],
                "beamline": str(item.get("beamline") or "")[:100],
                "temperature_k": item.get("temperature_k"),
                "scans_averaged": item.get("scans_averaged"),
                "calibration_reference": str(item.get("calibration_reference") or "")[:100],
            },
        )


def _fit_data(ctx: DemoContext, item: dict) -> dict:
    absorber, _, edge_name = (item.get("edge") or "").partition(" ")
    k_range = item.get("k_range") or [None, None]
    r_range = item.get("r_range") or [None, None]
    k_weight = item.get("k_weight")
    return {
        **_common(ctx, item),
        "absorber": absorber,
        "edge_name": edge_name or "K",
        "label": str(item.get("key") or "")[:100],
        "software": str(item.get("software") or "")[:100],
        "k_min": k_range[0],
        "k_max": k_range[1],
        "r_min_a": r_range[0],
        "r_max_a": r_range[1],
        "k_weight": "" if k_weight is None else str(k_weight),
        "window": str(item.get("window") or "")[:30],
        **_pick(item, ("delta_e0_ev", "delta_e0_err_ev", "s02", "r_factor", "reduced_chi2", "ssr")),
    }


def _path_data(path: dict) -> dict:
    values = _pick(
        path,
        (
            "absorber",
            "scatterer",
            "n",
            "n_err",
            "n_s02",
            "n_s02_err",
            "r_a",
            "r_err_a",
            "sigma2_a2",
            "sigma2_err_a2",
            "delta_e0_ev",
        ),
    )
    values["c3_a3"] = path.get("c3")
    values["c3_err_a3"] = path.get("c3_err")
    values["as_printed"] = path.get("as_printed") or {}
    return values


def load_xas_fits(ctx: DemoContext, rows: list[dict]) -> None:
    for item in rows:
        fit = services.record_xas_fit(
            sample=_sample(ctx, item["sample"]),
            data=_fit_data(ctx, item),
            paths=[_path_data(p) for p in item.get("paths") or []],
            actor=ctx.actor,
        )
        for flag in item.get("flags") or []:
            # A flag is a message (an inconsistency) or {"kind": ..., "message": ...}; kinds
            # "wrong"/"duplicate" exclude the fit from analyses (analysis.selectors).
            if isinstance(flag, str):
                flag = {"kind": "inconsistency", "message": flag}
            flag_record(
                target=fit,
                kind=flag.get("kind") or "inconsistency",
                actor=ctx.actor,
                location=f"{item.get('citation')}, {item.get('sample')}"[:200],
                message=str(flag.get("message") or ""),
            )


def load_other(ctx: DemoContext, rows: list[dict]) -> None:
    for item in rows:
        value = item.get("value")
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        printed = item.get("as_printed")
        services.record_measurement(
            model=ReportedQuantity,
            sample=_sample(ctx, item.get("sample")),
            actor=ctx.actor,
            data={
                **_common(
                    ctx,
                    {
                        **item,
                        "as_printed": printed
                        if isinstance(printed, dict)
                        else {"text": printed}
                        if printed
                        else {},
                    },
                ),
                "quantity": str(item.get("quantity") or "")[:200],
                "value": value if numeric else None,
                "value_max": item.get("value_max"),
                "err": item.get("err"),
                "unit": str(item.get("unit") or "")[:30],
                "text_value": "" if numeric or value is None else str(value)[:200],
            },
        )


def load_characterization(ctx: DemoContext, data: dict) -> None:
    """Every characterization number of one paper (see docs/demo-data-format.md)."""
    section = data.get("characterization") or {}
    load_tem_sizes(ctx, section.get("tem_sizes") or [])
    load_pl(ctx, section.get("pl") or [])
    load_absorption(ctx, section.get("absorption") or [])
    load_lifetimes(ctx, section.get("pl_lifetimes") or [])
    load_composition(ctx, section.get("composition") or [])
    load_spectra(ctx, section.get("xas_spectra") or [])
    load_xas_fits(ctx, section.get("xas_fits") or [])
    load_other(ctx, section.get("other") or [])
