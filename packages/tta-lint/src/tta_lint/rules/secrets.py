"""TTA008: an API key, token or password written into the source."""

from __future__ import annotations

import ast
import itertools
import math
import re
from collections import Counter

from tta_lint.model import Rule
from tta_lint.rules.base import Checker

__all__ = [
    "FAKE_MARKERS",
    "KEY_SHAPES",
    "SecretLiteralChecker",
    "looks_fake",
    "looks_random",
    "shannon_entropy",
]

#: What each kind of credential looks like: a fixed prefix and a random tail.
KEY_SHAPES: dict[str, str] = {
    "anthropic": r"sk-ant-[A-Za-z0-9_\-]{20,}",
    "openai": r"sk-(?!ant-)[A-Za-z0-9_\-]{20,}",
    "stripe": r"[sr]k_live_[A-Za-z0-9]{20,}",
    "github": r"gh[pousr]_[A-Za-z0-9]{30,}",
    "github_pat": r"github_pat_[A-Za-z0-9_]{22,}",
    "aws": r"(?:AKIA|ASIA)[A-Z0-9]{16}",
    "google": r"AIza[0-9A-Za-z_\-]{35}",
    "huggingface": r"hf_[A-Za-z0-9]{30,}",
    "slack": r"xox[bpas]-[A-Za-z0-9\-]{10,}",
    "gitlab": r"glpat-[A-Za-z0-9_\-]{20,}",
    "jwt": r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
}
_LABELS = {
    "anthropic": "Anthropic API key",
    "openai": "OpenAI-style API key",
    "stripe": "Stripe live key",
    "github": "GitHub token",
    "github_pat": "GitHub fine-grained token",
    "aws": "AWS access key id",
    "google": "Google API key",
    "huggingface": "Hugging Face token",
    "slack": "Slack token",
    "gitlab": "GitLab token",
    "jwt": "JSON Web Token",
}
_SHAPE = re.compile(
    r"(?<![A-Za-z0-9_\-])(?:" + "|".join(f"(?P<{k}>{v})" for k, v in KEY_SHAPES.items()) + ")"
)
_SHORTEST = 20
_FAKE_RUN = 5
_FAKE_ENTROPY = 3.0

#: A credential spelling one of these (any case) is an obvious placeholder: random
#: keys do not contain words.
FAKE_MARKERS = (
    "test",
    "fake",
    "example",
    "dummy",
    "sample",
    "placeholder",
    "canary",
    "bench",
    "redacted",
    "notreal",
    "not-real",
    "changeme",
    "secret",
    "mock",
    "demo",
    "your",
    "xxxx",
    "****",
    "0123456789",
    "abcdef",
)

_SECRET_WORDS = frozenset(
    {"key", "apikey", "token", "secret", "password", "passwd", "pwd", "credential", "credentials"}
)
#: Name parts that say the value is about a secret, not the secret itself.
_NOT_SECRET_WORDS = frozenset(
    {
        "name", "names", "env", "var", "path", "file", "url", "uri", "header", "field", "prefix",
        "suffix", "type", "kind", "id", "len", "length", "size", "count", "max", "min", "cache",
        "sort", "pattern", "regex", "format", "template", "label", "param", "column", "table",
        "ttl", "timeout", "hash", "digest", "fingerprint", "hint", "policy", "scope", "public",
    }
)  # fmt: skip
_MIN_NAMED = 16
_MIN_ENTROPY = 3.5
_MIN_HEX = 32
_HEX = frozenset("0123456789abcdef")
_PATTERN_CHARS = frozenset("()[]{}\\<>|^")
_NAME_PARTS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def looks_fake(value: str) -> bool:
    """Whether a credential-shaped ``value`` is an obvious placeholder.

    It spells a marker word, or repeats one character five times in a row
    (``sk-...-000000000000``), or has too little entropy to be generated.
    """
    lowered = value.lower()
    if any(marker in lowered for marker in FAKE_MARKERS):
        return True
    run = 1
    for previous, current in itertools.pairwise(value):
        run = run + 1 if current == previous else 1
        if run >= _FAKE_RUN:
            return True
    return shannon_entropy(value) < _FAKE_ENTROPY


def shannon_entropy(value: str) -> float:
    """Bits per character of ``value``'s character distribution."""
    if not value:
        return 0.0
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in Counter(value).values())


class SecretLiteralChecker(Checker):
    """A credential-shaped literal, or a random-looking literal bound to a secret's name."""

    rule = Rule(
        "TTA008",
        "secret-literal",
        "credential literal in source",
        "read it at run time (tta_secrets / an environment variable) and rotate the "
        "exposed one; for a test value, spell it as a fake (e.g. 'sk-test-...') or add "
        "`# tta: ignore[TTA008]`",
    )
    node_types = (ast.Constant, ast.Assign, ast.AnnAssign, ast.keyword, ast.Dict)

    def visit(self, node: ast.AST) -> None:
        """Shapes on every string constant; entropy on constants bound to secret names."""
        if isinstance(node, ast.Constant):
            self._check_shape(node)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                self._check_named(_target_name(target), node.value)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            self._check_named(_target_name(node.target), node.value)
        elif isinstance(node, ast.keyword):
            self._check_named(node.arg or "", node.value)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    self._check_named(key.value, value)

    def _check_shape(self, node: ast.Constant) -> None:
        value = node.value
        if not isinstance(value, str) or len(value) < _SHORTEST:
            return
        for match in _SHAPE.finditer(value):
            key = match.group(0)
            if looks_fake(key) or not _has_letters_and_digits(key):
                continue
            kind = _LABELS[match.lastgroup or ""]
            self.report(node, f"{self.rule.message}: looks like a {kind}")
            return

    def _check_named(self, name: str, value: ast.expr) -> None:
        if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
            return
        text = value.value
        if len(text) < _MIN_NAMED or _SHAPE.search(text):
            return  # a credential shape is the constant's own check
        parts = {part.lower() for part in _NAME_PARTS.findall(name)}
        if not parts & _SECRET_WORDS or parts & _NOT_SECRET_WORDS:
            return
        if "://" in text or looks_fake(text) or not looks_random(text):
            return
        self.report(value, f"{self.rule.message}: a random-looking value assigned to `{name}`")


def _target_name(target: ast.expr) -> str:
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return ""


def looks_random(text: str) -> bool:
    """Whether ``text`` could be a generated secret rather than a word, path or pattern.

    A hex string of 32+ characters, or a mix of upper case, lower case and digits with
    at least 3.5 bits of entropy per character; never with spaces, brackets or
    backslashes (which patterns and prose have, and keys do not).
    """
    if any(c.isspace() or c in _PATTERN_CHARS for c in text):
        return False
    if len(text) >= _MIN_HEX and all(c in _HEX for c in text.lower()):
        return _has_letters_and_digits(text)
    mixed = (
        any(c.isupper() for c in text)
        and any(c.islower() for c in text)
        and any(c.isdigit() for c in text)
    )
    return mixed and shannon_entropy(text) >= _MIN_ENTROPY


def _has_letters_and_digits(value: str) -> bool:
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
