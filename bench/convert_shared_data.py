"""Convert the shared development data (CrowdFlower, Chorus/Icecat) into dataset bundles with simulated logs.

    python bench/convert_shared_data.py --out DIR [--data ../shared/data] [--seed 13]

writes `DIR/crowdflower` and `DIR/chorus` (DESIGN.md § Data), ready for `manage.py import_bundle`. Both data
sets come with graded human labels but no behavioural logs, so logs are simulated (issue 3 item 10).

Sources
- CrowdFlower (`crowdflower/train.csv.zip`, Kaggle 2015): one row per (query, product) judgement. There is no
  product id, so a product is keyed by its (product_title, raw product_description) pair:
  `product_id = "cf-" + sha1(title + "\\x00" + description)[:16]`. Descriptions are HTML-ish: tags are
  stripped, entities decoded, whitespace collapsed (`retrieval.importers.html_text`). `median_relevance` 1-4
  becomes grade 0-3 (grade = median - 1). A (query, product) pair judged in several rows gets the mean of its
  grades, rounded half up.
- Chorus (`chorus_icecat/products_part*.json.zip` + `Broad_Query_Set_rated.csv`): product_id = Icecat `id`,
  title = `title` (else `name`), description = `short_description` (HTML stripped), brand = `supplier`,
  price = `price` / 100 (the file holds cents), attributes = every `attr_t_*` field (prefix dropped) plus
  `model` = `name`. Grades are the file's 0-3 `rating`.
- Query ids are `cfq-`/`chq-` + sha1(query text)[:10]; queries keep no other field from the source.

Simulated logs (the same procedure for both, fixed `--seed`, default 13)
1. Eligible queries are those with at least one grade >= 3 label (3 is the top grade after mapping; a query
   without one has nothing to click). `n_logged = min(#eligible, round(0.6 * #queries))` of them, drawn with
   `random.Random(seed).sample` from the sorted eligible ids, are *logged*; every other query is *tail*.
2. Frequency: the logged queries in a seeded random order get Zipf-like frequencies
   `round(2000 / rank ** 1.0)` (rank 1 = 2000 searches, the last at 2000 / n_logged).
   Segment: the more frequent half of the logged queries (ties broken by query id) is `head`, the rest
   `torso`. Tail queries have segment `tail`, no frequency and no interactions.
3. Interactions, a position-biased click model: per logged query, its grade >= 3 products in a seeded random
   order form the "production" result list, of which the top 10 are shown in every one of its `frequency`
   searches (impressions = frequency). A product at rank r is examined with probability 1 / r and, once
   examined, clicked with its own attractiveness drawn once from Uniform(0.4, 0.9); clicks ~
   Binomial(frequency, attractiveness / r) and purchases ~ Binomial(clicks, 0.1) (numpy, seeded). Products
   with lower grades never appear in the logs; grade >= 3 products beyond rank 10 do not either.
4. Label split: every label of a tail query goes to `test`. Of the logged queries, a seeded random half
   (floor(n_logged / 2), drawn from the sorted logged ids) has its labels in `test` as well, so head and torso
   queries can be evaluated; the other half's labels go to `train`. All labels of a query share one split.
   Caveat: a logged test query's clicks come from its own grade-3 test labels (logs and labels describe the
   same relevance, as they do in production); on head/torso test queries a log-trained model is therefore
   measured on products it may have seen clicked. Tail test queries have no logs at all.

The script prints the row counts of each bundle. Only the standard library, numpy and the project's
Django-free modules (`retrieval.bundles`, `retrieval.importers.html_text`) are used.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import random
import sys
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from retrieval.bundles import write_bundle  # noqa: E402
from retrieval.importers.html_text import html_to_text  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data"
LOGGED_SHARE = 0.6
TOP_GRADE = 3
MAX_FREQUENCY = 2000
ZIPF_EXPONENT = 1.0
SHOWN = 10
ATTRACTIVENESS = (0.4, 0.9)
PURCHASE_RATE = 0.1
GRADE_SCALE = {"3": "exact / highly relevant", "2": "relevant", "1": "somewhat relevant", "0": "irrelevant"}


@dataclass
class LabelledData:
    """A catalogue with human labels: products (bundle rows), query texts by id, grades by (query, product)."""

    products: list[dict]
    queries: dict[str, str]
    grades: dict[tuple[str, str], int]


def short_hash(text: str, length: int) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:length]


def round_half_up(value: float) -> int:
    return int(Decimal(str(value)).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def read_crowdflower(zip_path: Path) -> LabelledData:
    products: dict[str, dict] = {}
    queries: dict[str, str] = {}
    judged: dict[tuple[str, str], list[int]] = defaultdict(list)
    with zipfile.ZipFile(zip_path) as archive, archive.open("train.csv") as raw:
        for row in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline="")):
            title, description = row["product_title"], row["product_description"]
            product_id = "cf-" + short_hash(title + "\x00" + description, 16)
            if product_id not in products:
                products[product_id] = {
                    "product_id": product_id,
                    "title": html_to_text(title) or "(untitled)",
                    "description": html_to_text(description),
                }
            query_id = "cfq-" + short_hash(row["query"], 10)
            queries[query_id] = row["query"].strip()
            judged[(query_id, product_id)].append(int(row["median_relevance"]) - 1)
    grades = {pair: round_half_up(sum(values) / len(values)) for pair, values in judged.items()}
    return LabelledData(products=list(products.values()), queries=queries, grades=grades)


def read_chorus(folder: Path) -> LabelledData:
    products = []
    for part in sorted(folder.glob("products_part*.json.zip")):
        with zipfile.ZipFile(part) as archive:
            for item in json.load(archive.open(archive.namelist()[0])):
                attributes = {key[len("attr_t_"):]: value for key, value in item.items()
                              if key.startswith("attr_t_") and value not in (None, "")}
                if item.get("name"):
                    attributes["model"] = item["name"]
                price = item.get("price")
                products.append({
                    "product_id": str(item["id"]),
                    "title": (item.get("title") or item.get("name") or "").strip(),
                    "description": html_to_text(item.get("short_description")),
                    "brand": item.get("supplier") or "",
                    "price": None if price is None else float(Decimal(price) / 100),
                    "attributes": attributes,
                })
    queries: dict[str, str] = {}
    grades: dict[tuple[str, str], int] = {}
    with (folder / "Broad_Query_Set_rated.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            query_id = "chq-" + short_hash(row["query"], 10)
            queries[query_id] = row["query"].strip()
            grades[(query_id, row["docid"].strip())] = int(row["rating"])
    return LabelledData(products=products, queries=queries, grades=grades)


def simulate_logs(data: LabelledData, *, seed: int) -> tuple[list[dict], list[dict], list[dict], dict]:
    """Queries (with frequency/segment), interactions and split qrels, as the module docstring describes."""
    import numpy as np

    rng = random.Random(seed)
    draws = np.random.default_rng(seed)
    positives: dict[str, list[str]] = defaultdict(list)
    for (query_id, product_id), grade in sorted(data.grades.items()):
        if grade >= TOP_GRADE:
            positives[query_id].append(product_id)
    query_ids = sorted(data.queries)
    eligible = sorted(q for q in query_ids if positives[q])
    n_logged = min(len(eligible), round(LOGGED_SHARE * len(query_ids)))
    logged = sorted(rng.sample(eligible, n_logged))

    order = logged[:]
    rng.shuffle(order)
    frequency = {q: max(1, round(MAX_FREQUENCY / rank ** ZIPF_EXPONENT)) for rank, q in enumerate(order, start=1)}
    by_traffic = sorted(logged, key=lambda q: (-frequency[q], q))
    n_head = math.ceil(len(by_traffic) / 2)
    segment = {q: ("head" if i < n_head else "torso") for i, q in enumerate(by_traffic)}

    interactions = []
    for query_id in logged:
        shown = positives[query_id][:]
        rng.shuffle(shown)
        for rank, product_id in enumerate(shown[:SHOWN], start=1):
            attractiveness = draws.uniform(*ATTRACTIVENESS)
            clicks = int(draws.binomial(frequency[query_id], attractiveness / rank))
            purchases = int(draws.binomial(clicks, PURCHASE_RATE))
            interactions.append({"query_id": query_id, "product_id": product_id,
                                 "impressions": frequency[query_id], "clicks": clicks, "purchases": purchases})

    logged_in_test = set(rng.sample(logged, len(logged) // 2))
    split = {q: ("test" if q not in segment or q in logged_in_test else "train") for q in query_ids}
    queries = []
    for query_id in query_ids:
        row = {"query_id": query_id, "text": data.queries[query_id]}
        if query_id in segment:
            row.update(frequency=frequency[query_id], segment=segment[query_id])
        else:
            row["segment"] = "tail"
        queries.append(row)
    qrels = [{"query_id": q, "product_id": p, "grade": g, "split": split[q]}
             for (q, p), g in sorted(data.grades.items())]
    stats = {
        "queries": len(query_ids), "eligible": len(eligible), "logged": len(logged),
        "head": sum(1 for s in segment.values() if s == "head"),
        "torso": sum(1 for s in segment.values() if s == "torso"),
        "tail": len(query_ids) - len(logged), "logged_test_queries": len(logged_in_test),
    }
    return queries, interactions, qrels, stats


def convert(data: LabelledData, *, out: Path, name: str, description: str, license: str, seed: int) -> dict:
    queries, interactions, qrels, stats = simulate_logs(data, seed=seed)
    manifest = {"name": name, "description": f"{description} Logs simulated (seed {seed}); see "
                                             "bench/convert_shared_data.py.",
                "license": license, "grade_scale": GRADE_SCALE}
    write_bundle(out, manifest=manifest, products=data.products, queries=queries, interactions=interactions,
                 qrels=qrels)
    return {
        "bundle": str(out), "products": len(data.products), **{f"queries_{k}": v for k, v in stats.items()},
        "interactions": len(interactions), "clicks": sum(r["clicks"] for r in interactions),
        "qrels": len(qrels), "qrels_test": sum(1 for r in qrels if r["split"] == "test"),
        "qrels_train": sum(1 for r in qrels if r["split"] == "train"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to write crowdflower/ and chorus/ into")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"shared data folder (default {DEFAULT_DATA})")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    results = [
        convert(read_crowdflower(args.data / "crowdflower" / "train.csv.zip"), out=args.out / "crowdflower",
                name="crowdflower", seed=args.seed,
                description="CrowdFlower Search Results Relevance (Kaggle 2015), train split.",
                license="Kaggle competition rules; research use only"),
        convert(read_chorus(args.data / "chorus_icecat"), out=args.out / "chorus", name="chorus", seed=args.seed,
                description="Chorus electronics catalogue (Icecat) with the Broad Query Set human ratings.",
                license="Icecat Open Content License (products); Apache-2.0 (querqy/chorus)"),
    ]
    keys = list(results[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for result in results:
        print("| " + " | ".join(str(result[k]) for k in keys) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
