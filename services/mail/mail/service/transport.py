"""Where rendered messages go: an SMTP relay (CRM_SMTP_URL) over a pool of persistent connections,
or, with no relay configured (the embedded default), a Maildir of .eml files.

CRM_SMTP_URL: smtp://user:pass@host:587 (STARTTLS: always with credentials or port 587, or
?tls=starttls), smtps://user:pass@host:465 (implicit TLS), smtp://host:25 (plain, a local relay;
?tls=none forces plain). The relay's certificate is verified against the system CAs, or
CRM_SMTP_CA_FILE.
"""

from __future__ import annotations

import os
import queue
import smtplib
import socket
import ssl
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

SENT, DEFERRED, FAILED = "sent", "deferred", "failed"


@dataclass
class Job:
    tenant_id: uuid.UUID
    message_id: uuid.UUID
    envelope_from: str
    recipients: list[str]
    raw: bytes


@dataclass
class Result:
    outcome: str  # sent | deferred | failed
    code: int | None = None
    response: str | None = None
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)  # per recipient, when sent
    duration_ms: int = 0


class Transport(Protocol):
    def send(self, job: Job) -> Result: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class RelayConfig:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> RelayConfig:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"CRM_SMTP_URL must be smtp://[user:pass@]host[:port] or smtps://..., not {url!r}")
        implicit = parts.scheme == "smtps"
        port = parts.port or (465 if implicit else 25)
        tls = (parse_qs(parts.query).get("tls") or [""])[0].lower()
        user = unquote(parts.username) if parts.username else None
        starttls = not implicit and tls != "none" and (tls == "starttls" or bool(user) or port == 587)
        return cls(parts.hostname, port, implicit, starttls, user,
                   unquote(parts.password) if parts.password is not None else None)


def _reply_text(value: bytes | str) -> str:
    return (value.decode(errors="replace") if isinstance(value, bytes) else str(value))[:1000]


def _classify(code: int | None) -> str:
    return FAILED if code is not None and 500 <= code < 600 else DEFERRED


class SmtpPool:
    """`size` connections to the relay, each opened on first use and kept for the next message;
    one that fails is dropped and opened again by the next send."""

    def __init__(self, config: RelayConfig, *, size: int = 4, timeout: float = 30.0,
                 ca_file: str | None = None, local_hostname: str | None = None) -> None:
        self.config = config
        self.timeout = timeout
        self.local_hostname = local_hostname
        self.context = ssl.create_default_context(cafile=ca_file)
        self._idle: queue.LifoQueue[smtplib.SMTP | None] = queue.LifoQueue()
        for _ in range(max(1, size)):
            self._idle.put(None)  # a slot without a connection yet

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        if c.implicit_tls:
            conn: smtplib.SMTP = smtplib.SMTP_SSL(c.host, c.port, timeout=self.timeout, context=self.context,
                                                  local_hostname=self.local_hostname)
        else:
            conn = smtplib.SMTP(c.host, c.port, timeout=self.timeout, local_hostname=self.local_hostname)
        try:
            conn.ehlo()
            if c.starttls:
                conn.starttls(context=self.context)
                conn.ehlo()
            if c.username:
                conn.login(c.username, c.password or "")
        except BaseException:
            _quietly_close(conn)
            raise
        return conn

    def send(self, job: Job) -> Result:
        started = time.monotonic()
        conn = self._idle.get()
        try:
            result, conn = self._send_on(conn, job)
        finally:
            self._idle.put(conn)
        result.duration_ms = int((time.monotonic() - started) * 1000)
        return result

    def _send_on(self, conn: smtplib.SMTP | None, job: Job) -> tuple[Result, smtplib.SMTP | None]:
        reused = conn is not None
        for _ in range(2):  # a kept connection the relay closed meanwhile gets one fresh retry
            if conn is None:
                try:
                    conn = self._connect()
                except (OSError, smtplib.SMTPException) as exc:
                    # Relay away, TLS or credentials wrong: the message is not at fault, so even a
                    # 5xx here (535 authentication failed) only defers it.
                    return Result(DEFERRED, getattr(exc, "smtp_code", None), f"{type(exc).__name__}: {exc}"), None
            try:
                refused = conn.sendmail(job.envelope_from, job.recipients, job.raw)
                return Result(SENT, 250, None, {k: (c, _reply_text(m)) for k, (c, m) in refused.items()}), conn
            except smtplib.SMTPRecipientsRefused as exc:  # nobody accepted
                replies = {k: (c, _reply_text(m)) for k, (c, m) in exc.recipients.items()}
                temporary = [c for c, _ in replies.values() if not 500 <= c < 600]
                code = temporary[0] if temporary else min(c for c, _ in replies.values())
                text = "; ".join(f"{k}: {c} {m}" for k, (c, m) in replies.items())
                return Result(DEFERRED if temporary else FAILED, code, text, replies), conn
            except smtplib.SMTPServerDisconnected as exc:
                _quietly_close(conn)
                conn = None
                if reused:
                    reused = False
                    continue
                return Result(DEFERRED, None, f"connection lost: {exc}"), None
            except smtplib.SMTPResponseException as exc:  # MAIL FROM or DATA refused, or the greeting
                if exc.smtp_code == 421 or not _rset(conn):
                    _quietly_close(conn)
                    conn = None
                return Result(_classify(exc.smtp_code), exc.smtp_code, _reply_text(exc.smtp_error)), conn
            except (OSError, smtplib.SMTPException) as exc:  # refused, timed out, TLS, a broken exchange
                _quietly_close(conn)
                return Result(DEFERRED, None, f"{type(exc).__name__}: {exc}"), None
        return Result(DEFERRED, None, "connection lost"), None

    def close(self) -> None:
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return
            _quietly_close(conn)


def _rset(conn: smtplib.SMTP | None) -> bool:
    if conn is None:
        return False
    try:
        return conn.rset()[0] == 250
    except (OSError, smtplib.SMTPException):
        return False


def _quietly_close(conn: smtplib.SMTP | None) -> None:
    if conn is None:
        return
    try:
        conn.quit()
    except (OSError, smtplib.SMTPException):
        try:
            conn.close()
        except OSError:
            pass


class MaildirTransport:
    """Each message as <time>.<message id>.eml in <maildir>/new, with the envelope in front
    (Return-Path, X-Envelope-To) as a local delivery would write it. Written to tmp/ first and
    renamed, so a reader of new/ never sees half a file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._made = False

    def _ensure(self) -> None:
        if not self._made:
            for sub in ("tmp", "new", "cur"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)
            self._made = True

    def send(self, job: Job) -> Result:
        started = time.monotonic()
        try:
            self._ensure()
            name = f"{int(time.time())}.{job.message_id.hex}.{socket.gethostname().replace('/', '_')}.eml"
            head = (f"Return-Path: <{job.envelope_from}>\r\n"
                    f"X-Envelope-To: {', '.join(job.recipients)}\r\n").encode()
            tmp = self.path / "tmp" / name
            with open(tmp, "wb") as out:
                out.write(head + job.raw)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path / "new" / name)
        except OSError as exc:
            return Result(DEFERRED, None, f"maildir: {exc}")
        return Result(SENT, None, f"written to {self.path / 'new' / name}",
                      duration_ms=int((time.monotonic() - started) * 1000))

    def close(self) -> None:
        pass


def open_transport(smtp_url: str | None, maildir: Path, *, connections: int = 4, timeout: float = 30.0,
                   ca_file: str | None = None) -> SmtpPool | MaildirTransport:
    if not smtp_url:
        return MaildirTransport(maildir)
    return SmtpPool(RelayConfig.parse(smtp_url), size=connections, timeout=timeout, ca_file=ca_file)
