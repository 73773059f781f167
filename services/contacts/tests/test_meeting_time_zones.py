"""A meeting's time_zone that names no zone (a tzdata directory, a path, garbage) is a 422 naming
time_zone, never a 500 from ZoneInfo going to disk; the shared check and crm_ical agree."""

from __future__ import annotations

from logged_mail_helpers import Api

import crm_ical
from crm_core.timezones import is_time_zone
from crm_testing.apps import ServiceHarness

MEETING = {"type": "meeting", "subject": "Demo", "starts_at": "2026-03-05T09:00:00Z", "ends_at": "2026-03-05T10:00:00Z"}
NOT_ZONES = ("Europe", "America/Argentina", "", "../etc", "/etc/passwd", "Europe/", "\x00", "Europe/" + "x" * 300)


def test_meeting_time_zone_that_is_no_zone_is_422(contacts_service: ServiceHarness) -> None:
    a = Api(contacts_service, "a")
    path = f"/v1/contacts/{a.contact('ada@example.com')['id']}/activities"
    for name in ("Europe", "America/Argentina", "../etc", "Europe/"):
        assert "time_zone" in a("POST", path, {**MEETING, "time_zone": name}, 422)["errors"], name
    assert a("POST", path, {**MEETING, "time_zone": "Europe/Berlin"}, 201)["time_zone"] == "Europe/Berlin"


def test_shared_check_and_ical_refuse_every_invalid_name() -> None:
    for name in NOT_ZONES:
        assert not is_time_zone(name), name
        assert crm_ical.zone(name) is None, name
    assert is_time_zone("Europe/Berlin") and str(crm_ical.zone("Europe/Berlin")) == "Europe/Berlin"
