"""In a real browser: a refused synthesis form opens on its error summary (focused, in view), and a link in the
summary takes the focus to the field it names."""
import pytest

from .browser import log_in
from .test_synthesis_job import world  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_refused_synthesis_form_opens_on_its_error_summary(page, live_server, admin_user, world):
    log_in(page, live_server, "boss", "pw-boss")
    page.goto(f"{live_server.url}/synthesis/")
    assert page.locator("#id_dataset").input_value() == str(world[0].pk)  # the only data set, chosen already
    page.select_option("#id_dataset", "")
    page.fill("#id_threshold", "5")
    page.click("text=Start synthesis")
    summary = page.locator("[data-error-summary]")
    summary.wait_for()
    page.wait_for_selector("[data-error-summary]:focus")  # forms.js moved the focus (and the view) there
    box = summary.bounding_box()
    assert 0 <= box["y"] and box["y"] + box["height"] <= 900
    assert "2 things need fixing" in summary.inner_text()
    summary.get_by_role("link", name="Keep threshold").click()
    page.wait_for_selector("#id_threshold:focus")
