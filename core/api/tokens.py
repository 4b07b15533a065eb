"""Issuing and revoking API tokens (one per user, DRF's authtoken table)."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework.authtoken.models import Token


def token_issue(*, user, rotate: bool = False) -> tuple[Token, bool]:
    """Return the user's token, creating it if missing; `rotate` replaces an existing one.

    The second value says whether a new key was made (a rotated key invalidates the old one at once).
    """
    if not user.is_active:
        raise ValueError(f"User {user.get_username()!r} is inactive; activate the account before issuing a token.")
    with transaction.atomic():
        if rotate:
            Token.objects.filter(user=user).delete()
        token, created = Token.objects.get_or_create(user=user)
    return token, created


def token_revoke(*, user) -> bool:
    """Delete the user's token; True if there was one."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted > 0


def user_by_username(*, username: str):
    try:
        return get_user_model().objects.get(username=username)
    except get_user_model().DoesNotExist:
        raise ValueError(f"No user named {username!r}.") from None


def tokens_listing() -> list[dict]:
    """Who holds a token and since when (keys are shown only when issued)."""
    return [
        {"username": t.user.get_username(), "created": t.created, "key_prefix": t.key[:6]}
        for t in Token.objects.select_related("user").order_by("user__username")
    ]
