"""Erasure and logged mail: what the mail a user logged keeps of an erased person.

A logged email that only the erased person was matched to (or that matched nobody and has their
address) goes, with the addresses it waited under; one that other contacts also took part in stays
on their timelines without the person's address among its participants (their own email
activities are deleted with their timeline). Other people's email activities lose the address
from their participants, as meetings lose it from their attendees.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, delete, or_, select
from sqlalchemy.orm import Session

from contacts.models import Activity, LoggedEmail, logged_email_addresses
from contacts.service.activities import activity_service
from contacts.service.privacy import ERASED, json_forms
from crm_core import context
from crm_events.outbox import Outbox


def _mentions(column: Any, values: set[str]) -> list[ColumnElement[bool]]:
    """Candidates whose stored JSON text holds one of `values` as a string (narrowed in Python after)."""
    return [cast(column, Text).contains(f'"{form}"', autoescape=True) for v in sorted(values) for form in json_forms(v)]


def forget_logged_mail(session: Session, outbox: Outbox, ids: list[uuid.UUID], emails: list[str]) -> None:
    erased_ids, erased = {str(i) for i in ids}, set(emails)
    conditions = _mentions(LoggedEmail.contact_ids, erased_ids) + _mentions(LoggedEmail.participants, erased)
    if erased:
        conditions.append(LoggedEmail.from_address.in_(sorted(erased)))
    table = logged_email_addresses
    for row in session.scalars(select(LoggedEmail).where(or_(*conditions)).with_for_update()).all():
        others = [c for c in row.contact_ids or [] if c not in erased_ids]
        if not others:
            session.execute(delete(table).where(table.c.tenant_id == context.require_tenant(),
                                                table.c.logged_email_id == row.id))
            session.delete(row)
            continue
        row.contact_ids = others
        row.participants = [p for p in row.participants or [] if p.get("address") not in erased]
        if row.from_address in erased:
            row.from_address = row.from_name = None
    session.flush()
    if not erased:
        return
    service = activity_service(outbox)
    for activity in session.scalars(select(Activity).where(or_(*_mentions(Activity.participants, erased)))
                                    .with_for_update()).all():
        before = list(activity.participants or [])
        kept = [p for p in before if p.get("address") not in erased]
        if len(kept) == len(before):
            continue
        activity.participants = kept
        session.flush()
        # `changes` names the old list without the address it is erasing.
        redacted = [{**p, "address": ERASED, "name": None} if p.get("address") in erased else p for p in before]
        outbox.emit(session, "crm.activity.updated", activity.id, service.body(session, activity),
                    changes={"participants": [redacted, kept]})
