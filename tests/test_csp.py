"""Content-Security-Policy: every response carries a policy without inline script or style, and the main pages,
driven in real Chromium as an admin, run under it without a single violation."""
import re

import pytest
from django.urls import reverse

from jobs.models import Job
from sbsapp.models import Item, Judgment
from tests.sbs_factories import make_campaign, make_item

from .browser import log_in


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in policy.split(";") if part.strip())}


def judged_campaign(annotator):
    """A campaign with judged items, so that its dashboard draws its charts and bars."""
    campaign = make_campaign(judgments_per_item=2)
    items = [make_item(campaign=campaign, b_on_left=bool(i % 2)) for i in range(3)]
    for item, choice in zip(items[:2], (1, -1)):
        Judgment.objects.create(item=item, campaign=campaign, annotator=annotator, choice=choice,
                                preference=-choice if item.b_on_left else choice, b_on_left=item.b_on_left,
                                submit_key=f"k{item.pk}", time_on_item_ms=3000)
    Item.objects.filter(pk__in=[i.pk for i in items[:2]]).update(judgments_count=1)
    return campaign


@pytest.mark.django_db
def test_every_page_sends_a_policy_without_inline_script_or_style(client, admin_user, annotator):
    login = client.get("/login/")
    policy = directives(login)
    assert policy["default-src"] == ["'self'"] and policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in login["Content-Security-Policy"]
    assert "'unsafe-eval'" not in login["Content-Security-Policy"]

    campaign = judged_campaign(annotator)
    client.force_login(admin_user)
    for url in ("/", reverse("sbs:dashboard", args=[campaign.pk]), reverse("sbs:judge", args=[campaign.pk]),
                "/jobs/", "/account/api-tokens/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert directives(response) == policy, url
        html = response.content.decode()
        assert not re.search(r"\sstyle=|<style|<script(?![^>]*\ssrc=)|\son[a-z]+=", html), url
    assert "Content-Security-Policy" in client.get("/api/jobs/")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_main_pages_run_in_chromium_without_a_policy_violation(page, live_server, admin_user, annotator):
    campaign = judged_campaign(annotator)
    job = Job.objects.create(kind="ping", task_name="sbsapp.tasks.ping", status=Job.Status.RUNNING, done=1, total=4)
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.add_init_script("document.addEventListener('securitypolicyviolation', e => "
                         "console.error('Content Security Policy violation: ' + e.violatedDirective + ' ' + "
                         "e.blockedURI))")
    log_in(page, live_server, "boss", "pw-boss")
    pages = ["/", reverse("sbs:judge", args=[campaign.pk]), reverse("sbs:dashboard", args=[campaign.pk]),
             "/jobs/", f"/jobs/{job.pk}/", "/account/api-tokens/", "/admin/", "/admin/auth/user/"]
    for url in pages:
        page.goto(f"{live_server.url}{url}")
        page.wait_for_load_state("networkidle")
        if not url.startswith("/admin/"):
            assert page.evaluate("typeof htmx") == "object", url  # the script-src 'self' scripts did run
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    Job.objects.filter(pk=job.pk).update(done=3)  # htmx polling swaps the progress in under the policy
    page.wait_for_function(f"document.querySelector('#job-{job.pk} progress').value == 75")
    page.goto(f"{live_server.url}{reverse('sbs:dashboard', args=[campaign.pk])}")
    assert page.locator(".gsb-bar rect.g").first.bounding_box()["width"] > 0  # the bars are drawn, unstyled inline

    assert violations == []
