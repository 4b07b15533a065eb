"""In a real browser: an annotator judges a whole campaign with the keyboard only, and undoes one answer."""
import pytest

from sbsapp.models import Judgment
from tests.sbs_factories import make_campaign, make_item

from .browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def current_token(page) -> str:
    return page.locator("#judge-form").get_attribute("action").rstrip("/").rsplit("/", 1)[-1]


def settled(page) -> None:
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")


def test_annotator_judges_a_campaign_with_the_keyboard_only(page, live_server, annotator):
    campaign = make_campaign(judgments_per_item=1, instructions="Prefer the list with **exact** matches.")
    items = [make_item(campaign=campaign, b_on_left=bool(i % 2)) for i in range(3)]
    log_in(page, live_server, "ann1", "pw-ann1")
    page.goto(f"{live_server.url}/sbs/campaigns/{campaign.pk}/judge/")
    page.evaluate("window.__marker = 1")  # survives only if htmx swaps items without reloading the page

    seen = []
    for index in range(3):
        token = current_token(page)
        seen.append(token)
        page.keyboard.press("j")  # select the first product on the left
        page.keyboard.press("Shift+Digit3")  # mark it 3
        page.keyboard.press("l")  # jump to the right list
        page.keyboard.press("Shift+Digit0")
        page.keyboard.press("4")  # right better
        page.keyboard.press("r")  # reason: relevance
        page.keyboard.press("c")
        page.keyboard.type(f"note {index}")
        page.keyboard.press("Escape")
        page.keyboard.press("Enter")
        page.wait_for_function(f"!document.querySelector('#judge-form') || "
                               f"!document.querySelector('#judge-form').action.includes('{token}')")

    assert page.get_by_text("Nothing left for you").is_visible()
    settled(page)  # htmx has wired the new undo form (otherwise "u" posts it as a plain form and reloads)
    page.keyboard.press("u")  # take back the last answer: the same item comes back with its answer
    page.wait_for_selector("#judge-form")
    assert current_token(page) == seen[-1]
    assert page.locator('input[name="choice"][value="1"]').is_checked()
    page.keyboard.press("2")  # left better this time
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Nothing left for you")
    assert page.evaluate("window.__marker") == 1

    judgments = {j.item.token: j for j in Judgment.objects.filter(annotator=annotator).select_related("item")}
    assert sorted(judgments) == sorted(item.token for item in items) == sorted(seen)
    last = judgments[seen[-1]]
    assert last.choice == -1 and last.comment == "note 2" and last.reasons == ["relevance"]
    for judgment in judgments.values():
        left, right = judgment.item.lists_left_right()
        assert judgment.marks == {str(left[0]["product"]): 3, str(right[0]["product"]): 0}


def test_skip_with_the_keyboard(page, live_server, annotator):
    campaign = make_campaign()
    make_item(campaign=campaign), make_item(campaign=campaign)
    log_in(page, live_server, "ann1", "pw-ann1")
    page.goto(f"{live_server.url}/sbs/campaigns/{campaign.pk}/judge/")
    first = current_token(page)
    page.keyboard.press("s")
    page.wait_for_function(f"!document.querySelector('#judge-form').action.includes('{first}')")
    assert Judgment.objects.get(annotator=annotator).skipped
    page.keyboard.press("Enter")  # no answer chosen yet: nothing is sent, a hint is shown
    assert page.get_by_text("Choose 1–5 first.").is_visible()
    assert Judgment.objects.filter(annotator=annotator).count() == 1
