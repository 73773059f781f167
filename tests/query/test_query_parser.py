"""The filter grammar: precedence, quoting, values, limits and error messages."""

from __future__ import annotations

import decimal

import pytest

from crm_core.errors import BadRequest
from crm_query import MAX_COMPARISONS, MAX_DEPTH, MAX_IN_VALUES, MAX_LENGTH, And, Comparison, Not, Or, Value, parse, to_text


def s(text: str) -> Value:
    return Value("string", text)


def n(text: str) -> Value:
    return Value("number", decimal.Decimal(text))


def error_of(text: str) -> str:
    with pytest.raises(BadRequest) as info:
        parse(text)
    assert info.value.status == 400
    messages = info.value.errors["filter"]
    assert len(messages) == 1 and messages[0] in info.value.detail
    return messages[0]


def test_the_documented_example() -> None:
    node = parse("lifecycle_stage = 'lead' and (plan in ('pro', 'team') or lead_score >= 50)")
    assert node == And((
        Comparison("lifecycle_stage", "=", (s("lead"),)),
        Or((Comparison("plan", "in", (s("pro"), s("team"))), Comparison("lead_score", ">=", (n("50"),)))),
    ))


def test_and_binds_tighter_than_or_and_not_tighter_than_and() -> None:
    a, b, c = (Comparison(x, "=", (n("1"),)) for x in "abc")
    assert parse("a = 1 or b = 1 and c = 1") == Or((a, And((b, c))))
    assert parse("a = 1 and b = 1 or c = 1") == Or((And((a, b)), c))
    assert parse("not a = 1 and b = 1") == And((Not(a), b))
    assert parse("not not a = 1") == Not(Not(a))
    assert parse("(a = 1 or b = 1) and c = 1") == And((Or((a, b)), c))
    assert parse("a = 1 or b = 1 or c = 1") == Or((a, b, c))  # chains stay flat


def test_keywords_are_case_insensitive_fields_are_not() -> None:
    assert parse("Plan IN ('x') AND NOT x Is Not NULL Or y CONTAINS 'a' or z Starts_With 'b'") == Or((
        And((Comparison("Plan", "in", (s("x"),)), Not(Comparison("x", "is not null")))),
        Comparison("y", "contains", (s("a"),)),
        Comparison("z", "starts_with", (s("b"),)),
    ))


def test_every_operator() -> None:
    for op in ("=", "!=", "<", "<=", ">", ">="):
        assert parse(f"x {op} 1") == Comparison("x", op, (n("1"),))  # type: ignore[arg-type]
        assert parse(f"x{op}1") == Comparison("x", op, (n("1"),))  # type: ignore[arg-type]
    assert parse("x not in (1, 2)") == Comparison("x", "not in", (n("1"), n("2")))
    assert parse("x is null") == parse("x = null") == Comparison("x", "is null")
    assert parse("x is not null") == parse("x != null") == Comparison("x", "is not null")


def test_values() -> None:
    assert parse("x = 'it''s'").values == (s("it's"),)  # type: ignore[union-attr]
    assert parse('x = "say ""hi"""').values == (s('say "hi"'),)  # type: ignore[union-attr]
    assert parse('x = "it\'s"').values == (s("it's"),)  # type: ignore[union-attr]
    assert parse("x = ''").values == (s(""),)  # type: ignore[union-attr]
    assert parse("x = '  a ( ) , and or '").values == (s("  a ( ) , and or "),)  # type: ignore[union-attr]
    assert parse("x = -12.50").values == (n("-12.50"),)  # type: ignore[union-attr]
    assert parse("x = TRUE").values == (Value("bool", True),)  # type: ignore[union-attr]
    assert parse("x = false").values == (Value("bool", False),)  # type: ignore[union-attr]
    assert parse("x>-1").values == (n("-1"),)  # type: ignore[union-attr]
    assert parse("x = 'ünï €'").values == (s("ünï €"),)  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "message"), [
    ("a = 1)", "Unexpected token ')' at position 6; expected 'and', 'or' or the end of the filter"),
    ("(a = 1", "Unexpected end of filter at position 7; expected ')'"),
    ("a = ", "Unexpected end of filter at position 5; expected a value: a quoted string, a number, true, false or null"),
    ("a = pro", "Unexpected token 'pro' at position 5; quote text values: 'pro'"),
    ("a 'x'", "Expected an operator after field 'a' at position 3, got \"'x'\""),
    ("a", "Expected an operator after field 'a' at position 2, got the end of the filter"),
    ("= 1", "Unexpected token '=' at position 1; expected a field name, 'not' or '('"),
    ("and = 1", "Unexpected token 'and' at position 1"),
    ("null = 1", "Expected a field name at position 1, got the keyword 'null'"),
    ("a = 'open", "Unterminated string starting at position 5"),
    ("a = 1 # x", "Unexpected character '#' at position 7"),
    ("a = 12abc", "Invalid number '12abc' at position 5"),
    ("a = 1.2.3", "Invalid number '1.2.3' at position 5"),
    ("a = 1e5", "Invalid number '1e5' at position 5"),
    ("a < null", "null can only be compared with = or != (or use 'is null') at position 3"),
    ("a in (1, null)", "null is not allowed in an 'in' list (use 'is null') at position 10"),
    ("a in 1", "Unexpected token '1' at position 6; expected '(' to open the list"),
    ("a in ()", "Unexpected token ')' at position 7; expected a value"),
    ("a in (1 2)", "Unexpected token '2' at position 9; expected ',' or ')'"),
    ("a is 'x'", "Unexpected token \"'x'\" at position 6; expected 'null'"),
    ("a contains null", "'contains' needs a value, not null (at position 3)"),
    ("a = 1 and", "Unexpected end of filter at position 10"),
    ("a = 1 b = 2", "Unexpected token 'b' at position 7"),
    ("   ", "The filter is empty"),
    ("a = '\x00'", "Unexpected character '\\x00' at position 6"),
    ("a = '\ud800'", "Invalid character at position 6"),
])
def test_errors_name_the_problem_and_position(text: str, message: str) -> None:
    assert error_of(text).startswith(message)


def test_limits() -> None:
    assert error_of("a = '" + "x" * MAX_LENGTH + "'") == f"Filter is too long ({MAX_LENGTH + 6} characters; at most {MAX_LENGTH})"
    ok_depth = "(" * MAX_DEPTH + "a = 1" + ")" * MAX_DEPTH
    assert isinstance(parse(ok_depth), Comparison)
    assert "nests too deeply" in error_of("(" * (MAX_DEPTH + 1) + "a = 1" + ")" * (MAX_DEPTH + 1))
    assert "nests too deeply" in error_of("not " * (MAX_DEPTH + 1) + "a = 1")
    # Far past Python's recursion limit: still a 400, never a RecursionError.
    assert "nests too deeply" in error_of("(" * 3000)
    assert isinstance(parse(" and ".join(["a = 1"] * MAX_COMPARISONS)), And)
    assert "too many comparisons" in error_of(" or ".join(["a = 1"] * (MAX_COMPARISONS + 1)))
    values = ", ".join(["1"] * MAX_IN_VALUES)
    assert len(parse(f"a in ({values})").values) == MAX_IN_VALUES  # type: ignore[union-attr]
    assert "too many values" in error_of(f"a in ({values}, 1)")


def test_to_text_round_trips() -> None:
    for text in ["lifecycle_stage = 'lead' and (plan in ('pro', 'team') or lead_score >= 50)",
                 "not (a = 'it''s' or b is not null) and c not in (-1.5, 2) and d contains '%'",
                 "a = true or b starts_with \"x\"", "a != 0.000"]:
        node = parse(text)
        assert parse(to_text(node)) == node
