"""Incremental clustering over a long stream vs one rebuild at its end, against the truth.

Docs are fed in publication order, in batches, into a real Store; `cluster_stage` runs
(incremental) after each batch, the first run clustering from scratch by itself. The final
partition is scored against the true labels, and so is a rebuild (`rebuild=True`) run on a
copy of the same store at the end. Data: synthetic events (bench/cluster/synth.py) and
bbc-topics.jsonl (topics only: stories should not mix topics) with random publication times.

Run from the repository root (the lock only matters for the wall times):
    flock /tmp/bench.lock .venv/bin/python bench/cluster/stream.py
    PYTHONPATH=/tmp/oldwt flock /tmp/bench.lock .venv/bin/python bench/cluster/stream.py --label old
Each run stores its figures under `--label` in bench/results/cluster-stream.json (other labels
kept); `--table` prints the markdown tables of that file and runs nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
# No ROOT on sys.path: `import digest` must follow PYTHONPATH (the old code's worktree).
sys.path.insert(0, str(HERE))

from score import bcubed, pairwise  # noqa: E402
from synth import labelled_docs  # noqa: E402

import digest  # noqa: E402
from digest import cluster_stage  # noqa: E402
from digest.records import Config, FeedConfig, Item, SiteConfig  # noqa: E402
from digest.store import Store, utc_now  # noqa: E402

FEEDS = 40
BBC = Path(os.environ.get("DIGEST_SHARED", ROOT.parent / "shared")) / "labeled/bbc-topics.jsonl"


@dataclass(frozen=True)
class Doc:
    """One item of a stream with its true label (event or topic)."""

    key: str
    title: str
    summary: str
    published: datetime
    feed: str
    truth: object


def _ending_now(docs: list[Doc], end: datetime) -> list[Doc]:
    """The docs shifted so the newest is at `end`, in publication order."""
    shift = end - max(d.published for d in docs)
    moved = [Doc(d.key, d.title, d.summary, d.published + shift, d.feed, d.truth) for d in docs]
    return sorted(moved, key=lambda d: (d.published, d.key))


def synthetic_stream(n: int, seed: int, end: datetime) -> list[Doc]:
    """n synthetic reports over 7 days (plus a day of follow-ups), labelled with their event."""
    docs = [
        Doc(d.id, d.text, "", d.published, d.feed_ids[0], event)
        for d, event in labelled_docs(n, seed=seed, days=7.0)
    ]
    return _ending_now(docs, end)


def _summary(text: str, size: int = 300) -> str:
    """The first ~size characters of the text, cut at a space."""
    flat = " ".join(text.split())
    if len(flat) <= size:
        return flat
    cut = flat.rfind(" ", 0, size)
    return flat[: cut if cut > 0 else size]


def bbc_stream(end: datetime, seed: int = 7) -> list[Doc]:
    """The BBC set with random publication times over 7 days and random feeds (fixed seed)."""
    rng = random.Random(seed)
    docs = []
    with BBC.open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            when = end - timedelta(days=rng.uniform(0, 7))
            feed = f"feed{rng.randrange(FEEDS)}"
            docs.append(
                Doc(row["id"], row["title"], _summary(row["text"]), when, feed, row["label"])
            )
    return _ending_now(docs, end)


def _item(d: Doc) -> Item:
    return Item(
        feed_id=d.feed,
        guid=d.key,
        url=f"https://example.org/{d.key}",
        link=f"https://example.org/{d.key}",
        title=d.title,
        summary=d.summary,
        content_html="",
        published=d.published,
        date_is_fallback=False,
        lang="en",
        content_key=hashlib.sha1(d.key.encode()).hexdigest(),
    )


def _config(tmp: Path) -> Config:
    return Config(
        path=tmp / "feeds.yaml",
        site=SiteConfig(window_days=9),
        feeds=tuple(FeedConfig(f"feed{k}", f"F{k}", f"https://e.org/{k}") for k in range(FEEDS)),
    )


def _partition(store: Store, truth_of: Mapping[str, object]) -> dict[str, str]:
    """item id -> story id for every streamed item (a missing one counts as its own story)."""
    found = store.story_assignments()
    return {i: found.get(i, f"missing:{i}") for i in truth_of}


def run_stream(docs: Sequence[Doc], batch: int) -> dict[str, object]:
    """Stream the docs in batches with an incremental run after each, then rebuild a copy."""
    truth: dict[str, object] = {}
    seconds: list[float] = []
    joined = 0
    per_run: list[list[object]] = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        config = _config(tmp)
        with Store.open(tmp / "stream.sqlite") as store:
            for start in range(0, len(docs), batch):
                now = utc_now()
                with store.transaction():
                    for d in docs[start : start + batch]:
                        item_id, _ = store.upsert_item(_item(d), now)
                        truth[item_id] = d.truth
                t0 = time.perf_counter()
                summary = cluster_stage(config, store)
                seconds.append(time.perf_counter() - t0)
                joined += summary.joined
                per_run.append(
                    [round(seconds[-1], 3), summary.new_items, summary.joined, summary.stories]
                )
            incremental = _partition(store, truth)
        shutil.copy(tmp / "stream.sqlite", tmp / "rebuild.sqlite")
        with Store.open(tmp / "rebuild.sqlite") as store:
            t0 = time.perf_counter()
            cluster_stage(config, store, rebuild=True)
            t_rebuild = time.perf_counter() - t0
            rebuilt = _partition(store, truth)
    missing = sum(s.startswith("missing:") for s in [*incremental.values(), *rebuilt.values()])
    return {
        "docs": len(docs),
        "batch": batch,
        "runs": len(seconds),
        "true_groups": len(set(truth.values())),
        "joined_total": joined,
        "unassigned": missing,
        "incremental": _scores(truth, incremental),
        "rebuild": _scores(truth, rebuilt),
        "agreement_bcubed": bcubed(rebuilt, incremental),
        "seconds_incremental_sum": sum(seconds),
        "seconds_first_run": seconds[0],
        "seconds_last_run": seconds[-1],
        "seconds_rebuild": t_rebuild,
        "per_run_seconds_new_joined_stories": per_run,
    }


def _scores(truth: Mapping[str, object], found: Mapping[str, str]) -> dict[str, object]:
    return {
        "stories": len(set(found.values())),
        "singletons": sum(n == 1 for n in _sizes(found).values()),
        "pairwise": pairwise(truth, found),
        "bcubed": bcubed(truth, found),
    }


def _sizes(found: Mapping[str, str]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for sid in found.values():
        sizes[sid] = sizes.get(sid, 0) + 1
    return sizes


def _code_print() -> str:
    """sha1 over the measured digest package's sources (the code changes between runs)."""
    base = Path(digest.__file__).parent
    h = hashlib.sha1()
    for path in sorted(base.rglob("*.py")):
        h.update(str(path.relative_to(base)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


# Taken once, at import: the code that runs (the files may be edited while it runs).
CODE_PRINT = _code_print()


def _measure(cases: Sequence[tuple[str, Callable[[], list[Doc]], int]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, make, batch in cases:
        load = os.getloadavg()[0]
        result = run_stream(make(), batch)
        result["load_before_after"] = [round(load, 2), round(os.getloadavg()[0], 2)]
        result["code"] = {"digest": digest.__file__, "sources_sha1_at_import": CODE_PRINT}
        out[name] = result
        print(name, json.dumps(result), flush=True)
    return out


def _f(x: object) -> str:
    return f"{float(x):.3f}"  # type: ignore[arg-type]


def tables(results: Mapping[str, Mapping[str, object]]) -> str:
    """Markdown tables: synthetic events (scored against events), BBC (against topics)."""
    lines = [
        "| case | code | run | stories | pair P | pair R | pair F1 | B3 P | B3 R | B3 F1 "
        "| inc-vs-rebuild B3 F1 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    bbc = [
        "| code | run | stories | singletons | pair P (topics) | B3 P (topics) "
        "| inc-vs-rebuild B3 F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    times = [
        "| case | code | runs | incremental sum s | first run s | last run s | rebuild s "
        "| load before/after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, cases in results.items():
        for case, r in cases.items():
            agree = _f(r["agreement_bcubed"]["f1"])
            for run in ("incremental", "rebuild"):
                s = r[run]
                pw, b3 = s["pairwise"], s["bcubed"]
                if case == "bbc":
                    bbc.append(
                        f"| {label} | {run} | {s['stories']} | {s['singletons']} "
                        f"| {_f(pw['precision'])} | {_f(b3['precision'])} | {agree} |"
                    )
                else:
                    lines.append(
                        f"| {case} | {label} | {run} | {s['stories']} | {_f(pw['precision'])} "
                        f"| {_f(pw['recall'])} | {_f(pw['f1'])} | {_f(b3['precision'])} "
                        f"| {_f(b3['recall'])} | {_f(b3['f1'])} | {agree} |"
                    )
            times.append(
                f"| {case} | {label} | {r['runs']} | {r['seconds_incremental_sum']:.1f} "
                f"| {r['seconds_first_run']:.2f} | {r['seconds_last_run']:.2f} "
                f"| {r['seconds_rebuild']:.2f} | {r['load_before_after']} |"
            )
    return "\n".join([*lines, "", *bbc, "", *times]) + "\n"


def main() -> None:
    """Run the streams for the importable digest and store the figures under --label."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--label", default="new")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/cluster-stream.json")
    parser.add_argument("--n", type=int, default=6000)
    parser.add_argument("--only", help="comma-separated case names to run")
    parser.add_argument("--table", action="store_true", help="print the tables of --out")
    args = parser.parse_args()
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    if args.table:
        print(tables(results), end="")
        return

    def synth(seed: int) -> Callable[[], list[Doc]]:
        # `end` again per case: the window moves on while earlier cases run.
        return lambda: synthetic_stream(args.n, seed, utc_now() - timedelta(minutes=5))

    cases = [
        ("synth-s1-b200", synth(1), 200),
        ("synth-s1-b50", synth(1), 50),
        ("synth-s1-b1000", synth(1), 1000),
        ("synth-s2-b200", synth(2), 200),
        ("bbc", lambda: bbc_stream(utc_now() - timedelta(minutes=5)), 200),
    ]
    if args.only:
        wanted = set(args.only.split(","))
        cases = [c for c in cases if c[0] in wanted]
    print("digest from", digest.__file__, flush=True)
    measured = _measure(cases)
    previous = results.get(args.label, {})
    results[args.label] = {**previous, **measured}
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
