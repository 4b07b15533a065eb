"""Staff pages for synthesis: start a job (config form), watch it live, review its statistics and a sample,
train a relevance judge, and build a treatment retriever from a finished job. Thin: forms validate, services act."""
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.roles import ADMIN, ANALYST, require_role, role_required
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
        require_role(request.user, ADMIN, message="Only admins can start synthesis jobs.")
        if form.is_valid():
            try:
                job = synthesis_job_start(config=form.cleaned_data["config"], user=request.user)
            except (ValueError, BrokerUnavailable) as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Synthesis job #{job.pk} started.")
                return redirect("synthesis_job", pk=job.pk)
    return _home(request, form=form, judge_form=JudgeTrainingForm())


def _home(request, *, form, judge_form):
    """The synthesis page (a bound form shows its errors, summed up at its top)."""
    return render(request, "synthesis/home.html", {
        "form": form, "judge_form": judge_form, "jobs": _synthesis_jobs()[:20],
        "judges": JudgeVersion.objects.select_related("dataset")[:20]})


@role_required(ANALYST)
def synthesis_job(request, pk: int):
    job = get_object_or_404(_synthesis_jobs(), pk=pk)
    return _job_page(request, job, TreatmentForm())


def _job_page(request, job: Job, treatment_form: TreatmentForm):
    return render(request, "synthesis/job.html", {"job": job, **_job_context(job), "treatment_form": treatment_form})


@role_required(ANALYST)
def synthesis_job_results(request, pk: int):
    """The htmx partial under the progress bar: counts while running, statistics and a sample once done."""
    job = get_object_or_404(_synthesis_jobs(), pk=pk)
    return render(request, "synthesis/_results.html", {"job": job, **_job_context(job)})


def _job_context(job: Job) -> dict:
    if job.status == Job.Status.SUCCEEDED:
        return {"stats": synthesis_statistics(job=job), "sample": synthesis_sample(job=job),
                "timings": (job.result or {}).get("timings")}
    return {"stats": synthesis_counts(job=job), "sample": None}


@require_POST
@role_required(ADMIN, message="Only admins can train judges.")
def judge_train(request):
    form = JudgeTrainingForm(request.POST)
    if form.is_valid():
        try:
            version = judge_training_start(config=form.cleaned_data["config"], user=request.user)
        except (ValueError, BrokerUnavailable) as exc:
            form.add_error(None, str(exc))
    if form.errors:
        return _home(request, form=SynthesisJobForm(), judge_form=form)
    messages.success(request, f"Training judge {version.name} (job #{version.job_id}).")
    return redirect("job_detail", pk=version.job_id) if version.job_id else redirect("synthesis_home")


@require_POST
@role_required(ADMIN, message="Only admins can train treatment versions.")
def treatment_train(request, pk: int):
    job = get_object_or_404(_synthesis_jobs(), pk=pk)
    form = TreatmentForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            version = treatment_version_start(job=job, base_version=data["base_version"],
                                              name=data.get("name") or "", ratio=data.get("ratio"),
                                              per_pair=data.get("per_pair"),
                                              only_incremental=data["only_incremental"],
                                              labels=data.get("labels") or "hard", user=request.user)
        except (ValueError, BrokerUnavailable) as exc:
            form.add_error(None, str(exc))
    if form.errors:
        return _job_page(request, job, form)
    messages.success(request, f"Building treatment version {version.name} from job #{job.pk}.")
    return redirect("job_detail", pk=version.build_job_id) if version.build_job_id else redirect("synthesis_job", pk=pk)
