"""Prometheus metrics, created once per process on first use (never at import time).

Labels never carry tenant or user ids: cardinality must not grow with customers.

Recording a metric can never fail the caller. Every metric is wrapped so that an error from
prometheus-client (a multiprocess file removed under us, a full disk, a registry clash) is logged
once per metric and counted in `crm_metrics_errors_total`, and the relay, consumer or request
carries on. If the metrics cannot be created at all, callers get no-op metrics and creation is
tried again on the next call: a half-registered set is never cached.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

log = logging.getLogger(__name__)


class _Failures(Collector):
    """Metric failures of this process, kept in plain memory so that counting them cannot fail."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def record(self, metric: str, exc: BaseException) -> None:
        with self._lock:
            first = metric not in self.counts
            self.counts[metric] = self.counts.get(metric, 0) + 1
        if first:
            try:
                log.warning("recording metric %s failed (later failures are only counted): %r", metric, exc)
            except Exception:  # noqa: S110 - a broken log handler must not fail the data path either
                pass

    def collect(self) -> list[CounterMetricFamily]:
        family = CounterMetricFamily("crm_metrics_errors", "Metric updates that failed and were dropped",
                                     labels=["metric"])
        with self._lock:
            for metric, count in sorted(self.counts.items()):
                family.add_metric([metric], count)
        return [family]


FAILURES = _Failures()


class _NoopChild:
    def inc(self, amount: float = 1) -> None:
        pass

    def set(self, value: float) -> None:
        pass

    def observe(self, value: float) -> None:
        pass


_NOOP_CHILD = _NoopChild()


class SafeMetric:
    """A metric (or one labelled child of it) whose updates log and count errors instead of raising."""

    __slots__ = ("_metric", "_name")

    def __init__(self, metric: Any, name: str) -> None:
        self._metric = metric
        self._name = name

    def labels(self, *values: str) -> SafeMetric | _NoopChild:
        try:
            return SafeMetric(self._metric.labels(*values), self._name)
        except Exception as exc:
            FAILURES.record(self._name, exc)
            return _NOOP_CHILD

    def _call(self, method: str, value: float) -> None:
        try:
            getattr(self._metric, method)(value)
        except Exception as exc:
            FAILURES.record(self._name, exc)

    def inc(self, amount: float = 1) -> None:
        self._call("inc", amount)

    def set(self, value: float) -> None:
        self._call("set", value)

    def observe(self, value: float) -> None:
        self._call("observe", value)


class _NoopMetric(SafeMetric):
    def __init__(self) -> None:
        super().__init__(None, "noop")

    def labels(self, *values: str) -> _NoopChild:
        return _NOOP_CHILD

    def _call(self, method: str, value: float) -> None:
        pass


@dataclass(frozen=True)
class Metrics:
    http_requests: SafeMetric
    http_duration: SafeMetric
    outbox_backlog: SafeMetric
    relay_lag: SafeMetric
    events_published: SafeMetric
    consumer_lag: SafeMetric
    event_handling: SafeMetric
    events_consumed: SafeMetric
    events_dead_lettered: SafeMetric
    rate_limit_rejections: SafeMetric
    signups: SafeMetric
    deals_won: SafeMetric
    tickets_breached: SafeMetric
    webhook_deliveries: SafeMetric
    rate_limit_fallbacks: SafeMetric
    rate_limit_redis_up: SafeMetric
    mail_messages: SafeMetric
    mail_queue_oldest: SafeMetric
    mail_inbound: SafeMetric
    workflow_runs: SafeMetric
    workflow_steps: SafeMetric
    workflow_limit_rejections: SafeMetric
    workflow_event_to_action: SafeMetric


def _definitions() -> dict[str, Callable[[], Any]]:
    """Collectors by field name, built unregistered: registration happens only once all exist."""
    r = None  # registry=None: nothing is registered while the set is incomplete
    return {
        "http_requests": lambda: Counter(
            "crm_http_requests_total", "HTTP requests handled", ["service", "route", "method", "status"], registry=r),
        "http_duration": lambda: Histogram(
            "crm_http_request_duration_seconds", "HTTP request latency", ["service", "route", "method"],
            buckets=LATENCY_BUCKETS, registry=r),
        "outbox_backlog": lambda: Gauge("crm_outbox_backlog", "Unpublished outbox rows", ["service"],
                                        multiprocess_mode="max", registry=r),
        "relay_lag": lambda: Gauge("crm_relay_lag_seconds", "Age of the oldest unpublished outbox row", ["service"],
                                   multiprocess_mode="max", registry=r),
        "events_published": lambda: Counter("crm_events_published_total", "Events published by the relay",
                                            ["service", "topic"], registry=r),
        "consumer_lag": lambda: Gauge("crm_consumer_lag", "Records behind the log end", ["service", "group", "topic"],
                                      multiprocess_mode="max", registry=r),
        "event_handling": lambda: Histogram("crm_event_handling_seconds", "Time to handle one event",
                                            ["service", "type"], buckets=LATENCY_BUCKETS, registry=r),
        "events_consumed": lambda: Counter("crm_events_consumed_total", "Events handled by consumers",
                                           ["service", "type"], registry=r),
        "events_dead_lettered": lambda: Counter("crm_events_dead_lettered_total", "Events sent to a dead-letter topic",
                                                ["service", "topic"], registry=r),
        "rate_limit_rejections": lambda: Counter("crm_rate_limit_rejections_total", "Requests refused with 429",
                                                 ["scope"], registry=r),
        "signups": lambda: Counter("crm_signups_total", "Tenants signed up", registry=r),
        "deals_won": lambda: Counter("crm_deals_won_total", "Deals moved to won", registry=r),
        "tickets_breached": lambda: Counter("crm_tickets_breached_total", "Tickets that breached their SLA", registry=r),
        "webhook_deliveries": lambda: Counter("crm_webhook_deliveries_total", "Webhook delivery attempts",
                                              ["outcome"], registry=r),
        "rate_limit_fallbacks": lambda: Counter("crm_rate_limit_fallback_total",
                                                "Rate-limit decisions made in-process because Redis was down", registry=r),
        "rate_limit_redis_up": lambda: Gauge("crm_rate_limit_redis_up", "1 while the gateway reaches Redis for rate limits",
                                             multiprocess_mode="min", registry=r),
        # One count per outcome of a send attempt (a bounce when its DSN arrives).
        "mail_messages": lambda: Counter("crm_mail_messages_total", "Outgoing mail by outcome", ["outcome"], registry=r),
        # Waiting time of the oldest message due for sending (not one waiting out its backoff).
        "mail_queue_oldest": lambda: Gauge("crm_mail_queue_oldest_seconds", "Age of the oldest due outgoing message",
                                           ["purpose"], multiprocess_mode="livemax", registry=r),
        "mail_inbound": lambda: Counter("crm_mail_inbound_total", "Inbound mail (SMTP recipients, webhook messages) by outcome",
                                        ["outcome", "reason"], registry=r),
        "workflow_runs": lambda: Counter("crm_workflow_runs_total", "Workflow runs by outcome (started, completed, failed, ...)",
                                         ["outcome"], registry=r),
        "workflow_steps": lambda: Counter("crm_workflow_steps_total", "Workflow step attempts by step type and outcome",
                                          ["type", "outcome"], registry=r),
        "workflow_limit_rejections": lambda: Counter("crm_workflow_limit_rejections_total",
                                                     "Workflow runs or saves refused by a per-tenant limit", ["limit"], registry=r),
        # From the event that started a run to its first action done.
        # Labelled like every histogram here, so its file is made on first use, not at creation.
        "workflow_event_to_action": lambda: Histogram("crm_workflow_event_to_action_seconds",
                                                      "Time from a triggering event (or webhook) to the run's first action",
                                                      ["trigger"], buckets=LATENCY_BUCKETS, registry=r),
    }


_CREATE_LOCK = threading.Lock()
_created: Metrics | None = None
_NOOP = Metrics(**{f.name: _NoopMetric() for f in fields(Metrics)})


def metrics() -> Metrics:
    """The process's metrics, or no-op ones (retried on the next call) when they cannot be created."""
    global _created
    if _created is not None:
        return _created
    # The lock matters on first use, when a worker's threads (relay, consumers, job runners)
    # start together and would otherwise register the same names twice.
    with _CREATE_LOCK:
        if _created is None:
            try:
                _created = _create(DEFAULT_REGISTRY)
            except Exception as exc:
                FAILURES.record("create", exc)
                return _NOOP
        return _created


def _create(registry: CollectorRegistry) -> Metrics:
    collectors = {name: build() for name, build in _definitions().items()}
    registered: list[Any] = []
    try:
        for collector in collectors.values():
            registry.register(collector)
            registered.append(collector)
    except Exception:
        for collector in registered:  # all or nothing: a retry must not meet half of them
            registry.unregister(collector)
        raise
    try:
        registry.register(FAILURES)
    except ValueError:
        pass  # already there from an earlier attempt
    return Metrics(**{name: SafeMetric(c, name) for name, c in collectors.items()})


def exposition() -> bytes:
    """The text exposition for /metrics; aggregates worker processes under gunicorn's multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(FAILURES)
        return generate_latest(registry)
    metrics()  # so the process's series (and crm_metrics_errors_total) are there from the first scrape
    return generate_latest(DEFAULT_REGISTRY)


def use_process_local_values() -> None:
    """For processes outside gunicorn (relays, consumers, job workers): keep metric values in memory.

    PROMETHEUS_MULTIPROC_DIR belongs to a gunicorn master, which empties it when it starts; a worker
    process writing its files there races with that. prometheus-client picks its value class from
    the environment at import, so both are reset here, before the first metric is created.
    """
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    os.environ.pop("prometheus_multiproc_dir", None)
    from prometheus_client import values

    values.ValueClass = values.MutexValue
