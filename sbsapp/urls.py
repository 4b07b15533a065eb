"""Root URL configuration: pages, admin, REST API and its OpenAPI schema."""
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("jobs/", views.job_list, name="job_list"),
    path("jobs/<int:pk>/", views.job_detail, name="job_detail"),
    path("jobs/<int:pk>/progress/", views.job_progress, name="job_progress"),
    path("jobs/<int:pk>/details/", views.job_details, name="job_details"),
    path("jobs/<int:pk>/cancel/", views.job_cancel_view, name="job_cancel"),
    path("jobs/<int:pk>/retry/", views.job_retry_view, name="job_retry"),
    path("admin/", admin.site.urls),
    path("retrieval/", include("retrieval.urls")),
    path("synthesis/", include("synthesis.urls")),
    path("sbs/auto/", include("sbsapp.auto_urls")),
    path("sbs/", include("sbsapp.sbs_urls")),
    path("api/", include("sbsapp.api_urls")),
]

# JSON (not HTML) 404/500 for /api/ paths; other paths keep Django's pages.
handler404 = "sbsapp.api.errors.page_not_found"
handler500 = "sbsapp.api.errors.server_error"
