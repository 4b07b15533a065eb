"""SBS pages: blinding, permissions per role, htmx judging flow, double submit, escaping, CSRF, dashboard."""
import re

import pytest
from django.test import Client
from django.urls import reverse

from retrieval.models import Product, Query
from sbsapp.models import AutoJudgment, Campaign, Item, Judgment
from tests.conftest import make_user
from tests.sbs_factories import install_fake_retrieval, make_campaign, make_dataset, make_item, make_version

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def judge_form(response) -> dict:
    """The hidden fields of the judging form in a response, as a browser would send them."""
    html = response.content.decode()
    return {"submit_key": re.search(r'name="submit_key" value="([^"]+)"', html).group(1)}


def token_in(response) -> str:
    return re.search(r'/sbs/judge/([^/"]+)/"', response.content.decode()).group(1)


@pytest.fixture
def blind_campaign():
    """Two items whose screens are the same although B is on opposite sides: whatever differs between the two
    rendered pages (apart from the query text and random keys) would reveal the side assignment."""
    dataset = make_dataset()
    campaign = make_campaign(dataset=dataset, system_a=make_version(dataset=dataset, name="secret-baseline-v1"),
                             system_b=make_version(dataset=dataset, name="secret-treatment-v2"))
    products = list(Product.objects.filter(dataset=dataset).order_by("pk"))
    first, second = products[:3], products[3:6]
    q1, q2 = Query.objects.filter(dataset=dataset, query_type="plain").order_by("pk")[:2]
    b_left = make_item(campaign=campaign, query=q1, b_on_left=True, a_products=first, b_products=second)
    b_right = make_item(campaign=campaign, query=q2, b_on_left=False, a_products=second, b_products=first)
    return campaign, b_left, b_right


def normalise(html: str, item: Item) -> str:
    html = html.replace(item.token, "TOKEN").replace(item.query_text, "QUERY")
    html = re.sub(r'name="submit_key" value="[0-9a-f]+"', 'name="submit_key" value="KEY"', html)
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "CSRF", html)
    return re.sub(r'"X-CSRFToken": "[^"]+"', "CSRF", html)


def assert_no_system_identity(html: str, campaign: Campaign, items) -> None:
    lowered = html.lower()
    for secret in (campaign.system_a.name, campaign.system_b.name, "baseline", "treatment", "system a",
                   "system b", "b_on_left", "data-side", "score"):
        assert secret.lower() not in lowered, secret
    for item in items:
        for product in item.results_a + item.results_b:
            assert not re.search(rf"\b{product['product_id']}\b", html), product["product_id"]
        assert f"/judge/{item.pk}/" not in html and f"/items/{item.pk}/" not in html


def test_annotator_never_sees_which_system_is_left(annotator, blind_campaign):
    campaign, b_left, b_right = blind_campaign
    client = client_for(annotator)
    pages = {}
    for _ in range(2):
        response = client.get(reverse("sbs:judge", args=[campaign.pk]))
        item = Item.objects.get(token=token_in(response))
        html = response.content.decode()
        assert_no_system_identity(html, campaign, [b_left, b_right])
        form = html[html.index('<form id="judge-form"'):]
        pages[item.pk] = normalise(form[:form.index("</form>")], item)
        # Judge it through htmx: the next item arrives in the response and must be just as blind.
        swapped = client.post(reverse("sbs:judge_submit", args=[item.token]),
                              {"choice": "1", **judge_form(response)}, **HTMX)
        assert_no_system_identity(swapped.content.decode(), campaign, [b_left, b_right])
        assert "X-Side" not in str(swapped.headers) and "system" not in str(swapped.headers).lower()
    assert set(pages) == {b_left.pk, b_right.pk}
    assert pages[b_left.pk] == pages[b_right.pk]


def test_item_tokens_are_random_not_sequential(blind_campaign):
    campaign, b_left, b_right = blind_campaign
    tokens = [b_left.token, b_right.token]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{20,}", t) for t in tokens) and tokens[0] != tokens[1]
    assert Item._meta.get_field("token").default() != Item._meta.get_field("token").default()


def test_judging_with_htmx_stores_the_preference_and_swaps_in_the_next_item(annotator, blind_campaign):
    campaign, b_left, b_right = blind_campaign
    client = client_for(annotator)
    page = client.get(reverse("sbs:judge", args=[campaign.pk]))
    token = token_in(page)
    response = client.post(reverse("sbs:judge_submit", args=[token]), {
        "choice": "-2", "mark-l-0": "3", "mark-r-2": "0", "reasons": ["relevance", "missing"],
        "comment": "left nails it", **judge_form(page),
    }, **HTMX)
    assert response.status_code == 200
    assert 'id="judge-panel"' in response.content.decode() and "<html" not in response.content.decode()
    judgment = Judgment.objects.get(annotator=annotator)
    item = judgment.item
    assert judgment.choice == -2 and judgment.preference == (2 if item.b_on_left else -2)
    assert judgment.reasons == ["relevance", "missing"] and judgment.comment == "left nails it"
    left, right = item.lists_left_right()
    assert judgment.marks == {str(left[0]["product"]): 3, str(right[2]["product"]): 0}
    assert token_in(response) != token  # the other item is on screen now
    assert "You judged 1" in response.content.decode()


def test_double_submit_creates_one_judgment(annotator, blind_campaign):
    campaign, *_ = blind_campaign
    client = client_for(annotator)
    page = client.get(reverse("sbs:judge", args=[campaign.pk]))
    url = reverse("sbs:judge_submit", args=[token_in(page)])
    form = {"choice": "0", **judge_form(page)}
    first = client.post(url, form, **HTMX)
    second = client.post(url, form, **HTMX)
    assert first.status_code == second.status_code == 200
    assert Judgment.objects.filter(annotator=annotator).count() == 1
    assert Item.objects.filter(campaign=campaign, judgments_count=1).count() == 1
    # A second tab with its own key: refused with a message, still one judgment.
    third = client.post(url, {"choice": "2", "submit_key": "another-tab-key"}, **HTMX)
    assert "already judged" in third.content.decode()
    assert Judgment.objects.filter(annotator=annotator).count() == 1


def test_missing_choice_keeps_the_item_and_what_was_typed(annotator, blind_campaign):
    campaign, *_ = blind_campaign
    client = client_for(annotator)
    page = client.get(reverse("sbs:judge", args=[campaign.pk]))
    token = token_in(page)
    response = client.post(reverse("sbs:judge_submit", args=[token]),
                           {"comment": "half done", "mark-l-1": "2", **judge_form(page)}, **HTMX)
    html = response.content.decode()
    assert "Choose one of the five answers" in html and token_in(response) == token
    assert "half done" in html and re.search(r'name="mark-l-1" value="2" checked', html)
    assert not Judgment.objects.exists()


def test_skip_and_undo_through_the_page(annotator, blind_campaign):
    campaign, *_ = blind_campaign
    client = client_for(annotator)
    page = client.get(reverse("sbs:judge", args=[campaign.pk]))
    first = token_in(page)
    after_skip = client.post(reverse("sbs:judge_skip", args=[first]), judge_form(page), **HTMX)
    assert token_in(after_skip) != first and Judgment.objects.get().skipped
    second = token_in(after_skip)
    client.post(reverse("sbs:judge_submit", args=[second]),
                {"choice": "1", "reasons": ["diversity"], "comment": "more variety", **judge_form(after_skip)}, **HTMX)

    undone = client.post(reverse("sbs:judge_undo", args=[campaign.pk]), **HTMX)
    html = undone.content.decode()
    assert token_in(undone) == second and "taken back" in html
    assert re.search(r'name="choice" value="1" checked', html) and "more variety" in html
    assert re.search(r'value="diversity" checked', html)
    assert Judgment.objects.filter(annotator=annotator, skipped=False).count() == 0


def test_without_htmx_the_forms_still_work_and_redirect(annotator, blind_campaign):
    campaign, *_ = blind_campaign
    client = client_for(annotator)
    page = client.get(reverse("sbs:judge", args=[campaign.pk]))
    response = client.post(reverse("sbs:judge_submit", args=[token_in(page)]), {"choice": "2", **judge_form(page)})
    assert response.status_code == 302 and response["Location"] == reverse("sbs:judge", args=[campaign.pk])
    assert Judgment.objects.count() == 1


def test_without_htmx_undo_and_a_rejected_answer_come_back_with_what_was_entered(annotator, blind_campaign):
    campaign, *_ = blind_campaign
    client = client_for(annotator)
    judge_url = reverse("sbs:judge", args=[campaign.pk])
    page = client.get(judge_url)
    token = token_in(page)
    client.post(reverse("sbs:judge_submit", args=[token]),
                {"choice": "-1", "reasons": ["intent", "missing"], "comment": "no toys", **judge_form(page)})
    assert client.post(reverse("sbs:judge_undo", args=[campaign.pk])).status_code == 302
    html = client.get(judge_url).content.decode()
    assert token_in(client.get(judge_url)) == token and "taken back" in html
    assert re.search(r'name="choice" value="-1" checked', html) and "no toys" in html
    assert re.search(r'value="intent" checked', html) and re.search(r'value="missing" checked', html)
    assert not re.search(r'name="choice" value="-?\d" checked', client.get(judge_url).content.decode()), \
        "the carried values are shown once"

    page = client.get(judge_url)
    client.post(reverse("sbs:judge_submit", args=[token]), {"comment": "still thinking", **judge_form(page)})
    html = client.get(judge_url).content.decode()
    assert "Choose one of the five answers" in html and "still thinking" in html
    assert not Judgment.objects.filter(annotator=annotator, skipped=False).exists()


def test_product_text_is_escaped_and_shown_as_stored(annotator):
    """Importers decode entities once; the page only escapes, so a stored `&amp;` is shown as typed (`&amp;amp;`)."""
    campaign = make_campaign(instructions="Judge **relevance**.<script>alert('i')</script>")
    product = Product.objects.filter(dataset=campaign.system_a.dataset).first()
    product.title = "<script>alert(1)</script> Pots & Pans <b>sale</b> R&amp;D"
    product.description = '<img src=x onerror="alert(2)">'
    product.save()
    make_item(campaign=campaign, a_products=[product])
    html = client_for(annotator).get(reverse("sbs:judge", args=[campaign.pk])).content.decode()
    assert "<script>alert(1)" not in html and "<img src=x" not in html and "alert('i')" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Pots &amp; Pans &lt;b&gt;sale&lt;/b&gt; R&amp;amp;D" in html
    assert "<strong>relevance</strong>" in html


def test_every_shown_control_has_a_keyboard_shortcut_listed(annotator, blind_campaign):
    campaign, *_ = blind_campaign
    html = client_for(annotator).get(reverse("sbs:judge", args=[campaign.pk])).content.decode()
    legend = html[html.index('id="shortcuts"'):]
    for key in ["1", "5", "Enter", "s", "u", "j", "k", "h", "l", "Shift", "Backspace", "e", "r", "i", "v", "m", "o",
                "c", "Esc", "?"]:
        assert f"<kbd>{key}</kbd>" in legend, key
    assert "js/judge.js" in html


@pytest.mark.parametrize("url_name, args_of", [
    ("sbs:dashboard", lambda c, i: [c.pk]),
    ("sbs:dashboard_live", lambda c, i: [c.pk]),
    ("sbs:item_detail", lambda c, i: [i.token]),
    ("sbs:campaign_new", lambda c, i: []),
])
def test_annotators_cannot_see_results_or_manage_campaigns(annotator, url_name, args_of):
    campaign = make_campaign()
    item = make_item(campaign=campaign)
    assert client_for(annotator).get(reverse(url_name, args=args_of(campaign, item))).status_code == 403


def test_analysts_see_dashboards_but_neither_judge_nor_manage(analyst):
    campaign = make_campaign()
    item = make_item(campaign=campaign)
    client = client_for(analyst)
    assert client.get(reverse("sbs:dashboard", args=[campaign.pk])).status_code == 200
    assert client.get(reverse("sbs:item_detail", args=[item.token])).status_code == 200
    assert client.get(reverse("sbs:judge", args=[campaign.pk])).status_code == 403
    assert client.get(reverse("sbs:campaign_new")).status_code == 403
    assert client.post(reverse("sbs:campaign_status", args=[campaign.pk]), {"action": "close"}).status_code == 403


def test_anonymous_visitors_are_sent_to_login():
    campaign = make_campaign()
    for url in (reverse("sbs:campaign_list"), reverse("sbs:judge", args=[campaign.pk]), reverse("sbs:history"),
                reverse("sbs:dashboard", args=[campaign.pk])):
        response = Client().get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_annotators_see_only_their_own_history(annotator, annotator2):
    campaign = make_campaign()
    mine, theirs = make_item(campaign=campaign), make_item(campaign=campaign)
    Judgment.objects.create(item=mine, campaign=campaign, annotator=annotator, choice=1, preference=1,
                            b_on_left=False, comment="my own note", submit_key="k-mine")
    Judgment.objects.create(item=theirs, campaign=campaign, annotator=annotator2, choice=-1, preference=-1,
                            b_on_left=False, comment="somebody else's note", submit_key="k-theirs")
    html = client_for(annotator).get(reverse("sbs:history")).content.decode()
    assert "my own note" in html and "somebody else" not in html
    assert "Right better" in html  # the answer in screen terms, never the preference toward a system


def test_csrf_is_required_to_judge(annotator, blind_campaign):
    campaign, b_left, _ = blind_campaign
    client = Client(enforce_csrf_checks=True)
    client.force_login(annotator)
    response = client.post(reverse("sbs:judge_submit", args=[b_left.token]), {"choice": "1", "submit_key": "k" * 10})
    assert response.status_code == 403 and not Judgment.objects.exists()


def test_admin_creates_a_campaign_and_generation_runs_as_a_job(admin_user, monkeypatch):
    dataset = make_dataset(queries=5)
    a, b = make_version(dataset=dataset, name="bm25-base"), make_version(dataset=dataset, name="dense-synth")
    pks = list(Product.objects.filter(dataset=dataset).order_by("pk").values_list("pk", flat=True))
    install_fake_retrieval(monkeypatch, {
        **{("bm25-base", q.text): pks[:4] for q in Query.objects.filter(dataset=dataset)},
        **{("dense-synth", q.text): pks[4:8] for q in Query.objects.filter(dataset=dataset)},
    })
    client = client_for(admin_user)
    assert client.get(reverse("sbs:campaign_new")).status_code == 200
    response = client.post(reverse("sbs:campaign_new"), {
        "name": "tail test", "instructions": "Be careful", "system_a": a.pk, "system_b": b.pk,
        "segments": ["tail", "head"], "sample_size": 4, "seed": 3, "k": 4, "judgments_per_item": 2,
        "control_share": 0.25, "identical_lists": "control", "reservation_minutes": 10, "generate_now": "on",
    })
    campaign = Campaign.objects.get(name="tail test")
    assert response.status_code == 302 and response["Location"] == reverse("sbs:dashboard", args=[campaign.pk])
    assert campaign.status == Campaign.Status.ACTIVE
    dashboard = client.get(response["Location"]).content.decode()
    assert 'class="job-progress"' in dashboard and "100%" in dashboard
    assert Item.objects.filter(campaign=campaign).count() == 3  # only 3 of the 5 queries are head or tail
    assert set(Item.objects.filter(campaign=campaign).values_list("segment", flat=True)) <= {"tail", "head"}


def test_dashboard_shows_numbers_charts_and_links_to_each_query(analyst, annotator, blind_campaign):
    campaign, b_left, b_right = blind_campaign
    for item in (b_left, b_right):
        Judgment.objects.create(item=item, campaign=campaign, annotator=annotator, choice=1,
                                preference=-1 if item.b_on_left else 1, b_on_left=item.b_on_left,
                                comment="a comment", submit_key=f"k{item.pk}", time_on_item_ms=4000)
    Item.objects.filter(campaign=campaign).update(judgments_count=1)
    client = client_for(analyst)
    html = client.get(reverse("sbs:dashboard", args=[campaign.pk])).content.decode()
    assert "<svg" in html and 'class="gsb-bar"' in html
    assert "G 1 · S 0 · B 1" in html and "+0.000" in html
    assert reverse("sbs:item_detail", args=[b_left.token]) in html
    assert "secret-treatment-v2" in html  # analysts are not blinded
    detail = client.get(reverse("sbs:item_detail", args=[b_left.token])).content.decode()
    assert "a comment" in detail and "B · secret-treatment-v2" in detail and "shown on the <strong>left" in detail
    live = client.get(reverse("sbs:dashboard_live", args=[campaign.pk]), **HTMX).content.decode()
    assert 'id="dashboard-metrics"' in live and 'hx-trigger="every 10s"' in live


def test_analyst_marks_an_item_as_gold(analyst):
    campaign = make_campaign()
    item = make_item(campaign=campaign)
    client_for(analyst).post(reverse("sbs:item_gold", args=[item.token]), {"expected_preference": "2"})
    item.refresh_from_db()
    assert item.kind == "gold" and item.expected_preference == 2


def test_admin_closes_a_campaign_and_annotators_can_no_longer_judge(admin_user, annotator):
    campaign = make_campaign()
    make_item(campaign=campaign)
    client_for(admin_user).post(reverse("sbs:campaign_status", args=[campaign.pk]), {"action": "close"})
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CLOSED
    response = client_for(annotator).get(reverse("sbs:judge", args=[campaign.pk]))
    assert response.status_code == 302


def test_home_page_shows_the_queue_to_annotators(annotator):
    campaign = make_campaign(name="Kitchen tail SBS")
    html = client_for(annotator).get(reverse("home")).content.decode()
    assert "Kitchen tail SBS" in html and reverse("sbs:judge", args=[campaign.pk]) in html
    other = make_user("nobody", None)
    assert client_for(other).get(reverse("sbs:campaign_list")).status_code == 403


def test_campaign_list_costs_the_same_few_queries_for_any_number_of_campaigns(analyst, annotator, monkeypatch):
    """No per-card metrics: progress and predictions are read for all cards at once, and nothing bootstraps."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    import scipy.stats

    def no_bootstrap(*args, **kwargs):
        raise AssertionError("the campaign list must not bootstrap")

    monkeypatch.setattr(scipy.stats, "bootstrap", no_bootstrap)
    client = client_for(analyst)
    dataset = make_dataset()

    def list_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("sbs:campaign_list")).status_code == 200
        return len(queries)

    def add_campaign():
        campaign = make_campaign(dataset=dataset)
        item = make_item(campaign=campaign)
        Judgment.objects.create(item=item, campaign=campaign, annotator=annotator, choice=1, preference=1,
                                b_on_left=False, submit_key=f"k-{campaign.pk}")
        AutoJudgment.objects.create(item=item, campaign=campaign, judge_kind="llm", judge_name="m", choice=1,
                                    preference=1, b_on_left=False)

    add_campaign()
    few = list_queries()
    for _ in range(4):
        add_campaign()
    assert list_queries() == few <= 10


def test_admin_pages_list_campaigns_items_and_judgments(admin_user, annotator):
    campaign = make_campaign()
    item = make_item(campaign=campaign)
    Judgment.objects.create(item=item, campaign=campaign, annotator=annotator, choice=0, preference=0,
                            b_on_left=False, submit_key="k-admin")
    client = client_for(admin_user)
    for model in ("campaign", "item", "judgment"):
        assert client.get(f"/admin/sbsapp/{model}/").status_code == 200, model
    assert client.get(f"/admin/sbsapp/item/{item.pk}/change/").status_code == 200
    response = client.post("/admin/sbsapp/campaign/", {"action": "close_campaigns", "_selected_action": [campaign.pk]})
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CLOSED


def test_an_item_not_served_to_the_annotator_gets_a_clear_message_and_stores_nothing(annotator, annotator2,
                                                                                      blind_campaign):
    campaign = blind_campaign[0]
    Campaign.objects.filter(pk=campaign.pk).update(judgments_per_item=1)
    theirs = Item.objects.get(token=token_in(client_for(annotator2).get(reverse("sbs:judge", args=[campaign.pk]))))
    client = client_for(annotator)
    page = client.get(reverse("sbs:judge", args=[campaign.pk]))
    mine = token_in(page)
    assert mine != theirs.token
    for url in (reverse("sbs:judge_submit", args=[theirs.token]), reverse("sbs:judge_skip", args=[theirs.token])):
        html = client.post(url, {"choice": "2", **judge_form(page)}, **HTMX).content.decode()
        assert "not reserved for you" in html and mine in html  # the message, then their own current item
    assert not Judgment.objects.exists()
