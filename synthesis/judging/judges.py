"""Relevance judges behind one interface, `score(query, products) -> list[float]` in [0, 1], and the one loop that
scores labelled (query, product) examples with a judge.

- `CrossEncoderJudge`: a transformers sequence-classification cross-encoder (sentence-transformers'
  `CrossEncoder`, one logit through a sigmoid), trained by `training.judge_training_work` and stored as a
  `JudgeVersion` with its validation accuracy, AUC and calibrated keep threshold.
- `BiEncoderJudge`: a sentence encoder used zero-shot (cosine of query and product embeddings, mapped to
  [0, 1]); stored as a `JudgeVersion` of kind `bi-encoder` whose job only measures it on held-out labels and
  calibrates its keep threshold. With `all-mpnet-base-v2` it is a teacher larger than, and independent of, the
  MiniLM student.
- `LLMJudge`: an OpenAI-compatible chat model grading each product 0-3; the score is grade / 3.

Products are passed as text (`retrieval.product_text.product_text`), so a judge never touches the database;
`product_judge` adapts a judge to product pks for the pipeline.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from itertools import groupby
from pathlib import Path
from typing import Protocol, runtime_checkable

from core.devices import resolve_device
from core.llm import ChatClient

logger = logging.getLogger(__name__)
JUDGE_BACKENDS = ("cross-encoder", "llm")  # "cross-encoder": a judge version, of either kind below
JUDGE_KINDS = ("cross-encoder", "bi-encoder")
DEFAULT_THRESHOLD = 0.5
_GRADE = re.compile(r"(?<![\d.])([0-3])(?![\d.])")

JUDGE_SYSTEM = (
    "You judge e-commerce search relevance. Given a shopper's query and one product, grade how well the product "
    "satisfies the query: 3 = exact match (what the shopper wants), 2 = substitute (close, usable instead), "
    "1 = complement or loosely related, 0 = irrelevant or contradicts the query (for example it has what the "
    "query says it must not have). Answer with JSON only: {\"grade\": <0-3>}."
)

JUDGE_EXAMPLES: list[tuple[str, str, int]] = [
    ("sulfate free shampoo", "Title: Moisture Shampoo (sulfate-free) | Category: Beauty > Hair Care > Shampoo", 3),
    ("sulfate free shampoo", "Title: Clarifying Shampoo with SLS | Category: Beauty > Hair Care > Shampoo", 0),
    ("gift for a new runner", "Title: Reflective Running Vest | Category: Sports > Running > Safety", 2),
]


def judge_messages(query: str, product: str) -> list[dict]:
    """Chat messages asking for a 0-3 relevance grade of one product for the original query."""
    messages = [{"role": "system", "content": JUDGE_SYSTEM}]
    for example_query, example_product, grade in JUDGE_EXAMPLES:
        messages.append({"role": "user", "content": f"Query: {example_query}\nProduct: {example_product}"})
        messages.append({"role": "assistant", "content": json.dumps({"grade": grade})})
    messages.append({"role": "user", "content": f"Query: {query}\nProduct: {product}"})
    return messages



def parse_grade(text: str, *, max_grade: int = 3) -> int | None:
    """The relevance grade (0..max_grade) in an LLM judge's answer: JSON {"grade": n} or the first lone digit."""
    items = None
    try:
        start = text.index("{")
        items = json.loads(text[start:text.rindex("}") + 1])
    except ValueError:
        pass
    if isinstance(items, dict):
        for key in ("grade", "score", "relevance", "label"):
            value = items.get(key)
            if isinstance(value, (int, float)) and 0 <= value <= max_grade:
                return int(round(value))
    match = _GRADE.search(text)
    if match and int(match.group(1)) <= max_grade:
        return int(match.group(1))
    return None



@runtime_checkable
class Judge(Protocol):
    def score(self, query: str, products: Sequence[str]) -> list[float]:
        """Relevance of each product text to the query, in [0, 1] (1 = exactly what the shopper wants)."""

    def describe(self) -> dict:
        """Which judge this is, recorded with what it judged."""


class CrossEncoderJudge:
    def __init__(self, *, model, name: str = "", batch_size: int = 64):
        self.model, self.name, self.batch_size = model, name, batch_size

    def describe(self) -> dict:
        return {"backend": "cross-encoder", "name": self.name}

    def score(self, query: str, products: Sequence[str]) -> list[float]:
        if not products:
            return []
        scores = self.model.predict([(query, text) for text in products], batch_size=self.batch_size,
                                    show_progress_bar=False)
        return [min(1.0, max(0.0, float(s))) for s in scores]


class BiEncoderJudge:
    """Zero-shot relevance from a sentence encoder: (1 + cosine) / 2 of L2-normalised embeddings. Product
    embeddings are cached by text, so a product judged for several queries is encoded once."""

    def __init__(self, *, model, name: str = "", batch_size: int = 64, cache_size: int = 50_000,
                 max_seq_length: int | None = None):
        self.model, self.name, self.batch_size, self.cache_size = model, name, batch_size, cache_size
        self.max_seq_length = max_seq_length
        self._cache: dict[str, object] = {}

    def describe(self) -> dict:
        return {"backend": "bi-encoder", "name": self.name, "max_seq_length": self.max_seq_length}

    def encode_query(self, query: str):
        from retrieval.encoders import encode_texts

        return encode_texts(self.model, [query], batch_size=1, max_seq_length=self.max_seq_length)[0]

    @staticmethod
    def relevance(query_vector, product_vectors) -> list[float]:
        """(1 + cosine) / 2 of unit vectors, clipped to [0, 1]."""
        return [min(1.0, max(0.0, (1.0 + float(v @ query_vector)) / 2)) for v in product_vectors]

    def score(self, query: str, products: Sequence[str]) -> list[float]:
        from retrieval.encoders import encode_texts

        if not products:
            return []
        missing = list(dict.fromkeys(text for text in products if text not in self._cache))
        if missing:
            if len(self._cache) + len(missing) > self.cache_size:
                self._cache.clear()
            for text, vector in zip(missing, encode_texts(self.model, missing, batch_size=self.batch_size,
                                                          max_seq_length=self.max_seq_length)):
                self._cache[text] = vector
        return self.relevance(self.encode_query(query), [self._cache[text] for text in products])


class LLMJudge:
    """Grades 0-3 through a chat endpoint; an answer without a grade counts as 0 (and is counted)."""

    def __init__(self, *, client: ChatClient, max_tokens: int = 16):
        self.client, self.max_tokens = client, max_tokens
        self.unparsed = 0

    def describe(self) -> dict:
        return {"backend": "llm", "model": self.client.model, "url": self.client.url}

    def score(self, query: str, products: Sequence[str]) -> list[float]:
        answers = self.client.complete_many([judge_messages(query, text) for text in products],
                                            temperature=0.0, max_tokens=self.max_tokens)
        scores = []
        for answer in answers:
            grade = parse_grade(answer[0] if answer else "")
            if grade is None:
                self.unparsed += 1
                grade = 0
            scores.append(grade / 3)
        return scores


def load_cross_encoder(path: str, *, device: str = "auto", num_labels: int | None = None, backend: str = "torch"):
    """A sentence-transformers CrossEncoder from a folder; a plain encoder folder gets a fresh 1-logit head.
    `backend` `onnx` / `onnx-int8` (a trained judge scoring on the CPU) runs it through onnxruntime
    (`retrieval.onnx_cross_encoder`); training asks for `torch`."""
    from sentence_transformers.cross_encoder import CrossEncoder

    model = CrossEncoder(path, device=resolve_device(device), num_labels=num_labels)
    if backend == "torch" or model.device.type != "cpu":
        return model
    from retrieval.onnx_cross_encoder import onnx_cross_encoder
    from retrieval.onnx_encoder import OnnxUnsupported

    try:
        return onnx_cross_encoder(model, str(Path(path).resolve()), backend=backend)
    except OnnxUnsupported as exc:
        raise ValueError(str(exc)) from exc


def load_judge(*, backend: str = "cross-encoder", judge_version=None, path: str = "", device: str = "auto",
               base_url: str = "", model: str = "", api_key: str = "", concurrency: int = 4,
               timeout: float = 60.0, retries: int = 3) -> Judge:
    """The judge for a backend: a trained `JudgeVersion` (or an artifact folder) or the LLM judge."""
    if backend == "cross-encoder":
        if judge_version is not None:
            if judge_version.status != judge_version.Status.READY:
                raise ValueError(f"Judge version {judge_version.name!r} is {judge_version.status}, not ready.")
            path = judge_version.artifact_path
            if (judge_version.hyperparams or {}).get("kind") == "bi-encoder":
                from retrieval.encoders import load_encoder

                return BiEncoderJudge(model=load_encoder(path or judge_version.base_model, device=device),
                                      name=judge_version.name,
                                      max_seq_length=judge_version.hyperparams.get("max_seq_length"))
        if not path:
            raise ValueError("A cross-encoder judge needs a trained judge version (train one first).")
        if not Path(path).exists():
            raise FileNotFoundError(f"Judge artifact {path} is missing.")
        from django.conf import settings

        return CrossEncoderJudge(model=load_cross_encoder(path, device=device, backend=settings.ENCODER_BACKEND),
                                 name=judge_version.name if judge_version is not None else path)
    if backend == "llm":
        from core.llm import chat_client_from_settings

        return LLMJudge(client=chat_client_from_settings(base_url=base_url, model=model, api_key=api_key,
                                                         concurrency=concurrency, timeout=timeout, retries=retries))
    raise ValueError(f"Unknown judge backend {backend!r}; choose one of {', '.join(JUDGE_BACKENDS)}.")



def judge_keep_threshold(judge_version) -> float:
    """A judge version's calibrated keep threshold (Youden's J on its validation split), else 0.5."""
    value = (judge_version.metrics or {}).get("threshold") if judge_version is not None else None
    return float(value) if value is not None else DEFAULT_THRESHOLD


def product_judge(judge, *, fields: Sequence[str] | None = None) -> Callable[[str, Sequence[int]], list[float]]:
    """`judge_products(query, pks)` for a text judge: products are read and rendered as the retriever reads them."""
    from retrieval.models import Product
    from retrieval.product_text import product_text, validate_fields

    fields = validate_fields(fields)

    def judge_products(query: str, product_pks: Sequence[int]) -> list[float]:
        rows = {row["pk"]: row for row in Product.objects.filter(pk__in=list(product_pks)).values("pk", *fields)}
        return judge.score(query, [product_text(rows[pk], fields) for pk in product_pks])

    return judge_products



def index_backed_judge(judge, *, judge_version, retriever_version) -> Callable[[str, Sequence[int]], list[float]] | None:
    """For a bi-encoder judge whose product embeddings a zero-shot dense retriever version already holds (same
    encoder, product fields and product length), `judge_products(query, pks)` that reads them from the version's
    index instead of encoding each product again: the same scores, without the judge's main cost. None otherwise."""
    from retrieval.encoders import resolve_encoder
    from retrieval.product_text import validate_fields
    from retrieval.search import loaded_searcher

    params, judge_params = retriever_version.hyperparams or {}, judge_version.hyperparams or {}
    if not isinstance(judge, BiEncoderJudge) or retriever_version.kind != "dense" or params.get("train", True):
        return None
    if (resolve_encoder(retriever_version.base_model) != judge_version.base_model
            or params.get("max_seq_length") != judge_params.get("max_seq_length")
            or validate_fields(params.get("fields")) != validate_fields(judge_params.get("fields"))):
        return None
    index = loaded_searcher(retriever_version).index

    def judge_products(query: str, product_pks: Sequence[int]) -> list[float]:
        if not product_pks:
            return []
        return judge.relevance(judge.encode_query(query), index.vectors(product_pks))

    return judge_products


def score_examples(judge_products, *, examples, query_text: dict[int, str]) -> tuple[list[float], list[float]]:
    """(scores, labels) of labelled examples (`query_pk`, `product_pk`, `label`), one judge call per query.

    `judge_products(query, product_pks)` is `product_judge(judge, fields=...)`: the one loop that scores
    (query, product) pairs with a judge in batches, for validation and for comparing judges.
    """
    scores: list[float] = []
    labels: list[float] = []
    ordered = sorted(examples, key=lambda e: e.query_pk)
    for query_pk, group in groupby(ordered, key=lambda e: e.query_pk):
        group = list(group)
        scores += judge_products(query_text[query_pk], [e.product_pk for e in group])
        labels += [e.label for e in group]
    return scores, labels
