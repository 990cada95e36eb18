"""Translation throughput: naive argostranslate vs our engine vs raw CTranslate2.

    flock /tmp/bench.lock .venv/bin/python bench/translate/run.py [--items 300] [--paths abc]

Builds a random-weight Transformer-base package of the real size (see realsize.py), makes
300 Chinese news items (title plus a 2-3 sentence summary) from the real RFA Mandarin feed
in ../shared/feeds-real (or from built-in sentences when that is absent), and runs, each in
its own fresh interpreter, with the same model, beam size and maximum decoding length:

  (a) naive: argostranslate.translate.translate() per text, argostranslate's defaults, patched
      only so its sentence splitter does not download (it gets digest's splitter) and so the
      shared maximum decoding length reaches CTranslate2;
  (b) ours: the pipeline's translate stage over a fresh store (engine, cache, store writes),
      then the same stage again over the same items (must translate nothing);
  (c) raw: ctranslate2.Translator.translate_batch over the pre-tokenised sentences, with the
      engine's thread settings; the best of two batch sizes counts.

Model loading is kept out of the timings (each path warms up on one sentence first). The
figures go to bench/results/translate.md.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from digest.translate.sentences import split_sentences  # noqa: E402

RESULTS = REPO / "bench" / "results" / "translate.md"
WARMUP = "中国。"

FALLBACK_SENTENCES = [
    "警方周二拘留了三名维权人士，他们被指控寻衅滋事。",
    "家属表示非常担心他们的健康状况。",
    "据悉，此事在社交媒体上引发广泛关注，相关讨论迅速被删除。",
    "国际特赦组织呼吁当局立即释放被捕者。",
    "苹果公司应监管部门要求从中国区应用商店下架了多款翻墙软件。",
    "网络空间管理局发布通知，要求平台加强内容管理。",
    "多名大学教授因发表批评文章而受到调查。",
    "新疆的人脸识别监控系统覆盖了几乎所有公共场所。",
    "香港记者协会对新闻自由的持续恶化表示忧虑。",
    "电子前哨基金会指出，新的数据安全法将赋予政府更大的监控权力。",
]
PREFIXES = ["", "据报道，", "另据消息人士透露，", "有分析认为，", "知情人士说，"]


# ---------------------------------------------------------------- the items


def feed_sentences() -> tuple[list[str], str]:
    """Unique Chinese sentences from the real RFA Mandarin feed, else the built-in ones."""
    from shared_data import FEEDS_REAL

    feed = FEEDS_REAL / "rfa_nuus_mandarin.xml"
    if not feed.is_file():
        return FALLBACK_SENTENCES, "built-in sentences (real feed absent)"
    import feedparser

    parsed = feedparser.parse(feed.read_bytes())
    seen: dict[str, None] = {}
    for entry in parsed.entries:
        parts = [entry.get("title", ""), entry.get("summary", "")]
        parts += [c.get("value", "") for c in entry.get("content", [])]
        for part in parts:
            text = html.unescape(re.sub(r"<[^>]+>", "\n", part))
            for line in text.split("\n"):
                for sentence in split_sentences(line):
                    if len(re.findall(r"[\u4e00-\u9fff]", sentence)) >= 6:
                        seen.setdefault(sentence, None)
    return list(seen), f"{feed.name} ({len(seen)} unique sentences)"


def make_items(n: int) -> tuple[list[tuple[str, str]], str]:
    """n (title, summary) pairs, every sentence distinct, so no path gains from repeats."""
    pool, source = feed_sentences()
    items = []
    k = 0

    def take() -> str:
        nonlocal k
        sentence = pool[k % len(pool)]
        rnd = k // len(pool)
        k += 1
        prefix = PREFIXES[rnd % len(PREFIXES)] + ("（续）" * (rnd // len(PREFIXES)))
        return prefix + sentence

    for i in range(n):
        title = take().rstrip("。.")
        summary = "".join(take() for _ in range(3 if i % 3 == 0 else 2))
        items.append((title, summary))
    return items, source


def sentence_count(items: list[tuple[str, str]]) -> int:
    """Sentences the splitter makes of every title and summary."""
    return sum(len(split_sentences(t)) for item in items for t in item)


# ---------------------------------------------------------------- the paths (children)


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB.

    VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child started by a
    parent that once held more memory (the package build) would report the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def path_a(spec: dict[str, Any]) -> dict[str, Any]:
    """Naive: argostranslate.translate.translate() per title and per summary."""
    started = time.perf_counter()
    import ctranslate2
    from argostranslate import sbd
    from argostranslate import translate as argos_translate

    import_s = time.perf_counter() - started

    # Patch 1: the sentence splitter (its default downloads a MiniSBD model on first use).
    def offline_init(self: Any, pkg: Any) -> None:
        self.pkg = pkg

    def offline_split(self: Any, text: str) -> list[str]:
        return split_sentences(text)

    sbd.MiniSBDSentencizer.__init__ = offline_init  # type: ignore[method-assign]
    sbd.MiniSBDSentencizer.split_sentences = offline_split  # type: ignore[method-assign]

    # Patch 2: the shared maximum decoding length (argostranslate passes none).
    real = ctranslate2.Translator

    class SameLimit:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._t = real(*args, **kwargs)

        def translate_batch(self, *args: Any, **kwargs: Any) -> Any:
            kwargs["max_decoding_length"] = spec["max_len"]
            return self._t.translate_batch(*args, **kwargs)

    argos_translate.ctranslate2.Translator = SameLimit  # type: ignore[attr-defined]

    t0 = time.perf_counter()
    argos_translate.translate(WARMUP, "zh", "en")
    load_s = time.perf_counter() - t0
    items = spec["items"]
    t0 = time.perf_counter()
    for title, summary in items:
        argos_translate.translate(title, "zh", "en")
        argos_translate.translate(summary, "zh", "en")
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "import_s": import_s, "load_s": load_s, "rss_mb": peak_rss_mb()}


def bench_config(work: Path, tcfg: Any) -> Any:
    """A Config with one Chinese feed and the given translation settings."""
    from digest.records import Config, FeedConfig, SiteConfig

    feed = FeedConfig(id="rfa-zh", name="RFA Mandarin", url="file:///dev/null", language="zh")
    return Config(
        path=work / "feeds.yaml", site=SiteConfig(language="en"), translation=tcfg, feeds=(feed,)
    )


def store_with_items(db: Path, config: Any, items: list[tuple[str, str]]) -> Any:
    """A fresh store holding the Chinese (title, summary) items, untranslated."""
    from datetime import UTC, datetime, timedelta

    from digest.ingest.normalize import content_key
    from digest.records import Item
    from digest.store import Store

    store = Store.open(db)
    store.sync_feeds(config.feeds)
    now = datetime.now(UTC)
    with store.transaction():
        for i, (title, summary) in enumerate(items):
            store.upsert_item(
                Item(
                    feed_id=config.feeds[0].id,
                    guid=f"item-{i}",
                    url=f"https://example.org/{i}",
                    link=f"https://example.org/{i}",
                    title=title,
                    summary=summary,
                    content_html="",
                    published=now - timedelta(minutes=i),
                    date_is_fallback=False,
                    lang="zh",
                    content_key=content_key(title, summary),
                ),
                now,
            )
    return store


def path_b(spec: dict[str, Any]) -> dict[str, Any]:
    """Ours: the pipeline's translate stage over a fresh store, twice."""
    from digest import translate_stage
    from digest.records import TranslationConfig
    from digest.translate.engine import ArgosTranslator

    tcfg = TranslationConfig(
        packages_dir=Path(spec["packages"]),
        beam_size=spec["beam"],
        max_decoding_length=spec["max_len"],
    )
    work = Path(spec["work"])
    config = bench_config(work, tcfg)
    store = store_with_items(work / f"bench-{os.getpid()}.db", config, spec["items"])
    translator = ArgosTranslator(tcfg, length_cap=spec["length_cap"])
    t0 = time.perf_counter()
    translator.translate([WARMUP], "zh", "en")
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    first = translate_stage(config, store, translator_factory=lambda cfg: translator)
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = translate_stage(config, store, translator_factory=lambda cfg: translator)
    rerun_s = time.perf_counter() - t0
    store.close()
    return {
        "seconds": seconds,
        "load_s": load_s,
        "threads": [translator.inter_threads, translator.intra_threads],
        "first": first.line(),
        "first_translated": first.translated,
        "rerun_s": rerun_s,
        "rerun": again.line(),
        "rerun_translated": again.translated,
        "rss_mb": peak_rss_mb(),
    }


def path_c(spec: dict[str, Any]) -> dict[str, Any]:
    """Raw: translate_batch over pre-tokenised sentences, the engine's threads."""
    import ctranslate2
    import sentencepiece as spm

    from digest.records import TranslationConfig
    from digest.translate.engine import pick_threads

    inter, intra = pick_threads(TranslationConfig())
    folder = next(Path(spec["packages"]).iterdir())
    sp = spm.SentencePieceProcessor(model_file=str(folder / "sentencepiece.model"))
    sentences = [s for item in spec["items"] for text in item for s in split_sentences(text)]
    tokens = [sp.encode(s, out_type=str) for s in sentences]
    t0 = time.perf_counter()
    translator = ctranslate2.Translator(
        str(folder / "model"), device="cpu", inter_threads=inter, intra_threads=intra
    )
    translator.translate_batch([sp.encode(WARMUP, out_type=str)], beam_size=spec["beam"])
    load_s = time.perf_counter() - t0
    runs = {}
    # Rows per batch: one batch per parallel translator was far slower and took 4.9 GB in
    # a first run (197 s against 54 s for 32), so only moderate sizes are tried.
    for size in (32, 64):
        t0 = time.perf_counter()
        translator.translate_batch(
            tokens,
            beam_size=spec["beam"],
            max_decoding_length=spec["max_len"],
            max_batch_size=size,
        )
        runs[size] = time.perf_counter() - t0
    best = min(runs, key=lambda size: runs[size])
    return {
        "seconds": runs[best],
        "batch_size": best,
        "runs": {str(k): v for k, v in runs.items()},
        "sentences": len(tokens),
        "load_s": load_s,
        "threads": [inter, intra],
        "rss_mb": peak_rss_mb(),
    }


def child(which: str, spec_file: str) -> None:
    """Run one path in this (fresh) interpreter and print its figures as JSON."""
    spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    result = {"a": path_a, "b": path_b, "c": path_c, "b-capped": path_b}[which](spec)
    print("RESULT " + json.dumps(result))


# ---------------------------------------------------------------- the run (parent)


def run_child(which: str, spec: dict[str, Any], work: Path) -> dict[str, Any]:
    """Run a path in a fresh interpreter with argostranslate pointed at the work dir."""
    spec_file = work / f"spec-{which}.json"
    spec = dict(spec, length_cap=which == "b-capped")
    spec_file.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    env = dict(os.environ)
    env.update(
        ARGOS_PACKAGES_DIR=spec["packages"],
        ARGOS_BEAM_SIZE=str(spec["beam"]),
        XDG_DATA_HOME=str(work / "xdg-data"),
        XDG_CACHE_HOME=str(work / "xdg-cache"),
        XDG_CONFIG_HOME=str(work / "xdg-config"),
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", which, spec_file],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if done.returncode != 0 or line is None:
        sys.exit(f"path {which} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(line[len("RESULT ") :])
    result["wall_s"] = wall
    print(f"  {which}: {result['seconds']:.1f} s (process {wall:.1f} s)", flush=True)
    return result


def write_results(
    spec: dict[str, Any], res: dict[str, dict[str, Any]], meta: dict[str, Any]
) -> str:
    """The markdown report."""
    n = len(spec["items"])

    def ips(which: str) -> float:
        return n / res[which]["seconds"]

    lines = [
        "# bench/translate",
        "",
        f"Run {meta['date']} on {meta['cores']} cores (load average before the run: "
        f"{meta['load_before']}; after: {meta['load_after']}). "
        + (
            "Other helpers were running tests and benchmarks on the machine at the same time, "
            "so absolute figures are noisy; the paths ran one after the other in one run."
            if meta["loaded"]
            else "The machine looked idle."
        ),
        "",
        f"Model: random-weight Transformer-base (6+6 layers, d_model 512, 8 heads, ffn 2048), "
        f"int8, shared vocabulary of 32,000 pieces (SentencePiece trained on the local text and "
        f"padded), package {meta['archive_mb']:.0f} MB. Items: {n} ({meta['source']}), "
        f"{meta['sentences']} sentences, all distinct. Beam size {spec['beam']}, maximum "
        f"decoding length {spec['max_len']} for every path (a random model always decodes to "
        "the limit). Model loading is outside the timings.",
        "",
        "| path | seconds | items/s | vs (a) | vs (c) | peak RSS |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    names = {
        "a": "(a) naive argostranslate.translate() per text",
        "b": "(b) digest engine via the translate stage",
        "c": "(c) raw CTranslate2 translate_batch, pre-tokenised",
        "b-capped": "(b') digest engine, default relative length cap on",
    }
    for which in ("a", "b", "c", "b-capped"):
        if which not in res:
            continue
        r = res[which]
        vs_a = f"{ips(which) / ips('a'):.2f}x" if "a" in res else "-"
        vs_c = f"{ips(which) / ips('c'):.2f}x" if "c" in res else "-"
        lines.append(
            f"| {names[which]} | {r['seconds']:.1f} | {ips(which):.2f} | {vs_a} | {vs_c} "
            f"| {r['rss_mb']:.0f} MB |"
        )
    lines.append("")
    runs = "; ".join(
        f"{w}: " + ", ".join(f"{t:.1f}" for t in r["all_runs"]) for w, r in res.items()
    )
    lines.append(f"Seconds of every run, the best of which is in the table: {runs}.")
    lines.append("")
    if "a" in res and "b" in res and "c" in res:
        ok_a = ips("b") >= 2.5 * ips("a")
        ok_c = ips("b") >= 0.8 * ips("c")
        lines.append(
            f"Goals: (b) >= 2.5x (a): {'met' if ok_a else 'MISSED'} "
            f"({ips('b') / ips('a'):.2f}x); (b) >= 0.8x (c): {'met' if ok_c else 'MISSED'} "
            f"({ips('b') / ips('c'):.2f}x)."
        )
    if "b" in res:
        b = res["b"]
        ratio = b["rerun_s"] / b["seconds"]
        met = "met" if ratio < 0.05 and not b["rerun_translated"] else "MISSED"
        lines += [
            "",
            f"Re-run of the translate stage over the same {n} items: "
            f"{b['rerun_translated']} texts translated in {b['rerun_s'] * 1000:.0f} ms, "
            f"{ratio:.2%} of the first run ({met} the < 5% goal).",
            f"First run: `{b['first']}`; re-run: `{b['rerun']}`.",
            f"Peak RSS of (b)'s process (interpreter, store, engine and model): "
            f"{b['rss_mb']:.0f} MB. Threads: inter {b['threads'][0]}, intra {b['threads'][1]}.",
        ]
    if "c" in res:
        c = res["c"]
        runs = ", ".join(f"max_batch_size {k}: {v:.1f} s" for k, v in c["runs"].items())
        lines.append(f"(c) batch sizes tried ({runs}); the best counts.")
    if "a" in res:
        a = res["a"]
        lines.append(
            f"(a) also pays {a['import_s']:.1f} s to import argostranslate.translate "
            "(stanza, torch), outside its timing."
        )
    if "b-capped" in res:
        lines.append(
            "(b') is what `digest` does by default: it caps each batch's decoding at twice "
            "its longest source plus 10 pieces (a guard against runaway loops). A random "
            "model always runs into that cap, so (b') is not comparable with (a) and (c), "
            "which is why (b) turns it off."
        )
    lines += [
        "",
        "Reproduce: `flock /tmp/bench.lock .venv/bin/python bench/translate/run.py`.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, build the package, run the paths, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--beam", type=int, default=2)
    parser.add_argument("--max-len", type=int, default=64)
    parser.add_argument("--paths", default="abc", help="any of a, b, c, B (b with the cap)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of b, c, B (best counts)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    from realsize import build_package

    items, source = make_items(args.items)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="bench-translate-") as tmp:
        work = Path(tmp)
        pool, _ = feed_sentences()
        print("building the random Transformer-base package ...", flush=True)
        archive = build_package(work / "archives", pool)
        packages = work / "packages"
        from tinymodel import install_model

        install_model(archive, packages)
        spec = {
            "items": items,
            "beam": args.beam,
            "max_len": args.max_len,
            "packages": str(packages),
            "work": str(work),
        }
        results: dict[str, dict[str, Any]] = {}
        times: dict[str, list[float]] = {}
        order = {"a": "a", "b": "b", "c": "c", "B": "b-capped"}
        # (a) takes minutes: once. The others alternate, best of --repeat, so a burst of
        # load from other work on the machine hits each of them alike.
        rounds = [["a"]] if "a" in args.paths else []
        rounds += [[k for k in args.paths if k != "a"]] * args.repeat
        for keys in rounds:
            for key in keys:
                name = order[key]
                result = run_child(name, spec, work)
                times.setdefault(name, []).append(result["seconds"])
                if name not in results or result["seconds"] < results[name]["seconds"]:
                    results[name] = result
        for name, result in results.items():
            result["all_runs"] = times[name]
        load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
        meta = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "cores": len(os.sched_getaffinity(0)),
            "load_before": load_before,
            "load_after": load_after,
            # Our own children load the machine too: judge by the load before the run.
            "loaded": float(load_before.split()[0]) > 0.5 * len(os.sched_getaffinity(0)),
            "archive_mb": archive.stat().st_size / 1e6,
            "source": source,
            "sentences": sentence_count(items),
        }
        report = write_results(spec, results, meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
