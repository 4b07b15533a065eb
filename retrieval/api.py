"""REST API of retrieval: retriever versions with their metrics, and search with a built version."""
from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import Conflict, ErrorSerializer, ServiceUnavailable, error_responses
from core.api.filters import ListFilterBackend, StrictFilterSet
from core.api.pagination import StandardPagination
from core.api.permissions import IsAnalyst
from core.api.schema import read_schema
from core.api.throttles import ThrottleRefusedRequestsMixin

from .models import RetrieverVersion


class RetrieverVersionSerializer(serializers.ModelSerializer):
    dataset = serializers.SlugRelatedField(slug_field="name", read_only=True)
    components = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True,
                                              help_text="Versions this one fuses or was trained against.")
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = RetrieverVersion
        fields = [
            "id", "name", "dataset", "kind", "status", "base_model", "components", "manifest", "hyperparams",
            "seed", "metrics", "error", "build_job", "eval_job", "created_by", "created_at", "built_at",
        ]
        read_only_fields = fields


class SearchQuerySerializer(serializers.Serializer):
    version = serializers.CharField(max_length=100, help_text="Retriever version name (or id).")
    q = serializers.CharField(max_length=500, trim_whitespace=True, help_text="Query text.")
    k = serializers.IntegerField(min_value=1, max_value=100, default=10, help_text="How many products (1-100).")

    def validate_version(self, value: str) -> RetrieverVersion:
        versions = RetrieverVersion.objects.select_related("dataset")
        found = versions.filter(name=value).first()
        if found is None and value.isdigit() and len(value) < 19:
            found = versions.filter(pk=int(value)).first()
        if found is None:
            raise serializers.ValidationError(f"No retriever version named {value!r}.")
        return found

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields) - {"format"})
        if unknown:
            raise serializers.ValidationError({name: ["Unknown query parameter. Allowed: k, q, version"]
                                               for name in unknown})
        return attrs


class SearchHitSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    score = serializers.FloatField()
    product_id = serializers.CharField(help_text="Catalogue product id.")
    title = serializers.CharField()
    brand = serializers.CharField()
    category = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)


class SearchResultSerializer(serializers.Serializer):
    version = serializers.CharField()
    query = serializers.CharField()
    k = serializers.IntegerField()
    hits = SearchHitSerializer(many=True)


class RetrieverVersionFilter(StrictFilterSet):
    dataset = django_filters.CharFilter(field_name="dataset__name", max_length=100, help_text="Dataset name.")
    kind = django_filters.ChoiceFilter(choices=RetrieverVersion.Kind.choices)
    status = django_filters.ChoiceFilter(choices=RetrieverVersion.Status.choices)


VERSION_EXAMPLE = {
    "id": 3, "name": "dense-logs-synth-v2", "dataset": "icecat", "kind": "dense", "status": "ready",
    "base_model": "all-MiniLM-L6-v2", "components": ["dense-logs-v1"],
    "manifest": {"logs": 18234, "synthetic": 5120}, "hyperparams": {"epochs": 2, "temperature": 0.05},
    "seed": 13, "metrics": {"test": {"ndcg@10": 0.412, "recall@100": 0.733}}, "error": "",
    "created_by": "boss", "created_at": "2026-11-25T12:00:00Z", "built_at": "2026-11-25T12:20:00Z",
}


@extend_schema_view(**read_schema(
    tag="retrievers", serializer=RetrieverVersionSerializer, example_name="A dense treatment version",
    example=VERSION_EXAMPLE, list_summary="List retriever versions",
    list_description="Built (and building) retrievers with their training manifest and offline metrics. "
                     "Analysts and admins.",
    retrieve_summary="One retriever version"))
class RetrieverVersionViewSet(ThrottleRefusedRequestsMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = RetrieverVersionSerializer
    lookup_value_converter = "int"
    permission_classes = [IsAnalyst]
    pagination_class = StandardPagination
    queryset = RetrieverVersion.objects.select_related("dataset", "created_by").prefetch_related("components")

    filter_backends = [ListFilterBackend]
    filterset_class = RetrieverVersionFilter

    @extend_schema(
        summary="Offline metrics of a retriever version",
        description="Recall@K, nDCG@K, MRR, ItemGoodRate@K and QueryGoodRate@K as recorded at evaluation, "
                    "overall and split by segment and query type. Empty until the version is evaluated.",
        responses={200: OpenApiTypes.OBJECT, **error_responses(401, 403, 404)},
        examples=[OpenApiExample("Metrics", response_only=True, value={
            "version": "dense-logs-synth-v2", "status": "ready",
            "metrics": {"test": {"ndcg@10": 0.412, "recall@100": 0.733},
                        "by_segment": {"tail": {"ndcg@10": 0.35}}},
        })],
        tags=["retrievers"],
    )
    @action(detail=True, methods=["get"])
    def metrics(self, request, pk=None):
        version = self.get_object()
        return Response({"version": version.name, "status": version.status, "metrics": version.metrics})


LOADING_RETRY_AFTER_SECONDS = 5


class ModelLoading(ServiceUnavailable):
    """503 with `Retry-After` (DRF's handler sends `wait` as that header): the version's model is loading."""

    default_code = "model_loading"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.wait = LOADING_RETRY_AFTER_SECONDS


class SearchView(ThrottleRefusedRequestsMixin, APIView):
    permission_classes = [IsAnalyst]

    @extend_schema(
        summary="Search the catalogue with a retriever version",
        description="The top-k products for a query from a built (ready) version: BM25, dense or hybrid. "
                    "Analysts and admins. A version that is not ready, or whose index files are missing, "
                    "answers 409 with what to do. The first search of a dense version in a server process "
                    "starts loading its model in the background and answers 503 (code `model_loading`) with "
                    "a `Retry-After` header; ask again after that many seconds.",
        parameters=[SearchQuerySerializer],
        responses={200: SearchResultSerializer, **error_responses(400, 401, 403, 409),
                   503: OpenApiResponse(ErrorSerializer, description="The version's model is loading in the "
                                        "background; retry after `Retry-After` seconds.")},
        examples=[OpenApiExample("Two hits", response_only=True, value={
            "version": "dense-synth-v2", "query": "pan for induction hob without teflon", "k": 2,
            "hits": [
                {"rank": 1, "score": 0.81, "product_id": "B0456", "title": "Cast iron skillet", "brand": "Forge",
                 "category": "Home > Kitchen > Pans", "price": "39.00"},
                {"rank": 2, "score": 0.77, "product_id": "B0123", "title": "Steel frying pan 28 cm",
                 "brand": "Acme", "category": "Home > Kitchen > Pans", "price": "24.90"},
            ],
        })],
        tags=["retrievers"],
    )
    def get(self, request):
        params = SearchQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        version, text, k = (params.validated_data[key] for key in ("version", "q", "k"))
        result = {"version": version.name, "query": text, "k": k, "hits": search_hits(version=version, text=text, k=k)}
        return Response(SearchResultSerializer(result).data)


def search_hits(*, version, text: str, k: int) -> list[dict]:
    from retrieval import search
    from retrieval.models import Product

    try:
        hits = search.retrieve(version, text, k, wait=False)
    except search.SearcherLoading as exc:
        raise ModelLoading(f"{exc} Retry after {LOADING_RETRY_AFTER_SECONDS} seconds.") from exc
    except search.IndexUnavailable as exc:  # includes "not ready"
        raise Conflict(str(exc)) from exc
    products = Product.objects.in_bulk([hit.product_id for hit in hits])
    return [
        {"rank": rank, "score": float(hit.score), "product_id": product.product_id, "title": product.title,
         "brand": product.brand, "category": product.category, "price": product.price}
        for rank, (hit, product) in enumerate(
            ((hit, products[hit.product_id]) for hit in hits if hit.product_id in products), start=1
        )
    ]
