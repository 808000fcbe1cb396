"""Every file stored with a sample gets its link row (who: the uploader, when: the upload)."""

from django.db import migrations


def link_existing(apps, schema_editor):
    DataFile = apps.get_model("characterization", "DataFile")
    DataFileLink = apps.get_model("characterization", "DataFileLink")
    links = [
        DataFileLink(
            data_file_id=f.pk,
            sample_id=f.sample_id,
            linked_by_id=f.uploaded_by_id,
            linked_at=f.uploaded_at,
            reason="uploaded for this sample",
        )
        for f in DataFile.objects.exclude(sample=None).only(
            "pk", "sample_id", "uploaded_by_id", "uploaded_at"
        )
    ]
    DataFileLink.objects.bulk_create(links, batch_size=500, ignore_conflicts=True)


def unlink_all(apps, schema_editor):
    apps.get_model("characterization", "DataFileLink").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("characterization", "0006_file_links_and_stated_facts")]

    operations = [migrations.RunPython(link_existing, unlink_all)]
