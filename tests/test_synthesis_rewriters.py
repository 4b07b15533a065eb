"""The hf-local rewriter on a tiny random Llama chat model: batched sampling, chat template, cleaning."""
import pytest

from synthesis.rewriter.backends import (
    HFLocalRewriter,
    load_rewriter,
    resolve_rewriter_model,
)
from synthesis.rewriter.parsing import normalise_query

from .synthesis_support import tiny_llama_folder


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    return tiny_llama_folder(tmp_path_factory.mktemp("llama"))


QUERIES = ["gift for a dad who likes fishing", "shampoo without sulfates", "usb mug warmer"]


def test_each_query_gets_at_most_n_distinct_rewrites_never_the_query(tiny_llama):
    rewriter = load_rewriter(model=str(tiny_llama), device="cpu", batch_size=2, max_new_tokens=8)
    result = rewriter.rewrite(QUERIES, 4)
    assert len(result) == len(QUERIES)
    produced = 0
    for query, rewrites in zip(QUERIES, result):
        assert len(rewrites) <= 4
        keys = [normalise_query(r) for r in rewrites]
        assert len(set(keys)) == len(keys) and normalise_query(query) not in keys
        assert all(r.strip() and len(r.split()) <= 16 for r in rewrites)
        produced += len(rewrites)
    assert produced > 0  # random weights still emit text that survives cleaning


def test_batching_samples_n_answers_per_query_through_the_chat_template(tiny_llama):
    rewriter = load_rewriter(model=str(tiny_llama), device="cpu", batch_size=2, max_new_tokens=4)
    answers = rewriter.sample(QUERIES, 3)
    assert [len(a) for a in answers] == [3, 3, 3]
    prompt = rewriter.prompts(["usb mug warmer"])[0]
    assert prompt.startswith("<|im_start|>system") and prompt.endswith("<|im_start|>assistant\n")
    examples, query_turn = prompt.rsplit("Query: usb mug warmer", 1)
    assert "usb mug warmer electric" in examples  # the few-shot answers come before the query
    assert query_turn == "<|im_end|>\n<|im_start|>assistant\n"  # and the query is the last turn


def test_same_seed_gives_the_same_rewrites(tiny_llama):
    first = load_rewriter(model=str(tiny_llama), device="cpu", max_new_tokens=6, seed=5).rewrite(QUERIES, 2)
    again = load_rewriter(model=str(tiny_llama), device="cpu", max_new_tokens=6, seed=5).rewrite(QUERIES, 2)
    assert first == again


def test_shared_prompt_cache_gives_what_plain_generation_gives(tiny_llama):
    import torch

    rewriter = load_rewriter(model=str(tiny_llama), device="cpu", max_new_tokens=5)
    tokenizer, model = rewriter.tokenizer, rewriter.model
    encoded = tokenizer(rewriter.prompts(QUERIES[:2]), return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        plain = model.generate(input_ids=encoded["input_ids"].repeat_interleave(2, 0),
                               attention_mask=encoded["attention_mask"].repeat_interleave(2, 0),
                               do_sample=False, max_new_tokens=5, pad_token_id=tokenizer.pad_token_id)
        cached = model.generate(
            input_ids=encoded["input_ids"].repeat_interleave(2, 0),
            attention_mask=encoded["attention_mask"].repeat_interleave(2, 0),
            cache=rewriter.shared_prompt_cache(encoded["input_ids"], encoded["attention_mask"], 2),
            do_sample=False, max_new_tokens=5, pad_token_id=tokenizer.pad_token_id)
    assert torch.equal(plain, cached)


def test_bad_arguments_and_missing_models_are_explained(tiny_llama, tmp_path):
    rewriter = load_rewriter(model=str(tiny_llama), device="cpu")
    assert isinstance(rewriter, HFLocalRewriter) and rewriter.rewrite([], 3) == []
    with pytest.raises(ValueError, match="n must be at least 1"):
        rewriter.rewrite(["q"], 0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_rewriter_model(str(tmp_path / "missing.gguf"))


def test_default_model_resolves_to_the_converted_folder_when_present(settings, tmp_path):
    folder = tmp_path / "artifacts" / "models" / "smollm2-135m-instruct"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    settings.REWRITER_MODEL = ""
    assert resolve_rewriter_model("") == (str(folder), None)
