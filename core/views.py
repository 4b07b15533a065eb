"""The signed-in user's REST API tokens: issue one (its key shown on this one response), see and revoke them."""
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from .api.tokens import token_issue, token_revoke, tokens_of


@never_cache  # the answer to "issue" holds a key: no cache, no back-button copy
@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request):
    issued = None
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "issue":
            issued = token_issue(user=request.user)
        elif action == "revoke":
            prefix = request.POST.get("prefix", "")
            if token_revoke(user=request.user, prefix=prefix):
                messages.success(request, f"Revoked the token {prefix}…; scripts using it now get 401.")
            else:
                messages.error(request, "No such token (already revoked or expired).")
            return redirect("api_tokens")
        else:
            return HttpResponseBadRequest("Unknown action.")
    return render(request, "core/api_tokens.html", {
        "issued": issued, "tokens": tokens_of(user=request.user), "ttl_days": settings.API_TOKEN_TTL_DAYS,
    })
