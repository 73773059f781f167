"""The customer portal's small server-rendered pages (a browser asking for text/html gets these;
everything else gets JSON): plain forms, no script, a CSP that allows none."""

from __future__ import annotations

import html
from typing import Any

from flask import Response, request

from tickets.models.portal import PortalAttachment

COLLEAGUE = " · a colleague's"
# A page that carries a secret in its URL: never cached, never sent on as a Referer, never framed.
PAGE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
                "X-Robots-Tag": "noindex",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                           "frame-ancestors 'none'; base-uri 'none'"}
STYLE = ("body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}"
         "label{display:block;margin-top:1rem;font-weight:600}input,textarea,select{font:inherit;width:100%;"
         "padding:.4rem;box-sizing:border-box}button{font:inherit;margin-top:1rem;padding:.5rem 1.2rem}"
         "article{border-top:1px solid #ccc;padding:.5rem 0}.meta{color:#555;font-size:.9rem}"
         "pre{white-space:pre-wrap;font:inherit}")


def wants_html() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.accept_mimetypes["text/html"] > request.accept_mimetypes["application/json"]


def page(title: str, body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    doc = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
           f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{html.escape(title)}</title>'
           f"<style>{STYLE}</style></head><body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>")
    return Response(doc, status=status, mimetype="text/html", headers={**PAGE_HEADERS, **(headers or {})})


def file_response(found: PortalAttachment) -> Response:
    # Always a download, never rendered in the portal's origin (an uploaded HTML file is not a page).
    name = found.filename.replace('"', "")
    return Response(found.content, mimetype=found.content_type, headers={
        "Content-Disposition": f'attachment; filename="{name}"', "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store", "Content-Security-Policy": "default-src 'none'; sandbox"})


def tickets_html(mailbox: str, email: str, data: list[dict[str, Any]], next_cursor: str | None) -> str:
    mb = html.escape(mailbox)
    items = "".join(
        f'<li><a href="/portal/{mb}/tickets/{t["number"]}">#{t["number"]} {html.escape(t["subject"])}</a> '
        f'<span class="meta">{html.escape(t["status"])}{"" if t["mine"] else COLLEAGUE}</span></li>'
        for t in data) or "<li>No requests yet.</li>"
    more = f'<p><a href="/portal/{mb}/tickets?cursor={html.escape(next_cursor)}">Older requests</a></p>' if next_cursor else ""
    return (f'<p class="meta">Signed in as {html.escape(email)}.</p>'
            f'<form method="post" action="/portal/{mb}/session/logout"><button type="submit">Sign out</button></form>'
            f"<h2>Requests</h2><ul>{items}</ul>{more}"
            f'<h2>New request</h2><form method="post" action="/portal/{mb}/tickets" enctype="multipart/form-data">'
            '<label for="subject">Subject</label><input id="subject" name="subject" required maxlength="300">'
            '<label for="text">How can we help?</label><textarea id="text" name="text" rows="6" required></textarea>'
            '<label for="attachments">Files (optional)</label><input id="attachments" name="attachments" type="file" multiple>'
            '<button type="submit">Send</button></form>')


def ticket_html(mailbox: str, body: dict[str, Any]) -> str:
    mb = html.escape(mailbox)
    messages = []
    for m in body["messages"]:
        who = "You" if m["author_type"] == "customer" else html.escape(m["author_name"] or "Support")
        files = "".join(f'<li><a href="{html.escape(a["url"])}">{html.escape(a["filename"])}</a></li>'
                        for a in m["attachments"] if a["url"])
        messages.append(f'<article><p class="meta">{who} · <time datetime="{m["created_at"]}">{m["created_at"]}</time>'
                        f'</p><pre>{html.escape(m["text"])}</pre>{f"<ul>{files}</ul>" if files else ""}</article>')
    return (f'<p class="meta">Status: {html.escape(body["status"])} · <a href="/portal/{mb}/tickets">All requests</a></p>'
            f'<section aria-label="Conversation">{"".join(messages)}</section>'
            f'<h2>Reply</h2><form method="post" action="/portal/{mb}/tickets/{body["number"]}/messages" '
            'enctype="multipart/form-data"><label for="text">Your message</label>'
            '<textarea id="text" name="text" rows="5" required></textarea>'
            '<label for="attachments">Files (optional)</label><input id="attachments" name="attachments" type="file" multiple>'
            '<button type="submit">Send</button></form>')
