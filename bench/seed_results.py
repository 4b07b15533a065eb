"""Per-seed results of the synthesis protocol, kept in a folder so that a protocol longer than one sitting can be
finished later (`bench/retrieval_quality.py --synthesis --seed-results DIR`).

After each seed the protocol writes `DIR/seed-<n>.json`: the recipe's settings, the per-query `test` metrics of
that seed's baseline and treatment, the queries' segments, the synthesised queries, the synthesis statistics, the
training data and training (examples, steps, the validation curve and the epoch kept) and the stage timings. A
later run with the same folder loads the seeds it finds there instead of building them again, and builds only the
missing ones; the paired statistics are then computed over all seeds. A stored seed whose recipe differs from
this run's (another bundle, other training or synthesis settings) stops the run: mixing recipes would make the
confidence interval meaningless.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from bench.paired_stats import METRICS

# the settings that shape a seed's result; everything else (output paths, printing) may differ between runs
RECIPE = ("bundle_name", "samples", "epochs", "early_stopping", "batch_size", "learning_rate", "max_seq_length",
          "seed", "synthesis_runs", "holdout", "holdout_seed", "rewrite_retriever", "max_queries", "candidates",
          "retrieve_k", "max_pairs", "per_pair", "ratio", "threshold", "judges", "judge_examples", "judge_epochs",
          "judge_learning_rate")


def recipe(args) -> dict:
    return {key: getattr(args, key, None) for key in RECIPE}


def seed_path(folder: Path, seed: int) -> Path:
    return folder / f"seed-{seed}.json"


def _per_query(per_query: dict) -> dict:
    return {q: {m: round(float(values[m]), 6) for m in METRICS} for q, values in per_query.items()}


def save_seed(folder: Path, *, args, run: dict, stages: dict) -> Path:
    """Write one seed's run (as `synthesis_protocol.run_seed` returns it) to `folder`."""
    seed = run["seed"]
    record = {
        "seed": seed,
        "recipe": recipe(args),
        "commit": _commit(),
        "query_rows": run["query_rows"],
        "baseline_per_query": _per_query(run["baseline_per_query"]),
        "treatment_per_query": _per_query(run["treatment_per_query"]),
        "synthesised": sorted(run["synthesised"], key=int),
        "synthesis": run["synthesis"],
        "training_data": run["training_data"],
        "training": run["training"],
        "baseline_name": run["baseline_name"],
        "treatment_name": run["treatment_name"],
        "stages": {stage: seconds for stage, seconds in stages.items() if stage.startswith(f"seed {seed} ")},
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = seed_path(folder, seed)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(record, indent=1, default=str), encoding="utf-8")
    temporary.replace(path)  # a run stopped while writing leaves the previous file, never half a file
    return path


def load_seed(folder: Path | None, *, args, seed: int) -> dict | None:
    """The stored run of `seed` (shaped like `run_seed`'s, without the database objects), or None."""
    if folder is None or not seed_path(folder, seed).exists():
        return None
    record = json.loads(seed_path(folder, seed).read_text(encoding="utf-8"))
    wanted = json.loads(json.dumps(recipe(args), default=str))
    if record.get("recipe") != wanted:
        differing = sorted(k for k in wanted if (record.get("recipe") or {}).get(k) != wanted[k])
        raise SystemExit(f"{seed_path(folder, seed)} was made with another recipe (differs in {differing}); "
                         "use another --seed-results folder or the same settings.")
    record["synthesised"] = set(record["synthesised"])
    record["stored"] = True
    return record


def _commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent, check=True).stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None
