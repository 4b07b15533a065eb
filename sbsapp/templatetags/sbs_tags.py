"""Template filters and tags of the SBS pages: safe Markdown, number formats, home cards.

Catalogue text needs no filter: importers decode HTML entities once, and the templates autoescape it as usual.
"""
from django import template
from django.utils.safestring import mark_safe

from ..markdown_render import render_markdown

register = template.Library()


@register.filter
def markdown_safe(value: str) -> str:
    return mark_safe(render_markdown(value))  # sanitised by nh3 in render_markdown


@register.filter
def signed(value, digits: int = 3) -> str:
    if value is None:
        return "—"
    return f"{value:+.{int(digits)}f}"


@register.filter
def percent(value, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{100 * value:.{int(digits)}f}%"


@register.filter
def number(value, digits: int = 3) -> str:
    if value is None:
        return "—"
    return f"{value:.{int(digits)}f}"


@register.filter
def pvalue(value) -> str:
    """'p = 0.042' or 'p < 0.001'."""
    if value is None:
        return "p —"
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


@register.inclusion_tag("sbs/_home_cards.html", takes_context=True)
def sbs_home_cards(context):
    """Cards for the home page: the annotator's open campaigns, the analyst's dashboards."""
    from core.roles import is_analyst, is_annotator
    from ..models import Campaign
    from ..selectors import campaigns_for_user

    user = context["user"]
    campaigns = list(campaigns_for_user(user=user)[:8]) if user.is_authenticated else []
    return {
        "user": user,
        "campaigns": campaigns,
        "show_queue": is_annotator(user),
        "show_dashboards": is_analyst(user),
        "active": [c for c in campaigns if c.status == Campaign.Status.ACTIVE],
    }
