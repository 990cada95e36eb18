"""Network faults through the fetch stage: a misbehaving loopback server beside good feeds.

Every fault is served next to two good feeds and run through `ingest.fetch_stage` (the stage
`digest fetch` and `digest run` call) into a real store. Each run bounds its own time: it must
end within twice the configured deadline, and the good feeds' items must all be stored.
The CLI scenarios at the end run `digest fetch` and `digest feeds check` as a user would.
"""

from __future__ import annotations

import email.utils
import gzip
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from builders import (
    Entry,
    digest_command,
    digest_env,
    rss,
    rss_series,
    run_digest,
    write_feeds_config,
)
from httpserver import LoopbackServer, RecordedRequest, Response, free_port, self_signed_cert

from digest import fetch_stage
from digest.config import load_config
from digest.ingest import stage
from digest.ingest.stage import FetchSummary
from digest.records import Config, Item
from digest.store import Store
from digest.store.base import StoreBase

DEADLINE = 2.0  # fetch.timeout of every fault run, seconds
CLI_DEADLINE = 3.0  # the same for `digest fetch` as a process, start-up included
GOOD = ("good-a", "good-b")


def feed(key: str, n: int = 3, *, lang: str = "en") -> bytes:
    """A well-formed RSS document with `n` items whose GUIDs and titles are unique to `key`."""
    titles = [f"{key} report {i} on platform filtering rules" for i in range(n)]
    descriptions = [f"Item {i} of {key}: platforms must filter posts." for i in range(n)]
    return rss_series(key, titles, lang=lang, descriptions=descriptions)


def write_config(
    tmp: Path, feeds: dict[str, str], *, extra: str = "", deadline: float = DEADLINE
) -> Path:
    """A feeds.yaml with a short deadline and these feeds (id -> URL)."""
    fetch = f"fetch: {{timeout: {deadline}, connect_timeout: 1, max_bytes: 1048576}}\n"
    return write_feeds_config(tmp, feeds, extra=fetch + extra)


@dataclass
class Rig:
    """A loopback server with two good feeds, a workspace and a store."""

    srv: LoopbackServer
    tmp: Path

    def config(self, faults: dict[str, str], extra: str = "") -> Config:
        feeds = {fid: self.srv.url(f"/{fid}.xml") for fid in GOOD}
        feeds.update(faults)
        return load_config(write_config(self.tmp, feeds, extra=extra))

    def store(self) -> Store:
        return Store.open(self.tmp / "state" / "digest.db")

    def run(self, faults: dict[str, str], *, force: bool = False) -> FetchSummary:
        """One bounded fetch stage; asserts the deadline bound and the good feeds' items."""
        config = self.config(faults)
        with self.store() as store:
            start = time.monotonic()
            summary = fetch_stage(config, store, force=force)
            took = time.monotonic() - start
            # The faults never end by themselves (drips, hangs): any finite bound shows that
            # the deadline ended them. Five deadlines, not two, so that a loaded machine does
            # not fail it; a deadline that did not work would hang here.
            assert took < 5 * DEADLINE, f"fetch stage took {took:.2f} s"
            assert set(GOOD) <= fetched_ids(store)
            for fid in GOOD:
                assert items_of(store, fid) == 3, fid
        return summary


def fetched_ids(store: Store) -> set[str]:
    """Feeds whose last attempt succeeded."""
    rows = store.conn.execute("SELECT id FROM feeds WHERE last_success IS NOT NULL")
    return {r["id"] for r in rows}


def items_of(store: Store, feed_id: str) -> int:
    """How many stored items came from this feed."""
    row = store.conn.execute(
        "SELECT COUNT(*) FROM item_sources WHERE feed_id = ?", (feed_id,)
    ).fetchone()
    return int(row[0])


def feed_row(store: Store, feed_id: str) -> dict[str, object]:
    """The feeds row of one feed."""
    row = store.conn.execute("SELECT * FROM feeds WHERE id = ?", (feed_id,)).fetchone()
    return dict(row)


def error_of(summary: FetchSummary, feed_id: str) -> str:
    """The error the summary reports for a feed (fails when it reports none)."""
    errors = dict(summary.failed)
    assert feed_id in errors, summary
    return errors[feed_id]


@pytest.fixture
def rig(tmp_path: Path, srv: LoopbackServer) -> Iterator[Rig]:
    for fid in GOOD:
        srv.route(f"/{fid}.xml", body=feed(fid), headers={"Content-Type": "application/rss+xml"})
    yield Rig(srv, tmp_path)


# ---------------------------------------------------------------- faults that end in an error


def _drip(srv: LoopbackServer) -> None:
    srv.route("/bad.xml", drip=1.0, drip_chunk=b"<")


def _big(srv: LoopbackServer) -> None:
    chunk = b"<!-- filler -->" * 4096  # 60 KiB; 850 of them make about 50 MB

    def handler(req: RecordedRequest) -> Response:
        return Response(200, {"Content-Type": "application/xml"}, (chunk for _ in range(850)))

    srv.route("/bad.xml", handler=handler)


def _bomb(srv: LoopbackServer) -> None:
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024), compresslevel=9)
    srv.route("/bad.xml", body=bomb, headers={"Content-Encoding": "gzip"})


def _loop(srv: LoopbackServer) -> None:
    srv.redirect("/bad.xml", "/bad2.xml", status=302)
    srv.redirect("/bad2.xml", "/bad.xml", status=301)


def _html(srv: LoopbackServer) -> None:
    page = (
        b"<!DOCTYPE html><html><head><title>News</title>"
        b'<link rel="stylesheet" href="/s.css">'
        b'<link rel="alternate" type="application/rss+xml" title="RSS" href="/feeds/all.rss">'
        b"</head><body><p>Welcome</p></body></html>"
    )
    srv.route("/bad.xml", body=page, headers={"Content-Type": "text/html; charset=utf-8"})


FAULTS: dict[str, tuple[Callable[[LoopbackServer], None], Callable[[str], str]]] = {
    # name: (server setup, the error expected, given the bad feed's URL)
    "slow drip": (_drip, lambda u: f"{u}: no complete answer within 2 s (overall deadline)"),
    "50 MB body": (_big, lambda u: f"{u}: body larger than the 1048576-byte cap"),
    "gzip bomb": (_bomb, lambda u: f"{u}: body larger than the 1048576-byte cap"),
    "redirect loop": (_loop, lambda u: f"{u}: too many redirects (more than 5)"),
    "404": (lambda s: s.route("/bad.xml", status=404, body=b"no"), lambda u: f"{u}: HTTP 404"),
    "500": (lambda s: s.route("/bad.xml", status=500), lambda u: f"{u}: HTTP 500"),
    "empty body": (lambda s: s.route("/bad.xml", body=b""), lambda u: f"{u}: empty response"),
    "HTML page": (
        _html,
        lambda u: (
            f"{u}: an HTML page, not a feed; the page names its feed: "
            f"{u.rsplit('/', 1)[0]}/feeds/all.rss"
        ),
    ),
    "not a feed": (
        lambda s: s.route("/bad.xml", body=b'{"json": true}', headers={"Content-Type": "x/y"}),
        lambda u: f"{u}: not a feed",
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_fails_only_its_feed_and_backs_off(rig: Rig, fault: str) -> None:
    setup, expected = FAULTS[fault]
    setup(rig.srv)
    url = rig.srv.url("/bad.xml")
    before = datetime.now(UTC).replace(microsecond=0)
    summary = rig.run({"bad": url})
    assert error_of(summary, "bad").startswith(expected(url)), summary.failed
    assert summary.ok == 2 and summary.items_new == 6
    with rig.store() as store:
        row = feed_row(store, "bad")
        assert row["consecutive_failures"] == 1 and row["last_success"] is None
        assert items_of(store, "bad") == 0
        # backing off: the next plain fetch skips it, and the server sees no new request
        next_fetch = datetime.strptime(str(row["next_fetch"]), "%Y-%m-%dT%H:%M:%SZ")
        assert next_fetch.replace(tzinfo=UTC) >= before + timedelta(minutes=15)
    requests = len(rig.srv.requests_for("/bad.xml"))
    again = rig.run({"bad": url})
    assert ("bad" in dict(again.skipped)) and not again.failed
    assert len(rig.srv.requests_for("/bad.xml")) == requests


def test_connection_refused_and_tls_failure_beside_good_feeds(rig: Rig, tmp_path: Path) -> None:
    refused = f"http://127.0.0.1:{free_port()}/feed.xml"
    faults = {"refused": refused}
    pair = self_signed_cert(tmp_path)
    tls_server = None
    if pair is not None:
        tls_server = LoopbackServer()
        tls_server.wrap_tls(*pair)
        tls_server.start()
        tls_server.route("/feed.xml", body=feed("tls"))
        faults["tls"] = tls_server.url("/feed.xml")
    try:
        summary = rig.run(faults)
    finally:
        if tls_server is not None:
            tls_server.stop()
    assert error_of(summary, "refused") == f"{refused}: connection refused"
    if pair is not None:
        assert error_of(summary, "tls").startswith(f"{faults['tls']}: TLS certificate not accepted")


def test_dns_failure_beside_good_feeds(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def fake(host: object, *args: object, **kw: object) -> object:
        if host == "feeds.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    summary = rig.run({"nxdomain": "http://feeds.invalid/rss"})
    assert "DNS lookup failed" in error_of(summary, "nxdomain")


def test_consecutive_failures_back_off_exponentially(rig: Rig) -> None:
    rig.srv.route("/bad.xml", status=500)
    url = rig.srv.url("/bad.xml")
    gaps = []
    for _ in range(4):
        before = datetime.now(UTC).replace(microsecond=0)
        rig.run({"bad": url}, force=True)  # --force ignores backoff, not the failure count
        with rig.store() as store:
            row = feed_row(store, "bad")
        next_fetch = datetime.strptime(str(row["next_fetch"]), "%Y-%m-%dT%H:%M:%SZ")
        gaps.append((next_fetch.replace(tzinfo=UTC) - before).total_seconds() / 60)
    assert row["consecutive_failures"] == 4
    # 15, 30, 60, 120 minutes (a second of slack for the clock ticking during the run)
    for got, want in zip(gaps, (15, 30, 60, 120), strict=True):
        assert want - 0.1 <= got <= want + 0.1, gaps


def test_feeds_ready_together_share_one_commit(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    # A commit per feed wrote the same index pages again for every feed (issue 19): feeds
    # ready together are stored in one transaction. With a batch wait longer than the run,
    # the first ready feed is stored at once and every other one in one commit at the end
    # (and the wait does not hold the run up: rig.run checks the deadline).
    monkeypatch.setattr(stage, "STORE_EVERY", 3600.0)
    more = {f"more-{n}": rig.srv.url(f"/more-{n}.xml") for n in range(3)}
    for fid in more:
        rig.srv.route(
            f"/{fid}.xml", body=feed(fid), headers={"Content-Type": "application/rss+xml"}
        )
    commits: list[str] = []  # the stage's functions that began a transaction
    real = StoreBase.transaction

    def counted(self: StoreBase) -> AbstractContextManager[sqlite3.Connection]:
        caller = sys._getframe(1).f_code
        if not self.conn.in_transaction and caller.co_filename == stage.__file__:
            commits.append(caller.co_name)
        return real(self)

    monkeypatch.setattr(StoreBase, "transaction", counted)
    summary = rig.run(more)
    assert summary.ok == 5 and summary.items_new == 15
    with rig.store() as store:
        for fid in more:
            assert items_of(store, fid) == 3, fid
    # the first ready feed, then the rest: not one per feed (5)
    assert len(commits) <= 2, commits


def test_a_store_failure_ends_the_run_and_its_feed_is_fetched_again(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Storing in batches: a failure rolls back its batch (never what earlier ones stored),
    # and the run ends with the error, as it did with one transaction per feed.
    monkeypatch.setattr(stage, "STORE_EVERY", 0.0)
    real = Store.upsert_item

    def failing(self: Store, item: Item, now: datetime) -> tuple[str, bool]:
        if item.feed_id == "broken":
            raise sqlite3.OperationalError("disk I/O error")
        return real(self, item, now)

    monkeypatch.setattr(Store, "upsert_item", failing)
    rig.srv.route(
        "/broken.xml", body=feed("broken"), headers={"Content-Type": "application/rss+xml"}
    )
    config = rig.config({"broken": rig.srv.url("/broken.xml")})
    with rig.store() as store, pytest.raises(sqlite3.OperationalError):
        fetch_stage(config, store)
    with rig.store() as store:
        assert items_of(store, "broken") == 0
        assert feed_row(store, "broken")["last_attempt"] is None  # fetched again next run


# ---------------------------------------------------------------- status codes with a memory


def test_410_gone_until_reset(rig: Rig, tmp_path: Path) -> None:
    rig.srv.route("/gone.xml", status=410)
    url = rig.srv.url("/gone.xml")
    summary = rig.run({"gone": url})
    assert error_of(summary, "gone").startswith(f"{url}: HTTP 410 Gone")
    with rig.store() as store:
        assert feed_row(store, "gone")["gone"] == 1
    # gone: not fetched again, not even with --force
    for force in (False, True):
        again = rig.run({"gone": url}, force=force)
        assert "gone" in dict(again.skipped)
        assert "digest feeds reset gone" in dict(again.skipped)["gone"]
    assert len(rig.srv.requests_for("/gone.xml")) == 1
    # the outlet brings it back; `feeds reset` revives it
    rig.srv.route("/gone.xml", body=feed("revived"))
    with rig.store() as store:
        assert store.reset_feed("gone")
    revived = rig.run({"gone": url})
    assert not revived.failed and not revived.skipped
    with rig.store() as store:
        row = feed_row(store, "gone")
        assert row["gone"] == 0 and row["consecutive_failures"] == 0
        assert items_of(store, "gone") == 3


def _retry_after_seconds(srv: LoopbackServer, status: int) -> datetime:
    srv.route("/busy.xml", status=status, headers={"Retry-After": "3600"})
    return datetime.now(UTC) + timedelta(seconds=3600)


def _retry_after_date(srv: LoopbackServer, status: int) -> datetime:
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=5)
    srv.route(
        "/busy.xml", status=status, headers={"Retry-After": email.utils.format_datetime(when, True)}
    )
    return when


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("form", [_retry_after_seconds, _retry_after_date])
def test_retry_after_is_honoured(
    rig: Rig, status: int, form: Callable[[LoopbackServer, int], datetime]
) -> None:
    not_before = form(rig.srv, status)
    url = rig.srv.url("/busy.xml")
    summary = rig.run({"busy": url})
    assert error_of(summary, "busy").startswith(f"{url}: HTTP {status}")
    with rig.store() as store:
        row = feed_row(store, "busy")
    next_fetch = datetime.strptime(str(row["next_fetch"]), "%Y-%m-%dT%H:%M:%SZ")
    # not before the server's time, and not needlessly later (the backoff is 15 min)
    assert next_fetch.replace(tzinfo=UTC) >= not_before
    assert next_fetch.replace(tzinfo=UTC) <= not_before + timedelta(seconds=5)
    again = rig.run({"busy": url})
    assert "busy" in dict(again.skipped) and not again.failed
    assert len(rig.srv.requests_for("/busy.xml")) == 1


def test_304_keeps_items_and_sends_validators(rig: Rig) -> None:
    rig.srv.route("/v.xml", body=feed("v"), etag='"v1"')
    url = rig.srv.url("/v.xml")
    first = rig.run({"v": url})
    assert first.items_new == 9
    second = rig.run({"v": url})
    assert second.not_modified == 1 and second.items_new == 0  # the good feeds send no ETag
    assert rig.srv.requests_for("/v.xml")[-1].headers.get("if-none-match") == '"v1"'
    with rig.store() as store:
        assert items_of(store, "v") == 3


def test_permanent_redirect_is_stored_and_temporary_is_not(rig: Rig) -> None:
    rig.srv.route("/new.xml", body=feed("moved"))
    rig.srv.redirect("/p301.xml", "/new.xml", status=301)
    rig.srv.route("/new308.xml", body=feed("moved308"))
    rig.srv.redirect("/p308.xml", "/new308.xml", status=308)
    rig.srv.route("/tmp-target.xml", body=feed("temp"))
    rig.srv.redirect("/p302.xml", "/tmp-target.xml", status=302)
    faults = {
        "p301": rig.srv.url("/p301.xml"),
        "p308": rig.srv.url("/p308.xml"),
        "p302": rig.srv.url("/p302.xml"),
    }
    summary = rig.run(faults)
    assert not summary.failed and summary.items_new == 15
    with rig.store() as store:
        assert feed_row(store, "p301")["effective_url"] == rig.srv.url("/new.xml")
        assert feed_row(store, "p308")["effective_url"] == rig.srv.url("/new308.xml")
        assert feed_row(store, "p302")["effective_url"] is None
    # the next fetch goes straight to the stored URL; the 302 is asked again
    rig.run(faults, force=True)
    assert len(rig.srv.requests_for("/p301.xml")) == 1
    assert len(rig.srv.requests_for("/new.xml")) == 2
    assert len(rig.srv.requests_for("/p302.xml")) == 2


# ---------------------------------------------------------------- damaged documents


def test_truncated_xml_keeps_recovered_items_and_flags_the_fetch(rig: Rig) -> None:
    full = feed("cut", 5, lang="zh").replace(b"report", "报道".encode())
    # cut inside the fourth item, in the middle of a multi-byte character
    at = full.index(b"<item><guid>cut-3") + full[full.index(b"<item><guid>cut-3") :].index(
        "报".encode()
    )
    rig.srv.route("/cut.xml", body=full[: at + 1], headers={"Content-Type": "application/xml"})
    summary = rig.run({"cut": rig.srv.url("/cut.xml")})
    assert "cut" not in dict(summary.failed)
    warning = dict(summary.warnings)["cut"]
    assert "truncated" in warning
    assert "with warnings" in summary.line()
    with rig.store() as store:
        titles = {
            r["title"]
            for r in store.conn.execute(
                "SELECT i.title FROM items i JOIN item_sources s ON s.item_id = i.id"
                " WHERE s.feed_id = 'cut'"
            )
        }
        log = store.conn.execute(
            "SELECT error, warning FROM fetch_log WHERE feed_id = 'cut'"
        ).fetchone()
        assert store.parse_warnings()["cut"] == warning
    # the three complete items, with their Chinese intact (no mojibake from the cut)
    assert {f"cut 报道 {i} on platform filtering rules" for i in range(3)} <= titles
    assert log["error"] is None and "truncated" in log["warning"]


def test_wrong_charset_header_and_bom(rig: Rig) -> None:
    body = b"\xef\xbb\xbf" + feed("charset", lang="zh").replace(b"report", "报道".encode())
    rig.srv.route("/cs.xml", body=body, headers={"Content-Type": "text/xml; charset=windows-1252"})
    summary = rig.run({"cs": rig.srv.url("/cs.xml")})
    assert "cs" not in dict(summary.failed)
    with rig.store() as store:
        titles = sorted(
            r["title"]
            for r in store.conn.execute(
                "SELECT i.title FROM items i JOIN item_sources s ON s.item_id = i.id"
                " WHERE s.feed_id = 'cs'"
            )
        )
    assert titles == [f"charset 报道 {i} on platform filtering rules" for i in range(3)]


# ---------------------------------------------------------------- nothing lost


@pytest.mark.parametrize(
    "broken",
    [
        b"",
        b"<rss",
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>',
        b"<html><body>maintenance</body></html>",
        b"\x00\xff" * 100,
    ],
    ids=["empty", "broken", "no items", "html", "binary"],
)
def test_a_feed_that_turns_empty_or_broken_deletes_nothing(rig: Rig, broken: bytes) -> None:
    rig.srv.route("/n.xml", body=feed("keep", 4))
    url = rig.srv.url("/n.xml")
    assert rig.run({"n": url}).items_new == 10
    rig.srv.route("/n.xml", body=broken, headers={"Content-Type": "application/xml"})
    rig.run({"n": url}, force=True)
    with rig.store() as store:
        assert items_of(store, "n") == 4
        assert store.count_items() == 10


# ---------------------------------------------------------------- the CLI, as a user runs it


def test_cli_fetch_and_feeds_check_report_every_fault(tmp_path: Path, srv: LoopbackServer) -> None:
    srv.route("/good.xml", body=feed("good"))
    srv.route("/new.xml", body=feed("moved"))
    srv.redirect("/old.xml", "/new.xml", status=301)
    srv.route("/gone.xml", status=410)
    srv.route("/busy.xml", status=429, headers={"Retry-After": "7200"})
    srv.route("/drip.xml", drip=1.0)
    srv.route("/cut.xml", body=feed("cut", 5)[:-150])
    cfg = write_config(
        tmp_path,
        {name: srv.url(f"/{name}.xml") for name in ("good", "old", "gone", "busy", "drip", "cut")},
        deadline=CLI_DEADLINE,
    )
    start = time.monotonic()
    res = run_digest("--config", str(cfg), "fetch", cwd=tmp_path)
    took = time.monotonic() - start
    assert res.returncode == 0, res.stderr
    # The drip never ends: the whole command, start-up included, ended by the deadline
    # (five deadlines of slack for a loaded machine's start-up).
    assert took < 5 * CLI_DEADLINE, took
    out = res.stdout
    assert out.startswith("fetch: 6 feeds, 3 ok (0 not modified), 3 failed"), out
    assert "1 with warnings" in out.splitlines()[0]
    assert "  warning cut: malformed or truncated XML" in out
    assert f"  failed drip: {srv.url('/drip.xml')}: no complete answer within 3 s" in out

    again = run_digest("--config", str(cfg), "fetch", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("fetch: 3 feeds, 3 ok"), again.stdout
    assert "  skipped gone: gone; `digest feeds reset gone` revives it" in again.stdout
    assert "  skipped busy: backing off until" in again.stdout
    assert len(srv.requests_for("/busy.xml")) == 1
    assert len(srv.requests_for("/old.xml")) == 1  # the stored URL is used instead

    check = run_digest("--config", str(cfg), "feeds", "check", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    text = check.stdout
    assert f"  moved permanently to {srv.url('/new.xml')}: update its url in {cfg}" in text, text
    assert "gone: GONE;" in text and "digest feeds reset gone" in text
    assert "busy: FAILING (1 in a row); last success never" in text
    assert "  last error: " + srv.url("/busy.xml") + ": HTTP 429 Too Many Requests" in text
    assert "  next retry: " in text
    assert "cut: ok, with a warning" in text
    assert "  last parse warning: malformed or truncated XML" in text

    # the sources page tells readers which feeds are not updating, in plain words; the error
    # text, the next try and the remedy stay with the operator (feeds check, above)
    built = run_digest("--config", str(cfg), "build", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    sources = (tmp_path / "site" / "sources.html").read_text(encoding="utf-8")
    with Store.open(tmp_path / ".digest" / "digest.db") as store:
        busy = feed_row(store, "busy")
    assert "Not updating: no successful fetch yet" in sources
    assert "No longer published: the outlet removed this feed" in sources
    assert f'datetime="{busy["next_fetch"]}"' not in sources
    assert "HTTP 429" not in sources and "feeds reset gone" not in sources

    reset = run_digest("--config", str(cfg), "feeds", "reset", "gone", cwd=tmp_path)
    assert reset.returncode == 0, reset.stderr
    srv.route("/gone.xml", body=feed("back"))
    third = run_digest("--config", str(cfg), "fetch", "--feed", "gone", cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    assert third.stdout.startswith("fetch: 1 feed, 1 ok"), third.stdout


def _dated_feed() -> bytes:
    dates = ["Mon, 06 Jan 2020 10:00:00 GMT", "Tue, 07 Jan 2020 10:00:00 GMT"] + [
        f"Thu, 19 Nov 2026 0{h}:00:00 GMT" for h in range(3)
    ]
    return rss(
        "r",
        [
            Entry(
                guid=f"r-{i}",
                link=f"https://news.example/r/{i}",
                title=f"Retention report {i} about blocked sites",
                description=f"Body {i}.",
                published=date,
            )
            for i, date in enumerate(dates)
        ],
        lang="en",
    )


def test_retention_prunes_only_when_set(tmp_path: Path, srv: LoopbackServer) -> None:
    from digest.pipeline import run
    from digest.workspace import Workspace

    srv.route("/r.xml", body=_dated_feed())
    feeds = {"r": srv.url("/r.xml")}
    ws = Workspace(config_path=tmp_path / "feeds.yaml", state_dir=tmp_path / "state")
    # unset (the default): nothing is ever pruned, however old, run after run
    for _ in range(2):
        run(load_config(write_config(tmp_path, feeds)), ws)
        with ws.open_store() as store:
            assert store.count_items() == 5
    # set: items published before the cutoff go, and a feed still listing them does
    # not bring them back
    run(load_config(write_config(tmp_path, feeds, extra="store: {retention_days: 30}\n")), ws)
    with ws.open_store() as store:
        assert store.count_items() == 3
        titles = {r[0] for r in store.conn.execute("SELECT title FROM items")}
    assert titles == {f"Retention report {i} about blocked sites" for i in (2, 3, 4)}


def _zero_bomb(size: int) -> bytes:
    """gzip of `size` zero bytes, built a MiB at a time (never `size` bytes in memory)."""
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * (1 << 20)
    parts = [packer.compress(block) for _ in range(size >> 20)]
    return b"".join([*parts, packer.flush()])


def _peak_rss_fetch(cfg: Path, cwd: Path) -> tuple[int, str]:
    """Exit status and peak RSS (KiB) of one `digest fetch` process."""
    out = cwd / f"{cfg.stem}.out"
    with out.open("wb") as fh:
        proc = subprocess.Popen(
            [*digest_command(), "--config", str(cfg), "fetch"],
            cwd=cwd,
            stdout=fh,
            stderr=fh,
            env=digest_env(),
        )
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return int(usage.ru_maxrss), out.read_text()


def test_memory_stays_flat_on_a_50_mb_body_and_a_gzip_bomb(
    tmp_path: Path, srv: LoopbackServer
) -> None:
    chunk = b"<!-- filler -->" * 4096

    def big(req: RecordedRequest) -> Response:
        return Response(200, {"Content-Type": "application/xml"}, (chunk for _ in range(850)))

    bomb = _zero_bomb(256 << 20)  # 256 MiB of zeros in about 250 KB
    srv.route("/good.xml", body=feed("good"))
    srv.route("/big.xml", handler=big)
    srv.route("/bomb.xml", body=bomb, headers={"Content-Encoding": "gzip"})
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    plain = write_config(tmp_path / "a", {"good": srv.url("/good.xml")})
    hostile = write_config(
        tmp_path / "b",
        {name: srv.url(f"/{name}.xml") for name in ("good", "big", "bomb")},
    )
    base_rss, base_out = _peak_rss_fetch(plain, tmp_path / "a")
    rss_kib, out = _peak_rss_fetch(hostile, tmp_path / "b")
    assert base_out.startswith("fetch: 1 feed, 1 ok"), base_out
    assert out.startswith("fetch: 3 feeds, 1 ok (0 not modified), 2 failed"), out
    assert out.count("body larger than the 1048576-byte cap") == 2, out
    # 50 MB and 256 MiB offered; the cap is 1 MiB: the process grows by a few MiB at most
    assert rss_kib - base_rss < 16 * 1024, (base_rss, rss_kib)
