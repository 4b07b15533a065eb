"""Shared fixtures: users per role, plain static storage, eager jobs by default; the markers made real.

Markers (pytest.ini): `browser`, `worker`, `real_models` and `postgres` select those tests (`-m browser`). A test
that uses the browser fixtures must carry `browser`, one that uses `real_broker` must carry `worker` (checked at
collection). `postgres` tests skip on SQLite, unless REQUIRE_POSTGRES=1 (CI): then a run on any database other
than PostgreSQL fails before any test runs. REQUIRE_BROWSER=1 likewise turns a missing Chromium into a failure
(tests/browser.py).
"""
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from core.roles import ADMIN, ANALYST, ANNOTATOR

from .pytest_env import required

MARKER_FOR_FIXTURE = {"page": "browser", "chromium": "browser", "real_broker": "worker"}


def database_is_postgresql() -> bool:
    return django_settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def pytest_configure(config):
    if required("postgres") and not database_is_postgresql():
        raise pytest.UsageError(
            "REQUIRE_POSTGRES=1 but the test database is "
            f"{django_settings.DATABASES['default']['ENGINE']}: set DATABASE_URL to a PostgreSQL server "
            "(.ci/run does), or unset REQUIRE_POSTGRES to run on SQLite.")


def pytest_collection_modifyitems(config, items):
    unmarked = []
    for item in items:
        for fixture, marker in MARKER_FOR_FIXTURE.items():
            if fixture in getattr(item, "fixturenames", ()) and item.get_closest_marker(marker) is None:
                unmarked.append(f"{item.nodeid} uses the {fixture!r} fixture but is not marked {marker!r}")
        if item.get_closest_marker("postgres") and not database_is_postgresql():
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL to a PostgreSQL server)"))
    if unmarked:
        raise pytest.UsageError("Tests missing their marker (add it to the module's pytestmark):\n  "
                                + "\n  ".join(unmarked))


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "10000/min", "user": "100000/min"}}


def make_user(username: str, role: str | None, **extra):
    user = get_user_model().objects.create_user(username=username, password="pw-" + username, **extra)
    if role:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@pytest.fixture
def annotator(db):
    return make_user("ann1", ANNOTATOR)


@pytest.fixture
def annotator2(db):
    return make_user("ann2", ANNOTATOR)


@pytest.fixture
def analyst(db):
    return make_user("analyst", ANALYST)


@pytest.fixture
def admin_user(db):
    return make_user("boss", ADMIN, is_staff=True, is_superuser=True)


@pytest.fixture
def real_broker(settings, tmp_path):
    """Jobs go through the configured broker to a real worker (a private folder for the filesystem broker)."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    from celery_worker import app

    opts = app.conf.broker_transport_options
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        folders = {"data_folder_in": str(tmp_path / "queue"), "data_folder_out": str(tmp_path / "queue"),
                   "control_folder": str(tmp_path / "control")}
        for folder in folders.values():
            Path(folder).mkdir(parents=True, exist_ok=True)
        app.conf.broker_transport_options = {**opts, **folders}
        settings.CELERY_BROKER_TRANSPORT_OPTIONS = app.conf.broker_transport_options
    yield app
    app.conf.broker_transport_options = opts


# The browser fixtures for every test module (and the check that no browser test leaves a console error).
from .browser import _no_browser_console_errors, chromium, console_errors, page  # noqa: F401
