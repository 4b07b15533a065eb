"""REST API routes (mounted at /api/): each app's viewsets, and the OpenAPI schema, Swagger UI and Redoc (offline)."""
from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import SimpleRouter

from jobs.api import JobViewSet
from retrieval.api import RetrieverVersionViewSet, SearchView
from sbsapp.api import review, views
from synthesis.api import SynthesisJobViewSet, SyntheticPairViewSet

router = SimpleRouter(use_regex_path=False)
router.register("jobs", JobViewSet, basename="api-job")
router.register("retrievers", RetrieverVersionViewSet, basename="api-retriever")
router.register("campaigns", views.CampaignViewSet, basename="api-campaign")
router.register("items", views.ItemViewSet, basename="api-item")
router.register("judgments", views.JudgmentViewSet, basename="api-judgment")
router.register("adjudications", review.AdjudicationViewSet, basename="api-adjudication")
router.register("synthesis/jobs", SynthesisJobViewSet, basename="api-synthesis-job")
router.register("synthesis/pairs", SyntheticPairViewSet, basename="api-synthetic-pair")

# Swagger UI and Redoc style their widgets inline (Redoc through styled-components, which also starts a worker from a
# blob): on these two pages only, the Content-Security-Policy allows that. Their scripts still come from this site
# only (the split Swagger view serves its start-up script from a URL instead of inline).
docs_policy = csp_update({"style-src": ["'unsafe-inline'"], "img-src": ["data:"], "worker-src": ["blob:"]})

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]), name="api-schema"),
    path("docs/", docs_policy(SpectacularSwaggerSplitView.as_view(url_name="api-schema",
                                                                  permission_classes=[IsAuthenticated])),
         name="api-docs"),
    path("redoc/", docs_policy(SpectacularRedocView.as_view(url_name="api-schema",
                                                            permission_classes=[IsAuthenticated])),
         name="api-redoc"),
    # Before the router, so that "export" is not read as a judgment id.
    path("judgments/export", views.JudgmentExportView.as_view(), name="api-judgment-export"),
    path("search/", SearchView.as_view(), name="api-search"),
    path("leaderboard/<slug:dataset>", review.LeaderboardView.as_view(), name="api-leaderboard"),
    path("", include(router.urls)),
]
