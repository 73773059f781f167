"""The knowledge base: articles (Markdown in, sanitised HTML out) and their full-text search.

Search differs by engine (tickets/service/kb_search.py): on PostgreSQL a weighted tsvector
(title A, body B) in `search_vector`, under a GIN index led by tenant_id (btree_gin), built in the
article's language (`search_config`); on SQLite an FTS5 table `kb_articles_fts` that the service
keeps in step with the rows (the migration creates it; no model: SQLAlchemy has no virtual tables).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Index, String, Text
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
SEARCH_INDEX = "kb_articles_search_gin"

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
        # Search without a locale finds the tenant's text search configurations here (kb_search).
        Index("kb_articles_tenant_config_idx", "tenant_id", "search_config"),
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
    # The PostgreSQL text search configuration of the locale's language ('simple' where none fits).
    search_config: Mapped[str] = mapped_column(String(40), nullable=False, default="simple")
    search_vector: Mapped[str | None] = mapped_column(SearchVector, deferred=True)  # never loaded: written and matched in SQL
