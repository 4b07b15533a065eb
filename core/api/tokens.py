"""Issuing, listing and revoking REST API tokens (django-rest-knox: only a digest of each key is stored).

A key exists in clear only in the `IssuedToken` that `token_issue` returns: the caller shows it once (the token page,
the admin's issue action, `manage.py api_token issue`) and it can never be read back. Every token expires
`API_TOKEN_TTL_DAYS` after it is issued; a user may hold several (one per script) and revoke each or all.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken

# How many characters of a key identify it on pages and in listings (the start knox indexes keys by).
SHOWN_PREFIX = 8


@dataclass(frozen=True)
class IssuedToken:
    """A key just issued: `key` is the secret, shown once; `prefix` names the token afterwards."""

    key: str
    user: object
    expiry: datetime | None

    @property
    def prefix(self) -> str:
        return self.key[:SHOWN_PREFIX]


def token_ttl() -> timedelta:
    return timedelta(days=settings.API_TOKEN_TTL_DAYS)


def token_issue(*, user, rotate: bool = False) -> IssuedToken:
    """Make a new key for `user`, valid for `API_TOKEN_TTL_DAYS`; `rotate` first revokes every key they hold."""
    if not user.is_active:
        raise ValueError(f"User {user.get_username()!r} is inactive; activate the account before issuing a token.")
    with transaction.atomic():
        if rotate:
            AuthToken.objects.filter(user=user).delete()
        row, key = AuthToken.objects.create(user=user, expiry=token_ttl())
    return IssuedToken(key=key, user=user, expiry=row.expiry)


def token_revoke(*, user, prefix: str | None = None) -> int:
    """Revoke the user's token whose key starts with `prefix`, or all of them; the number revoked."""
    tokens = AuthToken.objects.filter(user=user)
    if prefix is not None:
        if len(prefix) < SHOWN_PREFIX:
            return 0
        tokens = tokens.filter(token_key__startswith=prefix)
    deleted, _ = tokens.delete()
    return deleted


def tokens_of(*, user) -> list[dict]:
    """The user's tokens that still work, newest first (expired ones are deleted on the way)."""
    AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
    return [_listed(t) for t in AuthToken.objects.filter(user=user).select_related("user").order_by("-created")]


def user_by_username(*, username: str):
    try:
        return get_user_model().objects.get(username=username)
    except get_user_model().DoesNotExist:
        raise ValueError(f"No user named {username!r}.") from None


def tokens_listing() -> list[dict]:
    """Who holds a token, since when and until when (keys themselves were shown only when issued)."""
    now = timezone.now()
    return [
        _listed(t) for t in AuthToken.objects.select_related("user").order_by("user__username", "created")
        if t.expiry is None or t.expiry >= now
    ]


def _listed(token: AuthToken) -> dict:
    return {"username": token.user.get_username(), "created": token.created, "expiry": token.expiry,
            "key_prefix": token.token_key[:SHOWN_PREFIX]}
