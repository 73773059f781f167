"""`crm`: bulk work against the public API with an API key, with progress bars.

    crm import contacts people.csv --mapping "E-Mail=email" --on-duplicate update
    crm import errors <import id> -o errors.csv
    crm export contacts --filter "lifecycle_stage = 'lead'" --properties email,first_name -o leads.csv
    crm sla recomputes --wait
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from crm_cli.client import ApiError, Client, Progress

DEFAULT_URL = "http://127.0.0.1:8080"
POLL_SECONDS = 0.5


def _bar(length: int, label: str) -> Any:
    return click.progressbar(length=length, label=label, file=sys.stderr, show_pos=True, width=30)


def _api_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """A problem+json answer (or no answer) is printed readably, with exit code 1."""
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ApiError as exc:
            click.echo(f"Error: {exc}", err=True)
            raise click.exceptions.Exit(1) from None
    return wrapper


def _wait(client: Client, path: str, label: str, total: str = "rows_total", done: str = "rows_processed") -> dict[str, Any]:
    """Poll a job until it is done, with a progress bar of its `done` count once its `total` is known."""
    job = client.get(path)
    shown = 0
    with contextlib.ExitStack() as stack:
        bar = None
        while True:
            if bar is None and job.get(total):
                bar = stack.enter_context(_bar(job[total], label))
            if bar is not None and job[done] > shown:
                bar.update(job[done] - shown)
                shown = job[done]
            if job["status"] not in ("queued", "running"):
                return job
            time.sleep(POLL_SECONDS)
            job = client.get(path)


def _mapping(pairs: tuple[str, ...]) -> dict[str, str | None]:
    mapping: dict[str, str | None] = {}
    for pair in pairs:
        column, sep, field = pair.rpartition("=")
        if not sep or not column:
            raise click.BadParameter(f"{pair!r}: use COLUMN=FIELD (COLUMN= ignores the column)", param_hint="--mapping")
        mapping[column] = field.strip() or None
    return mapping


@click.group()
@click.option("--url", envvar="CRM_API_URL", default=DEFAULT_URL, show_default=True, help="The API gateway (CRM_API_URL).")
@click.option("--api-key", envvar="CRM_API_KEY",
              help="An API key (CRM_API_KEY): contacts:read and contacts:write for imports and exports, tickets:read for sla.")
@click.pass_context
def cli(ctx: click.Context, url: str, api_key: str | None) -> None:
    """Bulk import and export of CRM contacts and companies; SLA recomputes."""
    ctx.obj = Client(url, api_key)


@cli.group("import")
def import_group() -> None:
    """Import a CSV file; check on an import; fetch its failed rows."""


def _import_command(object_: str) -> None:
    @import_group.command(object_, help=f"Import {object_} from FILE (CSV, UTF-8; `,` `;` or tab separated).")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--mapping", "-m", multiple=True, metavar="COLUMN=FIELD",
                  help="Send a column to a field (repeatable); COLUMN= ignores it. Unmapped headers equal to a field map themselves.")
    @click.option("--on-duplicate", type=click.Choice(["skip", "update", "create"]), default="skip", show_default=True,
                  help="Rows whose email (contacts) or domain (companies) exists already.")
    @click.option("--dry-run", is_flag=True, help="Validate and count, write nothing.")
    @click.option("--no-wait", is_flag=True, help="Print the import id and return once uploaded.")
    @click.pass_obj
    @_api_errors
    def command(client: Client, file: Path, mapping: tuple[str, ...], on_duplicate: str, dry_run: bool, no_wait: bool) -> None:
        fields = {"object": object_, "on_duplicate": on_duplicate, "dry_run": "true" if dry_run else "false"}
        if mapping:
            fields["mapping"] = json.dumps(_mapping(mapping))
        with _bar(file.stat().st_size, f"Uploading {file.name}") as bar:
            job = client.upload("/v1/imports", fields, file, bar.update)
        if no_wait:
            click.echo(f"Import {job['id']} queued; follow it with: crm import status {job['id']}")
            return
        _report(_wait(client, f"/v1/imports/{job['id']}", "Importing"))


for _object in ("contacts", "companies"):
    _import_command(_object)


def _report(job: dict[str, Any]) -> None:
    if job["status"] == "failed":
        click.echo(f"Import {job['id']} failed: {job['error']}", err=True)
        raise click.exceptions.Exit(1)
    if job["status"] != "completed":
        click.echo(f"Import {job['id']} is {job['status']}: {job['rows_processed']} of {job['rows_total'] or '?'} rows so far.")
        return
    verb = "Dry run of import" if job.get("dry_run") else "Import"
    click.echo(f"{verb} {job['id']} completed: {job['created']} created, {job['updated']} updated, {job['skipped']} skipped, "
               f"{job['failed']} failed (of {job['rows_total']} rows).")
    if job.get("ignored_columns"):
        click.echo(f"Ignored columns: {', '.join(job['ignored_columns'])}")
    if job["failed"]:
        click.echo(f"Fetch the failed rows with: crm import errors {job['id']} -o errors.csv")


@import_group.command("status")
@click.argument("import_id")
@click.pass_obj
@_api_errors
def import_status(client: Client, import_id: str) -> None:
    """Show an import's status and counts."""
    _report(client.get(f"/v1/imports/{import_id}"))


@import_group.command("errors")
@click.argument("import_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Default: import-<id>-errors.csv")
@click.pass_obj
@_api_errors
def import_errors(client: Client, import_id: str, output: Path | None) -> None:
    """Download the rows an import could not take (row, reason, then the row's cells)."""
    target = output or Path(f"import-{import_id}-errors.csv")
    client.download(f"/v1/imports/{import_id}/errors", target)
    click.echo(f"Wrote {target}")


@cli.command("export")
@click.argument("object_", metavar="OBJECT", type=click.Choice(["contacts", "companies"]))
@click.option("--filter", "filter_", metavar="EXPR", help="e.g. \"lifecycle_stage = 'lead' and plan = 'pro'\"")
@click.option("--properties", metavar="A,B,...", help="Fields to export (default: all).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Default: <object>-<date>.csv")
@click.option("--no-wait", is_flag=True, help="Print the export id and return at once.")
@click.pass_obj
@_api_errors
def export(client: Client, object_: str, filter_: str | None, properties: str | None, output: Path | None,
           no_wait: bool) -> None:
    """Export contacts or companies as CSV."""
    body: dict[str, Any] = {"object": object_}
    if filter_:
        body["filter"] = filter_
    if properties:
        body["properties"] = [p.strip() for p in properties.split(",") if p.strip()]
    job = client.post("/v1/exports", body, 202)
    if no_wait:
        click.echo(f"Export {job['id']} queued (GET /v1/exports/{job['id']}).")
        return
    job = _wait(client, f"/v1/exports/{job['id']}", "Exporting")
    if job["status"] != "completed":
        click.echo(f"Export {job['id']} failed: {job['error']}", err=True)
        raise click.exceptions.Exit(1)
    target = output or Path(f"{object_}-{dt.date.today().isoformat()}.csv")
    with contextlib.ExitStack() as stack:
        def started(length: int | None) -> Progress | None:
            return stack.enter_context(_bar(length, "Downloading")).update if length else None

        client.download(job["file_url"], target, started)
    click.echo(f"Exported {job['rows_processed']} {object_} to {target}")


@cli.group("sla")
def sla_group() -> None:
    """SLA recomputes: the worker's jobs after a calendar or policy change touching many open tickets."""


def _recompute_line(job: dict[str, Any]) -> str:
    line = f"{job['id']}  {job['status']:<9}  {job['tickets_done']}/{job['tickets_total']} tickets  {job['reason']}"
    return line + (f"  ({job['error']})" if job.get("error") else "")


@sla_group.command("recomputes")
@click.argument("recompute_id", required=False)
@click.option("--wait", is_flag=True, help="Follow the job (or every unfinished one) with a progress bar until done.")
@click.pass_obj
@_api_errors
def sla_recomputes(client: Client, recompute_id: str | None, wait: bool) -> None:
    """List the latest SLA recomputes, or show one; with --wait, follow them to the end."""
    jobs = [client.get(f"/v1/sla-recomputes/{recompute_id}")] if recompute_id else client.get("/v1/sla-recomputes?limit=20")["data"]
    followed: dict[str, dict[str, Any]] = {}
    if wait:
        for job in reversed(jobs):  # oldest first, as the worker takes them
            if job["status"] in ("queued", "running"):
                followed[job["id"]] = _wait(client, f"/v1/sla-recomputes/{job['id']}", "Recomputing SLA clocks",
                                            total="tickets_total", done="tickets_done")
        jobs = [followed.get(j["id"], j) for j in jobs]
    if not jobs:
        click.echo("No SLA recomputes yet.")
    for job in jobs:
        click.echo(_recompute_line(job))
    if any(j["status"] == "failed" for j in followed.values()):
        raise click.exceptions.Exit(1)
