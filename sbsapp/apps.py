from django.apps import AppConfig


class SbsAppConfig(AppConfig):
    name = "sbsapp"
    verbose_name = "SBS evaluation"

    def ready(self) -> None:
        from . import generation  # noqa: F401  (job kind: sbs_generate)
        from .auto import closed_loop, sbs  # noqa: F401
