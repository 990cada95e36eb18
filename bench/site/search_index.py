"""What searching words costs: the search index as built now against pagefind's Chinese mode.

Run: flock /tmp/bench.lock nice .venv/bin/python bench/site/search_index.py

Two indexes of the same sites, in one run:
- now: one small page per story (headline and reports), indexed as English with Chinese cut by
  jieba, plus the Chinese vocabulary the search page segments queries with (zh-words.json);
- before: the story pages themselves, `--force-language zh` (pagefind's own Chinese
  segmentation, no English stemming), as the digest did until issue 15.
Sites: the bundled demo, the real feeds of ../shared/feeds-real (every item, one story each)
and the synthetic 5k-item site of bench/site/run.py. Writes bench/results/search.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

from run import TOPICS, fill_store  # noqa: E402
from shared_data import FEEDS_REAL  # noqa: E402

from digest import build_data, build_stage  # noqa: E402
from digest.config import load_config  # noqa: E402
from digest.pipeline import run as run_pipeline  # noqa: E402
from digest.records import Config, FeedConfig, SiteConfig, StoriesConfig, TopicConfig  # noqa: E402
from digest.site.pages import render_pages  # noqa: E402
from digest.site.search import SEARCH_DIR, VOCABULARY, pagefind_executable, publish_index  # noqa: E402
from digest.store import Store  # noqa: E402
from digest.workspace import Workspace  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "search.md"


def tree_size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def measure(name: str, config: Config, store: Store, work: Path) -> dict[str, object]:
    exe = pagefind_executable()
    assert exe is not None, "pagefind is not installed"
    out = work / f"{name}-site"
    build_stage(config, store, out)
    version = out.resolve()
    data = build_data(config, store)
    docs = render_pages(data, None, {}, None, search=True).search_docs
    fresh = work / f"{name}-now"
    fresh.mkdir()
    started = time.perf_counter()
    publish_index(exe, fresh, None, reuse=False, docs=docs)
    now_seconds = time.perf_counter() - started
    now_bytes, now_files = tree_size(fresh / SEARCH_DIR)
    vocabulary = (fresh / SEARCH_DIR / VOCABULARY).stat().st_size
    before = work / f"{name}-before"
    started = time.perf_counter()
    subprocess.run(
        [str(exe), "--site", str(version), "--glob", "stories/*.html", "--output-path",
         str(before), "--force-language", "zh", "--silent"],
        check=True,
    )  # fmt: skip
    before_seconds = time.perf_counter() - started
    before_bytes, before_files = tree_size(before)
    return {
        "site": name,
        "stories": len(docs),
        "now_kb": now_bytes / 1024,
        "now_files": now_files,
        "vocabulary_kb": vocabulary / 1024,
        "now_s": now_seconds,
        "before_kb": before_bytes / 1024,
        "before_files": before_files,
        "before_s": before_seconds,
    }


def main() -> None:
    load = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        demo = work / "demo"
        shutil.copytree(ROOT / "examples" / "demo", demo, ignore=shutil.ignore_patterns("site*"))
        config = load_config(demo / "feeds.yaml")
        ws = Workspace.resolve(demo / "feeds.yaml", demo / ".digest")
        run_pipeline(config, ws)
        with ws.open_store() as store:
            rows.append(measure("demo", config, store, work))
        if FEEDS_REAL.is_dir():
            real = work / "real"
            real.mkdir()
            feeds = tuple(
                FeedConfig(p.stem.lower().replace("_", "-"), p.stem, str(p))
                for p in sorted(FEEDS_REAL.glob("*.xml"))
            )
            config = Config(
                path=real / "feeds.yaml",
                site=SiteConfig(window_days=36500),
                feeds=feeds,
                stories=StoriesConfig(embedder="none"),
            )
            ws = Workspace.resolve(real / "feeds.yaml", real / ".digest")
            run_pipeline(config, ws)
            with ws.open_store() as store:
                rows.append(measure("real feeds", config, store, work))
        synth = work / "synth"
        synth.mkdir()
        config = Config(
            path=synth / "feeds.yaml",
            site=SiteConfig(window_days=7),
            topics=tuple(TopicConfig(n, n, tuple(k)) for n, k in TOPICS.items()),
            feeds=tuple(
                FeedConfig(f"feed{i:02d}", f"Outlet {i}", f"https://outlet{i}.example/rss")
                for i in range(20)
            ),
        )
        with Store.open(synth / "digest.db") as store:
            fill_store(store, 5000, 1250, config)
            rows.append(measure("synthetic 5k items", config, store, work))
    lines = [
        f"load average before/after: {load} / {os.getloadavg()}",
        "",
        "| site | stories | index now (KB, files) | of which zh-words.json (KB) | build s"
        " | before: zh over story pages (KB, files) | build s | size now / before |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['site']} | {r['stories']} | {r['now_kb']:.0f}, {r['now_files']}"
            f" | {r['vocabulary_kb']:.1f} | {r['now_s']:.1f} | {r['before_kb']:.0f},"
            f" {r['before_files']} | {r['before_s']:.1f} | {r['now_kb'] / r['before_kb']:.2f} |"  # type: ignore[operator]
        )
    text = "\n".join(lines) + "\n"
    RESULTS.with_name("search-figures.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
