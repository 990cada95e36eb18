"""Score `digest cluster-file` on the development sets in bench/cluster/data/.

Run: flock /tmp/bench.lock nice -n 10 .venv/bin/python bench/cluster/devscore.py
         [--digest PATH] [--sets day-en,angles-bbc,...] [--out bench/results/devsets] [--no-feed]

Runs the given `digest` executable (default: this checkout's .venv/bin/digest) as a subprocess
on each set, so the same harness measures any checkout. Per set: pairwise and BCubed
precision/recall/F1 against `gold` (items whose gold is null stay in the input but out of the
scores), and recall/precision of pairs by language pair; on the SemEval set also the
same-story decision per language pair of the labelled pairs. Writes OUT.md and OUT.json with
the load average, the digest commit measured and the time taken. Needs only the repo's venv;
the sets are rebuilt from ../shared/labeled by devdata.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from score import bcubed, pairwise  # noqa: E402

DATA = HERE / "data"
# Keys handed to cluster-file: gold and the bookkeeping keys never reach it.
INPUT_KEYS = ("id", "title", "text", "lang", "date", "feed")
SETS = (
    "semeval-items",
    "day-en",
    "day-de",
    "day-es",
    "day-tr",
    "day-pl",
    "day-zh",
    "day-zh-thucnews",
    "angles-bbc",
    "crosslang-day",
)
PAIR_ROWS = (
    "en-en", "de-de", "es-es", "fr-fr", "it-it", "pl-pl", "ru-ru", "tr-tr", "ar-ar", "zh-zh",
    "de-en", "es-en", "pl-en", "zh-en", "es-it", "de-fr",
)  # fmt: skip


def read_jsonl(path: Path) -> list[dict[str, object]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def prf(tp: int, predicted: int, actual: int) -> dict[str, float]:
    p = tp / predicted if predicted else 1.0
    r = tp / actual if actual else 1.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def _pairs_within(groups: Iterable[list[str]]) -> Iterable[tuple[str, str]]:
    for ids in groups:
        ids = sorted(ids)
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                yield a, b


def _lang_pair(a: str, b: str) -> str:
    return "/".join(sorted((a, b)))


def pairs_by_language(
    truth: Mapping[str, str], found: Mapping[str, str], lang: Mapping[str, str]
) -> dict[str, dict[str, float]]:
    """Pairwise precision/recall split by the languages of the two items ('en/zh', ...)."""
    gold_groups: dict[str, list[str]] = defaultdict(list)
    found_groups: dict[str, list[str]] = defaultdict(list)
    for i in truth:
        gold_groups[truth[i]].append(i)
        found_groups[found[i]].append(i)
    actual: Counter[str] = Counter()
    predicted: Counter[str] = Counter()
    tp: Counter[str] = Counter()
    for a, b in _pairs_within(gold_groups.values()):
        key = _lang_pair(lang[a], lang[b])
        actual[key] += 1
        tp[key] += found[a] == found[b]
    for a, b in _pairs_within(found_groups.values()):
        predicted[_lang_pair(lang[a], lang[b])] += 1
    out = {}
    for key in sorted(set(actual) | set(predicted)):
        out[key] = {
            **prf(tp[key], predicted[key], actual[key]),
            "gold_pairs": actual[key],
            "found_pairs": predicted[key],
            "joined_gold_pairs": tp[key],
        }
    return out


def semeval_pairs(found: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """Same-story decision (the two items in one found story) on the labelled SemEval pairs.

    Duplicate rows of one pair count once (overall averaged). Same: overall <= 1.5;
    different: >= 3; in between: left out.
    """
    rows = read_jsonl(DATA / "semeval-pairs.jsonl")
    merged: dict[tuple[str, str], dict[str, object]] = {}
    for r in rows:
        if not r.get("usable", True):
            continue  # a crawl-error page on one side (devdata.py left it out)
        key = (str(r["id1"]), str(r["id2"]))
        seen = merged.get(key) or merged.get((key[1], key[0]))
        if seen is None:
            merged[key] = {**r, "overalls": [float(r["overall"])]}  # type: ignore[arg-type]
        else:
            seen["overalls"].append(float(r["overall"]))  # type: ignore[union-attr, arg-type]
    groups: dict[str, list[dict[str, object]]] = defaultdict(list)
    for r in merged.values():
        overalls: list[float] = r["overalls"]  # type: ignore[assignment]
        overall = sum(overalls) / len(overalls)
        if 1.5 < overall < 3:
            continue
        r["same"] = overall <= 1.5
        r["joined"] = found[str(r["id1"])] == found[str(r["id2"])]
        pair = f"{r['lang1']}-{r['lang2']}"
        groups[pair].append(r)
        groups["same-language" if r["lang1"] == r["lang2"] else "cross-language"].append(r)
        groups["all"].append(r)
    out = {}
    for name in (*PAIR_ROWS, "same-language", "cross-language", "all"):
        subset = groups.get(name, [])
        if not subset:
            continue
        same = sum(1 for r in subset if r["same"])
        joined = sum(1 for r in subset if r["joined"])
        tp = sum(1 for r in subset if r["same"] and r["joined"])
        out[name] = {
            "pairs": len(subset),
            "same": same,
            "different": len(subset) - same,
            "joined": joined,
            "joined_same": tp,
            **prf(tp, joined, same),
            "machine_translated": any(bool(r["machine_translated"]) for r in subset),
        }
    return out


def angle_pairs(items: list[dict[str, object]], found: Mapping[str, str]) -> dict[str, object]:
    """(d): gold pairs split into copies of one report (a mirror and its source, two mirrors)
    and different blocks of one article; wrong joins split by whether boilerplate could
    explain them (two mirrors from one aggregator feed)."""
    report = {
        str(r["id"]): str(r["source"])[len("mirror-of:") :]
        if str(r["source"]).startswith("mirror-of:")
        else str(r["id"])
        for r in items
    }
    by_gold: dict[str, list[dict[str, object]]] = defaultdict(list)
    by_found: dict[str, list[dict[str, object]]] = defaultdict(list)
    for r in items:
        by_gold[str(r["gold"])].append(r)
        by_found[found[str(r["id"])]].append(r)
    count: Counter[str] = Counter()
    for group in by_gold.values():
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                kind = "copies" if report[str(a["id"])] == report[str(b["id"])] else "blocks"
                count[f"{kind}_gold"] += 1
                count[f"{kind}_joined"] += found[str(a["id"])] == found[str(b["id"])]
    for group in by_found.values():
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                if a["gold"] == b["gold"]:
                    continue
                one_mirror_feed = a["feed"] == b["feed"] and str(a["feed"]).startswith("mirror")
                count["wrong_same_mirror_feed" if one_mirror_feed else "wrong_other"] += 1
    return {
        **dict(count),
        "copies_recall": count["copies_joined"] / count["copies_gold"]
        if count["copies_gold"]
        else 1.0,
        "blocks_recall": count["blocks_joined"] / count["blocks_gold"]
        if count["blocks_gold"]
        else 1.0,
    }


def distractor_joins(items: list[dict[str, object]], found: Mapping[str, str]) -> dict[str, int]:
    """(e): wrong joins that involve a near-miss distractor, and the other wrong joins."""
    by_found: dict[str, list[dict[str, object]]] = defaultdict(list)
    for r in items:
        by_found[found[str(r["id"])]].append(r)
    count: Counter[str] = Counter()
    for group in by_found.values():
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                if a["gold"] != b["gold"]:
                    near = "distractor" in (a.get("kind"), b.get("kind"))
                    count["wrong_with_distractor" if near else "wrong_between_events"] += 1
    return {"wrong_with_distractor": 0, "wrong_between_events": 0, **dict(count)}


STATE = ROOT / "bench" / "cluster" / ".cache" / "state"


def run_cluster_file(
    digest: str, items: list[dict[str, object]], feed: bool
) -> tuple[dict[str, str], float, str]:
    """Run `digest cluster-file` on the items; return story per id, seconds and its summary."""
    keys = INPUT_KEYS if feed else tuple(k for k in INPUT_KEYS if k != "feed")
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        src.write_text(
            "".join(
                json.dumps({k: r[k] for k in keys if k in r}, ensure_ascii=False) + "\n"
                for r in items
            ),
            encoding="utf-8",
        )
        t0 = time.perf_counter()
        # No taxonomy from the environment: runs of different checkouts stay comparable.
        env = {k: v for k, v in os.environ.items() if k != "DIGEST_CONFIG"}
        proc = subprocess.run(
            # --state: vectors are cached there between runs (a digest without an embedder
            # ignores it but for creating the folder).
            [digest, "--state", str(STATE), "cluster-file", str(src), str(dst)],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            cwd=tmp,
        )
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{digest} cluster-file failed ({proc.returncode}):\n{proc.stderr}")
        story = {str(r["id"]): str(r["story"]) for r in read_jsonl(dst)}
    missing = [str(r["id"]) for r in items if str(r["id"]) not in story]
    if missing:
        raise SystemExit(f"cluster-file output lacks {len(missing)} ids, e.g. {missing[:3]}")
    return story, seconds, (proc.stdout.strip().splitlines() or [""])[-1]


def score_set(name: str, digest: str, feed: bool) -> dict[str, object]:
    items = read_jsonl(DATA / f"{name}.jsonl")
    story, seconds, summary = run_cluster_file(digest, items, feed)
    truth = {str(r["id"]): str(r["gold"]) for r in items if r.get("gold") is not None}
    found = {i: story[i] for i in truth}
    lang = {str(r["id"]): str(r["lang"]) for r in items}
    gold_size = Counter(truth.values())
    found_size = Counter(story.values())
    result: dict[str, object] = {
        "items": len(items),
        "scored_items": len(truth),
        "gold_stories": len(gold_size),
        "gold_multi": sum(1 for c in gold_size.values() if c > 1),
        "found_stories": len(found_size),
        "found_multi": sum(1 for c in found_size.values() if c > 1),
        "largest_found": max(found_size.values(), default=0),
        "pairwise": pairwise(truth, found),
        "bcubed": bcubed(truth, found),
        "by_language_pair": pairs_by_language(truth, found, lang),
        "seconds": seconds,
        "cluster_file_says": summary,
    }
    if name == "semeval-items":
        result["semeval_pairs"] = semeval_pairs(story)
    if name == "angles-bbc":
        result["angle_pairs"] = angle_pairs(items, story)
    if name == "crosslang-day":
        result["distractor_joins"] = distractor_joins(items, story)
    return result


def digest_identity(digest: str) -> dict[str, object]:
    """Which code the executable runs: its package folder and that checkout's commit."""
    info: dict[str, object] = {"executable": digest}
    path = Path(digest)
    try:
        first = path.read_text(encoding="utf-8", errors="replace").splitlines()[0]
    except (OSError, IndexError):
        first = ""
    python = first[2:].strip() if first.startswith("#!") else sys.executable
    probe = subprocess.run(
        [python, "-c", "import digest, os; print(os.path.dirname(digest.__file__))"],
        capture_output=True,
        text=True,
        check=False,
    )
    package = probe.stdout.strip()
    info["package"] = package or None
    if package:

        def git(*args: str) -> str:
            done = subprocess.run(
                ["git", "-C", package, *args], capture_output=True, text=True, check=False
            )
            return done.stdout.strip()

        info["commit"] = git("rev-parse", "HEAD") or None
        info["subject"] = git("log", "-1", "--format=%s") or None
        # The commit that last changed the package: the code measured, whatever the branch.
        info["package_commit"] = git("log", "-1", "--format=%H", "--", ".") or None
        info["branch"] = git("rev-parse", "--abbrev-ref", "HEAD") or None
        info["package_modified"] = bool(git("status", "--porcelain", "--", "."))
    return info


def markdown(results: dict[str, object]) -> str:
    d: dict[str, object] = results["digest"]  # type: ignore[assignment]
    commit = str(d.get("commit") or "?")
    lines = [
        "# Story clustering on the development sets (bench/cluster/devscore.py)",
        "",
        f"digest: `{d['executable']}`, checkout at {commit[:12]} ({d.get('branch')}:"
        f" {d.get('subject')}); digest/ last changed in {str(d.get('package_commit'))[:12]}"
        + (", with uncommitted changes under digest/" if d.get("package_modified") else ""),
        f"measured {results['measured_at']}; feed passed: {results['feed_passed']}; load average"
        f" before/after {results['load_before']} / {results['load_after']}; total"
        f" {results['seconds_total']:.1f} s",
        "",
        "Gold: bench/cluster/data/README.md. Pairwise = over all pairs of scored items;"
        " BCubed = per-item averages. On semeval-items and the day-* sets every pair SemEval"
        " did not label counts as two stories, though many are one event: their precision is"
        " a lower bound.",
        "",
        "| set | items (scored) | gold stories (>1 report) | found stories (>1)"
        " | pairwise P / R / F1 | BCubed P / R / F1 | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    sets: dict[str, dict[str, object]] = results["sets"]  # type: ignore[assignment]
    for name, r in sets.items():
        pw: dict[str, float] = r["pairwise"]  # type: ignore[assignment]
        bc: dict[str, float] = r["bcubed"]  # type: ignore[assignment]
        lines.append(
            f"| {name} | {r['items']} ({r['scored_items']}) | {r['gold_stories']}"
            f" ({r['gold_multi']}) | {r['found_stories']} ({r['found_multi']})"
            f" | {pw['precision']:.3f} / {pw['recall']:.3f} / {pw['f1']:.3f}"
            f" | {bc['precision']:.3f} / {bc['recall']:.3f} / {bc['f1']:.3f}"
            f" | {r['seconds']:.1f} |"
        )
    semeval = sets.get("semeval-items", {}).get("semeval_pairs")
    if isinstance(semeval, dict):
        lines += [
            "",
            "## SemEval-2022 training pairs: same story = both items in one found story",
            "",
            f"All {sets['semeval-items']['items']} articles clustered in one file at one time;"
            " same = overall <= 1.5,"
            " different = overall >= 3 (between: left out). * = machine-translated by the task's"
            " organisers.",
            "",
            "| pairs | n | same | different | joined | precision | recall | F1 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, r in semeval.items():
            aggregate = name in ("same-language", "cross-language", "all")
            mark = "*" if r["machine_translated"] and not aggregate else ""
            lines.append(
                f"| {name}{mark} | {r['pairs']} | {r['same']} | {r['different']} | {r['joined']}"
                f" | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} |"
            )
    angles = sets.get("angles-bbc", {}).get("angle_pairs")
    if isinstance(angles, dict):
        lines += [
            "",
            "## angles-bbc: copies and different angles",
            "",
            f"Copies of one report (a mirror with boilerplate and its source, or two mirrors):"
            f" {angles.get('copies_joined', 0)} of {angles.get('copies_gold', 0)} pairs joined"
            f" ({angles['copies_recall']:.3f}). Different blocks of one article:"
            f" {angles.get('blocks_joined', 0)} of {angles.get('blocks_gold', 0)}"
            f" ({angles['blocks_recall']:.3f}). Wrong joins: {angles.get('wrong_other', 0)},"
            f" plus {angles.get('wrong_same_mirror_feed', 0)} between two copies from one"
            " aggregator (shared boilerplate).",
        ]
    near = sets.get("crosslang-day", {}).get("distractor_joins")
    if isinstance(near, dict):
        lines += [
            "",
            "## crosslang-day: near misses",
            "",
            f"Wrong joins with a near-miss distractor: {near['wrong_with_distractor']};"
            f" between two events: {near['wrong_between_events']}.",
        ]
    lines += [
        "",
        "## Pairs by language of the two items (sets with more than one language)",
        "",
        "| set | languages | gold pairs | found pairs | joined gold pairs | precision | recall |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in sets.items():
        by: dict[str, dict[str, float]] = r["by_language_pair"]  # type: ignore[assignment]
        if len(by) < 2:
            continue
        for key, v in by.items():
            if not v["gold_pairs"] and not v["found_pairs"]:
                continue
            lines.append(
                f"| {name} | {key} | {v['gold_pairs']} | {v['found_pairs']}"
                f" | {v['joined_gold_pairs']} | {v['precision']:.3f} | {v['recall']:.3f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--digest",
        default=str(ROOT / ".venv" / "bin" / "digest"),
        help="the digest executable to measure (default: this checkout's .venv/bin/digest)",
    )
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated set names")
    parser.add_argument(
        "--out",
        default=str(ROOT / "bench" / "results" / "devsets"),
        help="writes OUT.md and OUT.json (default: bench/results/devsets)",
    )
    parser.add_argument(
        "--no-feed", action="store_true", help="leave `feed` out of cluster-file's input"
    )
    args = parser.parse_args()
    names = [s for s in args.sets.split(",") if s]
    for name in names:
        if not (DATA / f"{name}.jsonl").exists():
            raise SystemExit(f"{DATA / name}.jsonl is missing: run bench/cluster/devdata.py")
    found = shutil.which(args.digest)
    if found is None:
        raise SystemExit(f"{args.digest} is not an executable (make .venv/.installed)")
    args.digest = os.path.abspath(found)  # cluster-file runs in a temporary folder
    results: dict[str, object] = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "digest": digest_identity(args.digest),
        "feed_passed": not args.no_feed,
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "sets": {},
    }
    t0 = time.perf_counter()
    for name in names:
        r = score_set(name, args.digest, not args.no_feed)
        results["sets"][name] = r  # type: ignore[index]
        pw, bc = r["pairwise"], r["bcubed"]
        print(
            f"{name}: pairwise F1 {pw['f1']:.3f} (P {pw['precision']:.3f} R {pw['recall']:.3f}),"  # type: ignore[index]
            f" BCubed F1 {bc['f1']:.3f}, {r['seconds']:.1f} s",  # type: ignore[index]
            flush=True,
        )
    results["seconds_total"] = time.perf_counter() - t0
    results["load_after"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(
        json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    out.with_suffix(".md").write_text(markdown(results), encoding="utf-8")
    print("wrote", out.with_suffix(".md"), "and .json")


if __name__ == "__main__":
    main()
