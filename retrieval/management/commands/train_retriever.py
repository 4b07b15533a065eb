"""Build a retriever version from the command line: BM25, dense (trained or zero-shot) or hybrid.

    manage.py train_retriever --dataset demo --name dense-logs-v1 --kind dense --set epochs=2 --set batch_size=32
    manage.py train_retriever --dataset demo --name bm25-v1 --kind bm25
    manage.py train_retriever --dataset demo --name hybrid-v1 --kind hybrid --config '{"components": ["bm25-v1", "dense-logs-v1"]}'
    manage.py train_retriever --resume dense-logs-v1        # continue a failed build
    manage.py train_retriever --rebuild-index dense-logs-v1 # repair a missing or corrupt index

By default the job runs in this process (progress is logged and recorded on the job page); --background sends
it to the Celery queue instead.
"""
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.configs import validate_config

from retrieval.models import Dataset, RetrieverVersion
from retrieval.versions.config import DEFAULT_SEED


def parse_value(raw: str):
    try:
        return json.loads(raw)
    except ValueError:
        return raw


class Command(BaseCommand):
    help = "Build (train, encode, index) a retriever version, resume a failed build, or rebuild an index."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", help="data set name")
        parser.add_argument("--name", help="new version name (a slug)")
        parser.add_argument("--kind", choices=[k for k, _ in RetrieverVersion.Kind.choices], default="dense")
        parser.add_argument("--base-model", default="", help="encoder folder or HF id (default: ENCODER_MODEL or "
                                                               "the offline MiniLM)")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
        parser.add_argument("--config", default="", help="config as JSON, or @path/to/config.json")
        parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                            help="one config option (JSON value), e.g. --set epochs=2 --set train=false")
        parser.add_argument("--zero-shot", action="store_true", help="dense: index with the base encoder, no training")
        parser.add_argument("--resume", metavar="NAME", help="start the build of an existing draft or failed version")
        parser.add_argument("--rebuild-index", metavar="NAME", help="repair the index files of a built version")
        parser.add_argument("--background", action="store_true", help="send the job to the queue instead")

    def handle(self, *args, **opts):
        from retrieval.versions import VersionBuildConfig, version_build, version_rebuild_index, version_start_build

        inline = not opts["background"]
        try:
            if opts["rebuild_index"] or opts["resume"]:
                name = opts["rebuild_index"] or opts["resume"]
                version = RetrieverVersion.objects.filter(name=name).first()
                if version is None:
                    raise CommandError(f"No retriever version named {name!r}.")
                start = version_rebuild_index if opts["rebuild_index"] else version_start_build
                job = start(version=version, inline=inline)
            else:
                if not opts["dataset"] or not opts["name"]:
                    raise CommandError("--dataset and --name are required to build a new version.")
                spec = validate_config(VersionBuildConfig, {
                    "dataset": opts["dataset"], "name": opts["name"], "kind": opts["kind"],
                    "base_model": opts["base_model"], "seed": opts["seed"], "config": self.config_from(opts)})
                dataset = Dataset.objects.filter(name=spec.dataset).first()
                if dataset is None:
                    raise CommandError(f"No data set named {spec.dataset!r}; import it with import_bundle first.")
                version = version_build(dataset=dataset, name=spec.name, kind=spec.kind, config=spec.config,
                                        base_model=spec.base_model, seed=spec.seed, inline=inline)
                job = version.build_job
        except CommandError:
            raise
        except Exception as exc:  # the services raise readable errors
            raise CommandError(str(exc)) from exc
        version.refresh_from_db()
        job.refresh_from_db()
        if not inline:
            self.stdout.write(f"Job #{job.pk} queued for {version.name}; watch it at /jobs/{job.pk}/")
            return
        if job.status != "succeeded":
            raise CommandError(f"Job #{job.pk} {job.status}: {job.error.splitlines()[0] if job.error else ''}")
        self.stdout.write(self.style.SUCCESS(f"{version.name}: {version.status} ({version.kind})"))
        self.stdout.write(json.dumps({"manifest": version.manifest, "job": job.result}, indent=2, default=str))

    def config_from(self, opts) -> dict:
        raw = opts["config"]
        if raw.startswith("@"):
            path = Path(raw[1:])
            if not path.exists():
                raise CommandError(f"Config file {path} does not exist.")
            raw = path.read_text(encoding="utf-8")
        try:
            config = json.loads(raw) if raw else {}
        except ValueError as exc:
            raise CommandError(f"--config is not valid JSON: {exc}") from exc
        for item in opts["set"]:
            key, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--set {item!r}: expected KEY=VALUE.")
            config[key.strip()] = parse_value(value)
        if opts["zero_shot"]:
            config["train"] = False
        return config
