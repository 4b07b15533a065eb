"""Warming a web process's searchers at start, so that the first dense search does not wait for a model.

`RetrievalConfig.ready` calls `start_at_boot()`: when settings.WARM_SEARCHERS_AT_START is on (the default) and
this process serves web requests (runserver's serving process, gunicorn, uvicorn, ...), a daemon thread loads
the searchers of the SEARCH_WARMUP_VERSIONS newest ready dense versions (default 2; 0 turns it off), one after
the other. Management commands, Celery workers, benchmarks and the tests never start it: they load a searcher
when they first search and wait for it. A search that arrives while its version warms up is answered "loading"
(see `search.loaded_searcher(wait=False)`) and no second load starts.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Mapping, Sequence

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, connections
from django.db.models import F

from .models import RetrieverVersion
from .search import IndexUnavailable, is_loaded, start_loading

logger = logging.getLogger(__name__)

DEFAULT_WARMUP_VERSIONS = 2
# Programs that serve the WSGI/ASGI application (sys.argv[0], or the package run with `python -m`).
WEB_SERVERS = frozenset({"gunicorn", "uvicorn", "daphne", "hypercorn", "uwsgi", "waitress-serve", "granian"})


def warmup_limit() -> int:
    """How many versions to warm: settings.SEARCH_WARMUP_VERSIONS (0 or less: none)."""
    return max(0, int(getattr(settings, "SEARCH_WARMUP_VERSIONS", DEFAULT_WARMUP_VERSIONS)))


def is_web_server(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process serves web requests: a WSGI/ASGI server, or runserver's serving process (with the
    autoreloader, the child that Django marks RUN_MAIN=true; the watching parent serves nothing)."""
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    if not argv:
        return False
    program = os.path.basename(argv[0])
    if program == "__main__.py":  # python -m gunicorn / python -m django
        program = os.path.basename(os.path.dirname(argv[0]))
    if program in WEB_SERVERS:
        return True
    if len(argv) > 1 and argv[1] == "runserver":
        return "--noreload" in argv or environ.get("RUN_MAIN") == "true"
    return False


def versions_to_warm(limit: int) -> list[RetrieverVersion]:
    """The newest ready dense versions (by build time): the ones a search most likely asks for next."""
    if limit <= 0:
        return []
    ready_dense = RetrieverVersion.objects.filter(
        status=RetrieverVersion.Status.READY, kind=RetrieverVersion.Kind.DENSE
    ).exclude(artifact_dir="")
    return list(ready_dense.order_by(F("built_at").desc(nulls_last=True), "-pk")[:limit])


def warm_searchers(limit: int | None = None) -> list[str]:
    """Load the searchers of `versions_to_warm` in this thread, one after the other (each through the version's
    background loader, so a request arriving meanwhile waits for that load instead of starting another).
    Returns the names of the versions now in memory; a version that cannot load is logged and skipped."""
    warmed = []
    for version in versions_to_warm(warmup_limit() if limit is None else limit):
        try:
            loader = start_loading(version)
        except IndexUnavailable as exc:
            logger.warning("Not warming retriever version %s: %s", version.name, exc)
            continue
        if loader is not None:
            loader.join()
        if is_loaded(version):
            warmed.append(version.name)
    return warmed


def start_warmup(limit: int | None = None) -> threading.Thread | None:
    """Warm the searchers in a daemon thread; None when the limit is 0."""
    limit = warmup_limit() if limit is None else limit
    if limit <= 0:
        return None
    thread = threading.Thread(target=_warm_in_background, args=(limit,), daemon=True, name="warm-searchers")
    thread.start()
    return thread


def start_at_boot() -> threading.Thread | None:
    """Called from AppConfig.ready: start the warm-up only in a web server process and when the setting allows."""
    if not getattr(settings, "WARM_SEARCHERS_AT_START", True) or not is_web_server():
        return None
    return start_warmup()


def _warm_in_background(limit: int) -> None:
    started = time.monotonic()
    try:
        _wait_for_apps()
        names = warm_searchers(limit)
        if names:
            logger.info("Warmed the searchers of %s in %.1f s.", ", ".join(names), time.monotonic() - started)
    except DatabaseError as exc:  # e.g. runserver on a database that is not migrated yet
        logger.warning("Searchers not warmed: the database could not be read (%s).", exc)
    except Exception:
        logger.exception("Warming the searchers failed; they load on first search instead.")
    finally:
        connections.close_all()


def _wait_for_apps(timeout: float = 60.0) -> None:
    """Called from AppConfig.ready, the thread starts before every app is ready: query only once they are."""
    deadline = time.monotonic() + timeout
    while not apps.ready and time.monotonic() < deadline:
        time.sleep(0.05)
