"""Generic use cases for a tenant record: create, read, update with a version check, delete, list.

Every write emits its event through the outbox in the caller's transaction. Services subclass
RecordService to add their rules in the before_* hooks.
"""

from __future__ import annotations

import collections
import functools
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import insert, inspect, select
from sqlalchemy.orm import Session, make_transient_to_detached

from crm_core import context
from crm_core.errors import NotFound, PreconditionFailed
from crm_db.base import TenantScoped
from crm_db.tenancy import Prefetch, TenantGuardError, defer
from crm_events.outbox import Outbox

R = TypeVar("R", bound=TenantScoped)


class RecordService(Generic[R]):
    model: type[R]
    aggregate: str  # "contact" -> events crm.contact.created / updated / deleted

    def __init__(self, outbox: Outbox, serialize: Callable[[R], dict[str, Any]]) -> None:
        self.outbox = outbox
        self.serialize = serialize

    # hooks
    def before_create(self, session: Session, values: dict[str, Any]) -> None: ...

    def before_update(self, session: Session, record: R, values: dict[str, Any]) -> None: ...

    def before_delete(self, session: Session, record: R) -> None: ...

    def after_update(self, session: Session, record: R, changes: dict[str, list[Any]]) -> None: ...

    def prefetch(self, values: dict[str, Any]) -> Sequence[Prefetch]:
        """Reads a create of these values will need, sent with the transaction's BEGIN."""
        return ()

    def fast_create(self, session: Session) -> bool:
        """Whether create_body may insert the row without an ORM object (see create_body): not
        where a subclass adds to create() or body(); such a subclass says when it may."""
        cls = type(self)
        return cls.create is RecordService.create and cls.body is RecordService.body

    # use cases
    def get(self, session: Session, record_id: uuid.UUID, *, for_update: bool = False) -> R:
        stmt = select(self.model).where(self.model.id == record_id)
        if for_update:
            stmt = stmt.with_for_update()
        record = session.scalars(stmt).first()
        if record is None:
            raise NotFound(f"No {self.aggregate} with id {record_id}.")
        return record

    def body(self, session: Session, record: R) -> dict[str, Any]:
        """The record as the API shows it; serialised once per version within a transaction
        (the event written by a use case and the HTTP answer share it)."""
        cache: dict[tuple[type, Any, int], dict[str, Any]] = session.info.setdefault("crm_bodies", {})
        # Keyed by identity and version, never by id(): a freed object's address can be reused.
        key = (type(record), record.id, record.version)
        body = cache.get(key)
        if body is None:
            body = cache[key] = self.serialize(record)
        return body

    def create(self, session: Session, values: dict[str, Any]) -> R:
        self.before_create(session, values)
        record = self.model(**values)  # validators and attribute events run as usual
        if _plain_row(self.model):
            _insert_plain(session, record)
        else:
            session.add(record)
            session.flush()
        self.outbox.emit(session, f"crm.{self.aggregate}.created", record.id, self.body(session, record))
        return record

    def create_body(self, session: Session, values: dict[str, Any], rows: Any = None) -> dict[str, Any]:
        """create() then body(), as one: for a plain row with a row serialiser (crm_http.rows),
        the row is built as a dict with the ORM's defaults, serialised once for the event and the
        answer, and inserted with a prebuilt Core statement queued, like its outbox row, to go out
        with the COMMIT (one round trip on PostgreSQL). The same row, event and answer as
        create(): services/contacts/tests/test_fast_writes.py compares them."""
        if rows is None or not _fast_insertable(self.model) or not self.fast_create(session):
            return self.body(session, self.create(session, values))
        self.before_create(session, values)
        params = _new_row(self.model, values)
        if params is None:  # a key that is no column: the ORM path raises as it always did
            return self.body(session, self.create(session, values))
        body = rows.dump(_as_row(rows, params), rows.context(session))
        defer(session, _insert_statement(self.model), params)
        self.outbox.emit(session, f"crm.{self.aggregate}.created", params["id"], body, defer=True)
        return body

    def check_version(self, record: R, expected: int | None) -> None:
        if expected is not None and record.version != expected:
            raise PreconditionFailed(
                f"The {self.aggregate} changed since version {expected}; it is now at version {record.version}.",
                current=self.serialize(record),
            )

    def update(self, session: Session, record_id: uuid.UUID, values: dict[str, Any],
               expected_version: int | None = None) -> R:
        record = self.get(session, record_id, for_update=True)
        self.check_version(record, expected_version)
        self.before_update(session, record, values)
        before = self.serialize(record)
        for field, value in values.items():
            setattr(record, field, value)
        session.flush()
        after = self.body(session, record)
        changes = {k: [before.get(k), after.get(k)] for k in after if before.get(k) != after.get(k)
                   and k not in ("updated_at", "version")}
        if changes:
            # `updated` first: consumers that follow only it see every change; the specific
            # events (stage_changed, won, ...) that after_update adds come right behind it.
            # Deferred: goes out with the COMMIT, or before whatever after_update sends first.
            self.outbox.emit(session, f"crm.{self.aggregate}.updated", record.id, after, changes=changes, defer=True)
            self.after_update(session, record, changes)
        return record

    def delete(self, session: Session, record_id: uuid.UUID, expected_version: int | None = None) -> None:
        record = self.get(session, record_id, for_update=True)
        self.check_version(record, expected_version)
        self.before_delete(session, record)
        data = self.serialize(record)
        session.delete(record)
        session.flush()
        self.outbox.emit(session, f"crm.{self.aggregate}.deleted", record.id, data, defer=True)


@functools.cache
def _plain_row(model: type) -> bool:
    """A record that is one row: no relationships, no server-side defaults."""
    mapper = inspect(model)
    return not mapper.relationships and all(c.server_default is None for c in mapper.local_table.columns)


@functools.cache
def _insert_statement(model: type) -> Any:
    return insert(inspect(model).local_table)


@functools.cache
def _fast_insertable(model: type) -> bool:
    """A plain row without @validates or attribute events: building it as a dict skips nothing."""
    mapper = inspect(model)
    if not _plain_row(model) or mapper.validators:
        return False
    manager = mapper.class_manager
    return not any(manager[attr.key].dispatch.set or manager[attr.key].dispatch.init_scalar for attr in mapper.column_attrs)


@functools.cache
def _columns(model: type) -> tuple[tuple[str, str, Any], ...]:
    """(attribute key, column key, column default) per mapped column, in mapper order."""
    mapper = inspect(model)
    return tuple((attr.key, attr.columns[0].key, attr.columns[0].default) for attr in mapper.column_attrs)


@functools.cache
def _row_type(keys: tuple[str, ...]) -> Any:
    """A named tuple of these columns: what a row serialiser reads, by position and by name."""
    return collections.namedtuple("Row", keys)  # type: ignore[misc]


def _as_row(rows: Any, params: dict[str, Any]) -> Any:
    """The new row as the Core row `select(*rows.columns)` would return."""
    keys = tuple(c.key for c in rows.columns)
    return _row_type(keys)(*[params[inspect_column_key(c)] for c in rows.columns])


def inspect_column_key(attribute: Any) -> str:
    return attribute.property.columns[0].key  # type: ignore[no-any-return]


def _new_row(model: type, values: dict[str, Any]) -> dict[str, Any] | None:
    """The row `model(**values)` and _insert_plain would write: the values, then each column's
    Python default (called the way the ORM calls it), tenant from context. None if a key of
    `values` is not a column (the ORM constructor's TypeError stays the answer to that)."""
    columns = _columns(model)
    if not values.keys() <= {key for key, _, _ in columns}:
        return None
    tenant = context.require_tenant()
    row: dict[str, Any] = {}
    for key, column_key, default in columns:
        value = values.get(key)
        if value is None and default is not None:
            value = default.arg(None) if default.is_callable else default.arg
        row[column_key] = value
    if row.get("tenant_id") is None:
        row["tenant_id"] = tenant
    elif row["tenant_id"] != tenant:
        raise TenantGuardError(f"{model.__name__} belongs to another tenant")
    return row


def _insert_plain(session: Session, record: Any) -> None:
    """INSERT one row with a prebuilt statement instead of a unit-of-work flush (a third of the CPU
    on the busiest write path), then attach the object as persistent so the transaction can go on
    using it."""
    mapper = inspect(type(record))
    record.tenant_id = record.tenant_id or context.require_tenant()
    params: dict[str, Any] = {}
    for attr in mapper.column_attrs:
        column = attr.columns[0]
        value = getattr(record, attr.key)
        if value is None and column.default is not None:
            value = column.default.arg(None) if column.default.is_callable else column.default.arg
            setattr(record, attr.key, value)
        params[column.key] = value
    if record.tenant_id != context.require_tenant():
        raise TenantGuardError(f"{type(record).__name__} belongs to another tenant")
    session.connection().execute(_insert_statement(type(record)), params)
    make_transient_to_detached(record)
    session.add(record)
