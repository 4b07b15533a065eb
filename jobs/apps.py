from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from . import ping, sweep  # noqa: F401  (the "ping" job kind; the stale-job sweep's Celery task)
