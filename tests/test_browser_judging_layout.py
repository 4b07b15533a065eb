"""In a real browser: the judging page's decision controls stay in view and its two lists line up row by row, on a
desktop window and on a phone (390 x 844)."""
import pytest

from retrieval.models import Product
from tests.sbs_factories import make_campaign, make_dataset, make_item

from .browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONTROLS = ("#submit-button", "#skip-button", "#undo-button", 'label.scale-option:has(input[value="2"])')


def ten_a_side_campaign():
    """Items with 10 products a side, the left ones with long titles and descriptions, the right ones short."""
    dataset = make_dataset(products=20)
    products = list(Product.objects.filter(dataset=dataset).order_by("pk"))
    for product in products[:10]:
        product.title = f"{product.title} stainless steel non-stick frying pan with a glass lid, induction ready"
        product.description = "A long description that wraps over several lines on any screen. " * 2
    for product in products[10:]:
        product.description = "Short."
    Product.objects.bulk_update(products, ["title", "description"])
    campaign = make_campaign(dataset=dataset, judgments_per_item=1)
    for _ in range(2):
        make_item(campaign=campaign, a_products=products[:10], b_products=products[10:])
    return campaign


def in_view(page, selector: str) -> bool:
    """The element's box lies inside the window and the element itself is what a tap at its centre hits."""
    return page.evaluate("""(selector) => {
        const element = document.querySelector(selector);
        if (!element) { return false; }
        const box = element.getBoundingClientRect();
        const inside = box.width > 0 && box.height > 0 && box.top >= 0 && box.left >= 0
            && box.bottom <= window.innerHeight && box.right <= window.innerWidth;
        const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
        return inside && !!hit && (hit === element || element.contains(hit));
    }""", selector)


def judge_one_with_the_mouse(page) -> None:
    token = page.locator("#judge-form").get_attribute("action")
    page.locator('label.scale-option:has(input[value="0"])').click()
    page.locator("#submit-button").click()
    page.wait_for_selector(f'#judge-form:not([action="{token}"])')
    page.wait_for_selector(".htmx-request, .htmx-swapping, .htmx-settling", state="detached")


def test_on_a_phone_the_scale_submit_skip_and_undo_are_in_view_without_scrolling(chromium, live_server, annotator):
    campaign = ten_a_side_campaign()
    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    log_in(page, live_server, "ann1", "pw-ann1")
    page.goto(f"{live_server.url}/sbs/campaigns/{campaign.pk}/judge/")
    judge_one_with_the_mouse(page)  # now Undo is offered too

    assert page.evaluate("window.scrollY") == 0
    assert page.evaluate("document.documentElement.scrollHeight") > 3 * 844  # the lists are long ...
    for selector in CONTROLS:  # ... and yet the decision is at hand
        assert in_view(page, selector), f"{selector} is not visible in the 390 x 844 window"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing cut off at the side

    page.evaluate("window.scrollTo(0, 1500)")  # still there half-way down the lists
    assert page.evaluate("window.scrollY") > 1000
    for selector in CONTROLS:
        assert in_view(page, selector), f"{selector} scrolled out of the 390 x 844 window"

    page.locator("#undo-button").click()  # Undo works from the bar: the judged item comes back with its answer
    page.wait_for_selector('input[name="choice"][value="0"]:checked', state="attached")
    context.close()


def test_on_a_desktop_the_lists_line_up_row_by_row_and_submit_is_in_view(page, live_server, annotator):
    campaign = ten_a_side_campaign()
    log_in(page, live_server, "ann1", "pw-ann1")
    page.goto(f"{live_server.url}/sbs/campaigns/{campaign.pk}/judge/")
    rows = page.evaluate("""() => [...Array(10).keys()].map((i) => [
        document.getElementById(`card-l-${i}`).getBoundingClientRect().top,
        document.getElementById(`card-r-${i}`).getBoundingClientRect().top])""")
    assert all(abs(left - right) < 1 for left, right in rows), rows
    assert rows[-1][0] > 900  # the lists run below the window ...
    for selector in ("#submit-button", "#skip-button", 'label.scale-option:has(input[value="-2"])'):
        assert in_view(page, selector), f"{selector} is not visible in the 1400 x 900 window"
