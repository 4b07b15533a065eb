"""Text is now normalised once at import (entities decoded, descriptions reduced to text); rows imported before
that still hold `&amp;` and markup, and no page decodes at display time any more: normalise them once here."""
from django.db import migrations

from retrieval.importers.html_text import html_to_text, plain_text

BATCH = 2000


def normalise_stored_text(apps, schema_editor):
    Product = apps.get_model("retrieval", "Product")
    Query = apps.get_model("retrieval", "Query")
    for model, fields in ((Product, {"title": plain_text, "brand": plain_text, "category": plain_text,
                                     "description": html_to_text}),
                          (Query, {"text": plain_text})):
        changed = []
        for row in model.objects.only("pk", *fields).iterator(chunk_size=BATCH):
            dirty = False
            for name, clean in fields.items():
                value = getattr(row, name) or ""
                cleaned = clean(value)
                if cleaned != value:
                    setattr(row, name, cleaned)
                    dirty = True
            if dirty:
                changed.append(row)
            if len(changed) >= BATCH:
                model.objects.bulk_update(changed, list(fields))
                changed = []
        if changed:
            model.objects.bulk_update(changed, list(fields))


class Migration(migrations.Migration):

    dependencies = [
        ("retrieval", "0004_job_moved_to_jobs"),
    ]

    operations = [
        migrations.RunPython(normalise_stored_text, migrations.RunPython.noop),
    ]
