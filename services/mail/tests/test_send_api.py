"""GET /v1/mail/messages: filters, cursors, attempts, raw; tenant B never sees tenant A's mail."""

from __future__ import annotations

from send_helpers import drain, queue, worker

from crm_testing.apps import ServiceHarness
from crm_testing.smtp import SmtpSink

BASE = "/v1/mail/messages"


def test_list_filters_pages_and_reads_with_attempts(relayed: ServiceHarness, sink: SmtpSink) -> None:
    a = relayed.tenant("a")
    first = queue(relayed, a, to=["x@example.com"], refers_to={"type": "ticket", "id": "T-1"})
    queue(relayed, a, to=["y@example.com"], purpose="marketing", refers_to={"type": "campaign", "id": "C-1"})
    queue(relayed, a, to=["z@example.com"], purpose="notification")
    sink.data_replies.append("550 5.7.1 no")  # the first attempt fails
    drain(worker(relayed))
    h = relayed.headers("a")
    page = relayed.client.get(f"{BASE}?limit=2", headers=h).get_json()
    assert len(page["data"]) == 2 and page["next_cursor"]
    rest = relayed.client.get(f"{BASE}?limit=2&cursor={page['next_cursor']}", headers=h).get_json()
    assert len(rest["data"]) == 1 and rest["next_cursor"] is None
    ticket = relayed.client.get(f"{BASE}?refers_to_type=ticket&refers_to_id=T-1", headers=h).get_json()["data"]
    assert [m["id"] for m in ticket] == [str(first)]
    assert ticket[0]["refers_to"] == {"type": "ticket", "id": "T-1"} and "mime" not in ticket[0]
    assert [m["purpose"] for m in relayed.client.get(f"{BASE}?purpose=marketing", headers=h).get_json()["data"]] == ["marketing"]
    assert len(relayed.client.get(f"{BASE}?status=failed", headers=h).get_json()["data"]) == 1
    bad = relayed.client.get(f"{BASE}?status=lost", headers=h)
    assert bad.status_code == 400 and "status" in bad.get_json()["errors"]
    one = relayed.client.get(f"{BASE}/{first}", headers=h).get_json()
    assert one["status"] in ("sent", "failed") and one["attempts"] == 1
    assert one["attempt_log"][0]["attempt"] == 1 and one["attempt_log"][0]["outcome"] == one["status"]
    raw = relayed.client.get(f"{BASE}/{first}/raw", headers=h)
    assert raw.status_code == 200 and raw.mimetype == "message/rfc822" and b"Message-ID:" in raw.data
    member = relayed.headers("a", roles=("member",))
    assert relayed.client.get(f"{BASE}/{first}/raw", headers=member).status_code == 403
    assert relayed.client.get(BASE, headers=relayed.headers("a", scopes=("contacts:read",))).status_code == 403


def test_another_tenant_can_neither_list_filter_nor_read_messages(relayed: ServiceHarness) -> None:
    a = relayed.tenant("a")
    mid = queue(relayed, a, to=["x@example.com"], refers_to={"type": "ticket", "id": "T-1"})
    hb = relayed.headers("b")
    assert relayed.client.get(BASE, headers=hb).get_json()["data"] == []
    assert relayed.client.get(f"{BASE}?refers_to_type=ticket&refers_to_id=T-1", headers=hb).get_json()["data"] == []
    assert relayed.client.get(f"{BASE}?status=queued", headers=hb).get_json()["data"] == []
    assert relayed.client.get(f"{BASE}/{mid}", headers=hb).status_code == 404
    assert relayed.client.get(f"{BASE}/{mid}/raw", headers=hb).status_code == 404
    assert relayed.client.get(f"{BASE}/not-an-id", headers=hb).status_code == 404
    assert relayed.client.get(f"{BASE}/{mid}", headers=relayed.headers("a")).status_code == 200
