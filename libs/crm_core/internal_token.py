"""The gateway's signed internal token: the only source of tenant identity inside the platform.

A compact JWS (JWT) signed with the gateway's Ed25519 key; services verify with the public key
alone, so no service can mint a token for another tenant. Encoded and checked here directly
with `cryptography` (fixed header, fixed algorithm): one is minted and verified on every request,
and a general JWT library costs more than the signature itself.

Both ends cache: the gateway reuses a token per (principal, audience) for a fraction of its
lifetime (TokenCache), and a service remembers the tokens it has verified until they expire
(InternalTokenVerifier's bounded cache), so the steady state signs and verifies nothing. The
token therefore carries no per-request data: the request id travels in the X-Request-Id header.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from crm_core.context import Principal

HEADER = "X-Internal-Token"
# Sent beside the token by a workflow run (the `workflow` principal) only, and read only for it:
# where its writes come from and the run ids that caused them (comma-separated, oldest first).
# The gateway drops every client header starting "x-internal-", so no client can send them.
ORIGIN_HEADER = "X-Internal-Origin"
CAUSATION_HEADER = "X-Internal-Causation"
MAX_CAUSATION = 50
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

    def mint(self, principal: Principal, audience: str, ttl: int = TTL_SECONDS) -> str:
        """`audience` is the target service's name (e.g. "contacts")."""
        now = int(time.time())
        claims = {
            "iss": ISSUER, "aud": AUDIENCE_PREFIX + audience, "iat": now, "exp": now + ttl,
            "tid": str(principal.tenant_id),
            "sub": str(principal.user_id) if principal.user_id else "",  # API keys act without a user
            "key": str(principal.api_key_id) if principal.api_key_id else "",
            "roles": list(principal.roles), "scp": list(principal.scopes),
        }
        signing_input = _JOSE_HEADER + b"." + _b64(json.dumps(claims, separators=(",", ":")).encode())
        return (signing_input + b"." + _b64(self.private_key.sign(signing_input))).decode()


def _identity(principal: Principal) -> tuple[object, ...]:
    """Everything of a principal that goes into its token: two principals equal here get equal tokens."""
    return (principal.tenant_id, principal.user_id, principal.api_key_id, principal.roles, principal.scopes)


class TokenCache:
    """The gateway's tokens, reused per (principal, audience) for `reuse_seconds` (a fraction of
    their lifetime, so a reused token still has most of it left when the service checks it).

    Keyed by everything the token asserts (tenant, user, key, roles, scopes) plus the audience:
    a token is only ever handed to a request whose principal would have minted the same claims.
    Bounded (least recently used goes first); `reuse_seconds` 0 mints every time.
    """

    def __init__(self, signer: InternalTokenSigner, reuse_seconds: float = 20.0, size: int = 10_000,
                 ttl: int = TTL_SECONDS) -> None:
        if reuse_seconds >= ttl / 2:
            raise ValueError(f"reusing an internal token for {reuse_seconds} s leaves too little of its {ttl} s")
        self.signer, self.reuse, self.size, self.ttl = signer, reuse_seconds, size, ttl
        self._tokens: OrderedDict[tuple[object, ...], tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()

    def token(self, principal: Principal, audience: str) -> str:
        if self.reuse <= 0:
            return self.signer.mint(principal, audience, self.ttl)
        key = (*_identity(principal), audience)
        now = time.monotonic()
        with self._lock:
            entry = self._tokens.get(key)
            if entry is not None and now - entry[0] < self.reuse:
                self._tokens.move_to_end(key)
                return entry[1]
        token = self.signer.mint(principal, audience, self.ttl)
        with self._lock:
            self._tokens[key] = (now, token)
            self._tokens.move_to_end(key)
            while len(self._tokens) > self.size:
                self._tokens.popitem(last=False)
        return token


@dataclass
class InternalTokenVerifier:
    public_key: Ed25519PublicKey
    audience: str  # this service's name: only tokens minted for it are accepted
    # The gateway reuses its tokens, so the same one arrives again and again: verified once, then
    # looked up (until its own expiry) instead of checking the signature each time. Bounded.
    cache_size: int = 10_000
    _verified: OrderedDict[str, tuple[float, Principal]] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_pem(cls, pem: str, audience: str) -> InternalTokenVerifier:
        key = serialization.load_pem_public_key(pem.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("internal token key must be Ed25519")
        if not audience:
            raise ValueError("an internal token verifier needs its service name as audience")
        return cls(key, audience)

    def verify(self, token: str) -> Principal:
        now = time.time()
        if self.cache_size > 0:
            with self._lock:
                entry = self._verified.get(token)
                if entry is not None:
                    if now < entry[0]:
                        self._verified.move_to_end(token)
                        return entry[1]
                    del self._verified[token]
        principal, expires = self._verify(token, now)
        if self.cache_size > 0:
            with self._lock:
                self._verified[token] = (expires, principal)
                while len(self._verified) > self.cache_size:
                    self._verified.popitem(last=False)
        return principal

    def _verify(self, token: str, now: float) -> tuple[Principal, float]:
        """The full check: signature, issuer, audience, validity window; (principal, expiry)."""
        try:
            header, payload, signature = token.encode().split(b".")
            if header != _JOSE_HEADER:  # only EdDSA is accepted: no algorithm confusion
                raise InvalidInternalToken("unexpected token header")
            self.public_key.verify(_unb64(signature), header + b"." + payload)
            claims = json.loads(_unb64(payload))
            if claims["iss"] != ISSUER or claims["aud"] != AUDIENCE_PREFIX + self.audience:
                raise InvalidInternalToken("wrong issuer or audience")
            expires = float(claims["exp"])
            if not claims["iat"] - 30 <= now < expires:
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
        return principal, expires
