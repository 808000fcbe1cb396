"""One error family for labdb.

Every error a user can cause (bad input, a conflict, a rejected file) is a ``LabdbError``.
The API maps them to HTTP 400 (409 for conflicts) with ``message`` as the text a chemist reads.
This module imports nothing from Django so that pure parsers and engines can raise these errors.
"""

from __future__ import annotations


class LabdbError(Exception):
    """Base class: ``message`` is user-facing; ``field`` names the offending input, if any."""

    def __init__(self, message: str, *, field: str | None = None, detail: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.detail = detail

    def as_dict(self) -> dict:
        out: dict = {"error": type(self).__name__, "message": self.message}
        if self.field:
            out["field"] = self.field
        if self.detail:
            out["detail"] = self.detail
        return out


class DomainError(LabdbError):
    """A write that would break a domain rule (wrong unit, negative amount, duplicate code…)."""


class ConflictError(DomainError):
    """Optimistic-concurrency conflict: the record changed since the client read it (HTTP 409)."""

    def __init__(self, message: str, *, current_version: int, field: str | None = "version"):
        super().__init__(message, field=field)
        self.current_version = current_version

    def as_dict(self) -> dict:
        out = super().as_dict()
        out["current_version"] = self.current_version
        return out


class RetiredError(DomainError):
    """A write to a retired record (HTTP 409): it is read-only until it is restored."""


class ParseError(LabdbError):
    """An instrument file could not be read.

    ``format`` is the format that was tried (e.g. ``"xrdml"``) or ``"unknown"`` when no parser
    recognised the content; ``message`` says what is wrong in words; ``detail`` keeps the
    low-level exception text for curators.
    """

    def __init__(
        self, format: str, message: str, *, detail: str | None = None, filename: str | None = None
    ):
        prefix = f"{filename}: " if filename else ""
        super().__init__(f"{prefix}{message}", detail=detail)
        self.format = format
        self.filename = filename


class EngineError(LabdbError):
    """A numerical engine (XAS processing, FEFF, feffit) refused its input or failed."""
