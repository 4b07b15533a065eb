"""Django for the benchmarks: one place that sets the environment up before anything touches the ORM.

    from bench.django_env import setup_django
    setup_django(workdir)   # a throwaway SQLite database and artifact folder under workdir, migrated
    setup_django()          # the database the environment names (child processes, read-only probes)

Jobs then run in this process: start them with `inline=True` (`job_start(..., inline=True)` or a service's
`inline=True`); `CELERY_TASK_ALWAYS_EAGER` is also set so that a service without an `inline` switch does not
need a worker either.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_SECRET_KEY = "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"


def setup_django(workdir: Path | str | None = None, *, migrate: bool = True) -> None:
    """Configure the environment and call `django.setup()`; with `workdir`, everything the run writes lives there."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("SECRET_KEY", BENCH_SECRET_KEY)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if workdir is not None:
        workdir = Path(workdir)
        os.environ["VAR_DIR"] = str(workdir)
        os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
        os.environ["ARTIFACT_ROOT"] = str(workdir / "artifacts")
        os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    import django

    django.setup()
    if workdir is not None and migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
