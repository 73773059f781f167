"""Reminder tables: the users replica (e-mail, time zone), notifications, the reminder timers."""

from __future__ import annotations
