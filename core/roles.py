"""The four roles (annotator, analyst, admin, reviewer) as Django groups, the checks for them, and THE way to guard
a view.

A Django view is guarded with `@role_required(ANALYST)` (see there); a DRF view with the permission classes of
`core.api.permissions`, which are built on `has_role` too. Analysts include admins: whatever an analyst may see,
an admin may see. Reviewers (who settle annotators' disagreements) are a role of their own.
"""
from functools import wraps

from django.contrib.auth.models import Group
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

ANNOTATOR = "annotator"
ANALYST = "analyst"
ADMIN = "admin"
REVIEWER = "reviewer"
ROLES = (ANNOTATOR, ANALYST, ADMIN, REVIEWER)


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


def is_reviewer(user) -> bool:
    """Reviewers adjudicate split verdicts and failed controls (blinded, like annotators)."""
    return REVIEWER in user_roles(user)


ROLE_CHECKS = {ANNOTATOR: is_annotator, ANALYST: is_analyst, ADMIN: is_admin, REVIEWER: is_reviewer}


def has_role(user, *roles: str) -> bool:
    """Whether the user has any of `roles` (an admin has the analyst role too)."""
    return bool(user is not None and user.is_authenticated) and any(ROLE_CHECKS[role](user) for role in roles)


class RoleRequired(PermissionDenied):
    """A logged-in user lacks the role a page needs: `roles` names it (any one of them will do). The 403 page
    (`config.views.permission_denied`, template `403.html`) shows the message and the role."""

    def __init__(self, *roles: str, message: str = ""):
        self.roles = roles
        super().__init__(message or f"This page is for the {' or '.join(roles)} role.")


def require_role(user, *roles: str, message: str = "") -> None:
    """Raise `RoleRequired` unless the user has one of `roles` (for a check inside a view, e.g. on POST only)."""
    if not has_role(user, *roles):
        raise RoleRequired(*roles, message=message)


def role_required(*roles: str, message: str = ""):
    """Guard a Django view: an anonymous visitor is sent to the login page, a logged-in user without any of
    `roles` gets the 403 page, which names the role needed (and says `message`)."""
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"role_required needs roles among {ROLES}, got {roles}")

    def decorator(view):
        @wraps(view)
        def guarded(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            require_role(request.user, *roles, message=message)
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
    return {"is_admin": is_admin(user), "is_analyst": is_analyst(user), "is_annotator": is_annotator(user),
            "is_reviewer": is_reviewer(user)}
