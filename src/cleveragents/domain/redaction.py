"""Secret redaction: what a tool call carried that must never be stored or logged.

Tool invocations hold whatever a tool was given and returned: API keys in
arguments, bearer tokens in HTTP results, private keys in error output.
:class:`SecretRedactor` replaces them with :data:`REDACTED` before anything is
written. Two rules, both configurable:

- **keys**: a mapping key whose words (split at ``_``, ``-``, ``.``, spaces and
  CamelCase) name a secret (``password``, ``token``, ``api_key``, ``Authorization``,
  ``private_key``, ...) has its whole value replaced, whatever its type;
- **values**: inside any string, anything that looks like a secret on its own is
  replaced: bearer and basic credentials, PEM private keys, well-known token
  formats (AWS, GitHub, OpenAI/Anthropic-style ``sk-``, Slack, Google, JWTs),
  ``password=...``-style assignments, and the password of a URL
  (``scheme://user:password@host``).

Keys such as ``max_tokens``, ``token_count``, ``author`` or ``keyboard`` are not
secrets: only whole words are compared, and a count, limit or length of
something is not the thing itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

REDACTED: Final = "[REDACTED]"

# Single words that name a secret.
SECRET_WORDS: Final = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "secret",
        "secrets",
        "token",
        "apikey",
        "authorization",
        "credential",
        "credentials",
        "privatekey",
        "cookie",
        "sessionid",
    }
)
# Words that make a key a measure of something, not the thing: ``token_count``,
# ``max_tokens``, ``password_length`` hold numbers, not secrets.
NOT_SECRET_WORDS: Final = frozenset(
    {"count", "counts", "limit", "max", "min", "total", "usage", "budget", "length", "num"}
)

# Adjacent word pairs that name a secret together (``api_key``, ``PrivateKey``).
SECRET_PAIRS: Final = frozenset(
    {
        ("api", "key"),
        ("private", "key"),
        ("access", "key"),
        ("secret", "key"),
        ("signing", "key"),
        ("client", "secret"),
        ("session", "id"),
        ("set", "cookie"),
    }
)

_OPAQUE = r"(?-i:(?=[A-Za-z0-9\-._~+/]*[a-z0-9\-._~+/][A-Z0-9+/]))"
_ASSIGNED = (
    r"password|passwd|passphrase|pwd|secret|client[_-]?secret|token|access[_-]?token|"
    r"refresh[_-]?token|auth[_-]?token|api[_-]?key|access[_-]?key|private[_-]?key"
)

# (pattern, replacement): the replacement keeps whatever is not the secret itself.
SECRET_VALUE_PATTERNS: Final[tuple[tuple[str, str], ...]] = (
    (
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----.*?"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)",
        REDACTED,
    ),
    # Credentials after an auth scheme. They mix cases or digits somewhere past their
    # first character; that keeps "Basic Authentication" or "token verification" intact.
    (rf"(?i)\b(bearer|token|basic)\s+{_OPAQUE}[A-Za-z0-9\-._~+/]{{8,}}=*", rf"\1 {REDACTED}"),
    (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", REDACTED),
    (r"\bgh[pousr]_[A-Za-z0-9]{30,}\b", REDACTED),
    (r"\bgithub_pat_[A-Za-z0-9_]{30,}\b", REDACTED),
    (r"\bsk-[A-Za-z0-9_\-]{20,}", REDACTED),
    (r"\bxox[abposr]-[A-Za-z0-9\-]{10,}", REDACTED),
    (r"\bAIza[0-9A-Za-z\-_]{35}\b", REDACTED),
    (r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}", REDACTED),
    (
        rf"(?i)\b((?:{_ASSIGNED})\b[\"']?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&\"'}}\]]+)",
        rf"\1{REDACTED}",
    ),
    (r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@]+:)[^\s@/]+@", rf"\1{REDACTED}@"),
)

_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def key_words(key: str) -> list[str]:
    """The lowercase words of a mapping key: ``X-Api-Key`` → ``['x', 'api', 'key']``."""
    return [word.lower() for word in _WORD_SPLIT.split(key) if word]


@dataclass(frozen=True)
class SecretRedactor:
    """Replaces secrets in JSON-like data and text with :data:`REDACTED`.

    ``extra_keys``: more key words (or ``"word_word"`` pairs) that name a secret.
    ``extra_patterns``: more regular expressions whose whole match is a secret.
    ``enabled=False`` stores everything as given (for tests of the raw data only).
    """

    extra_keys: Iterable[str] = ()
    extra_patterns: Iterable[str] = ()
    enabled: bool = True
    _words: frozenset[str] = field(init=False, repr=False)
    _pairs: frozenset[tuple[str, ...]] = field(init=False, repr=False)
    _patterns: tuple[tuple[re.Pattern[str], str], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        words = set(SECRET_WORDS)
        pairs: set[tuple[str, ...]] = set(SECRET_PAIRS)
        for key in self.extra_keys:
            parts = tuple(key_words(key))
            if len(parts) == 1:
                words.add(parts[0])
            elif parts:
                pairs.add(parts)
        patterns = [
            (re.compile(pattern, re.DOTALL), repl) for pattern, repl in SECRET_VALUE_PATTERNS
        ]
        patterns += [(re.compile(pattern), REDACTED) for pattern in self.extra_patterns]
        object.__setattr__(self, "_words", frozenset(words))
        object.__setattr__(self, "_pairs", frozenset(pairs))
        object.__setattr__(self, "_patterns", tuple(patterns))

    def is_secret_key(self, key: str) -> bool:
        """True when the key names a secret (a secret word, or a secret pair of words)."""
        words = key_words(key)
        if any(word in NOT_SECRET_WORDS for word in words):
            return False
        if any(word in self._words for word in words):
            return True
        joined = "".join(words)
        if joined in self._words:
            return True
        for pair in self._pairs:
            size = len(pair)
            if any(tuple(words[i : i + size]) == pair for i in range(len(words) - size + 1)):
                return True
        return False

    def text(self, value: str) -> str:
        """``value`` with every secret-looking part replaced."""
        if not self.enabled or not value:
            return value
        for pattern, replacement in self._patterns:
            value = pattern.sub(replacement, value)
        return value

    def value(self, data: Any) -> Any:
        """A copy of JSON-like ``data`` with secrets replaced (keys and values).

        Walks iteratively, so deeply nested data cannot exhaust the stack.
        """
        if not self.enabled:
            return data
        root: list[Any] = [None]
        stack: list[tuple[Any, list[Any] | dict[str, Any], Any]] = [(data, root, 0)]
        while stack:
            item, parent, slot = stack.pop()
            if isinstance(item, str):
                parent[slot] = self.text(item)
            elif isinstance(item, Mapping):
                copy: dict[str, Any] = {}
                parent[slot] = copy
                for key, child in item.items():
                    if isinstance(key, str) and self.is_secret_key(key) and child is not None:
                        copy[key] = REDACTED
                    else:
                        copy[key] = None
                        stack.append((child, copy, key))
            elif isinstance(item, list | tuple):
                items: list[Any] = [None] * len(item)
                parent[slot] = items
                stack.extend((child, items, index) for index, child in enumerate(item))
            else:
                parent[slot] = item
        return root[0]


DEFAULT_REDACTOR: Final = SecretRedactor()
