"""The workflow actions (docs/workflows.md, "Steps"), one object per step type.

    from automation.workflows.actions import actions
    registry = actions(db=runtime.db, sender=Sender(allow_private=..., timeout=...))

Each action has `type`, `schema` (its fields; unknown ones refused), `record_types`, `writes()`
for the cycle check, `run()` and `preview()` (steps.Action). They act through the owning
services' public APIs (ctx.call) or automation's outbox (ctx.emit), never another database.
"""

from __future__ import annotations

from automation.sender import Sender
from automation.workflows.actions.assignment import AssignOwner
from automation.workflows.actions.creates import CreateDeal, CreateTask
from automation.workflows.actions.flow import ENROLS, Enrolment
from automation.workflows.actions.messages import Notify, SendEmail
from automation.workflows.actions.records import Tags, UpdateRecord
from automation.workflows.actions.webhook import CallWebhook
from automation.workflows.steps import Action
from crm_db.database import Database

__all__ = ["ENROLS", "actions"]


def actions(*, db: Database | None = None, sender: Sender | None = None) -> dict[str, Action]:
    """Every action by step type. `db`: automation's database (assign_owner's round_robin keeps
    its place there); `sender`: the webhook sender for call_webhook (default: public URLs only)."""
    made: list[Action] = [
        CreateTask(), UpdateRecord(), AssignOwner(db), Tags(add=True), Tags(add=False), CreateDeal(),
        Notify(), SendEmail(), CallWebhook(sender), Enrolment(start=True), Enrolment(start=False),
    ]
    return {a.type: a for a in made}
