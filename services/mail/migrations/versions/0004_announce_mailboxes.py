"""announce every existing mailbox once (crm.mailbox.named): mailboxes made before the event existed

Data only: one outbox row per mailbox, which the relay publishes like any other; from now on
mail.service.mailboxes announces a mailbox when it is made or renamed.

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from alembic import op

from crm_core.ids import uuid7
from crm_events.envelope import Event, topic_for

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

EVENT = 'crm.mailbox.named'


def upgrade() -> None:
    conn = op.get_bind()
    outbox = sa.table('outbox', sa.column('tenant_id', sa.Uuid()), sa.column('event_id', sa.Uuid()),
                      sa.column('event_type', sa.String()), sa.column('topic', sa.String()), sa.column('key', sa.String()),
                      sa.column('payload', sa.Text()), sa.column('created_at', sa.DateTime(timezone=True)))
    mailboxes = sa.table('mailboxes', sa.column('tenant_id', sa.Uuid()), sa.column('name', sa.String()))
    now = dt.datetime.now(dt.UTC)
    rows = []
    for tenant, name in conn.execute(sa.select(mailboxes.c.tenant_id, mailboxes.c.name)).all():
        event_id = uuid7()
        event = Event(type=EVENT, source='mail', tenant_id=str(tenant), subject=str(tenant), id=str(event_id),
                      data={'tenant_id': str(tenant), 'name': name, 'previous_name': None})
        rows.append({'tenant_id': uuid.UUID(str(tenant)), 'event_id': event_id, 'event_type': EVENT,
                     'topic': topic_for('mail', EVENT), 'key': str(tenant), 'payload': event.to_json(), 'created_at': now})
    if rows:
        conn.execute(sa.insert(outbox), rows)


def downgrade() -> None:
    pass  # announcements once published cannot be taken back; nothing to undo in the schema
