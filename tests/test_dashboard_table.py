"""The dashboard's per-query table (controls say whether they passed, its pager swaps in one page without
reloading the dashboard) and the side-by-side search's errors (named by label, not by raw field name)."""
import re

import pytest
from django.test import Client
from django.urls import reverse

from sbsapp.judging import Verdict, judgment_submit
from sbsapp.models import Item
from sbsapp.sbs_views import ITEMS_PER_PAGE
from core.roles import ANNOTATOR
from tests.conftest import make_user
from tests.sbs_factories import make_campaign, make_dataset, make_item, make_version

pytestmark = pytest.mark.django_db


def make_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def answer(item: Item, annotator, choice: int) -> None:
    judgment_submit(require_reservation=False, item=item, annotator=annotator, verdict=Verdict(choice=choice),
                    submit_key=f"k-{item.pk}-{annotator.pk}")


def verdict_cell(html: str, query_text: str) -> str:
    row = re.search(rf"<tr[^>]*>\s*<td><a [^>]*>{re.escape(query_text)}</a>.*?</tr>", html, re.S).group(0)
    return re.findall(r"<td>([^<]*)</td>", row)[-1]


def test_a_control_row_says_whether_its_answers_met_the_expectation_not_which_side_won(analyst, annotator,
                                                                                        annotator2):
    campaign = make_campaign(dataset=make_dataset(queries=8))
    control = make_item(campaign=campaign, kind="aa")
    regular = make_item(campaign=campaign)
    answer(control, annotator, 1)  # "right better" on an A-vs-A item: a failed control answer
    answer(control, annotator2, 0)
    answer(regular, annotator, 2)  # B is on the right: B better
    client = make_client(analyst)
    html = client.get(reverse("sbs:dashboard", args=[campaign.pk])).content.decode()
    assert verdict_cell(html, control.query_text) == "control: 1 of 2 as expected"
    assert verdict_cell(html, regular.query_text) == "B better"


def test_the_pager_swaps_in_the_next_page_of_the_table_alone(analyst):
    campaign = make_campaign(dataset=make_dataset(queries=ITEMS_PER_PAGE + 5))
    for _ in range(ITEMS_PER_PAGE + 3):
        make_item(campaign=campaign)
    client = make_client(analyst)
    dashboard = client.get(reverse("sbs:dashboard", args=[campaign.pk])).content.decode()
    table_url = reverse("sbs:campaign_queries", args=[campaign.pk])
    assert f'hx-get="{table_url}?page=2"' in dashboard and 'hx-target="#query-table"' in dashboard
    assert f'href="{reverse("sbs:dashboard", args=[campaign.pk])}?page=2"' in dashboard  # works without JavaScript
    page2 = client.get(f"{table_url}?page=2", HTTP_HX_REQUEST="true").content.decode()
    assert page2.startswith('<section class="card" id="query-table">') and "<html" not in page2
    assert "page 2 of 2" in page2 and page2.count("<tr") == 1 + 3  # the header and the last three items
    assert "dashboard-metrics" not in page2  # the metrics are not computed again for a page turn
    assert make_client(make_user("ann", ANNOTATOR)).get(table_url).status_code == 403


def test_side_by_side_search_errors_name_fields_by_their_labels(analyst):
    dataset = make_dataset()
    make_version(dataset=dataset, name="left-v"), make_version(dataset=dataset, name="right-v")
    response = make_client(analyst).get(reverse("retrieval_search"), {"q": "mug", "a": "left-v", "b": "nope",
                                                                      "k": "500"}, HTTP_HX_REQUEST="true")
    errors = re.findall(r'<li class="msg-error">([^<]*)</li>', response.content.decode())
    assert errors and all(re.match(r"(Right version|Top K): ", e) for e in errors), errors
    assert not any(e.startswith(("b:", "k:")) for e in errors)
