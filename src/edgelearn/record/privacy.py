"""PII redaction, applied before anything is stored (and again at dataset export).

Covers email addresses, phone numbers (US and international), US social security numbers,
payment card numbers (issuer prefix and Luhn checked, so order ids and millisecond timestamps
survive), IPv4/IPv6 addresses, API keys and tokens (``sk-``, ``ghp_``/``gho_``/…, ``AKIA``,
``xox?-``, ``AIza``, JWTs, bearer tokens) and PEM private keys. Each match becomes
``[REDACTED:KIND]``.

Redaction runs on every string of every recorded run, so it is built for speed. One big
alternation (try every pattern at every position) costs about 0.5 µs per character; instead
each kind is a detector that runs only when a cheap test passes (a substring for tokens and
keys, "@" for emails, "::" for compressed IPv6), and the numeric kinds (SSN, card, IPv4, phone)
only look inside runs of seven or more digit-like characters, and only when the run has enough
digits or the right separators for that kind. Regexes start with a literal or a character
class so that ``re`` skips ahead in C. Where matches overlap, the one starting first wins, then
the detector listed first.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

Span = tuple[int, int]


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


# issuer prefixes: Visa, Mastercard, Amex, Diners, JCB, Discover/UnionPay, Maestro
_CARD_IIN = re.compile(r"4|5[1-5]|2(?:22[1-9]|2[3-9][0-9]|[3-6][0-9][0-9]|7[01][0-9]|720)|3[47]|30[0-5]|3[689]|35"
                       r"|6011|6[245]|50|5[6-8]|67")
_NON_DIGITS = re.compile(r"[^0-9]")


def _card_ok(match: re.Match) -> bool:
    digits = _NON_DIGITS.sub("", match.group(0))
    return 13 <= len(digits) <= 19 and _CARD_IIN.match(digits) is not None and luhn_ok(digits)


def _ssn_ok(match: re.Match) -> bool:
    area, group, serial = match.group(0).split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _ipv4_ok(match: re.Match) -> bool:
    return all(int(octet) <= 255 for octet in match.group(0).split("."))


def _phone_ok(match: re.Match) -> bool:
    return 8 <= len(_NON_DIGITS.sub("", match.group(0))) <= 15


def _ipv6_ok(match: re.Match) -> bool:
    text = match.group(0)
    if not any(ch in "0123456789" for ch in text):
        return False
    groups = [g for g in text.split(":") if g]
    # "1::2" is a Python slice and "a::b" C++; a compressed address has 3+ groups or a full first one
    return "::" not in text or len(groups) >= 3 or len(groups[0]) == 4


_H = "[0-9a-fA-F]"
_D = "[0-9]"  # explicit ranges: re tests them faster than the Unicode digit category
_IPV6_COMPRESSED = re.compile(rf"{_H}(?<![\w:]{_H}){_H}{{0,3}}(?::{_H}{{1,4}}){{0,5}}::"
                              rf"(?:{_H}{{1,4}}(?::{_H}{{1,4}}){{0,5}})?(?![\w:])")
_EMAIL_DOMAIN = re.compile(r"@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b")
_EMAIL_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")


def _emails(text: str) -> Iterator[Span]:
    """Find "@domain" (a literal prefix, which re finds fast), then walk back over the local part."""
    for m in _EMAIL_DOMAIN.finditer(text):
        at = m.start()
        start = at
        while start > 0 and at - start < 64 and text[start - 1] in _EMAIL_LOCAL:
            start -= 1
        while start < at and not text[start].isalnum():
            start += 1
        # git@host:repo is an SSH remote, not a person
        if start < at and text[start:at] != "git":
            yield start, m.end()


_HEX_COLON = frozenset("0123456789abcdefABCDEF:")


def _ipv6_compressed(text: str) -> Iterator[Span]:
    """From each "::", walk back over hex digits and colons, then try one anchored match there."""
    i = text.find("::")
    while i != -1:
        start = i
        while start > 0 and i - start < 40 and text[start - 1] in _HEX_COLON:
            start -= 1
        m = _IPV6_COMPRESSED.match(text, start)
        if m is not None and _ipv6_ok(m):
            yield m.span()
            i = text.find("::", m.end())
        else:
            i = text.find("::", i + 2)


# first characters k, g, x, A are rare enough that re skips most positions in C
_api_key_gate = re.compile(r"k-|gh[pousr]_|github_pat_|xox|AKIA|ASIA|AIza|glpat-").search


def _word_start(match: re.Match) -> bool:
    """The match does not continue a word (a ``\\b`` written at the front would stop re skipping ahead)."""
    i = match.start()
    return i == 0 or not (match.string[i - 1].isalnum() or match.string[i - 1] == "_")


@dataclass(frozen=True)
class _Detector:
    kind: str
    regex: re.Pattern | None = None
    gate: Callable[[str], Any] | None = None  # cheap test on the whole text; the search runs only if true
    accept: Callable[[re.Match], bool] | None = None  # checksum or shape check of each match
    finder: Callable[[str], Iterable[Span]] | None = None  # instead of the regex
    fits: Callable[[str, int], bool] | None = None  # numeric kinds: (run, digit count) → worth a search


_IPV6_FULL = re.compile(rf":{_H}{{1,4}}:{_H}{{1,4}}:{_H}{{1,4}}:").search

_DETECTORS: list[_Detector] = [
    _Detector("PRIVATE_KEY", re.compile(
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----"),
        gate=lambda t: "-----BEGIN" in t),
    _Detector("JWT", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
              gate=lambda t: "eyJ" in t),
    _Detector("API_KEY", re.compile(
        r"(?:sk|rk|pk)-(?:proj-|live-|test-|ant-)?[A-Za-z0-9_-]{20,}"
        r"|gh[pousr]_[A-Za-z0-9]{30,}\b|github_pat_[A-Za-z0-9_]{30,}"
        r"|(?:AKIA|ASIA)[0-9A-Z]{16}\b|xox[abprs]-[A-Za-z0-9-]{10,}"
        r"|AIza[0-9A-Za-z_-]{35}\b|glpat-[A-Za-z0-9_-]{20,}"), gate=_api_key_gate, accept=_word_start),
    _Detector("BEARER", re.compile(r"\b[Bb](?i:earer)\s+[A-Za-z0-9._~+/-]{20,}=*"),
              gate=lambda t: "earer" in t or "EARER" in t),
    _Detector("EMAIL", finder=_emails, gate=lambda t: "@" in t),
    _Detector("SSN", re.compile(rf"{_D}(?<!\w{_D}){_D}{{2}}-{_D}{{2}}-{_D}{{4}}(?!\w)"), accept=_ssn_ok,
              fits=lambda run, digits: digits >= 9 and "-" in run),
    _Detector("CARD", re.compile(rf"{_D}(?<!\w{_D})(?:[ -]?{_D}){{12,18}}(?!\w)"), accept=_card_ok,
              fits=lambda run, digits: digits >= 13),
    _Detector("IP", re.compile(rf"{_D}(?<![\w.]{_D}){_D}{{0,2}}(?:\.{_D}{{1,3}}){{3}}(?!\w|\.{_D})"),
              accept=_ipv4_ok, fits=lambda run, digits: run.count(".") >= 3),
    _Detector("IP", finder=_ipv6_compressed, gate=lambda t: "::" in t),
    _Detector("IP", re.compile(rf"{_H}(?<![\w:]{_H}){_H}{{0,3}}(?::{_H}{{1,4}}){{7}}(?![\w:])"),
              gate=_IPV6_FULL, accept=_ipv6_ok),
    # US: (415) 555-0132, 415-555-0199, 415.555.0123
    _Detector("PHONE", re.compile(rf"\((?<![\w(]\(){_D}{{3}}\)[ .-]?{_D}{{3}}[ .-]{_D}{{4}}(?!\w|[.-]{_D})"
                                  rf"|{_D}(?<![\w.+-]{_D}){_D}{{2}}[ .-]{_D}{{3}}[ .-]{_D}{{4}}(?!\w|[.-]{_D})"),
              accept=_phone_ok, fits=lambda run, digits: digits >= 10),
    # international: +44 20 7946 0958, +33 1 42 68 53 00, +14155550134
    _Detector("PHONE", re.compile(rf"\+(?<![\w+]\+)(?:{_D}{{1,3}}(?:[ .-]\(?{_D}{{1,5}}\)?){{1,6}}|{_D}{{8,15}})"
                                  rf"(?!\w|[.-]{_D})"), accept=_phone_ok, fits=lambda run, digits: "+" in run),
]
_TEXT_DETECTORS = [(i, d) for i, d in enumerate(_DETECTORS) if d.fits is None]
_NUMERIC_DETECTORS = [(i, d) for i, d in enumerate(_DETECTORS) if d.fits is not None]
# a digit, then 5+ digits or separators, then a digit: every numeric kind lies inside such a run
_NUMERIC_RUN = re.compile(rf"{_D}[0-9 ().+-]{{5,}}{_D}")
_SHORTEST = 6  # "a@b.io"; nothing shorter can be PII
# agents send the same system prompt with every run: remember recent answers for strings up to this size
_CACHE_CHARS, _CACHE_ENTRIES = 16_384, 256


def _first_wins(found: list[tuple[int, int, int, str]]) -> list[tuple[int, int, str]]:
    """(start, priority, end, kind) matches → non-overlapping (start, end, kind): where two overlap,
    the one starting first wins, then the one with the lower priority."""
    found.sort()
    spans: list[tuple[int, int, str]] = []
    last = 0
    for start, _, end, kind in found:
        if start >= last:
            spans.append((start, end, kind))
            last = end
    return spans


class Redactor:
    """Compiled redaction patterns plus the user's blocked patterns."""

    def __init__(self, extra_patterns: Iterable[str] = ()) -> None:
        self._blocked = [re.compile(p) for p in extra_patterns]
        self._cached = functools.lru_cache(maxsize=_CACHE_ENTRIES)(self._redact)

    def _spans(self, value: str) -> list[tuple[int, int, str]]:
        """Non-overlapping (start, end, kind) of everything to redact, in order."""
        found: list[tuple[int, int, int, str]] = []  # start, priority, end, kind
        if len(value) >= _SHORTEST:
            self._text_kinds(value, found)
            self._numeric_kinds(value, found)
        for i, rx in enumerate(self._blocked):
            found.extend((m.start(), len(_DETECTORS) + i, m.end(), "BLOCKED")
                         for m in rx.finditer(value) if m.end() > m.start())
        return _first_wins(found) if found else []

    @staticmethod
    def _text_kinds(value: str, found: list) -> None:
        for prio, det in _TEXT_DETECTORS:
            if det.gate is not None and not det.gate(value):
                continue
            if det.finder is not None:
                found.extend((s, prio, e, det.kind) for s, e in det.finder(value))
                continue
            for m in det.regex.finditer(value):
                if det.accept is None or det.accept(m):
                    found.append((m.start(), prio, m.end(), det.kind))

    @staticmethod
    def _numeric_kinds(value: str, found: list) -> None:
        for run in _NUMERIC_RUN.finditer(value):
            text = run.group(0)
            digits = len(_NON_DIGITS.sub("", text))
            # the run starts at a digit, so one character before it ("(" or "+") may open a match;
            # two past its end give the lookaheads their real context
            start, end = max(0, run.start() - 1), run.end() + 2
            context = value[start:run.end()]
            for prio, det in _NUMERIC_DETECTORS:
                if det.fits(context, digits):
                    for m in det.regex.finditer(value, start, end):
                        if det.accept(m):
                            found.append((m.start(), prio, m.end(), det.kind))

    def text(self, value: str) -> str:
        """``value`` with every PII match replaced."""
        if not value:
            return value
        return self._cached(value) if len(value) <= _CACHE_CHARS else self._redact(value)

    def _redact(self, value: str) -> str:
        spans = self._spans(value)
        if not spans:
            return value
        out, last = [], 0
        for start, end, kind in spans:
            out.append(value[last:start])
            out.append(f"[REDACTED:{kind}]")
            last = end
        out.append(value[last:])
        return "".join(out)

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
        return [(kind, value[start:end]) for start, end, kind in self._spans(value)]
