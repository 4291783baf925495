"""Filter patterns: CloudWatch's term, phrase, exclusion, OR, regex and JSON syntax."""

from __future__ import annotations

import pytest

from stowage.logstore import PatternError, compile_pattern


def matches(pattern: str, message: str) -> bool:
    m = compile_pattern(pattern)
    return True if m is None else m(message)


def test_empty_pattern_matches_everything() -> None:
    assert compile_pattern(None) is None
    assert compile_pattern("") is None
    assert compile_pattern("   ") is None


def test_terms_must_all_occur_case_sensitively() -> None:
    assert matches("ERROR", "[ERROR] disk full")
    assert not matches("ERROR", "[error] disk full")
    assert matches("ERROR disk", "[ERROR] disk full")
    assert not matches("ERROR memory", "[ERROR] disk full")


def test_quoted_phrase_is_one_term() -> None:
    assert matches('"disk full"', "[ERROR] disk full")
    assert not matches('"full disk"', "[ERROR] disk full")
    assert matches('"say \\"hi\\""', 'they say "hi" there')


def test_exclusion_and_optional_terms() -> None:
    assert matches("ERROR -timeout", "ERROR disk full")
    assert not matches("ERROR -timeout", "ERROR timeout talking to db")
    assert matches("?ERROR ?WARN", "WARN low memory")
    assert matches("?ERROR ?WARN", "ERROR low memory")
    assert not matches("?ERROR ?WARN", "INFO all good")
    assert not matches('-"all good"', "INFO all good")


def test_regex_pattern() -> None:
    assert matches("%ERR(OR)?|WARN%", "ERR 1")
    assert not matches("%^ERROR%", "an ERROR")
    with pytest.raises(PatternError):
        compile_pattern("%(unclosed%")


def test_json_comparisons() -> None:
    msg = (
        '{"level": "error", "status": 503, "user": {"id": "u-17"}, "tags": ["a", "b"],'
        ' "ok": false, "x": null}'
    )
    assert matches('{ $.level = "error" }', msg)
    assert matches("{ $.level = error }", msg)
    assert matches('{ $.level = "err*" }', msg)
    assert not matches('{ $.level = "warn" }', msg)
    assert matches('{ $.level != "warn" }', msg)
    assert matches("{ $.status >= 500 }", msg)
    assert matches("{ $.status = 503 }", msg)
    assert not matches("{ $.status < 500 }", msg)
    assert matches('{ $.user.id = "u-17" }', msg)
    assert matches('{ $.tags[1] = "b" }', msg)
    assert matches("{ $.ok IS FALSE }", msg)
    assert matches("{ $.x IS NULL }", msg)
    assert matches("{ $.missing NOT EXISTS }", msg)
    assert not matches("{ $.missing = 1 }", msg)
    assert matches('{ ($.status = 404 || $.status = 503) && $.level = "error" }', msg)
    assert not matches('{ $.status = 404 || ($.level = "info" && $.status = 503) }', msg)


def test_json_pattern_never_matches_plain_text() -> None:
    assert not matches('{ $.level = "error" }', "level = error")
    assert not matches('{ $.level = "error" }', "[1, 2]")


@pytest.mark.parametrize(
    "bad",
    [
        "{ $.a = }",
        "{ $.a = 1",
        "{ level = 1 }",
        '{ $.a < "x" }',
        "{ $.a IS MAYBE }",
        '"unterminated',
        "[a, b]",
    ],
)
def test_invalid_patterns_are_errors(bad: str) -> None:
    with pytest.raises(PatternError):
        compile_pattern(bad)
