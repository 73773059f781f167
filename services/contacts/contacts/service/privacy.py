"""GDPR: everything this service holds about one person (export), and erasing it (erase).

A person is a contact plus the ids merged into it: merged duplicates are the same person, so an
old id exports the survivor; erasing through an old id is refused (409 naming `merged_into`), as
every write through one is, so the caller names the record it means. Erasure deletes the row, its timeline, the merge snapshots
(full copies of the merged rows), failed import rows and stored files that mention it, and
replaces stored idempotent answers that carried it; the id (and each merged id) keeps an
anonymous tombstone so it answers 410 from then on. Its events carry ids only: republishing the
deleted data to say it is deleted would defeat the purpose.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from typing import Any

from sqlalchemy import ColumnElement, Table, Text, cast, delete, func, or_, select, update
from sqlalchemy.orm import Session

from contacts.models import Activity, Company, Contact, ErasedContact, Job, JobError, Merge
from contacts.schemas.activities import ActivitySchema, attendee
from contacts.schemas.companies import CompanySchema
from contacts.schemas.privacy import ImportErrorRecordSchema, MergeRecordSchema
from contacts.service.activities import activity_service, refresh_company_last_contacted
from contacts.service.contacts import ContactService
from contacts.service.jobs import RESTART, delete_chunks, files_table, job_body, queue_table
from contacts.service.properties import active_definitions
from crm_core import context
from crm_core.errors import Gone
from crm_db.base import utcnow
from crm_events.outbox import Outbox

WORDS = re.compile(r"[\s,;<>()\[\]\"']+")  # what separates addresses in a CSV cell ("a@x.com; b@y.com")
ERASED = "(erased)"  # stands in for an erased email in the `changes` of redacted activities
EVENTS_NOTE = (
    "This document holds everything the contacts service stores about this person. Changes to it were also "
    "published as events (topics crm.contacts.contact and crm.contacts.activity) to the platform's other "
    "services, such as reporting and webhook deliveries; erasing the contact (POST /v1/contacts/{id}/erase) "
    "emits crm.contact.erased, on which they drop or redact what they hold about it."
)


def person_ids(contact: Contact) -> list[uuid.UUID]:
    """The contact's id and the ids merged into it: one person."""
    return [contact.id, *(uuid.UUID(str(i)) for i in contact.merged_ids or ())]


def json_forms(text: str) -> list[str]:
    """How a string can appear in stored JSON text: as is (PostgreSQL jsonb) or \\u-escaped (json.dumps)."""
    return list(dict.fromkeys([text, json.dumps(text)[1:-1]]))


def merges_of(session: Session, ids: list[uuid.UUID]) -> list[Merge]:
    """Contact merges this person took part in, undone ones included (their snapshots remain)."""
    return list(session.scalars(select(Merge).where(
        Merge.object == "contact", or_(Merge.primary_id.in_(ids), Merge.secondary_id.in_(ids)),
    ).order_by(Merge.created_at, Merge.id)))


def about_this_person(merges: list[Merge], ids: list[uuid.UUID]) -> list[Merge]:
    """Merges whose secondary is this person: all but the undone ones in which it was the primary,
    since an undone merge's secondary is a separate, living contact again."""
    return [m for m in merges if m.undone_at is None or m.secondary_id in ids]


def emails_of(contact: Contact, merges: list[Merge]) -> list[str]:
    """Every address the person had here, the merged duplicates' included (kept in the snapshots).
    `merges` must be about_this_person(...)."""
    found: list[str | None] = [contact.email, *(contact.emails or ())]
    for merge in merges:
        secondary = (merge.snapshot or {}).get("secondary") or {}
        found += [secondary.get("email"), *(secondary.get("emails") or ())]
    return sorted({e.lower() for e in found if e})


def import_errors_mentioning(session: Session, ids: list[uuid.UUID], emails: list[str]) -> list[JobError]:
    """Failed import rows that carry one of the person's emails or ids in any cell."""
    needles = [*emails, *(str(i) for i in ids)]
    text = cast(JobError.row, Text)
    candidates = session.scalars(select(JobError).where(
        or_(*(text.icontains(form, autoescape=True) for n in needles for form in json_forms(n))),
    ).order_by(JobError.job_id, JobError.row_number))
    # The text match narrows in the database; the cells' words decide ("a@b.co" is not in "ja@b.com").
    wanted = set(needles)
    return [e for e in candidates
            if any(wanted.intersection(WORDS.split(str(v).lower())) for v in (e.row or {}).values())]


class PrivacyService:
    def __init__(self, outbox: Outbox, contacts: ContactService, idempotency: Table) -> None:
        self.outbox, self.contacts, self.idempotency = outbox, contacts, idempotency
        self.activities = activity_service(outbox)
        self.activity_out, self.company_out = ActivitySchema(), CompanySchema()
        self.merge_out, self.import_error_out = MergeRecordSchema(), ImportErrorRecordSchema()

    # --- export ------------------------------------------------------------------------------
    def export(self, session: Session, record_id: uuid.UUID) -> dict[str, Any]:
        contact = self.contacts.get(session, record_id)  # a merged id exports its survivor; erased: 410
        ids = person_ids(contact)
        body = dict(self.contacts.body(session, contact))
        active = active_definitions(session, "contact")
        # Archived fields are hidden from the API but still held: an export shows them.
        body["archived_properties"] = {k: v for k, v in (contact.properties or {}).items() if k not in active}
        activities = session.scalars(select(Activity).where(Activity.contact_id.in_(ids))
                                     .order_by(Activity.occurred_at, Activity.id))
        links = list(dict.fromkeys([*(str(c) for c in contact.company_ids or ()),
                                    *([str(contact.company_id)] if contact.company_id else [])]))
        companies = {str(c.id): c for c in session.scalars(
            select(Company).where(Company.id.in_([uuid.UUID(c) for c in links])))} if links else {}
        merges = about_this_person(merges_of(session, ids), ids)
        errors = import_errors_mentioning(session, ids, emails_of(contact, merges))
        return {
            "contact": body,
            "activities": [self.activity_out.dump(a) for a in activities],
            "companies": [self.company_out.dump(companies[c]) for c in links if c in companies],
            "merges": [self.merge_out.dump(m) for m in merges],
            "import_errors": [self.import_error_out.dump(e) for e in errors],
            "events_note": EVENTS_NOTE,
            "exported_at": utcnow(),
        }

    # --- erase -------------------------------------------------------------------------------
    def erase(self, session: Session, record_id: uuid.UUID, expected_version: int | None) -> dict[str, Any]:
        try:
            contact = self.contacts.get(session, record_id, for_update=True)
        except Gone:
            # Erasing twice reaches the same state: answer with the first erasure.
            tombstone = session.get(ErasedContact, (context.require_tenant(), record_id))
            if tombstone is None:
                raise
            return {"id": record_id, "merged_ids": [], "erased_at": tombstone.created_at}
        self.contacts.check_version(contact, expected_version)
        ids, now = person_ids(contact), utcnow()
        merges = merges_of(session, ids)
        emails = emails_of(contact, about_this_person(merges, ids))  # read before the snapshots that hold some of them go
        self._delete_timeline(session, contact, ids)
        for merge in merges:
            session.delete(merge)
        for error in import_errors_mentioning(session, ids, emails):
            session.delete(error)
        self._redact_attendees(session, emails)
        from contacts.service.mail_privacy import forget_logged_mail  # builds on this module

        forget_logged_mail(session, self.outbox, ids, emails)
        session.delete(contact)
        session.flush()
        tenant = context.require_tenant()
        for erased_id in ids:
            if session.get(ErasedContact, (tenant, erased_id)) is None:
                session.add(ErasedContact(id=erased_id, created_at=now, updated_at=now))
        session.flush()
        self._forget_answers(session, ids)
        scrub_files(session, self.outbox, ids, emails, identifiers(contact, emails))
        merged_ids = [str(i) for i in ids[1:]]
        self.outbox.emit(session, "crm.contact.erased", contact.id,
                         {"id": str(contact.id), "merged_ids": merged_ids, "erased_at": now})
        return {"id": contact.id, "merged_ids": merged_ids, "erased_at": now}

    def _delete_timeline(self, session: Session, contact: Contact, ids: list[uuid.UUID]) -> None:
        """Delete the person's activities; each emits crm.activity.deleted with ids only. Locks in the
        timeline order (contact, its companies by id, activities); the companies' last_contacted_at
        is recomputed without them."""
        company_ids = {uuid.UUID(str(c)) for c in contact.company_ids or ()}
        company_ids.update(session.scalars(select(Activity.company_id).distinct().where(
            Activity.contact_id.in_(ids), Activity.company_id.is_not(None))))
        for company_id in sorted(company_ids):
            session.scalars(select(Company.id).where(Company.id == company_id).with_for_update()).first()
        rows = session.scalars(select(Activity).where(Activity.contact_id.in_(ids)).with_for_update()).all()
        for row in rows:
            session.delete(row)
            self.outbox.emit(session, "crm.activity.deleted", row.id, {
                "id": str(row.id), "contact_id": str(row.contact_id),
                "company_id": str(row.company_id) if row.company_id else None, "erased": True})
        session.flush()
        for company_id in sorted(company_ids):
            refresh_company_last_contacted(session, self.outbox, company_id)

    def _redact_attendees(self, session: Session, emails: list[str]) -> None:
        """Other people's meetings keep happening, without the erased person's address among the attendees."""
        if not emails:
            return
        text = cast(Activity.attendees, Text)
        conditions: list[ColumnElement[bool]] = [text.contains(f'"{form}"', autoescape=True)
                                                 for e in emails for form in json_forms(e)]
        erased = set(emails)
        for activity in session.scalars(select(Activity).where(or_(*conditions)).with_for_update()).all():
            before = [attendee(a) for a in activity.attendees or []]  # {"email", "name", "status"}
            if not erased.intersection(a["email"] for a in before):
                continue
            activity.attendees = [a for a in before if a["email"] not in erased]
            session.flush()
            # `changes` names the old list without the address (or name) it is erasing.
            self.outbox.emit(session, "crm.activity.updated", activity.id, self.activities.body(session, activity),
                             changes={"attendees": [[ERASED if a["email"] in erased else a for a in before],
                                                    activity.attendees]})

    def _forget_answers(self, session: Session, ids: list[uuid.UUID]) -> None:
        """Stored idempotent answers (a create, a merge, an activity...) that carried the person now
        replay as 410: the data goes, and a late retry of the create does not bring the person back."""
        table = self.idempotency
        gone = json.dumps(Gone("The contact this request was about was erased.").to_dict())
        session.execute(update(table).where(
            table.c.tenant_id == context.require_tenant(), table.c.status.is_not(None),
            or_(*(table.c.body.contains(str(i)) for i in ids)),
        ).values(status=410, body=gone, location=None))



# --- stored files ----------------------------------------------------------------------------------

def _pg_escaped(needle: bytes) -> str:
    """`needle` as PostgreSQL's encode(bytea, 'escape') writes it: zero and high bytes as \\nnn, `\\` doubled."""
    return "".join("\\\\" if b == 0x5C else (f"\\{b:03o}" if b == 0 or b >= 0x80 else chr(b)) for b in needle)


def _holds(session: Session, data: ColumnElement[Any], needle: bytes) -> ColumnElement[bool]:
    """A binary column contains `needle` (ASCII case folded), searched in the database."""
    if session.get_bind().dialect.name == "postgresql":
        return func.strpos(func.lower(func.encode(data, "escape")), _pg_escaped(needle)) > 0
    return func.instr(func.lower(data), needle.decode("utf-8", "replace")) > 0


FINISHED, UNFINISHED = ("completed", "failed"), ("queued", "running")


def identifiers(contact: Contact, emails: list[str]) -> list[bytes]:
    """What finds the person in a stored CSV (lower case): emails, the phone as stored (E.164), and
    the full name as two cells or one ("Ada,Lovelace", "Ada Lovelace", quoted cells). A first name
    alone would match other people's files, so a name counts only with both parts."""
    found = [e.lower() for e in emails]
    if contact.phone:
        found.append(contact.phone.lower())
    first, last = (contact.first_name or "").strip().lower(), (contact.last_name or "").strip().lower()
    if first and last:
        found += [f"{first},{last}", f"{first};{last}", f"{first}\t{last}", f"{first} {last}", f'{first}","{last}']
    return [f.encode() for f in dict.fromkeys(found)]


def chunks_mentioning(session: Session, kind: str, part: str, needles: list[bytes], *,
                      straddling: bool, statuses: tuple[str, ...] = FINISHED) -> set[tuple[uuid.UUID, int]]:
    """(job, seq) of the file chunks of jobs in `statuses` that contain a needle (lower case). With
    `straddling`, also a needle cut in two by a chunk boundary (uploads are cut every 1 MiB)."""
    table, tenant = files_table(), context.require_tenant()
    finished = select(Job.id).where(Job.tenant_id == tenant, Job.kind == kind, Job.status.in_(statuses))
    scope = (table.c.tenant_id == tenant, table.c.part == part, table.c.job_id.in_(finished))
    hits = {(r.job_id, r.seq) for r in session.execute(select(table.c.job_id, table.c.seq).where(
        *scope, or_(*(_holds(session, table.c.data, n) for n in needles))))}
    if straddling:
        k = max(len(n) for n in needles) - 1  # a cut needle has at most k bytes on either side
        edges = session.execute(select(
            table.c.job_id, table.c.seq, func.substr(table.c.data, 1, k).label("head"),
            func.substr(table.c.data, func.length(table.c.data) - k + 1, k).label("tail"),
        ).where(*scope).order_by(table.c.job_id, table.c.seq)).all()
        for this, after in zip(edges, edges[1:], strict=False):
            if this.job_id == after.job_id and after.seq == this.seq + 1:
                seam = (bytes(this.tail) + bytes(after.head)).lower()
                if any(n in seam for n in needles):
                    hits.add((this.job_id, this.seq))
    return hits


def _drop_rows(session: Session, job_id: uuid.UUID, seq: int, ids: set[str]) -> None:
    """Rewrite one export chunk without the rows of `ids` (chunks end on row boundaries; id is column 1)."""
    table = files_table()
    where = (table.c.tenant_id == context.require_tenant(), table.c.job_id == job_id, table.c.part == "output",
             table.c.seq == seq)
    data = session.execute(select(table.c.data).where(*where)).scalar_one()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # as the export wrote it
    for cells in csv.reader(io.StringIO(bytes(data).decode("utf-8"), newline="")):
        if not cells or cells[0] not in ids:
            writer.writerow(cells)
    session.execute(update(table).where(*where).values(data=out.getvalue().encode("utf-8")))


def scrub_files(session: Session, outbox: Outbox, ids: list[uuid.UUID], emails: list[str],
                needles: list[bytes]) -> None:
    """Files that still hold the person. Uploads of finished imports, which nothing reads any more,
    are deleted. An import still queued or running whose file holds the person is stopped (failed,
    its file deleted, its queue row gone: the worker's next batch finds its lease lost and commits
    nothing), so it cannot bring the person back. Finished exports lose the person's rows and stay
    downloadable; a queued or running one is told to start its file again (run_export), so rows it
    read before this erasure never reach the file."""
    if needles:
        uploads = chunks_mentioning(session, "import", "upload", needles, straddling=True)
        for job_id in sorted({job for job, _ in uploads}):
            delete_chunks(session, job_id, "upload")
        running = chunks_mentioning(session, "import", "upload", needles, straddling=True, statuses=UNFINISHED)
        for job_id in sorted({job for job, _ in running}):
            _stop_import(session, outbox, job_id)
    wanted = {str(i) for i in ids}
    for job_id, seq in sorted(chunks_mentioning(session, "export", "output", [i.encode() for i in sorted(wanted)],
                                                straddling=False)):
        _drop_rows(session, job_id, seq, wanted)
    for job in session.scalars(select(Job).where(Job.kind == "export", Job.status.in_(UNFINISHED))
                               .order_by(Job.id).with_for_update()):
        job.params = {**job.params, RESTART: True}


def _stop_import(session: Session, outbox: Outbox, job_id: uuid.UUID) -> None:
    job = session.scalars(select(Job).where(Job.id == job_id).with_for_update()).one()
    job.status, job.finished_at = "failed", utcnow()
    job.error = "Stopped: the file held data of a contact who was erased meanwhile; the file was deleted."
    delete_chunks(session, job_id, "upload")
    session.execute(delete(queue_table()).where(queue_table().c.job_id == job_id))
    session.flush()
    outbox.emit(session, "crm.import.failed", job.id, job_body(job))
