"""Writes of the characterization domain: raw files, measurements, XAS fits.

Raw files are stored byte-for-byte through Django's storage API under a content-addressed path;
identical content is stored once. Parsing never loses the upload: a failed parse keeps the file
with ``parse_status = failed`` and the user-facing error, and writes no measurement rows.
Photos, PDFs, documents and content no instrument parser recognises are attachments
(``kind = attachment``, ``parse_status = skipped``): stored the same way, never parsed.

One stored file may belong to several samples (``DataFileLink``: who, when, why, history).
Uploading stored bytes again for another sample links it there and derives that sample's rows
from the same parse; ``unlink_data_file`` retires the link and that sample's rows with a
reason, ``link_data_file`` restores them. Measurement rows carry ``measured_at`` from the time
the file states: with its UTC offset when given, else read in the lab's ``TIME_ZONE``.
Athena projects give one XAS spectrum per chosen group (``DataFileLink.groups``); none is
taken silently when a project has several. XAS files that do not name their absorber get
their spectrum once a chemist declares element and edge (``declare_xas_absorber``).

Manual measurements (QY, PL peak, 1S absorption, TEM size, any quantity) are typed in at the
bench: ``record_manual_measurement`` / ``update_manual_measurement`` /
``retire_manual_measurement``, with ``source = manual`` and the author as owner.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from characterization.enums import (
    DataSource,
    FileKind,
    ParseStatus,
    QYMethod,
    Technique,
    TEMDimension,
)
from characterization.models import (
    AbsorptionMeasurement,
    DataFile,
    DataFileLink,
    DataFileRunLink,
    FTIRMeasurement,
    LifetimeComponent,
    PLLifetimeMeasurement,
    PLMeasurement,
    ReportedQuantity,
    TEMImageMeasurement,
    TEMSizeMeasurement,
    XASFit,
    XASPath,
    XASSpectrum,
    XRDMeasurement,
)
from characterization.parsers._limits import Limits
from characterization.parsers.base import ParsedFile
from characterization.parsers.scans import scan_indices, scan_key_numbers
from characterization.parsers.xas_ascii import (
    DeclarationError,
    normalized_declaration,
    with_declared_columns,
)
from characterization.previews import series_to_json
from labdb.lib import jobs
from labdb.lib.errors import ConflictError, DomainError, ParseError
from labdb.lib.records import (
    create_record,
    require_active,
    restore_record,
    retire_record,
    save_unique,
    update_record,
    with_owner,
)
from labdb.storage import read_stored, stored_label
from synthesis.models import Sample, SynthesisRun

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
    rows = [
        XASPath(fit=fit, position=index, **{k: v for k, v in path.items() if k in PATH_FIELDS})
        for index, path in enumerate(paths, start=1)
    ]
    if not _bulk_paths(rows):
        for row in rows:  # names the first bad path field, as a row-by-row save does
            save_unique(row, prefix=f"paths[{row.position}].")
    return fit


def _bulk_paths(rows: list[XASPath]) -> bool:
    """Insert the path rows and their history in two queries when every row is valid (field
    checks in Python; the uniqueness and check constraints by the database); False, with
    nothing written, when any row fails — the caller then saves row by row for the message."""
    try:
        for row in rows:
            row.full_clean(exclude=["fit"], validate_unique=False, validate_constraints=False)
        with transaction.atomic():
            bulk_create_with_history(rows, XASPath)
    except (ValidationError, IntegrityError):
        return False
    return True


# --- raw data files ------------------------------------------------------------------------


def parser_limits() -> Limits:
    """Decoded-size caps for the parsers, from settings (bytes, pixels, table values)."""
    return Limits(
        max_decoded_bytes=settings.LABDB_MAX_EXPANDED_BYTES,
        max_pixels=settings.LABDB_MAX_PIXELS,
        max_cells=settings.LABDB_MAX_TABLE_CELLS,
    )


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
    *,
    content: bytes,
    filename: str,
    sample: Sample | None,
    actor=None,
    groups: list[int] | None = None,
    reason: str = "",
) -> tuple[DataFile, bool]:
    """Store an instrument file unchanged, then parse it; link it to ``sample``.

    Returns ``(data_file, created)``; ``created`` is False when identical content was already
    stored: the bytes are not stored again, the existing record is linked to ``sample`` (if
    given) and that sample's measurement rows are derived from the same parse. ``groups``:
    for Athena projects, the 0-based group indices that are this sample's spectra (none are
    taken by default when the project holds several). The parse outcome is on the record
    (``parse_status``, ``parse_error``); a failed parse is not an exception here.
    """
    name = sanitize_filename(filename)
    _check_size(len(content), name)
    digest = sha256_of(content)
    existing = DataFile.objects.select_for_update().filter(sha256=digest).first()
    if existing is not None:
        if sample is not None:
            link_data_file(
                data_file=existing,
                sample=sample,
                actor=actor,
                reason=reason or "uploaded again (identical content)",
                groups=groups,
            )
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
    # No savepoints: a race on the sha256 ends this whole transaction as a DomainError.
    save_unique(data_file, exclude=_NEW_FILE_CHECKED, savepoint=False)
    link = None
    if sample is not None:
        link = _new_link(
            data_file, sample, actor, reason or "uploaded for this sample", groups, new_file=True
        )
    if jobs.submit(PARSE_JOB, data_file.pk):  # inline runner (tests): parsed already
        data_file.refresh_from_db()
        if groups:
            _checked_groups(data_file, groups)  # now that the project's groups are known
    # What ``selectors.data_file_list`` would prefetch, known without reading it back: the
    # one link just written, no run links (``attach_run_file`` adds its own afterwards).
    data_file.active_links = [link] if link is not None else []
    data_file.active_run_links = []
    return data_file, True


# Fields of a new upload's row whose database checks ``full_clean`` would only repeat: its
# foreign keys point to rows this request has just read (the sample, the logged-in user), its
# sha256 was looked up under lock a moment before (a concurrent twin still fails on the
# unique index, as a DomainError), and its size was checked positive by ``_check_size`` (the
# size constraint's check is a query and two savepoints of its own). The database enforces
# all of them regardless.
_NEW_FILE_CHECKED = ("sample", "uploaded_by", "owner", "sha256", "size_bytes")
# A new file's first link: its file is the uncommitted row above (no other link to it can
# exist) and its sample and user were read by this request.
_NEW_LINK_CHECKED = ("data_file", "sample", "linked_by")


# --- the parse job: off the request, in a budgeted child process ---------------------------

PARSE_JOB = "characterization.parse_file"  # registered in characterization/tasks.py


def parse_budget():
    """The OS budget of one parse, from settings (LABDB_PARSE_MEMORY_MB, _TIMEOUT_S)."""
    from characterization.parse_worker import ParseBudget

    return ParseBudget(
        memory_mb=settings.LABDB_PARSE_MEMORY_MB, timeout_s=settings.LABDB_PARSE_TIMEOUT_S
    )


def parse_pending_file(file_id: int) -> str | None:
    """The parse job: claim a pending file (``pending`` → ``parsing``), parse it in a child
    process under the OS budget with no transaction open, then write the outcome and the
    measurement rows in one short transaction. Returns the final ``parse_status``.

    A file that is not pending (parsed already, taken by another worker) is left alone, so a
    job delivered twice parses once.
    """
    claimed = DataFile.objects.filter(pk=file_id, parse_status=ParseStatus.PENDING).update(
        parse_status=ParseStatus.PARSING, updated_at=timezone.now()
    )
    if not claimed:
        return DataFile.objects.filter(pk=file_id).values_list("parse_status", flat=True).first()
    data_file = DataFile.objects.get(pk=file_id)
    parse_data_file(data_file=data_file)
    return data_file.parse_status


def fail_parse(file_id: int, *, exc: Exception) -> None:
    """A parse job died with an unexpected error: the file is failed with the reason."""
    message = f"the parse job failed unexpectedly: {type(exc).__name__}: {exc}"[:2000]
    DataFile.objects.filter(
        pk=file_id, parse_status__in=[ParseStatus.PENDING, ParseStatus.PARSING]
    ).update(parse_status=ParseStatus.FAILED, parse_error=message, parsed_at=timezone.now())


def resubmit_lost_parses(*, now=None) -> list[int]:
    """Sweep: files left ``pending`` (queued when a server stopped, or never delivered) for
    ``LABDB_JOB_RESEND_AFTER_S`` seconds, and files ``parsing`` far beyond the parse's
    wall-clock limit (their process died), are queued again. Returns their ids."""
    now = now or timezone.now()
    pending_before = now - dt.timedelta(seconds=settings.LABDB_JOB_RESEND_AFTER_S)
    parsing_before = now - dt.timedelta(seconds=2 * settings.LABDB_PARSE_TIMEOUT_S + 60)
    dead = DataFile.objects.filter(parse_status=ParseStatus.PARSING, updated_at__lt=parsing_before)
    dead_ids = list(dead.values_list("pk", flat=True))
    dead.update(parse_status=ParseStatus.PENDING, updated_at=now)
    lost = set(dead_ids) | set(
        DataFile.objects.filter(
            parse_status=ParseStatus.PENDING, updated_at__lte=pending_before
        ).values_list("pk", flat=True)
    )
    for file_id in sorted(lost):
        jobs.dispatch(PARSE_JOB, file_id)
    return sorted(lost)


# --- attachments: photos, PDFs, notebook scans, documents ----------------------------------

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
PHOTO_TYPES = (*IMAGE_TYPES, "image/heic", "image/heif", "image/avif", "image/bmp")
DOCUMENT_TYPES = (
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/msword",
    "application/vnd.ms-powerpoint",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.presentation",
    "application/rtf",
)
# Spreadsheets may be size/composition tables: attachments only if no parser recognises them.


def classify_content(content: bytes, filename: str) -> tuple[str, str]:
    """``(kind, content_type)`` of an upload, decided by its content, never by its name.

    Photos (PNG/JPEG/GIF/WebP/HEIC…), PDFs and Office/OpenDocument files are attachments by
    their magic bytes; anything else is an attachment when the instrument registry does not
    recognise it at all, and an instrument file otherwise (even if its parse then fails).
    """
    import filetype

    from characterization.parsers._text import is_probably_text
    from characterization.parsers.registry import detect_format

    sniffed = filetype.guess_mime(content[:8192]) if content else None
    if sniffed in PHOTO_TYPES or sniffed in DOCUMENT_TYPES:
        return FileKind.ATTACHMENT, sniffed
    text = is_probably_text(content[:4096])
    content_type = sniffed or _type_by_name(filename, text)
    if detect_format(content, filename) == "unknown":
        return FileKind.ATTACHMENT, content_type
    return FileKind.INSTRUMENT, content_type


def _type_by_name(filename: str, text: bool) -> str:
    import mimetypes

    guessed, _ = mimetypes.guess_type(filename)
    if guessed:
        return guessed
    return "text/plain" if text else "application/octet-stream"


def _store_as_attachment(data_file: DataFile, content: bytes, content_type: str) -> None:
    """Mark ``data_file`` as an attachment (never parsed) and render its thumbnail, if any."""
    from characterization.previews import (
        PreviewRefused,
        render_image_thumbnail,
        render_pdf_thumbnail,
    )

    data_file.kind = FileKind.ATTACHMENT
    data_file.content_type = content_type
    data_file.parse_status = ParseStatus.SKIPPED
    data_file.technique = Technique.OTHER
    data_file.format = data_file.parser_name = data_file.parser_version = ""
    data_file.parse_error = data_file.parse_detail = ""
    data_file.metadata, data_file.key_numbers, data_file.series = {}, {}, {}
    data_file.preview_error = ""
    png = None
    try:
        if content_type in IMAGE_TYPES:
            png = render_image_thumbnail(content)
        elif content_type == "application/pdf":
            png = render_pdf_thumbnail(content)
        elif content_type in PHOTO_TYPES:
            data_file.preview_error = "no thumbnail for this photo format; download it to view"
    except PreviewRefused as exc:
        data_file.preview_error = f"no thumbnail: {exc}"[:300]
    _replace_preview(data_file, png)


def _apply_parse_result(
    data_file: DataFile, parsed: ParsedFile, *, series: dict | None = None
) -> None:
    """Copy the parse onto the record; a changed parser version is appended to
    ``parser_history`` (and so also lands in the record's history). ``series``: the
    ``series_to_json`` of ``parsed`` when the parse child computed it already."""
    before = (data_file.parser_name, data_file.parser_version)
    if before[1] and before != (parsed.parser_name, parsed.parser_version):
        data_file.parser_history = [
            *data_file.parser_history,
            {
                "at": timezone.now().isoformat(),
                "parser": parsed.parser_name,
                "from_parser": before[0],
                "from_version": before[1],
                "to_version": parsed.parser_version,
            },
        ]
        data_file._change_reason = (
            f"re-parsed: {before[0]} {before[1]} → {parsed.parser_name} {parsed.parser_version}"
        )[:100]
    data_file.format = parsed.format
    data_file.technique = parsed.technique
    data_file.parser_name = parsed.parser_name
    data_file.parser_version = parsed.parser_version
    data_file.metadata = parsed.metadata
    if parsed.format == "athena_prj":
        data_file.metadata = {**parsed.metadata, "groups": athena_groups(parsed)}
    data_file.key_numbers = parsed.key_numbers
    data_file.series = series if series is not None else series_to_json(parsed)
    data_file.parse_status = ParseStatus.OK
    data_file.parse_error = ""
    data_file.parse_detail = ""


def parse_data_file(*, data_file: DataFile, content: bytes | None = None) -> DataFile:
    """(Re-)parse a stored file: key numbers, series, preview and derived measurements.

    Runs in its own savepoint: a failure rolls back any partial measurement rows and records
    ``parse_status = failed`` with the user-facing error. The raw file is never touched.
    """
    if content is None:
        content = read_stored(data_file.file.name, label=stored_label(data_file))
    kind, content_type = classify_content(content, data_file.original_name)
    if kind == FileKind.ATTACHMENT:
        with transaction.atomic():
            _refresh_locked(data_file)
            _replace_derived_measurements_of(data_file)
            _store_as_attachment(data_file, content, content_type)
            data_file.parsed_at = timezone.now()
            data_file.save()
        return data_file
    outcome = _parse_in_child(content, data_file.original_name)  # no transaction open here
    with transaction.atomic():
        _refresh_locked(data_file)
        data_file.kind, data_file.content_type, data_file.preview_error = kind, content_type, ""
        _write_parse(data_file, outcome)
    return data_file


def _refresh_locked(data_file: DataFile) -> None:
    """Lock the row and re-read it (links or a declared absorber may have changed meanwhile)."""
    if data_file.pk:
        DataFile.objects.select_for_update().filter(pk=data_file.pk).exists()
        data_file.refresh_from_db()


def _parse_in_child(content: bytes, filename: str):
    """The parse and preview from the budgeted child process, or the ParseError it raised."""
    from characterization.parse_worker import parse_in_budget

    try:
        return parse_in_budget(
            content, filename=filename, limits=parser_limits(), budget=parse_budget()
        )
    except ParseError as exc:
        return exc


def _write_parse(data_file: DataFile, outcome) -> None:
    """Store a parse outcome (or its ParseError) and the rows it derives, all or nothing."""
    png = None
    try:
        if isinstance(outcome, ParseError):
            raise outcome
        with transaction.atomic():
            _apply_parse_result(data_file, outcome.parsed, series=outcome.series_json)
            _replace_derived_measurements(data_file, outcome.parsed)
            png = outcome.preview_png
    except ParseError as exc:
        data_file.parse_status = ParseStatus.FAILED
        data_file.parse_error = exc.message
        data_file.parse_detail = exc.detail or ""
        data_file.format = exc.format if exc.format != "unknown" else ""
        png = None
    data_file.parsed_at = timezone.now()
    _replace_preview(data_file, png)
    data_file.save()


def _replace_preview(data_file: DataFile, png: bytes | None) -> None:
    if data_file.preview:
        data_file.preview.delete(save=False)
    if png is not None:
        data_file.preview.save(f"{data_file.sha256}.png", ContentFile(png), save=False)


DERIVED_MODELS = (
    TEMImageMeasurement,
    PLMeasurement,
    AbsorptionMeasurement,
    XRDMeasurement,
    FTIRMeasurement,
    XASSpectrum,
)


# Sources of rows a parse derives: measured, or simulated for a simulation output (FDMNES,
# FEFF xmu.dat: ``metadata["simulated"]``). Hand-entered, published and computed rows stay.
DERIVED_SOURCES = (DataSource.MEASURED, DataSource.SIMULATED)


def derived_source(parsed: ParsedFile) -> str:
    """``simulated`` for a simulation output (the parser says so), else ``measured``."""
    return DataSource.SIMULATED if parsed.metadata.get("simulated") else DataSource.MEASURED


def _replace_derived_measurements_of(data_file: DataFile) -> None:
    """Delete the rows earlier parses of this file derived (not hand-entered or published)."""
    for model in DERIVED_MODELS:
        model.objects.filter(data_file=data_file, source__in=DERIVED_SOURCES).delete()


def _replace_derived_measurements(data_file: DataFile, parsed: ParsedFile) -> None:
    """Rows computed from the file replace earlier ones from the same file (re-parse): one set
    of rows per sample the file is linked to."""
    _replace_derived_measurements_of(data_file)
    for link in data_file.links.filter(is_active=True).select_related("sample"):
        _derive_rows(data_file, parsed, link)


def _derive_rows(data_file: DataFile, parsed: ParsedFile, link: DataFileLink) -> list:
    """Create the measurement rows ``parsed`` yields for the sample of ``link``."""
    common = {
        "sample": link.sample,
        "data_file": data_file,
        "source": derived_source(parsed),
        "owner_id": data_file.owner_id,  # the id is enough: no query for the user row
        "measured_at": _measured_at(parsed),
    }
    return [
        save_unique(model(**{**common, **values}), exclude=_DERIVED_ROW_CHECKED)
        for model, values in _rows_of(data_file, parsed, link)
    ]


# Foreign keys of a derived row whose existence ``full_clean`` would re-query, one query each:
# the file is the row this transaction holds (locked by the parse, or read by the caller), the
# sample was read with its link, the owner is the file's own (PROTECT). The database enforces
# them regardless; every value the parse yields is still validated.
_DERIVED_ROW_CHECKED = ("data_file", "sample", "owner")


def _rows_of(data_file: DataFile, parsed: ParsedFile, link: DataFileLink) -> list[tuple]:
    """``[(model, values)]`` for one linked sample: Athena groups chosen for it, one row per
    scan of a multi-scan file, a declared absorber (and declared μ columns) for XAS files that
    do not state them, TEM acquisition facts, else the one row."""
    if parsed.technique == "xas" and parsed.format == "athena_prj":
        return [row for index in _chosen_groups(parsed, link) if (row := _group_row(parsed, index))]
    parsed = _with_declared_columns(data_file, parsed)
    indices = scan_indices(parsed)
    if indices:
        return [row for index in indices if (row := _scan_row(data_file, parsed, index))]
    row = _one_row(data_file, parsed)
    return [] if row is None else [_with_stated_facts(row, parsed)]


def _with_declared_columns(data_file: DataFile, parsed: ParsedFile) -> ParsedFile:
    """An XAS column table (μ not formed) with the μ columns a chemist declared, if any."""
    declared = (data_file.declared_xas or {}).get("columns")
    if parsed.key_numbers.get("mu_formed") is False and declared:
        try:
            return with_declared_columns(parsed, declared)
        except DeclarationError:  # a re-parse changed the columns: no μ rather than a wrong one
            return parsed
    return parsed


def xas_spectrum_series(spectrum: XASSpectrum, parsed: ParsedFile):
    """The μ(E) series (energy in eV) ``spectrum`` was derived from, out of the parse of its
    file: its Athena group or SPEC scan (``group_index``), with declared μ columns applied
    to a column table. Raises DomainError naming ``spectrum`` when the file has no μ."""
    parsed = _with_declared_columns(spectrum.data_file, parsed)
    if parsed.key_numbers.get("mu_formed") is False:
        raise DomainError(
            f"spectrum: {spectrum.data_file.original_name} does not say which columns form μ "
            "and none were declared.",
            field="spectrum",
        )
    index = spectrum.group_index
    if index is not None and index < len(parsed.series):
        return parsed.series[index]
    return next((x for x in parsed.series if x.name.startswith("μ")), parsed.series[0])


def _scan_row(data_file: DataFile, parsed: ParsedFile, index: int) -> tuple | None:
    """Scan ``index`` of a multi-scan file: its own key numbers, index, label and, when the
    scan states it (BRML ``TimeStampStarted`` per RawData), its own start time."""
    numbers = scan_key_numbers(parsed, index)
    if numbers is None:
        return None
    scanned = dataclasses.replace(parsed, key_numbers={**parsed.key_numbers, **numbers})
    row = _one_row(data_file, scanned)
    if row is None:
        return None
    model, values = _with_stated_facts(row, scanned)
    scan = next((x for x in parsed.metadata["scans"] if x.get("index") == index), {})
    label = str(scan.get("label") or parsed.series[index].name)[:200]
    if model is XASSpectrum:
        values = {**values, "group_index": index, "group_label": label}
    else:
        values = {**values, "scan_index": index, "scan_label": label}
    started = _stated_time(scan.get("started"))
    return model, {**values, "measured_at": started} if started else values


def _one_row(data_file: DataFile, parsed: ParsedFile) -> tuple | None:
    """The row a (single-scan) parse yields, with a declared absorber when the file has none."""
    row = measurement_from_parsed(parsed)
    if row is None and parsed.technique == "xas" and data_file.declared_xas.get("element"):
        declared = {k: data_file.declared_xas[k] for k in ("element", "edge")}
        row = measurement_from_parsed(
            dataclasses.replace(parsed, key_numbers={**parsed.key_numbers, **declared})
        )
    if row is None and parsed.technique == "tem_image":
        row = _tem_image_row(parsed)
    return row


def athena_groups(parsed_or_file) -> list[dict]:
    """The groups of an Athena project: ``[{index, label, element, edge, is_chi}]``."""
    tables = getattr(parsed_or_file, "tables", None)
    if tables is None:
        tables = (parsed_or_file.metadata or {}).get("groups") or []
    return [
        {"index": i, "label": t.get("label", ""), "element": t.get("element"),
         "edge": t.get("edge"), "is_chi": bool(t.get("is_chi"))}
        for i, t in enumerate(tables)
    ]


def _chosen_groups(parsed: ParsedFile, link: DataFileLink) -> list[int]:
    """The chosen groups; a project with a single μ(E) group needs no choice."""
    if link.groups:
        return [i for i in link.groups if i < len(parsed.tables)]
    mu_groups = [g["index"] for g in athena_groups(parsed) if not g["is_chi"]]
    return mu_groups if len(parsed.tables) == 1 else []


def _group_row(parsed: ParsedFile, index: int) -> tuple | None:
    group = parsed.tables[index]
    if group.get("is_chi"):
        return None
    series = parsed.series[index]
    numbers = {
        **parsed.key_numbers,
        "element": group.get("element"),
        "edge": group.get("edge"),
        "e0_ev": group.get("e0_ev"),
        "energy_min_ev": float(series.x.min()),
        "energy_max_ev": float(series.x.max()),
    }
    row = measurement_from_parsed(dataclasses.replace(parsed, key_numbers=numbers))
    if row is None:
        return None
    model, values = _with_stated_facts(row, parsed)
    return model, {**values, "group_label": str(group.get("label", ""))[:200],
                   "group_index": index}


def _with_stated_facts(row: tuple, parsed: ParsedFile) -> tuple:
    """XAS rows also keep the monochromator the file states."""
    model, values = row
    if model is XASSpectrum:
        m = parsed.metadata
        values = {
            "monochromator": str(m.get("mono_name") or m.get("monochromator") or "")[:100],
            "mono_d_spacing_a": m.get("mono_d_spacing_a"),
            **values,
        }
    return model, values


def _tem_image_row(parsed: ParsedFile) -> tuple:
    """The acquisition facts of a TEM image: kV, magnification, camera length, pixel (nm)."""
    k = parsed.key_numbers
    pixel = k.get("pixel_size_nm")
    return TEMImageMeasurement, {
        "accelerating_voltage_kv": k.get("accelerating_voltage_kv") or k.get("voltage_kv"),
        "magnification": k.get("magnification"),
        "camera_length_mm": k.get("camera_length_mm"),
        "pixel_size_nm": pixel if pixel and pixel > 0 else None,
    }


# --- links: one stored file, many samples ----------------------------------------------------

UNLINKED_PREFIX = "file unlinked from this sample"


def _new_link(data_file, sample, actor, reason: str, groups, *, new_file=False) -> DataFileLink:
    """A new active link; ``new_file``: the file row was created in this transaction (its
    link's foreign keys and uniqueness need no re-query, see ``_NEW_LINK_CHECKED``)."""
    link = DataFileLink(
        data_file=data_file,
        sample=sample,
        linked_by=actor if getattr(actor, "is_authenticated", False) else None,
        linked_at=timezone.now(),
        reason=(reason or "")[:300],
        groups=_checked_groups(data_file, groups),
    )
    if new_file:  # inside attach_data_file's transaction, which a DomainError ends
        return save_unique(link, exclude=_NEW_LINK_CHECKED, savepoint=False)
    return save_unique(link)


def _checked_groups(data_file: DataFile, groups) -> list[int]:
    """Validate Athena group indices against the stored file (DomainError naming ``groups``)."""
    if not groups:
        return []
    known = athena_groups(data_file) if data_file.pk and data_file.parse_status == "ok" else None
    if known is not None and data_file.format != "athena_prj":
        raise DomainError(
            f"groups: {data_file.original_name} is not an Athena project; it has no groups.",
            field="groups",
        )
    out = []
    for raw in groups:
        if isinstance(raw, bool) or not str(raw).strip().isdigit():
            raise DomainError(f"groups: {raw!r} is not a group number (0, 1, 2 …).", field="groups")
        index = int(str(raw).strip())
        if known is not None and index >= len(known):
            raise DomainError(
                f"groups: {data_file.original_name} has {len(known)} groups (0–{len(known) - 1});"
                f" there is no group {index}.",
                field="groups",
            )
        out.append(index)
    return sorted(set(out))


def require_may_link(sample: Sample, actor) -> None:
    from labdb.lib.permissions import can_edit

    if actor is None or not actor.is_authenticated or not can_edit(actor, sample):
        owner = sample.owner.username if sample.owner_id else "no owner"
        raise PermissionDenied(
            f"Only the owner of {sample.code} ({owner}) and curators can link or unlink its files."
        )


def _parsed_again(data_file: DataFile) -> ParsedFile | None:
    """The same parse of the stored bytes (None when the file is not a parsed instrument file)."""
    if data_file.parse_status != ParseStatus.OK:
        return None
    from characterization.parse_worker import parse_in_budget

    content = read_stored(data_file.file.name, label=stored_label(data_file))
    return parse_in_budget(
        content,
        filename=data_file.original_name,
        limits=parser_limits(),
        budget=parse_budget(),
        preview=False,
    ).parsed


@transaction.atomic
def link_data_file(
    *, data_file: DataFile, sample: Sample, actor=None, reason: str = "", groups=None
) -> DataFileLink:
    """Link a stored file to ``sample`` and derive that sample's measurement rows from it.

    A new link parses the stored bytes again (the same parser) and writes rows for this sample
    only. Relinking an unlinked file restores the rows its unlinking retired. With ``groups``
    (Athena projects) the chosen groups replace the earlier choice for this sample.
    Raises DomainError naming ``groups`` for group numbers the file does not have.
    """
    require_active(data_file)  # retired records are read-only until restored (RetiredError)
    require_active(sample)
    link = DataFileLink.objects.select_for_update().filter(
        data_file=data_file, sample=sample
    ).first()
    if link is None:
        link = _new_link(data_file, sample, actor, reason, groups)
        parsed = _parsed_again(data_file)
        if parsed is not None:
            _derive_rows(data_file, parsed, link)
        return link
    if not link.is_active:
        _restore_link(link, actor, reason)
    if groups is not None and _checked_groups(data_file, groups) != link.groups:
        link.groups = _checked_groups(data_file, groups)
        link.save()
        _rederive_for(link)
    return link


def _restore_link(link: DataFileLink, actor, reason: str) -> None:
    link.is_active = True
    link.unlinked_by, link.unlinked_at, link.unlink_reason = None, None, ""
    link.reason = (reason or link.reason)[:300]
    link._change_reason = f"relinked: {reason}".strip()[:100]
    link._history_user = actor if getattr(actor, "is_authenticated", False) else None
    link.save()
    for row in _rows_of_link(link, retired=True):
        if row.retired_reason.startswith(UNLINKED_PREFIX):
            row.is_retired, row.retired_reason, row.retired_at = False, "", None
            row.version += 1
            row._change_reason = "file relinked"
            row._history_user = link._history_user
            row.save()


def _rows_of_link(link: DataFileLink, *, retired: bool) -> list:
    return [
        row
        for model in (*DERIVED_MODELS,)
        for row in model.objects.filter(
            data_file=link.data_file_id, sample=link.sample_id, source__in=DERIVED_SOURCES,
            is_retired=retired,
        )
    ]


def _rederive_for(link: DataFileLink) -> None:
    """Replace this sample's rows from the file (others' rows are untouched)."""
    for model in DERIVED_MODELS:
        model.objects.filter(
            data_file=link.data_file_id, sample=link.sample_id, source__in=DERIVED_SOURCES
        ).delete()
    parsed = _parsed_again(link.data_file)
    if parsed is not None:
        _derive_rows(link.data_file, parsed, link)


def _end_link(link, reason: str, actor) -> None:
    """Retire a sample or run link with who/when/why, in its history."""
    link.is_active = False
    link.unlinked_by, link.unlinked_at = actor, timezone.now()
    link.unlink_reason = reason.strip()[:300]
    link._change_reason = f"unlinked: {reason.strip()}"[:100]
    link._history_user = actor
    link.save()


@transaction.atomic
def unlink_data_file(*, data_file: DataFile, sample: Sample, reason: str, actor) -> DataFileLink:
    """Take a file off a sample: the link is retired with who/when/why and the rows derived
    for that sample are retired with it (other samples keep theirs). Reversible by
    ``link_data_file``. Only the sample's owner and curators (PermissionDenied); DomainError
    when no reason is given or the file is not linked to the sample.
    """
    require_may_link(sample, actor)
    if not reason or not reason.strip():
        raise DomainError("reason: say why this file does not belong to the sample.",
                          field="reason")
    require_active(data_file)
    require_active(sample)
    link = DataFileLink.objects.select_for_update().filter(
        data_file=data_file, sample=sample, is_active=True
    ).first()
    if link is None:
        raise DomainError(
            f"sample: {data_file.original_name} is not linked to {sample.code}.", field="sample"
        )
    _end_link(link, reason, actor)
    for row in _rows_of_link(link, retired=False):
        retire_record(row, reason=f"{UNLINKED_PREFIX}: {reason.strip()}", actor=actor)
    return link


# --- run links: a photo of the flask, the temperature log, a UV-vis during growth -----------

def require_may_link_run(run: SynthesisRun, actor) -> None:
    """The run's owner, its operator or a curator may link and unlink its files."""
    from labdb.lib.permissions import can_edit

    if actor is not None and actor.is_authenticated and (
        can_edit(actor, run) or (run.operator_id is not None and run.operator_id == actor.pk)
    ):
        return
    who = run.operator.username if run.operator_id else (
        run.owner.username if run.owner_id else "no owner")
    raise PermissionDenied(
        f"Only the operator or owner of run {run.code} ({who}) and curators can link or "
        "unlink its files."
    )


@transaction.atomic
def attach_run_file(
    *, content: bytes, filename: str, run: SynthesisRun, actor, reason: str = "",
    sample: Sample | None = None, groups: list[int] | None = None,
) -> tuple[DataFile, DataFileRunLink, bool]:
    """Store a file for a synthesis run (or find the stored one with the same sha256) and link
    it to ``run`` — and to ``sample`` too when given (a UV-vis of the product taken during
    growth), as ``attach_data_file`` does. Returns ``(data_file, link, created)``: ``created``
    False means the bytes were stored already and only the link is new (or restored). One
    transaction: a refused link stores nothing. PermissionDenied unless the run's owner,
    operator or a curator (and, with a sample, its owner or a curator); DomainError for an
    empty or oversized file (as ``attach_data_file``)."""
    require_may_link_run(run, actor)
    if sample is not None:
        require_may_link(sample, actor)
    data_file, created = attach_data_file(content=content, filename=filename, sample=sample,
                                          actor=actor, groups=groups)
    link = link_data_file_to_run(data_file=data_file, run=run, actor=actor,
                                 reason=reason or ("uploaded for this run" if created else
                                                   "uploaded again (identical content)"))
    if created:
        data_file.active_run_links = [link]  # the new file's only run link (see above)
    return data_file, link, created


@transaction.atomic
def link_data_file_to_run(
    *, data_file: DataFile, run: SynthesisRun, actor, reason: str = ""
) -> DataFileRunLink:
    """Link a stored file to ``run`` (a new link, or the unlinked one restored with who/why
    in its history; an active link is returned unchanged). No measurement rows: a run is not
    a sample. PermissionDenied unless the run's owner, operator or a curator."""
    require_may_link_run(run, actor)
    require_active(data_file)
    require_active(run)
    by = actor if getattr(actor, "is_authenticated", False) else None
    link = DataFileRunLink.objects.select_for_update().filter(data_file=data_file, run=run).first()
    if link is None:
        return save_unique(DataFileRunLink(data_file=data_file, run=run, linked_by=by,
                                           linked_at=timezone.now(), reason=(reason or "")[:300]))
    if not link.is_active:
        link.is_active = True
        link.unlinked_by, link.unlinked_at, link.unlink_reason = None, None, ""
        link.reason = (reason or link.reason)[:300]
        link._change_reason = f"relinked: {reason}".strip()[:100]
        link._history_user = by
        link.save()
    return link


@transaction.atomic
def unlink_data_file_from_run(
    *, data_file: DataFile, run: SynthesisRun, reason: str, actor
) -> DataFileRunLink:
    """Take a file off a run with a reason (who/when/why kept; ``link_data_file_to_run``
    restores it). PermissionDenied as for linking; DomainError naming ``reason`` when none is
    given, ``run`` when the file is not linked to the run."""
    require_may_link_run(run, actor)
    if not reason or not reason.strip():
        raise DomainError("reason: say why this file does not belong to the run.",
                          field="reason")
    require_active(data_file)
    require_active(run)
    link = DataFileRunLink.objects.select_for_update().filter(
        data_file=data_file, run=run, is_active=True
    ).first()
    if link is None:
        raise DomainError(
            f"run: {data_file.original_name} is not linked to run {run.code}.", field="run"
        )
    _end_link(link, reason, actor)
    return link


def _measured_at(parsed: ParsedFile):
    """The time the file states (parsers put it in ``metadata["measured_at"]``).

    A time with a UTC offset is kept as stated; a naive one is the instrument PC's clock and
    is read in the lab's time zone (settings.TIME_ZONE), as the parsers document.
    """
    for key in ("measured_at", "start_time", "datetime"):
        value = _stated_time(parsed.metadata.get(key))
        if value is not None:
            return value
    return None


def _stated_time(raw):
    """An ISO 8601 text as an aware datetime (naive: lab-local), None when it is none."""
    from django.utils.dateparse import parse_datetime

    if not isinstance(raw, str):
        return None
    try:
        value = parse_datetime(raw.replace(" ", "T", 1))
    except ValueError:
        return None
    if value is None:
        return None
    return value if value.tzinfo else timezone.make_aware(value)


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
            "reflections": k.get("reflections")
            or [{"twotheta_deg": p} for p in k.get("peak_positions_deg") or []],
        }
    if parsed.technique == "ftir" and k.get("is_sample_spectrum", True):
        return FTIRMeasurement, {
            "wavenumber_min_cm1": k.get("wavenumber_min_cm1"),
            "wavenumber_max_cm1": k.get("wavenumber_max_cm1"),
        }
    if parsed.technique == "xas" and k.get("element"):
        from characterization.enums import XASMode  # local: this function's own edit

        m = parsed.metadata
        return XASSpectrum, {
            "element": k["element"],
            "edge": k.get("edge") or "K",
            "e0_ev": k.get("e0_ev"),
            "beamline": str(m.get("beamline_name") or m.get("beamline") or "")[:100],
            "facility": str(m.get("facility") or "")[:100],
            "mode": m.get("mode") if m.get("mode") in XASMode.values else XASMode.UNKNOWN,
            "temperature_k": m.get("temperature_k"),
            **({"extra": {"simulation": simulation_facts(m)}} if m.get("simulated") else {}),
        }
    return None


SIMULATION_KEYS = ("simulation_code", "simulation_code_version", "output_kind", "convoluted",
                   "convolution", "calculation", "energy_reference", "structure",
                   "absorber_source", "computed_at", "y_unit")


def simulation_facts(metadata: dict) -> dict:
    """What a simulated spectrum's row keeps of its file's parse: code and version, raw or
    convoluted (with the broadening in eV), the energy reference (absolute eV = E_edge + ΔE
    for FDMNES), the structure as far as the file states it, and the y unit."""
    return {key: metadata.get(key) for key in SIMULATION_KEYS if key in metadata}


def edge_energy_ev(element: str, edge: str) -> float | None:
    """Tabulated edge energy in eV (xraydb, the tables xraylarch itself reads; importing it costs
    milliseconds, importing larch on this request path costs seconds), None when the element has
    no such edge."""
    from xraydb import xray_edge

    try:
        found = xray_edge(element, edge)
    except (ValueError, KeyError, TypeError):
        return None
    return float(found.energy) if found is not None and found.energy > 0 else None


def _checked_absorber(
    data_file: DataFile, element: str, edge: str, numbers: dict | None = None
) -> tuple[str, str]:
    """(element, edge) validated against the periodic table, the edge table and the file's
    energy range (``numbers``: the key numbers of declared μ columns, else the file's);
    DomainError naming ``element`` or ``edge`` otherwise."""
    from characterization.parsers.elements import is_element_symbol

    element = (element or "").strip()
    edge = (edge or "").strip().upper()
    if len(element) in (1, 2, 3):
        element = element[0].upper() + element[1:].lower()
    if not is_element_symbol(element):
        raise DomainError(
            f"element: {element!r} is not a chemical element symbol (e.g. Fe, Cd, Se).",
            field="element",
        )
    energy = edge_energy_ev(element, edge) if edge else None
    if energy is None:
        raise DomainError(
            f"edge: {element} has no {edge or '(empty)'} absorption edge; expected K, L1, L2, L3 "
            "or M1–M5 where the element has it.",
            field="edge",
        )
    numbers = data_file.key_numbers if numbers is None else numbers
    low, high = numbers.get("energy_min_ev"), numbers.get("energy_max_ev")
    if low is not None and high is not None and not low <= energy <= high:
        raise DomainError(
            f"edge: the {element} {edge} edge is at {energy:g} eV, outside this file's energy "
            f"range ({low:g}–{high:g} eV); is it another element or edge?",
            field="edge",
        )
    return element, edge


@transaction.atomic
def declare_xas_absorber(
    *, data_file: DataFile, element: str, edge: str, actor, columns: dict | None = None
) -> list:
    """Say which absorber and edge an XAS file holds when the file does not state it.

    A column table whose μ the file does not name (``key_numbers["mu_formed"] is False``)
    also needs ``columns``: ``energy_column`` (number or name), ``energy_unit`` (eV/keV),
    ``mode`` (transmission: μ = ln(numerator/denominator); fluorescence: numerator/denominator)
    — DomainError naming that field when they cannot form μ; never guessed.
    Stored on the file (``declared_xas``, kept across re-parses) and the XAS spectrum rows of
    every sample the file is linked to are created. Who: the uploader, the owner of a linked
    sample, or a curator (PermissionDenied). DomainError naming ``element``/``edge`` for a
    symbol that is no element, an edge the element lacks, or an edge energy outside the
    file's energy range; naming ``data_file`` when it is no parsed XAS file or states its
    absorber already.
    """
    _require_may_declare(data_file, actor)
    return _declare(data_file, element, edge, actor, columns)


def register_xas_spectrum(
    *, data_file: DataFile, element: str, edge: str = "K", actor=None, columns: dict | None = None
) -> XASSpectrum:
    """Scripts' and demo loaders' form of ``declare_xas_absorber`` (no permission check):
    the spectrum of the file's first linked sample. Same DomainErrors."""
    with transaction.atomic():
        if data_file.key_numbers.get("element"):  # stated by the file: its row exists
            rows = list(XASSpectrum.objects.filter(
                data_file=data_file, element=element, edge=edge, is_retired=False
            ).order_by("id"))
        else:
            rows = _declare(data_file, element, edge, actor, columns)
    if not rows:
        raise DomainError("data_file: attach the file to a sample first.", field="data_file")
    return rows[0]


def _declared_mu(data_file: DataFile, columns: dict | None) -> tuple[dict | None, dict | None]:
    """(normalized μ columns, their key numbers) for a column table; (None, None) when the
    file forms μ itself. DomainError naming the field when the columns cannot form μ."""
    if data_file.key_numbers.get("mu_formed") is not False:
        return None, None
    if not columns or not any(str(v or "").strip() for v in columns.values()):
        raise DomainError(
            f"energy_column: {data_file.original_name} does not say which columns form μ; "
            "declare the energy column and unit, transmission or fluorescence, and the "
            "numerator and denominator columns.",
            field="energy_column",
        )
    parsed = _parsed_again(data_file)
    try:
        declared = normalized_declaration(parsed, columns)
        numbers = with_declared_columns(parsed, declared).key_numbers
    except DeclarationError as exc:
        raise DomainError(exc.message, field=exc.field) from exc
    return declared, numbers


def _declare(data_file: DataFile, element: str, edge: str, actor, columns=None) -> list:
    if data_file.parse_status != ParseStatus.OK or data_file.technique != "xas":
        raise DomainError(
            f"data_file: {data_file.original_name} is not a parsed XAS file.", field="data_file"
        )
    if data_file.key_numbers.get("element"):
        k = data_file.key_numbers
        raise DomainError(
            f"data_file: {data_file.original_name} states its absorber already "
            f"({k['element']} {k.get('edge') or ''}).".replace(" )", ")"),
            field="data_file",
        )
    declared_columns, numbers = _declared_mu(data_file, columns)
    element, edge = _checked_absorber(data_file, element, edge, numbers)
    data_file.declared_xas = {
        "element": element,
        "edge": edge,
        **({"columns": declared_columns} if declared_columns else {}),
        "by": getattr(actor, "pk", None),
        "at": timezone.now().isoformat(),
    }
    data_file._change_reason = f"XAS absorber declared: {element} {edge}"
    if getattr(actor, "is_authenticated", False):
        data_file._history_user = actor
    data_file.save()
    rows = []
    for link in data_file.links.filter(is_active=True).select_related("sample"):
        _rederive_for(link)
        rows += list(XASSpectrum.objects.filter(
            data_file=data_file, sample=link.sample, source__in=DERIVED_SOURCES
        ))
    return rows


def _require_may_declare(data_file: DataFile, actor) -> None:
    from labdb.lib.permissions import can_edit, is_curator

    if actor is None or not actor.is_authenticated:
        raise PermissionDenied("Log in to declare what a file holds.")
    if is_curator(actor) or data_file.uploaded_by_id == actor.pk:
        return
    if any(can_edit(actor, link.sample) for link in
           data_file.links.filter(is_active=True).select_related("sample")):
        return
    raise PermissionDenied(
        f"Only who uploaded {data_file.original_name}, the owners of its samples and curators "
        "can declare its absorber."
    )


# --- manual measurements (typed in at the bench) -------------------------------------------

HC_EV_NM = 1239.841984  # h·c in eV·nm: E(eV) = 1239.841984 / λ(nm)
WAVELENGTH_RANGE_NM = (200.0, 3000.0)  # UV to the HgSe mid-IR edge of what labs here measure
FWHM_MAX_NM = 1000.0
TEM_SIZE_MAX_NM = 100_000.0  # 100 µm: anything larger is not a nanocrystal size
AMBIGUOUS_UNITS = {"a.u.", "a. u.", "au", "arb. u.", "arb.u.", "arb. units", "arb"}


class ManualEntryError(DomainError):
    """Bad values in a manual entry; ``errors`` maps every bad entry field to its message."""

    def __init__(self, errors: dict[str, str]):
        field, message = next(iter(errors.items()))
        super().__init__(message, field=field)
        self.errors = errors

    def as_dict(self) -> dict:
        return {**super().as_dict(), "errors": self.errors}


@dataclass(frozen=True)
class ManualKind:
    """One kind of hand-entered measurement: the model it lands in and its entry fields."""

    key: str
    label: str
    model: type[models.Model]
    fields: tuple[str, ...]


MANUAL_KINDS: dict[str, ManualKind] = {
    kind.key: kind
    for kind in (
        ManualKind(
            "qy",
            "quantum yield",
            PLMeasurement,
            ("qualifier", "qy_pct", "qy_pct_max", "qy_method", "reference_dye", "solvent",
             "excitation_nm"),
        ),
        ManualKind(
            "pl", "PL peak", PLMeasurement,
            ("peak_nm", "fwhm_qualifier", "fwhm_nm", "fwhm_nm_max", "excitation_nm", "solvent"),
        ),
        ManualKind("absorption", "absorption 1S peak", AbsorptionMeasurement, ("peak_1s_nm",)),
        ManualKind(
            "tem", "TEM size", TEMSizeMeasurement, ("dimension", "mean_nm", "sd_nm", "n_counted")
        ),
        ManualKind(
            "quantity", "quantity", ReportedQuantity,
            ("quantity", "qualifier", "value", "value_max", "err", "unit"),
        ),
    )
}
COMMON_ENTRY_FIELDS = ("measured_on", "notes")
TEM_DIMENSIONS = tuple(TEMDimension.values)


def _blank(raw) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _number(entry: dict, errors: dict, field: str, what: str, *, required: bool = False):
    """The float in ``entry[field]`` (None if blank); records an error naming ``what``."""
    raw = entry.get(field)
    if _blank(raw):
        if required:
            errors[field] = f"{what}: a value is required."
        return None
    try:
        if isinstance(raw, bool):
            raise TypeError
        value = float(raw)
    except (TypeError, ValueError):
        errors[field] = f"{what}: {raw!r} is not a number."
        return None
    if not math.isfinite(value):
        errors[field] = f"{what}: {raw!r} is not a finite number."
        return None
    return value


def _in_range(errors, field, what, value, low, high, unit, *, low_open=False, hint=""):
    if value is None or field in errors:
        return
    too_low = value <= low if low_open else value < low
    if too_low or value > high:
        bound = f"greater than {low:g}" if low_open else f"at least {low:g}"
        errors[field] = (
            f"{what}: {value:g} {unit} is not plausible; expected {bound} "
            f"and at most {high:g} {unit}{hint}."
        )


def _wavelength(entry, errors, field, what, *, required=False):
    value = _number(entry, errors, field, what, required=required)
    low, high = WAVELENGTH_RANGE_NM
    _in_range(errors, field, what, value, low, high, "nm", hint=" (enter the wavelength in nm)")
    return value


def _text(entry: dict, errors: dict, field: str, what: str, *, max_length: int, required=False):
    raw = entry.get(field)
    text = "" if raw is None else str(raw).strip()
    if required and not text:
        errors[field] = f"{what}: this is required."
    elif len(text) > max_length:
        errors[field] = f"{what}: at most {max_length} characters (got {len(text)})."
    return text


def _measured_on(entry: dict, errors: dict, sample: Sample):
    """``measured_on`` (a date, or an ISO date string) as an aware datetime at local midnight."""
    raw = entry.get("measured_on")
    if _blank(raw):
        return None
    day = raw
    if isinstance(raw, str):
        try:
            day = dt.date.fromisoformat(raw.strip())
        except ValueError:
            errors["measured_on"] = f"measured on: {raw!r} is not a date; expected e.g. 2026-03-14."
            return None
    if isinstance(day, dt.datetime):
        day = timezone.localtime(day).date() if timezone.is_aware(day) else day.date()
    if not isinstance(day, dt.date):
        errors["measured_on"] = f"measured on: {raw!r} is not a date; expected e.g. 2026-03-14."
        return None
    if day > timezone.localdate():
        errors["measured_on"] = f"measured on: {day.isoformat()} is in the future."
        return None
    if sample.synthesis_date and day < sample.synthesis_date:
        errors["measured_on"] = (
            f"measured on: {day.isoformat()} is before {sample.code} was synthesised "
            f"({sample.synthesis_date.isoformat()})."
        )
        return None
    return timezone.make_aware(dt.datetime.combine(day, dt.time()))


def _unit(entry: dict, errors: dict) -> str:
    """A unit pint understands (stored as typed), or empty for a pure number."""
    from labdb.lib.units import ureg

    text = _text(entry, errors, "unit", "unit", max_length=30)
    if not text or "unit" in errors:
        return text
    expected = "expected a unit such as nm, eV, meV, ns, K, °, Å⁻¹, mol/L or %, or no unit"
    if text.lower() in AMBIGUOUS_UNITS:
        errors["unit"] = (
            f"unit: {text!r} is ambiguous (read as atomic mass unit × year); leave the unit "
            "empty for arbitrary or relative units."
        )
        return text
    try:
        ureg().Unit(text)
    except Exception:  # noqa: BLE001 - pint's parser raises many kinds for free text
        errors["unit"] = f"unit: {text!r} is not a unit labdb knows; {expected}."
    return text


# What a chemist may type for a qualifier → the stored Qualifier value.
QUALIFIER_SPELLINGS = {
    "": "", "=": "", "<": "<", ">": ">", "≤": "≤", "<=": "≤", "≥": "≥", ">=": "≥",
    "~": "~", "≈": "~", "range": "range", "–": "range", "-": "range",
}


def _bounds(entry: dict, errors: dict, names: tuple[str, str, str], what: str, value,
            *, limits: tuple[float, float] | None = None, unit: str = "") -> tuple[str, object]:
    """``(qualifier, upper end)`` of a value typed with a qualifier (<, ≤, ≈, >, ≥, range).

    ``names`` = (qualifier field, value field, upper-end field). A qualifier needs the value;
    "range" needs both ends, the lower no greater than the upper; an upper end is only for a
    range. Errors are recorded beside the field they concern.
    """
    q_field, value_field, max_field = names
    raw = "" if _blank(entry.get(q_field)) else str(entry.get(q_field)).strip()
    qualifier = QUALIFIER_SPELLINGS.get(raw)
    upper = _number(entry, errors, max_field, f"{what}, upper end")
    if limits is not None:
        _in_range(errors, max_field, f"{what}, upper end", upper, *limits, unit)
    if qualifier is None:
        errors[q_field] = (f"{what}: {raw!r} is not a qualifier; choose <, ≤, ≈, >, ≥ or "
                           "'range', or leave it empty for a value as measured.")
        return "", upper
    if value_field in errors or max_field in errors:
        return qualifier, upper
    if qualifier and qualifier != "range" and value is None:
        errors[q_field] = (f"{what}: the qualifier {raw} needs a value to qualify; enter the "
                           "value or clear the qualifier.")
    elif qualifier == "range" and (value is None or upper is None):
        errors[max_field if value is not None else value_field] = (
            f"{what}: a range needs both ends; enter the lower end in the value field and the "
            "upper end here." if value is not None
            else f"{what}: a range needs both ends; enter the lower end here.")
    elif qualifier == "range" and value > upper:
        errors[max_field] = (f"{what}: the upper end {upper:g} is below the lower end "
                             f"{value:g}; enter the smaller number first.")
    elif upper is not None and qualifier != "range":
        errors[max_field] = (f"{what}: an upper end is only for a range; choose 'range' as the "
                             "qualifier or leave the upper end empty.")
    return qualifier, upper


def _qy_values(entry: dict, errors: dict) -> dict:
    qy = _number(entry, errors, "qy_pct", "QY (%)", required=True)
    _in_range(errors, "qy_pct", "QY (%)", qy, 0.0, 100.0, "%", hint=" (a percentage)")
    qualifier, qy_max = _bounds(entry, errors, ("qualifier", "qy_pct", "qy_pct_max"), "QY (%)",
                                qy, limits=(0.0, 100.0), unit="%")
    method = _text(entry, errors, "qy_method", "QY method", max_length=100, required=True)
    if method and method not in QYMethod.values:
        errors["qy_method"] = (
            f"QY method: {method!r} is not a method; choose 'absolute' (integrating sphere) "
            "or 'relative' (to a reference dye)."
        )
    dye = _text(entry, errors, "reference_dye", "reference dye", max_length=100)
    if method == QYMethod.RELATIVE and not dye and "reference_dye" not in errors:
        errors["reference_dye"] = (
            "reference dye: a relative QY needs the dye it was measured against "
            "(e.g. rhodamine 6G in ethanol)."
        )
    if method == QYMethod.ABSOLUTE and dye:
        errors["reference_dye"] = (
            "reference dye: an absolute QY (integrating sphere) has no reference dye; "
            "leave it empty or choose 'relative'."
        )
    return {
        "qualifier": qualifier,
        "qy_pct": qy,
        "qy_pct_max": qy_max,
        "qy_method": method,
        "reference_dye": dye,
        "solvent": _text(entry, errors, "solvent", "solvent", max_length=100),
        "excitation_nm": _wavelength(entry, errors, "excitation_nm", "excitation wavelength (nm)"),
    }


def _pl_values(entry: dict, errors: dict) -> dict:
    fwhm = _number(entry, errors, "fwhm_nm", "FWHM (nm)")
    _in_range(errors, "fwhm_nm", "FWHM (nm)", fwhm, 0.0, FWHM_MAX_NM, "nm", low_open=True)
    qualifier, fwhm_max = _bounds(entry, errors, ("fwhm_qualifier", "fwhm_nm", "fwhm_nm_max"),
                                  "FWHM (nm)", fwhm, limits=(0.0, FWHM_MAX_NM), unit="nm")
    return {
        "peak_nm": _wavelength(entry, errors, "peak_nm", "PL peak (nm)", required=True),
        "fwhm_qualifier": qualifier,
        "fwhm_nm": fwhm,
        "fwhm_nm_max": fwhm_max,
        "excitation_nm": _wavelength(entry, errors, "excitation_nm", "excitation wavelength (nm)"),
        "solvent": _text(entry, errors, "solvent", "solvent", max_length=100),
    }


def _absorption_values(entry: dict, errors: dict) -> dict:
    peak = _wavelength(entry, errors, "peak_1s_nm", "1S absorption peak (nm)", required=True)
    # The energy is the same number in eV (parsed files store both): E = hc/λ.
    return {"peak_1s_nm": peak, "peak_1s_ev": round(HC_EV_NM / peak, 6) if peak else None}


def _tem_values(entry: dict, errors: dict) -> dict:
    dimension = _text(entry, errors, "dimension", "what was measured", max_length=20, required=True)
    if dimension and dimension not in TEM_DIMENSIONS:
        errors["dimension"] = (
            f"what was measured: {dimension!r} is not one of {', '.join(TEM_DIMENSIONS)}."
        )
    mean = _number(entry, errors, "mean_nm", "mean size (nm)", required=True)
    _in_range(errors, "mean_nm", "mean size (nm)", mean, 0.0, TEM_SIZE_MAX_NM, "nm", low_open=True)
    sd = _number(entry, errors, "sd_nm", "SD (nm)")
    if sd is not None and sd < 0:
        errors["sd_nm"] = f"SD (nm): {sd:g} nm is negative; a standard deviation is ≥ 0."
    count = _count(entry, errors)
    values = {f"{d}_nm": None for d in TEM_DIMENSIONS}
    values.update({f"{d}_sd_nm": None for d in TEM_DIMENSIONS})
    if dimension in TEM_DIMENSIONS:
        values[f"{dimension}_nm"], values[f"{dimension}_sd_nm"] = mean, sd
    values["n_counted"] = count
    return values


def _count(entry: dict, errors: dict) -> int | None:
    raw = entry.get("n_counted")
    if _blank(raw):
        return None
    try:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError
        count = int(str(raw).strip()) if isinstance(raw, str) else int(raw)
    except (TypeError, ValueError):
        errors["n_counted"] = f"N counted: {raw!r} is not a whole number of particles."
        return None
    if count < 1:
        errors["n_counted"] = f"N counted: {count} — at least 1 particle must have been counted."
    return count


def _quantity_values(entry: dict, errors: dict) -> dict:
    err = _number(entry, errors, "err", "error (±)")
    if err is not None and err < 0:
        errors["err"] = f"error (±): {err:g} is negative; an uncertainty is ≥ 0."
    value = _number(entry, errors, "value", "value", required=True)
    qualifier, value_max = _bounds(entry, errors, ("qualifier", "value", "value_max"), "value",
                                   value)
    return {
        "quantity": _text(
            entry, errors, "quantity", "quantity name", max_length=200, required=True
        ),
        "qualifier": qualifier,
        "value": value,
        "value_max": value_max,
        "err": err,
        "unit": _unit(entry, errors),
    }


_MANUAL_VALUES = {
    "qy": _qy_values,
    "pl": _pl_values,
    "absorption": _absorption_values,
    "tem": _tem_values,
    "quantity": _quantity_values,
}


def manual_kind(key: str) -> ManualKind:
    """The ManualKind named ``key``; DomainError listing the kinds otherwise."""
    try:
        return MANUAL_KINDS[key]
    except KeyError:
        raise DomainError(
            f"kind: {key!r} is not a kind of manual measurement; expected one of "
            f"{', '.join(MANUAL_KINDS)}.",
            field="kind",
        ) from None


def manual_kind_of(measurement: models.Model) -> ManualKind:
    """Which manual kind ``measurement`` was entered as; DomainError if not entered by hand."""
    key = (measurement.extra or {}).get("manual_kind")
    if measurement.source != DataSource.MANUAL or key not in MANUAL_KINDS:
        raise DomainError(
            f"This value (id {measurement.pk}) was not entered by hand "
            f"(source: {measurement.source}); only manual measurements are edited here.",
            field="source",
        )
    return MANUAL_KINDS[key]


def validate_manual_entry(*, kind: str, entry: dict, sample: Sample) -> dict:
    """Model field values for a manual entry of ``kind``; ManualEntryError naming every bad field.

    Units are in the entry field names (``qy_pct`` in %, ``*_nm`` in nm). Checks: QY 0–100 %,
    wavelengths 200–3000 nm, FWHM and TEM sizes > 0, SD and ± errors ≥ 0, N a whole number ≥ 1,
    units known to pint, ``measured_on`` not in the future nor before the synthesis date.
    """
    spec = manual_kind(kind)
    allowed = set(spec.fields) | set(COMMON_ENTRY_FIELDS)
    errors = {
        name: f"{name}: not a field of a {spec.label} entry "
        f"(expected {', '.join(sorted(allowed))})."
        for name in entry
        if name not in allowed
    }
    values = _MANUAL_VALUES[spec.key](entry, errors)
    values["measured_at"] = _measured_on(entry, errors, sample)
    values["notes"] = _text(entry, errors, "notes", "note", max_length=5000)
    if errors:
        raise ManualEntryError(errors)
    return values


def manual_entry_of(measurement: models.Model) -> dict:
    """The entry fields of a manual measurement, as its form or API shows them for editing."""
    spec = manual_kind_of(measurement)
    entry = {name: getattr(measurement, name, None) for name in spec.fields}
    if spec.key == "tem":
        dimension = next(
            (d for d in TEM_DIMENSIONS if getattr(measurement, f"{d}_nm") is not None), None
        )
        entry.update(
            dimension=dimension,
            mean_nm=getattr(measurement, f"{dimension}_nm") if dimension else None,
            sd_nm=getattr(measurement, f"{dimension}_sd_nm") if dimension else None,
            n_counted=measurement.n_counted,
        )
    measured = measurement.measured_at
    entry["measured_on"] = timezone.localtime(measured).date() if measured else None
    entry["notes"] = measurement.notes
    return entry


def _require_may_add(sample: Sample, actor) -> None:
    from labdb.lib.permissions import can_edit

    if actor is None or not actor.is_authenticated or not can_edit(actor, sample):
        owner = sample.owner.username if sample.owner_id else "no owner"
        raise PermissionDenied(
            f"Only the owner of {sample.code} ({owner}) and curators can add measurements to it."
        )


def _require_may_change(measurement: models.Model, actor) -> None:
    from labdb.lib.permissions import can_edit

    if actor is None or not actor.is_authenticated or not can_edit(actor, measurement):
        author = measurement.owner.username if measurement.owner_id else "unknown"
        raise PermissionDenied(
            f"Only the author of this measurement ({author}) and curators can change it."
        )


def _changed_since(measurement, spec: ManualKind, current: int, expected) -> ConflictError:
    """409 naming who changed the record last (from its history)."""
    latest = (
        type(measurement)
        .history.filter(id=measurement.pk)
        .select_related("history_user")
        .order_by("-history_date", "-history_id")
        .first()
    )
    who = latest.history_user.username if latest and latest.history_user else "someone else"
    return ConflictError(
        f"This {spec.label} was changed by {who} since you opened it (your version {expected}, "
        f"now version {current}) — reload the page to see the change, then edit again.",
        current_version=current,
    )


@transaction.atomic
def record_manual_measurement(*, kind: str, sample: Sample, entry: dict, actor) -> models.Model:
    """Store a value typed in at the bench (``source = manual``, owner = ``actor``).

    ``kind`` is one of MANUAL_KINDS (qy, pl, absorption, tem, quantity); ``entry`` holds its
    fields (see ``validate_manual_entry``). Only the sample's owner and curators may add
    (PermissionDenied otherwise). Raises ManualEntryError naming each bad field; nothing is
    written then.
    """
    spec = manual_kind(kind)
    _require_may_add(sample, actor)
    require_active(sample)  # a retired sample is read-only until restored
    values = validate_manual_entry(kind=spec.key, entry=entry, sample=sample)
    data = {**values, "source": DataSource.MANUAL, "extra": {"manual_kind": spec.key}}
    return record_measurement(model=spec.model, sample=sample, data=data, actor=actor)


@transaction.atomic
def update_manual_measurement(
    *, measurement: models.Model, entry: dict, expected_version: int | None, actor
) -> models.Model:
    """Change a manual measurement (its author or a curator) if nobody changed it meanwhile.

    ``entry`` may hold only the changed fields. Raises ConflictError (409, naming who changed
    it) when ``expected_version`` is not the stored version, ManualEntryError for bad values.
    """
    spec = manual_kind_of(measurement)
    _require_may_change(measurement, actor)
    merged = {**manual_entry_of(measurement), **entry}
    values = validate_manual_entry(kind=spec.key, entry=merged, sample=measurement.sample)
    try:
        return update_record(
            measurement, changes=values, expected_version=expected_version, actor=actor
        )
    except ConflictError as exc:
        raise _changed_since(measurement, spec, exc.current_version, expected_version) from None


@transaction.atomic
def restore_manual_measurement(*, measurement: models.Model, reason: str, actor) -> models.Model:
    """Bring a retired manual measurement back (author or curator) with a reason; it shows on
    the sample page and in the frame again. PermissionDenied for anyone else, DomainError
    naming ``reason`` without one or ``is_retired`` when it is not retired."""
    manual_kind_of(measurement)
    return restore_record(measurement, reason=reason, actor=actor)


def retire_manual_measurement(
    *, measurement: models.Model, reason: str, expected_version: int | None, actor
) -> models.Model:
    """Hide a manual measurement (author or curator) with a reason; same version check as edits."""
    spec = manual_kind_of(measurement)
    _require_may_change(measurement, actor)
    if expected_version is None:
        raise DomainError(
            "version: send the version you read, so that concurrent edits are detected.",
            field="version",
        )
    current = type(measurement).objects.select_for_update().get(pk=measurement.pk)
    if current.version != expected_version:
        raise _changed_since(measurement, spec, current.version, expected_version)
    return retire_record(current, reason=reason, actor=actor)
