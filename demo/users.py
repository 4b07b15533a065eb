"""Demo accounts (one admin, one analyst, one reviewer, three annotators) with passwords kept under var/ so re-runs print the same."""
from __future__ import annotations

import json
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from core.roles import ADMIN, ANALYST, ANNOTATOR, REVIEWER, ensure_role_groups

DEMO_ACCOUNTS = [
    ("admin", ADMIN),
    ("analyst", ANALYST),
    ("reviewer", REVIEWER),
    ("annotator1", ANNOTATOR),
    ("annotator2", ANNOTATOR),
    ("annotator3", ANNOTATOR),
]


def logins_file() -> Path:
    return Path(settings.VAR_DIR) / "demo_logins.json"


def demo_users_ensure() -> list[tuple[str, str, str]]:
    """Create the demo accounts if missing; returns (username, role, password) for each."""
    ensure_role_groups()
    path = logins_file()
    saved: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    User = get_user_model()
    rows = []
    for username, role in DEMO_ACCOUNTS:
        password = saved.get(username) or secrets.token_urlsafe(9)
        user, created = User.objects.get_or_create(username=username)
        if created or not user.check_password(password):
            user.set_password(password)
        user.is_staff = user.is_superuser = role == ADMIN
        user.save()
        user.groups.add(Group.objects.get(name=role))
        saved[username] = password
        rows.append((username, role, password))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved, indent=2))
    path.chmod(0o600)
    return rows
