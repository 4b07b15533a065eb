"""The three roles (annotator, analyst, admin) as Django groups, and checks for them."""
from django.contrib.auth.models import Group

ANNOTATOR = "annotator"
ANALYST = "analyst"
ADMIN = "admin"
ROLES = (ANNOTATOR, ANALYST, ADMIN)


def user_roles(user) -> set[str]:
    if not user.is_authenticated:
        return set()
    if not hasattr(user, "_role_cache"):
        names = set(user.groups.values_list("name", flat=True)) & set(ROLES)
        if user.is_superuser or user.is_staff:
            names.add(ADMIN)
        user._role_cache = names
    return user._role_cache


def is_admin(user) -> bool:
    return ADMIN in user_roles(user)


def is_analyst(user) -> bool:
    """Analysts see dashboards and every judgment; admins can do whatever analysts can."""
    return bool(user_roles(user) & {ANALYST, ADMIN})


def is_annotator(user) -> bool:
    return ANNOTATOR in user_roles(user)


def ensure_role_groups() -> None:
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def roles_context(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"is_admin": is_admin(user), "is_analyst": is_analyst(user), "is_annotator": is_annotator(user)}
