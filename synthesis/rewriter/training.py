"""Training the rewriter: SFT on seed (query -> rewrite) pairs, then GRPO on the rewards.

The training loops are TRL's (`SFTTrainer`, `GRPOTrainer`); this module supplies the data and the arguments.
Prompts are exactly the ones the `hf-local` rewriter sends at synthesis time (`prompts.rewrite_prompt`, through the
chat template), so what is trained is what runs. A run resumes from the last checkpoint in its folder.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import Field, field_validator

from core.configs import JobConfig
from core.devices import resolve_device

from .checkpoints import CHECKPOINT_FOLDER, resume_point, save_final
from .prompts import rewrite_prompt
from .seed_pairs import SeedPair


class TrainingSettings(JobConfig):
    """How long and how hard to train one method; the defaults are small enough for a CPU."""

    max_steps: int = Field(20, ge=1, le=100_000, description="Optimiser steps.")
    learning_rate: float = Field(5e-5, ge=1e-8, le=1e-2)
    batch_size: int = Field(8, ge=1, le=256,
                            description="SFT: examples per step; GRPO: prompts per step (each sampled num_generations "
                                        "times).")
    num_generations: int = Field(4, le=16, description="GRPO group size: candidates per query, as at synthesis time.")
    max_completion_length: int = Field(24, ge=1, le=4096)
    temperature: float = Field(0.8, gt=0, le=5, description="As the hf-local rewriter samples at synthesis time.")
    top_p: float = Field(0.95, gt=0, le=1)
    beta: float = Field(0.0, ge=0, description="GRPO KL coefficient (0: no reference model, the cheap default).")
    save_steps: int = Field(5, ge=1, le=100_000)
    max_length: int = Field(512, ge=1, le=32_768, description="SFT: prompt + completion tokens.")
    seed: int = 13
    device: str = Field("auto", max_length=32)

    @field_validator("num_generations")
    @classmethod
    def _group_of_two_at_least(cls, value: int) -> int:
        if value < 2:
            raise ValueError("num_generations must be at least 2 (GRPO compares candidates within a group).")
        return value


def sft_dataset(pairs: Sequence[SeedPair]):
    """A conversational prompt/completion dataset: the loss is on the rewrite (and its end-of-turn) only."""
    from datasets import Dataset

    if not pairs:
        raise ValueError("No seed pairs to fine-tune on: give a seed file, synthesis jobs with kept rewrites, "
                         "or a teacher endpoint.")
    return Dataset.from_list([{"prompt": rewrite_prompt(p.query),
                               "completion": [{"role": "assistant", "content": p.rewrite}]} for p in pairs])


def grpo_dataset(queries: Sequence[str]):
    """One row per query: the prompt, and the original `query` column the rewards read."""
    from datasets import Dataset

    queries = list(dict.fromkeys(q for q in queries if q.strip()))
    if not queries:
        raise ValueError("No queries to train GRPO on.")
    return Dataset.from_list([{"prompt": rewrite_prompt(q), "query": q} for q in queries])



def _common_arguments(settings: TrainingSettings, out_dir: Path) -> dict:
    import torch

    device = resolve_device(settings.device)
    on_gpu = device.startswith("cuda")
    return {
        "output_dir": str(out_dir / CHECKPOINT_FOLDER), "max_steps": settings.max_steps,
        "learning_rate": settings.learning_rate, "lr_scheduler_type": "constant", "warmup_steps": 0,
        "logging_steps": 1, "save_strategy": "steps", "save_steps": settings.save_steps, "save_total_limit": 2,
        "report_to": [], "disable_tqdm": True, "seed": settings.seed, "data_seed": settings.seed,
        "use_cpu": not on_gpu, "bf16": on_gpu and torch.cuda.is_bf16_supported(), "dataloader_num_workers": 0,
    }



def train_sft(*, model_path: str, pairs: Sequence[SeedPair], out_dir: Path, settings: TrainingSettings,
              callbacks: Sequence = ()) -> Path:
    """Supervised fine-tuning on seed pairs with `trl.SFTTrainer`; resumes from the last checkpoint in `out_dir`.

    Returns the folder of the trained model (`out_dir/model`).
    """
    from trl import SFTConfig, SFTTrainer

    out_dir = Path(out_dir)
    tokenizer = _tokenizer(model_path)
    checkpoint, finished = resume_point(out_dir, settings.max_steps)
    args = SFTConfig(**_common_arguments(settings, out_dir), per_device_train_batch_size=settings.batch_size,
                     max_length=settings.max_length, packing=False, completion_only_loss=True,
                     dataset_num_proc=None, model_init_kwargs={"dtype": "float32"})
    trainer = SFTTrainer(model=checkpoint if finished else model_path, args=args, train_dataset=sft_dataset(pairs),
                         processing_class=tokenizer, callbacks=list(callbacks))
    if not finished:
        trainer.train(resume_from_checkpoint=checkpoint)
    return save_final(trainer, out_dir)


def train_grpo(*, model_path: str, queries: Sequence[str], reward_funcs: Sequence[Callable],
               reward_weights: Sequence[float], out_dir: Path, settings: TrainingSettings,
               callbacks: Sequence = ()) -> Path:
    """GRPO with `trl.GRPOTrainer`: `num_generations` candidates per query are scored by the rewards and the
    policy moves toward the better ones of each group. Resumes from the last checkpoint in `out_dir`.

    Returns the folder of the trained model (`out_dir/model`).
    """
    from trl import GRPOConfig, GRPOTrainer

    if len(reward_funcs) != len(reward_weights) or not reward_funcs:
        raise ValueError("Give one weight per reward function, and at least one reward.")
    out_dir = Path(out_dir)
    tokenizer = _tokenizer(model_path)
    checkpoint, finished = resume_point(out_dir, settings.max_steps)
    args = GRPOConfig(
        **_common_arguments(settings, out_dir),
        per_device_train_batch_size=settings.batch_size * settings.num_generations,
        num_generations=settings.num_generations, max_completion_length=settings.max_completion_length,
        temperature=settings.temperature, top_p=settings.top_p, beta=settings.beta,
        reward_weights=list(reward_weights), log_completions=False, model_init_kwargs={"dtype": "float32"})
    trainer = GRPOTrainer(model=checkpoint if finished else model_path, reward_funcs=list(reward_funcs), args=args,
                          train_dataset=grpo_dataset(queries), processing_class=tokenizer,
                          callbacks=list(callbacks))
    if not finished:
        trainer.train(resume_from_checkpoint=checkpoint)
    return save_final(trainer, out_dir)


def _tokenizer(model_path: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if not tokenizer.chat_template:
        raise ValueError(f"{model_path} has no chat template; the rewriter needs an instruction-tuned chat model.")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
