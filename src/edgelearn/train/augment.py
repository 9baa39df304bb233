"""Copy augmentation: extra training rows that teach a small model to copy names into tool calls.

An agent's tool call mostly carries something its request named: the file to read, the suite to
run, the service to deploy, a ticket's title. A small adapter trained on a few dozen such calls
learns the call's shape but recalls the names it saw instead of copying the one it is given, and
spells an unseen one wrong: SmolLM2 writes " payments" after a space as one token, but inside
``"payments@prd"`` as ``pay`` + ``ments``.

``copy_variants`` adds, for each example whose final tool call copies a name (one word) of the
last user message into a string argument, ``k`` variants in which that name is swapped,
everywhere in the trajectory (requests and tool results as whole words, every call's arguments),
for a name another example copies or a word of the base's vocabulary that it splits when written
without a space (``spelled_words``). Names then appear in conventions and phrasings they were not
recorded with, so the only way to fit the variants is to copy, and spell. A name the system turn
or the tool schemas name is left alone.

With ``phrases``, a call that copies a phrase (a ticket's title: words after a space) gets ``k``
variants too, its phrase swapped for one that another call of the same tool copies. A phrase needs
no spelling (the call writes it in the request's own tokens), but a small model reads it as
evidence for the call's other arguments: the demo's adapter filed the feature "an audit log of
admin actions" as a bug in most runs, while it queued other features asked the same way right.
Swapped among a tool's own calls, each phrase is seen with requests of every kind, so the other
arguments must follow from the wording. A phrase is never swapped into another tool's call.
The training job augments its training split only; validation and parity prompts stay as recorded.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Any

_EDGE = ".,;:!?\"'()[]{}"
MIN_SPAN = 4  # characters: shorter spans ("stg", "to") are conventions or glue, not names


@dataclass(frozen=True)
class Copied:
    """Where one example copies its request into its call: the span, and the example."""

    index: int
    span: str


def _words(text: str) -> list[str]:
    return [w.strip(_EDGE) for w in text.split()]


def _string_values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _string_values(v)]
    if isinstance(value, list):
        return [s for v in value for s in _string_values(v)]
    return []


def _arguments(call: dict[str, Any]) -> Any:
    raw = (call.get("function") or {}).get("arguments")
    try:
        return json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return None


def copied_span(example: dict[str, Any]) -> str | None:
    """The longest run of whole words of the last user message that a string argument of the final
    tool call contains, at least ``MIN_SPAN`` characters; None when the call copies nothing."""
    messages = example["messages"]
    calls = messages[-1].get("tool_calls") or []
    user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    values = [s for call in calls for s in _string_values(_arguments(call))]
    words = _words(user)
    best = None
    for i in range(len(words)):
        for j in range(i + 1, len(words) + 1):
            span = " ".join(words[i:j])
            if not words[j - 1] or not any(span in v for v in values):
                break  # a longer run from i is in no argument either
            if len(span) >= MIN_SPAN and span in user and (best is None or len(span) > len(best)):
                best = span
    return best


def _swap(example: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    whole = re.compile(rf"(?<![\w-]){re.escape(old)}(?![\w-])")
    messages = []
    for m in example["messages"]:
        m = dict(m)
        if m["role"] != "system":
            m["content"] = whole.sub(lambda _: new, m["content"])
        if m.get("tool_calls"):
            m["tool_calls"] = [{**c, "function": {**c["function"], "arguments": _swapped_arguments(c, old, new)}}
                               for c in m["tool_calls"]]
        messages.append(m)
    return {**example, "messages": messages}


def _swapped_arguments(call: dict[str, Any], old: str, new: str) -> Any:
    raw = call["function"].get("arguments")
    parsed = _arguments(call)
    if parsed is None and isinstance(raw, str):
        return raw.replace(old, new)  # arguments that are not JSON stay text
    return json.dumps(_replace(parsed, old, new)) if isinstance(raw, str) or raw is None else _replace(parsed, old, new)


def _replace(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: _replace(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, old, new) for v in value]
    return value


def _swappable(example: dict[str, Any], span: str) -> bool:
    """A span the system turn or the tool schemas also name is part of the setup, not the request."""
    fixed = [m["content"] for m in example["messages"] if m["role"] == "system"]
    return not any(span in text for text in [*fixed, json.dumps(example.get("tools") or "")])


def _called(example: dict[str, Any]) -> tuple[str, ...]:
    return tuple(sorted((c.get("function") or {}).get("name", "") for c in example["messages"][-1].get("tool_calls") or []))


def copy_variants(examples: list[dict[str, Any]], k: int, seed: int, words: tuple[str, ...] = (),
                  phrases: bool = False) -> list[dict[str, Any]]:
    """``k`` swapped variants of every example that copies a name into its call (see the module);
    with ``phrases``, also of every example that copies a phrase, swapped for a phrase another call
    of the same tool copies. The examples themselves are not included. Deterministic for a seed."""
    if k <= 0:
        return []
    spans = [Copied(i, s) for i, ex in enumerate(examples) if (s := copied_span(ex)) and _swappable(ex, s)]
    copied = [c for c in spans if " " not in c.span]
    said = [c for c in spans if " " in c.span] if phrases else []
    pool = sorted({c.span for c in copied} | set(words))  # every name a variant may take, once
    by_tool: dict[tuple[str, ...], set[str]] = {}  # every phrase a call of that tool copies
    for c in said:
        by_tool.setdefault(_called(examples[c.index]), set()).add(c.span)
    rng = random.Random(seed)
    out = []
    for c in copied + said:
        donors = ([name for name in pool if name != c.span] if " " not in c.span
                  else sorted(by_tool[_called(examples[c.index])] - {c.span}))
        for new in rng.sample(donors, min(k, len(donors))):
            out.append(_swap(examples[c.index], c.span, new))
    return out


def spelled_words(tokenizer, limit: int, exclude: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """Up to ``limit`` lowercase words (6 to 12 letters) that the tokenizer writes as one token after a
    space but as several without one (" payments" vs ``pay`` + ``ments``): the names a small model
    misspells when it copies them into an argument. A seeded sample, less ``exclude``."""
    out = []
    for piece in sorted(tokenizer.get_vocab()):
        word = piece[1:]  # byte-level BPE marks a leading space with Ġ, SentencePiece with ▁
        if piece[:1] in ("Ġ", "▁") and 6 <= len(word) <= 12 and word.isascii() and word.isalpha() \
                and word.islower() and word not in exclude:
            if len(tokenizer.encode(word, add_special_tokens=False)) > 1:
                out.append(word)
    return tuple(random.Random(0).sample(out, min(limit, len(out))))
