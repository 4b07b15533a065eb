from django.apps import AppConfig


class SbsAppConfig(AppConfig):
    name = "sbsapp"
    verbose_name = "SBS evaluation"

    def ready(self) -> None:
        from . import campaigns  # noqa: F401  (job kinds)
        from .auto import closed_loop, sbs  # noqa: F401
