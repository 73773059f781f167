"""Prometheus metrics, created once per process on first use (never at import time).

Labels never carry tenant or user ids: cardinality must not grow with customers.
"""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass

from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Metrics:
    http_requests: Counter
    http_duration: Histogram
    outbox_backlog: Gauge
    relay_lag: Gauge
    events_published: Counter
    consumer_lag: Gauge
    event_handling: Histogram
    events_consumed: Counter
    events_dead_lettered: Counter
    rate_limit_rejections: Counter
    signups: Counter
    deals_won: Counter
    tickets_breached: Counter
    webhook_deliveries: Counter


_CREATE_LOCK = threading.Lock()


def metrics() -> Metrics:
    """The process's metrics; the lock matters on first use, when a worker's threads (relay,
    consumers, job runners) start together and would otherwise register the same names twice."""
    with _CREATE_LOCK:
        return _create()


@functools.cache
def _create() -> Metrics:
    return Metrics(
        http_requests=Counter(
            "crm_http_requests_total", "HTTP requests handled", ["service", "route", "method", "status"]
        ),
        http_duration=Histogram(
            "crm_http_request_duration_seconds", "HTTP request latency", ["service", "route", "method"],
            buckets=LATENCY_BUCKETS,
        ),
        outbox_backlog=Gauge("crm_outbox_backlog", "Unpublished outbox rows", ["service"], multiprocess_mode="max"),
        relay_lag=Gauge(
            "crm_relay_lag_seconds", "Age of the oldest unpublished outbox row", ["service"], multiprocess_mode="max"
        ),
        events_published=Counter("crm_events_published_total", "Events published by the relay", ["service", "topic"]),
        consumer_lag=Gauge(
            "crm_consumer_lag", "Records behind the log end", ["service", "group", "topic"], multiprocess_mode="max"
        ),
        event_handling=Histogram(
            "crm_event_handling_seconds", "Time to handle one event", ["service", "type"], buckets=LATENCY_BUCKETS
        ),
        events_consumed=Counter("crm_events_consumed_total", "Events handled by consumers", ["service", "type"]),
        events_dead_lettered=Counter(
            "crm_events_dead_lettered_total", "Events sent to a dead-letter topic", ["service", "topic"]
        ),
        rate_limit_rejections=Counter("crm_rate_limit_rejections_total", "Requests refused with 429", ["scope"]),
        signups=Counter("crm_signups_total", "Tenants signed up"),
        deals_won=Counter("crm_deals_won_total", "Deals moved to won"),
        tickets_breached=Counter("crm_tickets_breached_total", "Tickets that breached their SLA"),
        webhook_deliveries=Counter("crm_webhook_deliveries_total", "Webhook delivery attempts", ["outcome"]),
    )


def exposition() -> bytes:
    """The text exposition for /metrics; aggregates worker processes under gunicorn's multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(DEFAULT_REGISTRY)
