"""The file store behind every stored file: a local folder (MEDIA_ROOT) or an S3 bucket
(``settings.STORAGES["default"]``, set from LABDB_S3_BUCKET…).

Everything that reads stored bytes, lists stored names or checks a sha256 goes through these
helpers so that local disk and S3 behave the same: a name whose bytes are gone raises
``StoredFileMissing`` (HTTP 410 in the API and the web UI, naming the file), never a bare
``FileNotFoundError`` that would end as a 500.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterator

from django.conf import settings
from django.core.files.storage import Storage, default_storage

from labdb.lib.errors import LabdbError

CHUNK_BYTES = 1 << 20  # sha256 and copies stream 1 MiB at a time (files may be 200 MB)


class StoredFileMissing(LabdbError):
    """A row names a stored file whose bytes are no longer in the file store (HTTP 410).

    ``name`` is the storage name (``raw/ab/cd/<sha256>/x.xdi``); ``label`` what a chemist
    knows it by (the upload's original name and the data file id)."""

    def __init__(self, *, name: str, label: str):
        super().__init__(
            f"{label}: its stored bytes ({name}) are missing from the file storage "
            f"({backend_name()}). The record is kept; a curator can restore the file from a "
            "backup (manage.py verify_files lists every missing file).",
            field="file",
        )
        self.name = name
        self.label = label


def backend_name(storage: Storage | None = None) -> str:
    """``"S3Storage"`` or ``"FileSystemStorage"`` (the class name, as /health/ prints it)."""
    if storage is None or storage is default_storage:  # a lazy wrapper: name the configured one
        return settings.STORAGES["default"]["BACKEND"].rsplit(".", 1)[-1]
    return type(storage).__name__


def is_s3(storage: Storage | None = None) -> bool:
    return backend_name(storage).startswith("S3")


def open_stored(name: str, *, label: str, storage: Storage | None = None):
    """The stored file ``name`` opened for reading (binary); the caller closes it.

    Raises StoredFileMissing (naming ``label``) when the bytes are gone; other storage
    failures (bucket missing, credentials) propagate as botocore errors (HTTP 503)."""
    storage = storage or default_storage
    try:
        return storage.open(name, "rb")
    except FileNotFoundError:
        raise StoredFileMissing(name=name, label=label) from None


def read_stored(name: str, *, label: str, storage: Storage | None = None) -> bytes:
    """All bytes of the stored file ``name``; StoredFileMissing when they are gone."""
    with open_stored(name, label=label, storage=storage) as handle:
        return handle.read()


def sha256_stored(name: str, *, storage: Storage | None = None) -> tuple[str, int] | None:
    """``(sha256 hex, size in bytes)`` of the bytes read back from the store, or None when
    ``name`` is not there. Streams in 1 MiB blocks."""
    storage = storage or default_storage
    try:
        handle = storage.open(name, "rb")
    except FileNotFoundError:
        return None
    digest, size = hashlib.sha256(), 0
    with handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def stored_names(prefix: str = "", *, storage: Storage | None = None) -> Iterator[str]:
    """Every stored name under ``prefix`` (a folder such as ``"raw"``; ``""`` for all),
    sorted within each folder. On S3 the bucket is listed (paginated); locally MEDIA_ROOT is
    walked; a prefix that does not exist yields nothing."""
    storage = storage or default_storage
    try:
        folders, files = storage.listdir(prefix)
    except FileNotFoundError:
        return
    for name in sorted(files):
        yield posixpath.join(prefix, name) if prefix else name
    for folder in sorted(folders):
        yield from stored_names(posixpath.join(prefix, folder) if prefix else folder,
                                storage=storage)


def copy_into(storage: Storage, name: str, handle) -> None:
    """Write the open binary file ``handle`` to ``storage`` under exactly ``name``.

    Refuses (DomainError-like LabdbError naming the file) when the store renamed it, which
    S3Storage/FileSystemStorage do when ``name`` is already taken."""
    from django.core.files import File

    saved = storage.save(name, File(handle, name=posixpath.basename(name)))
    if saved != name:
        storage.delete(saved)
        raise LabdbError(f"file storage: {name} is already taken; nothing was overwritten.",
                         field="file")


def stored_label(data_file) -> str:
    """How a chemist knows a DataFile: ``data file 12 (cu_metal_rt.xdi)``."""
    return f"data file {data_file.pk} ({data_file.original_name})"
