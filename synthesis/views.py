"""Staff pages for synthesis: start a job (config form), watch it live, review its statistics and a sample,
train a relevance judge, and build a treatment retriever from a finished job. Thin: forms validate, services act."""
from django.contrib import messages
from django.http import HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.roles import ADMIN, ANALYST, is_admin, role_required
from jobs.models import Job
from jobs.services import BrokerUnavailable

from .forms import JudgeTrainingForm, SynthesisJobForm, TreatmentForm
from .judging.training import judge_training_start
from .models import JudgeVersion, SynthesisJob
from .selectors import synthesis_counts, synthesis_sample, synthesis_statistics
from .services import synthesis_job_start
from .treatment import treatment_version_start

def _synthesis_jobs():
    return Job.objects.filter(kind=SynthesisJob.KIND).select_related("created_by")


@role_required(ANALYST)
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


@role_required(ANALYST)
def synthesis_job(request, pk: int):
    job = get_object_or_404(_synthesis_jobs(), pk=pk)
    return render(request, "synthesis/job.html", {"job": job, **_job_context(job),
                                                  "treatment_form": TreatmentForm()})


@role_required(ANALYST)
def synthesis_job_results(request, pk: int):
    """The htmx partial under the progress bar: counts while running, statistics and a sample once done."""
    job = get_object_or_404(_synthesis_jobs(), pk=pk)
    return render(request, "synthesis/_results.html", {"job": job, **_job_context(job)})


def _job_context(job: Job) -> dict:
    if job.status == Job.Status.SUCCEEDED:
        return {"stats": synthesis_statistics(job=job), "sample": synthesis_sample(job=job)}
    return {"stats": synthesis_counts(job=job), "sample": None}


@require_POST
@role_required(ADMIN, message="Only admins can train judges.")
def judge_train(request):
    form = JudgeTrainingForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Judge not started: {form.errors.as_text()}")
        return redirect("synthesis_home")
    try:
        version = judge_training_start(config=form.cleaned_data["config"], user=request.user)
    except (ValueError, BrokerUnavailable) as exc:
        messages.error(request, str(exc))
        return redirect("synthesis_home")
    messages.success(request, f"Training judge {version.name} (job #{version.job_id}).")
    return redirect("job_detail", pk=version.job_id) if version.job_id else redirect("synthesis_home")


@require_POST
@role_required(ADMIN, message="Only admins can train treatment versions.")
def treatment_train(request, pk: int):
    job = get_object_or_404(_synthesis_jobs(), pk=pk)
    form = TreatmentForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Treatment not started: {form.errors.as_text()}")
        return redirect("synthesis_job", pk=pk)
    data = form.cleaned_data
    try:
        version = treatment_version_start(job=job, base_version=data["base_version"], name=data.get("name") or "",
                                          ratio=data.get("ratio"), per_pair=data.get("per_pair"),
                                          only_incremental=data["only_incremental"],
                                          user=request.user)
    except (ValueError, BrokerUnavailable) as exc:
        messages.error(request, str(exc))
        return redirect("synthesis_job", pk=pk)
    messages.success(request, f"Building treatment version {version.name} from job #{job.pk}.")
    return redirect("job_detail", pk=version.build_job_id) if version.build_job_id else redirect("synthesis_job", pk=pk)
