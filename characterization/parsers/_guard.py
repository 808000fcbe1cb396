"""Error translation shared by every parser: only ``ParseError`` may leave a parser.

Uploaded files are untrusted input, so *any* exception raised while decoding them
(``struct.error``, ``KeyError``, ``RecursionError``, ``EOFError``, ``BadZipFile``, XML
``ParseError``, ``OSError``, ``TiffFileError``, ``ValueError``, ``IndexError``,
``UnicodeDecodeError``, ``MemoryError`` …) is a property of the file, not a crash of the
service. The low-level text is kept in ``ParseError.detail`` for curators.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable

from labdb.lib.errors import ParseError

from ._dates import from_parser_metadata
from .base import ParsedFile, scan_list

ParserFunc = Callable[..., ParsedFile]


def truncated_message(label: str, what: str | None = None) -> str:
    """The standard chemist-readable message for a file a library could not decode.

    ``what`` is a reason in words (never a Python exception text: that goes to ``detail``).
    """
    if what:
        return f"{label}: {what}"
    return (
        f"{label}: the file ends early or its content is damaged, so it could not be read "
        f"as {article(label)} {label}"
    )


def article(label: str) -> str:
    """'a' or 'an' for a format label."""
    return "an" if label[:1].upper() in "AEIOUX" and not label.startswith("Uni") else "a"


PYTHON_TEXT = re.compile(
    r"could not convert|invalid literal|not enough values|too many values|could not "
    r"broadcast|operands could not|unpack requires|buffer is smaller|cannot reshape|out of "
    r"bounds|zero-size array|math domain|substring not found|is not in list|not a finite "
    r"number|empty separator|^\d+$"
)


def _own_reason(exc: BaseException) -> str | None:
    """The message of a ValueError raised by our own parser code (written for chemists)."""
    if not isinstance(exc, ValueError) or type(exc) is not ValueError:
        return None
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    here = __file__.rsplit("/", 1)[0]
    text = str(exc)
    if (
        tb is None
        or not tb.tb_frame.f_code.co_filename.startswith(here)
        or PYTHON_TEXT.search(text)
    ):
        return None  # raised by Python itself inside our frame (float('x'), list.index …)
    return text or None


def _describe(exc: BaseException) -> str:
    """Short human description of a low-level exception (type name + first line)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text[:160]
    name = type(exc).__name__
    if name == "error":  # struct.error, zlib.error … are all called "error"
        name = f"{type(exc).__module__}.error"
    return f"{name}: {text}" if text else name


def guarded(format_key: str, label: str) -> Callable[[ParserFunc], ParserFunc]:
    """Decorate ``parse_<format>(data, *, filename, ...)`` so that only ParseError escapes.

    Also rejects non-bytes input and empty results (no series, image or table rows), records
    ``metadata["filename"]`` and normalises a stated time into ``measured_at`` (see _dates).
    """

    def decorate(func: ParserFunc) -> ParserFunc:
        @functools.wraps(func)
        def wrapper(data: bytes, *, filename: str, **kwargs) -> ParsedFile:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise ParseError(
                    format_key, f"{label}: expected the file's bytes", filename=filename
                )
            data = bytes(data)
            if not data:
                raise ParseError(
                    format_key,
                    f"the file is empty (0 bytes); {article(label)} {label} export was expected",
                    filename=filename,
                )
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    parsed = func(data, filename=filename, **kwargs)
            except ParseError as exc:
                if exc.filename is None:
                    raise ParseError(
                        exc.format, exc.message, detail=exc.detail, filename=filename
                    ) from exc
                raise
            except (Exception, RecursionError, MemoryError) as exc:  # noqa: BLE001 - see module doc
                raise ParseError(
                    format_key,
                    truncated_message(label, _own_reason(exc)),
                    detail=_describe(exc) + "\n" + repr(exc)[:2000],
                    filename=filename,
                ) from exc
            if not (parsed.series or parsed.image is not None or parsed.tables):
                raise ParseError(
                    format_key, f"{label}: the file contains no data", filename=filename
                )
            parsed.metadata.setdefault("filename", filename)
            parsed.metadata.update(from_parser_metadata(parsed.metadata))
            if len(parsed.series) > 1:  # several scans/blocks/groups: each addressable
                parsed.metadata.setdefault("scans", scan_list(parsed.series))
            return parsed

        return wrapper

    return decorate


def fail(format_key: str, message: str, *, detail: str | None = None) -> ParseError:
    """Build a ParseError for ``format_key`` (the guard adds the file name)."""
    return ParseError(format_key, message, detail=detail)
