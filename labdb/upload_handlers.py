"""Upload size limit enforced WHILE the request body is read (never after it is in memory).

``SizeLimitUploadHandler`` runs first in ``FILE_UPLOAD_HANDLERS``: it counts the bytes of each
uploaded file as Django's multipart parser streams them, passes them on unchanged to the
next handler (``TemporaryFileUploadHandler``: the file goes to a temporary file on disk), and
skips the file as soon as it passes ``LABDB_MAX_UPLOAD_BYTES``. The rest of that file is read
and discarded chunk by chunk, so a 1.2 GB upload costs one chunk of memory, not 1.2 GB.
Views ask ``refused_uploads(request)`` and answer 413 with ``too_large_message``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile

REFUSED_ATTR = "labdb_refused_uploads"


def too_large_message(name: str, limit_bytes: int) -> str:
    """The chemist-readable refusal: which file, and the limit in MB."""
    return (
        f"file: {name} is larger than the upload limit of {limit_bytes / 1e6:.0f} MB "
        "(LABDB_MAX_UPLOAD_BYTES); it was not stored. Split or compress the export."
    )


class SizeLimitUploadHandler(FileUploadHandler):
    """Counts each file's bytes while streaming; past the limit the file is skipped and its
    name recorded on the request (``refused_uploads``). Stores nothing itself."""

    def __init__(self, request=None):
        super().__init__(request)
        self.limit_bytes = int(settings.LABDB_MAX_UPLOAD_BYTES)
        self.received_bytes = 0

    def new_file(self, *args, **kwargs):
        """Start counting a new file (the next handler creates its temporary file)."""
        super().new_file(*args, **kwargs)
        self.received_bytes = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        """Pass ``raw_data`` on; raise SkipFile once the file exceeds the limit."""
        self.received_bytes += len(raw_data)
        if self.received_bytes > self.limit_bytes:
            if self.request is not None:
                refused = getattr(self.request, REFUSED_ATTR, [])
                refused.append(self.file_name or "(unnamed file)")
                setattr(self.request, REFUSED_ATTR, refused)
            raise SkipFile(f"{self.file_name} exceeds {self.limit_bytes} bytes")
        return raw_data

    def file_complete(self, file_size: int):
        """Nothing to return: the next handler holds the file."""
        return None


def refused_uploads(request) -> list[str]:
    """Names of the files of ``request`` skipped for exceeding the upload limit.

    Reading ``request.FILES`` (or DRF's ``request.data``) first is required: that is when the
    body is parsed. Works with Django and DRF requests alike.
    """
    django_request = getattr(request, "_request", request)
    return list(getattr(django_request, REFUSED_ATTR, []))
