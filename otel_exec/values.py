"""Bounded, scrubbed text forms of user values, fit to leave the process as span attributes.

Nothing here raises, and nothing costs more than the bound: a ``__repr__`` that fails, a 50 MB
``bytes``, an integer of a million digits, a structure a thousand levels deep each get a safe,
bounded stand-in. Secrets are redacted twice over:

- by *name*: the value of a mapping key, keyword, field, ``key=value`` / ``key: value`` pair or
  ``(name, value)`` header pair whose name says password, token, api key, cookie... (matched
  on normalised names: ``privateKey``, ``private-key`` and ``PRIVATE_KEY`` are one name);
- by *shape*, wherever it appears (values, exception messages, stack traces): bearer and basic
  credentials, JWTs, URL user-info, AWS keys, GitHub / Slack / Stripe / Google tokens, PEM
  private key blocks.
"""

from __future__ import annotations

import re
import reprlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

REDACTED = "[REDACTED]"

DEFAULT_SENSITIVE_KEYS: tuple[str, ...] = (
    "password",
    "passwd",
    "passphrase",
    r"(?:^|_)pwd(?:_|$)",
    "secret",
    r"auth(?!or(?!iz))",  # auth, oauth, authorization, x_auth_token; not author(ity)
    "credential",
    r"private_?key",
    r"api_?key",
    r"access_?key",
    r"(?:^|_)session(?:_?(?:id|key|token|secret|cookie|data))?$",  # not sessions_per_day
    "cookie",
    r"(?:^|_)csrf",
    r"(?:^|_)xsrf",
    r"(?:^|_)jwt(?:_|$)",
    r"(?:^|_)ssn(?:_|$)",
    r"credit_?card",
    r"card_?number",
    r"(?:^|_)cvv(?:_|$)",
    r"social_?security",
    r"(?:^|_)(?<!max_)(?<!num_)(?<!total_)tokens?(?:_|$)",  # not tokenizer, max_tokens
)
"""Patterns (regular expressions, case-insensitive) matched against normalised names: lower
case, words joined by ``_`` (``privateKey``, ``private-key``, ``PRIVATE_KEY`` → ``private_key``)."""

_DESCRIBES = frozenset((
    "url", "uri", "policy", "length", "len", "min", "max", "count", "hint", "field", "name",
    "type", "format", "rule", "rules", "pattern", "regex", "prompt", "label", "enabled",
    "required", "expires", "expiry", "ttl", "timeout", "path", "file", "header", "strength",
    "changed", "reset", "valid", "validation", "limit", "size", "version", "provider"))
"""Last words of a name that describes a secret rather than holding one."""

_LOOSE_NAMES = ("pass", "pwd", "secret", "auth", "credential", "key", "session", "cookie",
                "csrf", "xsrf", "jwt", "ssn", "card", "cvv", "security", "token")
"""Words one of which every default sensitive name contains: a cheap first look at text."""

def any_of(words: Iterable[str]) -> str:
    """A regular expression matching any of ``words`` (literal text), shaped as a trie:
    ``a(?:uth|kia)|b(?:asic|earer)`` instead of ``auth|akia|basic|bearer``. Python's ``re``
    tries every alternative of a flat one at every position of the text; the trie shares
    their prefixes, so fewer alternatives are tried."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here
    return _trie_pattern(trie) or "(?!)"


def _trie_pattern(node: dict[str, Any]) -> str:
    branches = [re.escape(char) + _trie_pattern(rest)
                for char, rest in sorted(node.items()) if char]
    if not branches:
        return ""
    if "" in node:  # a word ends here and longer ones go on: what follows is optional
        return f"(?:{'|'.join(branches)})?"
    return branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"

_RUN_OF_40 = re.compile(r"[A-Za-z0-9/+]{40}")
_LETTER = re.compile(r"[A-Za-z]")

SECRET_SHAPES: tuple[str, ...] = (
    r"(?P<scheme>\b(?i:bearer)\s+)(?=[A-Za-z]*[0-9\-._~+/=])[A-Za-z0-9\-._~+/]{6,}=*",
    r"(?P<basic>\b(?i:basic)\s+)(?=[A-Za-z]*[0-9+/=])[A-Za-z0-9+/]{6,}={0,2}",
    r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_\-]*",
    r"(?P<url>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?:[^/\s:@'\"]+(?::[^/\s@'\"]*)?|:[^/\s@'\"]+)@",
    r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}\b",
    r"(?<![A-Za-z0-9/+])(?P<aws>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
    r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{20,})",
    r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
    r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}",
    r"\bAIza[0-9A-Za-z\-_]{35}",
    r"-----BEGIN[A-Z ]*PRIVATE KEY-----.*?(?:-----END[A-Z ]*PRIVATE KEY-----|$)",
    r"\bsk-(?:proj-|ant-[a-z0-9]+-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}",
    r"\bnpm_[A-Za-z0-9]{36}\b",
    r"\bpypi-[A-Za-z0-9_\-]{50,}",
    r"\bglpat-[A-Za-z0-9_\-]{20,}",
    r"\bSG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}",
    r"(?P<keep_slack>https://hooks\.slack\.com/(?:services|workflows)/)[A-Za-z0-9_/\-]+",
    r"(?P<keep_azure>\b(?i:AccountKey|SharedAccessKey)=)[A-Za-z0-9+/]{20,}={0,2}",
    r"(?P<keep_sig>[?&](?i:sig)=)[A-Za-z0-9%+/=]{16,}",
    r"\b[0-9]{8,10}:AA[A-Za-z0-9_\-]{33}\b",
    r"(?<![0-9])(?P<card>[0-9]{4}(?:[ \-]?[0-9]{4}){2}[ \-]?[0-9]{4,7})(?![0-9])",
)
"""Shapes of secrets redacted wherever they appear."""
_SHAPE_MARKERS: tuple[tuple[str, ...], ...] = (
    ("bearer",), ("basic",), ("eyj",), ("://",),
    ("akia", "asia", "agpa", "aida", "aroa", "anpa", "anva", "aipa"),
    (),  # a bare AWS secret key: a run of 40 (_RUN_OF_40)
    ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ("xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-"),
    ("_live_", "_test_"), ("aiza",), ("-----",),
    ("sk-",), ("npm_",), ("pypi-",), ("glpat-",), ("sg.",), ("hooks.slack.com",),
    ("accountkey=", "sharedaccesskey="), ("sig=",),
    (":aa",),  # a Telegram bot token: digits, ":AA", then 33 token characters
    (),  # a card number: digits (_CARD_RUN), its checksum checked (_redact_shape)
)
"""For each of ``SECRET_SHAPES``, in order: words one of which the lower-cased text holds
wherever the shape matches, so the first look at a text is one fast scan and only the shapes
whose words it holds are searched for."""
_MARKERS = tuple(marker for markers in _SHAPE_MARKERS for marker in markers)
_AWS_SECRET = _SHAPE_MARKERS.index(())
_CARD = len(_SHAPE_MARKERS) - 1
_CARD_RUN = re.compile(r"[0-9]{4}[ \-]?[0-9]{4}[ \-]?[0-9]{4}")
_shape_sets: dict[tuple[tuple[int, ...], tuple[str, ...]], re.Pattern[str]] = {}
_MOST_SHAPE_SETS = 256


def _shapes_in(text: str, lowered: str, extra: tuple[str, ...]) -> re.Pattern[str] | None:
    """The shapes that may match ``text`` as one pattern: the built-in ones whose words
    ``lowered`` holds (the bare AWS key where there is a run of 40) and the ``extra`` patterns
    (a policy's own). What the pattern of every shape finds and replaces there, this one does
    too, for the others cannot match. None: no shape can."""
    chosen = tuple(i for i, markers in enumerate(_SHAPE_MARKERS)
                   if any(marker in lowered for marker in markers)
                   or (i == _AWS_SECRET and len(text) >= 40 and _RUN_OF_40.search(text))
                   or (i == _CARD and len(text) >= 12 and _CARD_RUN.search(text)))
    if not chosen and not extra:
        return None
    key = (chosen, extra)
    pattern = _shape_sets.get(key)
    if pattern is None:  # at most 2 ** 11 sets of built-in shapes per policy, a few in practice
        if len(_shape_sets) >= _MOST_SHAPE_SETS:
            _shape_sets.clear()
        pattern = _shape_sets[key] = re.compile("|".join(
            f"(?:{shape})" for shape in (*(SECRET_SHAPES[i] for i in chosen), *extra)),
            re.DOTALL)
    return pattern


_PAIR = (r"""(?P<b>b?)(?P<q>['"]?)(?P<key>{key})(?P=q)"""
         r"""\s*(?:(?P<eq>=)|(?P<sep>[:,]))\s*"""
         r"""(?P<value>b?'(?:[^'\\]|\\.)*'?|b?"(?:[^"\\]|\\.)*"?"""
         r"""|(?(eq)[^\s,;)}}\]&]*[^\s,;)}}\]&'"](?:[ \t]+(?![\w.\-]+\s*=)[^\s,;)}}\]&=]*"""
         r"""[^\s,;)}}\]&='"])*"""
         r"""|[^\n,;)}}\]&]*[^\n,;)}}\]&'"\s]))""")
"""``name=value``, ``name: value``, ``'name': value`` and ``('name', value)`` pairs whose name
is ``key`` (``_KEY_WITH`` or ``_ANY_KEY``). An unquoted value runs to the end of the line after
a colon; after ``=``, over the words that follow until the next ``name=`` (``password=correct
horse staple role=admin``). Neither takes a closing quote of the text around it."""
_KEY_WITH = r"[\w.\-]*(?:{words})[\w.\-]*+"
"""A name holding one of ``words``. A key ends where its run of key characters does (``*+``:
no character that can follow a key is one), so a failed look costs no backtracking there."""
_ANY_KEY = r"[\w.\-]*+"
"""Any name (a policy with a name pattern of the user's own): one possessive run, not two runs
in a row (whose backtracking took seconds on a long run of key characters)."""
_SEPARATOR = re.compile(r"""['"]?\s*[=:,]""")
"""What every pair holds after its name: where to look for pairs when any name may be one."""

_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_SEPARATORS = re.compile(r"[^a-z0-9]+")


def normalise(name: str) -> str:
    """A name as the sensitive-name patterns see it: ``privateKey`` → ``private_key``."""
    return _SEPARATORS.sub("_", _CAMEL.sub(r"\1_\2", name).lower())


class _BoundedRepr(reprlib.Repr):
    """reprlib that never renders more than its bounds (bytes, big integers, instances), with
    sensitive mapping keys redacted and failing reprs contained."""

    def __init__(self, policy: ValuePolicy) -> None:
        super().__init__()  # Python 3.11's takes no arguments
        self.maxlevel = 4
        self.maxdict = self.maxlist = self.maxtuple = self.maxset = 20
        self.maxstring = self.maxother = policy.max_length
        self.maxlong = 64
        self._policy = policy

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
            if self._policy.is_sensitive_key(key):
                value_text = repr(REDACTED)
            else:
                value_text = self.repr1(x[key], level - 1)
            pieces.append(f"{key_text}: {value_text}")
        return "{" + ", ".join(pieces) + "}"

    def repr_bytes(self, x: bytes, level: int) -> str:
        return _bounded_sequence(x, self.maxstring)

    def repr_bytearray(self, x: bytearray, level: int) -> str:
        return f"bytearray({_bounded_sequence(bytes(x[:self.maxstring]), self.maxstring)})"

    def repr_memoryview(self, x: memoryview, level: int) -> str:
        return f"<memoryview of {x.nbytes} bytes>"

    def repr_int(self, x: int, level: int) -> str:
        return _int_text(x)

    def repr_instance(self, x: object, level: int) -> str:
        try:
            text = str.__str__(repr(x))  # a plain str, whatever subclass __repr__ returned
        except BaseException as exc:  # a user __repr__ raising (even SystemExit) stays ours
            return f"<unrepresentable {type(x).__qualname__}: {type(exc).__name__}>"
        if len(text) > self.maxother:
            return text[: self.maxother - 3] + "..."
        return text


def _bounded_sequence(value: bytes, limit: int) -> str:
    text = repr(value[:limit])
    return text + "..." if len(value) > limit else text


def _int_text(value: int) -> str:
    """``repr`` of an integer, or its size when that repr would be huge (or refused: Python
    will not print integers of over 4,300 digits)."""
    if _INT_LOW < value < _INT_HIGH:
        return repr(value)
    return f"<int of {value.bit_length()} bits>"


_INT_LOW, _INT_HIGH = -(1 << 256), 1 << 256
"""Integers between them (at most 256 bits) are shown as they are."""


class Redactor:
    """A policy's names and secret patterns, compiled: finds sensitive names and redacts
    sensitive ``name=value`` pairs and secret shapes in a text.

    Args:
        sensitive_keys: Patterns of names whose values are redacted.
        secret_patterns: Extra regular expressions redacted wherever they match.
    """

    def __init__(self, sensitive_keys: tuple[str, ...],
                 secret_patterns: tuple[str, ...]) -> None:
        self._secret_patterns = secret_patterns
        names = "|".join(f"(?:{pattern})" for pattern in sensitive_keys) or "(?!)"
        extra = [p for p in sensitive_keys
                 if p not in DEFAULT_SENSITIVE_KEYS and re.fullmatch(r"\w+", p)]
        loose = (*_LOOSE_NAMES, *(p.lower() for p in extra))
        words = "|".join(map(re.escape, loose))
        look = any_of(loose)
        if any(p not in DEFAULT_SENSITIVE_KEYS and not re.fullmatch(r"\w+", p)
               for p in sensitive_keys):
            words = look = ""  # a custom pattern: look at every name
        self._names = re.compile(names, re.IGNORECASE)
        self._words = re.compile(look or ".")
        self._first_look = re.compile(
            any_of((*loose, *_MARKERS)) if look else f".|{any_of(_MARKERS)}")
        after = r"""[\w.\-]*['"]?\s*[=:,]"""  # what follows a pair's word: see _PAIR
        self._pair_look = re.compile(f"(?:{look}){after}") if look else _SEPARATOR
        self._pair_look_folded = (re.compile(f"(?:{look}){after}", re.IGNORECASE) if look
                                  else _SEPARATOR)
        key = _KEY_WITH.format(words=words) if words else _ANY_KEY
        self._pairs = re.compile(_PAIR.format(key=key), re.IGNORECASE)
        self._own_shapes = _shapes_in("", "", secret_patterns)

    def is_sensitive(self, name: str) -> bool:
        """Whether a parameter, key or field called ``name`` holds a secret (not one that
        only describes one: ``password_policy_url``, ``token_count``, ``api_key_name``)."""
        normal = normalise(name)
        return (self._names.search(normal) is not None
                and normal.rpartition("_")[2] not in _DESCRIBES)

    def redact(self, text: str) -> str:
        """``text`` with sensitive ``name=value`` pairs and secret shapes redacted.

        Cheap looks first (a sensitive word in the lower-cased text; a marker or a long run of
        token characters), so the common short value costs well under a microsecond; then only
        what those looks say may be there: the pairs where a sensitive word is followed by a
        separator, the shapes whose words the text holds, and the policy's own patterns. The
        same text comes out as from searching the whole text for every pair and shape
        (tested)."""
        letters = _LETTER.search(text) is not None
        lowered = text.lower() if letters else text
        seen = (letters and (self._first_look.search(lowered) is not None
                             or (len(text) >= 40 and _RUN_OF_40.search(text) is not None))
                ) or (len(text) >= 12 and _CARD_RUN.search(text) is not None)
        if not seen:  # numbers and punctuation, or no sensitive word, marker or long run:
            own = self._own_shapes  # only the policy's own patterns may match
            return text if own is None else own.sub(_redact_shape, text)
        if self._words.search(lowered):
            text = self._redact_pairs(text, *self._pair_look_in(text, lowered))
        shapes = _shapes_in(text, lowered, self._secret_patterns)
        return text if shapes is None else shapes.sub(_redact_shape, text)

    def _pair_look_in(self, text: str, lowered: str) -> tuple[re.Pattern[str], str]:
        """What finds, in which text, the sensitive words followed by what a pair needs after
        them (each pair ``_PAIR`` finds holds one; with a name pattern of the user's own, what
        follows any name): the lower-cased text where lowering keeps every character in place
        (ASCII), else ``text`` folding case as ``_PAIR`` does."""
        if text.isascii():
            return self._pair_look, lowered
        return self._pair_look_folded, text

    def _redact_pairs(self, text: str, look: re.Pattern[str], looked: str) -> str:
        """Redact the value of every sensitive ``name=value``-like pair. A pair whose name is
        not sensitive consumes only its name, so a pair inside its value is still seen.

        A pair is looked for only where one can start: at the start of the key around each
        place ``look`` (see ``_pair_look_in``) finds in ``looked``, or one or two characters
        before it (``b'``). Every pair holds such a place, and one starting inside that key
        would also start at its start, so this finds what searching from every position
        finds (tested), in time linear in the text: a search from every position costs the
        length of a key at each of them."""
        pieces: list[str] = []
        position = looked_from = 0
        while (hit := look.search(looked, looked_from)) is not None:
            key = _key_start(text, hit.start())
            for begin in range(max(position, key - 2), max(position, key) + 1):
                if (match := self._pairs.match(text, begin)) is not None:
                    break
            else:
                looked_from = hit.start() + 1
                continue
            value_start = match.start("value")
            if (match["sep"] == "," and not match["q"]) or not self.is_sensitive(match["key"]):
                pieces.append(text[position:value_start])
                position = looked_from = (value_start if value_start > match.start()
                                          else match.end())
                continue
            opening = match["value"].lstrip("b")[:1]
            quote = opening if opening in ("'", '"') else ""
            pieces.append(f"{text[position:value_start]}{quote}{REDACTED}{quote}")
            position = looked_from = match.end()
        pieces.append(text[position:])
        return "".join(pieces)


@dataclass(frozen=True)
class ValuePolicy:
    """How user values and messages become exported text: whether at all, how long, what to hide.

    Args:
        capture: When False, args, kwargs and results are not turned into attributes at all.
        capture_messages: When False, exception messages stay out of spans too (the type and
            the stack's frames are kept).
        max_length: Longest text made from an argument, keyword or result.
        max_message_length: Longest exception message or status description.
        max_stacktrace_length: Longest stack trace (the middle is cut, the newest frames kept).
        sensitive_keys: Patterns of names whose values are redacted (see
            ``DEFAULT_SENSITIVE_KEYS``; ``configure(sensitive_keys=)`` adds to them).
        secret_patterns: Extra regular expressions redacted wherever they match.
        scrub: Called last with every exported text (after the built-in redaction); returns the
            text to export. Exceptions it raises are contained (the text is then redacted).
    """

    capture: bool = True
    capture_messages: bool = True
    max_length: int = 256
    max_message_length: int = 2048
    max_stacktrace_length: int = 8192
    sensitive_keys: tuple[str, ...] = DEFAULT_SENSITIVE_KEYS
    secret_patterns: tuple[str, ...] = ()
    scrub: Callable[[str], str] | None = None
    _redactor: Redactor = field(init=False, repr=False, compare=False)
    _repr: _BoundedRepr = field(init=False, repr=False, compare=False)
    _only_built_in: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("max_length", "max_message_length", "max_stacktrace_length"):
            if getattr(self, name) < 16:
                raise ValueError(f"{name} must be at least 16 characters.")
        object.__setattr__(self, "_redactor", Redactor(self.sensitive_keys,
                                                        self.secret_patterns))
        object.__setattr__(self, "_repr", _BoundedRepr(self))
        object.__setattr__(self, "_only_built_in",
                           not self.secret_patterns and self.scrub is None)

    # names --------------------------------------------------------------------------------
    def is_sensitive(self, name: str) -> bool:
        """Whether a parameter, key or field called ``name`` holds a secret."""
        return self._redactor.is_sensitive(name)

    def is_sensitive_key(self, key: object) -> bool:
        """``is_sensitive`` for a mapping key of any type (str and bytes names count)."""
        if isinstance(key, bytes):
            key = key.decode("utf-8", "replace")
        return isinstance(key, str) and self.is_sensitive(key)

    # text ---------------------------------------------------------------------------------
    def text(self, value: object) -> str:
        """A bounded, scrubbed repr of ``value``; never raises, costs O(max_length)."""
        try:
            kind = type(value)
            if kind is int or kind in _PRIMITIVES:
                text = _int_text(value) if kind is int else repr(value)  # type: ignore[arg-type]
                if len(text) < _SHORTEST_SECRET and self._only_built_in:
                    return text  # a short number, True, None: no secret shape fits in it
            elif _small(value, 2):  # the common case, a few short values: a bounded repr
                text = repr(value)
            else:  # read as a plain str (a user's __repr__ may return a str subclass
                text = str.__str__(self._repr.repr(value))  # overriding its methods)
        except BaseException as exc:  # SystemExit from a __repr__ too: never the user's
            return f"<unrepresentable {type(value).__qualname__}: {type(exc).__name__}>"
        if self._only_built_in and len(text) <= self.max_length:  # all _export would do:
            return self._redactor.redact(text if text.isascii() else utf8(text))
        return self._export(text, self.max_length)

    def attribute(self, name: str, value: Any) -> Any:
        """A span attribute the caller gave, as it may leave the process: under a sensitive
        name, redacted whole (a number too); else a text bounded and redacted, each item of a
        sequence the same way, numbers and booleans as they are."""
        if isinstance(value, str):
            return REDACTED if self.is_sensitive(name) else self._export(
                value, self.max_message_length)
        if isinstance(value, (list, tuple)):
            return tuple(self.attribute(name, item) for item in value)
        if isinstance(value, (int, float)) and self.is_sensitive(name):  # bool too
            return REDACTED
        return value

    def message(self, text: str) -> str:
        """Free text (an exception message, a status description), bounded and scrubbed."""
        return self._export(text, self.max_message_length)

    def stacktrace(self, text: str) -> str:
        """A formatted stack trace, bounded (the middle cut: the newest frames and the message
        are at the end) and scrubbed."""
        limit = self.max_stacktrace_length
        if len(text) > limit:
            head = limit // 4
            omitted = len(text) - limit
            text = (f"{text[:head]}\n... ({omitted} characters omitted) ...\n"
                    f"{text[len(text) - (limit - head):]}")
        return self._export(text, limit + 64)

    def _export(self, text: str, limit: int) -> str:
        text = utf8(str.__str__(text))  # a user's __str__ may return a str subclass
        if len(text) > limit:
            text = text[: limit - 3] + "..."
        text = self.redact(text)
        if self.scrub is not None:
            try:
                text = str(self.scrub(text))
            except Exception:
                return REDACTED
        return text

    def redact(self, text: str) -> str:
        """``text`` with sensitive ``name=value`` pairs and secret shapes redacted (see
        ``Redactor.redact``)."""
        return self._redactor.redact(text)


def _key_start(text: str, index: int) -> int:
    """Where the run of key characters (``[\\w.\\-]`` in ``_PAIR``) holding ``index`` starts."""
    while index and (text[index - 1].isalnum() or text[index - 1] in "_.-"):
        index -= 1
    return index


def _redact_shape(match: re.Match[str]) -> str:
    groups = match.groupdict()  # a pattern of some of the shapes lacks the others' groups
    scheme = groups.get("scheme") or groups.get("basic")
    if scheme:
        return f"{scheme}{REDACTED}"
    url = groups.get("url")
    if url:
        return f"{url}{REDACTED}@"
    keep = groups.get("keep_slack") or groups.get("keep_azure") or groups.get("keep_sig")
    if keep:
        return f"{keep}{REDACTED}"
    aws = groups.get("aws")
    if aws and not (any(c.isdigit() for c in aws) and any(c.isupper() for c in aws)
                    and any(c.islower() for c in aws)):
        return match[0]  # 40 characters that do not look like a secret key (a hex digest)
    card = groups.get("card")
    if card and not _luhn("".join(c for c in card if c.isdigit())):
        return match[0]  # a number of card length whose checksum says it is none
    return REDACTED


def _luhn(digits: str) -> bool:
    """Whether a number of 13 to 19 digits passes the Luhn checksum of card numbers."""
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


_PRIMITIVES = frozenset({float, bool, type(None)})
_SHORTEST_SECRET = 12
"""Fewer characters than any built-in secret shape can match in the text of a number, a bool
or None (a card number's twelve digits at least)."""


def _small(value: object, depth: int) -> bool:
    """Whether ``value`` is a few primitives or short strings, nested at most ``depth`` deep
    (mapping values one level at most, so a secret nested under a key is redacted whole)."""
    kind = type(value)
    if kind is tuple or kind is list or kind is dict:  # containers first: the arguments
        if not depth or len(value) > 8:  # type: ignore[arg-type]
            return False
        items: Any = value
        if kind is dict:
            for key in value:  # type: ignore[attr-defined]
                if type(key) is not str or len(key) > 64:
                    return False
            items, depth = value.values(), 1  # type: ignore[attr-defined]
    elif kind is str:
        return len(value) <= 64  # type: ignore[arg-type]
    elif kind is int:
        return -(1 << 64) < value < (1 << 64)  # type: ignore[operator]
    else:
        return kind in _PRIMITIVES
    for item in items:
        item_kind = type(item)
        if item_kind is str:  # the common items checked inline, not by a call each
            if len(item) > 64:
                return False
        elif item_kind is int:
            if not -(1 << 64) < item < (1 << 64):
                return False
        elif item_kind not in _PRIMITIVES and not _small(item, depth - 1):
            return False
    return True


def utf8(text: str) -> str:
    """``text`` as valid UTF-8 can carry it: a lone surrogate (an undecodable file name from
    ``os.fsdecode``) becomes its escape, ``\\udcff``, so no exporter, file or page refuses
    the text, or the batch it is in."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def visible(text: str) -> str:
    """``text`` with control characters (terminal escapes included) shown as escapes, for
    terminal views; new lines and tabs stay."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() or char in "\n\t" else
                   char.encode("unicode_escape").decode("ascii") for char in text)


_policy = ValuePolicy()


def policy() -> ValuePolicy:
    """The value policy in force (set by ``otel_exec.configure``)."""
    return _policy


def set_policy(new: ValuePolicy) -> None:
    """Replace the value policy in force."""
    global _policy
    _policy = new


def with_extra_keys(keys: Iterable[str]) -> tuple[str, ...]:
    """The default sensitive names plus ``keys`` (plain words are matched as substrings)."""
    return tuple(dict.fromkeys((*DEFAULT_SENSITIVE_KEYS, *keys)))
