"""A treatment retriever from a finished synthesis job: the dense baseline retrained with the job's pairs added."""
from __future__ import annotations

from django.utils.text import slugify

from jobs.models import Job

from .models import MinedQuery, SynthesisJob, SyntheticPair


LABELS = ("hard", "soft", "both")


def treatment_version_start(*, job: Job, base_version, name: str = "", ratio: float | None = None,
                            per_pair: float | None = None, only_incremental: bool = False, labels: str = "hard",
                            user=None):
    """Build a dense treatment version: the baseline's own config plus this job's synthetic pairs.

    `base_version` is the dense baseline whose training config is copied. With `labels="hard"` the kept pairs
    enter through the retrieval app's "synthetic" pair source as InfoNCE positives, either added on top of the
    baseline's examples (`per_pair` examples per pair: the treatment sees every log example the baseline sees) or
    taking a `ratio` of them (None and None: natural proportion). With `labels="soft"` they enter instead as
    GPL-style MarginMSE triples (kept pair, one of the judge's rejections of that query, the judge's score margin;
    the "synthetic-margins" source), `per_pair` (default 1) examples per triple, added on top; "both" does both.
    The new version's manifest records the examples of each source.
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
    if labels not in LABELS:
        raise ValueError(f"labels must be one of {', '.join(LABELS)}, got {labels!r}.")
    if labels != "hard" and ratio is not None:
        raise ValueError("Soft labels are added on top of the log examples (per_pair), not given a ratio.")
    if labels != "hard" and not MinedQuery.objects.filter(job=job).exclude(hard_negatives=[]).exists():
        raise ValueError(f"Synthesis job #{job.pk} recorded no hard negatives (it ran before soft labels existed, or "
                         "with hard_negatives_per_query 0): run synthesis again to train with soft labels.")
    config = {key: value for key, value in (base_version.hyperparams or {}).items()}
    config["extra_sources"] = [s for s in config.get("extra_sources", []) if s.get("name") != "synthetic"]
    config["margin_sources"] = [s for s in config.get("margin_sources", []) if s.get("name") != "synthetic-margins"]
    if labels in ("hard", "both"):
        source = {"name": "synthetic", "params": {"job_ids": [job.pk], "only_incremental": only_incremental}}
        if ratio is not None:
            source["ratio"] = float(ratio)
        if per_pair is not None:
            source["per_pair"] = float(per_pair)
        config["extra_sources"].append(source)
    if labels in ("soft", "both"):
        if only_incremental:
            raise ValueError("only_incremental applies to hard labels only.")
        config["margin_sources"].append({"name": "synthetic-margins", "params": {"job_ids": [job.pk]},
                                         "per_triple": float(per_pair or 1.0)})
    name = name or slugify(f"{base_version.name}-synth-{job.pk}")[:100]
    return version_build(dataset=base_version.dataset, name=name, kind=RetrieverVersion.Kind.DENSE, config=config,
                         base_model=base_version.base_model, seed=base_version.seed, user=user)
