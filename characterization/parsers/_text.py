"""Text decoding helpers for instrument exports (Windows ANSI, UTF-8 with BOM, …)."""

from __future__ import annotations


def decode_text(data: bytes) -> str:
    """Decode as UTF-8 (BOM stripped), falling back to cp1252 then latin-1.

    Raises UnicodeDecodeError only if NUL bytes show the content is binary.
    """
    if b"\x00" in data:
        raise UnicodeDecodeError("utf-8", data[:1], 0, 1, "binary content (NUL bytes)")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def is_probably_text(head: bytes) -> bool:
    """True when the first bytes look like text (no NULs, few control characters)."""
    if not head or b"\x00" in head:
        return False
    ctrl = sum(1 for b in head if b < 9 or 13 < b < 32)
    return ctrl <= len(head) // 100


def parse_float(token: str) -> float:
    """Strict float: rejects NaN/inf and anything ``float`` would not take (ValueError)."""
    value = float(token)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"not a finite number: {token!r}")
    return value
