from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_exec.values import (
    _LOOSE_NAMES,
    _MARKERS,
    DEFAULT_SENSITIVE_KEYS,
    REDACTED,
    SECRET_SHAPES,
    ValuePolicy,
    _redact_shape,
    any_of,
)

policy = ValuePolicy(max_length=64)


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


def test_primitives_are_plain_reprs() -> None:
    assert [policy.text(v) for v in (1, 2.5, True, None)] == ["1", "2.5", "True", "None"]


def test_long_text_is_truncated_with_an_ellipsis() -> None:
    text = policy.text("x" * 10_000)
    assert len(text) <= 64
    assert "..." in text


def test_huge_and_deep_values_stay_bounded() -> None:
    deep: list[object] = []
    node = deep
    for _ in range(500):
        child: list[object] = []
        node.append(child)
        node = child
    assert len(policy.text(deep)) <= 64
    assert len(policy.text(list(range(1_000_000)))) <= 64
    assert len(policy.text({i: "v" * 100 for i in range(1000)})) <= 64


def test_sensitive_mapping_keys_are_redacted_at_any_depth() -> None:
    wide = ValuePolicy(max_length=1000)
    text = wide.text({"user": "ann", "Password": "hunter2", "nested": {"api_key": "k-123"}})
    assert "hunter2" not in text
    assert "k-123" not in text
    assert "ann" in text
    assert text.count(REDACTED) == 2


def test_sensitive_assignments_inside_reprs_are_redacted() -> None:
    class Login:
        def __repr__(self) -> str:
            return "Login(user='ann', password='hunter2', auth_token=abc123)"

    text = ValuePolicy(max_length=1000).text(Login())
    assert "hunter2" not in text
    assert "abc123" not in text
    assert "user='ann'" in text


def test_a_failing_repr_gives_a_placeholder_not_an_exception() -> None:
    assert policy.text(BadRepr()) == "<unrepresentable BadRepr: RuntimeError>"
    assert "unrepresentable" in policy.text([BadRepr()])


def test_custom_sensitive_keys_and_names() -> None:
    custom = ValuePolicy(sensitive_keys=("pin",))
    assert custom.is_sensitive("card_pin")
    assert not custom.is_sensitive("password")
    assert ValuePolicy().is_sensitive("Authorization")


def test_max_length_is_validated() -> None:
    with pytest.raises(ValueError, match="max_length"):
        ValuePolicy(max_length=3)


def test_a_secret_pattern_that_does_not_compile_is_refused_up_front() -> None:
    with pytest.raises(re.error):
        ValuePolicy(secret_patterns=("ACME-(",))


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                     st.integers(min_value=-(1 << 300), max_value=1 << 300),
                     st.sampled_from(["", "token=abc123def", "AKIAIOSFODNN7EXAMPLE", "ß", "1e5"]),
                     st.text(max_size=80))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=10), st.lists(inner, max_size=10).map(tuple),
    st.dictionaries(st.text(max_size=12), inner, max_size=10)), max_leaves=30)


@given(_values)
def test_the_short_way_gives_the_full_way_s_text(value: object) -> None:
    """A text within the bound under the built-in policy is only redacted; a policy with a
    scrub hook (here one that changes nothing) takes the full way: both give the same text."""
    assert policy.text(value) == ValuePolicy(max_length=64, scrub=str).text(value)


@given(st.integers(-(10**30), 10**30) | st.floats(allow_nan=True) | st.booleans() | st.none())
def test_a_number_s_text_is_redacted_and_scrubbed_as_any_text(value: object) -> None:
    """A number, bool or None as an argument or result: its text goes through the same
    redaction (a card number as an int too) and the policy's scrub hook as a string's."""
    assert policy.text(value) == policy.redact(repr(value))
    scrubbed = ValuePolicy(scrub=lambda text: text.replace("1", "one"))
    assert scrubbed.text(value) == scrubbed.redact(repr(value)).replace("1", "one")


def test_a_card_number_as_an_int_is_redacted() -> None:
    assert policy.text(4111111111111111) == "[REDACTED]"
    assert policy.text(4111111111111112) == "4111111111111112"  # no valid checksum: no card
    assert policy.text(4111111111111111.0) == "[REDACTED].0"


_WORDS = st.lists(st.text(alphabet="abk_-:/", min_size=1, max_size=6), min_size=1, max_size=12)


@given(_WORDS, st.text(alphabet="abk_-:/x\n", max_size=40))
def test_any_of_finds_a_word_exactly_when_the_text_holds_one(words: list[str],
                                                             text: str) -> None:
    """The trie-shaped pattern matches the same texts as looking for each word (words that
    are prefixes of others, repeats and regex characters included)."""
    found = re.search(any_of(words), text)
    assert (found is not None) == any(word in text for word in words)
    if found is not None:
        assert found.group() in words


@given(st.text(max_size=120) | st.sampled_from([
    "Bearer abc.def", "https://u:p@host", "xoxb-1234567890", "github_pat_x", "-----BEGIN",
    "my_api_KEY=1", "SessionID", "sk_live_abc", "aizasy"]))
def test_the_first_look_sees_what_looking_for_each_word_sees(text: str) -> None:
    """The first look at a text (one trie-shaped pattern) agrees with a search for each
    sensitive word and secret marker, for the built-in policy and one with a word of its own."""
    for values, words in ((policy, _LOOSE_NAMES),
                          (ValuePolicy(sensitive_keys=(*DEFAULT_SENSITIVE_KEYS, "PinCode")),
                           (*_LOOSE_NAMES, "pincode"))):
        lowered = text.lower()
        assert (values._redactor._first_look.search(lowered) is not None) == any(
            word in lowered for word in (*words, *_MARKERS))
        assert (values._redactor._words.search(lowered) is not None) == any(
            word in lowered for word in words)


_PIECES = st.sampled_from([
    "Bearer ", "basic ", "Basic dXNlcjpwYXNz", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
    "https://", "user:pw@", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "ghp_" + "a" * 36, "github_pat_" + "b" * 22, "xoxb-1234567890-abc", "sk_live_0123456789ab",
    "AIza" + "c" * 35, "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----",
    "password", "api_key", "Token", "session", "tokenizer", "max_tokens", "pin-42", "=", ": ",
    ", ", "'",
    '"', "b'", " ", "\n", "x" * 40, "İ", "K", "ſ", "ﬃ", "value", "42", "(", ")", "{", "}"])


_NAMES = st.sampled_from(["password", "api_key", "Token", "SESSION_ID", "privateKey", "user",
                          "tokenizer", "max_tokens", "x-auth-token", "İd_token", "passwordİ",
                          "pin", "pin42"])
_PAIRS = st.tuples(st.sampled_from(["", "'", '"', "b'"]), _NAMES, st.sampled_from(["", "'", '"']),
                   st.sampled_from(["=", ": ", ":", ", ", " = ", "\t:"]),
                   st.sampled_from(["hunter2", "'s3cr3t'", '"v"', "42", "", "Bearer abc123"])
                   ).map("".join)


@settings(max_examples=500)
@given(st.lists(_PIECES | _PAIRS | st.text(max_size=6), max_size=14).map("".join))
def test_redacting_only_what_the_looks_find_gives_the_full_way_s_text(text: str) -> None:
    """Redaction that looks for pairs only after a sensitive word and a separator, and (the
    built-in shapes) only for the shapes whose words the text holds, gives what searching the
    whole text for every pair and every shape gives."""
    for values in (policy, ValuePolicy(sensitive_keys=(*DEFAULT_SENSITIVE_KEYS, "PinCode")),
                   ValuePolicy(sensitive_keys=("password", r"pin\d*")),  # any name may be one
                   ValuePolicy(secret_patterns=(r"\bpin-\d+",))):
        every_shape = re.compile("|".join(f"(?:{shape})" for shape in (
            *SECRET_SHAPES, *values.secret_patterns)), re.DOTALL)
        everywhere = every_shape.sub(_redact_shape, _pairs_from_every_position(values, text))
        assert values.redact(text) == everywhere


def _pairs_from_every_position(values: ValuePolicy, text: str) -> str:
    """The pairs redacted the plain way: the pair pattern searched for from each position."""
    pieces: list[str] = []
    position = 0
    while (match := values._redactor._pairs.search(text, position)) is not None:
        value_start = match.start("value")
        if (match["sep"] == "," and not match["q"]) or not values.is_sensitive(match["key"]):
            pieces.append(text[position:value_start])
            position = value_start if value_start > match.start() else match.end()
            continue
        opening = match["value"].lstrip("b")[:1]
        quote = opening if opening in ("'", '"') else ""
        pieces.append(f"{text[position:value_start]}{quote}{REDACTED}{quote}")
        position = match.end()
    pieces.append(text[position:])
    return "".join(pieces)
