"""`manage.py import_bundle PATH [--format auto|bundle|esci|wands] [--name DATASET]`: validate, then import."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.configs import ConfigInvalid, validate_config
from retrieval.importers.config import FORMATS, ImportConfig
from retrieval.importers.progress import TerminalProgress
from retrieval.importers.services import SHOWN_PROBLEMS, ImportRejected, ImportSetupError, import_dataset

DEFAULTS = {name: info.default for name, info in ImportConfig.model_fields.items()}


class Command(BaseCommand):
    help = (
        "Import a data set folder: a native bundle, Amazon ESCI parquet files or WANDS CSVs. Every row is "
        "validated before anything is written; any bad row is listed as file:line: reason and nothing is "
        "imported. Re-importing updates rows by their ids and never duplicates them."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="folder holding the data set files")
        parser.add_argument("--format", default="auto", choices=["auto", *FORMATS],
                            help="source format (default: detected from the file names)")
        parser.add_argument("--name", help="dataset name (default: bundle.json name, 'esci[-LOCALE]' or 'wands')")
        parser.add_argument("--locale", action="append", dest="locales", default=[],
                            help="ESCI: import only this product_locale (us, es, jp); repeatable; default all")
        parser.add_argument("--esci-small-version", action="store_true",
                            help="ESCI: keep only the examples of the reduced (task 1) version")
        parser.add_argument("--wands-test-share", type=float, default=DEFAULTS["wands_test_share"],
                            help="WANDS: share of queries (by a hash of query_id) whose labels go to test")
        parser.add_argument("--head-share", type=float, default=DEFAULTS["head_share"],
                            help="segment of queries without one: head = queries before this share of traffic")
        parser.add_argument("--torso-share", type=float, default=DEFAULTS["torso_share"],
                            help="... torso = queries before this share of traffic, tail = the rest")
        parser.add_argument("--head-min-frequency", type=int,
                            help="use frequency thresholds instead: head = frequency >= this")
        parser.add_argument("--torso-min-frequency", type=int, help="... torso = frequency >= this")
        parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"], help="rows per database write")
        parser.add_argument("--show", type=int, default=SHOWN_PROBLEMS, help="how many bad rows to print")
        parser.add_argument("--no-progress", action="store_true", help="no progress bars")

    def handle(self, *args, **opts):
        try:
            config = validate_config(ImportConfig, {
                "path": opts["path"], "format": opts["format"], "name": opts["name"], "locales": opts["locales"],
                "esci_small_version_only": opts["esci_small_version"], "wands_test_share": opts["wands_test_share"],
                "batch_size": opts["batch_size"], "head_share": opts["head_share"], "torso_share": opts["torso_share"],
                "head_min_frequency": opts["head_min_frequency"], "torso_min_frequency": opts["torso_min_frequency"],
            })
        except ConfigInvalid as exc:
            raise CommandError(str(exc)) from None
        progress = TerminalProgress(disable=True if opts["no_progress"] else None)
        try:
            summary = import_dataset(path=config.path, fmt=config.format, name=config.name,
                                     options=config.options(), progress=progress)
        except ImportRejected as exc:
            progress.close()
            lines = exc.report_lines(limit=opts["show"])
            for line in lines[1:]:
                self.stderr.write(line)
            raise CommandError(lines[0]) from None
        except ImportSetupError as exc:
            raise CommandError(str(exc)) from None
        finally:
            progress.close()
        for line in summary.lines():
            self.stdout.write(line)
