"""REST API foundations: token auth, tokens command and admin action, JSON errors, throttling, the docs."""
import io
import re

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.api_builders import token_client

pytestmark = pytest.mark.django_db


def test_token_command_issues_a_key_that_authenticates_requests(analyst):
    out = io.StringIO()
    call_command("api_token", "issue", "analyst", stdout=out, stderr=io.StringIO())
    key = out.getvalue().strip()
    assert AuthToken.objects.get(user=analyst).token_key == key[:15]  # the start, to find it; the rest is a digest
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/jobs/").status_code == 200


def test_rotated_token_stops_the_old_key_and_revoke_stops_all(analyst):
    old = token_client(analyst)
    call_command("api_token", "issue", "analyst", "--rotate", stdout=io.StringIO(), stderr=io.StringIO())
    assert old.get("/api/jobs/").status_code == 401
    new = token_client(analyst)
    assert new.get("/api/jobs/").status_code == 200
    out = io.StringIO()
    call_command("api_token", "revoke", "analyst", stdout=out)
    assert "revoked" in out.getvalue()
    assert new.get("/api/jobs/").status_code == 401


def test_token_command_lists_holders_and_refuses_unknown_users(analyst):
    token_client(analyst)
    out = io.StringIO()
    call_command("api_token", "list", stdout=out)
    assert out.getvalue().startswith("analyst\t")
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("api_token", "issue", "nobody", stdout=io.StringIO())


def test_admin_action_issues_and_revokes_tokens(client, admin_user, analyst):
    client.force_login(admin_user)
    changelist = "/admin/auth/user/"
    response = client.post(changelist, {"action": "issue_api_tokens", "_selected_action": [analyst.pk]}, follow=True)
    key = re.search(r'class="api-token-key">([0-9a-f]{64})<', response.content.decode()).group(1)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/jobs/").status_code == 200
    client.post(changelist, {"action": "revoke_api_tokens", "_selected_action": [analyst.pk]})
    assert not AuthToken.objects.filter(user=analyst).exists()
    assert api.get("/api/jobs/").status_code == 401


def test_invalid_token_is_a_json_401_with_a_message():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    response = client.get("/api/jobs/")
    assert response.status_code == 401
    assert response.json() == {"status": 401, "code": "authentication_failed", "message": "Invalid token."}


def test_anonymous_request_is_refused_with_json():
    response = APIClient().get("/api/jobs/")
    assert response.status_code in (401, 403)
    assert response["Content-Type"] == "application/json"
    assert "credentials were not provided" in response.json()["message"]


def test_unknown_api_path_is_a_json_404_not_an_html_page(analyst, settings):
    settings.DEBUG = False
    response = token_client(analyst).get("/api/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "No API endpoint" in response.json()["message"]


def test_crash_inside_an_api_view_is_a_json_500(analyst, monkeypatch):
    from jobs import api

    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(api.JobFilter, "filter_queryset", crash)
    client = token_client(analyst)
    client.raise_request_exception = False
    response = client.get("/api/jobs/")
    assert response.status_code == 500
    assert response.json()["code"] == "server_error"


def test_anonymous_requests_are_throttled(settings):
    cache.clear()
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "3/min",
                                                                                     "user": "1000/min"}}
    client = APIClient()
    codes = [client.get("/api/jobs/").status_code for _ in range(4)]
    assert codes[:3] != [429] * 3 and codes[3] == 429
    assert "throttled" in client.get("/api/jobs/").json()["message"]
    cache.clear()


def test_token_requests_are_throttled_per_user(settings, analyst, admin_user):
    cache.clear()
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "100/min",
                                                                                     "user": "2/min"}}
    client = token_client(analyst)
    assert [client.get("/api/jobs/").status_code for _ in range(3)] == [200, 200, 429]
    assert token_client(admin_user).get("/api/jobs/").status_code == 200  # another user has their own budget
    cache.clear()


def test_schema_and_offline_docs_are_served_to_signed_in_users(client, analyst):
    client.force_login(analyst)
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/jobs/" in paths and "/api/retrievers/{id}/metrics/" in paths
    docs = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs and "cdn.jsdelivr" not in docs and "unpkg" not in docs
    redoc = client.get("/api/redoc/").content.decode()
    assert "redoc" in redoc.lower() and "cdn.jsdelivr" not in redoc
    assert APIClient().get("/api/schema/").status_code in (401, 403)


def test_every_operation_in_the_schema_has_an_example(client, analyst):
    client.force_login(analyst)
    paths = client.get("/api/schema/?format=json").json()["paths"]
    missing = []
    for path, operations in paths.items():
        for method, operation in operations.items():
            contents = [c for r in operation.get("responses", {}).values() for c in r.get("content", {}).values()]
            if not any("examples" in c for c in contents):
                missing.append(f"{method.upper()} {path}")
    assert missing == []



def test_export_columns_are_documented_in_the_schema(client, analyst):
    from sbsapp.api.export import COLUMNS

    client.force_login(analyst)
    operation = client.get("/api/schema/?format=json").json()["paths"]["/api/judgments/export"]["get"]
    assert all(f"`{name}`" in operation["description"] for name in COLUMNS)
    assert {"text/csv", "application/x-ndjson"} <= set(operation["responses"]["200"]["content"])


def _post_raw(client, url: str, body: str):
    client.raise_request_exception = False
    return client.post(url, data=body, content_type="application/json")


def test_deeply_nested_json_body_is_a_json_400_not_a_500(admin_user):
    response = _post_raw(token_client(admin_user), "/api/campaigns/", "[" * 100_000 + "]" * 100_000)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "parse_error" and "nested" in response.json()["message"]


def test_body_over_the_upload_limit_is_the_api_json_error(admin_user, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = _post_raw(token_client(admin_user), "/api/campaigns/", '{"name": "' + "x" * 5000 + '"}')
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "request_too_large" and "1000 bytes" in response.json()["message"]


@pytest.mark.parametrize("url", ["/api/campaigns/", "/api/synthesis/jobs/"])
def test_unknown_fields_in_a_create_body_are_refused(admin_user, url):
    response = token_client(admin_user).post(url, {"name": "x", "sytem_a": "typo"}, format="json")
    assert response.status_code == 400
    assert "sytem_a" in response.json()["errors"]


def test_actions_that_take_no_body_refuse_fields(admin_user):
    from jobs.models import Job
    from tests.sbs_factories import make_campaign

    client = token_client(admin_user)
    job = Job.objects.create(kind="ping", task_name="t")
    campaign = make_campaign()
    synthesis = Job.objects.create(kind="synthesis", task_name="t")
    for url in (f"/api/jobs/{job.pk}/cancel/", f"/api/campaigns/{campaign.pk}/close/",
                f"/api/synthesis/jobs/{synthesis.pk}/cancel/"):
        response = client.post(url, {"force": True}, format="json")
        assert response.status_code == 400, url
        assert "force" in response.json()["errors"]
    for row in (job, synthesis, campaign):
        row.refresh_from_db()
    assert not job.cancel_requested and not synthesis.cancel_requested and campaign.status == "active"
    assert client.post(f"/api/jobs/{job.pk}/cancel/").status_code == 200  # no body: still fine
