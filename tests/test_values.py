from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_exec.values import REDACTED, ValuePolicy

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
