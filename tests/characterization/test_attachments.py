"""Attachments: photos, PDFs and documents stored unchanged, thumbnailed, never "failed parses".

No photo or PDF is vendored in /work/shared/data, so the PNG (Pillow), PDF (matplotlib) and
DOCX (zip) below are GENERATED in the tests; the XDI is the real file from the shared data.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from characterization import selectors, services
from characterization.models import DataFile, XASSpectrum
from tests.conftest import SHARED_DATA
from tests.synthesis import builders

pytestmark = pytest.mark.django_db

XDI = SHARED_DATA / "instruments" / "xdi" / "cu_metal_rt.xdi"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def generated_png(width=1200, height=800) -> bytes:
    """A GENERATED photo-like PNG (gradient), not a real micrograph."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def generated_pdf() -> bytes:
    """A GENERATED one-page A4 PDF drawn with matplotlib."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.27, 11.69))
    fig.text(0.1, 0.9, "Notebook p. 42: CdSe NPL 4.5 ML", fontsize=20)
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf")
    return buf.getvalue()


def generated_docx() -> bytes:
    """A GENERATED minimal Word container (zip with word/document.xml)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


def _attach(content, name, sample=None, actor=None):
    return services.attach_data_file(content=content, filename=name, sample=sample, actor=actor)


def _preview_size(data_file) -> tuple[int, int]:
    with default_storage.open(data_file.preview.name, "rb") as handle:
        return Image.open(io.BytesIO(handle.read())).size


def test_png_is_attachment_with_downsampled_thumbnail(member):
    content = generated_png()
    data_file, created = _attach(content, "bench photo.png", builders.sample("A-1"), member)
    assert created
    assert (data_file.kind, data_file.content_type, data_file.parse_status, data_file.format,
            data_file.parse_error, data_file.sha256, data_file.original_name) == (
        "attachment", "image/png", "skipped", "", "", hashlib.sha256(content).hexdigest(),
        "bench_photo.png")
    assert _preview_size(data_file) == (360, 240)
    with default_storage.open(data_file.file.name, "rb") as handle:
        assert handle.read() == content


def test_png_named_like_an_instrument_file_is_still_a_photo(member):
    data_file, _ = _attach(generated_png(300, 200), "scan.xrdml")
    assert (data_file.kind, data_file.content_type) == ("attachment", "image/png")
    assert _preview_size(data_file) == (300, 200)


def test_pdf_first_page_thumbnail(member):
    data_file, _ = _attach(generated_pdf(), "notebook.pdf")
    assert (data_file.kind, data_file.content_type, data_file.preview_error) == (
        "attachment", "application/pdf", "")
    assert _preview_size(data_file) == (255, 360)  # A4 portrait, longest side 360 px


def test_docx_is_attachment_without_thumbnail(member):
    data_file, _ = _attach(generated_docx(), "protocol.docx")
    assert (data_file.kind, data_file.parse_status, bool(data_file.preview)) == (
        "attachment", "skipped", False)
    assert data_file.content_type == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document")


def test_decompression_bomb_is_stored_but_not_decoded(member):
    image = Image.new("1", (9000, 9000))  # 81 megapixels, a few kB as PNG
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    data_file, _ = _attach(buf.getvalue(), "bomb.png")
    assert (data_file.kind, bool(data_file.preview)) == ("attachment", False)
    assert data_file.preview_error == (
        "no thumbnail: the image is 9000 × 9000 pixels (81 megapixels); thumbnails are made "
        "only up to 64 megapixels (guard against decompression bombs)")


def test_truncated_png_stored_with_clear_preview_error(member):
    content = generated_png()[:400]
    data_file, _ = _attach(content, "cut.png")
    assert (data_file.kind, bool(data_file.preview)) == ("attachment", False)
    assert data_file.preview_error.startswith(
        "no thumbnail: the image could not be decoded for a thumbnail")


def test_real_xdi_is_parsed_not_attached(member):
    sample = builders.sample("REF-CU", actor=member, material="Cu", morphology="bulk")
    data_file, _ = _attach(XDI.read_bytes(), XDI.name, sample, member)
    assert (data_file.kind, data_file.parse_status, data_file.format) == (
        "instrument", "ok", "xdi")
    assert XASSpectrum.objects.get(data_file=data_file).element == "Cu"


def test_failed_parses_list_instrument_failures_but_never_attachments(member):
    broken = XDI.read_bytes()[:600]  # recognised as XDI, cut in the header
    failed, _ = _attach(broken, "cut.xdi")
    _attach(generated_png(), "photo.png")
    _attach(b"Sample looked cloudy after 2 h; re-dispersed in hexane.\n", "note.txt")
    assert failed.parse_status == "failed"
    assert [f.original_name for f in selectors.failed_parses()] == ["cut.xdi"]


def test_reparse_turns_an_old_failed_photo_into_an_attachment(member):
    data_file, _ = _attach(generated_png(), "old.png")
    # As stored before attachments existed: a photo kept as a failed instrument parse.
    DataFile.objects.filter(pk=data_file.pk).update(
        kind="instrument", parse_status="failed", parse_error="not a recognised instrument file")
    services.parse_data_file(data_file=DataFile.objects.get(pk=data_file.pk))
    again = DataFile.objects.get(pk=data_file.pk)
    assert (again.kind, again.parse_status, again.parse_error) == ("attachment", "skipped", "")
    assert list(selectors.failed_parses()) == []


def test_api_download_is_the_stored_bytes_with_sha256_headers(api):
    content = generated_pdf()
    upload = SimpleUploadedFile("notebook p42.pdf", content)
    body = api.post("/api/files/", {"file": upload}, format="multipart").json()
    assert (body["kind"], body["content_type"]) == ("attachment", "application/pdf")
    response = api.get(body["download_url"])
    data = b"".join(response.streaming_content)
    digest = hashlib.sha256(data).hexdigest()
    assert digest == body["sha256"] == hashlib.sha256(content).hexdigest()
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="notebook_p42.pdf"'
    assert response["ETag"] == f'"{digest}"'
    assert response["Repr-Digest"] == (
        f"sha-256=:{base64.b64encode(hashlib.sha256(content).digest()).decode()}:")


def test_migration_reclassifies_photos_stored_as_failed_parses(member):
    import importlib

    from django.apps import apps

    migration = importlib.import_module(
        "characterization.migrations.0005_failed_photos_become_attachments")
    photo, _ = _attach(generated_png(), "old-photo.png")
    broken, _ = _attach(XDI.read_bytes()[:600], "cut.xdi")
    # As stored before attachments existed: the photo kept as a failed instrument parse.
    DataFile.objects.filter(pk=photo.pk).update(
        kind="instrument", parse_status="failed", parse_error="not a recognised instrument file")
    migration.reclassify(apps, None)
    photo.refresh_from_db()
    broken.refresh_from_db()
    assert (photo.kind, photo.parse_status, photo.content_type, photo.parse_error) == (
        "attachment", "skipped", "image/png", "")
    assert (broken.kind, broken.parse_status) == ("instrument", "failed")
