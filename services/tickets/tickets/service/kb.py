"""Use cases of the kb area: articles (rendered, indexed, published), suggested articles on new
tickets, and the portal mailbox projection fed by the mail service's crm.mailbox.named events."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, or_, select
from sqlalchemy.orm import Session

from crm_core.errors import Conflict
from crm_core.settings import Settings
from crm_db.base import as_utc, utcnow
from crm_db.database import Database
from crm_events.records import RecordService
from crm_runtime.cli import BackgroundLoop, ConsumerSpec
from tickets.models import Ticket
from tickets.models.kb import KbArticle
from tickets.models.portal import PortalMailbox
from tickets.service import kb_search
from tickets.service.kb_render import html_to_text, render, slugify

if TYPE_CHECKING:
    from tickets.service.desk import Desk

SUGGESTED_STATUSES = ("published", "internal")  # agents see internal articles; customers never do
SUGGESTIONS = 5
MAILBOX_GROUP = "tickets.mailboxes"
MAILBOX_TOPIC = "crm.mail.mailbox"
MAILBOX_NAMED = "crm.mailbox.named"
# A change to one of these re-indexes the article (the index filters on the last three).
_INDEXED = ("title", "body_markdown", "locale", "status", "category")


class ArticleService(RecordService[KbArticle]):
    model = KbArticle
    aggregate = "kb_article"  # crm.kb_article.created / updated / deleted on crm.tickets.kb_article

    def _free_slug(self, session: Session, base: str, own: uuid.UUID | None = None) -> str:
        """`base`, else base-2, base-3, ...: the first not taken in this tenant."""
        taken = set(session.scalars(select(KbArticle.slug).where(
            or_(KbArticle.slug == base, KbArticle.slug.like(f"{base}-%")), *([KbArticle.id != own] if own else []))))
        if base not in taken:
            return base
        n = 2
        while f"{base}-{n}" in taken:
            n += 1
        return f"{base}-{n}"

    def _check_slug(self, session: Session, slug: str, own: uuid.UUID | None = None) -> None:
        clash = select(KbArticle.id).where(KbArticle.slug == slug, *([KbArticle.id != own] if own else []))
        if session.scalars(clash).first() is not None:
            raise Conflict(f"Another article has the slug {slug!r}.", errors={"slug": ["Taken."]})

    @staticmethod
    def _render(values: dict[str, Any]) -> None:
        if "body_markdown" in values:
            values["body_markdown"] = values["body_markdown"] or ""
            values["body_html"] = render(values["body_markdown"])
            values["body_text"] = html_to_text(values["body_html"])

    def before_create(self, session: Session, values: dict[str, Any]) -> None:
        values.setdefault("body_markdown", "")
        self._render(values)
        if values.get("slug"):
            self._check_slug(session, values["slug"])
        else:
            values["slug"] = self._free_slug(session, slugify(values["title"]))
        if values.get("status") == "published":
            values["published_at"] = utcnow()

    def create(self, session: Session, values: dict[str, Any]) -> KbArticle:
        record = super().create(session, values)
        kb_search.index(session, record)
        return record

    def before_update(self, session: Session, record: KbArticle, values: dict[str, Any]) -> None:
        self._render(values)
        if values.get("slug") and values["slug"] != record.slug:
            self._check_slug(session, values["slug"], record.id)
        elif "slug" in values and not values["slug"]:
            values.pop("slug")  # blank: keep the one it has (URLs already shared)
        if values.get("status") == "published" and record.published_at is None:
            values["published_at"] = utcnow()

    def after_update(self, session: Session, record: KbArticle, changes: dict[str, list[Any]]) -> None:
        if any(key in changes for key in _INDEXED):
            kb_search.index(session, record)

    def before_delete(self, session: Session, record: KbArticle) -> None:
        kb_search.unindex(session, record.id)


# --- suggested articles --------------------------------------------------------------------------

def suggest(session: Session, subject: str, description: str | None, limit: int = SUGGESTIONS) -> list[str]:
    """Ids of the published and internal articles that rank best for a ticket's text, best first."""
    rows = kb_search.search(session, f"{subject}\n{description or ''}", [KbArticle.id],
                            kb_search.Filters(statuses=SUGGESTED_STATUSES), limit=limit, match_any=True)
    return [str(row.id) for row in rows]


def _on_created(session: Session, ticket: Ticket) -> None:
    ticket.suggested_article_ids = suggest(session, ticket.subject, ticket.description)


def install(desk: Desk) -> None:
    """Registers the area's ticket hooks: suggestions for every new ticket, in its transaction."""
    desk.hooks.created.append(_on_created)


# --- the mailbox names of the help centre (/portal/{mailbox}/) -------------------------------------

def _event_time(raw: Any) -> dt.datetime:
    try:
        return as_utc(dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00")))
    except ValueError:
        return utcnow()


def apply_mailbox_named(session: Session, tenant: uuid.UUID, name: str, when: dt.datetime) -> bool:
    """Point `name` at `tenant` (and drop the tenant's previous name). An event older than what the
    table holds changes nothing: a late redelivery of a name a tenant gave up must not take it back
    from the tenant that has it now. True if applied."""
    name = name.strip().lower()
    table = PortalMailbox.__table__
    # A platform table (no RLS): every statement names what it touches.
    rows = session.execute(select(table.c.tenant_id, table.c.name, table.c.updated_at)
                           .where(or_(table.c.tenant_id == tenant, table.c.name == name))).all()
    if any(as_utc(r.updated_at) > when for r in rows):
        return False
    if any(r.tenant_id == tenant and r.name == name for r in rows) and len(rows) == 1:
        return True
    session.execute(delete(table).where(or_(table.c.tenant_id == tenant, table.c.name == name)))
    session.execute(insert(table).values(name=name, tenant_id=tenant, updated_at=when))
    return True


def mailbox_handlers() -> dict[str, Any]:
    def on_named(session: Session, event: Any) -> None:
        data = event.data or {}
        tenant = uuid.UUID(str(event.tenant_id))
        if str(data.get("tenant_id") or tenant) != str(tenant) or not isinstance(data.get("name"), str):
            return  # about another tenant than it was written for, or malformed: not ours to act on
        apply_mailbox_named(session, tenant, data["name"], _event_time(event.time))

    return {MAILBOX_NAMED: on_named}


def consumers(settings: Settings, db: Database) -> list[ConsumerSpec]:
    """tickets.mailboxes: the mail service's mailbox names -> portal_mailboxes."""
    return [ConsumerSpec(MAILBOX_GROUP, [MAILBOX_TOPIC], mailbox_handlers())]


def background(settings: Settings, db: Database) -> list[BackgroundLoop]:
    """The area's background loops (run by the worker)."""
    return []


def mailbox_of(session: Session, tenant: uuid.UUID) -> str | None:
    """The tenant's help-centre mailbox name (links from the API to the help centre)."""
    table = PortalMailbox.__table__
    return session.scalars(select(table.c.name).where(table.c.tenant_id == tenant)).first()


