"""In real Chromium: three campaigns over four versions of one data set, and the analyst reads the leaderboard (every
version ranked with its CI and the campaigns it rests on); a screenshot of the page is taken."""
import re
from pathlib import Path

import pytest

from sbsapp.judging import Verdict, judgment_submit
from tests.conftest import make_user
from tests.sbs_factories import make_campaign, make_dataset, make_item, make_version

from .browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# (baseline, treatment, the three annotators' choices per item; B is shown on the right, so a choice is B's preference)
CAMPAIGNS = [
    ("bm25-v1", "dense-v1", [[1, 1, 0], [1, 2, -1], [0, 1, 1], [1, 0, 0]]),
    ("dense-v1", "dense-synth-v2", [[1, 1, 1], [2, 1, 0], [1, -1, 1], [1, 1, 0]]),
    ("bm25-v1", "hybrid-v1", [[-1, -1, 0], [-1, -2, 0], [0, -1, 1], [-1, 0, -1]]),
]


def test_the_leaderboard_ranks_four_versions_from_three_campaigns(page, live_server, analyst, tmp_path):
    dataset = make_dataset(products=12, queries=12)
    versions = {name: make_version(dataset=dataset, name=name)
                for name in ("bm25-v1", "dense-v1", "dense-synth-v2", "hybrid-v1")}
    people = [make_user(f"judge{i}", "annotator") for i in range(3)]
    for number, (a, b, items) in enumerate(CAMPAIGNS, 1):
        campaign = make_campaign(dataset=dataset, name=f"campaign-{number}-{a}-vs-{b}", system_a=versions[a],
                                 system_b=versions[b])
        for choices in items:
            item = make_item(campaign=campaign)
            for person, choice in zip(people, choices):
                judgment_submit(require_reservation=False, item=item, annotator=person, verdict=Verdict(choice=choice),
                                submit_key=f"{item.pk}-{person.pk}")

    log_in(page, live_server, "analyst", "pw-analyst")
    page.click("nav >> text=Leaderboard")
    page.click(f"text={dataset.name}")
    page.wait_for_selector("#leaderboard")
    rows = page.locator("#leaderboard tbody tr")
    assert rows.count() == 4
    order = [rows.nth(i).get_attribute("data-version") for i in range(4)]
    # dense-synth-v2 beat dense-v1, which beat bm25-v1, which beat hybrid-v1
    assert order == ["dense-synth-v2", "dense-v1", "bm25-v1", "hybrid-v1"]
    for i, name in enumerate(order):
        row = rows.nth(i)
        cells = row.locator("td")
        assert cells.nth(0).inner_text() == str(i + 1)
        score = float(row.locator(".score").inner_text())
        low, high = map(float, re.fullmatch(r"\[([-+\d.]+), ([-+\d.]+)\]", row.locator(".ci").inner_text()).groups())
        assert low <= score <= high
    scores = [float(rows.nth(i).locator(".score").inner_text()) for i in range(4)]
    assert scores == sorted(scores, reverse=True) and abs(sum(scores)) < 0.02  # centred at 0
    rests_on = page.locator('#leaderboard tr[data-version="bm25-v1"] .campaigns').inner_text()
    assert "campaign-1-bm25-v1-vs-dense-v1 (12)" in rests_on and "campaign-3-bm25-v1-vs-hybrid-v1 (12)" in rests_on
    assert "campaign-2" not in rests_on
    assert page.locator("#leaderboard-campaigns tbody tr").count() == 3
    assert "ties as half a win each" in page.inner_text("body")

    folder = Path(tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / "leaderboard.png"), full_page=True)
    assert (folder / "leaderboard.png").stat().st_size > 10_000
