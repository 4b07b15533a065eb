"""Who may call what: annotators read only their own judgments, analysts read everything, admins write.

Each class refuses with a message that names the role the endpoint needs, so a 403 explains itself.
"""
from rest_framework.permissions import SAFE_METHODS, BasePermission

from core.roles import is_admin, is_analyst, is_annotator


class IsAnalyst(BasePermission):
    """Analysts and admins; read and write as the view allows (e.g. the export, search)."""

    message = "This endpoint is for analysts and admins."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and is_analyst(request.user))


class AnalystReadsAdminWrites(BasePermission):
    """Analysts (and admins) may read; only admins may create, close, start or cancel."""

    message = "Reading needs the analyst role; creating, starting, closing or cancelling needs the admin role."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return is_analyst(user)
        return is_admin(user)


class ReadsOwnJudgmentsOrAll(BasePermission):
    """Annotators read their own judgments only (the view narrows the rows); analysts and admins read all."""

    message = "Judgments can be read by annotators (their own) and by analysts."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return is_analyst(user) or is_annotator(user)  # the views are read-only: writes get a 405
