"""Pure pieces of webhook delivery: matching, backoff, signing, address checks (no I/O but DNS of literals)."""

from __future__ import annotations

import base64
import ipaddress

import pytest

from automation.deliveries import matches
from automation.signing import generate_secret, secret_bytes, sign
from automation.urls import UnsafeUrl, check, forbidden
from automation.worker import MAX_ATTEMPTS, retry_delay


def test_event_type_patterns() -> None:
    assert matches(["*"], "crm.deal.won")
    assert matches(["crm.deal.*"], "crm.deal.stage_changed")
    assert not matches(["crm.deal.*"], "crm.dealer.created")
    assert not matches(["crm.deal.*"], "crm.contact.created")
    assert matches(["crm.contact.created"], "crm.contact.created")
    assert not matches(["crm.contact.created"], "crm.contact.updated")
    assert matches(["crm.ticket.*", "crm.contact.deleted"], "crm.contact.deleted")
    assert not matches([], "crm.contact.created")


def test_backoff_schedule_spans_at_least_a_day() -> None:
    no_jitter = [retry_delay(n, 5.0, rand=lambda: 0.0) for n in range(1, MAX_ATTEMPTS)]
    assert no_jitter[:8] == [5, 30, 120, 600, 1800, 3600, 7200, 7200]
    assert sum(no_jitter) >= 24 * 3600  # the shortest possible schedule still covers 24 hours
    most = [retry_delay(n, 5.0, rand=lambda: 0.999) for n in range(1, MAX_ATTEMPTS)]
    assert all(a <= b < a * 1.25 for a, b in zip(no_jitter, most, strict=True))
    assert retry_delay(3, 0.0) == 0.0  # tests set the base to zero


def test_signature_matches_the_standard_webhooks_vector() -> None:
    # The published example of the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}') == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_generated_secrets_are_32_random_bytes() -> None:
    a, b = generate_secret(), generate_secret()
    assert a.startswith("whsec_") and a != b
    assert len(secret_bytes(a)) == 32 and base64.b64decode(a[6:]) == secret_bytes(a)


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "0.0.0.0", "224.0.0.1",
    "100.64.0.1", "240.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::",
])
def test_non_public_addresses_are_forbidden(address: str) -> None:
    assert forbidden(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert not forbidden(ipaddress.ip_address(address))


def test_check_resolves_literals_and_keeps_host_and_path() -> None:
    target = check("https://93.184.216.34:8443/in/hook?x=1", allow_private=False)
    assert (target.scheme, target.port, str(target.address)) == ("https", 8443, "93.184.216.34")
    assert target.path == "/in/hook?x=1" and target.host_header == "93.184.216.34:8443"
    assert check("http://[::1]/x", allow_private=True).host == "::1"
    for url in ("http://127.0.0.1:9/x", "http://localhost/x", "http://[::1]/", "ftp://93.184.216.34/",
                "http:///nohost", "http://user:pw@93.184.216.34/", "http://93.184.216.34:99999/"):
        with pytest.raises(UnsafeUrl):
            check(url, allow_private=False)
