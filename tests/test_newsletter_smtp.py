"""Sending the newsletter to a real SMTP server on 127.0.0.1 (aiosmtpd): AUTH, TLS, faults."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from builders import days_since, digest_command, digest_env, main_exit, newsletter_workspace
from httpserver import free_port, self_signed_cert
from smtpserver import Handler, server_context, start_server

from digest import build_stage
from digest import newsletter_stage as run_newsletter
from digest.errors import ConfigError, LockedError, StageError
from digest.newsletter.stage import newsletter_lock
from digest.records import Config
from digest.records.newsletter import PENDING, SENDING, SENT
from digest.store import utc_now
from digest.workspace import Workspace

USER, PASSWORD = "digest-user", "s3cret-pässword"
ENV = {"T_SMTP_USER": USER, "T_SMTP_PASSWORD": PASSWORD}
THREE = ("alice@example.org", "bob@example.net", "carol@example.com")
FAST = (0.0, 0.0)  # retry delays in tests


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate."""
    pair = self_signed_cert(tmp_path_factory.mktemp("tls"))
    assert pair is not None, "openssl could not make a test certificate"
    return pair


@pytest.fixture
def handler() -> Iterator[Handler]:
    """The recording handler; anything stalled is released at the end."""
    h = Handler()
    yield h
    h.release.set()


def smtp_yaml(port: int, security: str = "none", auth: bool = False, ca: Path | None = None) -> str:
    """The newsletter.smtp flow mapping."""
    parts = [f"host: 127.0.0.1, port: {port}, security: {security}"]
    if auth:
        parts.append("username_env: T_SMTP_USER, password_env: T_SMTP_PASSWORD")
    if ca is not None:
        parts.append(f'ca_file: "{ca}"')
    return "{" + ", ".join(parts) + "}"


def setup(
    tmp_path: Path, port: int, to: tuple[str, ...] = THREE, **smtp: object
) -> tuple[Config, Workspace]:
    """A workspace with items whose newsletter points at the test server."""
    return newsletter_workspace(tmp_path, to=to, smtp=smtp_yaml(port, **smtp))  # type: ignore[arg-type]


def statuses(ws: Workspace) -> dict[str, str]:
    """recipient -> delivery status of the newest issue."""
    with ws.open_store() as store:
        issue = store.newsletter_issues()[0]
        return {r: d.status for r, d in store.newsletter_deliveries(issue.id).items()}


def test_send_plain_then_second_send_sends_nothing(tmp_path: Path, handler: Handler) -> None:
    server = start_server(handler)
    try:
        cfg, ws = setup(tmp_path, server.port)
        first = run_newsletter(cfg, ws, send=True, delays=FAST)
        assert sorted(first.sent) == sorted(THREE)
        assert [handler.count(r) for r in THREE] == [1, 1, 1]
        msg = handler.received[0].message
        assert msg.get_content_type() == "multipart/alternative"
        assert handler.received[0].mail_from == "digest@example.org"
        ids = {r.message["Message-ID"] for r in handler.received}
        assert len(ids) == 3  # one Message-ID per recipient

        again = run_newsletter(cfg, ws, send=True, delays=FAST)
        assert again.sent == [] and len(handler.received) == 3
        assert "nothing new" in again.lines[0]
        assert statuses(ws) == dict.fromkeys(THREE, SENT)

        # --force resends the same issue, under the same Message-IDs.
        forced = run_newsletter(cfg, ws, send=True, force=True, delays=FAST)
        assert forced.resumed and sorted(forced.sent) == sorted(THREE)
        assert {r.message["Message-ID"] for r in handler.received[3:]} == ids
    finally:
        server.stop()


def test_starttls_with_auth_verified_by_ca_file(
    tmp_path: Path, handler: Handler, cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    server = start_server(handler, auth=(USER, PASSWORD), starttls=server_context(*cert))
    try:
        cfg, ws = setup(tmp_path, server.port, security="starttls", auth=True, ca=cert[0])
        started = utc_now()
        result = run_newsletter(cfg, ws, send=True, delays=FAST)
        assert sorted(result.sent) == sorted(THREE)
        msg = handler.received[0].message
        text, html = msg.get_body(("plain",)), msg.get_body(("html",))
        assert text is not None and html is not None
        assert "Internet shutdown in the capital" in text.get_content()
        body = html.get_content()
        assert "style=" in body and "<script" not in body.lower()
        for name in ("Date", "Message-ID", "List-Id", "List-Unsubscribe"):
            assert msg[name], name
        subject = str(msg["Subject"])
        assert any(subject.startswith(f"Digest test — {d}") for d in days_since(started)), subject
        assert b"=?utf-8?" in handler.received[0].data.split(b"\r\n\r\n", 1)[0]
    finally:
        server.stop()


def test_implicit_tls_without_the_ca_names_ca_file(
    tmp_path: Path, handler: Handler, cert: tuple[Path, Path]
) -> None:
    server = start_server(handler, implicit_tls=server_context(*cert))
    try:
        cfg, ws = setup(tmp_path, server.port, security="tls")
        with pytest.raises(StageError) as err:
            run_newsletter(cfg, ws, send=True, delays=FAST)
        assert "certificate" in err.value.message and "ca_file" in (err.value.hint or "")
        assert statuses(ws) == dict.fromkeys(THREE, PENDING)  # owed, nothing in doubt

        cfg, ws = setup(tmp_path, server.port, security="tls", ca=cert[0])
        result = run_newsletter(cfg, ws, send=True, delays=FAST)
        assert sorted(result.sent) == sorted(THREE) and len(handler.received) == 3
    finally:
        server.stop()


def test_auth_refused_and_missing_env(
    tmp_path: Path,
    handler: Handler,
    cert: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = start_server(handler, auth=(USER, PASSWORD), starttls=server_context(*cert))
    try:
        cfg, ws = setup(tmp_path, server.port, security="starttls", auth=True, ca=cert[0])
        monkeypatch.delenv("T_SMTP_PASSWORD", raising=False)
        monkeypatch.setenv("T_SMTP_USER", USER)
        with pytest.raises(ConfigError, match="T_SMTP_PASSWORD"):
            run_newsletter(cfg, ws, send=True, delays=FAST)
        monkeypatch.setenv("T_SMTP_PASSWORD", "wrong-password")
        code = main_exit(["--config", str(cfg.path), "--state", str(ws.state_dir), "newsletter",
                         "--send"])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 4
        assert "refused the login" in err and "$T_SMTP_PASSWORD" in err
        assert "wrong-password" not in err and handler.received == []
    finally:
        server.stop()


def test_unreachable_server_exit_4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg, ws = setup(tmp_path, free_port())
    code = main_exit(
        ["--config", str(cfg.path), "--state", str(ws.state_dir), "newsletter", "--send"]
    )
    err = capsys.readouterr().err
    assert code == 4 and "cannot reach the SMTP server 127.0.0.1" in err
    assert "hint: check newsletter.smtp.host" in err


def test_missing_config_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "feeds.yaml").write_text("feeds: []\n")
    code = main_exit(["--config", str(tmp_path / "feeds.yaml"), "newsletter"])
    err = capsys.readouterr().err
    assert code == 1 and "no `newsletter:` section" in err and "hint: add a `newsletter:`" in err


def test_rejected_recipient_does_not_stop_the_others(tmp_path: Path, handler: Handler) -> None:
    handler.reject = {"bob@example.net"}
    handler.tempfail = {"carol@example.com": 1}  # one 451, then accepted on the retry
    server = start_server(handler)
    try:
        cfg, ws = setup(tmp_path, server.port)
        result = run_newsletter(cfg, ws, send=True, delays=FAST)
        assert sorted(result.sent) == ["alice@example.org", "carol@example.com"]
        assert [r for r, _ in result.failed] == ["bob@example.net"]
        assert any("fix or remove the address in newsletter.to" in line for line in result.lines)
        assert [handler.count(r) for r in THREE] == [1, 0, 1]
        # A refused address is not retried by the next run (only with --force).
        again = run_newsletter(cfg, ws, send=True, delays=FAST)
        assert again.sent == [] and handler.count("bob@example.net") == 0

        # Every recipient refused: exit 4.
        handler.reject = set(THREE)
        with pytest.raises(StageError, match="every recipient failed"):
            run_newsletter(cfg, ws, send=True, force=True, delays=FAST)
    finally:
        server.stop()


def test_lock_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg, ws = setup(tmp_path, free_port())
    with newsletter_lock(ws):
        with pytest.raises(LockedError):
            run_newsletter(cfg, ws, send=True)
        code = main_exit(["--config", str(cfg.path), "--state", str(ws.state_dir), "newsletter"])
        assert code == 3
    assert "another `digest newsletter` holds the lock" in capsys.readouterr().err


def spawn_send(cfg: Config, ws: Workspace, *extra: str) -> subprocess.Popen[str]:
    """`digest newsletter --send` in a child process."""
    return subprocess.Popen(
        [*digest_command(), "--config", str(cfg.path), "--state", str(ws.state_dir),
         "newsletter", "--send", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=digest_env(),
    )  # fmt: skip


def kill_when_reached(proc: subprocess.Popen[str], handler: Handler) -> None:
    """SIGKILL the child once the server stalls it; fail if it ends first."""
    deadline = time.monotonic() + 120
    while not handler.reached.wait(0.05):
        if proc.poll() is not None or time.monotonic() > deadline:
            out, err = proc.communicate()
            pytest.fail(f"the send ended before the stall ({proc.returncode}): {out} {err}")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)  # reaps it and closes its pipes
    handler.release.set()


def test_killed_after_first_recipient_resumes_exactly_once(
    tmp_path: Path, handler: Handler
) -> None:
    handler.stall_rcpt = THREE[1]
    server = start_server(handler)
    try:
        cfg, ws = setup(tmp_path, server.port)
        kill_when_reached(spawn_send(cfg, ws), handler)
        assert statuses(ws) == {THREE[0]: SENT, THREE[1]: PENDING, THREE[2]: PENDING}
        assert [handler.count(r) for r in THREE] == [1, 0, 0]

        handler.stall_rcpt = None
        result = run_newsletter(cfg, ws, send=True, delays=FAST)
        assert result.resumed and result.already == 1
        assert [handler.count(r) for r in THREE] == [1, 1, 1]
        assert statuses(ws) == dict.fromkeys(THREE, SENT)
        # The same issue went to all three.
        assert len({r.message["Subject"] for r in handler.received}) == 1
    finally:
        server.stop()


def test_killed_inside_data_is_in_doubt(tmp_path: Path, handler: Handler) -> None:
    handler.stall_data = THREE[1]
    server = start_server(handler)
    try:
        cfg, ws = setup(tmp_path, server.port)
        kill_when_reached(spawn_send(cfg, ws), handler)
        assert statuses(ws) == {THREE[0]: SENT, THREE[1]: SENDING, THREE[2]: PENDING}

        handler.stall_data = None
        result = run_newsletter(cfg, ws, send=True, delays=FAST)
        assert result.sent == [THREE[2]] and result.in_doubt == [THREE[1]]
        assert any("--retry-in-doubt" in line for line in result.lines)
        assert [handler.count(r) for r in THREE] == [1, 1, 1]

        retried = run_newsletter(cfg, ws, send=True, retry_in_doubt=True, delays=FAST)
        assert retried.sent == [THREE[1]] and handler.count(THREE[1]) == 2
    finally:
        server.stop()


def test_archive_in_site_without_recipients(tmp_path: Path, handler: Handler) -> None:
    server = start_server(handler)
    try:
        cfg, ws = setup(tmp_path, server.port)
        summary = run_newsletter(cfg, ws, send=True, delays=FAST)
        assert summary.issue is not None
    finally:
        server.stop()
    out = tmp_path / "site"
    with ws.open_store() as store:
        build_stage(cfg, store, out)
    archive = out / "newsletter"
    assert (archive / "index.html").is_file()
    page = (archive / f"{summary.issue.id}.html").read_text(encoding="utf-8")
    assert "Content-Security-Policy" in page
    index = (archive / "index.html").read_text(encoding="utf-8")
    assert f'href="{summary.issue.id}.html"' in index
    site_text = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    for recipient in THREE:
        assert recipient.encode() not in site_text
    assert not list(out.rglob("*.eml")) and list((ws.state_dir / "newsletter").rglob("*.eml"))
    # Every story link of the issue points at a page the site has.
    msg = handler.received[0].message
    text = msg.get_body(("plain",))
    assert text is not None
    links = [w for w in text.get_content().split() if w.startswith(cfg.site.base_url + "stories/")]
    assert links and all((out / link.removeprefix(cfg.site.base_url)).is_file() for link in links)


def test_transient_failures_retried_then_resumed(tmp_path: Path, handler: Handler) -> None:
    handler.tempfail = {"carol@example.com": 3}  # outlasts the first run's three tries
    server = start_server(handler)
    try:
        cfg, ws = setup(tmp_path, server.port)
        first = run_newsletter(cfg, ws, send=True, delays=FAST)
        assert (
            sorted(first.sent) == sorted(THREE[:2]) and handler.tempfail["carol@example.com"] == 0
        )
        assert [r for r, _ in first.failed] == ["carol@example.com"]
        assert "the next --send tries again" in first.failed[0][1]
        second = run_newsletter(cfg, ws, send=True, delays=FAST)
        assert second.resumed and second.sent == ["carol@example.com"] and second.already == 2
        assert [handler.count(r) for r in THREE] == [1, 1, 1]
    finally:
        server.stop()
