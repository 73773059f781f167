"""Internal tokens: reused by the gateway per (principal, audience), remembered by services once
verified; both caches compared with the uncached path on the same inputs."""

from __future__ import annotations

import time
import uuid

import pytest

from crm_core import internal_token as it
from crm_core.context import Principal
from crm_core.internal_token import InternalTokenSigner, InternalTokenVerifier, InvalidInternalToken, TokenCache


class Clock:
    """Stands in for the `time` module inside crm_core.internal_token."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))  # whole seconds, as tokens count them
        self.mono = 1000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.mono += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(it, "time", fake)
    return fake


@pytest.fixture
def keys() -> tuple[InternalTokenSigner, str]:
    private, public = it.generate_keypair()
    return InternalTokenSigner.from_pem(private), public


class CountingSigner(InternalTokenSigner):
    minted = 0

    def mint(self, principal: Principal, audience: str, ttl: int = it.TTL_SECONDS) -> str:
        self.minted += 1
        return super().mint(principal, audience, ttl)


def counting(signer: InternalTokenSigner) -> CountingSigner:
    return CountingSigner(signer.private_key)


def principal(tenant: uuid.UUID, user: uuid.UUID | None = None, scopes: tuple[str, ...] = ("contacts:read",),
              roles: tuple[str, ...] = ("owner",), key: uuid.UUID | None = None) -> Principal:
    return Principal(tenant_id=tenant, user_id=user, roles=roles, scopes=scopes, api_key_id=key)


def test_reused_within_the_window_then_minted_again(clock: Clock, keys: tuple[InternalTokenSigner, str]) -> None:
    signer = counting(keys[0])
    cache = TokenCache(signer, reuse_seconds=20)
    p = principal(uuid.uuid4(), uuid.uuid4())
    first = cache.token(p, "contacts")
    clock.advance(19)
    assert cache.token(p, "contacts") == first and signer.minted == 1
    clock.advance(2)
    fresh = cache.token(p, "contacts")
    assert signer.minted == 2 and fresh != first
    # A reused token still has most of its lifetime: the service accepts it at the end of the window.
    verifier = InternalTokenVerifier.from_pem(keys[1], "contacts")
    clock.advance(19.9)
    assert verifier.verify(fresh) == p


def test_keyed_by_everything_the_token_asserts_and_by_audience(clock: Clock,
                                                               keys: tuple[InternalTokenSigner, str]) -> None:
    signer = counting(keys[0])
    cache = TokenCache(signer, reuse_seconds=20)
    user = uuid.uuid4()
    a, b = principal(uuid.uuid4(), user), principal(uuid.uuid4(), user)  # same user id, two tenants
    variants = [a, b, principal(a.tenant_id, user, scopes=("contacts:read", "contacts:write")),
                principal(a.tenant_id, user, roles=("viewer",)), principal(a.tenant_id, None, key=uuid.uuid4()),
                principal(a.tenant_id, uuid.uuid4())]
    tokens = {cache.token(p, "contacts") for p in variants}
    assert len(tokens) == len(variants) == signer.minted
    contacts = InternalTokenVerifier.from_pem(keys[1], "contacts")
    for p in variants:
        assert contacts.verify(cache.token(p, "contacts")) == p  # each principal gets its own claims back
    assert signer.minted == len(variants)
    for_tickets = cache.token(a, "tickets")
    assert for_tickets != cache.token(a, "contacts")
    with pytest.raises(InvalidInternalToken):
        contacts.verify(for_tickets)
    assert InternalTokenVerifier.from_pem(keys[1], "tickets").verify(for_tickets) == a


def test_bounded_and_off_switch(clock: Clock, keys: tuple[InternalTokenSigner, str]) -> None:
    signer = counting(keys[0])
    cache = TokenCache(signer, reuse_seconds=20, size=2)
    p1, p2, p3 = (principal(uuid.uuid4()) for _ in range(3))
    for p in (p1, p2, p3):
        cache.token(p, "contacts")
    assert len(cache._tokens) == 2
    cache.token(p3, "contacts")
    cache.token(p1, "contacts")  # evicted: minted again
    assert signer.minted == 4
    never = TokenCache(signer, reuse_seconds=0)
    never.token(p1, "contacts")
    never.token(p1, "contacts")
    assert signer.minted == 6
    with pytest.raises(ValueError):
        TokenCache(signer, reuse_seconds=30)


def test_tokens_carry_no_request_id(keys: tuple[InternalTokenSigner, str]) -> None:
    import base64
    import json

    token = keys[0].mint(principal(uuid.uuid4()), "contacts")
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert "rid" not in claims and set(claims) == {"iss", "aud", "iat", "exp", "tid", "sub", "key", "roles", "scp"}


def test_verified_cache_matches_the_full_check(clock: Clock, keys: tuple[InternalTokenSigner, str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    signer, public = keys
    cached = InternalTokenVerifier.from_pem(public, "contacts")
    uncached = InternalTokenVerifier(cached.public_key, "contacts", cache_size=0)
    checks = []
    full = InternalTokenVerifier._verify
    monkeypatch.setattr(InternalTokenVerifier, "_verify",
                        lambda self, token, now: checks.append(self) or full(self, token, now))
    p = principal(uuid.uuid4(), uuid.uuid4(), scopes=("contacts:read", "contacts:write"))
    token = signer.mint(p, "contacts", ttl=60)
    for _ in range(5):
        assert cached.verify(token) == uncached.verify(token) == p
    assert checks.count(cached) == 1 and checks.count(uncached) == 5
    # Expiry is honoured from the cache exactly as by the full check.
    clock.advance(59.9)
    assert cached.verify(token) == p
    clock.advance(0.2)
    for verifier in (cached, uncached):
        with pytest.raises(InvalidInternalToken):
            verifier.verify(token)
    assert token not in cached._verified
    # Anything that is not byte for byte a verified token goes through the full check.
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    clock.advance(-1)
    with pytest.raises(InvalidInternalToken):
        cached.verify(forged)


def test_verified_cache_is_bounded_and_per_audience(clock: Clock, keys: tuple[InternalTokenSigner, str]) -> None:
    signer, public = keys
    verifier = InternalTokenVerifier.from_pem(public, "contacts")
    verifier.cache_size = 3
    tokens = [signer.mint(principal(uuid.uuid4()), "contacts") for _ in range(5)]
    for token in tokens:
        verifier.verify(token)
    assert list(verifier._verified) == tokens[2:]
    tickets = InternalTokenVerifier.from_pem(public, "tickets")
    with pytest.raises(InvalidInternalToken):
        tickets.verify(tokens[-1])  # cached by contacts' verifier, still refused by tickets'
