"""Root URL configuration: pages, admin, REST API and its OpenAPI schema."""
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/", include("core.urls")),
    path("jobs/", include("jobs.urls")),
    path("admin/", admin.site.urls),
    path("retrieval/", include("retrieval.urls")),
    path("synthesis/", include("synthesis.urls")),
    path("sbs/auto/", include("sbsapp.auto.urls")),
    path("sbs/", include("sbsapp.sbs_urls")),
    path("api/", include("config.api")),
]

# JSON (not HTML) 404/500 for /api/ paths; other paths keep Django's pages.
handler400 = "core.api.errors.bad_request"
handler403 = "config.views.permission_denied"  # the styled page naming the role needed (JSON under /api/)
handler404 = "core.api.errors.page_not_found"
handler500 = "core.api.errors.server_error"
