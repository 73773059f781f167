"""The gateway's signed internal token: the only source of tenant identity inside the platform.

The gateway signs with its Ed25519 private key; services verify with the public key alone, so no
service can mint a token for another tenant.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from crm_core.context import Principal

HEADER = "X-Internal-Token"
ISSUER = "crm-gateway"
AUDIENCE = "crm-internal"
ALGORITHMS = ["EdDSA"]
TTL_SECONDS = 60


class InvalidInternalToken(Exception):
    pass


def generate_keypair() -> tuple[str, str]:
    """(private PEM, public PEM) for a fresh Ed25519 key."""
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private_pem, public_pem


@dataclass
class InternalTokenSigner:
    private_key: Ed25519PrivateKey

    @classmethod
    def from_pem(cls, pem: str) -> InternalTokenSigner:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("internal token key must be Ed25519")
        return cls(key)

    def mint(self, principal: Principal, request_id: str, ttl: int = TTL_SECONDS) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + ttl,
            "tid": str(principal.tenant_id),
            "sub": str(principal.user_id) if principal.user_id else "",  # API keys act without a user
            "key": str(principal.api_key_id) if principal.api_key_id else "",
            "roles": list(principal.roles),
            "scp": list(principal.scopes),
            "rid": request_id,
        }
        return jwt.encode(claims, self.private_key, algorithm="EdDSA")


@dataclass
class InternalTokenVerifier:
    public_key: Ed25519PublicKey

    @classmethod
    def from_pem(cls, pem: str) -> InternalTokenVerifier:
        key = serialization.load_pem_public_key(pem.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("internal token key must be Ed25519")
        return cls(key)

    def verify(self, token: str) -> tuple[Principal, str | None]:
        try:
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=ALGORITHMS,
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "tid", "iss", "aud"]},
            )
            principal = Principal(
                tenant_id=uuid.UUID(claims["tid"]),
                user_id=uuid.UUID(claims["sub"]) if claims.get("sub") else None,
                roles=tuple(claims.get("roles") or ()),
                scopes=tuple(claims.get("scp") or ()),
                api_key_id=uuid.UUID(claims["key"]) if claims.get("key") else None,
            )
        except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
            raise InvalidInternalToken(str(exc)) from exc
        return principal, claims.get("rid")
