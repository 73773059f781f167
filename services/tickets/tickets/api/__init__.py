"""Tickets routes, one module per area."""

from __future__ import annotations

from flask import Blueprint

from crm_runtime.service import ServiceRuntime
from tickets.api import conversations, csat, kb, portal, routing, sla, tickets
from tickets.service.desk import build_desk


def register(bp: Blueprint, runtime: ServiceRuntime) -> None:
    desk = build_desk(runtime.settings, runtime.outbox)
    for area in (tickets, routing, sla, kb, conversations, portal, csat):
        area.register(bp, runtime, desk)
