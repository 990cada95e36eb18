"""Tests for digest.ingest.http against a loopback HTTP server (no other network)."""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import socket
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from httpserver import LoopbackServer, RecordedRequest, Response, free_port, self_signed_cert
from needs import real_feeds
from shared_data import FEEDS_REAL

from digest.ingest import replies
from digest.ingest.http import fetch_all
from digest.ingest.inflate import PIECE, Decoder
from digest.ingest.local import local_validator
from digest.ingest.replies import FetchRequest, parse_retry_after
from digest.records import FetchConfig, FetchResult

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
# Small limits keep every fault test short.
CFG = FetchConfig(timeout=5.0, connect_timeout=2.0, max_bytes=1 << 20, concurrency=8, per_host=4)


def one(
    url: str, cfg: FetchConfig = CFG, base_dir: Path | None = None, **kw: str | None
) -> FetchResult:
    (res,) = fetch_all([FetchRequest("f", url, **kw)], cfg, base_dir=base_dir or Path.cwd())
    return res


# ---------------------------------------------------------------- plain answers


def test_200_body_headers_and_validators(srv: LoopbackServer) -> None:
    srv.route(
        "/a.xml",
        body=FEED,
        etag='"v1"',
        last_modified="Wed, 01 Jan 2025 00:00:00 GMT",
        headers={"Content-Type": "application/rss+xml; charset=utf-8"},
    )
    res = one(srv.url("/a.xml"))
    assert res.ok and res.error is None
    assert res.status == 200
    assert res.body == FEED
    assert res.headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert all(k == k.lower() for k in res.headers)
    assert res.etag == '"v1"'
    assert res.last_modified == "Wed, 01 Jan 2025 00:00:00 GMT"
    assert res.final_url == srv.url("/a.xml")
    assert res.permanent_url is None
    assert not res.not_modified and not res.gone
    assert res.duration >= 0
    assert res.feed_id == "f" and res.url == srv.url("/a.xml")


def test_user_agent_and_accept_encoding_sent(srv: LoopbackServer) -> None:
    srv.route("/a.xml", body=FEED)
    one(srv.url("/a.xml"))
    (req,) = srv.requests_for("/a.xml")
    ua = req.headers["user-agent"]
    assert re.fullmatch(r"digest/\S+ \(\+https://example\.org/digest; feed reader\)", ua)
    assert ua == replies.user_agent()
    assert req.headers["accept-encoding"] == "gzip, deflate"
    assert "if-none-match" not in req.headers and "if-modified-since" not in req.headers


def test_conditional_get_second_request_is_304(srv: LoopbackServer) -> None:
    lm = "Wed, 01 Jan 2025 00:00:00 GMT"
    srv.route("/a.xml", body=FEED, etag='"v1"', last_modified=lm)
    first = one(srv.url("/a.xml"))
    second = one(srv.url("/a.xml"), etag=first.etag, last_modified=first.last_modified)
    sent = srv.requests_for("/a.xml")[1].headers
    assert sent["if-none-match"] == '"v1"'
    assert sent["if-modified-since"] == lm
    assert second.status == 304
    assert second.not_modified and second.ok
    assert second.body is None and second.error is None
    assert second.etag == '"v1"' and second.last_modified == lm


def test_304_without_validators_keeps_the_requests_ones(srv: LoopbackServer) -> None:
    srv.route("/a.xml", handler=lambda req: Response(304))
    res = one(srv.url("/a.xml"), etag='"old"', last_modified="Tue, 31 Dec 2024 00:00:00 GMT")
    assert res.not_modified and res.ok
    assert res.etag == '"old"'
    assert res.last_modified == "Tue, 31 Dec 2024 00:00:00 GMT"


def test_unsafe_or_local_validators_are_not_sent(srv: LoopbackServer) -> None:
    srv.route("/a.xml", body=FEED)
    res = one(srv.url("/a.xml"), etag='"a"\r\nX-Injected: 1', last_modified="mtime:123:45")
    assert res.ok and res.body == FEED
    sent = srv.requests_for("/a.xml")[0].headers
    assert "if-none-match" not in sent and "if-modified-since" not in sent
    assert "x-injected" not in sent


def test_empty_body_is_an_error(srv: LoopbackServer) -> None:
    srv.route("/empty.xml", body=b"")
    res = one(srv.url("/empty.xml"))
    assert not res.ok
    assert res.error == f"{srv.url('/empty.xml')}: empty response body"
    assert res.body is None


# ---------------------------------------------------------------- error statuses


@pytest.mark.parametrize(
    ("status", "text"), [(500, "HTTP 500 Internal Server Error"), (404, "HTTP 404 Not Found")]
)
def test_http_error_status(srv: LoopbackServer, status: int, text: str) -> None:
    srv.route("/x.xml", status=status, body=b"<html>oops</html>")
    res = one(srv.url("/x.xml"), etag='"keep"')
    assert res.status == status
    assert res.error == f"{srv.url('/x.xml')}: {text}"
    assert res.body is None and not res.gone and res.retry_after is None
    # Validators are what to send next time: an error keeps the stored ones.
    assert res.etag == '"keep"'


def test_410_marks_gone(srv: LoopbackServer) -> None:
    srv.route("/gone.xml", status=410)
    res = one(srv.url("/gone.xml"))
    assert res.gone and res.status == 410
    assert res.error is not None and res.error.startswith(srv.url("/gone.xml") + ": HTTP 410 Gone")


def test_429_retry_after_seconds(srv: LoopbackServer) -> None:
    srv.route("/busy.xml", status=429, headers={"Retry-After": "120"})
    before = datetime.now(UTC)
    res = one(srv.url("/busy.xml"))
    after = datetime.now(UTC)
    assert res.status == 429 and not res.gone
    assert res.error is not None
    assert res.error.startswith(srv.url("/busy.xml") + ": HTTP 429 Too Many Requests")
    assert res.retry_after is not None and res.retry_after.tzinfo is not None
    assert before + timedelta(seconds=120) <= res.retry_after <= after + timedelta(seconds=120)


def test_503_retry_after_http_date(srv: LoopbackServer) -> None:
    srv.route("/down.xml", status=503, headers={"Retry-After": "Fri, 31 Dec 2099 23:59:59 GMT"})
    res = one(srv.url("/down.xml"))
    assert res.status == 503
    assert res.error is not None and "HTTP 503 Service Unavailable" in res.error
    assert res.retry_after is not None
    # Clamped to a year ahead: a hostile server cannot park a feed forever.
    assert res.retry_after <= datetime.now(UTC) + timedelta(days=366)


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("30", now) == now + timedelta(seconds=30)
    assert parse_retry_after(" 0 ", now) == now
    assert parse_retry_after("Wed, 01 Jan 2025 13:00:00 GMT", now) == datetime(
        2025, 1, 1, 13, 0, tzinfo=UTC
    )
    assert parse_retry_after("Wed, 01 Jan 2025 14:00:00 +0100", now) == datetime(
        2025, 1, 1, 13, 0, tzinfo=UTC
    )
    assert parse_retry_after("9" * 40, now) == now + timedelta(days=365)
    for bad in (None, "", "-5", "soon", "1.5", "٣٠", "Wed, 99 Foo 2025"):
        assert parse_retry_after(bad, now) is None, bad


# ---------------------------------------------------------------- redirects


def test_permanent_redirect_chain_sets_permanent_url(srv: LoopbackServer) -> None:
    srv.redirect("/a", "/b", status=301)
    srv.redirect("/b", srv.url("/c"), status=308)
    srv.route("/c", body=FEED)
    res = one(srv.url("/a"))
    assert res.ok and res.body == FEED and res.status == 200
    assert res.final_url == srv.url("/c")
    assert res.permanent_url == srv.url("/c")


@pytest.mark.parametrize("temporary", [302, 307])
def test_temporary_hop_anywhere_leaves_permanent_url_unset(
    srv: LoopbackServer, temporary: int
) -> None:
    srv.redirect("/a", "/b", status=301)
    srv.redirect("/b", "/c", status=temporary)
    srv.redirect("/c", "/d", status=301)
    srv.route("/d", body=FEED)
    res = one(srv.url("/a"))
    assert res.ok and res.body == FEED
    assert res.final_url == srv.url("/d")
    assert res.permanent_url is None


def test_permanent_redirect_to_a_failing_url_is_not_adopted(srv: LoopbackServer) -> None:
    srv.redirect("/a", "/missing", status=301)
    res = one(srv.url("/a"))
    assert res.error == f"{srv.url('/missing')}: HTTP 404 Not Found"
    assert res.permanent_url is None
    assert res.final_url == srv.url("/missing")


def test_five_redirects_are_followed(srv: LoopbackServer) -> None:
    for i in range(5):
        srv.redirect(f"/r{i}", f"/r{i + 1}", status=301)
    srv.route("/r5", body=FEED)
    res = one(srv.url("/r0"))
    assert res.ok and res.body == FEED
    assert res.permanent_url == srv.url("/r5")


def test_redirect_loop_stops_after_five(srv: LoopbackServer) -> None:
    srv.redirect("/loop", "/loop", status=302)
    res = one(srv.url("/loop"))
    assert res.error is not None
    assert res.error.startswith(srv.url("/loop") + ": too many redirects (more than 5)")
    assert res.body is None and res.permanent_url is None
    assert len(srv.requests_for("/loop")) == 6


def test_redirect_to_a_local_file_is_refused(srv: LoopbackServer, tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_bytes(FEED)
    srv.redirect("/a", secret.as_uri(), status=301)
    res = one(srv.url("/a"))
    assert res.body is None
    assert res.error is not None and "is not http or https" in res.error
    assert res.error.startswith(srv.url("/a"))


def test_redirect_without_location(srv: LoopbackServer) -> None:
    srv.route("/a", status=302)
    res = one(srv.url("/a"))
    assert res.error == f"{srv.url('/a')}: HTTP 302 Found without a Location"


# ---------------------------------------------------------------- deadline and size cap


def test_slow_drip_is_abandoned_at_the_overall_deadline(srv: LoopbackServer) -> None:
    # httpx's read timeout (5 s here) never fires: a byte arrives every 0.1 s.
    srv.route("/drip.xml", drip=0.1, drip_chunk=b"<")
    cfg = FetchConfig(timeout=1.5, connect_timeout=1.0, max_bytes=1 << 20)
    res = one(srv.url("/drip.xml"), cfg)
    assert (
        res.error == f"{srv.url('/drip.xml')}: no complete answer within 1.5 s (overall deadline)"
    )
    assert res.body is None
    assert res.status == 200  # headers had arrived


def test_deadline_covers_every_redirect_hop(srv: LoopbackServer) -> None:
    srv.route("/a", status=302, headers={"Location": "/b"}, delay=0.6)
    srv.route("/b", status=302, headers={"Location": "/c"}, delay=0.6)
    srv.route("/c", body=FEED, delay=0.6)
    cfg = FetchConfig(timeout=1.5, connect_timeout=1.0)
    res = one(srv.url("/a"), cfg)
    assert res.error is not None and "(overall deadline)" in res.error
    assert res.error.startswith(srv.url("/a"))


def test_gzip_body_is_decoded(srv: LoopbackServer) -> None:
    srv.route("/g.xml", body=FEED, gzip=True)
    res = one(srv.url("/g.xml"))
    assert res.ok and res.body == FEED
    assert res.headers["content-encoding"] == "gzip"


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
def test_deflate_body_is_decoded_both_ways(srv: LoopbackServer, wbits: int) -> None:
    co = zlib.compressobj(6, zlib.DEFLATED, wbits)
    data = co.compress(FEED) + co.flush()
    srv.route("/d.xml", body=data, headers={"Content-Encoding": "deflate"})
    res = one(srv.url("/d.xml"))
    assert res.ok and res.body == FEED


def _gzip_zeros(megabytes: int) -> bytes:
    co = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    return b"".join(co.compress(block) for _ in range(megabytes)) + co.flush()


def test_gzip_bomb_stopped_at_the_cap(srv: LoopbackServer) -> None:
    bomb = _gzip_zeros(64)  # about 64 KB on the wire, 64 MB decoded
    srv.route("/bomb.xml", body=bomb, headers={"Content-Encoding": "gzip"})
    cfg = FetchConfig(timeout=5.0, connect_timeout=1.0, max_bytes=256 * 1024)
    res = one(srv.url("/bomb.xml"), cfg)
    assert res.body is None
    assert res.error == (
        f"{srv.url('/bomb.xml')}: body larger than the 262144-byte cap (fetch.max_bytes)"
    )


def test_decoder_never_yields_big_pieces() -> None:
    # httpx's own decoder turns one 64 KB network chunk of this into about 64 MB at once.
    bomb = _gzip_zeros(64)
    decoder = Decoder("gzip")
    pieces = decoder.feed(bomb[: 64 * 1024])
    total = 0
    for _, piece in zip(range(50), pieces, strict=False):
        assert len(piece) <= PIECE
        total += len(piece)
    assert total == 50 * PIECE


def test_decoder_round_trips_layers() -> None:
    data = os.urandom(3000) + bytes(300_000)
    twice = gzip.compress(zlib.compress(data))  # "deflate, gzip": deflate applied first
    decoder = Decoder("deflate, gzip")
    out = b"".join(decoder.feed(twice[:100])) + b"".join(decoder.feed(twice[100:]))
    out += b"".join(decoder.finish())
    assert out == data
    with pytest.raises(ValueError):
        Decoder("br")


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
def test_deflate_fed_byte_by_byte(wbits: int) -> None:
    co = zlib.compressobj(6, zlib.DEFLATED, wbits)
    data = co.compress(FEED * 20) + co.flush()
    decoder = Decoder("deflate")
    out = b"".join(b"".join(decoder.feed(data[i : i + 1])) for i in range(len(data)))
    assert out + b"".join(decoder.finish()) == FEED * 20


def test_plain_body_over_the_cap(srv: LoopbackServer) -> None:
    srv.route("/big.xml", body=b"x" * 5000)
    cfg = FetchConfig(max_bytes=4096)
    res = one(srv.url("/big.xml"), cfg)
    assert (
        res.error == f"{srv.url('/big.xml')}: body larger than the 4096-byte cap (fetch.max_bytes)"
    )


def test_chunked_body_over_the_cap(srv: LoopbackServer) -> None:
    # No Content-Length: the cap must be enforced while streaming.
    srv.route(
        "/stream.xml", handler=lambda req: Response(200, {}, (b"y" * 1000 for _ in range(20)))
    )
    res = one(srv.url("/stream.xml"), FetchConfig(max_bytes=4096))
    assert res.error is not None and "4096-byte cap" in res.error


def test_unsupported_content_encoding(srv: LoopbackServer) -> None:
    srv.route("/br.xml", body=b"\x00\x01", headers={"Content-Encoding": "br"})
    res = one(srv.url("/br.xml"))
    assert res.error == f"{srv.url('/br.xml')}: unsupported Content-Encoding 'br'"


def test_corrupt_gzip(srv: LoopbackServer) -> None:
    srv.route("/bad.xml", body=b"not gzip at all", headers={"Content-Encoding": "gzip"})
    res = one(srv.url("/bad.xml"))
    assert res.error is not None
    assert res.error.startswith(srv.url("/bad.xml") + ": corrupt compressed body")


# ---------------------------------------------------------------- connection failures


def test_connection_refused() -> None:
    url = f"http://127.0.0.1:{free_port()}/feed.xml"
    res = one(url)
    assert res.error == f"{url}: connection refused"
    assert res.status is None and res.body is None


def test_dns_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def fake(host: object, *args: object, **kw: object) -> object:
        if host == "feeds.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    res = one("http://feeds.invalid/rss")
    assert res.error == (
        "http://feeds.invalid/rss: DNS lookup failed: host name 'feeds.invalid' does not resolve"
    )


def test_tls_certificate_is_verified(tmp_path: Path) -> None:
    pair = self_signed_cert(tmp_path)
    if pair is None:
        pytest.skip("openssl cannot make a test certificate here")
    server = LoopbackServer()
    server.wrap_tls(*pair)
    with server:
        server.route("/a.xml", body=FEED)
        url = server.url("/a.xml")
        assert url.startswith("https://")
        res = one(url)
    assert res.body is None
    assert res.error is not None
    assert res.error.startswith(f"{url}: TLS certificate not accepted (")
    assert "self-signed" in res.error or "self signed" in res.error


def test_redirect_from_plain_http_to_https_verifies_with_the_ca_bundle(
    tmp_path: Path, srv: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Plain-http pools get a TLS context without the CA bundle (loading it costs 50 ms);
    # the https pool a redirect leads to must still verify with the real one.
    pair = self_signed_cert(tmp_path)
    if pair is None:
        pytest.skip("openssl cannot make a test certificate here")
    monkeypatch.setenv("SSL_CERT_FILE", str(pair[0]))  # httpx's verifying context trusts it
    server = LoopbackServer()
    server.wrap_tls(*pair)
    with server:
        server.route("/a.xml", body=FEED)
        srv.route("/old.xml", status=301, headers={"Location": server.url("/a.xml")})
        res = one(srv.url("/old.xml"))
    assert res.error is None, res.error
    assert res.body == FEED
    assert res.final_url == server.url("/a.xml")


def test_describe_error_kinds() -> None:
    import ssl

    import httpx

    def wrapped(inner: BaseException) -> httpx.ConnectError:
        try:
            try:
                raise inner
            except BaseException as exc:
                raise httpx.ConnectError(str(exc)) from exc
        except httpx.ConnectError as outer:
            return outer

    url = "https://x.example/feed"
    assert replies.describe_error(url, wrapped(ConnectionRefusedError(111, "no")), CFG) == (
        f"{url}: connection refused"
    )
    assert "DNS lookup failed" in replies.describe_error(
        url, wrapped(socket.gaierror(-2, "x")), CFG
    )
    assert "TLS handshake failed" in replies.describe_error(url, wrapped(ssl.SSLError(1, "x")), CFG)
    assert replies.describe_error(url, httpx.ConnectTimeout("t"), CFG) == (
        f"{url}: could not connect within 2 s"
    )
    assert replies.describe_error("http://a/\n\x1b[31m", RuntimeError("boom\nnext"), CFG) == (
        "http://a/??[31m: unexpected error: RuntimeError: boom?next"
    )


def test_unfetchable_urls_are_errors_not_exceptions(tmp_path: Path) -> None:
    reqs = [
        FetchRequest("ftp", "ftp://example.org/feed"),
        FetchRequest("js", "javascript:alert(1)"),
        FetchRequest("broken", "http://[::1/feed"),
        FetchRequest("remote-file", "file://example.org/etc/passwd"),
        FetchRequest("nul", "feeds/a\x00.xml"),
    ]
    results = fetch_all(reqs, CFG, base_dir=tmp_path)
    assert [r.feed_id for r in results] == ["ftp", "js", "broken", "remote-file", "nul"]
    for req, res in zip(reqs, results, strict=True):
        assert res.error is not None and res.body is None
        assert res.error.startswith(req.url.replace("\x00", "?")), res.error


# ---------------------------------------------------------------- local files


def test_local_absolute_path_and_file_url(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(FEED)
    for url in (str(path), path.as_uri()):
        res = one(url, base_dir=Path("/nonexistent"))
        assert res.ok and res.body == FEED, url
        assert res.status is None
        assert res.final_url == path.as_uri()
        assert res.last_modified == local_validator(path.stat())


def test_local_relative_path_resolves_against_base_dir(tmp_path: Path) -> None:
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "demo.xml").write_bytes(FEED)
    res = one("feeds/demo.xml", base_dir=tmp_path)
    assert res.ok and res.body == FEED


def test_local_file_url_with_escapes(tmp_path: Path) -> None:
    path = tmp_path / "a feed é.xml"
    path.write_bytes(FEED)
    res = one(path.as_uri(), base_dir=tmp_path)
    assert "%20" in path.as_uri()
    assert res.ok and res.body == FEED


def test_local_missing_file_names_the_path(tmp_path: Path) -> None:
    res = one("nope/missing.xml", base_dir=tmp_path)
    assert res.error == f"{tmp_path / 'nope' / 'missing.xml'}: no such file"
    assert res.body is None


def test_local_not_modified_without_reading(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(FEED)
    first = one(str(path))
    assert first.last_modified is not None and first.last_modified.startswith("mtime:")
    second = one(str(path), last_modified=first.last_modified)
    assert second.not_modified and second.ok and second.body is None
    assert second.last_modified == first.last_modified
    path.write_bytes(FEED + b"\n")  # size changes even if mtime granularity is coarse
    third = one(str(path), last_modified=first.last_modified)
    assert not third.not_modified and third.body == FEED + b"\n"


def test_local_cap_empty_and_directory(tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    big.write_bytes(b"x" * 5000)
    res = one(str(big), FetchConfig(max_bytes=4096))
    assert res.error == f"{big}: file is larger than the 4096-byte cap (fetch.max_bytes)"
    empty = tmp_path / "empty.xml"
    empty.write_bytes(b"")
    assert one(str(empty)).error == f"{empty}: file is empty"
    assert one(str(tmp_path)).error == f"{tmp_path}: not a regular file"


# ---------------------------------------------------------------- many feeds at once


def test_per_host_limit_is_honoured(srv: LoopbackServer) -> None:
    for i in range(6):
        srv.route(f"/f{i}.xml", body=FEED, delay=0.3)
    cfg = FetchConfig(timeout=10, concurrency=10, per_host=2)
    results = fetch_all(
        [FetchRequest(f"f{i}", srv.url(f"/f{i}.xml")) for i in range(6)], cfg, base_dir=Path(".")
    )
    assert all(r.ok for r in results)
    assert srv.max_in_flight == 2


def test_overall_limit_is_honoured(srv: LoopbackServer) -> None:
    for i in range(6):
        srv.route(f"/f{i}.xml", body=FEED, delay=0.3)
    cfg = FetchConfig(timeout=10, concurrency=3, per_host=8)
    results = fetch_all(
        [FetchRequest(f"f{i}", srv.url(f"/f{i}.xml")) for i in range(6)], cfg, base_dir=Path(".")
    )
    assert all(r.ok for r in results)
    assert srv.max_in_flight == 3


def test_results_in_request_order_and_callback_per_result(srv: LoopbackServer) -> None:
    srv.route("/slow.xml", body=b"<slow/>", delay=0.4)
    srv.route("/fast.xml", body=b"<fast/>")
    srv.route("/err.xml", status=500)
    reqs = [
        FetchRequest("slow", srv.url("/slow.xml")),
        FetchRequest("err", srv.url("/err.xml")),
        FetchRequest("fast", srv.url("/fast.xml")),
        FetchRequest("refused", f"http://127.0.0.1:{free_port()}/"),
    ]
    seen: list[str] = []
    results = fetch_all(reqs, CFG, base_dir=Path("."), on_result=lambda r: seen.append(r.feed_id))
    assert [r.feed_id for r in results] == ["slow", "err", "fast", "refused"]
    assert results[0].body == b"<slow/>" and results[2].body == b"<fast/>"
    assert results[1].error is not None and results[3].error is not None
    assert sorted(seen) == sorted(["slow", "err", "fast", "refused"])
    assert seen[-1] == "slow"  # reported as it completed, not in request order


def test_callback_errors_propagate(srv: LoopbackServer) -> None:
    srv.route("/a.xml", body=FEED)

    def boom(res: FetchResult) -> None:
        raise RuntimeError("store is full")

    with pytest.raises(RuntimeError, match="store is full"):
        fetch_all([FetchRequest("a", srv.url("/a.xml"))], CFG, base_dir=Path("."), on_result=boom)


def test_empty_request_list() -> None:
    assert fetch_all([], CFG, base_dir=Path(".")) == []


def test_fetch_all_works_inside_a_running_loop(srv: LoopbackServer) -> None:
    srv.route("/a.xml", body=FEED)

    async def caller() -> list[FetchResult]:
        return fetch_all([FetchRequest("a", srv.url("/a.xml"))], CFG, base_dir=Path("."))

    (res,) = asyncio.run(caller())
    assert res.body == FEED


def test_handler_sees_recorded_request(srv: LoopbackServer) -> None:
    def handler(req: RecordedRequest) -> Response:
        return Response(200, {"X-Echo": req.headers.get("if-none-match", "-")}, b"<ok/>")

    srv.route("/h.xml", handler=handler)
    res = one(srv.url("/h.xml"), etag='W/"weak"')
    assert res.headers["x-echo"] == 'W/"weak"'


def test_real_feed_files_load_as_local_feeds() -> None:
    folder = FEEDS_REAL
    files = real_feeds(limit=5)
    results = fetch_all([FetchRequest(p.stem, p.name) for p in files], CFG, base_dir=folder)
    for path, res in zip(files, results, strict=True):
        assert res.ok and res.body == path.read_bytes()


def test_fetch_summary_line_names_the_first_failed_feeds_and_why() -> None:
    from digest.ingest.stage import FetchSummary

    summary = FetchSummary(attempted=7, ok=2)
    summary.failed = [
        ("cdt", "https://chinadigitaltimes.net/feed/: HTTP 403 Forbidden"),
        ("local", "/home/operator/feeds/local.xml: no such file"),
        ("slow", "https://slow.example/rss: timed out after 20 s " + "x" * 200),
        ("four", "https://four.example/: HTTP 500"),
        ("five", "https://five.example/: HTTP 502"),
    ]
    line = summary.line()
    assert line.startswith(
        "fetch: 7 feeds, 2 ok (0 not modified), 5 failed (cdt: HTTP 403 Forbidden; "
        "local: no such file; slow: timed out after 20 s x"
    )
    assert line.endswith("; and 2 more); 0 new items (0 seen)")
    assert "four" not in line and "/home/operator" not in line and len(line) < 300
    assert "\n" not in line
    assert summary.line(name_failed=False).startswith(
        "fetch: 7 feeds, 2 ok (0 not modified), 5 failed; "
    )
