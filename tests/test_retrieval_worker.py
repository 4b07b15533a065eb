"""A real Celery worker builds a dense version started from the admin; the job's progress moves while it trains."""
import time

import pytest
from django.urls import reverse

from retrieval.models import RetrieverVersion
from retrieval.versions import version_create
from jobs.models import Job
from tests.retrieval_factories import all_texts, make_dataset, tiny_encoder_folder

from .worker import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_admin_build_runs_on_the_ml_queue_and_the_progress_bar_moves(real_broker, admin_user, client, tmp_path):
    dataset = make_dataset()
    encoder = tiny_encoder_folder(tmp_path / "enc", all_texts())
    version = version_create(dataset=dataset, name="worker-dense", kind="dense", base_model=str(encoder),
                             config={"samples_per_epoch": 240, "batch_size": 4})
    client.force_login(admin_user)
    log = tmp_path / "worker.log"
    with celery_worker(queues="ml", log_path=log):
        wait_for(lambda: log.exists() and "ready." in log.read_text(), timeout=120)
        response = client.post(reverse("admin:retrieval_retrieverversion_changelist"),
                               {"action": "start_build", "_selected_action": [version.pk]})
        job = Job.objects.get(kind="retriever_build")
        assert response.status_code == 302 and job.queue == "ml"
        seen = set()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            job.refresh_from_db()
            seen.add((job.stage, job.done, job.total))
            if not job.is_active:
                break
            time.sleep(0.05)
    job.refresh_from_db()
    version.refresh_from_db()
    assert job.status == "succeeded", job.error or log.read_text()[-3000:]
    assert version.status == RetrieverVersion.Status.READY
    training_points = {done for stage, done, total in seen if stage == "training encoder" and 0 < done < total}
    assert len(training_points) >= 2, seen  # the bar moved during training, not only at the end
    page = client.get(reverse("job_progress", args=[job.pk]))
    assert b'value="100"' in page.content
