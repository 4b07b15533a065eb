from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app shares (roles, API plumbing, the LLM client, devices, artifact paths); no models."""

    name = "core"
    verbose_name = "Core"
