"""The user list in the admin, with actions that issue, rotate and revoke REST API tokens, and the token list.

An issued key is shown once, on the page the action answers with (marked no-store), never through `messages`
(a cookie the browser keeps). The token list shows who holds which token until when, and deleting a row there
revokes it; a token cannot be added there (its key would have no page to be shown on).
"""
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers
from knox.models import AuthToken

from .api.tokens import SHOWN_PREFIX, token_issue, token_revoke


if admin.site.is_registered(get_user_model()):
    admin.site.unregister(get_user_model())
if admin.site.is_registered(AuthToken):
    admin.site.unregister(AuthToken)


@admin.register(get_user_model())
class UserWithApiTokenAdmin(UserAdmin):
    actions = ["issue_api_tokens", "rotate_api_tokens", "revoke_api_tokens"]

    def _issue(self, request, queryset, *, rotate: bool):
        issued, refused = [], []
        for user in queryset:
            try:
                issued.append(token_issue(user=user, rotate=rotate))
            except ValueError as exc:
                refused.append(str(exc))
        context = {**self.admin_site.each_context(request), "title": "New API tokens", "issued": issued,
                   "refused": refused, "rotated": rotate, "opts": self.model._meta}
        response = TemplateResponse(request, "admin/api_tokens_issued.html", context)
        add_never_cache_headers(response)
        return response

    @admin.action(description="Issue a new API token (shown once)")
    def issue_api_tokens(self, request, queryset):
        return self._issue(request, queryset, rotate=False)

    @admin.action(description="Rotate API tokens (revoke all, issue one)")
    def rotate_api_tokens(self, request, queryset):
        return self._issue(request, queryset, rotate=True)

    @admin.action(description="Revoke all API tokens")
    def revoke_api_tokens(self, request, queryset):
        revoked = sum(token_revoke(user=user) for user in queryset)
        self.message_user(request, f"Revoked {revoked} API token(s).")


@admin.register(AuthToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens by holder, with their expiry; delete revokes. Keys are not stored, so none is shown."""

    list_display = ("user", "key_start", "created", "expiry")
    list_filter = ("expiry",)
    search_fields = ("user__username",)
    ordering = ("user__username", "-created")
    fields = ("user", "key_start", "created", "expiry")
    readonly_fields = fields

    @admin.display(description="key starts with")
    def key_start(self, token):
        return f"{token.token_key[:SHOWN_PREFIX]}…"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
