"""Thin HTTP layer for the jobs pages (the progress partial is embeddable anywhere). The list and a queued job's
details say when nothing is taking jobs off the queue (`queue_health`)."""
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.roles import ADMIN, ANALYST, role_required

from .kinds import kind_choices
from .models import Job
from .presentation import job_outputs, job_title
from .queue_health import queue_health
from .services import BrokerUnavailable, NotRetryable, job_cancel, job_retry

analyst_required = role_required(ANALYST, message="Jobs are shown to analysts and admins.")


@analyst_required
def job_list(request):
    jobs = Job.objects.select_related("created_by")
    if kind := request.GET.get("kind"):
        jobs = jobs.filter(kind=kind)
    page = Paginator(jobs, 25).get_page(request.GET.get("page"))
    kinds = kind_choices()
    return render(request, "jobs/list.html", {"page": page, "kind": kind, "kinds": kinds,
                                              "kind_title": dict(kinds).get(kind, kind), "queue": queue_health()})


def _details_context(job: Job) -> dict:
    return {"job": job, "outputs": job_outputs(job),
            "queue": queue_health() if job.status == Job.Status.QUEUED else None}


@analyst_required
def job_detail(request, pk: int):
    return render(request, "jobs/detail.html", _details_context(get_object_or_404(Job, pk=pk)))


@analyst_required
def job_progress(request, pk: int):
    """The htmx partial: re-polls itself every second while the job is active."""
    return render(request, "jobs/_progress.html", {"job": get_object_or_404(Job, pk=pk)})


@analyst_required
def job_details(request, pk: int):
    """The htmx partial of times, result and log: re-polls itself every 2 s while the job is active."""
    return render(request, "jobs/_details.html", _details_context(get_object_or_404(Job, pk=pk)))


@role_required(ADMIN, message="Only admins can cancel jobs.")
@require_POST
def job_cancel_view(request, pk: int):
    job = job_cancel(job=get_object_or_404(Job, pk=pk))
    messages.info(request, f"Cancellation requested for {job_title(job)}.")
    return _back(request, job)


@role_required(ADMIN, message="Only admins can retry jobs.")
@require_POST
def job_retry_view(request, pk: int):
    job = get_object_or_404(Job, pk=pk)
    try:
        job = job_retry(job=job)
        messages.success(request, f"{job_title(job)} was sent again; it resumes from what it already wrote.")
    except (BrokerUnavailable, NotRetryable) as exc:
        job.refresh_from_db()
        messages.error(request, str(exc))
    return _back(request, job)


def _back(request, job):
    if request.htmx:
        return render(request, "jobs/_progress.html", {"job": job})
    return redirect("job_detail", pk=job.pk)
