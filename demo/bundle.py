"""The built-in demo data set, built deterministically from the knowledge in `demo.data` and a seed.

1. Catalogue (`demo.catalogue`): every product type gets an equal share of the products, with marketplace
   titles and descriptions; a few carry HTML markup and entities, one title a <script> tag.
2. Queries: each type's plain queries ("grout saw", "dinosaur toys") get Zipf-distributed frequencies and are
   head (frequency >= HEAD_MIN_FREQUENCY) or torso; each need's phrasings are typed tail queries seen 0-2 times.
3. Labels come from the knowledge table: a plain query's own types are grade 3, the types it lists as related
   2 or 1, and the best lexical matches of other types are hard negatives (1 in the same sub-department, else
   0). A need's wanted types are graded 3 or 2 when the product meets the need's attribute constraints
   (age, only, exclude); products that break a constraint and the need's "wrong" types are hard negatives.
   Splits are per need / per product type group, so that paraphrases never straddle train and test.
4. Logs: every query searched at least once is replayed through a position-biased click model over a noisy
   BM25 ranking of the catalogue (see `simulate_search_sessions`).
"""
from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.bundles import write_bundle

from .catalogue import CatalogueItem, generate_catalogue
from .data import NEEDS, PRODUCT_TYPES, check_knowledge
from .data.schema import Need, ProductType, age_span

DEFAULT_SEED = 7
DEFAULT_PRODUCTS = 3000
MIN_RELEVANT_PER_QUERY = 5  # labels with grade >= 2
HEAD_MIN_FREQUENCY = 100
LOWEST_PLAIN_FREQUENCY = 4  # the least searched plain query; its rank fixes the Zipf constant
ZIPF_EXPONENT = 1.0
TAIL_FREQUENCIES = ((0, 0.45), (1, 0.4), (2, 0.15))
TAIL_TRAIN_SHARE = 0.2  # of needs whose labels may train the relevance judge
PLAIN_TEST_SHARE = 0.5  # of plain-query groups whose labels are held out for evaluation
LEXICAL_NEGATIVES = 5  # best lexical matches of other types labelled per plain query
RESULTS_PER_PAGE = 10
RANKING_CANDIDATES = 40
RANKING_NOISE = 0.25  # sigma of the log-normal factor on each BM25 score, per session
EXAMINATION_DECAY = 0.9  # P(examine position p) = p ** -EXAMINATION_DECAY
CLICK_GIVEN_EXAMINED = {3: 0.45, 2: 0.25, 1: 0.08, 0: 0.02}
PURCHASE_GIVEN_CLICK = {3: 0.2, 2: 0.08, 1: 0.02, 0: 0.0}
GRADE_SCALE = {
    "0": "irrelevant: does not help with the query (includes lexically similar wrong products)",
    "1": "partial: a complement, a near miss or the right kind of product in an unsuitable variant",
    "2": "relevant: helps with the need or is a close substitute",
    "3": "exact: what the query asks for",
}


@dataclass
class DemoQuery:
    row: dict  # the queries.jsonl row
    group: str  # the need or product type group; splits never separate a group
    labels: dict[str, int] = field(default_factory=dict)  # product_id -> grade


@dataclass(frozen=True)
class SearchSession:
    """One simulated search: the page shown (best first) and what the shopper did on it."""

    query_id: str
    shown: tuple[str, ...]
    clicked: tuple[bool, ...]
    purchased: tuple[bool, ...]


@dataclass
class DemoBundle:
    manifest: dict
    items: list[CatalogueItem]
    queries: list[DemoQuery]
    sessions: list[SearchSession]
    interactions: list[dict]
    qrels: list[dict]

    @property
    def products(self) -> list[dict]:
        return [item.row for item in self.items]

    @property
    def query_rows(self) -> list[dict]:
        return [query.row for query in self.queries]


# --- queries and labels --------------------------------------------------------------------------------------


def plain_queries(*, seed: int, types: Sequence[ProductType] = PRODUCT_TYPES) -> list[DemoQuery]:
    """Every distinct plain query of the product types, most searched first, with Zipf-like frequencies."""
    rng = random.Random(f"{seed}:plain-queries")
    exact: dict[str, list[str]] = {}
    popularity: dict[str, float] = {}
    for product_type in types:
        for position, text in enumerate(product_type.queries):
            exact.setdefault(text, []).append(product_type.key)
            # A type's first query is its usual name, later ones are rarer synonyms; short queries are common.
            popularity.setdefault(text, rng.random() + 0.6 * position + 0.15 * len(text.split()))
    ordered = sorted(exact, key=lambda text: (popularity[text], text))
    constant = LOWEST_PLAIN_FREQUENCY * len(ordered) ** ZIPF_EXPONENT
    queries = []
    for rank, text in enumerate(ordered, start=1):
        noise = math.exp(rng.gauss(0.0, 0.1))
        frequency = max(LOWEST_PLAIN_FREQUENCY, round(constant / rank ** ZIPF_EXPONENT * noise))
        row = {"text": text, "frequency": frequency,
               "segment": "head" if frequency >= HEAD_MIN_FREQUENCY else "torso", "query_type": "plain"}
        queries.append(DemoQuery(row=row, group=f"type:{exact[text][0]}", labels={key: 3 for key in exact[text]}))
    queries.sort(key=lambda query: -query.row["frequency"])
    return queries


def tail_queries(*, seed: int, needs: Sequence[Need] = NEEDS) -> list[DemoQuery]:
    """One typed tail query per phrasing of every need, searched 0-2 times."""
    rng = random.Random(f"{seed}:tail-queries")
    values, weights = zip(*TAIL_FREQUENCIES)
    queries = []
    for need in needs:
        for text, query_type in need.phrasings:
            frequency = rng.choices(values, weights=weights)[0]
            row = {"text": text, "frequency": frequency, "segment": "tail", "query_type": query_type}
            queries.append(DemoQuery(row=row, group=f"need:{need.key}"))
    return queries


def label_plain_query(query: DemoQuery, *, items: Sequence[CatalogueItem], types: dict[str, ProductType],
                      lexical_ranking: Sequence[int]) -> dict[str, int]:
    """Grades for a plain query; `query.labels` holds its exact type keys (grade 3) on entry."""
    exact = dict(query.labels)
    by_type: dict[str, int] = {}
    for key in exact:
        for other, grade in types[key].related.items():
            if other not in exact:
                by_type[other] = max(by_type.get(other, 0), grade)
    by_type.update(exact)
    labels = {item.product_id: by_type[item.product_type.key] for item in items if item.product_type.key in by_type}
    sub_departments = {types[key].sub_department for key in exact}
    negatives = 0
    for index in lexical_ranking:
        if negatives == LEXICAL_NEGATIVES:
            break
        item = items[index]
        if item.product_id in labels:
            continue
        labels[item.product_id] = 1 if item.product_type.sub_department in sub_departments else 0
        negatives += 1
    return labels


def label_need(need: Need, *, items: Sequence[CatalogueItem]) -> dict[str, int]:
    """Grades for every phrasing of a need, from its wanted types, constraints and wrong types."""
    wanted = dict(need.wants)
    wrong = set(need.wrong)
    labels = {}
    for item in items:
        key = item.product_type.key
        if key in wanted:
            labels[item.product_id] = _graded_against_constraints(need, item.row["attributes"], wanted[key])
        elif key in wrong:
            labels[item.product_id] = 0
    return labels


def _graded_against_constraints(need: Need, attributes: dict, grade: int) -> int:
    for name, values in need.exclude.items():
        if attributes.get(name) in values:
            return 0  # the query said "not"/"without" exactly this
    for name, values in need.only.items():
        if name in attributes and attributes[name] not in values:
            return 1
    if need.age is not None and "age_range" in attributes:
        low, high = age_span(attributes["age_range"])
        if not low <= need.age <= high:
            return 1
    return grade


def assign_splits(queries: Sequence[DemoQuery], *, seed: int) -> dict[str, str]:
    """group -> split: TAIL_TRAIN_SHARE of needs train (rest test); PLAIN_TEST_SHARE of type groups test."""
    rng = random.Random(f"{seed}:splits")
    splits = {}
    for prefix, train_share in (("need:", TAIL_TRAIN_SHARE), ("type:", 1.0 - PLAIN_TEST_SHARE)):
        groups = sorted({query.group for query in queries if query.group.startswith(prefix)})
        rng.shuffle(groups)
        train_count = round(train_share * len(groups))
        splits.update({group: "train" if i < train_count else "test" for i, group in enumerate(groups)})
    return splits


# --- search logs ---------------------------------------------------------------------------------------------


class LexicalRanker:
    """BM25 (bm25s with the project's default settings) over the product text the site's search indexes."""

    def __init__(self, items: Sequence[CatalogueItem]):
        import bm25s

        from retrieval.bm25 import bm25_config, tokenize
        from retrieval.product_text import product_text

        self._tokenize = tokenize
        self.config = bm25_config(None)
        tokens = tokenize([product_text(item.row) for item in items], self.config, return_ids=True)
        self.retriever = bm25s.BM25(k1=float(self.config["k1"]), b=float(self.config["b"]),
                                    method=self.config["method"])
        self.retriever.index(tokens, show_progress=False)
        self.size = len(items)

    def scores(self, text: str):
        """BM25 score of every product for `text` (a numpy array; zeros when no query term is indexed)."""
        import numpy as np

        tokens = [t for t in self._tokenize([text], self.config, return_ids=False)[0] if t in self.retriever.vocab_dict]
        if not tokens:
            return np.zeros(self.size, dtype=np.float32)
        return self.retriever.get_scores(tokens)

    def ranking(self, text: str, k: int) -> list[int]:
        """Indices of the best `k` products with a positive score, best first (ties by catalogue order)."""
        import numpy as np

        scores = self.scores(text)
        order = np.argsort(-scores, kind="stable")[:k]
        return [int(i) for i in order if scores[i] > 0]


def simulate_search_sessions(*, queries: Sequence[DemoQuery], items: Sequence[CatalogueItem], ranker: LexicalRanker,
                             seed: int) -> list[SearchSession]:
    """Replay `frequency` searches of every query through a position-biased click model.

    Each search shows the top RESULTS_PER_PAGE of the query's RANKING_CANDIDATES best BM25 matches, re-ranked
    with a fresh log-normal factor on every score (the site's ranking is noisy: personalisation, freshness,
    A/B tests). A shopper examines position p with probability p ** -EXAMINATION_DECAY, clicks an examined
    product with a probability set by its true grade (CLICK_GIVEN_EXAMINED; unlabelled products count as 0)
    and buys a clicked one with PURCHASE_GIVEN_CLICK[grade]. Clicks therefore depend on position as well as
    relevance, as in real logs.
    """
    import numpy as np

    noise = np.random.default_rng(seed)
    rng = random.Random(f"{seed}:clicks")
    sessions = []
    for query in queries:
        searches = int(query.row.get("frequency") or 0)
        if searches == 0:
            continue
        candidates = ranker.ranking(query.row["text"], RANKING_CANDIDATES)
        if not candidates:
            continue
        base = np.asarray(ranker.scores(query.row["text"]))[candidates]
        noisy = base * np.exp(noise.normal(0.0, RANKING_NOISE, size=(searches, len(candidates))))
        pages = np.argsort(-noisy, axis=1, kind="stable")[:, :RESULTS_PER_PAGE]
        for page in pages:
            shown = tuple(items[candidates[j]].product_id for j in page)
            clicked, purchased = [], []
            for position, product_id in enumerate(shown, start=1):
                grade = query.labels.get(product_id, 0)
                click = rng.random() < position ** -EXAMINATION_DECAY and rng.random() < CLICK_GIVEN_EXAMINED[grade]
                clicked.append(click)
                purchased.append(click and rng.random() < PURCHASE_GIVEN_CLICK[grade])
            sessions.append(SearchSession(query_id=query.row["query_id"], shown=shown, clicked=tuple(clicked),
                                          purchased=tuple(purchased)))
    return sessions


def aggregate_interactions(sessions: Iterable[SearchSession]) -> list[dict]:
    """interactions.tsv rows: impressions, clicks and purchases per (query, product), sorted by ids."""
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for session in sessions:
        for product_id, click, purchase in zip(session.shown, session.clicked, session.purchased):
            counts = totals[(session.query_id, product_id)]
            counts[0] += 1
            counts[1] += click
            counts[2] += purchase
    return [{"query_id": q, "product_id": p, "impressions": i, "clicks": c, "purchases": b}
            for (q, p), (i, c, b) in sorted(totals.items())]


# --- the bundle ----------------------------------------------------------------------------------------------


def build_demo_bundle(*, seed: int = DEFAULT_SEED, products: int = DEFAULT_PRODUCTS) -> DemoBundle:
    """Build the whole data set in memory; the same seed and size always give the same rows."""
    check_knowledge()
    items = generate_catalogue(count=products, seed=seed)
    types = {product_type.key: product_type for product_type in PRODUCT_TYPES}
    ranker = LexicalRanker(items)
    plain = plain_queries(seed=seed)
    tail = tail_queries(seed=seed)
    queries = plain + tail
    for number, query in enumerate(queries, start=1):
        query.row = {"query_id": f"q{number:04d}", **query.row}
    for query in plain:
        query.labels = label_plain_query(query, items=items, types=types,
                                         lexical_ranking=ranker.ranking(query.row["text"], RANKING_CANDIDATES))
    need_labels = {f"need:{need.key}": label_need(need, items=items) for need in NEEDS}
    for query in tail:
        query.labels = dict(need_labels[query.group])
    _require_enough_relevant(queries, products=products)
    splits = assign_splits(queries, seed=seed)
    qrels = [{"query_id": query.row["query_id"], "product_id": product_id, "grade": grade,
              "split": splits[query.group]}
             for query in queries for product_id, grade in sorted(query.labels.items())]
    sessions = simulate_search_sessions(queries=queries, items=items, ranker=ranker, seed=seed)
    return DemoBundle(manifest=demo_manifest(seed=seed, products=products), items=items, queries=queries,
                      sessions=sessions, interactions=aggregate_interactions(sessions), qrels=qrels)


def _require_enough_relevant(queries: Sequence[DemoQuery], *, products: int) -> None:
    short = [f"{query.row['text']!r} ({sum(g >= 2 for g in query.labels.values())})" for query in queries
             if sum(grade >= 2 for grade in query.labels.values()) < MIN_RELEVANT_PER_QUERY]
    if short:
        raise ValueError(f"With {products} products, {len(short)} queries have fewer than {MIN_RELEVANT_PER_QUERY} "
                         f"relevant products: {', '.join(short[:10])}. Build with more products.")


def demo_manifest(*, seed: int, products: int) -> dict:
    return {
        "name": "demo",
        "description": (
            f"Synthetic general-merchandise catalogue ({products} products, seed {seed}) with Zipf-distributed "
            "plain queries, knowledge-intensive tail queries, position-biased click logs and graded labels. "
            "Built by `python manage.py build_demo_bundle` from the knowledge table in demo/data."
        ),
        "license": "CC0-1.0 (synthetic: every product, brand, query and log row is generated)",
        "grade_scale": GRADE_SCALE,
    }


def write_demo_bundle(*, out_dir: Path | str, seed: int = DEFAULT_SEED, products: int = DEFAULT_PRODUCTS) -> DemoBundle:
    """Build the data set and write it as a bundle folder (DESIGN.md § Data)."""
    bundle = build_demo_bundle(seed=seed, products=products)
    write_bundle(out_dir, manifest=bundle.manifest, products=bundle.products, queries=bundle.query_rows,
                 interactions=bundle.interactions, qrels=bundle.qrels)
    return bundle


def summarise(bundle: DemoBundle) -> list[str]:
    """Human-readable counts for the command's output."""
    departments = Counter(item.product_type.department for item in bundle.items)
    segments = Counter(query.row["segment"] for query in bundle.queries)
    query_types = Counter(query.row["query_type"] for query in bundle.queries)
    splits = Counter(row["split"] for row in bundle.qrels)
    grades = Counter(row["grade"] for row in bundle.qrels)
    clicks = sum(row["clicks"] for row in bundle.interactions)
    return [
        f"products: {len(bundle.items)} in {len(departments)} departments "
        f"({', '.join(f'{d} {n}' for d, n in sorted(departments.items()))})",
        f"queries: {len(bundle.queries)} ({', '.join(f'{s} {segments[s]}' for s in ('head', 'torso', 'tail'))}; "
        f"{', '.join(f'{t} {n}' for t, n in sorted(query_types.items()))})",
        f"search sessions: {len(bundle.sessions)}; interactions: {len(bundle.interactions)} rows, {clicks} clicks, "
        f"{sum(row['purchases'] for row in bundle.interactions)} purchases",
        f"qrels: {len(bundle.qrels)} ({', '.join(f'grade {g} {grades[g]}' for g in sorted(grades))}; "
        f"train {splits['train']}, test {splits['test']})",
    ]
