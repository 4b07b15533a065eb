"""Automatic SBS and closed-loop pages, mounted at /sbs/auto/."""
from django.urls import path

from . import views

app_name = "sbs_auto"
urlpatterns = [
    path("campaigns/<int:pk>/run/", views.auto_sbs_run, name="run"),
    path("campaigns/<int:pk>/panel/", views.auto_sbs_panel, name="panel"),
    path("judge/retrain/", views.judge_retrain, name="judge_retrain"),
]
