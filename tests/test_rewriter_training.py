"""Rewriter training on a tiny random Llama: seed data, SFT and GRPO steps (rewards logged and moving), resume from
a checkpoint, the admin-started job with its versions, and the held-out evaluation on hand-made cases."""
import json
from pathlib import Path

import numpy as np
import pytest
from django.urls import reverse

from core.configs import validate_config
from synthesis.pipeline import CurationSettings
from synthesis.rewriter.checkpoints import (
    curve_point,
    last_checkpoint,
    merge_curve,
    training_report_callback,
)
from synthesis.rewriter.config import RewriterTrainingConfig
from synthesis.rewriter.evaluation import EvaluationSetup, evaluate_rewriter
from synthesis.rewriter.feedback import CatalogueSpace, RetrievalFeedback
from synthesis.rewriter.prompts import REWRITE_EXAMPLES, REWRITE_SYSTEM
from synthesis.rewriter.rewards import RewardSettings, reward_functions
from synthesis.rewriter.seed_pairs import (
    SeedDataError,
    SeedPair,
    clean_seed_pairs,
    collect_seed_pairs,
    seed_pairs_from_jsonl,
)
from synthesis.rewriter.training import TrainingSettings, train_grpo, train_sft

CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
QUERIES = ["warm socks for hiking", "usb mug warmer", "gift for a runner", "wool hat without itch"]


def build_tiny_chat_model(folder: Path) -> Path:
    """A 2-layer random Llama with a byte-level BPE tokenizer trained on the prompt text, and a chat template."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    corpus = [REWRITE_SYSTEM, *QUERIES] + [f"Query: {q} " + " ".join(r) for q, r in REWRITE_EXAMPLES]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<unk>", "<|im_start|>", "<|im_end|>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, unk_token="<unk>", eos_token="<|im_end|>",
                                        pad_token="<pad>", bos_token="<|im_start|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


SEED_PAIRS = [SeedPair(query, rewrite, "jsonl") for query, rewrites in REWRITE_EXAMPLES for rewrite in rewrites]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def sft_run(tiny_model, tmp_path_factory):
    points, steps = [], []
    out = train_sft(model_path=str(tiny_model), pairs=SEED_PAIRS, out_dir=tmp_path_factory.mktemp("sft"),
                    settings=TrainingSettings(max_steps=4, learning_rate=5e-3, batch_size=4, device="cpu"),
                    callbacks=[training_report_callback(on_point=points.append,
                                                        on_step=lambda step, total: steps.append((step, total)))])
    return out, points, steps


# --- a toy catalogue for the retrieval rewards: word overlap stands in for a retriever and a judge -----------------

TITLES = {1: "wool hiking socks", 2: "merino warm socks", 3: "usb mug warmer plate", 4: "running gift set",
          5: "wool beanie hat", 6: "trail running shoes"}


def words(text: str) -> set[str]:
    return set(text.lower().split())


def toy_retrieve(texts, k):
    return [[pk for pk, title in sorted(TITLES.items(), key=lambda item: -len(words(text) & words(item[1])))
             if words(text) & words(title)][:k] for text in texts]


def toy_judge(query, pks):
    return [len(words(query) & words(TITLES[pk])) / len(words(query)) for pk in pks]


def toy_space() -> CatalogueSpace:
    vocabulary = sorted(set().union(*(words(t) for t in TITLES.values())))

    def embed(texts):
        rows = np.array([[1.0 if w in words(text) else 0.0 for w in vocabulary] for text in texts], dtype=np.float32)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return rows / np.where(norms == 0, 1, norms)

    return CatalogueSpace(title_vectors=embed(list(TITLES.values())), embed=embed, neighbours=2)


# --- seed data -----------------------------------------------------------------------------------------------------

def test_seed_file_problems_are_reported_with_file_and_line(tmp_path):
    seed = tmp_path / "seed.jsonl"
    seed.write_text('{"query": "warm socks", "rewrites": ["wool socks"]}\n'
                    'not json\n'
                    '{"query": "", "rewrites": ["x"]}\n'
                    '{"query": "hat", "rewrites": []}\n')
    with pytest.raises(SeedDataError) as error:
        seed_pairs_from_jsonl(seed)
    message = str(error.value)
    assert "3 bad seed row(s)" in message
    assert "seed.jsonl:2: not JSON" in message and "seed.jsonl:3:" in message and "seed.jsonl:4:" in message


def test_seed_pairs_are_cleaned_deduplicated_and_never_copy_the_query(tmp_path):
    seed = tmp_path / "seed.jsonl"
    seed.write_text(json.dumps({"query": "warm socks", "rewrites": ["1. Wool socks", "wool socks.", "Warm Socks",
                                                                   "merino hiking socks"]}) + "\n"
                    + json.dumps({"query": "gift for a runner", "rewrite": "running belt"}) + "\n")
    pairs = seed_pairs_from_jsonl(seed)
    assert [(p.query, p.rewrite) for p in pairs] == [
        ("warm socks", "Wool socks"), ("warm socks", "merino hiking socks"), ("gift for a runner", "running belt")]
    assert clean_seed_pairs([SeedPair("q", "", "teacher"), SeedPair("q", "Q", "teacher")]) == []


def test_seed_pairs_of_held_out_queries_never_reach_training(tmp_path):
    seed = tmp_path / "seed.jsonl"
    seed.write_text(json.dumps({"query": "warm socks", "rewrites": ["wool socks", "merino socks"]}) + "\n"
                    + json.dumps({"query": "gift for a runner", "rewrites": ["running belt"]}) + "\n")
    pairs, manifest = collect_seed_pairs(sources={"jsonl": str(seed)}, dataset=None, training_queries=[],
                                         held_out_queries=["Gift for a runner!"], log=lambda message: None)
    assert [p.query for p in pairs] == ["warm socks", "warm socks"]
    assert manifest["dropped_held_out"] == 1 and manifest["pairs"] == 2 and manifest["jsonl"]["pairs"] == 3


def test_training_plan_refuses_sft_without_seed_data_and_unknown_methods():
    with pytest.raises(ValueError, match="seed source"):
        validate_config(RewriterTrainingConfig, {"dataset_id": 1, "name": "r"})
    with pytest.raises(ValueError, match="methods"):
        validate_config(RewriterTrainingConfig, {"dataset_id": 1, "name": "r", "methods": ["ppo"]})
    with pytest.raises(ValueError, match="num_generations"):
        validate_config(RewriterTrainingConfig, {"dataset_id": 1, "name": "r", "methods": ["grpo"], "grpo": {"num_generations": 1}})


def test_curve_points_carry_the_combined_reward_and_each_component():
    logs = {"loss": 0.1, "reward": 0.5, "rewards/relevance_reward/mean": 0.25, "rewards/relevance_reward/std": 0.1,
            "rewards/format_reward/mean": 1.0, "completions/mean_length": 7.0}
    assert curve_point(logs, step=3) == {"step": 3, "combined": 0.5, "relevance": 0.25, "format": 1.0,
                                         "loss": 0.1, "completion_mean_length": 7.0}
    assert curve_point({"train_runtime": 3.0, "train_loss": 0.2}, step=3) is None
    curve = merge_curve([{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}], {"step": 2, "loss": 1.4})
    assert curve == [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.4}]


# --- SFT and GRPO on the tiny model -----------------------------------------------------------------------------------

def test_sft_steps_run_lower_the_loss_and_save_a_folder_the_rewriter_loads(sft_run, settings):
    from synthesis.rewriter.backends import load_rewriter

    out, points, steps = sft_run
    assert [p["step"] for p in points] == [1, 2, 3, 4]
    assert points[-1]["loss"] < points[0]["loss"]
    assert steps[-1] == (4, 4)
    assert (out / "config.json").exists() and (out / "model.safetensors").exists()
    assert "quantization_config" not in json.loads((out / "config.json").read_text())
    rewriter = load_rewriter(backend="hf-local", model=str(out), device="cpu", max_new_tokens=6, batch_size=2)
    rewrites = rewriter.rewrite(QUERIES[:2], 2)
    assert len(rewrites) == 2 and all(len(group) <= 2 for group in rewrites)


def test_grpo_steps_run_and_the_logged_rewards_move(sft_run, tmp_path):
    import torch
    from safetensors.torch import load_file

    sft_out, _, _ = sft_run
    settings = RewardSettings.from_config({"weights": {"relevance": 1, "alignment": 0.5, "diversity": 0.5,
                                                       "incremental": 0, "format": 1}, "k": 3})
    functions = reward_functions(settings=settings, feedback=RetrievalFeedback(retrieve=toy_retrieve,
                                                                                 judge=toy_judge, k=3),
                                 catalogue=toy_space())
    points = []
    out = train_grpo(model_path=str(sft_out), queries=QUERIES, reward_funcs=functions,
                     reward_weights=settings.normalised_weights(), out_dir=tmp_path,
                     settings=TrainingSettings(max_steps=6, learning_rate=5e-3, batch_size=2, num_generations=4,
                                               max_completion_length=8, save_steps=100, device="cpu"),
                     callbacks=[training_report_callback(on_point=points.append, on_step=lambda *_: None)])
    assert [p["step"] for p in points] == [1, 2, 3, 4, 5, 6]
    for point in points:
        assert {"combined", "relevance", "alignment", "diversity", "format"} <= set(point)
        assert all(0.0 <= point[name] <= 1.0 for name in ("combined", "relevance", "alignment", "diversity",
                                                            "format"))
    assert len({round(p["combined"], 6) for p in points}) > 1  # the logged reward moves from step to step
    before, after = load_file(sft_out / "model.safetensors"), load_file(out / "model.safetensors")
    assert any(not torch.equal(before[name], after[name]) for name in before)


def test_a_checkpoint_half_written_by_a_killed_worker_is_not_resumed_from(tmp_path):
    folder = tmp_path / "checkpoints"
    for step, files in ((2, ("model.safetensors", "trainer_state.json")), (4, ("model.safetensors",)), (6, ())):
        (folder / f"checkpoint-{step}").mkdir(parents=True)
        for name in files:
            (folder / f"checkpoint-{step}" / name).write_text("x")
    assert last_checkpoint(tmp_path).endswith("checkpoint-2")
    assert last_checkpoint(tmp_path / "nothing-here") is None


def test_grpo_interrupted_mid_run_resumes_from_its_last_checkpoint(sft_run, tmp_path):
    sft_out, _, _ = sft_run
    settings = RewardSettings.from_config({"weights": {"relevance": 0, "alignment": 0, "diversity": 1,
                                                       "incremental": 0, "format": 1}})
    training = TrainingSettings(max_steps=4, learning_rate=1e-3, batch_size=1, num_generations=2,
                                max_completion_length=6, save_steps=2, device="cpu")

    class WorkerKilled(Exception):
        pass

    def die_at_step_3(step, total):
        if step == 3:
            raise WorkerKilled()

    curve = []

    def record(point):
        curve[:] = merge_curve(curve, point)

    with pytest.raises(WorkerKilled):
        train_grpo(model_path=str(sft_out), queries=QUERIES, reward_funcs=reward_functions(settings=settings),
                   reward_weights=settings.normalised_weights(), out_dir=tmp_path, settings=training,
                   callbacks=[training_report_callback(on_point=record, on_step=die_at_step_3)])
    assert last_checkpoint(tmp_path).endswith("checkpoint-2")
    steps_seen = []
    out = train_grpo(model_path=str(sft_out), queries=QUERIES, reward_funcs=reward_functions(settings=settings),
                     reward_weights=settings.normalised_weights(), out_dir=tmp_path, settings=training,
                     callbacks=[training_report_callback(on_point=record,
                                                         on_step=lambda step, total: steps_seen.append(step))])
    assert steps_seen == [3, 4]  # continued after checkpoint-2 instead of starting over
    assert [p["step"] for p in curve] == [1, 2, 3, 4]
    assert (out / "config.json").exists()


def test_a_run_killed_after_its_last_checkpoint_saves_that_model_without_training_a_step_more(tiny_model, tmp_path):
    import shutil

    import torch
    from safetensors.torch import load_file

    settings = TrainingSettings(max_steps=2, learning_rate=5e-3, batch_size=4, save_steps=2, device="cpu")
    out = train_sft(model_path=str(tiny_model), pairs=SEED_PAIRS, out_dir=tmp_path, settings=settings)
    trained = load_file(out / "model.safetensors")
    shutil.rmtree(out)  # killed after checkpoint-2, before the model folder was written
    steps = []
    out = train_sft(model_path=str(tiny_model), pairs=SEED_PAIRS, out_dir=tmp_path, settings=settings,
                    callbacks=[training_report_callback(on_point=lambda point: None,
                                                        on_step=lambda step, total: steps.append(step))])
    assert steps == []  # resumed at max_steps the HF Trainer would have run a third step
    saved = load_file(out / "model.safetensors")
    assert all(torch.equal(trained[name], saved[name]) for name in trained)


# --- the job, started from the admin ----------------------------------------------------------------------------------

@pytest.fixture
def tail_dataset(db):
    from retrieval.models import Dataset, Query

    dataset = Dataset.objects.create(name="toy")
    for i, text in enumerate(QUERIES * 3):
        Query.objects.create(dataset=dataset, query_id=f"q{i}", text=f"{text} {i}", segment="tail")
    return dataset


def test_admin_starts_sft_then_grpo_and_records_both_versions(client, admin_user, tail_dataset, tiny_model,
                                                              tmp_path):
    from jobs.models import Job
    from synthesis.models import RewriterVersion
    from synthesis.rewriter.backends import load_rewriter

    seed = tmp_path / "seed.jsonl"
    seed.write_text("".join(json.dumps({"query": q, "rewrites": r}) + "\n" for q, r in REWRITE_EXAMPLES))
    client.force_login(admin_user)
    response = client.post(reverse("admin:synthesis_rewriterversion_add"), {
        "dataset": tail_dataset.pk, "name": "toy-rw", "methods": ["sft", "grpo"], "base_model": str(tiny_model),
        "seed_jsonl": str(seed), "teacher_queries": 0, "sft_steps": 2, "sft_learning_rate": 1e-3,
        "grpo_steps": 2, "num_generations": 2, "grpo_prompts_per_step": 1, "grpo_learning_rate": 1e-3,
        "max_grpo_queries": 4, "judge_backend": "cross-encoder", "eval_queries": 2, "device": "cpu",
        "weight_relevance": 0, "weight_alignment": 0, "weight_diversity": 0.5, "weight_incremental": 0,
        "weight_format": 1})
    job = Job.objects.get(kind="rewriter_training")
    assert response.status_code == 302 and response["Location"] == reverse("job_detail", args=[job.pk])
    assert job.queue == "ml"
    assert job.status == Job.Status.SUCCEEDED, job.error
    sft, grpo = RewriterVersion.objects.get(name="toy-rw-sft"), RewriterVersion.objects.get(name="toy-rw-grpo")
    assert (sft.status, grpo.status) == ("ready", "ready")
    assert sft.parent is None and sft.base_model == str(tiny_model) and grpo.parent == sft
    assert sft.manifest["jsonl"]["pairs"] == sum(len(r) for _, r in REWRITE_EXAMPLES)
    assert [p["step"] for p in sft.reward_curves] == [1, 2] and "loss" in sft.reward_curves[0]
    assert [p["step"] for p in grpo.reward_curves] == [1, 2]
    assert {"combined", "diversity", "format"} <= set(grpo.reward_curves[0])
    assert grpo.reward_weights["weights"]["format"] == 1.0
    assert grpo.metrics["train"]["steps"] == 2
    assert job.result["versions"]["grpo"]["name"] == "toy-rw-grpo"
    assert load_rewriter(backend="hf-local", model=grpo.artifact_path, device="cpu", max_new_tokens=4).rewrite(
        ["warm socks"], 2) is not None
    page = client.get(reverse("admin:synthesis_rewriterversion_change", args=[grpo.pk]))
    assert page.status_code == 200 and b"reward curves" in page.content


def test_admin_shows_a_versions_evaluation_as_a_table_with_escaped_examples(client, admin_user, tail_dataset):
    from synthesis.models import RewriterVersion

    evaluation = {"queries": 10, "candidates": 4, "rewards": {"combined": 0.4053, "incremental": 0.2787},
                  "rewrites_per_query": 3.6, "new_relevant_share": 0.8, "labelled_new_relevant_share": None,
                  "pairs_per_query": 17.1, "incremental_pairs_per_query": 6.6,
                  "examples": [{"query": "gift <b>ideas</b>", "rewrites": ["lego set", "dino puzzle"], "pairs": 3}]}
    version = RewriterVersion.objects.create(name="toy-grpo", dataset=tail_dataset, method="grpo", base_model="x",
                                             status="ready", metrics={"eval": evaluation})
    client.force_login(admin_user)
    page = client.get(reverse("admin:synthesis_rewriterversion_change", args=[version.pk])).content.decode()
    assert "<tr><th>reward: combined</th><td>0.4053</td></tr>" in page
    assert "<tr><th>kept pairs per query</th><td>17.1</td></tr>" in page
    assert "<tr><th>queries with a new relevant product (labels)</th><td>—</td></tr>" in page
    assert "gift &lt;b&gt;ideas&lt;/b&gt; → lego set | dino puzzle" in page and "<b>ideas" not in page


def test_admin_form_refuses_a_name_already_taken(client, admin_user, tail_dataset, tiny_model, tmp_path):
    from jobs.models import Job
    from synthesis.models import RewriterVersion

    RewriterVersion.objects.create(name="taken-sft", dataset=tail_dataset, method="sft", base_model="x",
                                   status="ready")
    seed = tmp_path / "seed.jsonl"
    seed.write_text(json.dumps({"query": "a", "rewrites": ["b c"]}) + "\n")
    client.force_login(admin_user)
    response = client.post(reverse("admin:synthesis_rewriterversion_add"), {
        "dataset": tail_dataset.pk, "name": "taken", "methods": ["sft"], "seed_jsonl": str(seed),
        "teacher_queries": 0, "sft_steps": 1, "sft_learning_rate": 1e-3, "grpo_steps": 1, "num_generations": 2,
        "grpo_prompts_per_step": 1, "grpo_learning_rate": 1e-3, "max_grpo_queries": 4,
        "judge_backend": "cross-encoder", "eval_queries": 2, "device": "cpu", "weight_relevance": 1,
        "weight_alignment": 1, "weight_diversity": 1, "weight_incremental": 1, "weight_format": 1})
    assert response.status_code == 200
    assert b"taken-sft already exist" in response.content
    assert not Job.objects.filter(kind="rewriter_training").exists()


def test_a_cancelled_training_resumes_without_retraining_what_is_done(admin_user, tail_dataset, tiny_model,
                                                                     tmp_path, monkeypatch):
    from jobs.models import Job
    from jobs.services import job_retry
    from synthesis.models import RewriterVersion
    from synthesis.rewriter import jobs as rewriter_training

    seed = tmp_path / "seed.jsonl"
    seed.write_text("".join(json.dumps({"query": q, "rewrites": r}) + "\n" for q, r in REWRITE_EXAMPLES))
    grpo_steps: list[int] = []
    original = rewriter_training.training_report_callback

    def cancelling_report(*, on_point, on_step):
        def step(done, total):
            job = Job.objects.get(kind="rewriter_training")
            if job.stage.startswith("grpo"):
                grpo_steps.append(done)
                if done == 3 and job.attempts == 1:
                    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
            on_step(done, total)

        return original(on_point=on_point, on_step=step)

    monkeypatch.setattr(rewriter_training, "training_report_callback", cancelling_report)
    job = rewriter_training.rewriter_training_start(config={
        "dataset_id": tail_dataset.pk, "name": "resumable", "base_model": str(tiny_model),
        "seed_sources": {"jsonl": str(seed)}, "sft": {"max_steps": 2, "learning_rate": 1e-3, "batch_size": 4},
        "grpo": {"max_steps": 4, "save_steps": 2, "num_generations": 2, "max_completion_length": 6},
        "rewards": {"weights": {"relevance": 0, "alignment": 0, "incremental": 0}}, "evaluate": False,
        "device": "cpu"}, user=admin_user)
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    sft = RewriterVersion.objects.get(name="resumable-sft")
    assert sft.status == "ready"
    sft_trained_at = sft.trained_at
    assert RewriterVersion.objects.get(name="resumable-grpo").status == "training"
    job_retry(job=job)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert grpo_steps == [1, 2, 3, 3, 4]  # the second attempt went on from checkpoint-2
    assert "resumable-grpo: resuming from checkpoint-2" in job.log_tail
    sft.refresh_from_db()
    assert sft.trained_at == sft_trained_at  # SFT was not trained again
    grpo = RewriterVersion.objects.get(name="resumable-grpo")
    assert grpo.status == "ready" and [p["step"] for p in grpo.reward_curves] == [1, 2, 3, 4]


def test_a_trained_version_drives_a_synthesis_job(admin_user, sft_run, tmp_path):
    from jobs.models import Job
    from retrieval.versions import version_build
    from synthesis.models import (
        JudgeVersion,
        MinedQuery,
        RewriteCandidate,
        RewriterVersion,
    )
    from synthesis.rewriter.backends import load_rewriter
    from synthesis.rewriter.jobs import synthesis_with_rewriter_start

    from .synthesis_support import make_catalogue, tiny_bert_folder

    dataset, _, _ = make_catalogue()
    bm25 = version_build(dataset=dataset, name="toy-bm25", kind="bm25", inline=True)
    judge = JudgeVersion.objects.create(dataset=dataset, name="toy-judge", base_model="x", status="ready",
                                        artifact_path=str(tiny_bert_folder(tmp_path / "bert")))
    sft_out, _, _ = sft_run
    version = RewriterVersion.objects.create(name="toy-sft", dataset=dataset, method="sft", base_model="tiny",
                                             artifact_path=str(sft_out), status="ready")
    training = Job.objects.create(kind="rewriter_training", task_name="x", config={
        "retriever_version_id": bm25.pk, "judge": {"judge_version_id": judge.pk}})
    RewriterVersion.objects.filter(pk=version.pk).update(job=training)
    version.refresh_from_db()
    job = synthesis_with_rewriter_start(version=version, user=admin_user)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.config["rewriter_backend"] == "hf-local" and job.config["rewriter_model"] == str(sft_out)
    assert job.result["components"]["rewriter"]["model"] == str(sft_out)
    assert job.counts["queries_done"] == 3  # the catalogue's three tail queries went through the trained model
    mined = [m.query for m in MinedQuery.objects.filter(job=job).select_related("query").order_by("position")]
    expected = load_rewriter(backend="hf-local", model=str(sft_out), device="cpu", seed=job.config["seed"]).rewrite(
        [q.text for q in mined], job.config["candidates"])
    stored = [list(RewriteCandidate.objects.filter(job=job, query=q).order_by("rank").values_list("text", flat=True))
              for q in mined]
    assert stored == expected  # exactly what the trained model writes


def test_rewards_count_products_relevant_at_the_judges_calibrated_threshold_unless_one_is_given(db, tmp_path):
    from retrieval.versions import version_build
    from synthesis.models import JudgeVersion
    from synthesis.rewriter.setup import reward_setup

    from .synthesis_support import make_catalogue, tiny_bert_folder

    dataset, _, _ = make_catalogue()
    bm25 = version_build(dataset=dataset, name="toy-bm25", kind="bm25", inline=True)
    judge = JudgeVersion.objects.create(dataset=dataset, name="toy-judge", base_model="x", status="ready",
                                        artifact_path=str(tiny_bert_folder(tmp_path / "bert")),
                                        metrics={"threshold": 0.21})
    config = {"retriever_version_id": bm25.pk, "judge": {"judge_version_id": judge.pk}}
    relevance_only = {"weights": {"relevance": 1, "alignment": 0, "diversity": 0, "incremental": 0, "format": 0}}
    feedback, _ = reward_setup(config=config, dataset=dataset, settings=RewardSettings.from_config(relevance_only),
                               device="cpu")
    assert feedback.threshold == 0.21
    feedback, _ = reward_setup(config=config, dataset=dataset, device="cpu",
                               settings=RewardSettings.from_config({**relevance_only, "threshold": 0.7}))
    assert feedback.threshold == 0.7


def test_an_untrained_version_cannot_drive_a_synthesis_job(tail_dataset):
    from synthesis.models import RewriterVersion
    from synthesis.rewriter.jobs import synthesis_with_rewriter_start

    version = RewriterVersion.objects.create(name="busy", dataset=tail_dataset, method="grpo", base_model="x")
    with pytest.raises(ValueError, match="training, not ready"):
        synthesis_with_rewriter_start(version=version)


# --- evaluation ---------------------------------------------------------------------------------------------------------

class FixedRewriter:
    """A rewriter whose sampled answers are given."""

    def __init__(self, answers: dict[str, list[str]]):
        self.answers = answers

    def sample(self, queries, n):
        return [self.answers[q][:n] for q in queries]


def test_evaluation_reports_rewards_new_relevant_finds_and_kept_pairs():
    results = {"warm coffee": [1, 8], "usb mug warmer": [1, 2, 3], "coffee beans": [8, 9],
               "wool hat": [20, 21], "knitted beanie": [20, 22]}
    grades = {("warm coffee", 1): 1.0, ("warm coffee", 2): 1.0, ("warm coffee", 3): 0.2, ("warm coffee", 8): 0.1,
              ("warm coffee", 9): 0.0, ("wool hat", 20): 1.0, ("wool hat", 21): 0.9, ("wool hat", 22): 0.3}
    baseline = {"warm coffee": [1], "wool hat": [20, 21]}
    feedback = RetrievalFeedback(retrieve=lambda texts, k: [results.get(t, [])[:k] for t in texts],
                                 judge=lambda q, pks: [grades.get((q, pk), 0.0) for pk in pks],
                                 baseline_retrieve=lambda texts, k: [baseline.get(t, []) for t in texts],
                                 k=3, threshold=0.5)
    settings = RewardSettings.from_config({"k": 3})
    setup = EvaluationSetup(feedback=feedback, settings=settings, catalogue=toy_space(),
                            curation=CurationSettings(retrieve_k=3, threshold=0.5),
                            labels={1: {3: 3}})  # a human says product 3 fits, the judge disagrees
    rewriter = FixedRewriter({"warm coffee": ["usb mug warmer", "coffee beans"],
                              "wool hat": ["wool hat", "knitted beanie"]})
    metrics = evaluate_rewriter(rewriter=rewriter, queries=[(1, "warm coffee"), (2, "wool hat")], n=2, setup=setup)
    # warm coffee: the rewrites find 2 (judged relevant, missed by the original); wool hat: only 22, judged 0.3.
    assert metrics["new_relevant_share"] == 0.5
    assert metrics["labelled_queries"] == 1 and metrics["labelled_new_relevant_share"] == 1.0
    # kept pairs: warm coffee -> 1 and 2 (2 is incremental: the baseline has only 1); wool hat -> 20 and 21.
    assert metrics["pairs_per_query"] == 2.0 and metrics["incremental_pairs_per_query"] == 0.5
    assert metrics["rewrites_per_query"] == 1.5  # "wool hat" copies its query and is dropped
    assert metrics["rewards"]["format"] == 0.75
    assert set(metrics["rewards"]) == {"relevance", "alignment", "diversity", "incremental", "format", "combined"}
    assert all(0 <= value <= 1 for value in metrics["rewards"].values())


# --- under a real worker ---------------------------------------------------------------------------------------------

# The kill must land mid-training: a tiny model once ran the last of 8 steps before a 0.3 s poll saw the third
# (a CI flake), so there are many steps after it and the poll is quick.
GRPO_STEPS = 24


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_mid_grpo_is_resumed_from_the_checkpoint_by_a_new_worker(real_broker, admin_user, tiny_model,
                                                                                 tmp_path):
    import os
    import signal
    from datetime import timedelta

    from django.utils import timezone

    from jobs.models import Job
    from retrieval.models import Dataset, Query
    from synthesis.models import RewriterVersion
    from synthesis.rewriter.jobs import rewriter_training_start

    from .worker import celery_worker, wait_for

    dataset = Dataset.objects.create(name="toy-worker")
    for i, text in enumerate(QUERIES * 2):
        Query.objects.create(dataset=dataset, query_id=f"q{i}", text=f"{text} {i}", segment="tail")
    seed = tmp_path / "seed.jsonl"
    seed.write_text("".join(json.dumps({"query": q, "rewrites": r}) + "\n" for q, r in REWRITE_EXAMPLES))
    log1 = tmp_path / "worker1.log"
    with celery_worker(log_path=log1) as worker:
        wait_for(lambda: log1.exists() and "ready." in log1.read_text(), timeout=120)
        job = rewriter_training_start(config={
            "dataset_id": dataset.pk, "name": "killed", "base_model": str(tiny_model),
            "seed_sources": {"jsonl": str(seed)}, "sft": {"max_steps": 2, "learning_rate": 1e-3, "batch_size": 4},
            "grpo": {"max_steps": GRPO_STEPS, "save_steps": 2, "num_generations": 2, "max_completion_length": 6},
            "rewards": {"weights": {"relevance": 0, "alignment": 0, "incremental": 0}}, "evaluate": False,
            "device": "cpu"}, user=admin_user)
        assert job.queue == "ml"

        def grpo_checkpointed():
            version = RewriterVersion.objects.filter(job=job, method="grpo").first()
            return version is not None and len(version.reward_curves) >= 3

        wait_for(grpo_checkpointed, timeout=300, interval=0.05)
        os.killpg(worker.pid, signal.SIGKILL)  # no clean shutdown: training dies between checkpoints
        worker.wait(timeout=30)
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING
    sft = RewriterVersion.objects.get(job=job, method="sft")
    assert sft.status == "ready"
    sft_trained_at = sft.trained_at
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    log2 = tmp_path / "worker2.log"
    with celery_worker(log_path=log2):
        wait_for(lambda: not Job.objects.get(pk=job.pk).is_active, timeout=300)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts >= 2 and "resuming" in job.log_tail
    grpo = RewriterVersion.objects.get(job=job, method="grpo")
    assert grpo.status == "ready" and [p["step"] for p in grpo.reward_curves] == list(range(1, GRPO_STEPS + 1))
    sft.refresh_from_db()
    assert sft.trained_at == sft_trained_at
    assert "killed-grpo: resuming from checkpoint-" in job.log_tail  # not trained again from step 0
