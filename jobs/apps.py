from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        # the "ping" job kind; the Celery tasks of the stale-job sweep and of shard helpers
        from . import ping, shards, sweep  # noqa: F401
