"""Template tags of the automatic SBS: the dashboard section and the predicted outcome on the campaign list."""
from django import template

register = template.Library()


@register.inclusion_tag("sbs/_auto_sbs_panel.html", takes_context=True)
def auto_sbs_panel(context, campaign):
    """The automatic SBS section of a campaign dashboard (judge runs, agreement with the humans, retraining)."""
    from ..auto_views import auto_panel_context

    request = context["request"]
    return {**auto_panel_context(campaign=campaign, user=request.user, judge=request.GET.get("judge")),
            "request": request, "csrf_token": context.get("csrf_token")}


@register.simple_tag
def auto_prediction(campaign):
    """What the most recent judge run predicts for the campaign (None when no judge ran)."""
    from ..auto_agreement import predicted_outcome

    return predicted_outcome(campaign=campaign)
