"""In a real browser: logging in, and a job's progress bar that moves to done through htmx polling."""
import pytest

from jobs.models import Job

from .browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_wrong_password_shows_a_clear_message(page, live_server, admin_user):
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "not-the-password")
    page.press("#id_password", "Enter")
    assert page.get_by_role("alert").inner_text().startswith("Your username and password didn't match")


def test_job_progress_bar_moves_to_done_without_reload(page, live_server, admin_user):
    job = Job.objects.create(kind="ping", task_name="sbsapp.tasks.ping", status=Job.Status.RUNNING, done=1, total=4)
    log_in(page, live_server, "boss", "pw-boss")
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    bar = page.locator(f"#job-{job.pk} progress")
    assert bar.get_attribute("value") == "25"
    page.evaluate("window.__marker = 1")  # survives only if the page is not reloaded
    Job.objects.filter(pk=job.pk).update(done=3)
    page.wait_for_function(f"document.querySelector('#job-{job.pk} progress').value == 75")
    Job.objects.filter(pk=job.pk).update(done=4, status=Job.Status.SUCCEEDED)
    page.wait_for_selector(f"#job-{job.pk}[data-status=succeeded]")
    assert bar.get_attribute("value") == "100"
    assert page.evaluate("window.__marker") == 1
