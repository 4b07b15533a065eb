"""In real Chromium: a reviewer opens the review queue, reads a split item blinded (annotators unnamed, no system
named), records a final verdict, and the analyst's dashboard shows the adjudicated view changed (the raw one not)."""
import pytest

from core.roles import REVIEWER
from sbsapp.judging import Verdict, judgment_submit
from sbsapp.models import Adjudication
from tests.conftest import make_user
from tests.sbs_factories import make_campaign, make_dataset, make_item, make_version

from .browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_reviewer_settles_a_split_item_and_the_adjudicated_view_changes(chromium, live_server, analyst):
    dataset = make_dataset(products=12, queries=6)
    campaign = make_campaign(dataset=dataset, name="split-decisions", judgments_per_item=3,
                             system_a=make_version(dataset=dataset, name="alpha-baseline-x"),
                             system_b=make_version(dataset=dataset, name="omega-treatment-x"))
    people = [make_user(f"judge{i}", "annotator") for i in range(3)]
    make_user("reviewer1", REVIEWER)
    agreed = make_item(campaign=campaign)  # B on the right: B better for all three
    split = make_item(campaign=campaign, b_on_left=True)  # left (B) better, same, right (A) better: no majority
    for item, choices in ((agreed, [1, 1, 2]), (split, [-1, 0, 1])):
        for person, choice in zip(people, choices):
            judgment_submit(require_reservation=False, item=item, annotator=person,
                            verdict=Verdict(choice=choice, comment=f"{person.pk % 7} thinks {choice}"),
                            submit_key=f"{item.pk}-{person.pk}")

    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15000)
    log_in(page, live_server, "reviewer1", "pw-reviewer1")
    page.click("nav >> text=Review")
    pending = page.locator("#review-pending tbody tr")
    assert pending.count() == 1 and split.query_text in pending.inner_text()
    page.click(f"text={split.query_text}")
    page.wait_for_selector("#review-form")
    html = page.content()
    for secret in ("alpha-baseline-x", "omega-treatment-x", "judge0", "judge1", "judge2"):
        assert secret not in html
    verdicts = page.locator("#review-verdicts tbody tr")
    assert verdicts.count() == 3
    assert [verdicts.nth(i).locator("td").nth(0).inner_text() for i in range(3)] == [
        "Annotator 1", "Annotator 2", "Annotator 3"]
    assert [verdicts.nth(i).locator("td").nth(1).inner_text() for i in range(3)] == [
        "Left better", "About the same", "Right better"]
    page.get_by_label("Right much better").check()  # A, shown on the right, is much better
    page.fill("#id_comment", "Only the right list has the product asked for.")
    page.click("#review-submit")
    page.wait_for_selector("text=Final verdict recorded")
    assert page.locator("#review-pending tbody tr").inner_text() == "Nothing to review."
    assert Adjudication.objects.get(item=split).preference == -2
    context.close()

    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15000)
    log_in(page, live_server, "analyst", "pw-analyst")
    page.goto(f"{live_server.url}/sbs/campaigns/{campaign.pk}/")
    page.wait_for_selector("#adjudicated-delta")
    # raw: one item B better, the split one unresolved; adjudicated: one B better, one A better
    assert page.inner_text("#raw-delta") == "+1.000"
    assert page.inner_text("#adjudicated-delta") == "+0.000"
    assert page.inner_text("#adjudicated-gsb") == "1 · 0 · 1" and page.inner_text("#raw-gsb") == "1 · 0 · 0"
    assert page.inner_text("#adjudicated-unresolved") == "0"
    context.close()
