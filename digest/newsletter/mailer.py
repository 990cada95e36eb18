"""The newsletter's messages and their sending over SMTP, one per recipient, each recorded.

A recipient is marked `sending` once the server has accepted the envelope and just before the
message data goes out, and `sent` when the server accepts the data. A crash before the data
leaves them `pending` (owed, sent on the next run); a crash after it leaves them `sending`: in
doubt, since the server may have the message, so they are skipped unless --retry-in-doubt.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses, parseaddr

from digest.errors import ConfigError, StageError
from digest.records import Config, NewsletterConfig, SmtpConfig
from digest.records.newsletter import FAILED, PENDING, SENDING, SENT, NewsletterIssue
from digest.render import as_utc
from digest.store import Store, utc_now

# Waits (seconds) before the second, third and fourth try after a transient (4xx) reply.
DEFAULT_DELAYS: tuple[float, ...] = (5.0, 30.0, 120.0)
TIMEOUT = 60.0  # seconds without an answer from the server


@dataclass
class SendResult:
    """What sending one issue did."""

    issue_id: str
    sent: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # recipient, reason with fix
    in_doubt: list[str] = field(default_factory=list)
    not_retried: list[tuple[str, str]] = field(default_factory=list)  # refused before: 5xx
    already: int = 0

    def lines(self) -> list[str]:
        """Summary lines: counts, then one line per problem."""
        out = [
            f"sent: {len(self.sent)} delivered, {len(self.failed)} failed, "
            f"{len(self.in_doubt)} in doubt, {self.already} already had it"
        ]
        out += [f"  failed {r}: {why}" for r, why in self.failed]
        out += [
            f"  not retried {r}: refused before ({why}); fix the address in newsletter.to, "
            "or --force to try again"
            for r, why in self.not_retried
        ]
        out += [
            f"  in doubt {r}: a run stopped while the server took the message, so it may have "
            "it; --retry-in-doubt sends it again"
            for r in self.in_doubt
        ]
        return out

    def raise_if_all_failed(self) -> None:
        """StageError (exit 4) when messages were attempted and none was accepted."""
        if self.failed and not self.sent:
            raise StageError(
                f"issue {self.issue_id}: every recipient failed ({len(self.failed)})",
                "see the reasons above; a later `digest newsletter --send` retries the "
                "temporary failures",
            )


# ---------------------------------------------------------------- the message


@dataclass(frozen=True)
class Addresses:
    """The checked sender and recipients of the newsletter config."""

    sender: Address
    recipients: list[str]  # bare addresses, in config order, each once


def check_addresses(config: Config) -> Addresses:
    """The newsletter's addresses, or a ConfigError naming the key that is wrong."""
    newsletter = require_newsletter(config)
    sender = _address(config, "newsletter.from", newsletter.sender)
    recipients: list[str] = []
    for index, raw in enumerate(newsletter.to):
        address = _address(config, f"newsletter.to[{index}]", raw).addr_spec
        if address.lower() not in {r.lower() for r in recipients}:
            recipients.append(address)
    return Addresses(sender=sender, recipients=recipients)


def require_newsletter(config: Config) -> NewsletterConfig:
    """The `newsletter:` section, or a ConfigError saying how to add one."""
    if config.newsletter is None:
        raise ConfigError(
            f"{config.path}: no `newsletter:` section: the newsletter has no sender, "
            "recipients or SMTP server",
            "add a `newsletter:` section with from, to, list_id and smtp "
            "(see feeds.yaml in the digest repository for every key)",
        )
    return config.newsletter


def _address(config: Config, key: str, raw: str) -> Address:
    hint = f'for example `{key.split(".")[-1].split("[")[0]}: "Digest <digest@example.org>"`'
    parsed = getaddresses([raw])
    name, addr = parseaddr(raw)
    if len(parsed) != 1 or not addr or "@" not in addr:
        raise ConfigError(f"{config.path}: {key}: {raw!r} is not one email address", hint)
    if not addr.isascii():
        raise ConfigError(
            f"{config.path}: {key}: {addr!r} has non-ASCII characters",
            "write the domain in its xn-- (IDNA) form; non-ASCII mailbox names are not supported",
        )
    local, _, domain = addr.rpartition("@")
    try:
        return Address(display_name=name, username=local, domain=domain)
    except (ValueError, IndexError) as exc:
        raise ConfigError(f"{config.path}: {key}: {raw!r}: {exc}", hint) from None


def message_id_for(issue_id: str, recipient: str, domain: str) -> str:
    """A Message-ID that is the same every time this issue goes to this recipient."""
    key = f"{issue_id}\0{recipient.lower()}".encode()
    return f"<digest-{issue_id}.{hashlib.sha256(key).hexdigest()[:24]}@{domain}>"


def build_message(
    issue: NewsletterIssue,
    recipient: str,
    *,
    sender: Address,
    site_title: str,
    newsletter: NewsletterConfig,
    date: datetime,
) -> EmailMessage:
    """One recipient's message: multipart/alternative with the text and HTML parts."""
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = issue.subject
    msg["From"] = sender
    msg["To"] = recipient
    msg["Date"] = format_datetime(as_utc(date))
    msg["Message-ID"] = message_id_for(issue.id, recipient, sender.domain)
    list_id = newsletter.list_id or sender.domain
    msg["List-Id"] = f"{' '.join(site_title.split())[:80]} <{list_id.strip('<>')}>"
    if newsletter.list_unsubscribe:
        msg["List-Unsubscribe"] = f"<{newsletter.list_unsubscribe.strip('<>')}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(issue.text, charset="utf-8")
    msg.add_alternative(issue.html, subtype="html", charset="utf-8")
    return msg


# ---------------------------------------------------------------- sending


class _Refused(Exception):
    """The server answered a command of the transaction with an error code."""

    def __init__(self, code: int, reply: bytes | str, what: str) -> None:
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        super().__init__(f"{code} {' '.join(text.split())[:200]}")
        self.code = code
        self.what = what


def send_issue(
    store: Store,
    issue: NewsletterIssue,
    messages: Mapping[str, EmailMessage],
    smtp: SmtpConfig,
    *,
    envelope_from: str,
    force: bool = False,
    retry_in_doubt: bool = False,
    delays: Sequence[float] = DEFAULT_DELAYS,
    env: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SendResult:
    """Send the issue to every recipient of `messages` who is owed it; record each result."""
    result = SendResult(issue.id)
    message_ids = {r: str(m["Message-ID"]) for r, m in messages.items()}
    store.queue_newsletter_deliveries(issue.id, message_ids, utc_now(), reset=force)
    deliveries = store.newsletter_deliveries(issue.id)
    todo: list[str] = []
    for recipient in messages:
        d = deliveries[recipient]
        if d.status == SENT:
            result.already += 1
        elif d.status == SENDING and not retry_in_doubt:
            result.in_doubt.append(recipient)
        elif d.status == FAILED and d.permanent:
            result.not_retried.append((recipient, d.error or "refused"))
        else:
            todo.append(recipient)
    if not todo:
        return result
    login = _credentials(smtp, os.environ if env is None else env)
    conn = _connect(smtp, login)
    try:
        for recipient in todo:
            data = messages[recipient].as_bytes()
            conn = _deliver(
                conn,
                store,
                issue.id,
                recipient,
                envelope_from,
                data,
                smtp,
                login,
                delays,
                sleep,
                result,
            )
    finally:
        _quit(conn)
    return result


def _deliver(
    conn: smtplib.SMTP,
    store: Store,
    issue_id: str,
    recipient: str,
    envelope_from: str,
    data: bytes,
    smtp: SmtpConfig,
    login: tuple[str, str] | None,
    delays: Sequence[float],
    sleep: Callable[[float], None],
    result: SendResult,
) -> smtplib.SMTP:
    """One recipient's transaction, retried on 4xx; returns the connection to go on with."""
    attempt = 0
    reconnected = False
    while True:
        in_data = False
        try:
            code, reply = conn.mail(envelope_from)
            if code != 250:
                raise _Refused(code, reply, "the sender")
            code, reply = conn.rcpt(recipient)
            if code not in (250, 251):
                raise _Refused(code, reply, "the recipient")
            store.set_newsletter_delivery(issue_id, recipient, SENDING, utc_now())
            in_data = True
            try:
                code, reply = conn.data(data)
            except smtplib.SMTPDataError as exc:
                # DATA itself refused: the message never went out.
                raise _Refused(exc.smtp_code, exc.smtp_error, "the message") from None
            if code != 250:
                raise _Refused(code, reply, "the message")
            store.set_newsletter_delivery(issue_id, recipient, SENT, utc_now())
            result.sent.append(recipient)
            return conn
        except _Refused as refused:
            _rset(conn)
            if 400 <= refused.code < 500 and attempt < len(delays):
                sleep(delays[attempt])
                attempt += 1
                continue
            permanent = refused.code >= 500
            why = f"the server refused {refused.what}: {refused}"
            if permanent:
                fix = (
                    "fix or remove the address in newsletter.to"
                    if refused.what == ("the recipient")
                    else "check newsletter.from and the server's sending policy"
                )
                why += f"; {fix} (not retried unless --force)"
            else:
                why += "; a temporary failure: the next --send tries again"
            store.set_newsletter_delivery(
                issue_id, recipient, FAILED, utc_now(), error=str(refused), permanent=permanent
            )
            result.failed.append((recipient, why))
            return conn
        except (smtplib.SMTPException, OSError) as exc:
            if in_data:
                # The server may have the whole message: leave it `sending` (in doubt).
                result.in_doubt.append(recipient)
            else:
                store.set_newsletter_delivery(issue_id, recipient, PENDING, utc_now())
            _quit(conn)
            if reconnected:
                raise StageError(
                    f"lost the connection to the SMTP server {smtp.host}:{smtp.port} twice: {exc}",
                    "run `digest newsletter --send` again: it resumes with the recipients "
                    "still owed",
                ) from exc
            conn = _connect(smtp, login)
            reconnected = True
            if in_data:
                return conn


def _credentials(smtp: SmtpConfig, env: Mapping[str, str]) -> tuple[str, str] | None:
    """(user, password) from the variables the config names; never from the file."""
    if not smtp.username_env and not smtp.password_env:
        return None
    if not smtp.username_env or not smtp.password_env:
        raise ConfigError(
            "newsletter.smtp: username_env and password_env go together",
            "name both environment variables, or neither for a server without login",
        )
    missing = [n for n in (smtp.username_env, smtp.password_env) if not env.get(n)]
    if missing:
        raise ConfigError(
            f"newsletter.smtp: the environment variable {' and '.join(missing)} is not set",
            f"export {missing[0]}=... before running digest (the config names it, so it "
            "must hold the SMTP login)",
        )
    return env[smtp.username_env], env[smtp.password_env]


def _connect(smtp: SmtpConfig, login: tuple[str, str] | None) -> smtplib.SMTP:
    """An open, secured and logged-in connection, or a StageError naming the fix."""
    where = f"{smtp.host}:{smtp.port}"
    conn: smtplib.SMTP | None = None
    try:
        context = ssl.create_default_context(
            cafile=str(smtp.ca_file) if smtp.ca_file is not None else None
        )
        if smtp.security == "tls":
            conn = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=TIMEOUT, context=context)
        else:
            conn = smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT)
        conn.ehlo()
        if smtp.security == "starttls":
            if not conn.has_extn("starttls"):
                raise StageError(
                    f"the SMTP server {where} does not offer STARTTLS",
                    "set newsletter.smtp.security to tls (port 465) if it speaks TLS from the "
                    "start, or to none only on a trusted network",
                )
            conn.starttls(context=context)
            conn.ehlo()
        if login is not None:
            _login(conn, *login, where)
        return conn
    except StageError:
        _quit(conn)
        raise
    except smtplib.SMTPAuthenticationError as exc:
        _quit(conn)
        raise StageError(
            f"the SMTP server {where} refused the login ({exc.smtp_code})",
            f"check the user and password in ${smtp.username_env} and ${smtp.password_env}",
        ) from None
    except smtplib.SMTPNotSupportedError:
        _quit(conn)
        raise StageError(
            f"the SMTP server {where} does not offer a login (AUTH)",
            "most servers offer it only over TLS: set newsletter.smtp.security to starttls or "
            "tls, or drop username_env and password_env",
        ) from None
    except ssl.SSLCertVerificationError as exc:
        _quit(conn)
        raise StageError(
            f"the certificate of the SMTP server {where} could not be verified: "
            f"{exc.verify_message}",
            "set newsletter.smtp.ca_file to the CA certificate that signed it (a PEM file)",
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        _quit(conn)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        reason = reason or type(exc).__name__
        raise StageError(
            f"cannot reach the SMTP server {where} ({smtp.security}): {reason}",
            "check newsletter.smtp.host, port and security and that the server is up; nothing "
            "was sent, so running again sends everything owed",
        ) from None


def _login(conn: smtplib.SMTP, user: str, password: str, where: str) -> None:
    """Log in; smtplib encodes credentials as ASCII, so others go as UTF-8 AUTH PLAIN (RFC 4616)."""
    if user.isascii() and password.isascii():
        conn.login(user, password)
        return
    if not conn.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("AUTH not offered")
    if "PLAIN" not in conn.esmtp_features.get("auth", "").upper().split():
        raise StageError(
            f"the SMTP server {where} does not offer AUTH PLAIN, the only way to send a "
            "non-ASCII user name or password",
            "use an ASCII password for the newsletter's SMTP account",
        )
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode("ascii")
    code, reply = conn.docmd("AUTH", "PLAIN " + token)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _rset(conn: smtplib.SMTP) -> None:
    # If the connection is broken, the next command finds out.
    with contextlib.suppress(smtplib.SMTPException, OSError):
        conn.rset()


def _quit(conn: smtplib.SMTP | None) -> None:
    if conn is None:
        return
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        conn.close()
