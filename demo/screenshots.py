"""The README's pictures, taken from the running demo in headless Chromium (`manage.py demo_screenshots`).

The demo has no people, so the campaign's judgments are entered in the browser by a scripted annotator that
answers each item from the bundle's `test` labels: the side whose top 10 has the higher nDCG@10 is preferred,
"much better" when the difference is large, "about the same" when it is small or the query has no labels. Every
demo annotator answers the same way, so agreement is perfect by construction; the README says so beside the
pictures. Everything else on the pages (queries, products, versions, metrics, jobs) is the demo's own data.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
SAME_BELOW, MUCH_ABOVE = 0.05, 0.25  # |nDCG@10 of B - of A|: "about the same" below, "much better" above


@dataclass(frozen=True)
class Shot:
    name: str
    path: str  # URL path on the demo server
    user: str  # demo login that opens it
    selector: str | None = None  # screenshot only this element (None: the whole page)
    ready: str | None = None  # wait for this element before the picture (e.g. results swapped in by htmx)
    prepare: Callable | None = None  # fill a form first: prepare(page, campaign)
    height: int = 900  # the window's height
    max_height: int | None = None  # a long page is cut here (None: the whole page)


def state_a_plan(page, campaign) -> None:
    """The campaign form with the demo's two versions and a smallest ΔGSB worth detecting of 0.1."""
    page.select_option("#id_system_a", value=campaign.system_a.name)
    page.select_option("#id_system_b", value=campaign.system_b.name)
    page.fill("#id_plan_min_delta", "0.1")
    page.press("#id_plan_min_delta", "Tab")  # leaving the field fires its change event


def label_oracle_preference(item, qrels: dict[str, dict[str, int]]) -> int:
    """The preference toward system B (-2..+2) that the item's `test` labels give: nDCG@10 of each frozen list."""
    from retrieval.evaluation import per_query_metrics

    labels = qrels.get(str(item.query_id))
    if not labels:
        return 0
    runs = {side: {str(item.query_id): [str(card["product"]) for card in cards]}
            for side, cards in (("a", item.results_a), ("b", item.results_b))}
    ndcg = {side: per_query_metrics(qrels={str(item.query_id): labels}, run=run).get(str(item.query_id), {})
            .get("nDCG@10", 0.0) for side, run in runs.items()}
    difference = ndcg["b"] - ndcg["a"]
    if abs(difference) < SAME_BELOW:
        return 0
    return (2 if abs(difference) >= MUCH_ABOVE else 1) * (1 if difference > 0 else -1)


def screen_key(item, preference: int) -> str:
    """The key (1..5) an annotator presses for `preference` toward B, given which side B is shown on."""
    choice = -preference if item.b_on_left else preference
    return str(choice + 3)


def demo_campaign():
    from sbsapp.models import Campaign

    from .pipeline import CAMPAIGN

    campaign = Campaign.objects.filter(name=CAMPAIGN).select_related("system_a", "system_b").first()
    if campaign is None or campaign.status != Campaign.Status.ACTIVE:
        raise RuntimeError("The demo campaign is not ready: run `make demo` (or `manage.py demo_pipeline`) first.")
    return campaign


def shots(campaign, synthesis_job_pk: int, tail_query: str) -> list[Shot]:
    from urllib.parse import urlencode

    compare = urlencode({"q": tail_query, "a": campaign.system_a.name, "b": campaign.system_b.name, "k": 10})
    return [
        Shot("dashboard.png", f"/sbs/campaigns/{campaign.pk}/", "analyst", height=1000, max_height=2400),
        Shot("sequential.png", f"/sbs/campaigns/{campaign.pk}/", "analyst", selector="#sequential-verdict"),
        Shot("planning.png", "/sbs/campaigns/new/", "admin", selector="#campaign-plan", ready="#planned-items",
             prepare=state_a_plan),
        Shot("leaderboard.png", f"/sbs/leaderboard/{campaign.system_a.dataset.name}/", "analyst"),
        Shot("synthesis_job.png", f"/synthesis/jobs/{synthesis_job_pk}/", "admin", max_height=2200),
        Shot("versions.png", "/retrieval/versions/", "analyst"),
        Shot("comparison.png", f"/retrieval/search/?{compare}", "analyst", ready=".sbs-columns"),
    ]


def take_screenshots(*, base_url: str, out_dir: Path, logins: dict[str, str], judged_share: float = 0.8,
                     say: Callable[[str], None] = print) -> list[Path]:
    """Judge the demo campaign in the browser as every demo annotator (label oracle, `judged_share` of the items
    each), then save the pictures of the judging page, the dashboard and the other pages to `out_dir`."""
    import os

    from retrieval.evaluation import qrels_for_test_split
    from sbsapp.models import Item
    from synthesis.models import SyntheticPair

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop here
    from playwright.sync_api import sync_playwright

    campaign = demo_campaign()
    qrels = qrels_for_test_split(dataset=campaign.system_a.dataset)
    items = {item.token: item for item in Item.objects.filter(campaign=campaign)}
    regular = sum(1 for item in items.values() if item.is_active)
    out_dir.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)

        def open_as(user: str, height: int = 900):
            context = browser.new_context(viewport={"width": 1400, "height": height}, base_url=base_url)
            page = context.new_page()
            page.goto("/login/")
            page.fill("input[name=username]", user)
            page.fill("input[name=password]", logins[user])
            page.click("button[type=submit]")
            page.wait_for_load_state()
            return context, page

        def picture_of_judging(page) -> None:  # the judging page as an annotator meets it (one window high)
            path = out_dir / "judging.png"
            page.screenshot(path=str(path), full_page=False)
            saved.append(path)

        annotators = sorted(name for name in logins if name.startswith("annotator"))
        for number, annotator in enumerate(annotators):
            context, page = open_as(annotator)
            page.goto(f"/sbs/campaigns/{campaign.pk}/judge/")
            judged = 0
            while judged < judged_share * regular and page.locator("#judge-form").count():
                token = page.locator("#judge-form").get_attribute("action").rstrip("/").rsplit("/", 1)[-1]
                item = items[token]
                if number == 0 and judged == 3:  # a few items in, with the "Saved." notice
                    picture_of_judging(page)
                page.keyboard.press(screen_key(item, label_oracle_preference(item, qrels)))
                page.keyboard.press("Enter")
                page.wait_for_function("(t) => !document.querySelector('#judge-form') || "
                                       "!document.querySelector('#judge-form').action.includes(t)", arg=token)
                judged += 1
            if number == 0 and judged <= 3:  # fewer than four judged this run: the page as it is now
                picture_of_judging(page)
            say(f"  {annotator}: {judged} judgments entered")
            context.close()

        pair = SyntheticPair.objects.filter(job__isnull=False).select_related("query").order_by("-job_id").first()
        if pair is None:
            raise RuntimeError("The demo has no synthesis job with kept pairs yet.")
        for shot in shots(campaign, pair.job_id, pair.query.text):
            context, page = open_as(shot.user, shot.height)
            page.goto(shot.path)
            if shot.prepare:
                shot.prepare(page, campaign)
            if shot.ready:
                page.locator(shot.ready).wait_for(timeout=120_000)  # a dense model may still be loading
            page.wait_for_load_state("networkidle")
            path = out_dir / shot.name
            if shot.selector:
                page.locator(shot.selector).screenshot(path=str(path))
            else:
                height = page.evaluate("document.documentElement.scrollHeight")
                clip = {"x": 0, "y": 0, "width": 1400, "height": min(height, shot.max_height or height)}
                page.screenshot(path=str(path), full_page=True, clip=clip)
            saved.append(path)
            say(f"  {path}")
            context.close()
        browser.close()
    return saved
