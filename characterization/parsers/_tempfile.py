"""Materialise uploaded bytes as a temporary file for libraries that only accept paths."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


def safe_suffix(filename: str, default: str) -> str:
    """The file's extension if it is short and plain ASCII, else ``default`` (with dot)."""
    ext = os.path.splitext(filename or "")[1]
    return ext if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", ext or "") else default


@contextmanager
def temp_path(data: bytes, suffix: str) -> Iterator[str]:
    """Write ``data`` to a private temporary file and yield its path; always deleted.

    The basename is fixed (not the user's file name) so that no path can be injected.
    """
    with tempfile.TemporaryDirectory(prefix="labdb-parse-") as tmp:
        path = os.path.join(tmp, "upload" + suffix)
        with open(path, "wb") as fh:
            fh.write(data)
        yield path
