"""Judging under write contention on SQLite (the embedded default), against the live server's threads.

Several annotators submit, skip and undo at once while an analyst marks gold items, each in its own server thread
with its own connection to the file database. Undo (and gold marking) used to read a row and then write in a
deferred transaction: when another connection wrote in between, SQLite refused the upgrade to a write at once
("database is locked", HTTP 500). With `transaction_mode=IMMEDIATE` every atomic block takes the write lock up
front, waiting its turn.
"""
import re
from collections import Counter
import threading
import time

import pytest
import requests
from django.conf import settings as django_settings

from core.roles import ANALYST, ANNOTATOR
from sbsapp.models import Judgment
from tests.conftest import make_user
from tests.sbs_factories import make_campaign, make_item

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
                       reason="SQLite's locking is what is tested"),
]

ANNOTATORS = 6
CYCLES = 10
TOKEN = re.compile(r'hx-post="/sbs/judge/([^/"]+)/"')
KEY = re.compile(r'name="submit_key" value="([^"]+)"')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def logged_in(base: str, username: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/login/")
    session.post(f"{base}/login/", data={"username": username, "password": "pw-" + username,
                                         "csrfmiddlewaretoken": CSRF.search(page.text).group(1)})
    return session


class Annotator:
    """One browser session, speaking htmx as the judging page does."""

    def __init__(self, base: str, username: str, campaign_id: int):
        self.base, self.campaign_id, self.session = base, campaign_id, logged_in(base, username)
        self.failures: list[str] = []
        self.undone = 0
        self.read(self.session.get(f"{base}/sbs/campaigns/{campaign_id}/judge/"), "judge page")

    def read(self, response, what: str) -> str:
        if response.status_code != 200:
            self.failures.append(f"{what}: HTTP {response.status_code}")
            return ""
        token, key = TOKEN.search(response.text), KEY.search(response.text)
        self.token, self.key = (token.group(1), key.group(1)) if token and key else (None, None)
        return response.text

    def post(self, path: str, what: str, data: dict | None = None) -> str:
        headers = {"HX-Request": "true", "X-CSRFToken": self.session.cookies.get("csrftoken", "")}
        return self.read(self.session.post(f"{self.base}{path}", data=data or {}, headers=headers, timeout=60), what)

    def submit(self) -> None:
        if self.token:
            self.post(f"/sbs/judge/{self.token}/", "submit", {"choice": "1", "submit_key": self.key})

    def skip(self) -> None:
        if self.token:
            self.post(f"/sbs/judge/{self.token}/skip/", "skip", {"submit_key": self.key})

    def undo(self) -> None:
        if "taken back" in self.post(f"/sbs/campaigns/{self.campaign_id}/undo/", "undo"):
            self.undone += 1

    def work(self, deadline: float) -> None:
        try:
            for _ in range(CYCLES):
                if time.monotonic() > deadline:
                    return
                self.submit()
                self.undo()
                self.submit()
                self.skip()
                self.undo()
        except Exception as exc:  # a broken connection is a failure to report, not a silent thread death
            self.failures.append(repr(exc))


def mark_gold(base: str, tokens: list[str], failures: list[str], deadline: float) -> None:
    """An analyst making items gold and regular again meanwhile (a plain form post, answered by a redirect)."""
    session = logged_in(base, "analyst")
    try:
        for round_ in range(CYCLES):
            for token in tokens:
                if time.monotonic() > deadline:
                    return
                response = session.post(f"{base}/sbs/items/{token}/gold/", allow_redirects=False, timeout=60,
                                        data={"expected_preference": "" if round_ % 2 else "1",
                                              "csrfmiddlewaretoken": session.cookies.get("csrftoken", "")})
                if response.status_code != 302:
                    failures.append(f"gold: HTTP {response.status_code}")
    except Exception as exc:
        failures.append(repr(exc))


def test_concurrent_submit_skip_undo_and_gold_never_fail_on_sqlite(live_server, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    campaign = make_campaign(judgments_per_item=ANNOTATORS)
    items = [make_item(campaign=campaign, b_on_left=bool(i % 2)) for i in range(CYCLES + 5)]
    make_user("analyst", ANALYST)
    names = [make_user(f"load{i}", ANNOTATOR).username for i in range(ANNOTATORS)]
    annotators = [Annotator(live_server.url, name, campaign.pk) for name in names]

    deadline = time.monotonic() + 120
    gold_failures: list[str] = []
    threads = [threading.Thread(target=annotator.work, args=(deadline,)) for annotator in annotators]
    threads.append(threading.Thread(target=mark_gold, args=(live_server.url, [item.token for item in items[:3]],
                                                            gold_failures, deadline)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    failures = Counter([failure for annotator in annotators for failure in annotator.failures] + gold_failures)
    assert not failures, f"failed requests: {dict(failures)}"
    # Every undo was really done (not answered with "nothing to undo"), and what remains is one judgment per
    # annotator and item submitted: each cycle's first answer was taken back and given again, its skip undone.
    assert sum(annotator.undone for annotator in annotators) == 2 * CYCLES * ANNOTATORS
    judgments = Judgment.objects.filter(campaign=campaign)
    assert judgments.filter(skipped=True).count() == 0
    assert judgments.count() == CYCLES * ANNOTATORS
