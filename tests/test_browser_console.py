"""Every browser test fails on a console error or an uncaught page error (tests/browser.py records them from every
context a test opens and fails the test at teardown); this checks that they are recorded."""
import pytest

from .browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_console_errors_and_uncaught_errors_are_recorded_for_the_teardown_check(page, live_server, annotator,
                                                                               console_errors):
    log_in(page, live_server, "ann1", "pw-ann1")
    assert console_errors == []  # the login and the home page log nothing
    page.evaluate("console.error('boom from the test')")
    page.evaluate("setTimeout(() => { throw new Error('uncaught boom'); })")
    page.wait_for_timeout(200)
    assert any("console error: boom from the test" in error for error in console_errors)
    assert any("uncaught page error" in error and "uncaught boom" in error for error in console_errors)
    console_errors.clear()  # expected here; left in the list they would fail this test at teardown


def test_contexts_a_test_opens_itself_are_watched_too(chromium, live_server, console_errors):
    context = chromium.new_context()
    other = context.new_page()
    other.goto(f"{live_server.url}/login/")
    other.evaluate("console.error('from my own context')")
    other.wait_for_timeout(100)
    context.close()
    assert any("from my own context" in error for error in console_errors)
    console_errors.clear()
