"""The three roles (annotator, analyst, admin) as Django groups, the checks for them, and THE way to guard a view.

A Django view is guarded with `@role_required(ANALYST)` (see there); a DRF view with the permission classes of
`core.api.permissions`, which are built on `has_role` too. Analysts include admins: whatever an analyst may see,
an admin may see.
"""
from functools import wraps

from django.contrib.auth.models import Group
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseForbidden

ANNOTATOR = "annotator"
ANALYST = "analyst"
ADMIN = "admin"
ROLES = (ANNOTATOR, ANALYST, ADMIN)


def user_roles(user) -> set[str]:
    """The user's roles: the role groups they belong to; a superuser has every role. `is_staff` grants none (it
    only opens Django's admin site, where Django's own permissions apply)."""
    if not user.is_authenticated:
        return set()
    if not hasattr(user, "_role_cache"):
        if user.is_superuser:
            names = set(ROLES)
        else:
            names = set(user.groups.values_list("name", flat=True)) & set(ROLES)
        user._role_cache = names
    return user._role_cache


def is_admin(user) -> bool:
    return ADMIN in user_roles(user)


def is_analyst(user) -> bool:
    """Analysts see dashboards and every judgment; admins can do whatever analysts can."""
    return bool(user_roles(user) & {ANALYST, ADMIN})


def is_annotator(user) -> bool:
    return ANNOTATOR in user_roles(user)


ROLE_CHECKS = {ANNOTATOR: is_annotator, ANALYST: is_analyst, ADMIN: is_admin}


def has_role(user, *roles: str) -> bool:
    """Whether the user has any of `roles` (an admin has the analyst role too)."""
    return bool(user is not None and user.is_authenticated) and any(ROLE_CHECKS[role](user) for role in roles)


def role_required(*roles: str, message: str = ""):
    """Guard a Django view: an anonymous visitor is sent to the login page, a logged-in user without any of
    `roles` gets a 403 whose text names the role needed (or `message`)."""
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"role_required needs roles among {ROLES}, got {roles}")
    refusal = message or f"This page is for the {' or '.join(roles)} role; ask an admin for access."

    def decorator(view):
        @wraps(view)
        def guarded(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, *roles):
                return HttpResponseForbidden(refusal)
            return view(request, *args, **kwargs)

        return guarded

    return decorator


def ensure_role_groups() -> None:
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def roles_context(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"is_admin": is_admin(user), "is_analyst": is_analyst(user), "is_annotator": is_annotator(user)}
