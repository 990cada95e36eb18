"""Rebuild the story-clustering development sets in bench/cluster/data/ from ../shared/labeled.

Run: .venv/bin/python bench/cluster/devdata.py [--check]

Deterministic (seeded): the same labelled files give byte-identical output. `--check` rebuilds
into a temporary folder and fails when anything in bench/cluster/data/ differs.

Every set is a `digest cluster-file` input, one JSON object a line:
`{id, title, text, lang, date, feed, gold, ...}`. `gold` is the true story (null: the item
is in the input but left out of scoring because its relation to another item is uncertain);
cluster-file ignores keys it does not know, and devscore.py passes it only
id/title/text/lang/date/feed anyway. Sets (bench/cluster/data/README.md has the details):

  semeval-items.jsonl + semeval-pairs.jsonl   (a) every SemEval-2022 training article, once
  day-{en,de,es,zh,...}.jsonl                  (b) one simulated news day per language
  day-zh-thucnews.jsonl                        (c) the Chinese day plus THUCNews titles
  angles-bbc.jsonl                             (d) BBC articles split into 2-3 reports + mirrors
  crosslang-day.jsonl                          (e) hand-written, validated here, never rebuilt
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import itertools
import json
import os
import random
import re
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DATA = HERE / "data"

# The same lookup as bench/cluster/run.py and tests/shared_data.py.
_CANDIDATES = (
    Path(os.environ["DIGEST_SHARED"]) if os.environ.get("DIGEST_SHARED") else None,
    ROOT.parent / "shared",
    Path("/work/shared"),
)
SHARED = next((p for p in _CANDIDATES if p is not None and p.is_dir()), Path("/nonexistent"))
LABELED = SHARED / "labeled"

SEED = 20260601
SAME_MAX = 1.5  # SemEval overall <= 1.5: same story
DIFFERENT_MIN = 3.0  # overall >= 3: different stories; in between: uncertain
CRAWL_ERROR_MAX = 500  # characters: a shorter text repeated under several ids is no article
# The SemEval articles are from 2020 but carry no dates: each set gets invented ones.
SEMEVAL_DATE = "2026-05-20T12:00:00Z"  # (a): one time for all, so time plays no part
DAY_START = datetime(2026, 5, 20, tzinfo=UTC)
LEAD_CHARS = 600  # (a): text = the first ~600 characters after the title
DAY_LANGS = ("en", "de", "es", "zh", "tr", "pl")  # (b): >= 10 same-story groups each
OUTLETS_PER_LANG = 15
THUCNEWS_TITLES = 300  # (c)
BBC_ARTICLES = 260  # (d): 52 per topic
CROSSLANG = "crosslang-day.jsonl"  # (e)
CROSSLANG_FEEDS_OK = re.compile(r"^[a-z0-9][a-z0-9-]{1,30}$")

_SENTENCE_END = re.compile(r"[.!?。！？]+[\"'”’」』)）]*(?=\s|$)|[。！？]+[\"'”’」』)）]*")
_SPACES = re.compile(r"\s+")
# In machine-translated Chinese the title and the lead are joined by one space: a space with
# Chinese characters on both sides (Chinese puts none there) marks where the title ends.
_CJK_GAP = re.compile(r"(?<=[\u3400-\u9fff，。！？”」）])\s+(?=[\u3400-\u9fff“「（])")


# ---------------------------------------------------------------- small helpers


def read_jsonl(path: Path) -> list[dict[str, object]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def write_jsonl(path: Path, rows: Iterable[dict[str, object]]) -> None:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    path.write_text(text, encoding="utf-8")


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def squash(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def sentence_ends(text: str) -> list[int]:
    """Offsets just after each sentence end (Latin and CJK punctuation)."""
    return [m.end() for m in _SENTENCE_END.finditer(text)]


def cut(text: str, limit: int, minimum: int = 100) -> str:
    """At most `limit` characters: at a sentence end if one falls in [minimum, limit], else at
    a space, else hard (unspaced scripts)."""
    text = text.strip()
    if len(text) <= limit:
        return text
    ends = [e for e in sentence_ends(text) if minimum <= e <= limit]
    if ends:
        return text[: ends[-1]].strip()
    space = text.rfind(" ", minimum, limit + 1)
    if space > 0:
        return text[:space].strip()
    return text[:limit].strip()


def split_title(raw: str, max_title: int = 200) -> tuple[str, str]:
    """A SemEval text as (title, body): the first line, else the part before a double space,
    else the first sentence, else the first words (the crawl kept no separate title)."""
    text = raw.strip()
    for sep in ("\n", "  "):
        pos = text.find(sep)
        if 0 < pos <= max_title:
            return squash(text[:pos]), squash(text[pos:])
    flat = squash(text)
    gap = _CJK_GAP.search(flat, 6, 150)
    if gap:
        return flat[: gap.start()], flat[gap.end() :]
    ends = [e for e in sentence_ends(flat) if 15 <= e <= max_title]
    if ends:
        return flat[: ends[0]].strip(), flat[ends[0] :].strip()
    if " " in flat[:max_title]:
        # Twelve words, or the whole text when it is shorter.
        words = flat.split(" ")
        return " ".join(words[:12]), " ".join(words[12:])
    return flat[:40], flat[40:]  # unspaced script without punctuation


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # The smaller id becomes the root, so labels do not depend on the order of edges.
            lo, hi = sorted((ra, rb))
            self.parent[hi] = lo


def drop_uncertain(
    gold: dict[str, str], uncertain: Sequence[tuple[str, str]]
) -> dict[str, str | None]:
    """Leave out of scoring one item of each uncertain pair (both in the set, gold apart).

    Preference: the item of the smaller gold story (a singleton before a member of a group),
    then the second item of the pair. The items stay in the input: only `gold` becomes null.
    """
    size = Counter(gold.values())
    out: dict[str, str | None] = dict(gold)
    for a, b in uncertain:
        if a not in gold or b not in gold or out[a] is None or out[b] is None:
            continue
        if gold[a] == gold[b]:
            continue
        out[a if size[gold[a]] < size[gold[b]] else b] = None
    return out


# ---------------------------------------------------------------- (a) SemEval-2022 pairs


def semeval_articles() -> tuple[dict[str, dict[str, object]], list[dict[str, object]]]:
    """Articles by SemEval id (first occurrence of each) and the pair rows with item ids."""
    rows = read_jsonl(LABELED / "semeval2022-pairs-train.jsonl")
    articles: dict[str, dict[str, object]] = {}
    pairs: list[dict[str, object]] = []
    for number, r in enumerate(rows):
        ids = str(r["pair_id"]).split("_")
        for side, aid in zip(("1", "2"), ids, strict=True):
            lang = str(r[f"lang{side}"])
            known = articles.get(aid)
            if known is None:
                articles[aid] = {
                    "article_id": aid,
                    "lang": lang,
                    "raw": str(r[f"text{side}"] or ""),
                    # Ids with a language suffix are the organisers' machine translations.
                    "machine_translated": bool(re.search(r"\D$", aid)),
                }
            elif known["lang"] != lang:
                raise SystemExit(f"SemEval article {aid} appears as {known['lang']} and {lang}")
        overall = float(r["overall"])
        pairs.append(
            {
                "row": number,
                "pair_id": r["pair_id"],
                "lang1": r["lang1"],
                "lang2": r["lang2"],
                "overall": overall,
                "label": "same"
                if overall <= SAME_MAX
                else "different"
                if overall >= DIFFERENT_MIN
                else "uncertain",
                "machine_translated": bool(r.get("machine_translated")),
                "id1": f"sv-{ids[0]}",
                "id2": f"sv-{ids[1]}",
            }
        )
    dropped = crawl_errors(articles)
    for aid in dropped:
        del articles[aid]
    for p in pairs:
        # A pair with a crawl-error page on either side cannot be judged from the text.
        p["usable"] = not ({str(p["id1"])[3:], str(p["id2"])[3:]} & dropped)
    return articles, pairs


def _content(text: str) -> str:
    return re.sub(r"\W+", "", text.casefold())


def crawl_errors(articles: dict[str, dict[str, object]]) -> set[str]:
    """Articles whose text is a short page (< 500 characters) repeated under other ids: no news.

    The crawl behind SemEval kept some block pages ("we recorded a huge amount of connections
    from your IP address", a site's donation banner) as article texts; five Polish articles
    share one. Identical texts of 500 characters or more are one article crawled twice and
    are linked in the gold instead (see same_text_links).
    """
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for aid in sorted(articles):
        # The first 200 letters: the same block page varies a little at its end.
        key = _content(str(articles[aid]["raw"]))[:200]
        groups[(str(articles[aid]["lang"]), key)].append(aid)
    return {
        aid
        for ids in groups.values()
        if len(ids) > 1 and len(str(articles[ids[0]]["raw"]).strip()) < CRAWL_ERROR_MAX
        for aid in ids
    }


def same_text_links(articles: dict[str, dict[str, object]]) -> list[tuple[str, str]]:
    """Pairs of article ids with identical text (one article crawled under two ids)."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for aid in sorted(articles):
        groups[(str(articles[aid]["lang"]), _content(str(articles[aid]["raw"])))].append(aid)
    return [(ids[0], other) for ids in groups.values() for other in ids[1:]]


def semeval_gold(
    articles: dict[str, dict[str, object]], pairs: list[dict[str, object]]
) -> tuple[dict[str, str], list[tuple[str, str]], dict[str, int]]:
    """Gold story per item: components of same-story pairs and of translations of one article.

    Duplicate rows of one pair are averaged first. Returns (gold, uncertain pairs, counts).
    """
    overall: dict[tuple[str, str], list[float]] = defaultdict(list)
    for p in pairs:
        if not p["usable"]:
            continue
        a, b = sorted((str(p["id1"]), str(p["id2"])))
        overall[(a, b)].append(float(p["overall"]))  # type: ignore[arg-type]
    uf = UnionFind()
    for aid in sorted(articles):
        uf.find(f"sv-{aid}")
    by_base: dict[str, list[str]] = defaultdict(list)
    for aid in sorted(articles):
        by_base[re.sub(r"\D+$", "", aid)].append(f"sv-{aid}")
    translations = 0
    for ids in by_base.values():
        for other in ids[1:]:
            uf.union(ids[0], other)
            translations += 1
    copies = same_text_links(articles)
    for a, b in copies:
        uf.union(f"sv-{a}", f"sv-{b}")
    mean = {k: sum(v) / len(v) for k, v in sorted(overall.items())}
    for (a, b), o in mean.items():
        if o <= SAME_MAX:
            uf.union(a, b)
    gold = {f"sv-{aid}": "sv:" + uf.find(f"sv-{aid}")[3:] for aid in sorted(articles)}
    uncertain = [k for k, o in mean.items() if SAME_MAX < o < DIFFERENT_MIN]
    contradictions = sum(
        1 for (a, b), o in mean.items() if o >= DIFFERENT_MIN and gold[a] == gold[b]
    )
    counts = {
        "unique_pairs": len(mean),
        "duplicate_rows": sum(1 for p in pairs if p["usable"]) - len(mean),
        "unusable_rows": sum(1 for p in pairs if not p["usable"]),
        "same_text_links": len(copies),
        "translation_links": translations,
        "different_pairs_joined_by_transitivity": contradictions,
    }
    return gold, uncertain, counts


def semeval_item(aid: str, art: dict[str, object], rng: random.Random | None) -> dict[str, object]:
    title, body = split_title(str(art["raw"]))
    limit = LEAD_CHARS if rng is None else rng.randint(100, 600)
    return {
        "id": f"sv-{aid}",
        "title": title,
        "text": cut(body, limit, minimum=min(100, limit)),
        "lang": art["lang"],
    }


def build_semeval(out: Path) -> tuple[dict[str, object], dict[str, object]]:
    articles, pairs = semeval_articles()
    gold, uncertain, counts = semeval_gold(articles, pairs)
    scored = drop_uncertain(gold, uncertain)
    items = []
    for aid in sorted(articles):
        art = articles[aid]
        item = semeval_item(aid, art, None)
        side = "mt" if art["machine_translated"] else "orig"
        item.update(
            {
                "date": SEMEVAL_DATE,
                "feed": f"semeval-{art['lang']}-{aid}",  # one feed per item: no outlet is known
                "gold": scored[item["id"]],  # type: ignore[index]
                "article_id": aid,
                "source": side,
            }
        )
        items.append(item)
    write_jsonl(out / "semeval-items.jsonl", items)
    write_jsonl(out / "semeval-pairs.jsonl", pairs)
    info = describe(items)
    info.update(counts)
    info["pairs"] = dict(Counter(str(p["label"]) for p in pairs if p["usable"]))
    info["dropped_crawl_errors"] = sorted(
        {str(p[k])[3:] for p in pairs if not p["usable"] for k in ("id1", "id2")} - set(articles)
    )
    return info, {"articles": articles, "gold": gold, "pairs": pairs}


# ---------------------------------------------------------------- (b) and (c) news days


def assign_feeds(
    rng: random.Random, members: dict[str, list[str]], prefix: str, outlets: int
) -> dict[str, str]:
    """An invented outlet per item; the reports of one story come from different outlets."""
    names = [f"{prefix}-{n:02d}" for n in range(1, outlets + 1)]
    feed: dict[str, str] = {}
    for story in sorted(members):
        ids = members[story]
        if len(ids) <= outlets:
            chosen = rng.sample(names, len(ids))
        else:
            chosen = [rng.choice(names) for _ in ids]
        feed.update(zip(ids, chosen, strict=True))
    return feed


def build_days(out: Path, semeval: dict[str, object]) -> dict[str, dict[str, object]]:
    articles: dict[str, dict[str, object]] = semeval["articles"]  # type: ignore[assignment]
    gold: dict[str, str] = semeval["gold"]  # type: ignore[assignment]
    pairs: list[dict[str, object]] = semeval["pairs"]  # type: ignore[assignment]
    uncertain = [(str(p["id1"]), str(p["id2"])) for p in pairs if p["label"] == "uncertain"]
    infos: dict[str, dict[str, object]] = {}
    for lang in DAY_LANGS:
        rng = random.Random(f"{SEED}-day-{lang}")
        aids = [a for a in sorted(articles) if articles[a]["lang"] == lang]
        ids = [f"sv-{a}" for a in aids]
        day_gold = {i: gold[i] for i in ids}
        members: dict[str, list[str]] = defaultdict(list)
        for i in ids:
            members[day_gold[i]].append(i)
        feeds = assign_feeds(rng, members, f"{lang}-outlet", OUTLETS_PER_LANG)
        scored = drop_uncertain(day_gold, uncertain)
        items = []
        for aid in aids:
            item = semeval_item(aid, articles[aid], rng)
            when = DAY_START + timedelta(seconds=rng.randrange(86400))
            item.update(
                {
                    "date": iso(when),
                    "feed": feeds[f"sv-{aid}"],
                    "gold": scored[f"sv-{aid}"],
                    "article_id": aid,
                    "source": "mt" if articles[aid]["machine_translated"] else "orig",
                }
            )
            items.append(item)
        items.sort(key=lambda r: (str(r["date"]), str(r["id"])))
        write_jsonl(out / f"day-{lang}.jsonl", items)
        infos[f"day-{lang}"] = describe(items)
        if lang == "zh":
            infos["day-zh-thucnews"] = build_thucnews_day(out, items)
    return infos


def _bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)}


def build_thucnews_day(out: Path, zh_items: list[dict[str, object]]) -> dict[str, object]:
    """(c) The Chinese day plus THUCNews headlines (2005-2011, other events): singletons."""
    rng = random.Random(f"{SEED}-thucnews")
    rows = read_jsonl(LABELED / "thucnews-titles-dev.jsonl")
    by_label: dict[str, list[dict[str, object]]] = defaultdict(list)
    for r in rows:
        by_label[str(r["label"])].append(r)
    per_label = THUCNEWS_TITLES // len(by_label)
    chosen: list[dict[str, object]] = []
    grams: list[set[str]] = []
    for label in sorted(by_label):
        pool = by_label[label][:]
        rng.shuffle(pool)
        taken = 0
        for r in pool:
            if taken == per_label:
                break
            title = squash(str(r["title"]))
            g = _bigrams(title)
            # Near-duplicate headlines (one event told twice) would not be certain negatives.
            if len(title) < 6 or any(len(g & h) / len(g | h) >= 0.3 for h in grams):
                continue
            grams.append(g)
            chosen.append(r)
            taken += 1
    names = [f"zh-outlet-{n:02d}" for n in range(1, OUTLETS_PER_LANG + 1)]
    items = [dict(r) for r in zh_items]
    for r in chosen:
        when = DAY_START + timedelta(seconds=rng.randrange(86400))
        items.append(
            {
                "id": f"thuc-{r['id']}",
                "title": squash(str(r["title"])),
                "text": "",
                "lang": "zh",
                "date": iso(when),
                "feed": rng.choice(names),
                "gold": f"thuc:{r['id']}",
                "source": f"thucnews:{r['label']}",
            }
        )
    items.sort(key=lambda r: (str(r["date"]), str(r["id"])))
    write_jsonl(out / "day-zh-thucnews.jsonl", items)
    info = describe(items)
    info["thucnews_titles"] = len(chosen)
    return info


# ---------------------------------------------------------------- (d) different angles

# Aggregator sites that copy reports with their own boilerplate and retitle them a little.
MIRRORS: tuple[tuple[str, str, str, str], ...] = (
    # feed, title pattern, text prefix, text suffix
    (
        "mirror-newsnow-wire",
        "{title} | NewsNow Wire",
        "",
        " Read more at newsnowwire.example. Subscribe to our newsletter for the day's top"
        " stories, delivered every morning.",
    ),
    (
        "mirror-daily-brief",
        "Daily Brief: {title}",
        "(Daily Brief Online) - ",
        " Follow Daily Brief Online on social media for updates. © Daily Brief Online. All"
        " rights reserved.",
    ),
    (
        "mirror-the-aggregator",
        "{short}",
        "Advertisement. ",
        " Click here to read the full story. Share this article: Facebook, Twitter, Email."
        " Related stories below.",
    ),
    (
        "mirror-world-report-24",
        "UPDATE - {title}",
        "World Report 24 | ",
        " This article was published automatically from a syndicated feed and has not been"
        " edited by World Report 24 staff. Read more at worldreport24.example.",
    ),
    (
        "mirror-market-mirror",
        "{title} - report",
        "",
        " Sign up for our free morning email. Terms of use | Privacy policy | Cookie settings."
        " Market Mirror.",
    ),
    (
        "mirror-local-ledger",
        "{amp}",
        "",
        " Originally published by {outlet}. Read more at localledger.example. Get the Local"
        " Ledger app for breaking news alerts.",
    ),
)
ANGLE_OUTLETS = tuple(f"en-wire-{n:02d}" for n in range(1, 13))


def _paragraph_blocks(paragraphs: list[str], k: int) -> list[list[str]]:
    """k contiguous, non-empty groups of paragraphs of roughly equal length."""
    total = sum(len(p) for p in paragraphs)
    cuts: list[int] = []
    run = 0
    for i, p in enumerate(paragraphs[:-1]):
        run += len(p)
        if len(cuts) < k - 1 and run >= total * (len(cuts) + 1) / k:
            cuts.append(i + 1)
    while len(cuts) < k - 1:  # short tail: cut before the last paragraphs not yet cut
        cuts.append(len(paragraphs) - (k - 1 - len(cuts)))
    bounds = [0, *cuts, len(paragraphs)]
    return [paragraphs[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def _retitle(pattern: str, title: str) -> str:
    words = title.split()
    short = " ".join(words[:-1]) if len(words) > 5 else title
    amp = title.replace(" and ", " & ").replace('"', "").replace("'", "")
    if amp == title:
        amp = title[0].upper() + title[1:].rstrip(".") + ":"
    return pattern.format(title=title.rstrip("."), short=short.rstrip(",;:"), amp=amp)


def build_angles(out: Path) -> dict[str, object]:
    rng = random.Random(f"{SEED}-angles")
    rows = read_jsonl(LABELED / "bbc-topics.jsonl")
    seen_title: set[str] = set()
    seen_text: set[str] = set()
    by_label: dict[str, list[dict[str, object]]] = defaultdict(list)
    for r in rows:
        title, text = str(r["title"]).strip(), str(r["text"])
        if title in seen_title or text in seen_text:
            continue  # the BBC set has ~130 repeated articles
        seen_title.add(title)
        seen_text.add(text)
        paragraphs = [squash(p) for p in text.split("\n\n") if squash(p)]
        if len(paragraphs) >= 4 and sum(len(p) for p in paragraphs) >= 1200:
            by_label[str(r["label"])].append({**r, "paragraphs": paragraphs})
    per_label = BBC_ARTICLES // len(by_label)
    items: list[dict[str, object]] = []
    for label in sorted(by_label):
        for art in rng.sample(by_label[label], per_label):
            paragraphs: list[str] = art["paragraphs"]  # type: ignore[assignment]
            long = len(paragraphs) >= 6 and sum(len(p) for p in paragraphs) >= 2400
            k = 3 if long and rng.random() < 0.6 else 2
            start = DAY_START + timedelta(seconds=rng.randrange(2 * 86400))
            outlets = rng.sample(ANGLE_OUTLETS, k)
            for b, block in enumerate(_paragraph_blocks(paragraphs, k)):
                flat = " ".join(block)
                ends = [e for e in sentence_ends(flat) if 20 <= e <= 300]
                if ends:
                    head, rest = flat[: ends[0]].strip(), flat[ends[0] :].strip()
                else:
                    head, rest = cut(flat, 160, 40), flat[len(cut(flat, 160, 40)) :].strip()
                report = {
                    "id": f"bbc-{art['id']}-b{b + 1}",
                    "title": head,
                    "text": cut(rest, rng.randint(250, 600)),
                    "lang": "en",
                    "date": iso(start + timedelta(seconds=rng.randrange(8 * 3600))),
                    "feed": outlets[b],
                    "gold": f"bbc:{art['id']}",
                    "source": "block",
                }
                items.append(report)
                draw = rng.random()
                copies = 2 if draw < 0.1 else 1 if draw < 0.45 else 0
                for m, site in enumerate(rng.sample(MIRRORS, copies)):
                    feed, pattern, prefix, suffix = site
                    when = datetime.fromisoformat(str(report["date"]).replace("Z", "+00:00"))
                    when += timedelta(seconds=rng.randrange(900, 10 * 3600))
                    items.append(
                        {
                            "id": f"{report['id']}-m{m + 1}",
                            "title": _retitle(pattern, str(report["title"])),
                            "text": prefix
                            + str(report["text"])
                            + suffix.format(outlet=report["feed"]),
                            "lang": "en",
                            "date": iso(when),
                            "feed": feed,
                            "gold": report["gold"],
                            "source": f"mirror-of:{report['id']}",
                        }
                    )
    items.sort(key=lambda r: (str(r["date"]), str(r["id"])))
    write_jsonl(out / "angles-bbc.jsonl", items)
    info = describe(items)
    info["mirrors"] = sum(1 for r in items if str(r["source"]).startswith("mirror"))
    return info


# ---------------------------------------------------------------- (e) hand-written day


def validate_crosslang(path: Path) -> dict[str, object]:
    """Check the hand-written cross-language day: fields, ids, languages, stories."""
    if not path.exists():
        raise SystemExit(f"{path} is missing: it is written by hand, not rebuilt")
    items = read_jsonl(path)
    problems: list[str] = []
    seen: set[str] = set()
    langs_of: dict[str, set[str]] = defaultdict(set)
    for n, r in enumerate(items, start=1):
        where = f"{path.name}:{n}"
        for key in ("id", "title", "text", "lang", "date", "feed", "gold", "kind"):
            if not isinstance(r.get(key), str) or not str(r[key]).strip():
                problems.append(f"{where}: '{key}' missing or empty")
        if r.get("id") in seen:
            problems.append(f"{where}: id {r.get('id')} repeats")
        seen.add(str(r.get("id")))
        if r.get("lang") not in ("en", "zh", "zh-Hant"):
            problems.append(f"{where}: lang {r.get('lang')!r} is not en, zh or zh-Hant")
        try:
            datetime.fromisoformat(str(r.get("date")).replace("Z", "+00:00"))
        except ValueError:
            problems.append(f"{where}: date {r.get('date')!r} is not ISO 8601")
        if not CROSSLANG_FEEDS_OK.match(str(r.get("feed", ""))):
            problems.append(f"{where}: feed {r.get('feed')!r} is not an outlet id")
        if not 100 <= len(str(r.get("text", ""))) <= 400:
            problems.append(f"{where}: summary of {len(str(r.get('text', '')))} characters")
        if r.get("kind") not in ("event", "distractor"):
            problems.append(f"{where}: kind must be event or distractor")
        langs_of[str(r.get("gold"))].add(str(r.get("lang", ""))[:2])
    kinds = {str(r["gold"]): r["kind"] for r in items}
    size = Counter(str(r["gold"]) for r in items)
    for story, kind in kinds.items():
        if kind == "event" and not (2 <= size[story] <= 4 and langs_of[story] == {"en", "zh"}):
            problems.append(f"event {story}: {size[story]} reports in {sorted(langs_of[story])}")
    if problems:
        raise SystemExit("crosslang-day.jsonl:\n  " + "\n  ".join(problems))
    info = describe(items)
    info["events"] = sum(1 for k in kinds.values() if k == "event")
    info["distractors"] = sum(1 for k in kinds.values() if k == "distractor")
    return info


# ---------------------------------------------------------------- manifest


def describe(items: list[dict[str, object]]) -> dict[str, object]:
    scored = [r for r in items if r.get("gold") is not None]
    size = Counter(str(r["gold"]) for r in scored)
    return {
        "items": len(items),
        "scored_items": len(scored),
        "unscored_items": len(items) - len(scored),
        "gold_stories": len(size),
        "multi_report_stories": sum(1 for c in size.values() if c > 1),
        "items_in_multi_report_stories": sum(c for c in size.values() if c > 1),
        "singletons": sum(1 for c in size.values() if c == 1),
        "largest_story": max(size.values(), default=0),
        "languages": dict(sorted(Counter(str(r["lang"]) for r in items).items())),
    }


def build(out: Path) -> dict[str, object]:
    if not LABELED.is_dir():
        raise SystemExit(
            f"{LABELED} is absent (set DIGEST_SHARED or put ../shared beside the repo)"
        )
    out.mkdir(parents=True, exist_ok=True)
    sets: dict[str, dict[str, object]] = {}
    sets["semeval-items"], semeval = build_semeval(out)
    sets.update(build_days(out, semeval))
    sets["angles-bbc"] = build_angles(out)
    sets["crosslang-day"] = validate_crosslang(DATA / CROSSLANG)
    for name, info in sets.items():
        digest = hashlib.sha256(
            (DATA / CROSSLANG if name == "crosslang-day" else out / f"{name}.jsonl").read_bytes()
        )
        info["sha256"] = digest.hexdigest()
    manifest = {"seed": SEED, "source": "../shared/labeled", "sets": sets}
    (out / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="rebuild elsewhere and compare")
    args = parser.parse_args()
    if not args.check:
        manifest = build(DATA)
        for name, info in manifest["sets"].items():  # type: ignore[union-attr]
            print(f"{name}: {json.dumps({k: v for k, v in info.items() if k != 'sha256'})}")
        print("wrote", DATA)
        return
    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp))
        names = sorted(p.name for p in Path(tmp).iterdir())
        _, mismatch, errors = filecmp.cmpfiles(DATA, tmp, names, shallow=False)
        if mismatch or errors:
            sys.exit(f"differs from a fresh rebuild: {mismatch + errors}")
    print("bench/cluster/data matches a fresh rebuild")


if __name__ == "__main__":
    main()
