"""Evaluate retriever versions on their data set's `test` labels and print a markdown table.

    manage.py evaluate_retriever bm25-v1 dense-zero-shot dense-logs-v1 [--depth 100] [--json out.json]
"""
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from retrieval.models import RetrieverVersion


class Command(BaseCommand):
    help = "Evaluate retriever versions (Recall, nDCG, MRR, ItemGoodRate, QueryGoodRate, Judged) by segment and type."

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="+", help="version names")
        parser.add_argument("--depth", type=int, default=100, help="results retrieved per query (Recall@depth)")
        parser.add_argument("--json", dest="json_path", help="also write the full reports to this file")
        parser.add_argument("--background", action="store_true", help="send the jobs to the queue instead")

    def handle(self, *args, **opts):
        from retrieval.evaluation import metrics_table
        from retrieval.versions import version_evaluate

        versions = []
        for name in opts["names"]:
            version = RetrieverVersion.objects.filter(name=name).first()
            if version is None:
                raise CommandError(f"No retriever version named {name!r}.")
            versions.append(version)
        rows = []
        for version in versions:
            try:
                job = version_evaluate(version=version, depth=opts["depth"], inline=not opts["background"])
            except Exception as exc:
                raise CommandError(f"{version.name}: {exc}") from exc
            if opts["background"]:
                self.stdout.write(f"Job #{job.pk} queued for {version.name}")
                continue
            if job.status != "succeeded":
                raise CommandError(f"{version.name}: evaluation job #{job.pk} {job.status}: {job.error[:500]}")
            version.refresh_from_db()
            rows.append((version.name, version.metrics))
        if not rows:
            return
        self.stdout.write(metrics_table(rows))
        self.stdout.write("")
        self.stdout.write(metrics_table(rows, groups=_type_groups(rows), metrics=("nDCG@10", "Recall@100")))
        if opts["json_path"]:
            Path(opts["json_path"]).write_text(json.dumps(dict(rows), indent=2), encoding="utf-8")


def _type_groups(rows) -> tuple:
    types = sorted({t for _, report in rows for t in (report.get("query_type") or {})})
    return tuple(("query_type", t) for t in types)
