"""REST API routes (mounted at /api/) and its OpenAPI schema, Swagger UI and Redoc (served offline)."""
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import SimpleRouter

from .api import views

router = SimpleRouter(use_regex_path=False)
router.register("jobs", views.JobViewSet, basename="api-job")
router.register("retrievers", views.RetrieverVersionViewSet, basename="api-retriever")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema", permission_classes=[IsAuthenticated]),
         name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema", permission_classes=[IsAuthenticated]),
         name="api-redoc"),
    path("", include(router.urls)),
]
