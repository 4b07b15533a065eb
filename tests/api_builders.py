"""Small builders of rows for the REST API tests (plain ORM, no fixtures), and an authenticated client."""
from __future__ import annotations

from rest_framework.test import APIClient

from core.api.tokens import token_issue


def token_client(user) -> APIClient:
    """A client that authenticates the way scripts do: `Authorization: Token <key>`."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=user).key}")
    return client


def build_dataset(name: str = "shop"):
    from retrieval.models import Dataset

    return Dataset.objects.get_or_create(name=name)[0]


def build_version(name: str, *, kind: str = "bm25", status: str = "ready", metrics: dict | None = None,
                  dataset=None):
    from retrieval.models import RetrieverVersion

    return RetrieverVersion.objects.create(
        dataset=dataset or build_dataset(), name=name, kind=kind, status=status, metrics=metrics or {}
    )
