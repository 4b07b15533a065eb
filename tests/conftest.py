"""Shared fixtures: users per role, plain static storage, eager jobs by default."""
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from core.roles import ADMIN, ANALYST, ANNOTATOR


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


from .browser import chromium, page  # noqa: E402,F401  (browser fixtures for every test module)
