"""File lists shared by the parser tests."""

from __future__ import annotations

from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
INSTRUMENTS = SHARED_DATA / "instruments"
XAS = SHARED_DATA / "xas"

# Files that must be rejected even though they are real (reason in the README/FORMATS.md).
REJECTED_REAL = {
    "opus/not_opus.spa",  # a Thermo OMNIC .spa, wrong format
    "jcamp/BRUKER2.JCM",  # jcamp decodes 3735 x but 3710 y values (failed DIF checks)
    "jcamp/ISAS_CDX.DX",  # LINK file with a structure and NMR peak table, no spectrum
}

INSTRUMENT_FILES = sorted(
    str(p.relative_to(INSTRUMENTS)) for p in INSTRUMENTS.glob("*/*") if p.is_file()
)
GOOD_INSTRUMENT_FILES = [f for f in INSTRUMENT_FILES if f not in REJECTED_REAL]
XAS_GOOD_FILES = sorted(
    [str(p.relative_to(XAS)) for p in XAS.rglob("*.xdi") if "baddata" not in p.parts]
    + [str(p.relative_to(XAS)) for p in XAS.rglob("*.prj")]
    + ["larch_examples/znse_zn_xafs.001"]
)
BAD_XDI_FILES = sorted(p.name for p in (XAS / "xdi" / "baddata").glob("bad_*.xdi"))
GARBAGE = b"this is not a real file\n" * 10


def read_instrument(rel: str) -> bytes:
    return (INSTRUMENTS / rel).read_bytes()


def read_xas(rel: str) -> bytes:
    return (XAS / rel).read_bytes()
