"""Workflow templates: what they render, what the sandbox refuses (never Python's internals, never
data beyond the run's values) and the limits that keep one template from hogging a worker."""

from __future__ import annotations

import pytest

from automation.workflows.steps import StepError
from automation.workflows.templates import MAX_OUTPUT_BYTES, data_problem, render, render_data, render_html, template_problem

VALUES = {"record": {"first_name": "Ada", "tags": ["vip", "lead"], "n": 3, "notes": "x" * 50_000,
                     "items": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}]},
          "trigger": {"data": {"title": "Hello"}}, "run": {"id": "run-1", "workflow_id": "wf-1"}}


@pytest.mark.parametrize(("text", "expected"), [
    ("Hi {{ record.first_name }}", "Hi Ada"),
    ("plain text, no tags", "plain text, no tags"),
    ("{{ record.nope }}|{{ record.nope.deeper.still }}|{{ nobody }}", "||"),
    ("{{ trigger.data.title }} / {{ run.id }}", "Hello / run-1"),
    ("{{ record.tags|join(', ') }}", "vip, lead"),
    ("{% for t in record.tags %}{{ loop.index }}.{{ t|upper }} {% endfor %}", "1.VIP 2.LEAD "),
    ("{% if record.n > 2 %}many{% else %}few{% endif %}", "many"),
    ("{{ record.items|map(attribute='qty')|sum }}", "3"),
    ("{{ record.items|selectattr('sku', 'equalto', 'B')|map(attribute='qty')|first }}", "1"),
    ("{{ record['first_name'] ~ '!' }} {{ record.tags[0] }} {{ record.tags[9] }}", "Ada! vip "),
    ("{{ record.missing|default('none') }} {{ record.n * 2 + 1 }}", "none 7"),
    ('{{ {"a": record.n}|tojson }}', '{"a": 3}'),
    ("{% set x = record.first_name|lower %}{{ x }}", "ada"),
    ("{{ record.items|map(attribute='sku')|list }}", "['A', 'B']"),
    ("{{ record.tags|map('upper') }}", ""),  # a generator prints nothing, not its repr
])
def test_renders(text: str, expected: str) -> None:
    assert template_problem(text) is None
    assert render(text, VALUES) == expected


@pytest.mark.parametrize("text", [
    "{{ record.__class__ }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ self._TemplateReference__context }}",
    "{{ record['__class__'] }}",
    "{{ record|attr('__class__') }}",
    "{{ record.items() }}",
    "{{ record.first_name.upper() }}",
    "{{ 'a {0.__class__}'.format(record) }}",
    "{{ range(10) }}",
    "{{ _private }}",
    "{% macro m() %}x{% endmacro %}{{ m() }}",
    "{% set x %}{{ record }}{% endset %}",
    "{% filter upper %}x{% endfilter %}",
    "{% include 'other' %}",
    "{% extends 'base' %}",
    "{% for x in record.tags recursive %}{{ loop(x) }}{% endfor %}",
    "{{ record.first_name|format(1) }}",
    "{{ record|pprint }}",
    "{{ record.tags|random }}",
    "{{ record.first_name",
])
def test_sandbox_refuses(text: str) -> None:
    problem = template_problem(text)
    with pytest.raises(StepError) as failed:
        value = render(text, VALUES)
        # Refused or empty: never data of Python. Only `attr` with a dynamic name can get this far.
        assert value == "", value
        raise StepError("rendered empty", retryable=False)
    assert not failed.value.retryable
    assert problem is not None or failed.value.message == "rendered empty"


def test_attributes_are_json_keys_only() -> None:
    # A dynamic name reaches getattr at run time: still only the keys of the run's JSON values.
    assert render("{{ record|attr(trigger.data.name) }}", {**VALUES, "trigger": {"data": {"name": "__class__"}}}) == ""
    assert render("{{ record|attr('first_name') }}", VALUES) == "Ada"
    assert render("{{ record.tags|attr('append') }}{{ record.first_name|attr('upper') }}", VALUES) == ""
    assert render("{{ loop }}{{ self }}{{ namespace }}", VALUES) == ""


@pytest.mark.parametrize("text", [
    "{{ 'x' * 100000000 }}",
    "{{ record.notes * 5 }}",
    "{{ record.notes|replace('', record.notes) }}",
    "{{ record.notes|wordwrap(1)|indent(record.notes) }}",
    "{{ record.tags|join(record.notes * 19) }}",
    "{{ record.first_name|center(10000000) }}",
    "{{ 9 ** 9999999 }}",
    "{{ '%s' % record.first_name }}",
    "{% for a in record.notes %}{% for b in record.notes %}{% endfor %}{% endfor %}",
    "{% for a in record.notes %}{{ record.notes }}{% endfor %}",
    "{% set s = record.notes %}" + "{% set s = s ~ s %}" * 8 + "{{ s|length }}",
    "{% set s = record.tags %}" + "{% set s = s + s %}" * 30 + "{{ s|length }}",
    "{{ [record.notes] * 30 }}",
    "{{ 1 / 0 }}",
    "{{ record.first_name + 1 }}",
])
def test_limits_and_errors_fail_the_step(text: str) -> None:
    assert template_problem(text) is None  # all well formed: they fail when they run
    with pytest.raises(StepError) as failed:
        render(text, VALUES)
    assert not failed.value.retryable and failed.value.message.startswith("Template error")


def test_output_is_capped_at_100_kb() -> None:
    fits = {"record": {"s": "é" * (MAX_OUTPUT_BYTES // 2)}}  # two bytes a character in UTF-8
    assert len(render("{{ record.s }}", fits).encode()) == MAX_OUTPUT_BYTES
    with pytest.raises(StepError, match="100 KB"):
        render("{{ record.s }}.", fits)
    with pytest.raises(StepError, match="100 KB"):
        render("x" * (MAX_OUTPUT_BYTES + 1), fits)  # no tag at all: still capped


def test_html_escapes_values_not_the_template() -> None:
    values = {"record": {"name": "<b>Ada</b> & co"}}
    assert render_html("<p>Hi {{ record.name }}</p>", values) == "<p>Hi &lt;b&gt;Ada&lt;/b&gt; &amp; co</p>"
    assert render_html("<p>{{ record.name|safe }}</p>", values) == "<p><b>Ada</b> & co</p>"
    assert render_html("<p>{{ record.name ~ '!' }}</p>", values) == "<p>&lt;b&gt;Ada&lt;/b&gt; &amp; co!</p>"
    assert render("{{ record.name }}", values) == "<b>Ada</b> & co"


def test_problems_name_the_line() -> None:
    assert template_problem("ok\n{{ record.first_name }") == "Template error on line 2: unexpected '}'"
    assert template_problem("{{ x.__dict__ }}") == \
        "Template error: line 1: attributes starting with _ are not allowed (__dict__)"
    assert template_problem("x" * 200_000) is not None


def test_render_data_renders_every_string_inside() -> None:
    value = {"a": "{{ record.first_name }}", "b": [1, "{{ record.n }}", None, {"c": True}]}
    assert render_data(value, VALUES) == {"a": "Ada", "b": [1, "3", None, {"c": True}]}
    assert data_problem({"a": ["fine", "{{ x.__class__ }}"]}) is not None
    assert data_problem({"a": ["fine", 2]}) is None
