"""API tokens: only a digest is stored, a key is shown once on a page (never through the messages cookie), keys
expire and can be revoked from the page, the command and the admin, and keys issued before this kept working."""
import io
import re
from datetime import timedelta
from importlib import import_module
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from core.api.tokens import token_issue

pytestmark = pytest.mark.django_db

PAGE = "/account/api-tokens/"
KEY_ON_PAGE = re.compile(r'class="api-token-key">([0-9a-f]{64})<')


def api_status(key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/jobs/").status_code


def every_stored_value() -> str:
    return " ".join(str(value) for row in AuthToken.objects.values() for value in row.values())


def cookies_text(response) -> str:
    return " ".join(morsel.value for morsel in response.cookies.values())


def test_only_a_digest_of_the_key_is_stored(analyst):
    key = token_issue(user=analyst).key
    assert len(key) == 64
    assert key not in every_stored_value()
    assert api_status(key) == 200


def test_page_shows_a_new_key_once_and_never_in_a_cookie(client, analyst):
    client.force_login(analyst)
    assert "Issue a new token" in client.get(PAGE).content.decode()

    response = client.post(PAGE, {"action": "issue"})

    assert response.status_code == 200
    key = KEY_ON_PAGE.search(response.content.decode()).group(1)
    assert "no-store" in response["Cache-Control"]
    assert key not in cookies_text(response) and key not in str(dict(client.session))
    assert api_status(key) == 200
    later = client.get(PAGE)
    assert key not in later.content.decode() and f"{key[:8]}…" in later.content.decode()
    assert key not in cookies_text(later)


def test_revoke_on_the_page_stops_the_key_and_touches_only_your_own(client, analyst, admin_user):
    mine = token_issue(user=analyst).key
    theirs = token_issue(user=admin_user).key
    client.force_login(analyst)

    assert client.post(PAGE, {"action": "revoke", "prefix": theirs[:8]}).status_code == 302
    assert client.post(PAGE, {"action": "revoke", "prefix": mine[:8]}).status_code == 302

    assert api_status(mine) == 401
    assert api_status(theirs) == 200
    page = client.get(PAGE).content.decode()
    assert f"Revoked the token {mine[:8]}…" in page and "You hold no token." in page


def test_page_needs_a_login(client):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_tokens_expire_after_the_configured_days(analyst, settings):
    settings.API_TOKEN_TTL_DAYS = 7
    issued = token_issue(user=analyst)
    assert abs(issued.expiry - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)
    assert api_status(issued.key) == 200
    AuthToken.objects.filter(user=analyst).update(expiry=timezone.now() - timedelta(seconds=1))
    assert api_status(issued.key) == 401


def test_command_prints_a_new_key_once_and_revokes_one_by_its_start(analyst):
    out, err = io.StringIO(), io.StringIO()
    call_command("api_token", "issue", "analyst", stdout=out, stderr=err)
    first = out.getvalue().strip()
    assert "shown only now" in err.getvalue() and "expires" in err.getvalue()
    second = token_issue(user=analyst).key
    listing = io.StringIO()
    call_command("api_token", "list", stdout=listing)
    assert first not in listing.getvalue() and f"{first[:8]}…" in listing.getvalue()

    call_command("api_token", "revoke", "analyst", "--prefix", first[:8], stdout=io.StringIO())

    assert api_status(first) == 401
    assert api_status(second) == 200


def test_admin_issue_action_shows_the_key_on_its_page_not_in_messages(admin_user, analyst):
    client = Client()
    client.force_login(admin_user)
    response = client.post("/admin/auth/user/", {"action": "issue_api_tokens", "_selected_action": [analyst.pk]})
    assert response.status_code == 200
    key = KEY_ON_PAGE.search(response.content.decode()).group(1)
    assert key not in cookies_text(response)
    assert key not in client.get("/admin/auth/user/").content.decode()
    assert api_status(key) == 200
    token_list = client.get("/admin/knox/authtoken/").content.decode()
    assert "analyst" in token_list and key not in token_list
    assert client.get("/admin/knox/authtoken/add/").status_code == 403  # no page would show an added key


def test_keys_issued_before_hashing_keep_working_and_leave_no_clear_copy(analyst, settings):
    old_key = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"  # a DRF authtoken key, as the old table held it
    with connection.cursor() as cursor:
        cursor.execute('CREATE TABLE authtoken_token ("key" varchar(40) PRIMARY KEY, created timestamp NOT NULL, '
                       'user_id integer NOT NULL)')
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, %s, %s)", [old_key, timezone.now(), analyst.pk])
    migration = import_module("core.migrations.0001_api_tokens_hashed")

    migration.move_tokens_to_digests(apps, SimpleNamespace(connection=connection))

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0
    assert old_key not in every_stored_value()
    token = AuthToken.objects.get(user=analyst)
    assert token.expiry > timezone.now() + timedelta(days=settings.API_TOKEN_TTL_DAYS - 1)
    assert api_status(old_key) == 200
