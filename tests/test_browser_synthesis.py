"""In a real browser, with a real Celery worker: an admin starts a synthesis job from the synthesis page and
watches its progress bar move to done, then sees the job's statistics, without reloading the page.

The rewriter and the judge are the `openai` backends talking to a slow local chat server (tests/synthesis_support),
so the job takes a few seconds and its progress can be seen moving.
"""
import re

import pytest

from jobs.models import Job
from synthesis.models import MinedQuery, SyntheticPair

from .browser import log_in
from .synthesis_support import ChatServer, tail_world, word_overlap_chat
from .worker import celery_worker, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

def test_admin_starts_a_synthesis_job_and_its_progress_bar_moves_to_done(page, live_server, real_broker, settings,
                                                                         admin_user, tmp_path):
    dataset, strong, baseline = tail_world(8)

    with ChatServer(word_overlap_chat, delay=0.2).running() as server:
        settings.OPENAI_BASE_URL, settings.OPENAI_MODEL = server.base_url, "local-test"
        log = tmp_path / "worker.log"
        with celery_worker(log_path=log, OPENAI_BASE_URL=server.base_url, OPENAI_MODEL="local-test"):
            wait_for(lambda: log.exists() and "ready." in log.read_text(), timeout=90)
            log_in(page, live_server, "boss", "pw-boss")
            page.goto(f"{live_server.url}/synthesis/")
            form = page.locator("form", has=page.locator("#id_rewriter_backend"))
            form.locator("#id_dataset").select_option(label=str(dataset))
            form.locator("#id_retriever_version").select_option(label=str(strong))
            form.locator("#id_baseline_version").select_option(label=str(baseline))
            form.locator("#id_judge_backend").select_option("llm")
            form.locator("#id_rewriter_backend").select_option("openai")
            for field, value in (("candidates", "2"), ("retrieve_k", "4"), ("baseline_k", "2"), ("chunk_size", "2")):
                form.locator(f"#id_{field}").fill(value)
            form.locator("button[type=submit]").click()

            page.wait_for_url(re.compile(r"/synthesis/jobs/\d+/$"))
            job = Job.objects.get(kind="synthesis")
            assert page.get_by_text(f"Synthesis job #{job.pk} started.").is_visible()
            # Record every value the bar shows while htmx polls it (it is swapped, so look it up each time).
            page.evaluate("""() => { window.__marker = 1; window.__seen = [];
                setInterval(() => { const bar = document.querySelector('.job-progress progress');
                                    if (bar) { window.__seen.push(Number(bar.value)); } }, 100); }""")
            page.wait_for_selector(f"#job-{job.pk}[data-status=succeeded]", timeout=180_000)

    seen = page.evaluate("window.__seen")
    assert any(0 < value < 100 for value in seen), f"the bar never showed a value between 0 and 100: {set(seen)}"
    assert page.locator(f"#job-{job.pk} progress").get_attribute("value") == "100"
    assert page.evaluate("window.__marker") == 1  # the page was never reloaded
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.counts["queries_done"] == MinedQuery.objects.filter(job=job).count() >= 8
    kept = SyntheticPair.objects.filter(job=job).count()
    assert kept > 0
    page.wait_for_selector("#synthesis-results h2:text('Statistics')")  # the statistics replace the counts
    assert f"Kept pairs\n{kept}" in page.locator("#synthesis-results").inner_text()
