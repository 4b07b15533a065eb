"""Synthesis pages, mounted at /synthesis/."""
from django.urls import path

from . import views

urlpatterns = [
    path("", views.synthesis_home, name="synthesis_home"),
    path("jobs/<int:pk>/", views.synthesis_job, name="synthesis_job"),
    path("jobs/<int:pk>/results/", views.synthesis_job_results, name="synthesis_job_results"),
    path("jobs/<int:pk>/treatment/", views.treatment_train, name="synthesis_treatment"),
    path("judges/train/", views.judge_train, name="synthesis_judge_train"),
]
