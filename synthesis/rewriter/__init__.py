"""The query rewriter: its backends (`backends`), prompts and output parsing, and its training (seed pairs, SFT and
GRPO, rewards, checkpoints, evaluation, the training job and its typed config and staff form)."""
