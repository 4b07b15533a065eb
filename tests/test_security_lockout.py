"""Login lockout (django-axes): repeated wrong passwords lock one username from one address, on both login pages,
with a page that says so; the cool-off or `axes_reset` lifts it."""
import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

pytestmark = pytest.mark.django_db

LOGIN_PAGES = ["/login/", "/admin/login/"]


def log_in(client: Client, url: str, password: str, *, username: str = "boss", address: str = "127.0.0.1"):
    return client.post(url, {"username": username, "password": password, "next": "/"}, REMOTE_ADDR=address)


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def fail_until_locked(client: Client, url: str, settings, **who) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = log_in(client, url, "wrong-password", **who)
        assert response.status_code == 200  # the form again, with its error
    assert log_in(client, url, "wrong-password", **who).status_code == 429


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_wrong_passwords_lock_the_account_even_against_the_right_password(url, admin_user, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    client = Client()
    fail_until_locked(client, url, settings)

    response = log_in(client, url, "pw-boss")

    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "Too many failed logins" in page and "after 5 wrong passwords" in page and "15 minutes" in page
    assert "Traceback" not in page
    assert not signed_in(client)


def test_lockout_is_per_username_and_address(admin_user, analyst, settings):
    fail_until_locked(Client(), "/login/", settings)
    other_address = Client()
    assert log_in(other_address, "/login/", "pw-boss", address="10.0.0.9").status_code == 302
    assert signed_in(other_address)
    other_user = Client()
    assert log_in(other_user, "/login/", "pw-analyst", username="analyst").status_code == 302
    assert signed_in(other_user)


def test_a_successful_login_forgets_earlier_typos(admin_user, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "/login/", "wrong-password")
    assert log_in(client, "/login/", "pw-boss").status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "/login/", "wrong-password")
    assert log_in(client, "/login/", "pw-boss").status_code == 302


def test_axes_reset_lifts_the_lockout(admin_user, settings):
    client = Client()
    fail_until_locked(client, "/login/", settings)
    call_command("axes_reset_username", "boss", stdout=StringIO())
    assert log_in(client, "/login/", "pw-boss").status_code == 302
    assert signed_in(client)


def test_the_lockout_ends_after_the_cool_off(admin_user, settings):
    client = Client()
    fail_until_locked(client, "/login/", settings)
    assert log_in(client, "/login/", "pw-boss").status_code == 429
    # As if the cool-off (15 minutes) had passed since the last failed attempt.
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert log_in(client, "/login/", "pw-boss").status_code == 302
    assert signed_in(client)


def test_lockout_settings_come_from_the_environment():
    script = "from django.conf import settings; print(settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME)"
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", script],
                            cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True,
                            env={**os.environ, "AXES_FAILURE_LIMIT": "3", "AXES_COOLOFF_MINUTES": "2"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "3 0:02:00"
