"""Format detection by content and the single entry point ``parse_file``.

Detection follows FORMATS.md §5: magic bytes for binaries (DM3/DM4, TIFF, HDF5/EMD, ZIP/BRML/
XLSX, gzip/Athena, Bruker RAW, OPUS), root element or first lines for text formats. The file
extension is only a tie-breaker between the two kinds of tables (size vs composition) and is
never trusted alone. ``parse_file`` guarantees that only ``ParseError`` escapes.
"""

from __future__ import annotations

import re
import zlib

from labdb.lib.errors import ParseError

from . import (
    athena_prj,
    brml,
    bruker_raw,
    cary_csv,
    composition_table,
    edinst,
    emd,
    emsa,
    fdmnes,
    feff_xmu,
    gatan_dm,
    jcampdx,
    nanolog,
    ocean,
    opus,
    perkinelmer,
    size_table,
    tiff,
    xas_ascii,
    xdi,
    xrdml,
)
from ._guard import truncated_message
from ._limits import Limits, check_text_table
from ._text import decode_text, is_probably_text
from .base import ParsedFile
from .table_reader import is_xlsx, read_table

MODULES = {
    "xrdml": (xrdml, xrdml.parse_xrdml),
    "brml": (brml, brml.parse_brml),
    "bruker_raw": (bruker_raw, bruker_raw.parse_bruker_raw),
    "opus": (opus, opus.parse_opus),
    "jcamp": (jcampdx, jcampdx.parse_jcamp),
    "cary_csv": (cary_csv, cary_csv.parse_cary_csv),
    "nanolog": (nanolog, nanolog.parse_nanolog),
    "edinst": (edinst, edinst.parse_edinst),
    "ocean": (ocean, ocean.parse_ocean),
    "perkinelmer": (perkinelmer, perkinelmer.parse_perkinelmer),
    "gatan_dm": (gatan_dm, gatan_dm.parse_gatan_dm),
    "tiff": (tiff, tiff.parse_tiff),
    "emd": (emd, emd.parse_emd),
    "emsa": (emsa, emsa.parse_emsa),
    "size_table": (size_table, size_table.parse_size_table),
    "composition_table": (composition_table, composition_table.parse_composition_table),
    "xdi": (xdi, xdi.parse_xdi),
    "athena_prj": (athena_prj, athena_prj.parse_athena_prj),
    "xas_ascii": (xas_ascii, xas_ascii.parse_xas_ascii),
    "fdmnes": (fdmnes, fdmnes.parse_fdmnes),  # simulated spectra (source="simulated")
    "feff_xmu": (feff_xmu, feff_xmu.parse_feff_xmu),
}
PARSERS: dict[str, tuple[str, str]] = {
    key: (module.PARSER_NAME, module.PARSER_VERSION) for key, (module, _) in MODULES.items()
}
LABELS = {key: module.LABEL for key, (module, _) in MODULES.items()}
EXPANDING = ("brml", "athena_prj")  # parsers that accept max_expanded_bytes
LIMITED = ("tiff", "emd", "gatan_dm")  # parsers that accept limits (shape checked first)
BINARY = ("opus", "tiff", "emd", "bruker_raw", "brml", "gatan_dm")
DEFAULT_MAX_EXPANDED_BYTES = 512 * 1024 * 1024
SIZE_WORDS = ("diameter", "size", "feret", "length", "major", "area")


def _detect_binary(data: bytes) -> str | None:
    """Format key from magic bytes, or None."""
    head = data[:16]
    if head.startswith(opus.MAGIC):
        return "opus"
    if head.startswith(tiff.MAGICS):
        return "tiff"
    if head.startswith(emd.HDF5_MAGIC):
        return "emd"
    if head.startswith((bruker_raw.MAGIC_V4,) + bruker_raw.OLD_MAGICS):
        return "bruker_raw"
    if head.startswith(b"PK\x03\x04"):
        if b"Experiment0/" in data or b"RawData" in data[:65536]:
            return "brml"
        return "table" if is_xlsx(data) else None
    if head.startswith(b"\x1f\x8b"):
        try:
            text = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[:65536], 4096)
        except zlib.error:
            return None
        return "athena_prj" if text.startswith(b"# Athena project file") else None
    if len(data) >= 16 and int.from_bytes(head[:4], "big") in (3, 4) and head[4:8] != b"    ":
        return "gatan_dm"
    return None


def _detect_text(text: str) -> str | None:
    """Format key from the first lines of a text file, or None."""
    head = text[:8000]
    lines = [ln for ln in head.splitlines()[:40]]
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    if first.startswith("<?xml") or first.startswith("<"):
        return "xrdml" if "xrdMeasurements" in head else None
    if fdmnes.looks_like_fdmnes(first):
        return "fdmnes"
    if first.startswith("#") and feff_xmu.looks_like_feff_xmu(head.splitlines()[:80]):
        return "feff_xmu"
    if re.match(r"^##TITLE\s*=", first, re.IGNORECASE):
        return "jcamp"
    if re.match(r"^#\s*XDI/", first, re.IGNORECASE):
        return "xdi"
    if first.startswith("# Athena project file") or (
        first.startswith("{") and "_____header1" in head
    ):
        return "athena_prj"
    if re.match(r"^#FORMAT\s*:\s*EMSA/MAS", first, re.IGNORECASE):
        return "emsa"
    if len(lines) > 1 and lines[1].startswith("Wavelength (nm),"):
        return "cary_csv"
    if edinst.looks_like_edinst(lines):
        return "edinst"
    if ocean.looks_like_ocean(head):
        return "ocean"
    if perkinelmer.looks_like_perkinelmer(lines):
        return "perkinelmer"
    if (
        "\t" in lines[0]
        and len(lines) > 2
        and "wavelength" in lines[1].lower()
        and re.search(r"\b(S1c?|R1c?)", lines[0])
    ):
        return "nanolog"
    if first.startswith("#") and re.search(r"^#\s*Column\.\d+\s*:", head, re.MULTILINE):
        return "xdi"  # XDI fields without the version line: let the XDI parser say so
    if first[:1] in ("#", ";") and _looks_like_xas(lines):
        return "xas_ascii"
    if first[:1] not in ("#", ";") and xas_ascii.looks_like_beamline_scan(text):
        return "xas_ascii"  # SSRL, MRCAT/XDAC, KEK-PF … headers without comment characters
    return "table"


def _looks_like_xas(lines: list[str]) -> bool:
    """Comment header mentioning an energy column, followed by numeric rows."""
    header = " ".join(ln for ln in lines if ln.lstrip()[:1] in ("#", ";")).lower()
    return "energy" in header or "#%atom" in header or "e0" in header


def _classify_table(data: bytes, filename: str) -> str:
    """size_table vs composition_table from the header (extension never decides alone).

    Only the first 64 kB (whole lines) are read: the header decides, and a huge table is
    not split into strings before its size is checked."""
    if len(data) > 65536 and not data.startswith(b"PK"):
        head = data[:65536]
        data = head[: head.rfind(b"\n") + 1] or head
    try:
        header, _, _ = read_table(data, "unknown", "Table")
    except Exception:  # noqa: BLE001 - any unreadable table is simply "unknown"
        return "unknown"
    try:
        if composition_table.element_columns(header):
            return "composition_table"
    except ParseError:
        return "composition_table"  # an element-like column with a bad symbol: let it explain
    lowered = [h.strip().lower() for h in header]
    if "element" in lowered:
        return "composition_table"
    if size_table.find_size_column(header) is not None:
        return "size_table"
    name = filename.lower()
    if any(w in name for w in ("size", "feret", "results")) and any(
        w in " ".join(lowered) for w in SIZE_WORDS
    ):
        return "size_table"
    return "unknown"


def detect_format(data: bytes, filename: str) -> str:
    """Registry key of ``data`` sniffed from its content, or ``"unknown"``.

    Never raises. ``filename`` only breaks ties between text-table kinds.
    """
    try:
        found = _detect_binary(data)
        if found is None and is_probably_text(data[:4096]):
            found = _detect_text(decode_text(data[:65536]))
        if found == "table":
            found = _classify_table(data, filename or "")
        return found or "unknown"
    except Exception:  # noqa: BLE001 - detection must never crash
        return "unknown"


def _unknown(filename: str, data: bytes) -> ParseError:
    """The error for content no parser recognises."""
    formats = ", ".join(sorted(LABELS[k] for k in PARSERS))
    if not data:
        return ParseError(
            "unknown",
            f"the file is empty (0 bytes); an instrument export ({formats}) was expected",
            filename=filename,
        )
    return ParseError(
        "unknown",
        "not a recognised instrument file: the content matches none of "
        f"the supported formats ({formats})",
        detail=f"first bytes {data[:16]!r}",
        filename=filename,
    )


def _kwargs(key: str, data: bytes, filename: str, limits: Limits) -> dict:
    """Limit arguments for parser ``key``; text content is counted (rows × columns) here."""
    if key in EXPANDING:
        if not data.startswith((b"\x1f\x8b", b"PK")):
            check_text_table(key, LABELS[key], data, limits)
        return {"max_expanded_bytes": limits.max_decoded_bytes}
    if key in LIMITED:
        return {"limits": limits}
    if key not in BINARY and not data.startswith(b"PK"):  # XLSX tables are zip-guarded
        check_text_table(key, LABELS[key], data, limits)
    return {}


def parse_file(
    data: bytes,
    *,
    filename: str,
    max_expanded_bytes: int = DEFAULT_MAX_EXPANDED_BYTES,
    limits: Limits | None = None,
) -> ParsedFile:
    """Detect the format of ``data`` and parse it.

    ``limits`` (default: ``Limits(max_decoded_bytes=max_expanded_bytes)``) caps the file
    itself, the decompressed size of ZIP (BRML) and gzip (Athena) containers, the declared
    shape × dtype of images and HDF5 datasets (checked before decoding) and the values of
    text tables. Raises ParseError — and nothing else — for unknown content, files or
    declared contents larger than the caps, any failure inside a parser, and empty results.
    """
    limits = limits or Limits(max_decoded_bytes=max_expanded_bytes)
    max_expanded_bytes = limits.max_decoded_bytes
    try:
        data = bytes(data)
        if len(data) > max_expanded_bytes:
            raise ParseError(
                "unknown",
                f"the file is {len(data) / 1e6:.0f} MB, more than the "
                f"{max_expanded_bytes / 1e6:.0f} MB allowed",
                filename=filename,
            )
        key = detect_format(data, filename)
        if key not in MODULES:
            raise _unknown(filename, data)
        func = MODULES[key][1]
        try:
            kwargs = _kwargs(key, data, filename, limits)
        except ParseError as exc:
            raise ParseError(exc.format, exc.message, filename=filename) from exc
        parsed = func(data, filename=filename, **kwargs)
        if not (parsed.series or parsed.image is not None or parsed.tables):
            raise ParseError(key, f"{LABELS[key]}: the file contains no data", filename=filename)
        return parsed
    except ParseError:
        raise
    except (Exception, RecursionError, MemoryError) as exc:  # noqa: BLE001 - guarantee
        raise ParseError(
            "unknown",
            truncated_message("instrument"),
            detail=f"{type(exc).__name__}: {repr(exc)[:2000]}",
            filename=filename,
        ) from exc
