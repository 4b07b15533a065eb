"""REST API routes (mounted at /api/): each app's viewsets, and the OpenAPI schema, Swagger UI and Redoc (offline)."""
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import SimpleRouter

from jobs.api import JobViewSet
from retrieval.api import RetrieverVersionViewSet, SearchView
from sbsapp.api import views
from synthesis.api import SynthesisJobViewSet, SyntheticPairViewSet

router = SimpleRouter(use_regex_path=False)
router.register("jobs", JobViewSet, basename="api-job")
router.register("retrievers", RetrieverVersionViewSet, basename="api-retriever")
router.register("campaigns", views.CampaignViewSet, basename="api-campaign")
router.register("items", views.ItemViewSet, basename="api-item")
router.register("judgments", views.JudgmentViewSet, basename="api-judgment")
router.register("synthesis/jobs", SynthesisJobViewSet, basename="api-synthesis-job")
router.register("synthesis/pairs", SyntheticPairViewSet, basename="api-synthetic-pair")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema", permission_classes=[IsAuthenticated]),
         name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema", permission_classes=[IsAuthenticated]),
         name="api-redoc"),
    # Before the router, so that "export" is not read as a judgment id.
    path("judgments/export", views.JudgmentExportView.as_view(), name="api-judgment-export"),
    path("search/", SearchView.as_view(), name="api-search"),
    path("", include(router.urls)),
]
