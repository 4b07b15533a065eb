from django.apps import AppConfig


class RetrievalConfig(AppConfig):
    name = "retrieval"
    verbose_name = "Catalogue and retrieval"

    def ready(self) -> None:
        # Register this app's job kinds (these modules import their heavy ML code lazily).
        from .versions import build  # noqa: F401
        from .importers import services  # noqa: F401
        from .warmup import start_at_boot

        # A web server process loads the newest dense versions' models in the background (never a command,
        # a worker or the tests): the first search then finds them in memory.
        start_at_boot()
