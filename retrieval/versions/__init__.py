"""Retriever versions: their typed config (`config`), the services that create, build, repair and evaluate
them (`services`), where their artifacts live (`paths`) and the jobs' work functions (`build`, imported by
`RetrievalConfig.ready()` to register the job kinds).

The public names are re-exported here, so callers write `from retrieval.versions import version_build`.
"""
from .config import (
    EvaluateJobConfig,
    VersionBuildConfig,
    VersionJobConfig,
    normalize_config,
)
from .paths import artifact_relpath, catalogue_fingerprint, version_path
from .services import (
    VersionBusy,
    VersionImmutable,
    ensure_mutable,
    version_build,
    version_create,
    version_definition_check,
    version_evaluate,
    version_rebuild_index,
    version_spec,
    version_start_build,
    version_update,
)

__all__ = [
    "EvaluateJobConfig", "VersionBuildConfig", "VersionBusy", "VersionImmutable", "VersionJobConfig",
    "artifact_relpath", "catalogue_fingerprint", "ensure_mutable", "normalize_config", "version_build",
    "version_create", "version_definition_check", "version_evaluate", "version_path", "version_rebuild_index",
    "version_spec", "version_start_build", "version_update",
]
