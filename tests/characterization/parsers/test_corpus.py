"""Corpus test: no mutated real file may parse "ok" with numbers the untouched file does not hold.

Every real file under ``shared/data/`` that ``parse_file`` accepts is mutated four ways:

* truncated at 25, 50 and 75 % of its bytes;
* one byte flipped (XOR 0x01, so a digit becomes its neighbour and a letter stays a letter) in
  the middle of its header, i.e. before the first numeric data line of a text file;
* its first two data columns swapped on every numeric line (text tables only).

The result must be either a ``ParseError`` whose message names the file, or a parse whose
every series equals the untouched file's series within the part kept (a prefix for
truncation; identical for the other mutations) and whose image pixels are unchanged.
Different numbers under "ok" fail the test. Binary-irrelevant mutations are skipped with the
reason stated in ``SKIP_FLIP``.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pytest

from characterization.parsers.registry import detect_format, parse_file
from labdb.lib.errors import ParseError

from ._files import SHARED_DATA

NOT_DATA = {"README.md", "License.txt", "BadFiles.txt"}
CORPUS = sorted(
    str(p.relative_to(SHARED_DATA))
    for p in SHARED_DATA.rglob("*")
    if p.is_file()
    and p.name not in NOT_DATA
    and "baddata" not in p.parts  # the XDI spec's bad files: rejected on purpose, tested apart
    and "feff" not in p.parent.name  # FEFF inputs/outputs are not instrument files
    and p.parent.name != "reference_outputs"
)
BINARY = {"opus", "tiff", "gatan_dm", "emd", "bruker_raw", "brml"}
# Binary formats whose header holds raw numbers without a checksum: a flipped bit in a stored
# start angle or pixel size is undetectable by any reader, so the flip is not meaningful there.
# ZIP (BRML) and gzip (Athena) carry CRCs and are flipped like text.
SKIP_FLIP = {
    "opus": "OPUS blocks carry no checksum: a flipped byte in a parameter block is undetectable",
    "tiff": "TIFF tags carry no checksum: a flipped byte in a tag value is undetectable",
    "gatan_dm": "DM3/DM4 tag trees carry no checksum",
    "emd": "HDF5 datasets carry no checksum here",
    "bruker_raw": "Bruker RAW headers are raw binary floats without a checksum",
}
NUMERIC_LINE = re.compile(r"^\s*[-+]?(\d|\.\d)[\d.eE+\-]*([\s,;]+[-+]?[\d.eE+\-]+)+\s*[,;]?\s*$")
SKIP_SWAP = {
    "emsa": "EMSA 'Y' data lines hold consecutive counts (no x column): swapping two counts "
    "is an undetectable change in any reader",
}
MUTATIONS = ["trunc25", "trunc50", "trunc75", "flip_header", "swap_columns"]


@functools.cache
def _original(rel: str):
    """(bytes, ParsedFile or None when no parser accepts the untouched file)."""
    data = (SHARED_DATA / rel).read_bytes()
    try:
        return data, parse_file(data, filename=rel.split("/")[-1])
    except ParseError:
        return data, None


def _first_data_offset(data: bytes) -> int:
    """Byte offset of the first numeric data line (the header ends there).

    For XML (XRDML) the header ends at ``<dataPoints>``, for PerkinElmer at ``#DATA``.
    """
    marker = data.find(b"<dataPoints")
    if data.lstrip()[:1] == b"<" and marker > 0:
        return marker
    marker = data.find(b"\n#DATA")  # PerkinElmer: one value per line after #DATA
    if marker > 0:
        return marker
    offset = 0
    for line in data.splitlines(keepends=True):
        if NUMERIC_LINE.match(line.decode("latin-1")):
            return offset
        offset += len(line)
    return len(data)


def _flip_header(data: bytes) -> bytes:
    """Flip one byte in the middle of the header (the middle of the file if none)."""
    end = _first_data_offset(data)
    pos = end // 2 if end > 1 else len(data) // 2
    return data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1 :]


def _swap_line(line: str) -> str:
    """The line with its first two fields swapped, delimiters kept."""
    parts = re.split(r"(\s*[\t,;]\s*|\s+)", line.strip())
    if len(parts) < 3:
        return line
    parts[0], parts[2] = parts[2], parts[0]
    ending = line[len(line.rstrip("\r\n")) :]
    return line[: len(line) - len(line.lstrip())] + "".join(parts) + ending


def _swap_columns(data: bytes) -> bytes:
    """Swap the first two columns of every numeric line."""
    text = data.decode("latin-1")
    lines = text.splitlines(keepends=True)
    return "".join(_swap_line(ln) if NUMERIC_LINE.match(ln) else ln for ln in lines).encode(
        "latin-1"
    )


def _first_two_columns_are_twins(data: bytes) -> bool:
    """True when the first two numeric columns agree within 0.2 % on every data line."""
    lines = [ln for ln in data.decode("latin-1").splitlines() if NUMERIC_LINE.match(ln)]
    widths = [len(re.split(r"[\s,;]+", ln.strip())) for ln in lines]
    width = max(set(widths), key=widths.count) if widths else 0
    rows = [  # only the data table's rows (the most common width), not header tables
        re.split(r"[\s,;]+", ln.strip())[:2] for ln, w in zip(lines, widths) if w == width
    ]
    try:
        table = np.array([[float(a), float(b)] for a, b in rows])
    except ValueError:
        return False
    return bool(table.size) and np.allclose(table[:, 0], table[:, 1], rtol=2e-3)


def _mutate(data: bytes, mutation: str) -> bytes:
    if mutation.startswith("trunc"):
        return data[: len(data) * int(mutation[5:]) // 100]
    if mutation == "flip_header":
        return _flip_header(data)
    return _swap_columns(data)


def _assert_same_numbers(original, mutated, *, prefix: bool) -> None:
    """Every mutated series equals an original one (a prefix of it when ``prefix``)."""
    by_name = {}
    for s in original.series:
        by_name.setdefault(s.name, []).append(s)
    for s in mutated.series:
        candidates = by_name.get(s.name)
        assert candidates, f"series {s.name!r} is not in the untouched file"

        def matches(o, s=s):
            n = s.x.size
            if n > o.x.size or (not prefix and n != o.x.size):
                return False
            return np.array_equal(o.x[:n], s.x) and np.array_equal(o.y[:n], s.y)

        assert any(matches(o) for o in candidates), f"series {s.name!r} has different numbers"
    if mutated.image is not None:
        assert original.image is not None
        assert np.array_equal(original.image.pixels, mutated.image.pixels)
        assert original.image.pixel_size == mutated.image.pixel_size


@pytest.mark.parametrize("mutation", MUTATIONS)
@pytest.mark.parametrize("rel", CORPUS)
def test_mutated_real_file_is_rejected_or_keeps_its_numbers(rel, mutation):
    data, original = _original(rel)
    if original is None:
        pytest.skip("the untouched file is rejected; test_parsers_corruption covers rejections")
    fmt = original.format
    if mutation == "flip_header" and fmt in SKIP_FLIP:
        pytest.skip(SKIP_FLIP[fmt])
    if mutation == "flip_header" and fmt not in BINARY and _first_data_offset(data) == 0:
        pytest.skip(
            "the file has no header: the flipped byte lands on a data digit, an undetectable "
            "change in any reader"
        )
    if mutation == "swap_columns" and fmt in BINARY | {"athena_prj"}:
        pytest.skip("column swapping applies to text tables only")
    if mutation == "swap_columns" and fmt in SKIP_SWAP:
        pytest.skip(SKIP_SWAP[fmt])
    if mutation == "swap_columns" and _first_two_columns_are_twins(data):
        pytest.skip(
            "the first two columns are both scan axes (energy or angle set point and read-back, "
            "within 0.2 %): no reader can tell them apart"
        )
    bad = _mutate(data, mutation)
    if bad == data:
        pytest.skip("the mutation leaves this file unchanged (no numeric rows to swap)")
    name = rel.split("/")[-1]
    try:
        mutated = parse_file(bad, filename=name)
    except ParseError as err:
        assert err.filename == name
        assert err.message.startswith(f"{name}: ")
        assert "Error:" not in err.message  # Python internals go to err.detail
        return
    assert mutated.format == fmt == detect_format(data, name)
    _assert_same_numbers(original, mutated, prefix=mutation.startswith("trunc"))
