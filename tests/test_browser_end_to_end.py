"""End to end in real Chromium: an annotator judges five items with the keyboard, undoes one, and the analyst's
dashboard shows the counts; a screenshot of each page is taken (the README's come from `manage.py demo_screenshots`)."""
import re
from pathlib import Path

import pytest

from sbsapp.models import Judgment
from tests.sbs_factories import make_campaign, make_item

from .browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def token_on_page(page) -> str:
    return page.locator("#judge-form").get_attribute("action").rstrip("/").rsplit("/", 1)[-1]


def screenshot(page, name: str, tmp_path: Path) -> Path:
    folder = Path(tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.screenshot(path=str(path), full_page=True)
    return path


def test_five_keyboard_judgments_one_undo_and_the_dashboard_counts(chromium, live_server, annotator, analyst,
                                                                  tmp_path):
    campaign = make_campaign(judgments_per_item=1, name="Baseline vs synthetic-data retriever",
                             instructions="Which list serves **this shopper's need** better?")
    for i in range(6):
        make_item(campaign=campaign, b_on_left=bool(i % 2))
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    log_in(page, live_server, "ann1", "pw-ann1")
    page.goto(f"{live_server.url}/sbs/campaigns/{campaign.pk}/judge/")
    shot = screenshot(page, "judging.png", tmp_path)
    assert shot.stat().st_size > 10_000
    html = page.content()
    for system in (campaign.system_a.name, campaign.system_b.name):
        assert system not in html  # the judging page names neither system

    choices = ["5", "4", "3", "2", "4"]  # right much better, right better, same, left better, right better
    seen = []
    for key in choices:
        token = token_on_page(page)
        seen.append(token)
        page.keyboard.press(key)
        page.keyboard.press("Enter")
        page.wait_for_function(f"!document.querySelector('#judge-form') || "
                               f"!document.querySelector('#judge-form').action.includes('{token}')")
    assert Judgment.objects.filter(annotator=annotator, skipped=False).count() == 5
    page.keyboard.press("u")  # take back the fifth answer
    page.wait_for_function(f"document.querySelector('#judge-form') && "
                           f"document.querySelector('#judge-form').action.includes('{seen[-1]}')")
    assert Judgment.objects.filter(annotator=annotator).count() == 4
    context.close()

    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    log_in(page, live_server, "analyst", "pw-analyst")
    page.goto(f"{live_server.url}/sbs/campaigns/{campaign.pk}/")
    text = page.inner_text("body")
    stored = list(Judgment.objects.filter(annotator=annotator))
    good = sum(1 for j in stored if j.preference > 0)
    same = sum(1 for j in stored if j.preference == 0)
    bad = sum(1 for j in stored if j.preference < 0)
    assert same == 1 and good + bad == 3  # "3" is "about the same" whichever side B was shown on
    assert re.search(rf"G {good} · S {same} · B {bad} \(4 judgments\)", text), text[:2000]
    screenshot(page, "dashboard.png", tmp_path)
    context.close()
