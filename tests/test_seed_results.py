"""The synthesis protocol's per-seed results folder (`bench/seed_results.py`): a seed written by one run is read back
by a later run with the same recipe, and refused under another recipe."""
from __future__ import annotations

from argparse import Namespace

import pytest

from bench.paired_stats import paired_summary
from bench.seed_results import RECIPE, load_seed, save_seed, seed_path
from bench.synthesis_protocol import training_table


def recipe_args(**overrides) -> Namespace:
    values = {key: None for key in RECIPE}
    values.update(bundle_name="demo", samples=2048, epochs=4, early_stopping=True, seed=13, holdout=1 / 3,
                  judges="minilm-bi-encoder", out="ignored.json")
    values.update(overrides)
    return Namespace(**values)


def a_run(seed: int, shift: float) -> dict:
    queries = {"1": ("gift for a dinosaur fan", "tail", "knowledge"), "2": ("usb hub", "head", "plain"),
               "3": ("regrout a shower", "tail", "qa")}
    return {
        "seed": seed, "query_rows": queries, "synthesised": {"1", "3"},
        "baseline_per_query": {q: {"nDCG@10": 0.5, "Recall@100": 0.6, "MRR@10": 0.4} for q in queries},
        "treatment_per_query": {q: {"nDCG@10": 0.5 + shift, "Recall@100": 0.6, "MRR@10": 0.4} for q in queries},
        "synthesis": {"kept_pairs": 12, "queries": 2}, "training_data": {"baseline": {"examples": 2048}},
        "training": {"baseline": {"examples": 8192, "steps": 256, "early_stopping": {
            "validation_ndcg@10_by_epoch": [0.8712, 0.8784, 0.8909, 0.887], "epochs_run": 4, "best_epoch": 3}},
                     "treatment": {"examples": 11616, "steps": 182, "early_stopping": None}},
        "baseline_name": "bench-dense-logs", "treatment_name": f"bench-treatment-s{seed}",
        "job": object(),  # database objects are not stored
    }


def test_a_stored_seed_reads_back_as_the_protocol_uses_it(tmp_path):
    args = recipe_args()
    save_seed(tmp_path, args=args, run=a_run(13, 0.1), stages={"seed 13 baseline": 1200.0, "seed 14 baseline": 9.0})

    stored = load_seed(tmp_path, args=recipe_args(out="another.json"), seed=13)  # output paths are not the recipe

    assert stored["stored"] is True and "job" not in stored
    assert stored["synthesised"] == {"1", "3"}
    assert stored["query_rows"]["1"][1] == "tail"
    assert stored["stages"] == {"seed 13 baseline": 1200.0}
    assert set(stored["treatment_per_query"]["2"]) == {"nDCG@10", "Recall@100"}
    summary = paired_summary(baseline=[stored["baseline_per_query"], a_run(14, 0.0)["baseline_per_query"]],
                             treatment=[stored["treatment_per_query"], a_run(14, 0.0)["treatment_per_query"]],
                             segments={"tail": ["1", "3"]})
    assert summary["treatment-baseline"]["tail"]["nDCG@10"]["mean"] == pytest.approx(0.05)


def test_a_missing_seed_or_no_folder_reads_as_none(tmp_path):
    assert load_seed(tmp_path, args=recipe_args(), seed=14) is None
    assert load_seed(None, args=recipe_args(), seed=13) is None


def test_a_seed_of_another_recipe_stops_the_run(tmp_path):
    save_seed(tmp_path, args=recipe_args(), run=a_run(13, 0.1), stages={})

    with pytest.raises(SystemExit, match=r"another recipe \(differs in \['epochs'\]\)"):
        load_seed(tmp_path, args=recipe_args(epochs=1), seed=13)


def test_writing_a_seed_again_replaces_it_whole(tmp_path):
    save_seed(tmp_path, args=recipe_args(), run=a_run(13, 0.1), stages={})
    save_seed(tmp_path, args=recipe_args(), run=a_run(13, 0.2), stages={})

    stored = load_seed(tmp_path, args=recipe_args(), seed=13)
    assert stored["treatment_per_query"]["1"]["nDCG@10"] == pytest.approx(0.7)
    assert [p.name for p in tmp_path.iterdir()] == [seed_path(tmp_path, 13).name]


def test_the_training_table_says_which_epoch_each_system_kept(tmp_path):
    save_seed(tmp_path, args=recipe_args(), run=a_run(13, 0.1), stages={})
    stored = load_seed(tmp_path, args=recipe_args(), seed=13)

    lines = training_table([stored]).splitlines()
    assert lines[2] == "| 13 | baseline | 8192 | 256 | 3 / 4 | 0.871, 0.878, 0.891, 0.887 |"
    assert lines[3] == "| 13 | treatment | 11616 | 182 | - | - |"
