"""PII redaction, applied before anything is stored (and again at dataset export).

Covers email addresses, phone numbers, US social security numbers, payment card numbers
(Luhn-checked, so order ids and timestamps survive), IPv4/IPv6 addresses, API keys and tokens
(``sk-``, ``ghp_``/``gho_``/…, ``AKIA``, ``xox?-``, ``AIza``, JWTs, bearer tokens) and PEM private
keys. Each match becomes ``[REDACTED:KIND]``.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

_PATTERNS: list[tuple[str, str]] = [
    ("PRIVATE_KEY", r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----"),
    ("JWT", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ("API_KEY", r"\b(?:sk|rk|pk)-(?:proj-|live-|test-|ant-)?[A-Za-z0-9_-]{20,}"
                r"|\bgh[pousr]_[A-Za-z0-9]{30,}\b|\bgithub_pat_[A-Za-z0-9_]{30,}"
                r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b|\bxox[abprs]-[A-Za-z0-9-]{10,}"
                r"|\bAIza[0-9A-Za-z_-]{35}\b|\bglpat-[A-Za-z0-9_-]{20,}"),
    ("BEARER", r"\b[Bb](?i:earer)\s+[A-Za-z0-9._~+/-]{20,}=*"),
    ("EMAIL", r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
    ("SSN", r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b"),
    ("CARD", r"\b\d(?:[ -]?\d){12,18}\b"),
    ("IP", r"\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b(?!\.\d)"
           r"|\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b"
           r"|\b(?=[0-9a-fA-F:]*\d)(?:[0-9a-fA-F]{1,4}:){1,6}:(?:[0-9a-fA-F]{1,4}:?){1,6}\b(?=[^:\w]|$)"),
    ("PHONE", r"(?<![\w.-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{3,4}\b(?![.-]\d)"
              r"|(?<![\w.-])\+\d{1,3}[ .-]\d{2,4}(?:[ .-]\d{2,4}){2,4}\b"),
]


def luhn_ok(digits: str) -> bool:
    """Whether a digit string passes the Luhn checksum used by payment cards."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


class Redactor:
    """Compiled redaction patterns plus the user's blocked patterns."""

    def __init__(self, extra_patterns: Iterable[str] = ()) -> None:
        parts = [f"(?P<{name}>{pat})" for name, pat in _PATTERNS]
        parts += [f"(?P<BLOCKED{i}>{pat})" for i, pat in enumerate(extra_patterns)]
        self._regex = re.compile("|".join(parts))
        self._quick = re.compile(r"[@\d]|-----BEGIN|eyJ|sk-|rk-|pk-|gh[pousr]_|github_pat|AKIA|ASIA|xox|AIza|glpat|[Bb]earer|"
                                 r"[0-9a-fA-F]:" + "".join(f"|{p}" for p in extra_patterns))

    def _sub(self, match: re.Match) -> str:
        kind = match.lastgroup or "PII"
        if kind == "CARD":
            digits = re.sub(r"\D", "", match.group(0))
            if not (13 <= len(digits) <= 19 and luhn_ok(digits)):
                return match.group(0)
        if kind.startswith("BLOCKED"):
            kind = "BLOCKED"
        return f"[REDACTED:{kind}]"

    def text(self, value: str) -> str:
        """``value`` with every PII match replaced."""
        if not value or not self._quick.search(value):
            return value
        return self._regex.sub(self._sub, value)

    def any(self, value: Any) -> Any:
        """Redact every string inside nested lists and dicts (keys are kept)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.any(v) for v in value]
        if isinstance(value, dict):
            return {k: self.any(v) for k, v in value.items()}
        return value

    def findings(self, value: str) -> list[tuple[str, str]]:
        """(kind, matched text) for each redaction ``text`` would make."""
        out = []
        for m in self._regex.finditer(value):
            if self._sub(m) != m.group(0):
                kind = m.lastgroup or "PII"
                out.append(("BLOCKED" if kind.startswith("BLOCKED") else kind, m.group(0)))
        return out
