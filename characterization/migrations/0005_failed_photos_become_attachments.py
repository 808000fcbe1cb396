"""Photos, PDFs and documents uploaded before attachments existed were kept as failed parses
(and listed on everyone's dashboard). Re-classify them by their magic bytes: attachment,
``parse_status = skipped``, content type set, parse error cleared. The stored bytes are not
touched; ``manage.py reparse_files --failed`` also draws their thumbnails.
"""

from django.db import migrations

SNIFF_BYTES = 8192
ATTACHMENT_TYPES = (
    "image/png", "image/jpeg", "image/gif", "image/webp", "image/heic", "image/heif",
    "image/avif", "image/bmp", "application/pdf", "application/msword",
    "application/vnd.ms-powerpoint", "application/rtf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.presentation",
)


def reclassify(apps, schema_editor):
    import filetype
    from django.core.files.storage import default_storage

    DataFile = apps.get_model("characterization", "DataFile")
    for data_file in DataFile.objects.filter(parse_status="failed", kind="instrument").iterator():
        try:
            with default_storage.open(data_file.file.name, "rb") as handle:
                head = handle.read(SNIFF_BYTES)
        except OSError:
            continue  # file missing from storage: leave the record as it is
        content_type = filetype.guess_mime(head) if head else None
        if content_type not in ATTACHMENT_TYPES:
            continue
        DataFile.objects.filter(pk=data_file.pk).update(
            kind="attachment", content_type=content_type, parse_status="skipped",
            parse_error="", parse_detail="", format="", technique="other",
        )


class Migration(migrations.Migration):
    dependencies = [
        ("characterization", "0004_manual_measurements_and_attachments"),
    ]

    operations = [migrations.RunPython(reclassify, migrations.RunPython.noop)]
