"""A judging request that fails is shown to the annotator, never swallowed: a database that stayed locked is a 503
with a plain explanation, and the judging page shows it (or the status of any other failure) in the panel."""
import re
from types import SimpleNamespace

import pytest
from django.db import OperationalError

from sbsapp import sbs_views
from sbsapp.models import Judgment
from tests.sbs_factories import make_campaign, make_item

from .browser import log_in

pytestmark = pytest.mark.django_db


def locked(**kwargs):
    raise OperationalError("database is locked")


def on_sqlite(monkeypatch):
    """Only SQLite answers "database is locked" (PostgreSQL waits on row locks): the views see SQLite here."""
    monkeypatch.setattr(sbs_views, "connection", SimpleNamespace(vendor="sqlite"))


def test_a_locked_database_is_a_503_with_a_plain_explanation(client, annotator, monkeypatch):
    campaign = make_campaign(judgments_per_item=1)
    make_item(campaign=campaign)
    client.force_login(annotator)
    on_sqlite(monkeypatch)
    monkeypatch.setattr(sbs_views, "judgment_undo", locked)
    response = client.post(f"/sbs/campaigns/{campaign.pk}/undo/", HTTP_HX_REQUEST="true")
    assert response.status_code == 503 and response["Content-Type"].startswith("text/plain")
    assert response["Retry-After"] == "5"
    assert response.content.decode() == sbs_views.DATABASE_BUSY


def test_other_database_errors_are_not_disguised(client, annotator, monkeypatch):
    campaign = make_campaign(judgments_per_item=1)
    make_item(campaign=campaign)
    client.force_login(annotator)

    def broken(**kwargs):
        raise OperationalError("no such table: sbsapp_judgment")

    monkeypatch.setattr(sbs_views, "judgment_undo", broken)
    with pytest.raises(OperationalError, match="no such table"):
        client.post(f"/sbs/campaigns/{campaign.pk}/undo/", HTTP_HX_REQUEST="true")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_judging_page_shows_a_failed_undo_and_a_failed_skip(page, live_server, annotator, monkeypatch,
                                                                console_errors):
    campaign = make_campaign(judgments_per_item=1)
    for i in range(3):
        make_item(campaign=campaign, b_on_left=bool(i % 2))
    log_in(page, live_server, "ann1", "pw-ann1")
    page.goto(f"{live_server.url}/sbs/campaigns/{campaign.pk}/judge/")
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    page.wait_for_selector("#undo-button")
    page.locator(".htmx-request, .htmx-swapping, .htmx-settling").first.wait_for(state="detached")
    token = page.locator("#judge-form").get_attribute("action")

    on_sqlite(monkeypatch)
    monkeypatch.setattr(sbs_views, "judgment_undo", locked)
    page.keyboard.press("u")
    alert = page.locator("#judge-panel .key-hint[role=alert]")
    alert.wait_for()
    assert alert.inner_text() == sbs_views.DATABASE_BUSY
    assert page.locator("#judge-form").get_attribute("action") == token  # the item stays, nothing swapped

    def crash(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(sbs_views, "judgment_skip", crash)
    page.keyboard.press("s")
    alert.filter(has_text="HTTP 500").wait_for()
    assert alert.inner_text().startswith("The server could not do this (HTTP 500).")
    assert page.locator("#judge-form").get_attribute("action") == token
    assert Judgment.objects.filter(annotator=annotator).count() == 1
    # The browser reports the two failed requests in its console: expected here, any other error is not.
    console_errors[:] = [error for error in console_errors
                         if not re.search(r"(status of|Error Code) (503|500)\b", error)]
