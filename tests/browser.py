"""Real headless Chromium through Playwright, for browser tests against pytest-django's live server.

Every browser context a test opens (through `page` or `chromium.new_context`) records the page's console errors
and uncaught exceptions; a test that leaves any fails at teardown (`console_errors`, used by every test that
uses `chromium`)."""
import os
import time
from pathlib import Path

import pytest

from .pytest_env import required

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        if required("browser"):
            pytest.fail(f"{CHROMIUM} is missing but REQUIRE_BROWSER is set (CI must run the browser tests)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls from the test are still sync.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        open_context = browser.new_context

        def new_context(*args, **kwargs):
            context = open_context(*args, **kwargs)
            watch_console(context)
            work_under_csp(context)
            return context

        browser.new_context = new_context
        yield browser
        browser.close()


# Console errors and uncaught page errors of the running test, from every context it opened.
CONSOLE_ERRORS: list[str] = []


def watch_console(context) -> None:
    def on_console(message) -> None:
        if message.type == "error":
            location = message.location or {}
            CONSOLE_ERRORS.append(f"console error: {message.text} ({location.get('url', '')}:"
                                  f"{location.get('lineNumber', '')})")

    context.on("console", on_console)
    context.on("weberror", lambda error: CONSOLE_ERRORS.append(f"uncaught page error: {error.error}"))


def work_under_csp(context) -> None:
    """Keep Playwright itself from tripping the Content-Security-Policy in the context's pages.

    - `wait_for_function`: Playwright's runs `eval()` inside the page on every poll, which a policy without
      'unsafe-eval' refuses; this one polls with `page.evaluate` (the DevTools protocol, outside the page's policy)
      until the expression is truthy, and returns its value.
    - `screenshot`: by default Playwright hides the text caret by setting, then clearing, an inline style on every
      input, which leaves `style=""` behind; htmx copies that attribute back when it settles a swap, and the
      policy refuses it. `caret="initial"` leaves the inputs alone."""
    open_page = context.new_page

    def new_page(*args, **kwargs):
        page = open_page(*args, **kwargs)
        state = {"timeout": 30000.0}
        set_default_timeout = page.set_default_timeout

        def remember_timeout(timeout: float) -> None:
            state["timeout"] = timeout
            set_default_timeout(timeout)

        def wait_for_function(expression: str, *, arg=None, timeout: float | None = None, polling=None):
            from playwright.sync_api import Error as PlaywrightError, TimeoutError as PlaywrightTimeout

            deadline = time.monotonic() + (state["timeout"] if timeout is None else timeout) / 1000
            while True:
                try:
                    value = page.evaluate(expression, arg)
                except PlaywrightError as exc:  # a navigation replaced the page mid-poll: poll the new one
                    if "context was destroyed" not in str(exc):
                        raise
                    value = None
                if value:
                    return value
                if time.monotonic() > deadline:
                    raise PlaywrightTimeout(f"wait_for_function: {expression!r} still falsy after the timeout")
                page.wait_for_timeout(polling if isinstance(polling, (int, float)) else 50)

        take_screenshot = page.screenshot

        def screenshot(*args, **kwargs):
            return take_screenshot(*args, **{"caret": "initial", **kwargs})

        page.set_default_timeout = remember_timeout
        page.wait_for_function = wait_for_function
        page.screenshot = screenshot
        return page

    context.new_page = new_page


@pytest.fixture
def console_errors():
    """The console errors of this test's pages; at teardown, any left fails the test. A test that expects one (it
    opens a 403 page on purpose, say) takes this fixture and removes the error it expected from the list."""
    CONSOLE_ERRORS.clear()
    yield CONSOLE_ERRORS
    errors, CONSOLE_ERRORS[:] = list(CONSOLE_ERRORS), []
    if errors:
        pytest.fail("The browser logged errors:\n  " + "\n  ".join(errors), pytrace=False)


@pytest.fixture
def page(chromium, console_errors):
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def log_in(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.press("#id_password", "Enter")
    page.wait_for_url(lambda url: "/login/" not in url)


@pytest.fixture(autouse=True)
def _no_browser_console_errors(request):
    """Every test that drives the browser, with `page` or its own contexts, fails on a console error."""
    if "chromium" in request.fixturenames:
        request.getfixturevalue("console_errors")
    yield
