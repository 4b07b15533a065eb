"""Wiring the rewards to the real retriever versions, judge and encoder named in a rewriter training job's config."""
from __future__ import annotations

import random

from .feedback import RetrievalFeedback, catalogue_space_from_encoder
from .rewards import RewardSettings


def catalogue_space_for(*, dataset, max_titles: int = 20000, seed: int = 13, neighbours: int = 5,
                        encoder_path: str = ""):
    """The data set's product titles (a seeded sample of at most `max_titles`) embedded with the encoder."""
    from retrieval.encoders import load_encoder

    titles = list(dataset.products.order_by("pk").values_list("title", flat=True))
    if len(titles) > max_titles:
        titles = random.Random(seed).sample(titles, max_titles)
    return catalogue_space_from_encoder(titles=titles, encoder=load_encoder(encoder_path or None),
                                        neighbours=neighbours)


def reward_setup(*, config: dict, dataset, settings: RewardSettings, device: str = "auto"):
    """(RetrievalFeedback or None, CatalogueSpace or None) for the active rewards, from a job config.

    `retriever_version_id`: the strong retriever the rewrites go through (as in the synthesis pipeline);
    `baseline_version_id`: the online baseline for the incremental reward (defaults to the retriever);
    `judge`: `{"backend": "cross-encoder", "judge_version_id": id}` or `{"backend": "llm", ...}`. A product counts
    as relevant at `settings.threshold`, or when that is None at the judge version's calibrated keep threshold
    (0.5 for the LLM judge), as in synthesis jobs.
    """
    from retrieval.models import RetrieverVersion
    from synthesis.judging.judges import judge_keep_threshold, load_judge, product_judge
    from synthesis.models import JudgeVersion
    from synthesis.pipeline import version_retrieve_many

    feedback = catalogue = None
    if {"relevance", "incremental"} & set(settings.active):
        retriever_id = config.get("retriever_version_id")
        if not retriever_id:
            raise ValueError("The relevance and incremental rewards need `retriever_version_id` (a ready "
                             "retriever version of the data set).")
        retriever = RetrieverVersion.objects.get(pk=retriever_id, dataset=dataset)
        baseline_id = config.get("baseline_version_id")
        baseline = RetrieverVersion.objects.get(pk=baseline_id, dataset=dataset) if baseline_id else retriever
        judge_config = dict(config.get("judge") or {})
        backend = judge_config.pop("backend", "cross-encoder")
        judge_version_id = judge_config.pop("judge_version_id", None)
        judge_version = JudgeVersion.objects.get(pk=judge_version_id) if judge_version_id else None
        if backend == "cross-encoder" and judge_version is None:
            judge_version = JudgeVersion.objects.filter(dataset=dataset, status=JudgeVersion.Status.READY).first()
        judge = load_judge(backend=backend, judge_version=judge_version, device=device, **judge_config)
        fields = judge_version.hyperparams.get("fields") if judge_version is not None else None
        threshold = settings.threshold if settings.threshold is not None else judge_keep_threshold(judge_version)
        feedback = RetrievalFeedback(retrieve=version_retrieve_many(retriever),
                                     judge=product_judge(judge, fields=fields),
                                     baseline_retrieve=version_retrieve_many(baseline), k=settings.k,
                                     threshold=threshold, baseline_k=settings.baseline_k)
    if "alignment" in settings.active:
        catalogue = catalogue_space_for(dataset=dataset, neighbours=settings.neighbours)
    return feedback, catalogue

