"""Hostile feeds beside normal ones: 100,000 nested <div>s in one item, 20,000 items in one feed.

One `digest fetch` of 299 normal feeds (bench/fetch's server: 30 loopback hosts, each answer
after 0.5 s, 5 items a feed) plus the two hostile documents of that server, against the 299
alone in the same round. Checked each round: every normal feed stored (5 items each), the
20,000-item feed cut to fetch.max_items, the nested item stored with bounded markup. Measured:
wall time, and peak memory of the whole process tree (the digest and its parse workers),
sampled every 20 ms from /proc (sum of resident sets, and the largest single process).

`--before PATH` also runs a checkout of another digest (say `git archive main | tar -x -C
/tmp/old`) the same way, under a time limit, for the figures the fix is measured against.

Run: flock /tmp/bench.lock .venv/bin/python bench/hostile/run.py [--rounds N] [--before PATH]
Figures go to bench/results/hostile.md.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
_spec = importlib.util.spec_from_file_location("fetch_bench", ROOT / "bench" / "fetch" / "run.py")
assert _spec is not None and _spec.loader is not None
fetch_bench = importlib.util.module_from_spec(_spec)
sys.modules["fetch_bench"] = fetch_bench  # its dataclasses look their module up
_spec.loader.exec_module(fetch_bench)
DELAY, digest_cmd, free_port = fetch_bench.DELAY, fetch_bench.digest_cmd, fetch_bench.free_port
loadavg, urls = fetch_bench.loadavg, fetch_bench.urls
process_tree, memory_kib = fetch_bench.process_tree, fetch_bench.memory_kib

NORMAL = 299
HOSTILE = {"nested": "/hostile/nested.xml", "many": "/hostile/many.xml"}
# The baseline's stand-ins: sound feeds that declare no language either, so both runs load
# the language model and differ only in the hostile documents.
PLAIN = {"nested": "/plain/1.xml", "many": "/plain/2.xml"}
LIMIT = 150.0  # seconds a `--before` run may take before it is killed


@dataclass
class Outcome:
    """One `digest fetch` run."""

    label: str
    seconds: float
    status: int | None  # None: killed at the time limit
    tree_peak_kib: int  # peak of the summed resident sets of the process tree
    pss_peak_kib: int  # the same in proportional sets (shared pages counted once)
    largest_kib: int  # the largest single process
    normal_stored: int  # normal feeds with all their 5 items
    many_items: int
    nested_items: int
    nested_divs: int  # <div> tags kept in the nested item's stored content (0: dropped)
    line: str


def write_config(folder: Path, normal: list[str], hostile: dict[str, str]) -> Path:
    """feeds.yaml: concurrency 300, per_host 10 (one wave), no translation."""
    cfg = folder / "feeds.yaml"
    lines = [
        "site: {language: en}",
        "translation: {engine: none}",
        "stories: {embedder: none}",
        "fetch: {concurrency: 310, per_host: 12}",
        "feeds:",
    ]
    lines += [f'  - {{id: f{n:03d}, name: "F{n}", url: "{u}"}}' for n, u in enumerate(normal)]
    lines += [f'  - {{id: {k}, name: "{k}", url: "{u}"}}' for k, u in hostile.items()]
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return cfg


def run_fetch(cfg: Path, state: Path, label: str, env: dict[str, str], limit: float) -> Outcome:
    """One `digest fetch`, its memory sampled until it ends (or is killed at `limit`)."""
    out_file = state.parent / f"{state.name}.out"
    with out_file.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*digest_cmd(), "--config", str(cfg), "--state", str(state), "fetch"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        tree_peak = largest = pss_peak = 0
        status: int | None = None
        while True:
            sizes = [memory_kib(p) for p in process_tree(proc.pid)]
            tree_peak = max(tree_peak, sum(r for r, _ in sizes))
            pss_peak = max(pss_peak, sum(p for _, p in sizes))
            largest = max([largest, *(r for r, _ in sizes)])
            if proc.poll() is not None:
                status = proc.returncode
                break
            if time.perf_counter() - start > limit:
                for p in reversed(process_tree(proc.pid)):
                    with contextlib.suppress(OSError):
                        os.kill(p, 9)
                proc.wait()
                break
            time.sleep(0.02)
        took = time.perf_counter() - start
    text = out_file.read_text(errors="replace")
    counts = _counts(state)  # a killed run's store holds what it committed
    normal = sum(1 for fid, n in counts.items() if fid.startswith("f") and n == 5)
    return Outcome(
        label=label,
        seconds=took,
        status=status,
        tree_peak_kib=tree_peak,
        pss_peak_kib=pss_peak,
        largest_kib=largest,
        normal_stored=normal,
        many_items=counts.get("many", 0),
        nested_items=counts.get("nested", 0),
        nested_divs=_nested_divs(state),
        line=(text.strip().splitlines() or ["(no output)"])[0][:160],
    )


def _counts(state: Path) -> dict[str, int]:
    db = state / "digest.db"
    if not db.exists():
        return {}
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT feed_id, COUNT(*) FROM item_sources GROUP BY feed_id")
        return {str(fid): int(n) for fid, n in rows}


def _nested_divs(state: Path) -> int:
    db = state / "digest.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT i.content_html FROM items i JOIN item_sources s ON s.item_id = i.id"
            " WHERE s.feed_id = 'nested'"
        ).fetchone()
    return str(row[0]).count("<div") if row else 0


def main() -> None:
    """Run the rounds and write bench/results/hostile.md."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--before", type=Path, help="a digest checkout to run the same way")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "hostile.md")
    args = ap.parse_args()

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "fetch" / "server.py"), str(port), str(DELAY)],
        stdout=subprocess.PIPE,
        text=True,
    )
    load_before = loadavg()
    outcomes: list[Outcome] = []
    env = {**os.environ, "NO_PROXY": "*"}
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        normal = urls(port)[:NORMAL]
        hostile = {k: f"http://127.0.0.2:{port}{p}" for k, p in HOSTILE.items()}
        plain = {k: f"http://127.0.0.2:{port}{p}" for k, p in PLAIN.items()}
        with tempfile.TemporaryDirectory(prefix="bench-hostile-") as tmp:
            folder = Path(tmp)
            (folder / "base").mkdir()
            (folder / "hostile").mkdir()
            base_cfg = write_config(folder / "base", normal, plain)
            hostile_cfg = write_config(folder / "hostile", normal, hostile)
            runs = [
                ("299 normal + 2 plain", base_cfg, env, 600.0),
                ("299 normal + 2 hostile", hostile_cfg, env, 600.0),
            ]
            if args.before is not None:
                old_env = {**env, "PYTHONPATH": str(args.before.resolve())}
                runs.append(("before: 299 normal + 2 hostile", hostile_cfg, old_env, LIMIT))
            for r in range(args.rounds):
                for label, cfg, run_env, limit in runs:
                    state = folder / f"s-{len(outcomes)}"
                    o = run_fetch(cfg, state, label, run_env, limit)
                    outcomes.append(o)
                    print(
                        f"round {r} {label}: {o.seconds:.2f} s, status {o.status}, tree peak"
                        f" {o.tree_peak_kib / 1024:.0f} MiB RSS, {o.pss_peak_kib / 1024:.0f} MiB"
                        f" PSS (largest {o.largest_kib / 1024:.0f}),"
                        f" normal stored {o.normal_stored}/{NORMAL}, many {o.many_items},"
                        f" nested {o.nested_items} ({o.nested_divs} divs); {o.line}",
                        flush=True,
                    )
    finally:
        server.terminate()
        server.wait()
    write_results(args.out, outcomes, load_before, loadavg(), args.before)


def write_results(
    path: Path, outcomes: list[Outcome], before: str, after: str, old: Path | None
) -> None:
    """The figures as a small Markdown report."""
    lines = [
        "# bench/hostile: two hostile feeds beside 299 normal ones",
        "",
        "bench/fetch's server: 30 loopback hosts, every answer after 0.5 s; 299 normal feeds of",
        "5 items, plus `nested` (one item whose description is 100,000 nested `<div>`s, 1.1 MB)",
        "and `many` (20,000 undated items, 2.2 MB). `digest fetch` with concurrency 310 and",
        "per_host 12 (one wave), fresh state each run, defaults otherwise (fetch.max_items 200,",
        "fetch.timeout 20 s). Memory: the process tree (the digest and its parse workers), summed",
        "resident sets (RSS) and proportional sets (PSS: pages shared between the forked processes",
        "counted once) sampled every 20 ms; `largest` is the largest single process. The baseline",
        "has two sound feeds without a declared language in their place, so both runs load the",
        "language model (about 100 MB per process that loads it).",
        "",
        f"Machine: {os.cpu_count()} cores, shared; load average before {before}, after {after}.",
        "",
        "| run | wall (s) | exit | tree peak RSS (MiB) | tree peak PSS (MiB) | largest (MiB) |"
        " normal feeds stored | many: items | nested: items (divs kept) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        status = "killed" if o.status is None else str(o.status)
        lines.append(
            f"| {o.label} | {o.seconds:.2f} | {status} | {o.tree_peak_kib / 1024:.0f} |"
            f" {o.pss_peak_kib / 1024:.0f} | {o.largest_kib / 1024:.0f} |"
            f" {o.normal_stored}/{NORMAL} | {o.many_items} |"
            f" {o.nested_items} ({o.nested_divs}) |"
        )
    lines += ["", "Medians:", ""]
    for label in dict.fromkeys(o.label for o in outcomes):
        mine = [o for o in outcomes if o.label == label]
        secs = [o.seconds for o in mine]
        peak = [o.pss_peak_kib / 1024 for o in mine]
        lines.append(
            f"- {label}: {statistics.median(secs):.2f} s (spread {min(secs):.2f}-{max(secs):.2f}),"
            f" tree peak PSS {statistics.median(peak):.0f} MiB ({min(peak):.0f}-{max(peak):.0f})"
        )
    if old is not None:
        lines += ["", f"`before` ran the digest at {old} (killed after {LIMIT:.0f} s)."]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
