"""`manage.py demo_pipeline`: run the whole loop on the demo data set through the running Celery worker."""
from django.core.management.base import BaseCommand, CommandError

from demo.pipeline import DemoPipelineError, run_demo_pipeline
from demo.users import demo_users_ensure


class Command(BaseCommand):
    help = "Baseline, judge, synthesis, treatment, evaluation and an SBS campaign on the demo data set (idempotent)."

    def handle(self, *args, **options):
        demo_users_ensure()
        try:
            result = run_demo_pipeline(out=self.stdout.write)
        except DemoPipelineError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Pipeline done: campaign #{result['campaign'].pk} is ready to judge."))
