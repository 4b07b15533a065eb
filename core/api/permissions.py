"""Who may call what: annotators read only their own judgments, analysts read everything, admins write.

Each class refuses with a message that names the role the endpoint needs, so a 403 explains itself.
"""
from rest_framework.permissions import SAFE_METHODS, BasePermission

from core.roles import ADMIN, ANALYST, ANNOTATOR, has_role


class RolePermission(BasePermission):
    """Allows a user with any of `read_roles` to read and any of `write_roles` to write (the Django views'
    `core.roles.role_required`, for DRF)."""

    read_roles: tuple[str, ...] = ()
    write_roles: tuple[str, ...] = ()

    def has_permission(self, request, view) -> bool:
        roles = self.read_roles if request.method in SAFE_METHODS else self.write_roles
        return has_role(request.user, *roles)


class IsAnalyst(RolePermission):
    """Analysts and admins; read and write as the view allows (e.g. the export, search)."""

    message = "This endpoint is for analysts and admins."
    read_roles = write_roles = (ANALYST,)


class AnalystReadsAdminWrites(RolePermission):
    """Analysts (and admins) may read; only admins may create, close, start or cancel."""

    message = "Reading needs the analyst role; creating, starting, closing or cancelling needs the admin role."
    read_roles, write_roles = (ANALYST,), (ADMIN,)


class ReadsOwnJudgmentsOrAll(RolePermission):
    """Annotators read their own judgments only (the view narrows the rows); analysts and admins read all."""

    message = "Judgments can be read by annotators (their own) and by analysts."
    # The views are read-only: writes get a 405, so the write roles only decide who learns that.
    read_roles = write_roles = (ANALYST, ANNOTATOR)
