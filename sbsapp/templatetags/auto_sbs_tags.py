"""Template tags of the automatic SBS: the dashboard section."""
from django import template

register = template.Library()


@register.inclusion_tag("sbs/_auto_sbs_panel.html", takes_context=True)
def auto_sbs_panel(context, campaign):
    """The automatic SBS section of a campaign dashboard (judge runs, agreement with the humans, retraining)."""
    from ..auto.views import auto_panel_context

    request = context["request"]
    return {**auto_panel_context(campaign=campaign, user=request.user, judge=request.GET.get("judge")),
            "request": request, "csrf_token": context.get("csrf_token")}
