"""Ticket use cases, one module per area: tickets (core), conversations, sla, routing, kb, portal, csat."""
