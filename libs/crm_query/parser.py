"""Tokenizer and recursive-descent parser of the filter language into a small immutable AST.

Grammar (keywords case-insensitive)::

    expr       := or_expr
    or_expr    := and_expr ('or' and_expr)*
    and_expr   := unary ('and' unary)*
    unary      := 'not' unary | '(' expr ')' | comparison
    comparison := FIELD op VALUE
                | FIELD ('in' | 'not' 'in') '(' VALUE (',' VALUE)* ')'
                | FIELD 'is' ['not'] 'null'
                | FIELD ('contains' | 'starts_with') VALUE
    op         := '=' | '!=' | '<' | '<=' | '>' | '>='
    VALUE      := 'string' | "string" | -?digits[.digits] | true | false | null

`FIELD = null` / `FIELD != null` parse as `is null` / `is not null`. Positions in messages are
1-based character columns. Every error is a 400 `BadRequest` with `errors={"filter": [message]}`.
"""

from __future__ import annotations

import decimal
import re
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Literal as TypingLiteral

from crm_core.errors import BadRequest

MAX_LENGTH = 4000
MAX_DEPTH = 32
MAX_COMPARISONS = 100
MAX_IN_VALUES = 500

KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "true", "false", "contains", "starts_with"})
COMPARE_OPS = ("=", "!=", "<", "<=", ">", ">=")
# Every operator a Comparison can carry; negative forms are kept so the AST renders back faithfully.
Op = TypingLiteral["=", "!=", "<", "<=", ">", ">=", "in", "not in", "is null", "is not null", "contains", "starts_with"]
ValueKind = TypingLiteral["string", "number", "bool"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_OPERATOR = re.compile(r"!=|<=|>=|=|<|>")
_SPACE = re.compile(r"\s+")


def filter_error(message: str) -> BadRequest:
    return BadRequest(f"Invalid filter: {message}", errors={"filter": [message]})


# --- AST ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Value:
    """A literal: `kind` says how it was written (a string, a number, true/false)."""

    kind: ValueKind
    value: str | decimal.Decimal | bool
    # Where and how it was written: for messages only, so ASTs compare equal whatever the spacing.
    position: int = dc_field(default=0, compare=False)  # 1-based column where the literal starts
    raw: str = dc_field(default="", compare=False)


@dataclass(frozen=True)
class Comparison:
    field: str
    op: Op
    values: tuple[Value, ...] = ()  # one for binary ops, several for (not) in, none for is (not) null
    position: int = dc_field(default=0, compare=False)  # of the field name


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Comparison | And | Or | Not


# --- tokens -------------------------------------------------------------------------------------

TokenKind = TypingLiteral["ident", "keyword", "string", "number", "op", "(", ")", ",", "end"]


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str  # keywords are lower-cased; strings are unquoted
    position: int  # 1-based
    source: str  # as written, for messages


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        space = _SPACE.match(text, i)
        if space:
            i = space.end()
            continue
        ch = text[i]
        if ch in "(),":
            tokens.append(Token(ch, ch, i + 1, ch))  # type: ignore[arg-type]
            i += 1
        elif ch in "'\"":
            value, end = _read_string(text, i)
            tokens.append(Token("string", value, i + 1, text[i:end]))
            i = end
        elif number := _NUMBER.match(text, i):
            if _glued(text, number.end()):
                bad = re.match(r"[-\w.]+", text[i:])
                raise filter_error(f"Invalid number {bad.group() if bad else ch!r} at position {i + 1}")
            tokens.append(Token("number", number.group(), i + 1, number.group()))
            i = number.end()
        elif ident := _IDENT.match(text, i):
            word = ident.group()
            lowered = word.lower()
            if lowered in KEYWORDS:
                tokens.append(Token("keyword", lowered, i + 1, word))
            else:
                tokens.append(Token("ident", word, i + 1, word))
            i = ident.end()
        elif op := _OPERATOR.match(text, i):
            tokens.append(Token("op", op.group(), i + 1, op.group()))
            i = op.end()
        else:
            raise filter_error(f"Unexpected character {ch!r} at position {i + 1}")
    tokens.append(Token("end", "", n + 1, "end of filter"))
    return tokens


def _glued(text: str, end: int) -> bool:
    # `12abc` or `1.2.3` is one bad token, not a number followed by something.
    return end < len(text) and (text[end].isalnum() or text[end] in "_.")


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == quote:
            if i + 1 < len(text) and text[i + 1] == quote:  # doubled quote = one literal quote
                out.append(quote)
                i += 2
                continue
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise filter_error(f"Unterminated string starting at position {start + 1}")


# --- parser -------------------------------------------------------------------------------------

def parse(text: str) -> Node:
    """Parse a filter expression; raises BadRequest naming the problem and its position."""
    if len(text) > MAX_LENGTH:
        raise filter_error(f"Filter is too long ({len(text)} characters; at most {MAX_LENGTH})")
    if "\x00" in text:
        # PostgreSQL text cannot hold NUL: refuse here rather than fail in the database.
        raise filter_error(f"Unexpected character '\\x00' at position {text.index(chr(0)) + 1}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates cannot be sent to any database
        raise filter_error(f"Invalid character at position {exc.start + 1}") from None
    if not text.strip():
        raise filter_error("The filter is empty")
    return _Parser(tokenize(text)).parse()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.comparisons = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind != "end":
            self.pos += 1
        return token

    def at_keyword(self, word: str, offset: int = 0) -> bool:
        token = self.tokens[min(self.pos + offset, len(self.tokens) - 1)]
        return token.kind == "keyword" and token.text == word

    def unexpected(self, expected: str | None = None) -> BadRequest:
        token = self.current
        suffix = f"; expected {expected}" if expected else ""
        if token.kind == "end":
            return filter_error(f"Unexpected end of filter at position {token.position}{suffix}")
        return filter_error(f"Unexpected token {token.source!r} at position {token.position}{suffix}")

    def expect(self, kind: TokenKind, expected: str) -> Token:
        if self.current.kind != kind:
            raise self.unexpected(expected)
        return self.advance()

    def parse(self) -> Node:
        node = self.or_expr(0)
        if self.current.kind != "end":
            raise self.unexpected("'and', 'or' or the end of the filter")
        return node

    def or_expr(self, depth: int) -> Node:
        items = [self.and_expr(depth)]
        while self.at_keyword("or"):
            self.advance()
            items.append(self.and_expr(depth))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self, depth: int) -> Node:
        items = [self.unary(depth)]
        while self.at_keyword("and"):
            self.advance()
            items.append(self.unary(depth))
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self, depth: int) -> Node:
        token = self.current
        if token.kind == "(" or self.at_keyword("not"):
            # Checked before recursing: a wall of '(' must be a 400, never a RecursionError.
            if depth >= MAX_DEPTH:
                raise filter_error(f"Filter nests too deeply (more than {MAX_DEPTH} levels) at position {token.position}")
            self.advance()
            if token.kind == "(":
                inner = self.or_expr(depth + 1)
                self.expect(")", "')'")
                return inner
            return Not(self.unary(depth + 1))
        return self.comparison()

    def comparison(self) -> Comparison:
        field_token = self.current
        if field_token.kind != "ident":
            if field_token.kind == "keyword" and field_token.text not in ("and", "or"):
                raise filter_error(f"Expected a field name at position {field_token.position}, "
                                   f"got the keyword {field_token.source!r}")
            raise self.unexpected("a field name, 'not' or '('")
        self.advance()
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise filter_error(f"Filter has too many comparisons (more than {MAX_COMPARISONS})")
        name, at = field_token.text, field_token.position
        token = self.current
        if token.kind == "op":
            self.advance()
            value = self.value()
            if value is None:  # `x = null` / `x != null`
                if token.text not in ("=", "!="):
                    raise filter_error(f"null can only be compared with = or != (or use 'is null') at position {token.position}")
                return Comparison(name, "is null" if token.text == "=" else "is not null", (), at)
            return Comparison(name, token.text, (value,), at)  # type: ignore[arg-type]
        if self.at_keyword("in") or (self.at_keyword("not") and self.at_keyword("in", 1)):
            negated = self.at_keyword("not")
            self.advance()
            if negated:
                self.advance()
            return Comparison(name, "not in" if negated else "in", self.value_list(), at)
        if self.at_keyword("is"):
            self.advance()
            negated = self.at_keyword("not")
            if negated:
                self.advance()
            if not self.at_keyword("null"):
                raise self.unexpected("'null'")
            self.advance()
            return Comparison(name, "is not null" if negated else "is null", (), at)
        if self.at_keyword("contains") or self.at_keyword("starts_with"):
            op = self.advance().text
            value = self.value()
            if value is None:
                raise filter_error(f"'{op}' needs a value, not null (at position {token.position})")
            return Comparison(name, op, (value,), at)  # type: ignore[arg-type]
        raise filter_error(
            f"Expected an operator after field {name!r} at position {token.position}, got "
            + ("the end of the filter" if token.kind == "end" else repr(token.source))
            + "; operators: =, !=, <, <=, >, >=, in, not in, is null, is not null, contains, starts_with"
        )

    def value_list(self) -> tuple[Value, ...]:
        self.expect("(", "'(' to open the list")
        values: list[Value] = []
        while True:
            token = self.current
            value = self.value()
            if value is None:
                raise filter_error(f"null is not allowed in an 'in' list (use 'is null') at position {token.position}")
            values.append(value)
            if len(values) > MAX_IN_VALUES:
                raise filter_error(f"'in' list has too many values (more than {MAX_IN_VALUES}) at position {token.position}")
            if self.current.kind == ",":
                self.advance()
                continue
            self.expect(")", "',' or ')'")
            return tuple(values)

    def value(self) -> Value | None:
        """A literal; None for `null`."""
        token = self.current
        if token.kind == "string":
            self.advance()
            return Value("string", token.text, token.position, token.source)
        if token.kind == "number":
            self.advance()
            return Value("number", decimal.Decimal(token.text), token.position, token.source)
        if token.kind == "keyword" and token.text in ("true", "false"):
            self.advance()
            return Value("bool", token.text == "true", token.position, token.source)
        if self.at_keyword("null"):
            self.advance()
            return None
        if token.kind == "ident":
            raise filter_error(f"Unexpected token {token.source!r} at position {token.position}; "
                               f"quote text values: '{token.source}'")
        raise self.unexpected("a value: a quoted string, a number, true, false or null")


# --- rendering (the inverse of parse; used by tests and logs) -----------------------------------

def render_value(value: Value) -> str:
    if value.kind == "string":
        return "'" + str(value.value).replace("'", "''") + "'"
    if value.kind == "bool":
        return "true" if value.value else "false"
    return format(value.value, "f")  # plain digits: the grammar has no exponents


def to_text(node: Node) -> str:
    """Canonical text of an AST; parse(to_text(node)) == node up to positions."""
    if isinstance(node, Comparison):
        if node.op in ("is null", "is not null"):
            return f"{node.field} {node.op}"
        if node.op in ("in", "not in"):
            return f"{node.field} {node.op} ({', '.join(render_value(v) for v in node.values)})"
        return f"{node.field} {node.op} {render_value(node.values[0])}"
    if isinstance(node, Not):
        return f"not ({to_text(node.item)})"
    joiner = " and " if isinstance(node, And) else " or "
    return joiner.join(f"({to_text(item)})" for item in node.items)
