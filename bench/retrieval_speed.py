"""Retrieval speed benchmark: encoding throughput, index build time, FAISS and end-to-end `retrieve` latency, memory.

    python bench/retrieval_speed.py [--bundle DIR] [--sizes 55000,100000,1000000] [--out FILE.json]

Prints markdown tables:
1. encoding throughput of the encoder (offline MiniLM unless ENCODER_MODEL is set) on product texts (the
   bundle's catalogue when given, else generated product-like texts) for every encoder backend (`torch`, i.e. plain
   `SentenceTransformer.encode` fp32, then `onnx` and `onnx-int8`): products per wall-clock second, per CPU second
   of this process (less sensitive to other work on a shared machine), the ratio to torch fp32, and the mean cosine
   of each backend's vectors to the fp32 ones (`--encoding-only` stops after this table and the next two);
2. single-query encoding latency;
   then the cross-encoder judge's throughput under every backend ((query, product) pairs/s on half as many
   texts, the ratio to torch fp32 and the mean score gap to it);
3. per catalogue size (the bundle's size, then --sizes) and index type: build seconds, FAISS search p50/p99 for
   one query (k=10); vectors are random unit vectors of the encoder's dimension (latency does not depend on
   the values, but ANN recall on random vectors is far below that on real embeddings, so none is reported);
4. at 1M vectors (IVF; HNSW with --hnsw-1m): build time, search latency and peak RSS of a fresh process that
   builds the index, and of one that loads and serves it;
5. `retrieve()` end to end (version lookup, query encoding, FAISS, hits), p50/p99: on the bundle's real built
   version when --bundle is given, and on a 55k-product catalogue whose index holds random vectors.

Everything runs in a throw-away SQLite database and artifact folder. Runs are bounded (HNSW at 1M is skipped
unless --hnsw-1m: its build takes about an hour on a 2-core machine).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.django_env import setup_django  # noqa: E402  (after the path set-up)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def catalogue_texts(bundle: Path | None, count: int) -> list[str]:
    from retrieval.product_text import product_text

    texts: list[str] = []
    if bundle:
        with (bundle / "catalog.jsonl").open(encoding="utf-8") as f:
            for line in f:
                texts.append(product_text(json.loads(line)))
                if len(texts) >= count:
                    break
    import random

    rng = random.Random(0)
    nouns = ["frying pan", "running shoes", "desk lamp", "garden hose", "phone case", "dog bed", "drill bit set",
             "yoga mat", "baby monitor", "car seat cover", "coffee grinder", "winter jacket"]
    while len(texts) < count:
        noun = rng.choice(nouns)
        texts.append(f"{rng.choice(['Acme', 'Nordic', 'Zenith', 'Orbit'])} {noun} {rng.randint(1, 99)} | brand: Acme | "
                     f"category: Home > {noun.title()} | colour: {rng.choice(['black', 'red', 'blue'])}; "
                     f"size: {rng.randint(10, 60)} cm; material: {rng.choice(['steel', 'cotton', 'plastic'])}")
    return texts[:count]


def bench_encoding(bundle: Path | None, count: int, *, rounds: int = 2) -> tuple[list[dict], dict]:
    """Products/s of every encoder backend on the same texts, against plain `SentenceTransformer.encode` fp32
    (the `torch` backend); the backends take turns for `rounds` rounds and each keeps its best round."""
    import numpy as np
    import torch

    from retrieval.encoders import encode_query, encode_texts, load_encoder, resolve_encoder
    from retrieval.onnx_encoder import BACKENDS

    models = {backend: load_encoder(None, device="cpu", backend=backend) for backend in BACKENDS}
    texts = catalogue_texts(bundle, count)
    reference = {}
    rows = []
    for max_len in (128, 64):
        best: dict[str, tuple[float, float]] = {}
        for _ in range(rounds):
            for backend, model in models.items():
                encode_texts(model, texts[:64], max_seq_length=max_len)  # warm-up
                started, cpu_started = time.perf_counter(), time.process_time()
                vectors = encode_texts(model, texts, batch_size=64, max_seq_length=max_len)
                seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
                if backend not in best or seconds < best[backend][0]:
                    best[backend] = (seconds, cpu_seconds)
                if backend == "torch":
                    reference[max_len] = vectors
                else:  # agreement with the fp32 torch vectors of the same texts
                    cosine = float(np.mean(np.sum(vectors * reference[max_len], axis=1)))
                    best[f"{backend}:cosine"] = (cosine, 0.0)
        for backend in models:
            seconds, cpu_seconds = best[backend]
            rows.append({"encoder": Path(resolve_encoder(None)).parent.name, "backend": backend, "texts": count,
                         "max_seq_length": max_len, "torch_threads": torch.get_num_threads(),
                         "seconds": round(seconds, 1), "products_per_s": round(count / seconds, 1),
                         "products_per_cpu_s": round(count / cpu_seconds, 1),
                         "vs_torch_fp32": round(best["torch"][0] / seconds, 2),
                         "mean_cosine_to_fp32": round(best.get(f"{backend}:cosine", (1.0,))[0], 4)})
    queries = ["red running shoes", "waterproof bluetooth speaker for the shower", "cast iron skillet 12 inch",
               "kids bunk bed with storage", "usb c charger", "gift for a new gardener"] * 20
    latencies = []
    for text in queries:
        started = time.perf_counter()
        encode_query(models["torch"], text)
        latencies.append(time.perf_counter() - started)
    return rows, {"queries": len(queries), "p50_ms": ms(percentile(latencies, 50)),
                  "p99_ms": ms(percentile(latencies, 99))}


def bench_judging(bundle: Path | None, count: int, folder: Path, *, rounds: int = 2) -> list[dict]:
    """(query, product) pairs/s of a one-label MiniLM cross-encoder (the cross-encoder judge's architecture) under
    every backend, and its mean score gap to torch fp32. The head is freshly initialised and saved once, so speed
    and agreement are a judge's while the scores themselves mean nothing."""
    import numpy as np

    from retrieval.encoders import resolve_encoder
    from retrieval.onnx_encoder import BACKENDS
    from synthesis.judging.judges import load_cross_encoder

    load_cross_encoder(resolve_encoder(None), device="cpu", num_labels=1).save_pretrained(str(folder))
    models = {backend: load_cross_encoder(str(folder), device="cpu", backend=backend) for backend in BACKENDS}
    queries = ["what do I need to re-grout a shower", "gift for a 5 year old who loves dinosaurs", "usb c charger"]
    pairs = [(queries[i % len(queries)], text) for i, text in enumerate(catalogue_texts(bundle, count))]
    best: dict[str, float] = {}
    gaps: dict[str, float] = {}
    for _ in range(rounds):
        for backend, model in models.items():
            model.predict(pairs[:64], batch_size=64, show_progress_bar=False)  # warm-up
            started = time.perf_counter()
            scores = np.asarray(model.predict(pairs, batch_size=64, show_progress_bar=False))
            best[backend] = min(best.get(backend, float("inf")), time.perf_counter() - started)
            if backend == "torch":
                reference = scores
            else:
                gaps[backend] = float(np.mean(np.abs(scores - reference)))
    return [{"judge": "cross-encoder (MiniLM)", "backend": backend, "runs_as": getattr(model, "backend", "torch"),
             "pairs": len(pairs), "pairs_per_s": round(len(pairs) / best[backend], 1),
             "vs_torch_fp32": round(best["torch"] / best[backend], 2),
             "mean_score_gap_to_fp32": round(gaps.get(backend, 0.0), 4)} for backend, model in models.items()]


def random_unit_vectors(count: int, dim: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    out = np.empty((count, dim), dtype=np.float32)
    for start in range(0, count, 100_000):
        block = rng.standard_normal((min(100_000, count - start), dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:start + len(block)] = block
    return out


def bench_index(count: int, dim: int, index_type: str, folder: Path, queries: int = 200) -> dict:
    from retrieval.indexes import build_faiss_index, load_faiss_index

    vectors = random_unit_vectors(count, dim, seed=count)
    started = time.perf_counter()
    meta = build_faiss_index(vectors=vectors, pks=range(1, count + 1), folder=folder, config={"type": index_type})
    build_seconds = time.perf_counter() - started
    del vectors
    index = load_faiss_index(folder)
    probes = random_unit_vectors(queries, dim, seed=7)
    latencies = []
    for i in range(queries):
        started = time.perf_counter()
        index.search(probes[i:i + 1], 10)
        latencies.append(time.perf_counter() - started)
    size_mib = (folder / "index.faiss").stat().st_size / 2**20
    return {"vectors": count, "type": meta["type"], "build_s": round(build_seconds, 1),
            "search_p50_ms": ms(percentile(latencies, 50)), "search_p99_ms": ms(percentile(latencies, 99)),
            "file_mib": round(size_mib)}


def memory_child(args) -> None:
    """Run in a fresh process: build (or load and serve) an index, print peak RSS as JSON."""
    from retrieval.indexes import build_faiss_index, load_faiss_index

    folder = Path(args.memory_child_folder)
    if args.memory_child == "build":
        vectors = random_unit_vectors(args.memory_count, args.memory_dim, seed=1)
        started = time.perf_counter()
        build_faiss_index(vectors=vectors, pks=range(1, args.memory_count + 1), folder=folder,
                          config={"type": args.memory_type})
        print(json.dumps({"build_s": round(time.perf_counter() - started, 1), "peak_rss_mib": round(peak_rss_mib())}))
    else:
        index = load_faiss_index(folder)
        probes = random_unit_vectors(200, args.memory_dim, seed=7)
        latencies = []
        for i in range(len(probes)):
            started = time.perf_counter()
            index.search(probes[i:i + 1], 10)
            latencies.append(time.perf_counter() - started)
        print(json.dumps({"peak_rss_mib": round(peak_rss_mib()), "search_p50_ms": ms(percentile(latencies, 50)),
                          "search_p99_ms": ms(percentile(latencies, 99))}))


def bench_memory(count: int, dim: int, index_type: str, folder: Path) -> dict:
    base = [sys.executable, __file__, "--memory-count", str(count), "--memory-dim", str(dim),
            "--memory-type", index_type, "--memory-child-folder", str(folder)]
    build = json.loads(subprocess.run(base + ["--memory-child", "build"], check=True, capture_output=True,
                                      text=True).stdout.strip().splitlines()[-1])
    serve = json.loads(subprocess.run(base + ["--memory-child", "serve"], check=True, capture_output=True,
                                      text=True).stdout.strip().splitlines()[-1])
    return {"vectors": count, "type": index_type, "build_s": build["build_s"],
            "build_peak_rss_mib": build["peak_rss_mib"], "serve_peak_rss_mib": serve["peak_rss_mib"],
            "search_p50_ms": serve["search_p50_ms"], "search_p99_ms": serve["search_p99_ms"],
            "within_4_gib": max(build["peak_rss_mib"], serve["peak_rss_mib"]) <= 4096}


def time_retrieve(version, texts: list[str]) -> dict:
    from retrieval.search import retrieve

    retrieve(version, texts[0], 10)  # load once per process
    latencies = []
    for text in texts:
        started = time.perf_counter()
        retrieve(version, text, 10)
        latencies.append(time.perf_counter() - started)
    return {"queries": len(texts), "p50_ms": ms(percentile(latencies, 50)), "p99_ms": ms(percentile(latencies, 99))}


def retrieve_on_bundle(bundle: Path) -> tuple[dict, dict]:
    from django.core.management import call_command

    from retrieval.models import Dataset, Query
    from retrieval.versions import version_build

    call_command("import_bundle", str(bundle), "--format", "bundle", "--name", "speed", "--no-progress", verbosity=0,
                 stdout=io.StringIO())
    dataset = Dataset.objects.get(name="speed")
    started = time.perf_counter()
    version = version_build(dataset=dataset, name="speed-dense-zero-shot", kind="dense", config={"train": False},
                            inline=True)
    build_seconds = time.perf_counter() - started
    if version.status != "ready":
        raise SystemExit(f"building the bundle's dense version failed: {version.error}")
    texts = list(Query.objects.filter(dataset=dataset).values_list("text", flat=True)[:200])
    return time_retrieve(version, texts), {"products": dataset.products.count(), "index": version.manifest["index"],
                                           "build_s": round(build_seconds, 1)}


def retrieve_at_size(count: int, dim: int, index_type: str) -> dict:
    """`retrieve` on a catalogue of `count` products whose index holds random vectors (the query is encoded
    for real by the encoder; only the catalogue vectors are synthetic)."""
    from django.utils import timezone

    from retrieval.encoders import load_encoder
    from retrieval.indexes import build_faiss_index
    from retrieval.models import Dataset, Product, RetrieverVersion
    from retrieval.versions import version_create, version_path

    dataset = Dataset.objects.create(name=f"speed-{count}-{index_type}")
    Product.objects.bulk_create(
        [Product(dataset=dataset, product_id=f"p{i}", title=f"product {i}") for i in range(count)], batch_size=5000)
    version = version_create(dataset=dataset, name=f"speed-{count}-{index_type}", kind="dense",
                             config={"train": False, "index": {"type": index_type}})
    folder = version_path(version)
    load_encoder(None).save(str(folder / "model"))
    pks = list(dataset.products.order_by("pk").values_list("pk", flat=True))
    meta = build_faiss_index(vectors=random_unit_vectors(count, dim, seed=3), pks=pks, folder=folder,
                             config=version.hyperparams["index"])
    RetrieverVersion.objects.filter(pk=version.pk).update(
        status="ready", built_at=timezone.now(),
        manifest={"encoder": {"trained": False}, "index": {"type": meta["type"], "count": count}})
    version.refresh_from_db()
    queries = ["red running shoes", "waterproof bluetooth speaker for the shower", "cast iron skillet 12 inch",
               "kids bunk bed with storage", "usb c charger", "gift for a new gardener"] * 34
    return {"products": count, "type": meta["type"], **time_retrieve(version, queries)}


def table(rows: list[dict]) -> str:
    if not rows:
        return "(none)"
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "|".join("---" for _ in keys) + "|"]
    lines += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, help="a bundle folder (demo or converted) for real texts and sizes")
    parser.add_argument("--sizes", default="55000,100000,1000000", help="catalogue sizes for the index benchmark")
    parser.add_argument("--encode", type=int, default=1024, help="product texts to encode for the throughput")
    parser.add_argument("--retrieve-size", type=int, default=55_000, help="catalogue size for the retrieve() timing")
    parser.add_argument("--hnsw-1m", action="store_true", help="also build HNSW at 1M vectors (about an hour)")
    parser.add_argument("--encoding-only", action="store_true", help="only the encoding tables")
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    parser.add_argument("--memory-child", choices=["build", "serve"], help=argparse.SUPPRESS)
    parser.add_argument("--memory-count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--memory-dim", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--memory-type", help=argparse.SUPPRESS)
    parser.add_argument("--memory-child-folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args)
        return

    results: dict = {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="retrieval-speed-") as tmp:
        workdir = Path(tmp)
        setup_django(workdir)
        import faiss

        from retrieval.encoders import load_encoder

        dim = load_encoder(None).get_embedding_dimension()
        print(f"# Retrieval speed ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
              f"faiss {faiss.__version__}, dim {dim})\n")

        encode_rows, query_latency = bench_encoding(args.bundle, args.encode)
        results["encoding"], results["query_encoding"] = encode_rows, query_latency
        print("## Encoding throughput (products/s)\n\n" + table(encode_rows) + "\n")
        print("## Query encoding latency (one query)\n\n" + table([query_latency]) + "\n", flush=True)
        results["judging"] = bench_judging(args.bundle, args.encode // 2, workdir / "cross-encoder")
        print("## Cross-encoder judging throughput ((query, product) pairs/s)\n\n" + table(results["judging"]) + "\n",
              flush=True)
        if args.encoding_only:
            return

        sizes = [int(s) for s in args.sizes.split(",") if s]
        index_rows = []
        demo_size = sum(1 for _ in (args.bundle / "catalog.jsonl").open()) if args.bundle else None
        plan = ([(demo_size, "auto")] if demo_size else [])
        for size in sizes:
            if size <= 20_000:
                plan.append((size, "flat"))
            elif size < 1_000_000:
                plan += [(size, "flat"), (size, "hnsw"), (size, "ivf")]
            # 1M and above: measured in fresh processes by the memory section below
        for size, index_type in plan:
            row = bench_index(size, dim, index_type, workdir / f"index-{size}-{index_type}")
            index_rows.append(row)
            print(f"  index {size} {row['type']}: build {row['build_s']} s, p50 {row['search_p50_ms']} ms",
                  file=sys.stderr, flush=True)
        results["index"] = index_rows
        print("## FAISS index: build time and one-query search latency (k=10)\n\n" + table(index_rows) + "\n")

        if any(s >= 1_000_000 for s in sizes):
            memory_rows = [bench_memory(max(sizes), dim, "ivf", workdir / "memory-ivf")]
            if args.hnsw_1m:
                memory_rows.append(bench_memory(max(sizes), dim, "hnsw", workdir / "memory-hnsw"))
            results["memory"] = memory_rows
            print("## 1M vectors: build, search and memory (fresh processes)\n\n" + table(memory_rows) + "\n", flush=True)

        retrieve_rows = []
        if args.bundle:
            row, build = retrieve_on_bundle(args.bundle)
            results["bundle_version_build"] = build
            retrieve_rows.append({"catalogue": f"{args.bundle.name} ({build['products']} products, real vectors)",
                                  "index": build["index"]["type"], **row})
        for index_type in ("hnsw", "ivf"):
            row = retrieve_at_size(args.retrieve_size, dim, index_type)
            retrieve_rows.append({"catalogue": f"{args.retrieve_size} products (random vectors)", "index": row["type"],
                                  "queries": row["queries"], "p50_ms": row["p50_ms"], "p99_ms": row["p99_ms"]})
        results["retrieve"] = retrieve_rows
        print("## retrieve() end to end, query encoding included (k=10)\n\n" + table(retrieve_rows) + "\n")
    results["load_average_at_end"] = os.getloadavg()
    if args.out:
        args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
