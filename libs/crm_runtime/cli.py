"""`python -m <service> migrate|web|worker|relay|consumer|dlq`: one entry point shape for every service."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import start_http_server
from sqlalchemy import MetaData

from crm_core.logging import configure as configure_logging
from crm_core.metrics import use_process_local_values
from crm_core.settings import Settings
from crm_db.database import Database
from crm_db.migrate import upgrade
from crm_db.roles import check_app_role, warn_if_owner_is_app
from crm_events import dead_letters
from crm_events.consumer import BatchHandler, ConsumerRunner, Handler
from crm_events.log import open_publisher, open_subscriber
from crm_events.relay import OutboxRelay
from crm_runtime import web

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsumerSpec:
    group: str
    topics: list[str]
    handlers: dict[str, Handler]
    batch_handlers: dict[str, BatchHandler] = field(default_factory=dict)  # see ConsumerRunner


BackgroundLoop = Callable[[threading.Event], None]


@dataclass
class ServiceProcess:
    name: str
    metadata: Callable[[], MetaData]
    app: str  # WSGI app spec, e.g. "contacts.app:create_app()"
    migrations: Path
    consumers: Callable[[Settings, Database], list[ConsumerSpec]] = lambda _s, _d: []
    background: Callable[[Settings, Database], list[BackgroundLoop]] = lambda _s, _d: []
    has_outbox: bool = True
    extra_args: dict[str, str] = field(default_factory=dict)
    # More subcommands of this service: name -> (help, run(settings) -> exit code), e.g. mail's
    # `smtp` (the inbound SMTP server). They run after settings and logging are set up.
    commands: dict[str, tuple[str, Callable[[Settings], int]]] = field(default_factory=dict)
    # Those of `commands` that are long-running servers `make up` starts beside web and worker.
    servers: tuple[str, ...] = ()


def _relay_loop(proc: ServiceProcess, settings: Settings, db: Database) -> BackgroundLoop:
    relay = OutboxRelay(proc.name, db, open_publisher(settings), proc.metadata())
    return relay.run


def _consumer_loops(proc: ServiceProcess, settings: Settings, db: Database) -> list[BackgroundLoop]:
    loops = []
    # Two platforms sharing one broker (test runs, a blue/green switch) need their own groups.
    suffix = settings.get("CRM_CONSUMER_GROUP_SUFFIX", "") or ""
    for spec in proc.consumers(settings, db):
        group = spec.group + suffix
        runner = ConsumerRunner(
            service=proc.name, group=group, db=db, metadata=proc.metadata(),
            subscriber=open_subscriber(settings, group, spec.topics),
            dead_letters=open_publisher(settings), handlers=spec.handlers, batch_handlers=spec.batch_handlers,
        )
        loops.append(runner.run)
    return loops


def _dlq(proc: ServiceProcess, settings: Settings, args: argparse.Namespace) -> int:
    """`dlq list|replay`: this service's dead letters (or --topic's), filtered, listed or re-driven."""
    suffix = settings.get("CRM_CONSUMER_GROUP_SUFFIX", "") or ""
    specs = proc.consumers(settings, Database(settings.database_url, pool_size=1))
    consumers: set[str] | None = set(args.consumer) if args.consumer else None
    if args.topic:
        topics = [t.removesuffix(".dlq") for t in args.topic]
    else:
        topics = sorted({t for spec in specs for t in spec.topics})
        consumers = consumers or {spec.group + suffix for spec in specs}
    if not topics:
        print(f"{proc.name} has no consumers, so no dead letters (name one with --topic)", file=sys.stderr)
        return 0
    since = dead_letters.parse_since(args.since) if args.since else None
    letters = []
    for topic in topics:
        letters += dead_letters.matching(
            dead_letters.dead_letters(dead_letters.read_topic(settings, f"{topic}.dlq")),
            consumers=consumers, event_type=args.event_type, since=since,
            include_replayed=args.all and args.action == "list")
    for letter in letters:
        if args.json:
            print(json.dumps(letter.as_json()))
        else:
            at = letter.dead_lettered_at
            print("\t".join([at.isoformat() if at else "-", f"{letter.record.topic}@{letter.position}",
                             letter.event_type or "-", letter.event_id or "-", letter.headers.get("consumer", "-"),
                             "replayed " + letter.replayed_at if letter.replayed_at else letter.headers.get("error", "")]))
    if args.action == "list":
        print(f"{len(letters)} dead letter(s)", file=sys.stderr)
        return 0
    publisher = open_publisher(settings)
    try:
        replayed = dead_letters.replay(letters, publisher)
    finally:
        publisher.close()
    print(f"replayed {replayed} dead letter(s) to their original topics", file=sys.stderr)
    return 0


def run_loops(loops: list[BackgroundLoop]) -> None:
    """Run loops in threads until SIGTERM/SIGINT; a clean stop finishes the current batch."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    def logged(loop: BackgroundLoop) -> BackgroundLoop:
        # A loop's exception goes to the JSON log with its traceback (not only to stderr), so the
        # "a worker loop died" line below always has its cause next to it.
        def run(stop_event: threading.Event) -> None:
            try:
                loop(stop_event)
            except BaseException:
                log.exception("worker loop %s failed", getattr(loop, "__qualname__", loop))
                raise
        return run

    threads = [threading.Thread(target=logged(loop), args=(stop,), daemon=True, name=f"loop-{i}")
               for i, loop in enumerate(loops)]
    for t in threads:
        t.start()
    while not stop.is_set():
        stop.wait(0.5)
        if not all(t.is_alive() for t in threads):
            log.error("a worker loop died; exiting so the supervisor restarts us")
            stop.set()
            sys.exit(1)
    for t in threads:
        t.join(timeout=10)


def main(proc: ServiceProcess, argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {proc.name}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations (as the owner role)")
    web_parser = sub.add_parser("web", help="serve HTTP with gunicorn or granian (CRM_WEB_SERVER)")
    web_parser.add_argument("--bind", default=os.environ.get("GUNICORN_BIND"))
    for name in ("worker", "relay", "consumer"):
        sub.add_parser(name, help=f"run the {name} loops")
    for name, (help_text, _run) in proc.commands.items():
        sub.add_parser(name, help=help_text)
    dlq = sub.add_parser("dlq", help="list or replay the dead letters of this service's consumers")
    dlq.add_argument("action", choices=["list", "replay"])
    dlq.add_argument("--type", dest="event_type", help="only events of this type, e.g. crm.deal.created")
    dlq.add_argument("--since", help="only letters dead-lettered at or after this ISO 8601 date/time (UTC if no offset)")
    dlq.add_argument("--topic", action="append", help="a consumed topic (default: every topic this service consumes)")
    dlq.add_argument("--consumer", action="append", help="only this consumer group's letters (default: this service's)")
    dlq.add_argument("--all", action="store_true", help="list: include letters already replayed")
    dlq.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args(argv)
    if args.command == "dlq" and args.since:
        try:
            dead_letters.parse_since(args.since)
        except ValueError as exc:
            parser.error(str(exc))
    settings = Settings.from_env(proc.name)
    configure_logging(proc.name, settings.log_level)

    if args.command in proc.commands:
        sys.exit(proc.commands[args.command][1](settings))
    if args.command == "migrate":
        warn_if_owner_is_app(proc.name, settings.database_url, settings.database_owner_url)
        upgrade(proc.migrations, settings.database_owner_url)
        return
    if args.command == "web":
        binds = [args.bind] if args.bind else []
        internal_port = os.environ.get("CRM_INTERNAL_PORT", "").strip()
        if internal_port:
            # A second listener for /metrics and the detailed /readyz (the gateway serves those
            # only there); a CLI bind replaces the config's, so the first one is named too.
            binds = binds or [os.environ.get("GUNICORN_BIND", "").strip() or "0.0.0.0:8000"]
            binds.append(f"{os.environ.get('CRM_INTERNAL_ADDR', '').strip() or '127.0.0.1'}:{internal_port}")
        # gunicorn (exec'd) or granian (supervised from here), by CRM_WEB_SERVER.
        sys.exit(web.main([arg for bind in binds for arg in ("--bind", bind)] + [proc.app]))

    use_process_local_values()  # the multiprocess directory belongs to gunicorn; see there
    if args.command == "dlq":
        sys.exit(_dlq(proc, settings, args))
    db = Database(settings.database_url, pool_size=4)
    check_app_role(db.engine, proc.name, wait_seconds=300)  # relays and consumers retry forever anyway
    loops: list[BackgroundLoop] = []
    if args.command in ("worker", "relay") and proc.has_outbox:
        loops.append(_relay_loop(proc, settings, db))
    if args.command in ("worker", "consumer"):
        loops += _consumer_loops(proc, settings, db)
    if args.command == "worker":
        loops += proc.background(settings, db)
    if not loops:
        log.info("nothing to run for %s %s", proc.name, args.command)
        return
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=os.environ.get("CRM_METRICS_ADDR", "127.0.0.1"))
    run_loops(loops)
