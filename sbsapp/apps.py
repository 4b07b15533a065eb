from django.apps import AppConfig


class SbsAppConfig(AppConfig):
    name = "sbsapp"
    verbose_name = "SBS evaluation"

    def ready(self) -> None:
        from . import dashboard_cache, generation  # noqa: F401  (the metrics task; job kind: sbs_generate)
        from .auto import closed_loop, sbs  # noqa: F401
