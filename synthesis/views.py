"""Staff pages for synthesis: start a job (config form), watch it live, review its statistics and a sample,
train a relevance judge, and build a treatment retriever from a finished job. Thin: forms validate, services act."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required, user_passes_test
from django.http import HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from jobs.services import BrokerUnavailable
from jobs.models import Job
from core.roles import is_admin, is_analyst

from .forms import JudgeTrainingForm, SynthesisJobForm, TreatmentForm
from .models import JudgeVersion, SynthesisJob
from .selectors import synthesis_counts, synthesis_sample, synthesis_statistics
from .services import judge_version_start, synthesis_job_start, treatment_version_start

analyst_required = user_passes_test(lambda u: u.is_authenticated and is_analyst(u))


def _synthesis_jobs():
    return Job.objects.filter(kind=SynthesisJob.KIND).select_related("created_by")


@login_required
@analyst_required
def synthesis_home(request):
    form = SynthesisJobForm(request.POST or None)
    if request.method == "POST":
        if not is_admin(request.user):
            return HttpResponseForbidden("Only admins can start synthesis jobs.")
        if form.is_valid():
            try:
                job = synthesis_job_start(config=form.cleaned_data["config"], user=request.user)
            except (ValueError, BrokerUnavailable) as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Synthesis job #{job.pk} started.")
                return redirect("synthesis_job", pk=job.pk)
    return render(request, "synthesis/home.html", {
        "form": form, "judge_form": JudgeTrainingForm(), "jobs": _synthesis_jobs()[:20],
        "judges": JudgeVersion.objects.select_related("dataset")[:20]})


@login_required
@analyst_required
def synthesis_job(request, pk: int):
    job = get_object_or_404(_synthesis_jobs(), pk=pk)
    return render(request, "synthesis/job.html", {"job": job, **_job_context(job),
                                                  "treatment_form": TreatmentForm()})


@login_required
@analyst_required
def synthesis_job_results(request, pk: int):
    """The htmx partial under the progress bar: counts while running, statistics and a sample once done."""
    job = get_object_or_404(_synthesis_jobs(), pk=pk)
    return render(request, "synthesis/_results.html", {"job": job, **_job_context(job)})


def _job_context(job: Job) -> dict:
    if job.status == Job.Status.SUCCEEDED:
        return {"stats": synthesis_statistics(job=job), "sample": synthesis_sample(job=job)}
    return {"stats": synthesis_counts(job=job), "sample": None}


@login_required
@require_POST
def judge_train(request):
    if not is_admin(request.user):
        return HttpResponseForbidden("Only admins can train judges.")
    form = JudgeTrainingForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Judge not started: {form.errors.as_text()}")
        return redirect("synthesis_home")
    data = form.cleaned_data
    try:
        version = judge_version_start(dataset=data["dataset"], name=data.get("name") or "", epochs=data["epochs"],
                                      negatives_per_positive=data["negatives_per_positive"],
                                      max_examples=data.get("max_examples"), user=request.user)
    except (ValueError, BrokerUnavailable) as exc:
        messages.error(request, str(exc))
        return redirect("synthesis_home")
    messages.success(request, f"Training judge {version.name} (job #{version.job_id}).")
    return redirect("job_detail", pk=version.job_id) if version.job_id else redirect("synthesis_home")


@login_required
@require_POST
def treatment_train(request, pk: int):
    if not is_admin(request.user):
        return HttpResponseForbidden("Only admins can train treatment versions.")
    job = get_object_or_404(_synthesis_jobs(), pk=pk)
    form = TreatmentForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Treatment not started: {form.errors.as_text()}")
        return redirect("synthesis_job", pk=pk)
    data = form.cleaned_data
    try:
        version = treatment_version_start(job=job, base_version=data["base_version"], name=data.get("name") or "",
                                          ratio=data.get("ratio"), only_incremental=data["only_incremental"],
                                          user=request.user)
    except (ValueError, BrokerUnavailable) as exc:
        messages.error(request, str(exc))
        return redirect("synthesis_job", pk=pk)
    messages.success(request, f"Building treatment version {version.name} from job #{job.pk}.")
    return redirect("job_detail", pk=version.build_job_id) if version.build_job_id else redirect("synthesis_job", pk=pk)
