"""Create the internal Ed25519 keypair if it does not exist yet.

The gateway signs internal tokens with the private key; every service verifies
them with the public key. Run by the ``keygen`` one-shot service in
docker-compose.yml (``python /app/deploy/keys/keygen.py``). Idempotent:

* private key present  -> kept; the public key is (re)derived from it if it is
  missing or does not match;
* private key missing  -> a new pair is generated (any old public key is
  replaced, so restart the services afterwards).

Paths come from CRM_INTERNAL_PRIVATE_KEY_FILE and CRM_INTERNAL_PUBLIC_KEY_FILE.
Only ``cryptography`` is imported (no project code).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

DEFAULT_PRIVATE_KEY_FILE = "/keys/private/internal-ed25519.pem"
DEFAULT_PUBLIC_KEY_FILE = "/keys/public/internal-ed25519.pub.pem"


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )


def fingerprint(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(
        encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw
    )
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:32]


def ensure_keypair(private_path: Path, public_path: Path) -> tuple[str, Ed25519PrivateKey]:
    """Make sure both files exist and match. Returns (status, private key)."""
    if private_path.exists():
        key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise SystemExit(f"{private_path} does not hold an Ed25519 private key")
        status = "kept"
    else:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            encoding=serialization.Encoding.PEM,
            format=serialization.PrivateFormat.PKCS8,
            encryption_algorithm=serialization.NoEncryption(),
        )
        _write_atomic(private_path, pem, 0o600)
        status = "created"

    public_pem = _public_pem(key)
    if not public_path.exists() or public_path.read_bytes() != public_pem:
        _write_atomic(public_path, public_pem, 0o644)
        if status == "kept":
            status = "public key rewritten"
    return status, key


def main() -> int:
    private_path = Path(
        os.environ.get("CRM_INTERNAL_PRIVATE_KEY_FILE") or DEFAULT_PRIVATE_KEY_FILE
    )
    public_path = Path(os.environ.get("CRM_INTERNAL_PUBLIC_KEY_FILE") or DEFAULT_PUBLIC_KEY_FILE)
    status, key = ensure_keypair(private_path, public_path)
    print(
        f"keygen: {status}; private={private_path} public={public_path} "
        f"fingerprint={fingerprint(key)}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
