"""A treatment retriever from a finished synthesis job: the dense baseline retrained with the job's pairs added."""
from __future__ import annotations

from django.utils.text import slugify

from jobs.models import Job

from .models import SynthesisJob, SyntheticPair


def treatment_version_start(*, job: Job, base_version, name: str = "", ratio: float | None = None,
                            per_pair: float | None = None, only_incremental: bool = False, user=None):
    """Build a dense treatment version: the baseline's own config plus this job's synthetic pairs.

    `base_version` is the dense baseline whose training config is copied; the synthetic pairs enter through the
    retrieval app's "synthetic" pair source, either added on top of the baseline's examples (`per_pair` examples
    per pair: the treatment sees every log example the baseline sees) or taking a `ratio` of them (None and None:
    natural proportion). The new version's manifest records the examples of each source.
    """
    from retrieval.models import RetrieverVersion
    from retrieval.versions import version_build

    if job.kind != SynthesisJob.KIND or job.status != Job.Status.SUCCEEDED:
        raise ValueError(f"Job #{job.pk} is not a finished synthesis job.")
    if base_version.kind != RetrieverVersion.Kind.DENSE:
        raise ValueError(f"{base_version.name!r} is a {base_version.kind} version; a treatment retrains a dense one.")
    if base_version.dataset_id != job.config.get("dataset_id"):
        raise ValueError("The base version and the synthesis job use different datasets.")
    if not SyntheticPair.objects.filter(job=job).exists():
        raise ValueError(f"Synthesis job #{job.pk} kept no pairs; there is nothing to train on.")
    config = {key: value for key, value in (base_version.hyperparams or {}).items()}
    source = {"name": "synthetic", "params": {"job_ids": [job.pk], "only_incremental": only_incremental}}
    if ratio is not None:
        source["ratio"] = float(ratio)
    if per_pair is not None:
        source["per_pair"] = float(per_pair)
    config["extra_sources"] = [s for s in config.get("extra_sources", []) if s.get("name") != "synthetic"] + [source]
    name = name or slugify(f"{base_version.name}-synth-{job.pk}")[:100]
    return version_build(dataset=base_version.dataset, name=name, kind=RetrieverVersion.Kind.DENSE, config=config,
                         base_model=base_version.base_model, seed=base_version.seed, user=user)
