"""Bounded, scrubbed text forms of user values, fit to leave the process as span attributes.

Nothing here raises: a ``__repr__`` that fails, a value too large or too deep, a mapping whose
keys say *password* or *token* each get a safe, bounded stand-in.
"""

from __future__ import annotations

import re
import reprlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

REDACTED = "[REDACTED]"

DEFAULT_SENSITIVE_KEYS: tuple[str, ...] = (
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "api-key",
    "authorization",
    "cookie",
    "credential",
    "private_key",
)

_PRIMITIVES = frozenset({int, float, bool, type(None)})


def _key_pattern(keys: Iterable[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(key) for key in keys)
    return re.compile(f"(?:{alternatives})", re.IGNORECASE)


def _assignment_pattern(keys: Iterable[str]) -> re.Pattern[str]:
    """``key=value`` / ``'key': value`` where key contains a sensitive word."""
    alternatives = "|".join(re.escape(key) for key in keys)
    return re.compile(
        rf"""(['"]?)([\w.-]*(?:{alternatives})[\w.-]*)\1(\s*[=:]\s*)"""
        r"""('[^']*(?:'|$)|"[^"]*(?:"|$)|[^\s,)}\]]+)""",
        re.IGNORECASE,
    )


class _ScrubbingRepr(reprlib.Repr):
    """reprlib with sensitive mapping keys redacted and failing reprs contained."""

    def __init__(self, policy: ValuePolicy) -> None:
        super().__init__(maxlevel=4, maxdict=20, maxlist=20, maxtuple=20, maxset=20,
                         maxstring=policy.max_length, maxother=policy.max_length,
                         maxlong=64)
        self._sensitive = policy.sensitive_key

    def repr_dict(self, x: Mapping[Any, Any], level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{" + self.fillvalue + "}"
        pieces = []
        for count, key in enumerate(x):
            if count >= self.maxdict:
                pieces.append(self.fillvalue)
                break
            key_text = self.repr1(key, level - 1)
            if isinstance(key, str) and self._sensitive.search(key):
                value_text = repr(REDACTED)
            else:
                value_text = self.repr1(x[key], level - 1)
            pieces.append(f"{key_text}: {value_text}")
        return "{" + ", ".join(pieces) + "}"

    def repr_instance(self, x: object, level: int) -> str:
        try:
            text = repr(x)
        except Exception as exc:  # a user __repr__ that raises must not reach the user
            return f"<unrepresentable {type(x).__qualname__}: {type(exc).__name__}>"
        if len(text) > self.maxother:
            return text[: self.maxother - 3] + "..."
        return text


@dataclass(frozen=True)
class ValuePolicy:
    """How user values become attribute text: whether at all, how long, what to hide.

    Args:
        capture: When False, args, kwargs and results are not turned into attributes at all.
        max_length: Longest attribute text; longer text ends in ``...``.
        sensitive_keys: Words that, inside a mapping key, argument or field name, hide the value.
    """

    capture: bool = True
    max_length: int = 256
    sensitive_keys: tuple[str, ...] = DEFAULT_SENSITIVE_KEYS
    sensitive_key: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _assignment: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _repr: _ScrubbingRepr = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_length < 16:
            raise ValueError("max_length must be at least 16 characters.")
        object.__setattr__(self, "sensitive_key", _key_pattern(self.sensitive_keys))
        object.__setattr__(self, "_assignment", _assignment_pattern(self.sensitive_keys))
        object.__setattr__(self, "_repr", _ScrubbingRepr(self))

    def is_sensitive(self, name: str) -> bool:
        """Whether a parameter, key or field called ``name`` holds a secret."""
        return self.sensitive_key.search(name) is not None

    def text(self, value: object) -> str:
        """Return a bounded, scrubbed repr of ``value``; never raises."""
        kind = type(value)
        if kind in _PRIMITIVES:
            return repr(value)
        if _small(value, 2):
            text = repr(value)  # the common case: a few short values; builtin repr is bounded
        else:
            try:
                text = self._repr.repr(value)
            except Exception as exc:
                return f"<unrepresentable {kind.__qualname__}: {type(exc).__name__}>"
        return self.message(text)

    def message(self, text: str) -> str:
        """Free text (an exception message, a repr already made), scrubbed and bounded."""
        if ("=" in text or ":" in text) and self.sensitive_key.search(text):
            text = self._assignment.sub(_redact_match, text)
        if len(text) > self.max_length:
            text = text[: self.max_length - 3] + "..."
        return text


def _small(value: object, depth: int) -> bool:
    """Whether ``value`` is a few primitives or short strings, nested at most ``depth`` deep."""
    kind = type(value)
    if kind in _PRIMITIVES:
        return True
    if kind is str:
        return len(value) <= 64  # type: ignore[arg-type]
    if not depth:
        return False
    if kind is tuple or kind is list:
        return len(value) <= 8 and all(  # type: ignore[arg-type]
            _small(item, depth - 1) for item in value)  # type: ignore[attr-defined]
    if kind is dict:
        return len(value) <= 8 and all(  # type: ignore[arg-type]
            type(key) is str and len(key) <= 64 and _small(item, depth - 1)
            for key, item in value.items())  # type: ignore[attr-defined]
    return False


def _redact_match(match: re.Match[str]) -> str:
    quote, key, separator, _value = match.groups()
    return f"{quote}{key}{quote}{separator}{REDACTED!r}"


_policy = ValuePolicy()


def policy() -> ValuePolicy:
    """The value policy in force (set by ``otel_exec.configure``)."""
    return _policy


def set_policy(new: ValuePolicy) -> None:
    """Replace the value policy in force."""
    global _policy
    _policy = new
