"""/v1/mail/suppressions: list, filter, add, lift (admins); isolation."""

from __future__ import annotations

from crm_testing.apps import ServiceHarness

BASE = "/v1/mail/suppressions"


def test_suppressions_are_listed_filtered_added_and_lifted_by_admins(mail_service: ServiceHarness) -> None:
    h = mail_service.headers("a")
    made = mail_service.client.post(BASE, json={"address": "Out@Example.com", "reason": "unsubscribe"}, headers=h)
    assert made.status_code == 201, made.get_json()
    row = made.get_json()
    assert (row["address"], row["reason"]) == ("out@example.com", "unsubscribe")
    mail_service.client.post(BASE, json={"address": "m@example.com"}, headers=h)
    assert len(mail_service.client.get(BASE, headers=h).get_json()["data"]) == 2
    assert [s["address"] for s in mail_service.client.get(f"{BASE}?reason=unsubscribe", headers=h).get_json()["data"]] \
        == ["out@example.com"]
    assert len(mail_service.client.get(f"{BASE}?address=OUT@example.com", headers=h).get_json()["data"]) == 1
    assert mail_service.client.get(f"{BASE}?reason=spam", headers=h).status_code == 400
    bad = mail_service.client.post(BASE, json={"address": "x@example.com", "reason": "hard_bounce"}, headers=h)
    assert bad.status_code == 422 and "reason" in bad.get_json()["errors"]
    member = mail_service.headers("a", roles=("member",))
    assert mail_service.client.delete(f"{BASE}/{row['id']}", headers=member).status_code == 403
    assert mail_service.client.delete(f"{BASE}/{row['id']}", headers=h).status_code == 204
    assert mail_service.client.delete(f"{BASE}/{row['id']}", headers=h).status_code == 404


def test_another_tenant_can_neither_list_filter_nor_delete_them(mail_service: ServiceHarness) -> None:
    ha, hb = mail_service.headers("a"), mail_service.headers("b")
    row = mail_service.client.post(BASE, json={"address": "out@example.com"}, headers=ha).get_json()
    assert mail_service.client.get(BASE, headers=hb).get_json()["data"] == []
    assert mail_service.client.get(f"{BASE}?address=out@example.com", headers=hb).get_json()["data"] == []
    assert mail_service.client.delete(f"{BASE}/{row['id']}", headers=hb).status_code == 404
    assert len(mail_service.client.get(BASE, headers=ha).get_json()["data"]) == 1
