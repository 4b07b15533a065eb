from django.apps import AppConfig


class SbsAppConfig(AppConfig):
    name = "sbsapp"
    verbose_name = "SBS evaluation"
