"""Thin HTTP layer for the jobs pages (the progress partial is embeddable anywhere)."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required, user_passes_test
from django.core.paginator import Paginator
from django.http import HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.roles import is_admin, is_analyst

from .models import Job
from .services import BrokerUnavailable, job_cancel, job_retry

staff_required = user_passes_test(lambda u: u.is_authenticated and is_analyst(u))


@login_required
@staff_required
def job_list(request):
    jobs = Job.objects.select_related("created_by")
    if kind := request.GET.get("kind"):
        jobs = jobs.filter(kind=kind)
    page = Paginator(jobs, 25).get_page(request.GET.get("page"))
    return render(request, "jobs/list.html", {"page": page, "kind": kind})


@login_required
@staff_required
def job_detail(request, pk: int):
    return render(request, "jobs/detail.html", {"job": get_object_or_404(Job, pk=pk)})


@login_required
@staff_required
def job_progress(request, pk: int):
    """The htmx partial: re-polls itself every second while the job is active."""
    return render(request, "jobs/_progress.html", {"job": get_object_or_404(Job, pk=pk)})


@login_required
@staff_required
def job_details(request, pk: int):
    """The htmx partial of times, result and log: re-polls itself every 2 s while the job is active."""
    return render(request, "jobs/_details.html", {"job": get_object_or_404(Job, pk=pk)})


@login_required
@require_POST
def job_cancel_view(request, pk: int):
    if not is_admin(request.user):
        return HttpResponseForbidden("Only admins can cancel jobs.")
    job = job_cancel(job=get_object_or_404(Job, pk=pk))
    messages.info(request, f"Cancellation requested for {job}.")
    return _back(request, job)


@login_required
@require_POST
def job_retry_view(request, pk: int):
    if not is_admin(request.user):
        return HttpResponseForbidden("Only admins can retry jobs.")
    job = get_object_or_404(Job, pk=pk)
    try:
        job_retry(job=job)
        messages.success(request, f"{job} was sent again; it resumes from what it already wrote.")
    except BrokerUnavailable as exc:
        messages.error(request, str(exc))
    return _back(request, job)


def _back(request, job):
    if request.htmx:
        return render(request, "jobs/_progress.html", {"job": job})
    return redirect("job_detail", pk=job.pk)
