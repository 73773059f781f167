"""The gateway's signed internal token: the only source of tenant identity inside the platform.

A compact JWS (JWT) signed with the gateway's Ed25519 key; services verify with the public key
alone, so no service can mint a token for another tenant. Encoded and checked here directly
with `cryptography` (fixed header, fixed algorithm): one is minted and verified on every request,
and a general JWT library costs more than the signature itself.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from crm_core.context import Principal

HEADER = "X-Internal-Token"
ISSUER = "crm-gateway"
# Each token names the one service it is for ("aud"): a token minted for tickets is refused by
# contacts, so a service that logs or leaks a token cannot replay it elsewhere.
AUDIENCE_PREFIX = "crm-internal:"
TTL_SECONDS = 60
_JOSE_HEADER = base64.urlsafe_b64encode(b'{"alg":"EdDSA","typ":"JWT"}').rstrip(b"=")


class InvalidInternalToken(Exception):
    pass


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _unb64(data: bytes) -> bytes:
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))


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

    def mint(self, principal: Principal, request_id: str, audience: str, ttl: int = TTL_SECONDS) -> str:
        """`audience` is the target service's name (e.g. "contacts")."""
        now = int(time.time())
        claims = {
            "iss": ISSUER, "aud": AUDIENCE_PREFIX + audience, "iat": now, "exp": now + ttl,
            "tid": str(principal.tenant_id),
            "sub": str(principal.user_id) if principal.user_id else "",  # API keys act without a user
            "key": str(principal.api_key_id) if principal.api_key_id else "",
            "roles": list(principal.roles), "scp": list(principal.scopes), "rid": request_id,
        }
        signing_input = _JOSE_HEADER + b"." + _b64(json.dumps(claims, separators=(",", ":")).encode())
        return (signing_input + b"." + _b64(self.private_key.sign(signing_input))).decode()


@dataclass
class InternalTokenVerifier:
    public_key: Ed25519PublicKey
    audience: str  # this service's name: only tokens minted for it are accepted

    @classmethod
    def from_pem(cls, pem: str, audience: str) -> InternalTokenVerifier:
        key = serialization.load_pem_public_key(pem.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("internal token key must be Ed25519")
        if not audience:
            raise ValueError("an internal token verifier needs its service name as audience")
        return cls(key, audience)

    def verify(self, token: str) -> tuple[Principal, str | None]:
        try:
            header, payload, signature = token.encode().split(b".")
            if header != _JOSE_HEADER:  # only EdDSA is accepted: no algorithm confusion
                raise InvalidInternalToken("unexpected token header")
            self.public_key.verify(_unb64(signature), header + b"." + payload)
            claims = json.loads(_unb64(payload))
            now = time.time()
            if claims["iss"] != ISSUER or claims["aud"] != AUDIENCE_PREFIX + self.audience:
                raise InvalidInternalToken("wrong issuer or audience")
            if not claims["iat"] - 30 <= now < claims["exp"]:
                raise InvalidInternalToken("expired or not yet valid")
            principal = Principal(
                tenant_id=uuid.UUID(claims["tid"]),
                user_id=uuid.UUID(claims["sub"]) if claims.get("sub") else None,
                roles=tuple(claims.get("roles") or ()),
                scopes=tuple(claims.get("scp") or ()),
                api_key_id=uuid.UUID(claims["key"]) if claims.get("key") else None,
            )
        except InvalidInternalToken:
            raise
        except (InvalidSignature, ValueError, KeyError, TypeError, UnicodeError) as exc:
            raise InvalidInternalToken(type(exc).__name__) from exc
        return principal, claims.get("rid")
