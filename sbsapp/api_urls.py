"""REST API routes (mounted at /api/) and its OpenAPI schema, Swagger UI and Redoc (served offline)."""
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import SimpleRouter

from .api import views

router = SimpleRouter(use_regex_path=False)
router.register("jobs", views.JobViewSet, basename="api-job")
router.register("retrievers", views.RetrieverVersionViewSet, basename="api-retriever")
router.register("campaigns", views.CampaignViewSet, basename="api-campaign")
router.register("items", views.ItemViewSet, basename="api-item")
router.register("judgments", views.JudgmentViewSet, basename="api-judgment")
router.register("synthesis/jobs", views.SynthesisJobViewSet, basename="api-synthesis-job")
router.register("synthesis/pairs", views.SyntheticPairViewSet, basename="api-synthetic-pair")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema", permission_classes=[IsAuthenticated]),
         name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema", permission_classes=[IsAuthenticated]),
         name="api-redoc"),
    # Before the router, so that "export" is not read as a judgment id.
    path("judgments/export", views.JudgmentExportView.as_view(), name="api-judgment-export"),
    path("search/", views.SearchView.as_view(), name="api-search"),
    path("", include(router.urls)),
]
