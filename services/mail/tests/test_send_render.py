"""Rendering edge cases: long non-ASCII subjects and 100 recipients fold within RFC 5322's limits
and parse back to what was asked; inline images sit in multipart/related with the html."""

from __future__ import annotations

import base64
import email
import email.policy

from crm_mail.requests import build_request
from mail.service.render import Identity, render


def test_long_headers_fold_and_parse_back() -> None:
    subject = "Ünïcödé " * 40
    to = [{"address": f"person{i}@example.com", "name": f"Pérson, Nümber {i}"} for i in range(100)]
    raw = render(build_request(to=to, subject=subject.strip(), purpose="notification", text="x",
                               headers={"X-Note": ("ça " * 60).strip()}),
                 sender=Identity("a@example.com", 'Sales "Team" ✓'), message_id="<m@x>", reply_to=None)
    assert all(len(line) <= 998 for line in raw.split(b"\r\n")) and raw.isascii()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == subject.strip()
    assert [a.display_name for a in parsed["To"].addresses] == [t["name"] for t in to]
    assert parsed["From"].addresses[0].display_name == 'Sales "Team" ✓'
    assert parsed["X-Note"] == ("ça " * 60).strip()


def test_inline_images_are_related_to_the_html() -> None:
    png = base64.b64encode(b"\x89PNG fake").decode()
    raw = render(build_request(to=["a@example.com"], subject="Logo", purpose="marketing", text="t",
                               html='<img src="cid:logo">', attachments=[
                                   {"content_type": "image/png", "content_base64": png, "inline": True,
                                    "content_id": "logo", "filename": "logo.png"}]),
                 sender=Identity("a@example.com"), message_id="<m@x>", reply_to=None)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    html = parsed.get_body(("related",))
    assert html is not None and html.get_content_type() == "multipart/related"
    image = [p for p in html.iter_parts() if p.get_content_type() == "image/png"][0]
    assert image["Content-ID"] == "<logo>" and image.get_content() == b"\x89PNG fake"
