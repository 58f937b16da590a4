"""FAQ matcher benchmark: knowledge-base build time (with its parts: segmenting, TF-IDF,
cross-validated calibration), per-query latency (p50/p99) and peak memory at the real
knowledge-base size and at larger synthetic sizes, beside a naive baseline (rapidfuzz WRatio
over the canonical questions) measured in the same run.

    python bench/faq_bench.py [--sizes 1,3] [--queries 400] [--dir faq/data]

The limits (issue 12): build <= 10 s and p99 <= 10 ms per query at the real size. The build
includes the cross-validation that calibrates the confidence, so it grows with the number of
phrasings; 10x and more are for looking at the trend (minutes on a shared 2-core machine).

Queries are the dev evaluation questions when ../shared/eval/dev.jsonl is present,
otherwise the knowledge base's own phrasings.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

from rapidfuzz import fuzz, process

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faq.kb import KnowledgeBase, load_kb  # noqa: E402
from faq.matcher import Matcher  # noqa: E402

DEV = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev.jsonl"


def synthetic(kb: KnowledgeBase, factor: int, seed: int = 7) -> KnowledgeBase:
    """`factor` times the entries: copies whose phrasings are reshuffled across entries of
    the same book, so vocabulary and lengths stay realistic."""
    rng = random.Random(seed)
    entries = list(kb.entries)
    by_book: dict[str, list[str]] = {}
    for entry in kb.entries:
        by_book.setdefault(entry.book, []).extend(entry.texts)
    for copy in range(1, factor):
        for entry in kb.entries:
            pool = by_book[entry.book]
            phrasings = tuple(rng.sample(pool, k=min(len(entry.phrasings), len(pool))))
            entries.append(replace(entry, id=f"{entry.id}-s{copy}", phrasings=phrasings))
    return KnowledgeBase(tuple(entries), kb.vocabulary)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(function, queries: list[str]) -> list[float]:
    for query in queries[:20]:
        function(query)  # warm-up
    out = []
    for query in queries:
        start = time.perf_counter()
        function(query)
        out.append((time.perf_counter() - start) * 1000)
    return out


def peak_memory(build) -> tuple[object, float]:
    """Build under tracemalloc and return (object, peak MiB); tracing slows code, so
    latencies are measured separately without it."""
    tracemalloc.start()
    built = build()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return built, peak


def measure(kb: KnowledgeBase, queries: list[str]) -> dict:
    start, cpu = time.perf_counter(), time.process_time()
    matcher = Matcher(kb)
    build = time.perf_counter() - start
    build_cpu = time.process_time() - cpu  # wall time depends on the machine's other users
    start = time.perf_counter()
    matcher._calibrate()  # the cross-validation part of the build, timed again on its own
    calibration = time.perf_counter() - start
    latencies = timed(matcher.match, queries)
    del matcher
    _, peak = peak_memory(lambda: Matcher(kb))

    questions = [e.question for e in kb.entries]
    baseline = timed(lambda q: process.extract(q, questions, scorer=fuzz.WRatio, limit=3), queries)
    _, baseline_peak = peak_memory(
        lambda: [
            process.extract(q, [e.question for e in kb.entries], scorer=fuzz.WRatio, limit=3)
            for q in queries[:50]
        ]
    )
    return {
        "entries": len(kb),
        "build_s": build,
        "build_cpu_s": build_cpu,
        "calibrate_s": calibration,
        "p50": statistics.median(latencies),
        "p99": percentile(latencies, 0.99),
        "peak_mib": peak,
        "base_p50": statistics.median(baseline),
        "base_p99": percentile(baseline, 0.99),
        "base_peak_mib": baseline_peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1,3")
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--dir", help="knowledge-base folder (default: the bundled faq/data)")
    args = parser.parse_args()
    kb = load_kb(args.dir) if args.dir else load_kb()
    if DEV.exists():
        queries = [json.loads(line)["question"] for line in DEV.open(encoding="utf-8")]
    else:
        queries = [t for e in kb.entries for t in e.phrasings]
    queries = (queries * (args.queries // max(1, len(queries)) + 1))[: args.queries]
    print(f"{len(queries)} queries; matcher vs naive rapidfuzz WRatio over canonical questions")
    print(f"load average before the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    header = (
        f"{'size':>5} {'entries':>8} {'build s':>8} {'cpu s':>6} {'(calib.)':>8} | "
        f"{'p50 ms':>7} {'p99 ms':>7} "
        f"{'peak MiB':>9}"
    )
    print(header + f" | {'base p50':>8} {'base p99':>8} {'base MiB':>8}")
    for factor in (int(s) for s in args.sizes.split(",")):
        r = measure(kb if factor == 1 else synthetic(kb, factor), queries)
        print(
            f"{factor:>4}x {r['entries']:>8} {r['build_s']:>8.1f} {r['build_cpu_s']:>6.1f} "
            f"{r['calibrate_s']:>8.1f} | "
            f"{r['p50']:>7.2f} {r['p99']:>7.2f} "
            f"{r['peak_mib']:>9.1f} | {r['base_p50']:>8.2f} {r['base_p99']:>8.2f} {r['base_peak_mib']:>8.1f}"
        )


if __name__ == "__main__":
    main()
