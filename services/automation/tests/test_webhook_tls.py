"""HTTPS deliveries connect to the checked address but verify the certificate against the URL's name."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from webhook_helpers import fake_dns

import automation.urls
from automation.sender import Sender
from automation.signing import generate_secret

NAME = "hooks.partner.test"


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime(2020, 1, 1)).not_valid_after(dt.datetime(2100, 1, 1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class Answer204(BaseHTTPRequestHandler):
    hosts: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.hosts.append(self.headers.get("Host", ""))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def tls_receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, Path]]:
    cert_file, key_file = self_signed(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer204)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setattr(automation.urls, "socket", fake_dns({NAME: "127.0.0.1", "other.partner.test": "127.0.0.1"}))
    Answer204.hosts = []
    try:
        yield server.server_address[1], cert_file
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_certificate_is_checked_against_the_url_host(tls_receiver: tuple[int, Path]) -> None:
    port, ca = tls_receiver
    secret = generate_secret()
    untrusted = Sender(allow_private=True, timeout=2)
    result = untrusted.send(f"https://{NAME}:{port}/in", secret, "m-1", b"{}")
    assert result.status_code is None and "CERTIFICATE_VERIFY_FAILED" in (result.error or "")
    trusted = Sender(allow_private=True, timeout=2, ca_certs=str(ca))
    ok = trusted.send(f"https://{NAME}:{port}/in", secret, "m-1", b"{}")
    assert ok.ok and ok.status_code == 204 and Answer204.hosts == [f"{NAME}:{port}"]
    wrong = trusted.send(f"https://other.partner.test:{port}/in", secret, "m-1", b"{}")
    assert wrong.status_code is None and "Hostname mismatch" in (wrong.error or "")
