"""`manage.py demo_screenshots`: judge the demo campaign in headless Chromium and save the README's pictures."""
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from demo.screenshots import CHROMIUM, take_screenshots
from demo.users import logins_file


class Command(BaseCommand):
    help = ("Against a running demo (`make demo`): enter label-oracle judgments as the demo annotators in headless "
            "Chromium, then save the judging page, the dashboard and the other tour pages as PNG files.")

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="The running demo's address.")
        parser.add_argument("--out", default="docs", help="Folder for the PNG files.")
        parser.add_argument("--judged-share", type=float, default=0.8,
                            help="Share of the campaign's items each annotator judges (0..1).")

    def handle(self, *args, **options):
        if not Path(CHROMIUM).exists():
            raise CommandError(f"{CHROMIUM} is missing: apt-get install chromium")
        if not logins_file().exists():
            raise CommandError(f"{logins_file()} is missing: run `make demo` first (it creates the demo logins).")
        if not 0 <= options["judged_share"] <= 1:
            raise CommandError("--judged-share must be between 0 and 1.")
        try:
            saved = take_screenshots(base_url=options["url"].rstrip("/"), out_dir=Path(options["out"]),
                                     logins=json.loads(logins_file().read_text()),
                                     judged_share=options["judged_share"], say=self.stdout.write)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"{len(saved)} pictures saved to {options['out']}/"))
