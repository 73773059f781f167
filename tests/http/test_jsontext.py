"""crm_http.jsontext: what the shared parsing layer refuses, and how it names the field (no I/O)."""

from __future__ import annotations

import pytest

from crm_http.jsontext import MAX_JSON_DEPTH, BadText, JsonSyntaxError, decode_json, printable, text_problem


def test_plain_text_passes_and_nul_or_surrogates_are_named() -> None:
    assert text_problem("Zoë 😀 \t\n") is None
    assert "NUL" in (text_problem("a\x00") or "")
    assert "\\ud800" in (text_problem("\ud800") or "")
    assert "\\udfff" in (text_problem("x\udfffy") or "")
    assert printable("a\x00b\ud800") == "a\\u0000b\\ud800"


@pytest.mark.parametrize(("raw", "path"), [
    ('{"a": "\\u0000"}', "a"),
    ('{"a": {"b": ["ok", "\\ud83d"]}}', "a.b.1"),
    ('{"a\\u0000": 1}', "a\\u0000"),
    ('{"a": {"\\udc00": 1}}', "a.\\udc00"),
    ('"\\u0000"', "_body"),
])
def test_unstorable_text_is_reported_with_its_path(raw: str, path: str) -> None:
    with pytest.raises(BadText) as caught:
        decode_json(raw)
    assert caught.value.path == path


def test_a_valid_surrogate_pair_is_one_character() -> None:
    assert decode_json('{"a": "\\ud83d\\ude00"}') == {"a": "😀"}


@pytest.mark.parametrize("raw", [
    "[" * 100_000 + "]" * 100_000,  # beyond Python's recursion limit: json.loads raises RecursionError
    "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1),
    '{"a": NaN}', '{"a": -Infinity}', '{"a": 1e400}', "1" * 5000, "{", b"\xff\xfe\x00",
])
def test_malformed_deep_or_non_finite_json_is_a_syntax_error(raw: str | bytes) -> None:
    with pytest.raises(JsonSyntaxError):
        decode_json(raw)


def test_depth_limit_counts_containers() -> None:
    ok = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert decode_json(ok) is not None
    assert decode_json('{"a": [1.5, 2, "x", null, true]}') == {"a": [1.5, 2, "x", None, True]}
