"""`manage.py build_demo_bundle --out DIR [--seed 7] [--products 3000]`: write the built-in demo data set."""
from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from demo.bundle import DEFAULT_PRODUCTS, DEFAULT_SEED, summarise, write_demo_bundle


class Command(BaseCommand):
    help = (
        "Build the synthetic demo data set (catalogue, queries, click logs, graded labels) as a bundle folder. "
        "The same seed and size always give byte-identical files. Import it with "
        "`manage.py import_bundle DIR --format bundle --name demo`."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="folder to write the bundle into (created if missing)")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
        parser.add_argument("--products", type=int, default=DEFAULT_PRODUCTS,
                            help=f"catalogue size (default {DEFAULT_PRODUCTS})")

    def handle(self, *args, **opts):
        started = time.monotonic()
        try:
            bundle = write_demo_bundle(out_dir=opts["out"], seed=opts["seed"], products=opts["products"])
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        for line in summarise(bundle):
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(
            f"Wrote the demo bundle to {opts['out']} in {time.monotonic() - started:.1f} s."))
