"""Rewriter training step time: the app's `train_sft` then `train_grpo` on a SmolLM2-135M-sized model, on whatever
device `device="auto"` picks (CUDA when present, else the CPU).

    python bench/rewriter_step_time.py [--steps 10] [--device auto] [--model DIR] [--random-weights] [--out FILE]

`--model` is a model folder (default: the shipped SmolLM2, converted under ARTIFACT_ROOT). `--random-weights`
builds the same architecture from the folder's config and tokenizer with fresh random weights: for a machine the
weights cannot travel to (a lent GPU); its step times are the same, its rewrites are noise. No data set, retriever
or judge is needed: SFT trains on a few fixed seed pairs, and GRPO uses the two rewards that need neither (format
and diversity), group size 4, 4 queries per step, rewrites of at most 24 tokens (the shipped defaults). The table
gives where the weights were, mixed precision, and the median seconds per step (the first step, with the warm-up,
is left out).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUERIES = ["gift for a 5 year old who loves dinosaurs", "what do I need to re-grout a shower",
           "warm socks for winter hiking", "how to keep coffee warm at my desk", "stuff for a first aquarium",
           "what to bring camping with a toddler", "quiet keyboard for an open office", "how to fix a squeaky door"]
SEED_REWRITES = {query: [f"{query.split()[-1]} kit", f"best {query.split()[-2]} {query.split()[-1]}"]
                 for query in QUERIES}


def default_model() -> str:
    from bench.django_env import setup_django

    setup_django()
    from synthesis.rewriter.backends import resolve_rewriter_model

    return resolve_rewriter_model("")[0]


def random_copy(model_dir: str, out: Path) -> str:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_dir)).save_pretrained(out)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(out)
    return str(out)


def weights_probe():
    """A TrainerCallback that records, at the first step, where the model's weights are and mixed precision."""
    from transformers import TrainerCallback

    class WeightsProbe(TrainerCallback):
        device = bf16 = None

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if model is not None and self.device is None:
                self.device, self.bf16 = str(next(model.parameters()).device), bool(args.bf16)

    return WeightsProbe()


def run(*, model: str, steps: int, device: str, workdir: Path) -> list[dict]:
    from bench.rewriter_training import timed_training
    from core.devices import resolve_device as resolve_training_device
    from synthesis.rewriter.rewards import RewardSettings, reward_functions
    from synthesis.rewriter.seed_pairs import SeedPair
    from synthesis.rewriter.training import TrainingSettings, train_grpo, train_sft

    rows = []
    probe, started = weights_probe(), time.monotonic()
    pairs = [SeedPair(query, rewrite, "jsonl") for query, rewrites in SEED_REWRITES.items() for rewrite in rewrites]
    sft, curve, per_step = timed_training(
        train_sft, callbacks=[probe], model_path=model, pairs=pairs, out_dir=workdir / "sft",
        settings=TrainingSettings(max_steps=steps, batch_size=8, save_steps=steps, device=device))
    rows.append({"method": "SFT", "per step": "8 pairs", "device": probe.device, "bf16": probe.bf16,
                 "s / step": round(per_step, 3), "total s": round(time.monotonic() - started, 1),
                 "first → last": f"loss {curve[0]['loss']:.2f} → {curve[-1]['loss']:.2f}"})
    rewards = RewardSettings.from_config({"weights": {"relevance": 0, "alignment": 0, "diversity": 1,
                                                      "incremental": 0, "format": 1}})
    probe, started = weights_probe(), time.monotonic()
    _, curve, per_step = timed_training(
        train_grpo, callbacks=[probe], model_path=str(sft), queries=QUERIES,
        reward_funcs=reward_functions(settings=rewards), reward_weights=rewards.normalised_weights(),
        out_dir=workdir / "grpo", settings=TrainingSettings(max_steps=steps, learning_rate=1e-5, batch_size=4,
                                                            num_generations=4, save_steps=steps, device=device))
    rows.append({"method": "GRPO", "per step": "4 queries × 4", "device": probe.device, "bf16": probe.bf16,
                 "s / step": round(per_step, 3), "total s": round(time.monotonic() - started, 1),
                 "first → last": f"reward {curve[0]['combined']:.3f} → {curve[-1]['combined']:.3f}"})
    for row in rows:
        row["device"] = f"{row['device']} ({resolve_training_device(device)})"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="steps of each method (at least 3)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--model", help="model folder (default: the shipped SmolLM2)")
    parser.add_argument("--random-weights", action="store_true", help="same architecture, fresh random weights")
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    if args.steps < 3:
        parser.error("--steps must be at least 3 (the first step is left out of the median)")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    from bench.retrieval_speed import table

    with tempfile.TemporaryDirectory(prefix="rewriter-steps-") as tmp:
        model = args.model or default_model()
        if args.random_weights:
            model = random_copy(model, Path(tmp) / "random")
        rows = run(model=model, steps=args.steps, device=args.device, workdir=Path(tmp))
    where = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    print(f"\nRewriter training steps on {where}, torch {torch.__version__}, model {args.model or 'SmolLM2-135M'}"
          f"{' (random weights)' if args.random_weights else ''}, {args.steps} steps each\n")
    print(table(rows))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
