"""The sandbox under workflow templates (templates.py is the way in).

What a template may do is narrowed twice. When it is parsed: no calls (`x.items()`, `range(9)`),
no macros, call blocks, block `set`s, filter blocks, inheritance or includes, and no name or
attribute starting with `_`. When it runs: attributes read only JSON object keys (and `loop.*`),
so nothing of Python is reachable; only linear filters are offered, checked before they run;
and a budget of loop iterations and of characters handled stops a template that would hog a
worker (`{% for a in s %}{% for b in s %}...`, `'x' * 10**9`, `s|replace('', s)`).
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from jinja2 import ChainableUndefined, TemplateError, Undefined, nodes, pass_context, pass_environment, pass_eval_context
from jinja2.filters import _GroupTuple
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.visitor import NodeTransformer

MAX_OUTPUT_BYTES = 100 * 1024
MAX_TEMPLATE_CHARS = 100 * 1024
MAX_VALUE_CHARS = 1_000_000  # any one value a template builds or hands to a filter
MAX_WORK_CHARS = 20_000_000  # characters handled by filters, joins and operators in one rendering
MAX_LOOP_ITERATIONS = 10_000
MAX_INT_ARGUMENT = 100_000  # widths, lengths, counts given to filters
MAX_INT_BITS = 4096

SAFE_FILTERS = ("abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape",
                "filesizeformat", "first", "float", "forceescape", "groupby", "indent", "int", "items", "join", "last",
                "length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round",
                "safe", "select", "selectattr", "slice", "sort", "string", "striptags", "sum", "title", "tojson", "trim",
                "truncate", "unique", "upper", "urlencode", "wordcount", "wordwrap", "xmlattr")
FORBIDDEN = {nodes.Call: "calls", nodes.Macro: "macros", nodes.CallBlock: "call blocks",
             nodes.AssignBlock: "block assignments ({% set %}...{% endset %})", nodes.FilterBlock: "filter blocks",
             nodes.Extends: "template inheritance", nodes.Block: "blocks", nodes.Include: "includes",
             nodes.Import: "imports", nodes.FromImport: "imports"}
LOOP, CONCAT = "crm_loop", "crm_concat"  # the guards put into every parsed template


class TemplateLimitError(TemplateError):
    """The template does more than one rendering may (output, loops, work)."""


class _Budget:
    def __init__(self) -> None:
        self.loops, self.work = MAX_LOOP_ITERATIONS, MAX_WORK_CHARS

    def charge(self, chars: int) -> None:
        self.work -= chars
        if self.work < 0:
            raise TemplateLimitError("the template handles too much text; simplify it")


_budget: ContextVar[_Budget | None] = ContextVar("crm_template_budget", default=None)


def _charge(chars: int) -> None:
    budget = _budget.get()
    if budget is not None:
        budget.charge(chars)


def _size(value: Any, limit: int = MAX_VALUE_CHARS) -> int:
    """About how many characters `value` prints as (stops counting past `limit`, then refuses)."""
    total, stack, seen = 0, [value], 0
    while stack:
        item = stack.pop()
        seen += 1
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
            total += 2 * len(item)
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
            total += 2 * len(item)
        else:
            total += 24
        if total > limit or seen > limit:
            raise TemplateLimitError(f"a value of the template is too large (over {limit} characters)")
    return total


def _int_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    for arg in (*args, *kwargs.values()):
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_INT_ARGUMENT:
            raise TemplateLimitError(f"a filter argument is too large ({arg}); at most {MAX_INT_ARGUMENT}")
        if isinstance(arg, str):
            _size(arg)


def _estimate(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """The output size of the filters whose output can outgrow their input many times over."""
    text = value if isinstance(value, str) else ""
    if name == "replace" and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        count = len(text) + 1 if old == "" else text.count(old)
        if len(args) > 2 and isinstance(args[2], int):
            count = min(count, max(args[2], 0))
        return len(text) + count * len(new)
    if name == "indent":
        width = args[0] if args else kwargs.get("width", 4)
        return len(text) + (text.count("\n") + 1) * (len(width) if isinstance(width, str) else int(width))
    if name == "wordwrap":
        width = max(int(args[0] if args else kwargs.get("width", 79)), 1)
        wrap = str(args[2] if len(args) > 2 else kwargs.get("wrapstring") or "\n")
        return len(text) + (len(text) // width + 1) * len(wrap)
    if name == "join":
        sep = str(args[0] if args else kwargs.get("d", ""))
        return _size(value) + len(value) * len(sep)
    return 0


def _guarded(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    takes_context = getattr(func, "jinja_pass_arg", None) is not None

    @functools.wraps(func)  # keeps jinja_pass_arg: the filter still gets its context
    def guard(*args: Any, **kwargs: Any) -> Any:
        head, (value, *rest) = (args[:1], args[1:]) if takes_context else ((), args)
        if name in ("join", "sum") and not isinstance(value, str | Mapping | Undefined):
            value = list(value)  # sized (or checked) before it is consumed
        if name == "sum" and any(isinstance(v, str | list | tuple | Mapping) for v in (value or ())):
            raise TemplateLimitError("sum adds numbers")
        _int_args(tuple(rest), kwargs)
        charge = _size(value) + _estimate(name, value, tuple(rest), kwargs)
        if charge > MAX_VALUE_CHARS:
            raise TemplateLimitError(f"the {name} filter would make a value that is too large")
        _charge(charge)
        result = func(*head, value, *rest, **kwargs)
        if isinstance(result, str | list | tuple | Mapping):
            _charge(_size(result))
        return result

    return guard


@pass_context
def _loop_guard(_context: Context, iterable: Any) -> Iterator[Any]:
    budget = _budget.get()
    for item in iterable if not isinstance(iterable, Undefined) else ():
        if budget is not None:
            budget.loops -= 1
            if budget.loops < 0:
                raise TemplateLimitError(f"the template loops more than {MAX_LOOP_ITERATIONS} times")
        yield item


@pass_eval_context
def _concat_guard(eval_ctx: EvalContext, parts: list[Any]) -> str:
    _charge(_size(parts))
    return markup_join(parts) if eval_ctx.autoescape else str_join(parts)


def _finalize(value: Any) -> Any:
    """What `{{ value }}` prints: JSON values as Python shows them, never another object's repr."""
    if value is None or isinstance(value, str | int | float | Undefined):
        return value
    if isinstance(value, Mapping | list | tuple):
        _charge(_size(value))
        return value
    return ""  # a generator, `loop`, `self`: no data of the run, and nothing of Python


class _Guards(NodeTransformer):
    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, LOOP, [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Filter(nodes.List(node.nodes, lineno=node.lineno), CONCAT, [], [], None, None, lineno=node.lineno)


class WorkflowEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(autoescape=autoescape, undefined=ChainableUndefined, finalize=_finalize, cache_size=0)
        self.globals.clear()  # no range, lipsum, cycler, joiner, namespace, dict: nothing to call
        self.filters["attr"] = pass_environment(lambda env, obj, name: env.getattr(obj, str(name)))
        self.filters = {name: _guarded(name, self.filters[name]) for name in SAFE_FILTERS}
        self.filters[LOOP], self.filters[CONCAT] = _loop_guard, _concat_guard

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """Jinja's own attribute paths ask this; only `loop` and groupby's tuples have attributes here."""
        return isinstance(obj, LoopContext | _GroupTuple) and super().is_safe_attribute(obj, attr, value)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """A JSON object's key; `loop.index` and groupby's `grouper`; nothing else, ever."""
        if isinstance(obj, Mapping):
            return obj[attribute] if attribute in obj else self.undefined(obj=obj, name=attribute)
        if isinstance(obj, LoopContext | _GroupTuple):
            return super().getattr(obj, attribute)  # is_safe_attribute refuses _names
        return self.undefined(obj=obj, name=attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Mapping):
            try:
                return obj[argument] if argument in obj else self.undefined(obj=obj, name=argument)
            except TypeError:  # an unhashable key
                return self.undefined(obj=obj, name=argument)
        if isinstance(obj, str | list | tuple) and isinstance(argument, int | slice) and not isinstance(argument, bool):
            try:
                return obj[argument]
            except (IndexError, ValueError, TypeError):
                return self.undefined(obj=obj, name=str(argument))
        return self.getattr(obj, argument) if isinstance(argument, str) else self.undefined(obj=obj)

    def call(self, context: Context, obj: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        raise SecurityError("templates cannot call functions")  # refused when parsed already; never reached

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            raise SecurityError("use filters, not % formatting")
        if operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and \
                right * math.log2(abs(left)) > MAX_INT_BITS:
            raise TemplateLimitError("a number of the template is too large")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int) and len(seq) * max(n, 0) > MAX_VALUE_CHARS:
                    raise TemplateLimitError("a value of the template is too large")
        result = self.binop_table[operator](left, right)
        if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
            raise TemplateLimitError("a number of the template is too large")
        if isinstance(result, str | list | tuple):
            _charge(_size(result))
        return result


@functools.cache
def _environment(html: bool) -> WorkflowEnvironment:
    return WorkflowEnvironment(autoescape=html)


def _check(tree: nodes.Template) -> None:
    for kind, what in FORBIDDEN.items():
        found = next(tree.find_all(kind), None)
        if found is not None:
            raise SecurityError(f"line {found.lineno}: {what} are not allowed in templates")
    for name in tree.find_all(nodes.Name):
        if name.name.startswith("_"):
            raise SecurityError(f"line {name.lineno}: names starting with _ are not allowed ({name.name})")
    for attr in tree.find_all(nodes.Getattr):
        if attr.attr.startswith("_"):
            raise SecurityError(f"line {attr.lineno}: attributes starting with _ are not allowed ({attr.attr})")
    for item in tree.find_all(nodes.Getitem):
        if isinstance(item.arg, nodes.Const) and isinstance(item.arg.value, str) and item.arg.value.startswith("_"):
            raise SecurityError(f"line {item.lineno}: keys starting with _ are not allowed ({item.arg.value})")
    for loop in tree.find_all(nodes.For):
        if loop.recursive:
            raise SecurityError(f"line {loop.lineno}: recursive loops are not allowed")
    for used in tree.find_all(nodes.Filter):
        if used.name not in SAFE_FILTERS:
            raise SecurityError(f"line {used.lineno}: no filter named {used.name!r}")


@contextlib.contextmanager
def budget() -> Iterator[None]:
    """One rendering's budget of loops and work (the guards above charge it)."""
    token = _budget.set(_Budget())
    try:
        yield
    finally:
        _budget.reset(token)


@functools.lru_cache(maxsize=1024)
def compiled(text: str, html: bool) -> Any:
    """The template, checked and guarded; cached by its text (templates are immutable and thread-safe)."""
    if len(text) > MAX_TEMPLATE_CHARS:
        raise TemplateLimitError(f"a template may have at most {MAX_TEMPLATE_CHARS} characters")
    env = _environment(html)
    tree = env.parse(text)
    _check(tree)
    tree = _Guards().visit(tree)
    tree.set_environment(env)
    return env.template_class.from_code(env, env.compile(tree), env.make_globals(None), None)
