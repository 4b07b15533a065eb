"""A training run's folder, checkpoints and curves: where the trained model and the checkpoints go, where an
interrupted run resumes, and the per-step curve points (combined reward, each component, loss) a job records."""
from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

MODEL_FOLDER = "model"
CHECKPOINT_FOLDER = "checkpoints"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "adapter_model.safetensors")


def is_complete_checkpoint(folder: Path) -> bool:
    """Weights and the trainer state (written last) are both there: a worker killed while saving leaves neither
    or only part, and the Trainer cannot resume from such a folder."""
    return (folder / "trainer_state.json").is_file() and any((folder / name).is_file() for name in WEIGHT_FILES)


def last_checkpoint(out_dir: Path) -> str | None:
    """The newest complete checkpoint of a training run in `out_dir`, if it was interrupted."""
    folder = Path(out_dir) / CHECKPOINT_FOLDER
    if not folder.is_dir():
        return None
    complete = [child for child in folder.glob("checkpoint-*")
                if child.is_dir() and child.name.rsplit("-", 1)[-1].isdigit() and is_complete_checkpoint(child)]
    return str(max(complete, key=lambda child: checkpoint_step(str(child)))) if complete else None


def checkpoint_step(checkpoint: str) -> int:
    """The global step a `checkpoint-<step>` folder was saved at."""
    return int(Path(checkpoint).name.rsplit("-", 1)[-1])


def resume_point(out_dir: Path, max_steps: int) -> tuple[str | None, bool]:
    """(the last checkpoint or None, whether it already holds all `max_steps`).

    A run killed after its last checkpoint but before its model was saved must not train again: resumed there,
    the HF Trainer would run one step past `max_steps`.
    """
    checkpoint = last_checkpoint(out_dir)
    return checkpoint, checkpoint is not None and checkpoint_step(checkpoint) >= max_steps


def save_final(trainer, out_dir: Path) -> Path:
    """Save the trained model and tokenizer as a plain HF folder (staged, then renamed into place)."""
    final = Path(out_dir) / MODEL_FOLDER
    staging = Path(out_dir) / (MODEL_FOLDER + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    trainer.save_model(str(staging))
    trainer.processing_class.save_pretrained(str(staging))
    (staging / "training_args.bin").unlink(missing_ok=True)
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return final



def curve_point(logs: dict[str, Any], *, step: int) -> dict[str, float] | None:
    """One point of a training curve from a trainer log: the combined reward and each component (GRPO), the loss.

    None for logs without training metrics (the end-of-training summary).
    """
    point: dict[str, float] = {}
    if "reward" in logs:
        point["combined"] = float(logs["reward"])
    for key, value in logs.items():
        if key.startswith("rewards/") and key.endswith("/mean") and value is not None:
            point[reward_name_from_log(key)] = float(value)
    for key in ("loss", "mean_token_accuracy", "completions/mean_length"):
        if logs.get(key) is not None:
            point[key.replace("completions/", "completion_")] = float(logs[key])
    if not point or "train_runtime" in logs:
        return None
    return {"step": int(step), **point}


def reward_name_from_log(key: str) -> str:
    """`rewards/relevance_reward/mean` -> `relevance`."""
    return key.split("/")[1].removesuffix("_reward")


def merge_curve(curve: Sequence[dict], point: dict) -> list[dict]:
    """The curve with `point` in step order; a point for a step already there (a resumed run) replaces it."""
    merged = {int(p["step"]): p for p in curve}
    merged[int(point["step"])] = point
    return [merged[step] for step in sorted(merged)]


def training_report_callback(*, on_point: Callable[[dict], None], on_step: Callable[[int, int], None]):
    """A `TrainerCallback` that hands every logged curve point to `on_point` and every step to `on_step`.

    `on_step` may raise (a cancelled job) to stop training; the last checkpoint stays for a resume.
    """
    from transformers import TrainerCallback

    class TrainingReport(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            point = curve_point(logs or {}, step=state.global_step)
            if point is not None:
                on_point(point)

        def on_step_end(self, args, state, control, **kwargs):
            on_step(state.global_step, state.max_steps)

    return TrainingReport()

