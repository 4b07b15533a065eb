"""In a real browser: an admin states the smallest ΔGSB worth detecting on the campaign form and sees the planned
size appear as they type; the dashboard shows planned against actual size and the sequential verdict. Screenshots
of the plan and of the verdict are taken (the README's come from `manage.py demo_screenshots`)."""
from pathlib import Path

import pytest

from sbsapp.judging import Verdict, judgment_submit
from sbsapp.models import Campaign
from sbsapp.planning import plan_campaign
from tests.sbs_factories import make_campaign, make_dataset, make_item, make_version

from .browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def settled(page) -> None:
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")


def screenshot(locator, name: str, tmp_path: Path) -> None:
    folder = Path(tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    locator.screenshot(path=str(folder / name), caret="initial")  # caret: see tests/browser.py's work_under_csp


def test_the_campaign_form_answers_how_many_items_the_plan_needs(page, live_server, admin_user, tmp_path):
    dataset = make_dataset(queries=8)
    make_version(dataset=dataset, name="base-v1"), make_version(dataset=dataset, name="treat-v2")
    log_in(page, live_server, "boss", "pw-boss")
    posted = []
    page.on("request", lambda request: posted.append(request.url) if "/sbs/campaigns/plan/" in request.url else None)
    page.goto(f"{live_server.url}/sbs/campaigns/new/")
    plan = page.locator("#campaign-plan")
    plan.get_by_text("State the smallest ΔGSB worth detecting").wait_for()
    page.fill("#id_name", "planned-in-the-browser")
    page.select_option("#id_system_a", label="base-v1")
    page.select_option("#id_system_b", label="treat-v2")
    page.fill("#id_plan_min_delta", "0.1")
    page.press("#id_plan_min_delta", "Tab")  # leaving the field fires its change event
    page.locator("#planned-items").wait_for()
    assert page.locator("#planned-items").inner_text() == "281"
    assert page.locator("#planned-sample").inner_text() == "312"  # 10 % of the sample become A-vs-A controls
    assert "Assumed, not measured" in plan.inner_text()
    settled(page)
    previews = len(posted)
    page.wait_for_timeout(1000)
    assert len(posted) == previews  # an answer does not ask again by itself (only a changed field does)
    screenshot(plan, "planning.png", tmp_path)
    page.fill("#id_judgments_per_item", "5")
    page.press("#id_judgments_per_item", "Tab")  # leaving the field fires its change event
    page.wait_for_function("document.querySelector('#planned-items').textContent === '233'")
    page.fill("#id_plan_power", "1.5")
    page.press("#id_plan_power", "Tab")  # leaving the field fires its change event
    plan.get_by_text("Power: Input should be less than or equal to 0.99").wait_for()
    page.fill("#id_plan_power", "0.8")
    page.check("#id_auto_close")
    page.uncheck("#id_generate_now")
    page.get_by_role("button", name="Create campaign").click()
    page.wait_for_url(lambda url: "/sbs/campaigns/new/" not in url)

    campaign = Campaign.objects.get(name="planned-in-the-browser")
    assert campaign.plan["items"] == 233 and campaign.auto_close and campaign.plan_min_delta == 0.1
    assert page.locator("#planned-items").inner_text() == "233"
    assert "0 complete items of 233 planned" in page.locator("#sequential-verdict").inner_text()


def test_the_dashboard_shows_the_sequential_verdict_as_judgments_come_in(page, live_server, analyst, annotator,
                                                                         tmp_path):
    plan = plan_campaign(min_delta=0.1, alpha=0.05, power=0.8, judgments_per_item=1, control_share=0.1)
    campaign = make_campaign(dataset=make_dataset(queries=30), judgments_per_item=1, plan_min_delta=0.1, plan=plan)
    items = [make_item(campaign=campaign) for _ in range(16)]

    def judge(chosen) -> None:
        for item in chosen:
            judgment_submit(require_reservation=False, item=item, annotator=annotator, verdict=Verdict(choice=2),
                            submit_key=f"k-{item.pk}")

    judge(items[:4])
    log_in(page, live_server, "analyst", "pw-analyst")
    page.goto(f"{live_server.url}/sbs/campaigns/{campaign.pk}/")
    verdict = page.locator("#sequential-verdict")
    text = verdict.inner_text()
    assert "No verdict yet: a difference large enough to matter (|ΔGSB| ≥ 0.1) is still possible: about" in text
    assert f"4 complete items of {plan['items']} planned" in text
    assert "to reach p < 0.05" not in page.locator("#dashboard-metrics").inner_text()

    judge(items[4:])
    page.reload()
    assert page.locator("#sequential-verdict .verdict").inner_text() == "B better, you can stop"
    assert f"16 complete items of {plan['items']} planned" in page.locator("#sequential-verdict").inner_text()
    screenshot(page.locator("#sequential-verdict"), "sequential.png", tmp_path)
