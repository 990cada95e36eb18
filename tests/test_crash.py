"""Crash safety: `digest run` killed with SIGKILL inside each stage, and two runs at once.

A run is stopped at a deterministic point (tests/crashhook.py: inside the stage's open SQLite
transaction, or while the site's files are being written) and killed with SIGKILL. Afterwards
the database passes PRAGMA integrity_check, the site link still names the previous, complete
version, and the next plain `digest run` completes and catches up on everything.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from builders import digest_env, rss_series, run_digest
from httpserver import LoopbackServer

HOOK = Path(__file__).with_name("crashhook.py")
ZH_ITEMS = 150  # more than one translation chunk (128 items), so a chunk commits before the kill


EN_TOPICS = ["VPN", "facial recognition", "firewall", "internet shutdown", "encryption", "bots"]


def feed(key: str, titles: list[str], lang: str) -> bytes:
    """One item per title (GUIDs unique to key), each described by its title and a 。."""
    return rss_series(key, titles, lang=lang, descriptions=[f"{t}。" for t in titles])


def en_feed(n: int) -> bytes:
    titles = [
        f"Regulator acts on {EN_TOPICS[i % 6]} case number {i} in province {i}" for i in range(n)
    ]
    return feed("en", titles, "en")


def zh_feed(n: int) -> bytes:
    words = ["审查", "删除", "屏蔽", "监控", "翻墙", "网信办"]
    return feed("zh", [f"第{i}号 {words[i % 6]} 报道 {words[(i + 1) % 6]}" for i in range(n)], "zh")


def start_paused(cfg: Path, crash_at: str, *args: str) -> tuple[subprocess.Popen[str], Path]:
    """Start `digest run` (or args) under the crash hook; returns the process and its mark file."""
    mark = cfg.parent / "crash.mark"
    mark.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, str(HOOK), "--config", str(cfg), *(args or ("run",))],
        cwd=cfg.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=digest_env({"DIGEST_CRASH_AT": crash_at, "DIGEST_CRASH_MARK": str(mark)}),
    )
    deadline = time.monotonic() + 240
    while not mark.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended before {crash_at} (exit {proc.returncode}):\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{crash_at} never reached")
        time.sleep(0.02)
    return proc, mark


def kill9(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def snapshot(site: Path) -> dict[str, bytes]:
    """Every file the site link reaches, by relative path."""
    root = site.resolve()
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


class Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.refs += [v for k, v in attrs if k in ("href", "src") and v]


def assert_complete(site: Path) -> None:
    """Every local link of every page resolves to a file of the same version."""
    root = site.resolve()
    pages = list(root.rglob("*.html"))
    assert (root / "index.html") in pages and (root / "sources.html") in pages
    for page in pages:
        parser = Hrefs()
        parser.feed(page.read_text(encoding="utf-8"))
        for ref in parser.refs:
            if ref.startswith(("http:", "https:", "mailto:", "#", "data:", "/")):
                continue  # outbound, or site-absolute (the 404 page's, under base_url)
            target = (page.parent / ref.split("#")[0].split("?")[0]).resolve()
            if ref.endswith("/"):
                target = target / "index.html"
            assert target.is_file(), f"{page.relative_to(root)} links to missing {ref}"


def state_counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:

        def one(sql: str) -> int:
            return int(conn.execute(sql).fetchone()[0])

        return {
            "items": one("SELECT COUNT(*) FROM items"),
            "zh": one("SELECT COUNT(*) FROM items WHERE lang LIKE 'zh%'"),
            "translated": one("SELECT COUNT(*) FROM item_translations WHERE status = 'translated'"),
            "unclustered": one("SELECT COUNT(*) FROM items WHERE story_id IS NULL"),
        }


# ---------------------------------------------------------------- one baseline, copied per test


@pytest.fixture(scope="module")
def baseline(module_srv: LoopbackServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace after one complete run on small feeds, with a zh→en model installed."""
    import tinymodel

    root = tmp_path_factory.mktemp("crash-baseline")
    archive = tinymodel.build_copy_model(root / "build", "zh", "en")
    tinymodel.install_model(archive, root / "packages")
    ws = root / "ws"
    ws.mkdir()
    module_srv.route("/en.xml", body=en_feed(3))
    module_srv.route("/zh.xml", body=zh_feed(3))
    (ws / "feeds.yaml").write_text(
        "site: {title: Crash test, language: en, window_days: 36500}\n"
        f"translation: {{engine: argos, packages_dir: {root / 'packages'}}}\n"
        "topics:\n  censorship: {keywords: [审查, firewall]}\n"
        "feeds:\n"
        f'  - {{id: en, name: EN, url: "{module_srv.url("/en.xml")}", language: en}}\n'
        f'  - {{id: zh, name: ZH, url: "{module_srv.url("/zh.xml")}", language: zh}}\n',
        encoding="utf-8",
    )
    first = run_digest("--config", str(ws / "feeds.yaml"), "run", cwd=ws)
    assert first.returncode == 0, first.stderr
    assert state_counts(ws / ".digest" / "digest.db")["translated"] == 3
    # the feeds grow: the next run has work in every stage
    module_srv.route("/en.xml", body=en_feed(10))
    module_srv.route("/zh.xml", body=zh_feed(ZH_ITEMS))
    return ws


@pytest.fixture
def ws(baseline: Path, tmp_path: Path) -> Path:
    """A private copy of the baseline workspace (the site link is relative, so it survives)."""
    dest = tmp_path / "ws"
    shutil.copytree(baseline, dest, symlinks=True)
    assert (dest / "site").is_symlink()
    return dest


KILL_POINTS = {
    # stage: where, inside it, the process is killed
    "fetch": "sql:INSERT INTO items:12",  # in the zh feed's transaction (en adds 7)
    "translate": "sql:INTO item_translations:140",  # the second chunk, after one commit
    "cluster": "sql:UPDATE items SET story_id:1",  # inside the stories transaction
    "build": "fsync:3",  # site files half written
    "build-switch": "switch:site",  # every file written, link not yet switched
}


@pytest.mark.parametrize("stage", list(KILL_POINTS))
def test_kill9_mid_stage_then_recover(ws: Path, stage: str) -> None:
    cfg = ws / "feeds.yaml"
    db = ws / ".digest" / "digest.db"
    site = ws / "site"
    old_site = snapshot(site)
    old_target = os.readlink(site)
    before = state_counts(db)

    proc, mark = start_paused(cfg, KILL_POINTS[stage])
    if KILL_POINTS[stage].startswith("sql:"):
        assert "in_transaction=True" in mark.read_text()  # killed mid-transaction
    kill9(proc)

    assert integrity(db) == "ok"
    after_kill = state_counts(db)
    if stage == "fetch":  # the feed's transaction rolled back; the en feed's commit stayed
        assert after_kill["items"] == before["items"] + 7
    if stage == "translate":  # the chunks that committed stay (128 items a chunk today)
        assert before["translated"] <= after_kill["translated"] < ZH_ITEMS
    # the site is the old version, untouched and complete
    assert os.readlink(site) == old_target
    assert snapshot(site) == old_site
    assert_complete(site)

    again = run_digest("--config", str(cfg), "run", cwd=ws)
    assert again.returncode == 0, again.stderr
    assert integrity(db) == "ok"
    final = state_counts(db)
    assert final["items"] == 10 + ZH_ITEMS
    assert final["zh"] == ZH_ITEMS and final["translated"] == ZH_ITEMS
    assert final["unclustered"] == 0
    assert os.readlink(site) != old_target
    assert_complete(site)
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "case number 9" in index or "case number 9" in "".join(
        p.read_text(encoding="utf-8") for p in site.resolve().rglob("*.html")
    )
    # no leftovers: a half-written version directory from the killed build is cleaned away
    versions = [p for p in ws.iterdir() if p.name.startswith("site.") and p.is_dir()]
    assert len(versions) <= 2, versions


def test_two_concurrent_runs_never_interleave(ws: Path) -> None:
    cfg = ws / "feeds.yaml"
    holder, _ = start_paused(cfg, "sql:INSERT INTO items:1")
    try:
        for args in (("run",), ("fetch",), ("build",)):
            second = run_digest("--config", str(cfg), *args, cwd=ws)
            assert second.returncode == 3, (args, second.stdout, second.stderr)
            assert "another digest run holds the lock" in second.stderr
            assert f"(pid {holder.pid})" in second.stderr
            assert "Traceback" not in second.stderr and not second.stdout
    finally:
        kill9(holder)
    # the lock dies with its holder: the next run goes ahead
    third = run_digest("--config", str(cfg), "run", cwd=ws)
    assert third.returncode == 0, third.stderr
    assert state_counts(ws / ".digest" / "digest.db")["items"] == 10 + ZH_ITEMS
