"""Writes of the characterization domain: raw files, measurements, XAS fits.

Raw files are stored byte-for-byte through Django's storage API under a content-addressed path;
identical content is stored once. Parsing never loses the upload: a failed parse keeps the file
with ``parse_status = failed`` and the user-facing error, and writes no measurement rows.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.utils import timezone

from characterization.enums import DataSource, ParseStatus
from characterization.models import (
    AbsorptionMeasurement,
    DataFile,
    FTIRMeasurement,
    LifetimeComponent,
    PLLifetimeMeasurement,
    PLMeasurement,
    XASFit,
    XASPath,
    XASSpectrum,
    XRDMeasurement,
)
from characterization.parsers.base import ParsedFile
from characterization.parsers.registry import parse_file
from characterization.previews import render_preview_png, series_to_json
from labdb.lib.errors import DomainError, ParseError
from labdb.lib.records import create_record, save_unique, with_owner
from synthesis.models import Sample

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def sanitize_filename(name: str) -> str:
    """A safe single path component: no directories, no '..', no control characters.

    ``../../etc/passwd`` → ``etc_passwd``; an empty result becomes ``upload``.
    """
    base = unicodedata.normalize("NFKD", name or "").replace("\\", "/").split("/")[-1]
    base = _UNSAFE.sub("_", base).strip("._") or "upload"
    return base[-200:]


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- measurements --------------------------------------------------------------------------


@transaction.atomic
def record_measurement(
    *, model: type[models.Model], sample: Sample, data: dict, actor=None
) -> models.Model:
    """Create one measurement row (PL, TEM sizes, absorption, XRD, FTIR, composition, XAS…)."""
    return create_record(model=model, data={**data, "sample": sample}, actor=actor)


@transaction.atomic
def record_pl_lifetime(
    *, sample: Sample, data: dict, components: Iterable[dict], actor=None
) -> PLLifetimeMeasurement:
    """A PL decay fit with its exponential components (amplitude, τ in ns)."""
    measurement = record_measurement(
        model=PLLifetimeMeasurement, sample=sample, data=data, actor=actor
    )
    for index, component in enumerate(components, start=1):
        save_unique(
            LifetimeComponent(measurement=measurement, position=index, **component),
            prefix=f"components[{index}].",
        )
    return measurement


PATH_FIELDS = (
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
    "c3_a3",
    "c3_err_a3",
    "delta_e0_ev",
    "delta_e0_err_ev",
    "as_printed",
)


@transaction.atomic
def record_xas_fit(*, sample: Sample, data: dict, paths: Iterable[dict], actor=None) -> XASFit:
    """An EXAFS fit with its paths. Published fits are stored exactly as printed.

    ``data`` holds XASFit fields (``absorber``, ``edge_name``, ``source``, ``citation`` …);
    each path dict holds XASPath fields. Raises DomainError naming the bad path field.
    """
    if not data.get("absorber"):
        raise DomainError(
            "absorber: the absorbing element is required (e.g. 'Cd').", field="absorber"
        )
    fit = record_measurement(model=XASFit, sample=sample, data=data, actor=actor)
    for index, path in enumerate(paths, start=1):
        values = {k: v for k, v in path.items() if k in PATH_FIELDS}
        save_unique(XASPath(fit=fit, position=index, **values), prefix=f"paths[{index}].")
    return fit


# --- raw data files ------------------------------------------------------------------------


def _check_size(size: int, name: str) -> None:
    limit = settings.LABDB_MAX_UPLOAD_BYTES
    if size > limit:
        raise DomainError(
            f"file: {name} is {size / 1e6:.1f} MB; the upload limit is {limit / 1e6:.0f} MB.",
            field="file",
        )
    if size == 0:
        raise DomainError(f"file: {name} is empty.", field="file")


@transaction.atomic
def attach_data_file(
    *, content: bytes, filename: str, sample: Sample | None, actor=None
) -> tuple[DataFile, bool]:
    """Store an instrument file unchanged, then parse it.

    Returns ``(data_file, created)``; ``created`` is False when identical content was already
    stored (then the existing record is returned, untouched). The parse outcome is on the
    record (``parse_status``, ``parse_error``); a failed parse is not an exception here.
    """
    name = sanitize_filename(filename)
    _check_size(len(content), name)
    digest = sha256_of(content)
    existing = DataFile.objects.filter(sha256=digest).first()
    if existing is not None:
        return existing, False
    data_file = DataFile(
        sha256=digest,
        size_bytes=len(content),
        original_name=name,
        sample=sample,
        uploaded_by=actor,
        **with_owner({}, actor),
    )
    data_file.file.save(name, ContentFile(content), save=False)
    save_unique(data_file)
    parse_data_file(data_file=data_file, content=content)
    return data_file, True


def _apply_parse_result(data_file: DataFile, parsed: ParsedFile) -> None:
    data_file.format = parsed.format
    data_file.technique = parsed.technique
    data_file.parser_name = parsed.parser_name
    data_file.parser_version = parsed.parser_version
    data_file.metadata = parsed.metadata
    data_file.key_numbers = parsed.key_numbers
    data_file.series = series_to_json(parsed)
    data_file.parse_status = ParseStatus.OK
    data_file.parse_error = ""
    data_file.parse_detail = ""


def parse_data_file(*, data_file: DataFile, content: bytes | None = None) -> DataFile:
    """(Re-)parse a stored file: key numbers, series, preview and derived measurements.

    Runs in its own savepoint: a failure rolls back any partial measurement rows and records
    ``parse_status = failed`` with the user-facing error. The raw file is never touched.
    """
    if content is None:
        with default_storage.open(data_file.file.name, "rb") as handle:
            content = handle.read()
    try:
        with transaction.atomic():
            parsed = parse_file(
                content,
                filename=data_file.original_name,
                max_expanded_bytes=settings.LABDB_MAX_EXPANDED_BYTES,
            )
            _apply_parse_result(data_file, parsed)
            _replace_derived_measurements(data_file, parsed)
            png = render_preview_png(parsed)
    except ParseError as exc:
        data_file.parse_status = ParseStatus.FAILED
        data_file.parse_error = exc.message
        data_file.parse_detail = exc.detail or ""
        data_file.format = exc.format if exc.format != "unknown" else ""
        png = None
    data_file.parsed_at = timezone.now()
    if data_file.preview:
        data_file.preview.delete(save=False)
    if png is not None:
        data_file.preview.save(f"{data_file.sha256}.png", ContentFile(png), save=False)
    data_file.save()
    return data_file


DERIVED_MODELS = (
    PLMeasurement,
    AbsorptionMeasurement,
    XRDMeasurement,
    FTIRMeasurement,
    XASSpectrum,
)


def _replace_derived_measurements(data_file: DataFile, parsed: ParsedFile) -> None:
    """Rows computed from the file replace earlier ones from the same file (re-parse)."""
    for model in DERIVED_MODELS:
        model.objects.filter(data_file=data_file, source=DataSource.MEASURED).delete()
    if data_file.sample_id is None:
        return
    row = measurement_from_parsed(parsed)
    if row is None:
        return
    model, values = row
    common = {
        "sample": data_file.sample,
        "data_file": data_file,
        "source": DataSource.MEASURED,
        "owner": data_file.owner,
        "measured_at": _measured_at(parsed),
    }
    save_unique(model(**common, **values))


def _measured_at(parsed: ParsedFile):
    from django.utils.dateparse import parse_datetime

    for key in ("start_time", "measured_at", "datetime"):
        raw = parsed.metadata.get(key)
        if isinstance(raw, str):
            try:
                value = parse_datetime(raw.replace(" ", "T", 1))
            except ValueError:
                value = None
            if value is not None:
                return value if value.tzinfo else timezone.make_aware(value)
    return None


def measurement_from_parsed(parsed: ParsedFile) -> tuple[type[models.Model], dict] | None:
    """Which measurement row a parsed file yields, and its values (None: metadata only)."""
    k = parsed.key_numbers
    if parsed.technique == "pl" and k.get("peak_nm") is not None:
        return PLMeasurement, {
            "peak_nm": k["peak_nm"],
            "fwhm_nm": k.get("fwhm_nm"),
            "fwhm_mev": k.get("fwhm_mev"),
        }
    if parsed.technique == "uvvis" and k.get("peak_1s_nm") is not None:
        return AbsorptionMeasurement, {
            "peak_1s_nm": k["peak_1s_nm"],
            "peak_1s_ev": k.get("peak_1s_ev"),
        }
    if parsed.technique == "xrd":
        return XRDMeasurement, {
            "wavelength_a": k.get("wavelength_a"),
            "twotheta_min_deg": k.get("twotheta_min_deg"),
            "twotheta_max_deg": k.get("twotheta_max_deg"),
            "reflections": [{"twotheta_deg": p} for p in k.get("peak_positions_deg") or []],
        }
    if parsed.technique == "ftir":
        return FTIRMeasurement, {
            "wavenumber_min_cm1": k.get("wavenumber_min_cm1"),
            "wavenumber_max_cm1": k.get("wavenumber_max_cm1"),
        }
    if parsed.technique == "xas" and k.get("element"):
        return XASSpectrum, {
            "element": k["element"],
            "edge": k.get("edge") or "K",
            "e0_ev": k.get("e0_ev"),
            "beamline": str(parsed.metadata.get("beamline") or "")[:100],
        }
    return None


@transaction.atomic
def register_xas_spectrum(
    *, data_file: DataFile, element: str, edge: str = "K", actor=None, **details
) -> XASSpectrum:
    """Declare which absorber/edge a parsed XAS file holds (files that do not say it).

    ``details`` are further XASSpectrum fields (mode, facility, beamline, temperature_k …).
    Raises DomainError when the file is not a parsed XAS file or has no sample.
    """
    from characterization.parsers.elements import is_element_symbol

    if data_file.parse_status != ParseStatus.OK or data_file.technique != "xas":
        raise DomainError(
            f"data_file: {data_file.original_name} is not a parsed XAS file.", field="data_file"
        )
    if data_file.sample_id is None:
        raise DomainError("data_file: attach the file to a sample first.", field="data_file")
    if not is_element_symbol(element):
        raise DomainError(f"element: {element!r} is not an element symbol.", field="element")
    existing = XASSpectrum.objects.filter(data_file=data_file, element=element, edge=edge).first()
    if existing:
        return existing
    return record_measurement(
        model=XASSpectrum,
        sample=data_file.sample,
        actor=actor,
        data={
            "data_file": data_file,
            "element": element,
            "edge": edge,
            "source": DataSource.MEASURED,
            "e0_ev": data_file.key_numbers.get("e0_ev"),
            **details,
        },
    )
