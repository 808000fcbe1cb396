"""Truncated, empty, garbage and deliberately malformed files must give ParseError (only)."""

from __future__ import annotations

import pytest

from characterization.parsers.registry import MODULES, detect_format, parse_file
from labdb.lib.errors import ParseError

from ._files import (
    BAD_XDI_FILES,
    GARBAGE,
    GOOD_INSTRUMENT_FILES,
    XAS,
    XAS_GOOD_FILES,
    read_instrument,
    read_xas,
)

ALL_GOOD = [("instruments", f) for f in GOOD_INSTRUMENT_FILES] + [
    ("xas", f) for f in XAS_GOOD_FILES
]


def _read(kind: str, rel: str) -> bytes:
    return read_instrument(rel) if kind == "instruments" else read_xas(rel)


@pytest.mark.parametrize("kind,rel", ALL_GOOD)
def test_truncated_file_raises_parse_error_naming_the_file(kind, rel):
    data = _read(kind, rel)
    name = rel.split("/")[-1]
    fmt = detect_format(data, name)
    with pytest.raises(ParseError) as err:
        parse_file(data[: len(data) // 2], filename=name)
    assert err.value.filename == name
    assert err.value.message.startswith(f"{name}: ")
    with pytest.raises(ParseError):  # the format's own parser rejects it too
        MODULES[fmt][1](data[: len(data) // 2], filename=name)


@pytest.mark.parametrize("kind,rel", ALL_GOOD)
def test_empty_and_garbage_raise_parse_error_in_the_format_parser(kind, rel):
    fmt = detect_format(_read(kind, rel), rel)
    for bad in (b"", GARBAGE):
        with pytest.raises(ParseError) as err:
            MODULES[fmt][1](bad, filename="bad.bin")
        assert err.value.format == fmt


@pytest.mark.parametrize("bad", [b"", GARBAGE], ids=["empty", "garbage"])
def test_empty_and_garbage_are_unknown_to_parse_file(bad):
    with pytest.raises(ParseError) as err:
        parse_file(bad, filename="upload.dat")
    assert (err.value.format, err.value.filename) == ("unknown", "upload.dat")


def test_good_files_parse_with_the_detected_format():
    formats = {}
    for kind, rel in ALL_GOOD:
        data = _read(kind, rel)
        parsed = parse_file(data, filename=rel.split("/")[-1])
        formats[(kind, rel)] = parsed.format
        assert parsed.format == detect_format(data, rel)
    assert len(formats) == len(GOOD_INSTRUMENT_FILES) + len(XAS_GOOD_FILES) == 30 + 18


BAD_XDI_REASONS = {
    "bad_00.xdi": "do not span the stated Cu K edge energy 8980 eV",
    "bad_01.xdi": "the first line must be '# XDI/1.0 …'",
    # bad_02/03 lack Element.symbol/edge: such spectra are kept with the absorber unknown, but
    # these two hold only 12 pre-edge rows below their stated 8980 eV edge.
    "bad_02.xdi": "do not span the stated edge energy 8980 eV",
    "bad_03.xdi": "do not span the stated edge energy 8980 eV",
    "bad_04.xdi": "Element.edge 'Foo' is not an absorption edge",
    "bad_05.xdi": "Element.symbol 'Foo' is not a chemical element",
    "bad_06.xdi": "is neither a '#' header line nor after '#----'",
    "bad_07.xdi": "no 'Column.N' headers",
    "bad_08.xdi": "data row 2 has 4 values, the header names 3 columns",
    "bad_09.xdi": "data row 2 has 4 values, the header names 5 columns",
    "bad_10.xdi": "Column numbers [1, 2, 3, 7] are not 1…4",
    "bad_11.xdi": "'! Beamline.collimation: none'",
    "bad_12.xdi": "Column.1 is an angle but Mono.d_spacing is not given",
    "bad_13.xdi": "data row 4 has 3 values, the header names 4 columns",
    "bad_14.xdi": "data row 9 has 6 values, the header names 4 columns",
    "bad_15.xdi": "data row 2 contains a non-number",
    "bad_16.xdi": "data row 3 contains a non-number",
    "bad_17.xdi": "data row 2 contains a non-number",
    "bad_18.xdi": "'# Family.key:' is not 'Family.key: value'",
    "bad_19.xdi": "'# Family.key  Value' is not 'Family.key: value'",
    "bad_20.xdi": "'# Family:key:  Value' is not 'Family.key: value'",
    "bad_21.xdi": "'# Family key:  Value' is not 'Family.key: value'",
    "bad_22.xdi": "'# Family.key.subkey:  Value' is not 'Family.key: value'",
    # bad_23/25/26/27 are accepted by the XDI reference library (BadFiles.txt: "file read");
    # like every bad_* file they hold only 12 pre-edge rows (8779–8889 eV), which this parser
    # rejects as a truncated scan.
    "bad_23.xdi": "do not span the stated Cu K edge energy 8980 eV",
    "bad_24.xdi": "'# 2000Family.key:  Value' is not 'Family.key: value'",
    "bad_25.xdi": "do not span the stated Cu K edge energy 8980 eV",
    "bad_26.xdi": "do not span the stated Cu K edge energy 8980 eV",
    "bad_27.xdi": "do not span the stated Cu K edge energy 8980 eV",
    "bad_28.xdi": "scan.start_time = '2001-Jun-26 22:27:31' is not an ISO 8601 date-time",
    "bad_29.xdi": "scan.start_time = '2001-26-6T22:27:31' is not an ISO 8601 date-time",
    "bad_30.xdi": "Element.symbol 'Foo' is not a chemical element",
    "bad_31.xdi": "mono.d_spacing = 'three point one three five five three' is not a number",
    "bad_32.xdi": "Column.1 must be 'energy' or 'angle', not 'energie'",
    "bad_33.xdi": "sample.temperature = '300.0a K' is not a number with a valid unit",
    "bad_34.xdi": "facility.energy = '7.00 missing units' is not a number with a valid unit",
    "bad_35.xdi": "facility.current = '101x ma' is not a number with a valid unit",
}


def test_bad_xdi_reason_table_covers_all_36_files():
    assert sorted(BAD_XDI_REASONS) == BAD_XDI_FILES
    assert len(BAD_XDI_FILES) == 36


@pytest.mark.parametrize("name", BAD_XDI_FILES)
def test_bad_xdi_file_raises_parse_error_with_its_reason(name):
    data = (XAS / "xdi" / "baddata" / name).read_bytes()
    with pytest.raises(ParseError) as err:
        parse_file(data, filename=name)
    assert err.value.format == "xdi"
    assert BAD_XDI_REASONS[name] in err.value.message
