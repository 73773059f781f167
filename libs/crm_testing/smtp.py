"""A real SMTP server for tests and benchmarks: aiosmtpd on 127.0.0.1, a free port, collecting what
arrives over the wire, with scriptable replies (421 / 550 / a dropped connection), optional
STARTTLS, implicit TLS and AUTH.

    with SmtpSink() as sink:            # sink.url: smtp://127.0.0.1:<port>
        ...send...
        sink.wait_for(1)
        sink.messages[0].data           # the raw bytes, as received

    sink.rcpt_replies["nobody@example.com"] = "550 5.1.1 No such user"
    sink.data_replies.append("421 4.3.2 Try again later")   # the next DATA only
    sink.drop_next_data = 1                                  # close the connection at the next DATA
"""

from __future__ import annotations

import collections
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    authenticated_as: str | None
    tls: bool
    at: float


class _Controller(Controller):
    """Port 0 works: the bound port is read back before aiosmtpd's readiness probe connects."""

    def _trigger_server(self) -> None:
        if self.port == 0 and self.server is not None:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpSink:
    def __init__(self, *, port: int = 0, starttls: ssl.SSLContext | None = None, require_starttls: bool = False,
                 implicit_tls: ssl.SSLContext | None = None, users: dict[str, str] | None = None,
                 on_message: Callable[[Received], None] | None = None, keep: bool = True) -> None:
        self.port = port
        self.starttls, self.require_starttls, self.implicit_tls = starttls, require_starttls, implicit_tls
        self.users = users
        self.on_message = on_message
        self.keep = keep  # False: count only (benchmarks)
        self.messages: list[Received] = []
        self.count = 0
        self.connections = 0
        self.rcpt_replies: dict[str, str] = {}
        self.data_replies: collections.deque[str] = collections.deque()
        self.drop_next_data = 0
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._controller: _Controller | None = None

    # -- aiosmtpd handler hooks --------------------------------------------------------------

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,  # noqa: N802
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        with self._lock:
            self.connections += 0 if getattr(session, "_counted", False) else 1
        session._counted = True
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        reply = self.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self._lock:
            if self.drop_next_data > 0:
                self.drop_next_data -= 1
                server.transport.close()
                return "421 4.4.2 Connection dropped"
            if self.data_replies:
                return self.data_replies.popleft()
        login = getattr(session, "auth_data", None) if getattr(session, "authenticated", False) else None
        received = Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content or envelope.content),
                            login if isinstance(login, str) else None,
                            server.transport.get_extra_info("sslcontext") is not None, time.monotonic())
        with self._arrived:
            self.count += 1
            if self.keep:
                self.messages.append(received)
            self._arrived.notify_all()
        if self.on_message is not None:
            self.on_message(received)
        return "250 2.0.0 OK queued"

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self.users is None:
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        return AuthResult(success=self.users.get(login) == password, handled=False, auth_data=login)

    # -- control -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{'smtps' if self.implicit_tls else 'smtp'}://127.0.0.1:{self.port}"

    def start(self) -> SmtpSink:
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command at INFO
        kwargs: dict[str, Any] = {"decode_data": False, "enable_SMTPUTF8": True}
        if self.starttls is not None:
            kwargs.update(tls_context=self.starttls, require_starttls=self.require_starttls)
        if self.users is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_require_tls=self.starttls is not None or self.implicit_tls is not None)
        self._controller = _Controller(self, hostname="127.0.0.1", port=self.port, ssl_context=self.implicit_tls,
                                       ready_timeout=10.0, **kwargs)
        self._controller.start()
        self.port = self._controller.port
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def restart(self) -> None:
        """Up again on the same port (a relay that was down comes back)."""
        self.stop()
        self.start()

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Whether `count` messages in all arrived within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while self.count < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._arrived.wait(left)
        return True

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def self_signed_context(tmp_dir: Any, host: str = "127.0.0.1") -> tuple[ssl.SSLContext, str]:
    """A server TLS context for `host` with a fresh self-signed certificate, and the path of that
    certificate (the client's CA file)."""
    import datetime as dt
    import ipaddress
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = Path(tmp_dir) / "smtp-cert.pem", Path(tmp_dir) / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context, str(cert_path)
