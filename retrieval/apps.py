from django.apps import AppConfig


class RetrievalConfig(AppConfig):
    name = "retrieval"
    verbose_name = "Catalogue and retrieval"

    def ready(self) -> None:
        # Register this app's job kinds (these modules import their heavy ML code lazily).
        from .versions import build  # noqa: F401
        from .importers import services  # noqa: F401
