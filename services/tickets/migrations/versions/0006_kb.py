"""kb tables: knowledge-base articles and their full-text search

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from crm_db.rls import disable_tenant_rls, enable_tenant_rls

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

SEARCH_VECTOR = sa.Text().with_variant(postgresql.TSVECTOR(), 'postgresql')


def upgrade() -> None:
    op.create_table('kb_articles',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('slug', sa.String(length=200), nullable=False),
    sa.Column('body_markdown', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=False),
    sa.Column('body_text', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=True),
    sa.Column('locale', sa.String(length=35), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_index('kb_articles_tenant_slug_key', 'kb_articles', ['tenant_id', 'slug'], unique=True)
    op.create_index('kb_articles_tenant_status_idx', 'kb_articles', ['tenant_id', 'status', 'category', 'id'], unique=False)
    op.create_index('kb_articles_tenant_created_idx', 'kb_articles', ['tenant_id', 'created_at', 'id'], unique=False)
    op.create_index('kb_articles_tenant_updated_idx', 'kb_articles', ['tenant_id', 'updated_at', 'id'], unique=False)
    # The search index: a platform table, no RLS (under RLS PostgreSQL would never use the GIN
    # index for @@; see tickets/models/kb.py). Every statement on it names its tenant.
    op.create_table('kb_search',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('article_id', sa.Uuid(), nullable=False),
    sa.Column('search_config', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('locale', sa.String(length=35), nullable=False),
    sa.Column('category', sa.String(length=100), nullable=True),
    sa.Column('search_vector', SEARCH_VECTOR, nullable=True),
    sa.PrimaryKeyConstraint('tenant_id', 'article_id')
    )
    op.create_index('kb_search_tenant_config_idx', 'kb_search', ['tenant_id', 'search_config'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        # Trusted extension (the database owner may create it): lets tenant_id lead the GIN index,
        # so a search reads only its tenant's postings.
        op.execute('CREATE EXTENSION IF NOT EXISTS btree_gin')
        op.execute('CREATE INDEX kb_search_gin ON kb_search USING gin (tenant_id, search_vector)')
    else:
        # SQLite (the embedded default): FTS5 with bm25 ranking, kept in step by the service.
        # Porter stemming over unicode61 (diacritics folded): English stems, other languages by word.
        op.execute("CREATE VIRTUAL TABLE kb_articles_fts USING fts5(title, body, tenant_id UNINDEXED, "
                   "article_id UNINDEXED, tokenize = 'porter unicode61 remove_diacritics 2')")
    enable_tenant_rls('kb_articles')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        op.execute('DROP TABLE IF EXISTS kb_articles_fts')
    disable_tenant_rls('kb_articles')
    op.drop_table('kb_search')
    op.drop_table('kb_articles')
