"""Template filters of the job pages: `{% load jobs_tags %}`, then `job|job_title`, `job|job_duration`,
`mapping|readable_rows` (a config, counts or result as labelled rows), `key|config_label` and `row|admin_url`."""
from django import template
from django.urls import NoReverseMatch, reverse

from .. import presentation

register = template.Library()


@register.filter
def job_title(job) -> str:
    return presentation.job_title(job)


@register.filter
def job_duration(job) -> str:
    return presentation.job_duration(job)


@register.filter
def readable_rows(mapping):
    return presentation.rows(mapping if isinstance(mapping, dict) else {})


@register.filter
def config_label(key) -> str:
    return presentation.label(key)


@register.filter
def admin_url(row) -> str:
    """The row's change page in Django's admin, or "" when its model has none there."""
    meta = row._meta
    try:
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[row.pk])
    except NoReverseMatch:
        return ""
