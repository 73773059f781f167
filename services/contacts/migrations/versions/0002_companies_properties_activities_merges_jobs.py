"""companies, custom fields, activities, merges, scoring, jobs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from crm_db.rls import disable_tenant_rls, enable_tenant_rls

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('activities',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('contact_id', sa.Uuid(), nullable=True),
    sa.Column('company_id', sa.Uuid(), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('author_id', sa.Uuid(), nullable=True),
    sa.Column('subject', sa.String(length=500), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('direction', sa.String(length=16), nullable=True),
    sa.Column('duration_seconds', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attendees', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.create_index('activities_company_timeline_idx', ['tenant_id', 'company_id', 'occurred_at', 'id'], unique=False)
        batch_op.create_index('activities_contact_timeline_idx', ['tenant_id', 'contact_id', 'occurred_at', 'id'], unique=False)

    op.create_table('companies',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('domain', sa.String(length=253), nullable=True),
    sa.Column('industry', sa.String(length=100), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('owner_id', sa.Uuid(), nullable=True),
    sa.Column('tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('properties', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('last_contacted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('merged_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id'),
    sa.UniqueConstraint('tenant_id', 'domain', name='companies_tenant_domain_key')
    )
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.create_index('companies_tenant_created_idx', ['tenant_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('companies_tenant_name_idx', ['tenant_id', 'name', 'id'], unique=False)
        batch_op.create_index('companies_tenant_updated_idx', ['tenant_id', 'updated_at', 'id'], unique=False)

    op.create_table('contact_settings',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('default_region', sa.String(length=2), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id')
    )
    op.create_table('erased_contacts',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    op.create_table('job_errors',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('row', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    with op.batch_alter_table('job_errors', schema=None) as batch_op:
        batch_op.create_index('job_errors_job_idx', ['tenant_id', 'job_id', 'row_number'], unique=False)

    op.create_table('job_files',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('part', sa.String(length=16), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'job_id', 'part', 'seq')
    )
    op.create_table('job_queue',
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('available_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('job_id')
    )
    op.create_table('jobs',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('object', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=True),
    sa.Column('rows_processed', sa.Integer(), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('jobs_tenant_kind_idx', ['tenant_id', 'kind', 'created_at', 'id'], unique=False)

    op.create_table('merges',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('object', sa.String(length=16), nullable=False),
    sa.Column('primary_id', sa.Uuid(), nullable=False),
    sa.Column('secondary_id', sa.Uuid(), nullable=False),
    sa.Column('snapshot', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    with op.batch_alter_table('merges', schema=None) as batch_op:
        batch_op.create_index('merges_primary_idx', ['tenant_id', 'object', 'primary_id'], unique=False)
        batch_op.create_index('merges_secondary_idx', ['tenant_id', 'object', 'secondary_id'], unique=False)

    op.create_table('property_definitions',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('object', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('options', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id'),
    sa.UniqueConstraint('tenant_id', 'object', 'key', name='property_definitions_key')
    )
    op.create_table('scoring_rules',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('filter', sa.Text(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('decay_days', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('emails', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column('company_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('company_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column('owner_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('lifecycle_stage', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('lead_status', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('source', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column('address', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('properties', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column('lead_score', sa.Integer(), nullable=False, server_default=sa.text("'0'")))
        batch_op.add_column(sa.Column('last_contacted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('merged_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column('search_text', sa.Text(), nullable=False, server_default=sa.text("''")))
        batch_op.create_index('contacts_tenant_company_idx', ['tenant_id', 'company_id'], unique=False)
        batch_op.create_index('contacts_tenant_last_contacted_idx', ['tenant_id', 'last_contacted_at', 'id'], unique=False)
        batch_op.create_index('contacts_tenant_phone_idx', ['tenant_id', 'phone'], unique=False)
        batch_op.create_index('contacts_tenant_score_idx', ['tenant_id', 'lead_score', 'id'], unique=False)
        batch_op.create_index('contacts_tenant_stage_idx', ['tenant_id', 'lifecycle_stage', 'created_at', 'id'], unique=False)
        batch_op.create_index('contacts_tenant_updated_idx', ['tenant_id', 'updated_at', 'id'], unique=False)

    # Existing contacts become searchable (the service keeps search_text current from here on).
    op.execute("UPDATE contacts SET search_text = lower(coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' "
               "|| coalesce(email, '') || ' ' || coalesce(phone, '') || ' ' || coalesce(company_name, ''))")
    if op.get_bind().dialect.name == "postgresql":
        # Trusted extensions: the database owner may create them. btree_gin lets tenant_id lead a GIN index.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
        for table in ("contacts", "companies"):
            # Custom-field filters (`=`, `in`) compile to JSONB containment, which these serve.
            op.execute(f"CREATE INDEX {table}_properties_gin ON {table} USING gin (tenant_id, properties jsonb_path_ops)")
            op.execute(f"CREATE INDEX {table}_tags_gin ON {table} USING gin (tenant_id, tags jsonb_path_ops)")
            # `q=` search: substring match on names, emails, phones and company names.
            op.execute(f"CREATE INDEX {table}_search_trgm ON {table} USING gin (search_text gin_trgm_ops)")
        op.execute("CREATE INDEX contacts_company_ids_gin ON contacts USING gin (tenant_id, company_ids jsonb_path_ops)")
        # Additional emails: duplicate finding (`emails @> '["x"]'`) and `emails contains` filters.
        op.execute("CREATE INDEX contacts_emails_gin ON contacts USING gin (tenant_id, emails jsonb_path_ops)")
    enable_tenant_rls('companies', 'property_definitions', 'activities', 'scoring_rules', 'merges', 'erased_contacts', 'jobs', 'job_errors', 'job_files', 'contact_settings')


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in ("contacts_properties_gin", "contacts_tags_gin", "contacts_search_trgm", "companies_properties_gin",
                     "companies_tags_gin", "companies_search_trgm", "contacts_company_ids_gin", "contacts_emails_gin"):
            op.execute(f"DROP INDEX IF EXISTS {name}")
    disable_tenant_rls('companies', 'property_definitions', 'activities', 'scoring_rules', 'merges', 'erased_contacts', 'jobs', 'job_errors', 'job_files', 'contact_settings')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index('contacts_tenant_updated_idx')
        batch_op.drop_index('contacts_tenant_stage_idx')
        batch_op.drop_index('contacts_tenant_score_idx')
        batch_op.drop_index('contacts_tenant_phone_idx')
        batch_op.drop_index('contacts_tenant_last_contacted_idx')
        batch_op.drop_index('contacts_tenant_company_idx')
        batch_op.drop_column('search_text')
        batch_op.drop_column('merged_ids')
        batch_op.drop_column('last_contacted_at')
        batch_op.drop_column('lead_score')
        batch_op.drop_column('properties')
        batch_op.drop_column('address')
        batch_op.drop_column('tags')
        batch_op.drop_column('source')
        batch_op.drop_column('lead_status')
        batch_op.drop_column('lifecycle_stage')
        batch_op.drop_column('owner_id')
        batch_op.drop_column('company_ids')
        batch_op.drop_column('company_id')
        batch_op.drop_column('emails')

    op.drop_table('scoring_rules')
    op.drop_table('property_definitions')
    with op.batch_alter_table('merges', schema=None) as batch_op:
        batch_op.drop_index('merges_secondary_idx')
        batch_op.drop_index('merges_primary_idx')

    op.drop_table('merges')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('jobs_tenant_kind_idx')

    op.drop_table('jobs')
    op.drop_table('job_queue')
    op.drop_table('job_files')
    with op.batch_alter_table('job_errors', schema=None) as batch_op:
        batch_op.drop_index('job_errors_job_idx')

    op.drop_table('job_errors')
    op.drop_table('erased_contacts')
    op.drop_table('contact_settings')
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.drop_index('companies_tenant_updated_idx')
        batch_op.drop_index('companies_tenant_name_idx')
        batch_op.drop_index('companies_tenant_created_idx')

    op.drop_table('companies')
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_index('activities_contact_timeline_idx')
        batch_op.drop_index('activities_company_timeline_idx')

    op.drop_table('activities')
