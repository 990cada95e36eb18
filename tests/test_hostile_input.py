"""Hostile input, round two: private networks, bounded work per feed, formulas, names, serve.

Each finding of issue 21 has a test here that failed before its fix. Every bound is a size or
a count (requests received, tags kept, entries kept, workers alive), never a wall-clock time.
"""

from __future__ import annotations

import asyncio
import csv
import io
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from builders import Entry, main_exit, rss, rss_series, write_feeds_config, write_text
from httpserver import LoopbackServer

from digest.addresses import host_problem, parse_ip
from digest.config import load_config
from digest.config.opml import import_opml
from digest.edition import site_data
from digest.export import write_records
from digest.ids import file_name_for, is_safe_name, is_windows_reserved
from digest.ingest.guard import PUBLIC_REFUSAL, Network
from digest.ingest.health import feed_report
from digest.ingest.http import fetch_all
from digest.ingest.newest import newest_entries
from digest.ingest.parse import parse_feed
from digest.ingest.replies import FetchRequest
from digest.ingest.sanitize import MAX_DEPTH, MAX_TAGS, bounded_markup, html_to_text, sanitize_html
from digest.ingest.stage import run as fetch_stage
from digest.ingest.workers import Job, Prepared, PreparePool, prepare
from digest.newsletter import archive
from digest.records import FeedConfig, FetchConfig
from digest.site.pages import CSP, SEARCH_CSP
from digest.site.serve import make_server
from digest.store import Store
from digest.workspace import Workspace

CFG = FetchConfig(timeout=5.0, connect_timeout=2.0, max_bytes=1 << 20, concurrency=8, per_host=4)
PUBLIC_IP = "93.184.216.34"  # what the seam says feeds.example resolves to (dialled on loopback)


def feed_doc(key: str, n: int = 2) -> bytes:
    """A small sound feed whose titles are unique to `key`."""
    return rss_series(key, [f"{key} report {i} on filtering" for i in range(n)])


def seam_names(names: dict[str, list[str]]) -> Network:
    """A network where these names resolve as given and no other does."""

    def lookup(host: str) -> list[str]:
        if host in names:
            return names[host]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    return Network(lookup=lookup)


def seam(srv: LoopbackServer, names: dict[str, list[str]]) -> Network:
    """seam_names, and PUBLIC_IP dialled on the loopback server."""

    def dial(address: str, port: int) -> tuple[str, int]:
        return ("127.0.0.1", srv.port) if address == PUBLIC_IP else (address, port)

    return Network(lookup=seam_names(names).lookup, dial=dial)


# ---------------------------------------------------------------- addresses, in every spelling

NON_PUBLIC = [
    ("127.0.0.1", "127.0.0.1"),
    ("2130706433", "127.0.0.1"),  # decimal
    ("0x7f000001", "127.0.0.1"),  # hex
    ("0x7f.1", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),  # octal
    ("127.1", "127.0.0.1"),
    ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),  # IPv4-mapped IPv6
    ("[::ffff:a00:1]", "::ffff:a00:1"),
    ("[::1]", "::1"),
    ("0", "0.0.0.0"),
    ("10.1.2.3", "10.1.2.3"),
    ("172.16.5.4", "172.16.5.4"),
    ("192.168.1.1", "192.168.1.1"),
    ("169.254.169.254", "169.254.169.254"),  # link-local (cloud metadata)
    ("100.64.0.1", "100.64.0.1"),
    ("[fe80::1]", "fe80::1"),
    ("[fd00::1]", "fd00::1"),
    ("[64:ff9b::a9fe:a9fe]", "64:ff9b::a9fe:a9fe"),  # NAT64 of 169.254.169.254
    ("224.0.0.1", "224.0.0.1"),
]


@pytest.mark.parametrize(("host", "address"), NON_PUBLIC)
def test_non_public_addresses_are_named_in_every_spelling(host: str, address: str) -> None:
    problem = host_problem(host)
    assert problem is not None and address in problem, problem


@pytest.mark.parametrize(("host", "address"), [h for h in NON_PUBLIC if "[" not in h[0]])
def test_our_reading_of_a_spelling_is_the_resolvers(host: str, address: str) -> None:
    # getaddrinfo (numeric only: no DNS) reads these spellings as the same address
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    assert {i[4][0] for i in infos} == {str(parse_ip(host))}


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST.", "a.localhost", "printer.local", "db.internal", "intranet"]
)
def test_local_names_are_not_public(host: str) -> None:
    assert host_problem(host) is not None


@pytest.mark.parametrize(
    "host", ["example.org", "8.8.8.8", "[2606:4700::1111]", PUBLIC_IP, "news.example"]
)
def test_public_hosts_pass(host: str) -> None:
    assert host_problem(host) is None


# ---------------------------------------------------------------- OPML import


def _opml(tmp_path: Path, urls: list[str]) -> Path:
    outlines = "".join(
        f'<outline type="rss" text="F{n}" xmlUrl="{u}"/>' for n, u in enumerate(urls)
    )
    return write_text(
        tmp_path / "list.opml",
        f'<?xml version="1.0"?><opml version="2.0"><head/><body>{outlines}</body></opml>',
    )


PRIVATE_URLS = [
    "http://127.0.0.1:8080/a",
    "http://2130706433:8080/b",
    "http://0x7f.1/c",
    "http://0177.0.0.1/d",
    "http://[::ffff:127.0.0.1]/e",
    "http://169.254.169.254/latest/meta-data/",
    "http://localhost/f",
    "http://intranet/g",
    "https://internal.example/h",  # resolves to 10.1.2.3 through the seam
]


def test_opml_import_refuses_private_hosts_and_names_them(tmp_path: Path) -> None:
    cfg = write_feeds_config(tmp_path, {"one": "https://one.example/feed"})
    public = ["https://news.example/rss", "https://unknown.example/rss"]  # unknown: no answer
    opml = _opml(tmp_path, PRIVATE_URLS + public)
    names = {"internal.example": ["10.1.2.3"], "news.example": [PUBLIC_IP]}
    result = import_opml(cfg, opml, network=seam_names(names))
    assert [f.url for f in result.added] == public
    skipped = dict(result.skipped)
    assert len(skipped) == len(PRIVATE_URLS)
    assert "127.0.0.1 (loopback)" in skipped["http://2130706433:8080/b"]
    assert "127.0.0.1 (loopback)" in skipped["http://0177.0.0.1/d"]
    assert "169.254.169.254 (link-local)" in skipped["http://169.254.169.254/latest/meta-data/"]
    assert "10.1.2.3 (private)" in skipped["https://internal.example/h"]
    assert all("--allow-private" in why for why in skipped.values())
    text = cfg.read_text(encoding="utf-8")
    assert not any(u in text for u in PRIVATE_URLS)


def test_opml_import_allow_private_takes_them(tmp_path: Path) -> None:
    cfg = write_feeds_config(tmp_path, {"one": "https://one.example/feed"})
    result = import_opml(cfg, _opml(tmp_path, PRIVATE_URLS), allow_private=True)
    assert [f.url for f in result.added] == PRIVATE_URLS
    assert result.skipped == []


def test_cli_import_opml_says_why_and_allow_private_overrides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_feeds_config(tmp_path, {"one": "https://one.example/feed"})
    opml = _opml(tmp_path, ["http://2130706433:9/x"])
    assert main_exit(["--config", str(cfg), "feeds", "import-opml", str(opml)]) == 0
    out = capsys.readouterr().out
    assert "skipped http://2130706433:9/x: the feed URL's host is not a public address:" in out
    assert "127.0.0.1 (loopback)" in out and "0 added, 1 skipped" in out
    args = ["--config", str(cfg), "feeds", "import-opml", "--allow-private", str(opml)]
    assert main_exit(args) == 0
    assert "1 added, 0 skipped" in capsys.readouterr().out
    assert [f.url for f in load_config(cfg).feeds][-1] == "http://2130706433:9/x"


# ---------------------------------------------------------------- fetching: every hop checked


@pytest.fixture
def rigged(srv: LoopbackServer) -> Iterator[LoopbackServer]:
    """A server with a secret behind every kind of redirect to a non-public address."""
    port = srv.port
    srv.route("/secret", body=feed_doc("secret"))
    srv.route("/ok", body=feed_doc("ok"))
    srv.redirect("/to-loopback", f"http://127.0.0.1:{port}/secret")
    srv.redirect("/to-decimal", f"http://2130706433:{port}/secret")
    srv.redirect("/to-mapped", f"http://[::ffff:127.0.0.1]:{port}/secret")
    srv.redirect("/to-localhost", f"http://localhost:{port}/secret")
    srv.redirect("/to-private-name", f"http://intranet.example:{port}/secret")
    srv.redirect("/to-mixed-name", f"http://mixed.example:{port}/secret")
    srv.redirect("/to-public", f"http://feeds.example:{port}/ok")
    yield srv


NAMES = {
    "feeds.example": [PUBLIC_IP],
    "intranet.example": ["10.9.8.7"],
    "mixed.example": [PUBLIC_IP, "127.0.0.1"],  # one bad address is enough
}
REDIRECTS = ["to-loopback", "to-decimal", "to-mapped", "to-localhost"]
REDIRECTS += ["to-private-name", "to-mixed-name"]


def test_a_public_feed_redirecting_to_a_private_address_is_refused(
    rigged: LoopbackServer, tmp_path: Path
) -> None:
    port = rigged.port
    requests = [FetchRequest(p, f"http://feeds.example:{port}/{p}") for p in REDIRECTS]
    requests.append(FetchRequest("fine", f"http://feeds.example:{port}/to-public"))
    results = fetch_all(requests, CFG, base_dir=tmp_path, network=seam(rigged, NAMES))
    by_id = {r.feed_id: r for r in results}
    assert by_id["fine"].ok and b"ok report 0" in (by_id["fine"].body or b"")
    for path in REDIRECTS:
        res = by_id[path]
        assert res.error is not None and "refused (redirected to" in res.error, res.error
        assert "fetch.allow_private" in res.error
        assert res.public_error == PUBLIC_REFUSAL
        assert res.body is None
        assert len(rigged.requests_for(f"/{path}")) == 1
    assert "127.0.0.1 (loopback)" in by_id["to-decimal"].error  # type: ignore[operator]
    assert "10.9.8.7 (private)" in by_id["to-private-name"].error  # type: ignore[operator]
    # not one request reached the secret, in any spelling
    assert rigged.requests_for("/secret") == []


def test_a_name_that_turns_private_after_import_is_refused_at_connect(
    srv: LoopbackServer, tmp_path: Path
) -> None:
    srv.route("/secret", body=feed_doc("secret"))
    network = seam(srv, {"feeds.example": ["127.0.0.1"]})  # the name now points home
    (res,) = fetch_all(
        [FetchRequest("f", f"http://feeds.example:{srv.port}/secret")],
        CFG,
        base_dir=tmp_path,
        network=network,
    )
    assert res.error is not None and "feeds.example resolves to 127.0.0.1 (loopback)" in res.error
    assert srv.requests == []


def test_allow_private_and_the_operators_own_private_feed_follow_such_redirects(
    rigged: LoopbackServer, tmp_path: Path
) -> None:
    port = rigged.port
    network = seam(rigged, NAMES)
    allowed = FetchConfig(timeout=5.0, connect_timeout=2.0, allow_private=True)
    (res,) = fetch_all(
        [FetchRequest("a", f"http://feeds.example:{port}/to-decimal")],
        allowed,
        base_dir=tmp_path,
        network=network,
    )
    assert res.ok and b"secret report 0" in (res.body or b""), res.error
    # configured on a private address: the operator's intranet feed may stay on it
    (own,) = fetch_all(
        [FetchRequest("b", f"http://127.0.0.1:{port}/to-localhost")], CFG, base_dir=tmp_path
    )
    assert own.ok and own.final_url == f"http://localhost:{port}/secret", own.error
    assert len(rigged.requests_for("/secret")) == 2


def test_a_refused_fetch_is_told_to_the_operator_and_never_published(
    rigged: LoopbackServer, tmp_path: Path
) -> None:
    port = rigged.port
    rigged.redirect("/evil", f"http://2130706433:{port}/internal-admin-panel")
    cfg = write_feeds_config(
        tmp_path,
        {"good": rigged.url("/ok"), "evil": f"http://feeds.example:{port}/evil"},
    )
    config = load_config(cfg)
    ws = Workspace(config_path=cfg, state_dir=tmp_path / "state")
    with ws.open_store() as store:
        summary = fetch_stage(config, store, network=seam(rigged, NAMES))
        assert [fid for fid, _ in summary.failed] == ["evil"]
        data = site_data(config, store)
    report = "\n".join(feed_report(config, ws))
    assert "2130706433" in report and "127.0.0.1 (loopback)" in report
    published = {f.id: f for f in data.feeds}
    assert published["evil"].last_error == PUBLIC_REFUSAL
    assert published["evil"].public_error == PUBLIC_REFUSAL
    assert published["good"].last_error is None
    with ws.open_store() as store:
        from digest.site.stage import run as build_stage

        build_stage(config, store, tmp_path / "site")
    site = (tmp_path / "site").resolve()
    files = [p for p in site.rglob("*") if p.is_file()]
    assert len(files) >= 5
    for path in files:
        data_bytes = path.read_bytes()
        assert b"internal-admin-panel" not in data_bytes, path
        assert b"2130706433" not in data_bytes, path
    # The public sources page says the feed is not updating, never why (issue 16).
    sources = (site / "sources.html").read_text(encoding="utf-8")
    assert "Not updating: no successful fetch yet" in sources
    assert "refused" not in sources


# ---------------------------------------------------------------- bounded sanitizing


def _depth(html: str, tag: str) -> int:
    depth = deepest = 0
    for piece in html.split("<")[1:]:
        if piece.startswith(tag):
            depth += 1
            deepest = max(deepest, depth)
        elif piece.startswith("/" + tag):
            depth -= 1
    return deepest


@pytest.mark.parametrize(
    "hostile",
    [
        "<div>" * 100_000,
        "<blockquote>" * 100_000,
        "<ul><li>" * 50_000,
        "".join(f"<div><b id={i}></div>x" for i in range(40_000)),  # formatting reopened
        "".join(f"<html x{i}>" for i in range(50_000)),  # attributes merged one by one
        "<a " + " ".join(f"x{i}" for i in range(50_000)) + ">tail",  # one tag, many attributes
        "<p>x" * 200_000,
    ],
    ids=["div", "blockquote", "ul-li", "lingering-b", "html-attrs", "attributes", "p-run"],
)
def test_markup_handed_to_nh3_is_bounded(hostile: str) -> None:
    bounded = bounded_markup(hostile)
    assert bounded.count("<") <= MAX_TAGS + 1
    for tag in ("div", "blockquote", "ul", "b", "html"):
        assert _depth(bounded, tag) <= MAX_DEPTH
    assert max((len(t) for t in bounded.split("<")), default=0) <= 9_000
    out = sanitize_html(hostile)
    assert _depth(out, "blockquote") <= MAX_DEPTH and len(out) <= len(hostile)
    assert len(html_to_text(hostile)) <= len(hostile)


def test_ordinary_markup_passes_untouched() -> None:
    article = (
        "<p>Para <b>bold <i>both</i></b> <a href='https://x.example/'>link</a></p>"
        "<ul><li>one<li>two</ul><table><tr><td>a<td>b</table>" * 200
    )
    assert bounded_markup(article) == article
    nested = "<div>" * MAX_DEPTH + "deep" + "</div>" * MAX_DEPTH
    assert bounded_markup(nested) == nested
    too_deep = "<div>" * (MAX_DEPTH + 1) + "deep"
    assert bounded_markup(too_deep) == "<div>" * MAX_DEPTH


def test_an_overlong_tag_becomes_a_space_not_a_new_tag() -> None:
    long_tag = "<a " + "x " * 5_000 + ">"
    assert bounded_markup("<" + long_tag + "script>alert(1)") == "< script>alert(1)"
    assert html_to_text("<a " * 33_000 + ">x") == "x"


# ---------------------------------------------------------------- entries per document


def _many(n: int, *, dated: bool) -> bytes:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    order = [(i * 7919) % n for i in range(n)]  # every date once, shuffled
    entries = [
        Entry(
            guid=f"g{i}",
            link=f"https://news.example/{i}",
            title=f"Item {i}",
            published=start + timedelta(minutes=i) if dated else None,
        )
        for i in order
    ]
    return rss("many", entries)


def test_a_huge_document_keeps_its_newest_entries_only() -> None:
    body = _many(20_000, dated=True)
    cut, left_out = newest_entries(body, 200)
    assert left_out == 19_800 and cut.count(b"<item>") == 200
    parsed = parse_feed(body, {}, "https://news.example/feed", max_items=200)
    assert len(parsed.entries) == 200
    titles = {e.title for e in parsed.entries}
    assert titles == {f"Item {i}" for i in range(19_800, 20_000)}
    assert parsed.warning is not None and "kept the newest 200 of 20000 entries" in parsed.warning


def test_undated_entries_count_as_new_and_keep_document_order() -> None:
    parsed = parse_feed(_many(5_000, dated=False), {}, "https://news.example/", max_items=50)
    assert len(parsed.entries) == 50
    first = [(i * 7919) % 5_000 for i in range(50)]
    assert [e.title for e in parsed.entries] == [f"Item {i}" for i in first]


def test_a_document_within_the_limit_is_parsed_as_it_is() -> None:
    body = _many(300, dated=True)
    assert newest_entries(body, 300) == (body, 0)
    parsed = parse_feed(body, {}, "https://news.example/", max_items=300)
    assert len(parsed.entries) == 300 and parsed.warning is None


def test_max_items_is_configurable(tmp_path: Path) -> None:
    cfg = write_feeds_config(tmp_path, {"a": "https://a.example/"}, extra="fetch: {max_items: 5}\n")
    assert load_config(cfg).fetch.max_items == 5
    assert load_config(write_feeds_config(tmp_path, {})).fetch.max_items == 200


# ---------------------------------------------------------------- a time budget per body


def slow_for_hang(job: Job) -> Prepared:
    """Prepares normally, except a body that says `hang`, which never finishes."""
    if job.body == b"hang":
        time.sleep(3600)
    return prepare(job)


def _job(body: bytes) -> Job:
    feed = FeedConfig(id="f", name="F", url="https://news.example/feed")
    return Job(feed, body, {}, feed.url, datetime.now(UTC), 200)


def test_a_body_over_its_budget_fails_alone_and_its_worker_is_replaced() -> None:
    async def go(pool: PreparePool) -> list[Prepared]:
        jobs = [_job(feed_doc("a")), _job(b"hang"), _job(feed_doc("b")), _job(feed_doc("c"))]
        return await asyncio.gather(*(pool.run(j) for j in jobs))

    with PreparePool(2, budget=1.0, work=slow_for_hang) as pool:
        first = list(pool.workers)
        answers = asyncio.run(go(pool))
        assert [len(a.items) for a in answers] == [2, 0, 2, 2]
        assert answers[1].failure is not None and "longer than 1 s" in answers[1].failure
        assert answers[1].parsed is None
        assert len(pool.workers) == 2  # the killed worker was replaced
        gone = [w for w in first if w not in pool.workers]
        assert len(gone) == 1 and not gone[0].process.is_alive()
        processes = [w.process for w in pool.workers]
    assert not any(p.is_alive() for p in processes)


def test_hostile_feeds_beside_normal_ones_every_normal_feed_stored(
    tmp_path: Path, srv: LoopbackServer
) -> None:
    deep = "<blockquote>" * 100_000
    nested = rss("nested", [Entry("n1", "https://n.example/1", "Nested", deep)])
    srv.route("/nested.xml", body=nested)
    srv.route("/many.xml", body=_many(20_000, dated=False))
    feeds = {f"n{i}": srv.url(f"/n{i}.xml") for i in range(5)}
    for i in range(5):
        srv.route(f"/n{i}.xml", body=feed_doc(f"n{i}", 3))
    feeds |= {"nested": srv.url("/nested.xml"), "many": srv.url("/many.xml")}
    cfg = write_feeds_config(tmp_path, feeds, extra="fetch: {max_bytes: 10485760}\n")
    config = load_config(cfg)
    with Store.open(tmp_path / "state.db") as store:
        summary = fetch_stage(config, store)
        assert not summary.failed, summary.failed
        counts = dict(
            store.conn.execute("SELECT feed_id, COUNT(*) FROM item_sources GROUP BY feed_id")
        )
        content = store.conn.execute(
            "SELECT content_html FROM items i JOIN item_sources s ON s.item_id = i.id"
            " WHERE s.feed_id = 'nested'"
        ).fetchone()[0]
    assert all(counts[f"n{i}"] == 3 for i in range(5))
    assert counts["many"] == 200
    assert counts["nested"] == 1 and content.count("<blockquote>") <= MAX_DEPTH
    assert dict(summary.warnings)["many"].startswith("kept the newest 200 of 20000")


# ---------------------------------------------------------------- CSV formulas


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(tmp_path: Path) -> None:
    from builders import add_item

    titles = ['=HYPERLINK("https://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tTab"]
    titles += ["\rCR", "plain", "-"]
    with Store.open(tmp_path / "db.sqlite") as store:
        for n, title in enumerate(titles):
            add_item(store, "f", f"g{n}", title, hours_ago=n)
        out = io.StringIO()
        write_records(store, out, fmt="csv", site_lang="en")
        rows = list(csv.DictReader(io.StringIO(out.getvalue())))
        lines = io.StringIO()
        write_records(store, lines, fmt="jsonl", site_lang="en")
    got = {r["title"] for r in rows}
    assert "'" + titles[0] in got and "'+1+1" in got and "'-2+3" in got and "'@SUM(A1)" in got
    assert "'\tTab" in got and "plain" in got and "'-" in got
    assert not any(t.startswith(("=", "+", "-", "@", "\t", "\r")) for t in got)
    assert titles[0] in lines.getvalue().replace('\\"', '"')  # JSON lines keep the value


# ---------------------------------------------------------------- Windows names, serve, CSP


@pytest.mark.parametrize("name", ["CON", "con", "Prn", "aux", "NUL", "com1", "COM9", "lpt5"])
def test_windows_reserved_names_get_a_suffix(name: str) -> None:
    assert is_windows_reserved(name) and is_windows_reserved(f"{name}.html")
    assert not is_safe_name(name)
    safe = file_name_for(name)
    assert safe.startswith(name + "-") and not is_windows_reserved(safe)
    assert file_name_for("console") == "console" and file_name_for("com10") == "com10"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    site = tmp_path / "v1"
    (site / "stories").mkdir(parents=True)
    (site / "index.html").write_text("home", encoding="utf-8")
    (site / "stories" / "a.html").write_text("story", encoding="utf-8")
    (site / ".digest-manifest.json").write_text('{"secret": 1}', encoding="utf-8")
    (site / "404.html").write_text("not here", encoding="utf-8")
    server = make_server(site, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _status(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_serve_lists_no_directory_and_serves_no_dotfile(served: str) -> None:
    assert _status(served + "/index.html") == (200, b"home")
    assert _status(served + "/stories/a.html") == (200, b"story")
    for path in ("/stories/", "/.digest-manifest.json", "/%2edigest-manifest.json", "/./.x"):
        status, body = _status(served + path)
        assert status == 404 and body == b"not here", path
    assert _status(served + "/")[0] == 200  # a directory with an index is still served


def test_csp_forbids_base_and_foreign_form_targets() -> None:
    for policy in (CSP, SEARCH_CSP, archive._ARCHIVE_CSP):
        assert "base-uri 'none'" in policy and "form-action 'self'" in policy
