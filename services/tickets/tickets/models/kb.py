"""The knowledge base: articles (Markdown in, sanitised HTML out) and their full-text search.

Search differs by engine (tickets/service/kb_search.py), and lives beside the articles in a search
index the service keeps in step with them:

- PostgreSQL: `kb_search`, one row per article: a weighted tsvector (title A, body B) in the
  article's language configuration, with what searches filter on (status, locale, category),
  under a GIN index led by tenant_id (btree_gin). A platform table, not under RLS, like the outbox
  and the timers: with RLS on, PostgreSQL never uses an index for a non-leakproof operator such
  as `@@` (the policy's condition must run first), so every search would read every article of
  every tenant. Every statement on it names its tenant; the rows it finds are then read from
  kb_articles, under RLS.
- SQLite: the FTS5 table `kb_articles_fts` (the migration creates it; no model: SQLAlchemy has no
  virtual tables). `kb_search` exists there too, empty.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import DateTime, Index, String, Text, Uuid
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from crm_db.base import TenantScoped
from tickets.models.base import Base

# draft: being written; internal: agents only (suggested on tickets, never on the help centre);
# published: on the tenant's public help centre too.
ARTICLE_STATUSES = ("draft", "internal", "published")
DEFAULT_LOCALE = "en"
FTS_TABLE = "kb_articles_fts"  # SQLite only (see the module docstring)
# PostgreSQL only: created by migration 0006, not by the model (SQLite has no GIN).
SEARCH_INDEX = "kb_search_gin"

# A tsvector on PostgreSQL; on SQLite the column exists but stays empty (FTS5 does the work there).
SearchVector = Text().with_variant(TSVECTOR(), "postgresql")


class KbArticle(TenantScoped, Base):
    __tablename__ = "kb_articles"
    __table_args__ = (
        Index("kb_articles_tenant_slug_key", "tenant_id", "slug", unique=True),
        # The help centre: published articles by category; the API's status filter.
        Index("kb_articles_tenant_status_idx", "tenant_id", "status", "category", "id"),
        Index("kb_articles_tenant_created_idx", "tenant_id", "created_at", "id"),
        Index("kb_articles_tenant_updated_idx", "tenant_id", "updated_at", "id"),
    )

    title: Mapped[str] = mapped_column(String(300), nullable=False)
    # Lower-case words joined by hyphens, unique per tenant: the help centre's article URLs.
    slug: Mapped[str] = mapped_column(String(200), nullable=False)
    body_markdown: Mapped[str] = mapped_column(Text, nullable=False, default="")
    body_html: Mapped[str] = mapped_column(Text, nullable=False, default="")  # rendered and sanitised
    body_text: Mapped[str] = mapped_column(Text, nullable=False, default="")  # what search indexes
    # A free label ("Billing", "Getting started"): the help centre groups by it.
    category: Mapped[str | None] = mapped_column(String(100))
    locale: Mapped[str] = mapped_column(String(35), nullable=False, default=DEFAULT_LOCALE)  # BCP 47
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="draft")
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))  # the first publication


class KbSearchEntry(Base):
    """An article in PostgreSQL's search index (see the module docstring): no RLS, every statement
    names the tenant. Written only by tickets.service.kb_search."""

    __tablename__ = "kb_search"
    __table_args__ = (
        # Search without a locale finds the tenant's configurations here (a loose index scan).
        Index("kb_search_tenant_config_idx", "tenant_id", "search_config"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    article_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    # The PostgreSQL text search configuration of the locale's language ('simple' where none fits).
    search_config: Mapped[str] = mapped_column(String(40), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    locale: Mapped[str] = mapped_column(String(35), nullable=False)
    category: Mapped[str | None] = mapped_column(String(100))
    search_vector: Mapped[str | None] = mapped_column(SearchVector)
