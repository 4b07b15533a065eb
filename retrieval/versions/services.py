"""Services for retriever versions: create, update a draft, start a build, repair an index, evaluate.

A version is defined by its data set, kind, base model, config (hyper-parameters) and seed. Once it is built
(status `ready`) that definition and its artifacts are immutable: a different config is a new version. Only
two things may happen to a built version: an evaluation (which records metrics) and an index *repair*
(`version_rebuild_index`), which re-creates missing or corrupt index files from the version's own encoder
over the same catalogue and refuses if the catalogue has changed since the build. The jobs' work functions
are in `build.py`.
"""
from __future__ import annotations

import shutil
from typing import Callable

from django.db import transaction

from core.configs import validate_config
from jobs.models import Job
from jobs.registry import job_release
from jobs.services import job_start, lock_row

from ..models import Dataset, RetrieverVersion
from .config import DEFAULT_SEED, EvaluateJobConfig, VersionBuildConfig, VersionJobConfig, normalize_config
from .paths import artifact_relpath, version_path


class VersionImmutable(Exception):
    """A built version cannot be changed or rebuilt; create a new version instead."""


class VersionBusy(Exception):
    """The version already has a build running."""


def version_spec(*, dataset: Dataset, name: str, kind: str, config: dict | None = None, base_model: str = "",
                 seed: int = DEFAULT_SEED) -> VersionBuildConfig:
    """A new version's definition validated through `VersionBuildConfig` (no database checks); raises
    `core.configs.ConfigInvalid` (a ValueError). `base_model` and `seed` may also be given inside `config`."""
    return validate_config(VersionBuildConfig, {"dataset": dataset.name, "name": name, "kind": kind,
                                                "base_model": base_model or "", "seed": seed, "config": config or {}})


def version_definition_check(*, dataset: Dataset, spec: VersionBuildConfig) -> list[RetrieverVersion]:
    """What only the database can tell about a valid spec: a free name, usable components and hard-negative
    source. Returns the component versions (hybrid); raises ValueError."""
    if RetrieverVersion.objects.filter(name=spec.name).exists():
        raise ValueError(f"A retriever version named {spec.name!r} already exists; versions are immutable, "
                         "pick a new name.")
    hyperparams = spec.config
    components: list[RetrieverVersion] = []
    if spec.kind == RetrieverVersion.Kind.HYBRID:
        components = list(RetrieverVersion.objects.filter(name__in=hyperparams["components"]))
        missing = set(hyperparams["components"]) - {c.name for c in components}
        if missing:
            raise ValueError(f"Unknown component version(s): {sorted(missing)}.")
        for component in components:
            if component.dataset_id != dataset.pk:
                raise ValueError(f"Component {component.name!r} belongs to data set {component.dataset.name!r}.")
            if component.kind == RetrieverVersion.Kind.HYBRID:
                raise ValueError(f"Component {component.name!r} is itself hybrid; fuse bm25 and dense versions.")
    if spec.kind == RetrieverVersion.Kind.DENSE and hyperparams["hard_negatives"]:
        source_name = hyperparams["hard_negatives"]["from_version"]
        source = RetrieverVersion.objects.filter(name=source_name).first()
        if source is None or source.dataset_id != dataset.pk:
            raise ValueError(f"hard_negatives.from_version {source_name!r} is not a version of data set "
                             f"{dataset.name!r}.")
    return components


def version_create(
    *,
    dataset: Dataset,
    name: str,
    kind: str,
    config: dict | None = None,
    base_model: str = "",
    seed: int = DEFAULT_SEED,
    user=None,
) -> RetrieverVersion:
    """A draft version with a validated config; nothing is built yet."""
    spec = version_spec(dataset=dataset, name=name, kind=kind, config=config, base_model=base_model, seed=seed)
    components = version_definition_check(dataset=dataset, spec=spec)
    hybrid = spec.kind == RetrieverVersion.Kind.HYBRID
    with transaction.atomic():
        version = RetrieverVersion.objects.create(
            dataset=dataset,
            name=spec.name,
            kind=spec.kind,
            base_model=spec.base_model if spec.kind == RetrieverVersion.Kind.DENSE else "",
            hyperparams=spec.config,
            seed=spec.seed,
            artifact_dir="" if hybrid else artifact_relpath(spec.name),
            created_by=user if user is not None and getattr(user, "is_authenticated", False) else None,
        )
        if components:
            version.components.set(components)
    return version


def ensure_mutable(version: RetrieverVersion) -> None:
    if version.status == RetrieverVersion.Status.READY:
        raise VersionImmutable(
            f"Retriever version {version.name!r} is built and immutable; create a new version with the new settings."
        )


def ensure_not_building(version: RetrieverVersion) -> None:
    if version.build_job_id and Job.objects.filter(pk=version.build_job_id, status__in=Job.ACTIVE).exists():
        raise VersionBusy(f"Retriever version {version.name!r} is being built (job #{version.build_job_id}).")


def version_update(*, version: RetrieverVersion, config: dict | None = None, base_model: str | None = None,
                   seed: int | None = None) -> RetrieverVersion:
    """Change a draft (or failed) version's definition; built versions refuse. Partial artifacts are dropped."""
    ensure_mutable(version)
    ensure_not_building(version)
    components = None
    if config is not None:
        version.hyperparams = normalize_config(kind=version.kind, config=config)
        if version.kind == RetrieverVersion.Kind.HYBRID:
            components = list(RetrieverVersion.objects.filter(name__in=version.hyperparams["components"],
                                                              dataset=version.dataset).exclude(kind="hybrid"))
            if len(components) != len(set(version.hyperparams["components"])):
                raise ValueError("Every component must be a bm25 or dense version of the same data set.")
    if base_model is not None:
        version.base_model = base_model
    if seed is not None:
        version.seed = int(seed)
    version.status = RetrieverVersion.Status.DRAFT
    version.save(update_fields=["hyperparams", "base_model", "seed", "status"])
    if components is not None:
        version.components.set(components)
    if version.artifact_dir:
        shutil.rmtree(version_path(version), ignore_errors=True)
    return version


def version_build(*, user=None, inline: bool = False, **definition) -> RetrieverVersion:
    """Create a version (`definition`: `version_create`'s dataset, name, kind, config, base_model, seed) and start
    its build job (train if dense, encode, index). Returns the version; its `build_job` is the job to watch.
    `inline=True` runs the job in this process (commands, benchmarks)."""
    version = version_create(user=user, **definition)
    version_start_build(version=version, user=user, inline=inline)
    version.refresh_from_db()
    return version


def version_start_build(*, version: RetrieverVersion, user=None, inline: bool = False) -> Job:
    """Start (or resume, after a failure) the build of a draft version. Of simultaneous starts one builds, the
    others raise `VersionBusy` (the version row is claimed with the job)."""
    ensure_mutable(version)
    ensure_not_building(version)

    def claim() -> None:
        claimed = lock_row(RetrieverVersion.objects.filter(pk=version.pk))
        ensure_mutable(claimed)
        ensure_not_building(claimed)

    return _start_job(kind="retriever_build", version=version, user=user, inline=inline, field="build_job",
                      claim=claim)


def version_rebuild_index(*, version: RetrieverVersion, user=None, inline: bool = False) -> Job:
    """Repair a built version's index files (missing or corrupt) from its own encoder over the same catalogue."""
    if version.kind == RetrieverVersion.Kind.HYBRID:
        raise ValueError("A hybrid version has no index of its own; rebuild its components' indexes.")
    if version.status != RetrieverVersion.Status.READY:
        raise ValueError(f"Retriever version {version.name!r} is {version.status}; build it instead of rebuilding.")
    ensure_not_building(version)
    return _start_job(kind="retriever_rebuild_index", version=version, user=user, inline=inline, field="build_job",
                      claim=lambda: ensure_not_building(lock_row(RetrieverVersion.objects.filter(pk=version.pk))))


def version_evaluate(*, version: RetrieverVersion, user=None, inline: bool = False, depth: int = 100) -> Job:
    """Start an evaluation job on the `test` labels; its metrics land in `version.metrics`."""
    if version.status != RetrieverVersion.Status.READY:
        raise ValueError(f"Retriever version {version.name!r} is {version.status}; only ready versions can be "
                         "evaluated.")
    config = validate_config(EvaluateJobConfig, {"version_id": version.pk, "version": version.name, "depth": depth})
    return _start_job(kind="retriever_evaluate", version=version, user=user, inline=inline, field="eval_job",
                      config=config)


def _start_job(*, kind: str, version: RetrieverVersion, user, inline: bool, field: str,
               config: VersionJobConfig | None = None, claim: Callable[[], None] | None = None) -> Job:
    config = config or VersionJobConfig(version_id=version.pk, version=version.name)
    job = job_start(kind=kind, config=config.as_dict(), user=user, inline=inline, claim=claim,
                    on_created=lambda job: RetrieverVersion.objects.filter(pk=version.pk).update(**{field: job}))
    job.refresh_from_db()
    return job


@job_release("retriever_build")
def version_release_build(job: Job) -> None:
    """A build ended from outside its work (its worker died and it was cancelled, or an admin marked it failed):
    its version leaves `training`/`indexing` for `failed`, so that it can be built again."""
    RetrieverVersion.objects.filter(
        build_job=job, status__in=[RetrieverVersion.Status.TRAINING, RetrieverVersion.Status.INDEXING]
    ).update(status=RetrieverVersion.Status.FAILED,
             error=f"Build job #{job.pk} was {job.status} after its worker stopped; start the build again to resume "
                   "from what was already written.")
