"""The first dense search in a web request never loads a model inside the request (#15, #18.14).

A dense version whose searcher is not in memory starts loading in a background thread (one per version) and the
search page answers "loading" at once, then polls until the results are there; the API answers 503 with
Retry-After, then 200. Workers and commands (`wait=True`) keep loading in the caller. A web server process warms
the newest dense versions at start; commands and tests never do.
"""
import os
import subprocess
import sys
import threading
import time
from html import unescape
from pathlib import Path

import pytest
from django.urls import reverse

from retrieval import search, warmup
from retrieval.search import IndexUnavailable, SearcherLoading, clear_searcher_cache, is_loaded, loaded_searcher
from retrieval.versions import version_build
from tests.api_builders import token_client
from tests.test_retrieval_versions import bm25, dataset, tiny_encoder  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def dense(dataset, tiny_encoder):
    version = version_build(dataset=dataset, name="dense-zs", kind="dense", config={"train": False},
                            base_model=str(tiny_encoder))
    clear_searcher_cache()  # a fresh web process: nothing in memory
    return version


@pytest.fixture
def slow_loader(monkeypatch):
    """The real loader, holding dense models until the test sets `release`; `calls` counts the dense loads."""
    real = search._load_searcher
    state = type("SlowLoader", (), {})()
    state.release, state.started, state.calls = threading.Event(), threading.Event(), []

    def load(version, folder):
        if version.kind != "dense":
            return real(version, folder)
        state.calls.append(version.name)
        state.started.set()
        assert state.release.wait(20), "the test never released the loader"
        return real(version, folder)

    monkeypatch.setattr(search, "_load_searcher", load)
    yield state
    state.release.set()


def wait_for_loader(version):
    loader = search._loaders.get(version.pk)
    if loader is not None:
        loader.join(20)


def finish_loading(version, state):
    state.release.set()
    wait_for_loader(version)
    assert is_loaded(version)


def test_search_page_answers_loading_at_once_then_polls_until_the_results_are_there(client, analyst, bm25, dense,
                                                                                    slow_loader):
    client.force_login(analyst)
    params = {"q": "frying pan", "a": "bm25-v1", "b": "dense-zs", "k": 5}
    started = time.monotonic()
    first = client.get(reverse("retrieval_search"), params, HTTP_HX_REQUEST="true").content.decode()
    assert time.monotonic() - started < 5  # the loader is still held: the request did not wait for it
    assert "The model for <strong>dense-zs</strong> is loading; this page refreshes by itself." in first
    assert 'hx-trigger="load delay:2s"' in first and '<li class="hit' not in first
    assert slow_loader.started.wait(5) and search._loaders[dense.pk].is_alive()

    poll_url = unescape(first.split('hx-get="', 1)[1].split('"', 1)[0])
    assert poll_url.startswith(reverse("retrieval_search") + "?") and "q=frying+pan" in poll_url
    assert "is loading" in client.get(poll_url, HTTP_HX_REQUEST="true").content.decode()  # a poll while loading
    full_page = client.get(reverse("retrieval_search"), params).content.decode()  # a bookmarked URL polls too
    assert "<html" in full_page and 'hx-trigger="load delay:2s"' in full_page

    finish_loading(dense, slow_loader)
    done = client.get(poll_url, HTTP_HX_REQUEST="true").content.decode()
    assert "is loading" not in done and "hx-trigger" not in done
    assert done.count('<li class="hit') == len(search.retrieve(bm25, "frying pan", 5)) + 5
    assert "Cast iron frying pan 28 cm" in done
    assert slow_loader.calls == ["dense-zs"]  # three requests, one load


def test_api_answers_503_with_retry_after_while_loading_then_200(analyst, dense, slow_loader):
    api = token_client(analyst)
    params = {"version": "dense-zs", "q": "frying pan", "k": 3}
    loading = api.get("/api/search/", params)
    assert loading.status_code == 503 and loading["Retry-After"] == "5"
    assert loading.json() == {
        "status": 503, "code": "model_loading",
        "message": "The model for dense-zs is loading in the background. Retry after 5 seconds.",
    }
    assert api.get("/api/search/", params).status_code == 503  # asked again too soon

    finish_loading(dense, slow_loader)
    ready = api.get("/api/search/", params)
    assert ready.status_code == 200 and len(ready.json()["hits"]) == 3
    assert slow_loader.calls == ["dense-zs"]


def test_concurrent_requests_and_a_worker_share_one_load(dense, slow_loader):
    answers, barrier = [], threading.Barrier(8)

    def web_request():
        barrier.wait()
        try:
            answers.append(loaded_searcher(dense, wait=False))
        except SearcherLoading as exc:
            answers.append(exc.names)

    def worker():  # Celery tasks and benchmarks wait for the searcher
        barrier.wait()
        answers.append(loaded_searcher(dense))

    threads = [threading.Thread(target=web_request) for _ in range(7)] + [threading.Thread(target=worker)]
    for thread in threads:
        thread.start()
    assert slow_loader.started.wait(5)
    deadline = time.monotonic() + 10
    while len(answers) < 7 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert answers == [["dense-zs"]] * 7  # every web request answered "loading" while the model is held
    assert threads[-1].is_alive()  # the worker waits for the load
    finish_loading(dense, slow_loader)
    for thread in threads:
        thread.join(20)
    assert answers[-1] is loaded_searcher(dense, wait=False)  # the worker got the one searcher that was loaded
    assert slow_loader.calls == ["dense-zs"]


def test_a_failed_background_load_is_reported_to_the_next_request_then_retried(analyst, dense, monkeypatch):
    calls = []

    def broken(version, folder):
        calls.append(version.name)
        raise IndexUnavailable("its encoder could not be loaded: disk on fire.")

    monkeypatch.setattr(search, "_load_searcher", broken)
    api = token_client(analyst)
    params = {"version": "dense-zs", "q": "frying pan"}
    assert api.get("/api/search/", params).status_code == 503
    wait_for_loader(dense)
    failed = api.get("/api/search/", params)
    assert failed.status_code == 409 and "disk on fire" in failed.json()["message"]
    assert api.get("/api/search/", params).status_code == 503  # the next one tries again
    wait_for_loader(dense)
    assert calls == ["dense-zs", "dense-zs"]


def test_bm25_and_hybrid_searches_are_unchanged_but_a_hybrid_waits_for_its_dense_part(analyst, dataset, bm25, dense,
                                                                                      slow_loader):
    hybrid = version_build(dataset=dataset, name="hybrid", kind="hybrid", config={"components": ["bm25-v1", "dense-zs"]})
    api = token_client(analyst)
    assert api.get("/api/search/", {"version": "bm25-v1", "q": "frying pan"}).status_code == 200
    loading = api.get("/api/search/", {"version": "hybrid", "q": "frying pan"})
    assert loading.status_code == 503 and "dense-zs" in loading.json()["message"]
    finish_loading(dense, slow_loader)
    assert api.get("/api/search/", {"version": hybrid.name, "q": "frying pan"}).status_code == 200


@pytest.mark.parametrize(("argv", "environ", "serves"), [
    (["manage.py", "migrate"], {}, False),
    (["manage.py", "test"], {}, False),
    (["manage.py", "import_bundle", "x"], {}, False),
    (["/venv/bin/pytest", "tests"], {}, False),
    (["/venv/bin/celery", "-A", "celery_worker", "worker"], {}, False),
    (["manage.py", "runserver"], {}, False),  # the autoreloader's parent only watches files
    (["manage.py", "runserver"], {"RUN_MAIN": "true"}, True),
    (["manage.py", "runserver", "0.0.0.0:8000", "--noreload"], {}, True),
    (["/venv/bin/gunicorn", "config.wsgi"], {}, True),
    (["/venv/lib/python3.12/site-packages/gunicorn/__main__.py", "config.wsgi"], {}, True),
    (["/venv/bin/uvicorn", "config.asgi:application"], {}, True),
])
def test_only_a_web_server_process_counts_as_one(argv, environ, serves):
    assert warmup.is_web_server(argv, environ) is serves


def test_start_at_boot_respects_the_process_and_the_settings(settings, monkeypatch):
    started = []
    monkeypatch.setattr(warmup, "start_warmup", lambda: started.append(True) or "thread")
    settings.WARM_SEARCHERS_AT_START = True
    assert warmup.start_at_boot() is None and not started  # these tests are no web server
    monkeypatch.setattr(sys, "argv", ["/venv/bin/gunicorn", "config.wsgi"])
    settings.WARM_SEARCHERS_AT_START = False
    assert warmup.start_at_boot() is None and not started
    settings.WARM_SEARCHERS_AT_START = True
    assert warmup.start_at_boot() == "thread" and started == [True]


def test_warm_up_loads_the_newest_dense_versions_up_to_the_setting(settings, dataset, tiny_encoder, bm25):
    older = version_build(dataset=dataset, name="dense-old", kind="dense", config={"train": False},
                          base_model=str(tiny_encoder))
    newer = version_build(dataset=dataset, name="dense-new", kind="dense", config={"train": False},
                          base_model=str(tiny_encoder))
    clear_searcher_cache()
    settings.SEARCH_WARMUP_VERSIONS = 0
    assert warmup.start_warmup() is None and warmup.warm_searchers() == []
    settings.SEARCH_WARMUP_VERSIONS = 1
    assert warmup.warm_searchers() == ["dense-new"]
    assert is_loaded(newer) and not is_loaded(older) and not is_loaded(bm25)
    settings.SEARCH_WARMUP_VERSIONS = 2
    assert warmup.warm_searchers() == ["dense-new", "dense-old"] and is_loaded(older)


@pytest.mark.django_db(transaction=True)
def test_a_web_server_warms_in_the_background_so_the_first_search_finds_the_model(analyst, dense, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/venv/bin/gunicorn", "config.wsgi"])
    thread = warmup.start_at_boot()
    assert thread is not None and thread.name == "warm-searchers"
    thread.join(60)
    assert is_loaded(dense)
    first = token_client(analyst).get("/api/search/", {"version": "dense-zs", "q": "frying pan", "k": 2})
    assert first.status_code == 200 and len(first.json()["hits"]) == 2


def django_process_log(tmp_path, argv: list[str]) -> str:
    """Start Django as `argv` would (AppConfig.ready runs) on an empty database and return its log."""
    code = (
        "import sys, threading, django; sys.argv = %r; django.setup()\n"
        "for t in threading.enumerate():\n"
        "    if t.name == 'warm-searchers': t.join(60)\n"
        "print('setup done')\n" % (argv,)
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_ENV_FILE": "", "DEBUG": "true",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}", "VAR_DIR": str(tmp_path)}
    env.pop("RUN_MAIN", None)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180)
    assert "setup done" in done.stdout, done.stderr
    return done.stderr


def test_app_ready_starts_the_warm_up_in_a_web_server_and_never_in_a_command(tmp_path):
    # On an empty database the warm-up thread can only say that it could not read the versions.
    assert "Searchers not warmed" in django_process_log(tmp_path, ["/venv/bin/gunicorn", "config.wsgi"])
    assert "Searchers not warmed" not in django_process_log(tmp_path, ["manage.py", "migrate"])


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_page_in_a_browser_says_loading_then_shows_the_results_by_itself(page, live_server, analyst, bm25, dense,
                                                                              slow_loader):
    from tests.browser import log_in

    log_in(page, live_server, "analyst", "pw-analyst")
    page.goto(f"{live_server.url}{reverse('retrieval_search')}")
    page.fill("#id_q", "frying pan")
    page.select_option("#id_a", "bm25-v1")
    page.select_option("#id_b", "dense-zs")
    page.click(".compare-form button[type=submit]")
    notice = page.locator("#comparison .search-loading")
    notice.wait_for(timeout=5000)
    assert "The model for dense-zs is loading; this page refreshes by itself." in notice.inner_text()
    page.wait_for_timeout(2500)  # one poll while the model is held: still loading, still polling
    assert page.locator("#comparison .search-loading").count() == 1
    finish_loading(dense, slow_loader)
    page.locator("#comparison section.sbs-side").first.wait_for(timeout=8000)
    assert page.locator("#comparison .search-loading").count() == 0
    assert "Cast iron frying pan 28 cm" in page.locator("#comparison").inner_text()
    assert slow_loader.calls == ["dense-zs"]
