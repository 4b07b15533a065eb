from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo data set, its pipeline and users (management commands only; no models)."""

    name = "demo"
    verbose_name = "Demo"
