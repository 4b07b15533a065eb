"""The user list in the admin, with actions that issue, rotate and revoke REST API tokens."""
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from .api.tokens import token_issue, token_revoke


if admin.site.is_registered(get_user_model()):
    admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class UserWithApiTokenAdmin(UserAdmin):
    actions = ["issue_api_tokens", "rotate_api_tokens", "revoke_api_tokens"]

    def _issue(self, request, queryset, *, rotate: bool):
        for user in queryset:
            try:
                token, created = token_issue(user=user, rotate=rotate)
            except ValueError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)
                continue
            state = "new" if created else "existing"
            self.message_user(request, f"API token for {user.get_username()} ({state}): {token.key}")

    @admin.action(description="Issue API token (show existing)")
    def issue_api_tokens(self, request, queryset):
        self._issue(request, queryset, rotate=False)

    @admin.action(description="Rotate API token (old key stops working)")
    def rotate_api_tokens(self, request, queryset):
        self._issue(request, queryset, rotate=True)

    @admin.action(description="Revoke API token")
    def revoke_api_tokens(self, request, queryset):
        revoked = sum(token_revoke(user=user) for user in queryset)
        self.message_user(request, f"Revoked {revoked} API token(s).")
