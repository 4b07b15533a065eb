"""The jobs pages: list, detail, htmx partials, cancel and retry."""
from django.urls import path

from . import views

urlpatterns = [
    path("", views.job_list, name="job_list"),
    path("<int:pk>/", views.job_detail, name="job_detail"),
    path("<int:pk>/progress/", views.job_progress, name="job_progress"),
    path("<int:pk>/details/", views.job_details, name="job_details"),
    path("<int:pk>/cancel/", views.job_cancel_view, name="job_cancel"),
    path("<int:pk>/retry/", views.job_retry_view, name="job_retry"),
]
