"""The home page (links to every part of the product the user's roles open), the 403 page and the site icon."""
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static

from core.api.errors import API_PREFIX, error_body
from core.roles import ADMIN, ANALYST, ANNOTATOR, REVIEWER, ROLES, user_roles

# What each role opens, as the 403 page explains it.
ROLE_TEXTS = {
    ANNOTATOR: "judges side-by-side items in open campaigns",
    ANALYST: "sees dashboards, jobs, retriever versions and synthesis results",
    ADMIN: "also creates campaigns and starts builds, synthesis and training",
    REVIEWER: "settles annotators' disagreements with a final verdict (blinded)",
}


@login_required
def home(request):
    return render(request, "home.html")


def permission_denied(request, exception=None):
    """A 403 (root urls' handler403): under /api/ the API's JSON error; elsewhere the styled page, which names the
    role the page needs (`core.roles.RoleRequired`) and the roles the user has."""
    message = str(exception or "") or "You are not allowed to open this page."
    if request.path.startswith(API_PREFIX):
        return JsonResponse(error_body(status=403, code="permission_denied", message=message), status=403)
    user = getattr(request, "user", None)
    held = user_roles(user) if user is not None else set()
    context = {"message": message,
               "needed_roles": [(role, ROLE_TEXTS[role]) for role in getattr(exception, "roles", ())],
               "your_roles": [role for role in ROLES if role in held]}
    return render(request, "403.html", context, status=403)


def favicon(request):
    """`/favicon.ico`, which browsers and tools ask for without reading the page: the site icon (public)."""
    return redirect(static("favicon.svg"))
