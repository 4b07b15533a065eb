"""Search API: a real BM25 version answers analysts; annotators are refused; bad or unready versions explain."""
from decimal import Decimal

import pytest

from retrieval.models import Dataset, Product
from tests.api_builders import build_version, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def bm25_version():
    from retrieval.versions import version_build

    dataset = Dataset.objects.create(name="pans")
    titles = ["cast iron skillet", "steel frying pan", "nonstick wok", "ceramic baking dish", "garden hose"]
    Product.objects.bulk_create(
        Product(dataset=dataset, product_id=f"P{i}", title=title, brand="Acme", category="Home > Kitchen",
                price=Decimal("9.99") + i)
        for i, title in enumerate(titles)
    )
    version = version_build(dataset=dataset, name="pans-bm25", kind="bm25", inline=True)
    assert version.status == "ready", version.error
    return version


def test_analyst_searches_a_built_bm25_version(analyst, bm25_version):
    response = token_client(analyst).get("/api/search/", {"version": "pans-bm25", "q": "iron skillet", "k": 2})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["version"] == "pans-bm25" and body["k"] == 2
    assert body["hits"][0]["product_id"] == "P0" and body["hits"][0]["rank"] == 1
    assert len(body["hits"]) <= 2 and body["hits"][0]["price"] == "9.99"


def test_version_can_be_named_by_id(analyst, bm25_version):
    body = token_client(analyst).get("/api/search/", {"version": str(bm25_version.pk), "q": "wok"}).json()
    assert body["hits"][0]["title"] == "nonstick wok"


def test_annotator_cannot_search(annotator, bm25_version):
    response = token_client(annotator).get("/api/search/", {"version": "pans-bm25", "q": "wok"})
    assert response.status_code == 403


@pytest.mark.parametrize(("params", "message"), [
    ({"version": "nope", "q": "wok"}, "version: No retriever version named 'nope'."),
    ({"version": "pans-bm25", "q": "   "}, "q: This field may not be blank."),
    ({"version": "pans-bm25"}, "q: This field is required."),
    ({"version": "pans-bm25", "q": "wok", "k": 0}, "k: Ensure this value is greater than or equal to 1."),
    ({"version": "pans-bm25", "q": "wok", "k": "ten"}, "k: A valid integer is required."),
    ({"version": "pans-bm25", "q": "wok", "top": 3}, "top: Unknown query parameter. Allowed: k, q, version"),
])
def test_bad_search_parameters_are_clear_400s(analyst, bm25_version, params, message):
    response = token_client(analyst).get("/api/search/", params)
    assert response.status_code == 400
    assert response.json()["message"] == message


def test_searching_an_unbuilt_version_is_a_409_that_says_why(analyst):
    build_version("half-built", status="training")
    response = token_client(analyst).get("/api/search/", {"version": "half-built", "q": "wok"})
    assert response.status_code == 409
    assert "is training, not ready" in response.json()["message"]
