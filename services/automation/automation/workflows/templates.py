"""Workflow templates: Jinja in a sandbox (sandbox.py), over the run's own JSON values (record,
trigger, run). A missing value renders empty (`{{ record.nope.deeper }}` is ""); output is capped
at 100 KB; a template that cannot be (bad syntax, a call, `__class__`) is a problem at save time
(template_problem) and a non-retryable StepError when it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import TemplateError

from automation.workflows.sandbox import MAX_OUTPUT_BYTES, TemplateLimitError, budget, compiled
from automation.workflows.steps import StepError

__all__ = ["MAX_OUTPUT_BYTES", "data_problem", "render", "render_data", "render_html", "template_problem"]


def template_problem(text: str) -> str | None:
    """Why `text` cannot be a template (for the 422 at save time); None when it can."""
    try:
        compiled(text, False)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        return f"Template error{f' on line {line}' if line else ''}: {exc.message or exc}"
    except RecursionError:
        return "Template error: nested too deeply"
    return None


def _render(text: str, values: Mapping[str, Any], html: bool) -> str:
    result = text if "{" not in text else _generate(text, values, html)  # no tag: the text as it is
    if len(result.encode()) > MAX_OUTPUT_BYTES:
        raise StepError(f"Template error: the output is over {MAX_OUTPUT_BYTES // 1024} KB", retryable=False)
    return result


def _generate(text: str, values: Mapping[str, Any], html: bool) -> str:
    try:
        with budget():
            template = compiled(text, html)
            out, size = [], 0
            for chunk in template.generate(dict(values)):
                size += len(chunk)
                if size > MAX_OUTPUT_BYTES:
                    raise TemplateLimitError(f"the template's output is over {MAX_OUTPUT_BYTES // 1024} KB")
                out.append(chunk)
            return "".join(out)
    except TemplateError as exc:
        raise StepError(f"Template error: {exc.message or exc}", retryable=False) from exc
    except RecursionError as exc:
        raise StepError("Template error: nested too deeply", retryable=False) from exc
    except (ArithmeticError, TypeError, ValueError, LookupError) as exc:  # {{ 1 / 0 }}, {{ 'a' + 1 }}
        raise StepError(f"Template error: {type(exc).__name__}: {exc}", retryable=False) from exc


def render(text: str, values: Mapping[str, Any]) -> str:
    """Plain text (titles, field values, text bodies): nothing escaped."""
    return _render(text, values, html=False)


def render_html(text: str, values: Mapping[str, Any]) -> str:
    """An HTML email body: every value autoescaped (`|safe` opts out, as in Jinja)."""
    return _render(text, values, html=True)


def render_data(value: Any, values: Mapping[str, Any]) -> Any:
    """Every string inside a JSON value rendered (field values, webhook bodies); the rest as it is."""
    if isinstance(value, str):
        return render(value, values)
    if isinstance(value, Mapping):
        return {k: render_data(v, values) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render_data(v, values) for v in value]
    return value


def data_problem(value: Any) -> str | None:
    """template_problem for every string inside a JSON value."""
    if isinstance(value, str):
        return template_problem(value)
    items = value.values() if isinstance(value, Mapping) else value if isinstance(value, list | tuple) else ()
    return next((p for p in map(data_problem, items) if p), None)
