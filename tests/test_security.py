"""Security: every URL but login needs authentication, CSRF is enforced, deploy checks pass, secrets come from env."""
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = {"login", "favicon", "admin:login", "admin:logout", "logout", "admin:password_reset",
          "admin:password_reset_done",
          "admin:password_reset_confirm", "admin:password_reset_complete"}
DUMMY = {"int": "1", "str": "x", "slug": "x", "uuid": str(uuid.uuid4()), "path": "x"}


def walk(resolver, prefix="", namespace=""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from walk(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), f"{namespace}{entry.name}" if entry.name else None


def concrete(route: str) -> str | None:
    import re

    if route.startswith("^") or "(?P" in route:  # regex routes (admin internals): fill groups crudely
        route = re.sub(r"\(\?P<format>[^)]*\)", "json", route)
        route = re.sub(r"\(\?P<\w+>[^)]*\)", "1", route).lstrip("^").rstrip("$").replace("\\", "")
        route = route.replace("/?", "/")
        if any(c in route for c in "()[]*+?"):
            return None
    route = re.sub(r"<(?:(\w+):)?\w+>", lambda m: DUMMY.get(m.group(1) or "str", "x"), route)
    return "/" + route


@pytest.mark.django_db
def test_every_url_except_login_requires_authentication():
    client = Client()
    checked = []
    for route, name in walk(get_resolver()):
        if name in PUBLIC or route.startswith("static/"):
            continue
        url = concrete(route)
        if url is None:
            continue
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            if response.status_code == 404 and "admin" in url:
                continue  # the admin answers 404 for unknown models before checking auth
            assert response.status_code in (301, 302, 401, 403, 405), (method, url, response.status_code)
            if response.status_code in (301, 302):
                assert "login" in response["Location"], (url, response["Location"])
        checked.append(url)
    assert len(checked) >= 8


@pytest.mark.django_db
def test_csrf_is_enforced_on_forms(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    from jobs.models import Job

    job = Job.objects.create(kind="ping", task_name="sbsapp.tasks.ping")
    assert client.post(f"/jobs/{job.pk}/cancel/").status_code == 403
    job.refresh_from_db()
    assert not job.cancel_requested


def _manage(*args, **env):
    full_env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "SECURE_SSL_REDIRECT", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    full_env.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, capture_output=True, text=True)


def test_check_deploy_is_clean_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING",
                     SECRET_KEY="k" * 20 + uuid.uuid4().hex + uuid.uuid4().hex, DEBUG="false",
                     ALLOWED_HOSTS="sbs.example.com")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_from_the_environment():
    result = _manage("check", DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.django_db
def test_staff_flag_alone_grants_no_application_role():
    """`is_staff` opens Django's admin site only: a staff user with no role group may not export or close."""
    from django.urls import reverse

    from core.roles import user_roles
    from sbsapp.models import Campaign
    from tests.api_builders import token_client
    from tests.conftest import make_user
    from tests.sbs_factories import make_campaign

    staff = make_user("staffer", None, is_staff=True)
    assert user_roles(staff) == set()
    assert token_client(staff).get("/api/judgments/export", {"format": "csv"}).status_code == 403
    campaign = make_campaign()
    client = Client()
    client.force_login(staff)
    assert client.post(reverse("sbs:campaign_status", args=[campaign.pk]), {"action": "close"}).status_code == 403
    campaign.refresh_from_db()
    assert campaign.status != Campaign.Status.CLOSED


@pytest.mark.django_db
def test_roles_come_from_groups_and_a_superuser_has_every_role():
    from core.roles import ADMIN, ANALYST, ROLES, user_roles
    from tests.conftest import make_user

    assert user_roles(make_user("root", None, is_superuser=True)) == set(ROLES)
    assert user_roles(make_user("lead", ADMIN)) == {ADMIN}
    assert user_roles(make_user("reader", ANALYST, is_staff=True)) == {ANALYST}


@pytest.mark.django_db
def test_demo_admin_account_is_in_the_admin_group(settings, tmp_path):
    from core.roles import ADMIN
    from demo.users import demo_users_ensure
    from django.contrib.auth import get_user_model

    settings.VAR_DIR = tmp_path
    demo_users_ensure()
    admin = get_user_model().objects.get(username="admin")
    assert admin.groups.filter(name=ADMIN).exists()


def _production_setting(expression: str, **env) -> str:
    script = f"from django.conf import settings; print(repr({expression}))"
    result = _manage("shell", "-c", script, SECRET_KEY="k" * 20 + uuid.uuid4().hex + uuid.uuid4().hex,
                     DEBUG="false", **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_forwarded_proto_is_trusted_only_behind_a_declared_tls_proxy():
    assert _production_setting("getattr(settings, 'SECURE_PROXY_SSL_HEADER', None)") == "None"
    assert _production_setting("settings.SECURE_PROXY_SSL_HEADER", BEHIND_TLS_PROXY="true") == \
        "('HTTP_X_FORWARDED_PROTO', 'https')"


def test_testserver_is_not_an_allowed_host_by_default_in_production():
    hosts = _production_setting("settings.ALLOWED_HOSTS")
    assert "testserver" not in hosts and "localhost" in hosts
