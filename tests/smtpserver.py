"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd), with AUTH, STARTTLS, TLS and faults."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        """The message parsed by the standard library."""
        msg = message_from_bytes(self.data, policy=default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class Handler:
    """Records messages; can refuse recipients, fail transiently, or stall at a recipient."""

    reject: set[str] = field(default_factory=set)  # 550 at RCPT
    tempfail: dict[str, int] = field(default_factory=dict)  # address -> 451s still to give
    stall_rcpt: str | None = None  # stop at this RCPT until `release` is set
    stall_data: str | None = None  # take the data for this recipient, then stop before replying
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def _stall(self) -> None:
        self.reached.set()
        deadline = time.monotonic() + 120
        while not self.release.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        """Accept, refuse, fail for now, or stall."""
        if address in self.reject:
            return "550 5.1.1 no such mailbox here"
        if self.tempfail.get(address, 0) > 0:
            self.tempfail[address] -= 1
            return "451 4.3.0 try again later"
        if address == self.stall_rcpt:
            await self._stall()
            return "421 4.3.0 going away"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep the message."""
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        if self.stall_data is not None and self.stall_data in envelope.rcpt_tos:
            await self._stall()
        return "250 2.0.0 queued"

    def count(self, address: str) -> int:
        """How many messages went to this address."""
        with self.lock:
            return sum(address in r.rcpt_tos for r in self.received)


class _Controller(Controller):
    """aiosmtpd's controller, listening on a free port chosen by the kernel (port 0)."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def start_server(
    handler: Handler,
    *,
    auth: tuple[str, str] | None = None,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
) -> _Controller:
    """Start a server on 127.0.0.1 (call .stop()); `auth` = the (user, password) it accepts."""
    kwargs: dict[str, Any] = {}
    if auth is not None:

        def authenticator(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and (
                    data.login.decode(),
                    data.password.decode(),
                )
                == auth
            )
            return AuthResult(success=ok, handled=False)  # False: the server answers 535

        kwargs.update(
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=starttls is not None or implicit_tls is not None,
        )
    if starttls is not None:
        kwargs.update(tls_context=starttls, require_starttls=True)
    controller = _Controller(
        handler, hostname="127.0.0.1", port=0, ssl_context=implicit_tls, **kwargs
    )
    controller.start()
    return controller


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side TLS context for the throwaway certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
