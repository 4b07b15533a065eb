"""Product text is normalised at import now and pages no longer decode it; result lists frozen before that
still hold `&amp;` and markup: normalise the frozen query text and product snapshots once here (the judged
content does not change, only how its characters are written)."""
from django.db import migrations

from retrieval.importers.html_text import html_to_text, plain_text

SNAPSHOT_FIELDS = {"title": plain_text, "brand": plain_text, "category": plain_text, "description": html_to_text}


def normalise_snapshot(card: dict) -> dict:
    return {key: SNAPSHOT_FIELDS[key](value) if key in SNAPSHOT_FIELDS and isinstance(value, str) else value
            for key, value in card.items()}


def normalise_frozen_items(apps, schema_editor):
    Item = apps.get_model("sbsapp", "Item")
    changed = []
    for item in Item.objects.only("pk", "query_text", "results_a", "results_b").iterator(chunk_size=1000):
        fields = {"query_text": plain_text(item.query_text),
                  "results_a": [normalise_snapshot(card) for card in item.results_a or []],
                  "results_b": [normalise_snapshot(card) for card in item.results_b or []]}
        if any(getattr(item, name) != value for name, value in fields.items()):
            for name, value in fields.items():
                setattr(item, name, value)
            changed.append(item)
        if len(changed) >= 1000:
            Item.objects.bulk_update(changed, ["query_text", "results_a", "results_b"])
            changed = []
    if changed:
        Item.objects.bulk_update(changed, ["query_text", "results_a", "results_b"])


class Migration(migrations.Migration):

    dependencies = [
        ("sbsapp", "0004_job_moved_to_jobs"),
        ("retrieval", "0005_decode_stored_text"),
    ]

    operations = [
        migrations.RunPython(normalise_frozen_items, migrations.RunPython.noop),
    ]
