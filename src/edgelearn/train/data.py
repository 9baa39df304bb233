"""Training data: the messages JSONL format, its deterministic split, and tokenization.

Each example is rendered exactly as serving renders a request (``render_text``): through
``serve.tools.render_chat`` (tools in the system turn, earlier tool calls and results in the
``<tool_call>`` format) and the base model's own chat template, or the template alone when it
handles tools itself. Only the final assistant turn (the run's own answer) and the end-of-turn
token closing it carry loss; earlier turns are the agent's history. The prompt tokens are exactly
what ``apply_chat_template(..., add_generation_prompt=True)`` gives at inference time.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgelearn.errors import TrainingError
from edgelearn.serve.tools import native_messages, render_chat, template_handles_tools
from edgelearn.train.split import split_of

ROLES = ("system", "user", "assistant", "tool")


@dataclass
class Encoded:
    """One tokenized example: token ids and which of them carry loss."""

    ids: list[int]
    labels: list[bool]

    @property
    def n_labels(self) -> int:
        return sum(self.labels)


def read_examples(path: Path) -> list[dict[str, Any]]:
    """Parse a messages JSONL file; TrainingError names the file and line of the first bad line."""
    if not path.is_file():
        raise TrainingError(f"dataset file {path} does not exist")
    examples = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TrainingError(f"{path}:{lineno}: not JSON ({exc.msg})") from exc
            _validate(item, f"{path}:{lineno}")
            examples.append(item)
    return examples


def _validate(item: Any, where: str) -> None:
    if not isinstance(item, dict) or not isinstance(item.get("messages"), list) or not item["messages"]:
        raise TrainingError(f"{where}: expected an object with a non-empty 'messages' list")
    for i, msg in enumerate(item["messages"]):
        if not isinstance(msg, dict) or msg.get("role") not in ROLES or not isinstance(msg.get("content"), str):
            raise TrainingError(f"{where}: messages[{i}] needs a role ({'/'.join(ROLES)}) and a string content")
        if msg.get("tool_calls") is not None and not isinstance(msg["tool_calls"], list):
            raise TrainingError(f"{where}: messages[{i}].tool_calls must be a list")
    if item["messages"][-1]["role"] != "assistant":
        raise TrainingError(f"{where}: the last message must be the assistant's answer")
    try:
        example_tools(item)
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"{where}: tools must be a list of function tools or its JSON text") from exc


def example_tools(item: dict[str, Any]) -> list[dict[str, Any]] | None:
    """An example's offered tools: its ``tools`` column, a list or JSON text (as TRL reads it)."""
    tools = item.get("tools")
    if isinstance(tools, str):
        tools = json.loads(tools) if tools.strip() else None
    if tools is not None and not isinstance(tools, list):
        raise TypeError("tools is not a list")
    return tools or None


def stable_id(item: dict[str, Any]) -> str:
    """The example's run id, or a hash of its messages when it has none."""
    if item.get("run_id"):
        return str(item["run_id"])
    return hashlib.sha256(json.dumps(item["messages"], sort_keys=True).encode()).hexdigest()


def is_validation(item: dict[str, Any], val_fraction: float) -> bool:
    """The curated datasets' split (``train.split``) on the stable id: an example exported with its
    run id falls on the same side when a file of it is split again."""
    return split_of(stable_id(item), val_fraction) == "val"


def split_file(source: Path, out_dir: Path, val_fraction: float) -> dict[str, int]:
    """Split a messages JSONL file into ``out_dir``/train.jsonl and val.jsonl (plus manifest.json).

    Both sides get at least one example when the file has two or more.
    """
    examples = read_examples(source)
    if len(examples) < 2:
        raise TrainingError(f"{source}: needs at least 2 examples to split into train and validation")
    val = [e for e in examples if is_validation(e, val_fraction)]
    train = [e for e in examples if not is_validation(e, val_fraction)]
    if not val or not train:  # tiny files: move the example nearest the cut across
        pool = train if not val else val
        moved = min(pool, key=lambda e: hashlib.sha256(stable_id(e).encode()).hexdigest())
        pool.remove(moved)
        (val if not val else train).append(moved)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, items in (("train.jsonl", train), ("val.jsonl", val)):
        tmp = out_dir / (name + ".tmp")
        tmp.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in items), encoding="utf-8")
        tmp.replace(out_dir / name)
    counts = {"train": len(train), "val": len(val)}
    manifest = {"source": str(source), "val_fraction": val_fraction, "counts": counts, "format": "messages"}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return counts


def check_dataset_dir(directory: Path) -> None:
    """TrainingError unless ``directory`` holds a non-empty train.jsonl and a val.jsonl."""
    if not directory.is_dir():
        raise TrainingError(f"dataset directory {directory} does not exist")
    for name in ("train.jsonl", "val.jsonl"):
        path = directory / name
        if not path.is_file() or not path.read_text(encoding="utf-8").strip():
            raise TrainingError(f"dataset {directory} has no examples in {name}")


# rendering and tokenization -------------------------------------------------------------------
def _render(tokenizer, messages: list[dict], generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


_NATIVE: dict[str | None, bool] = {}  # chat template → whether it renders tools itself


def native_tools(tokenizer) -> bool:
    """Whether the tokenizer's chat template renders tools and ``<tool_call>`` itself (as serving checks);
    probed once per template."""
    template = getattr(tokenizer, "chat_template", None)
    if template not in _NATIVE:
        _NATIVE[template] = template_handles_tools(
            lambda messages, tools: tokenizer.apply_chat_template(messages, tools=tools, tokenize=False))
    return _NATIVE[template]


def render_text(tokenizer, messages: list[dict], tools: list[dict] | None, generation_prompt: bool) -> str:
    """The text serving builds for ``messages`` and ``tools`` (serve/llamacpp.py): the template's own
    tool rendering when it has one, else ``render_chat`` and the template."""
    if tools and native_tools(tokenizer):
        return tokenizer.apply_chat_template(native_messages(messages), tools=tools, tokenize=False,
                                             add_generation_prompt=generation_prompt)
    return _render(tokenizer, render_chat(messages, tools), generation_prompt)


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def end_of_turn_ids(tokenizer) -> list[int]:
    """Token ids that end an assistant turn: the first token the template puts after an answer,
    and the tokenizer's eos."""
    probe = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]
    prefix = _render(tokenizer, probe[:1], True) + "y"
    full = _render(tokenizer, probe, False)
    ids = []
    if full.startswith(prefix) and full[len(prefix):]:
        ids.append(_ids(tokenizer, full[len(prefix):])[0])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    if not ids:
        raise TrainingError("the base model's chat template ends an answer with no token and it has no eos")
    return ids


def prompt_ids(tokenizer, messages: list[dict], tools: list[dict] | None = None) -> list[int]:
    """Token ids of the prompt for the answer after ``messages`` (generation prompt included)."""
    return _ids(tokenizer, render_text(tokenizer, messages, tools, True))


def encode(tokenizer, messages: list[dict], max_len: int, eot: list[int],
           tools: list[dict] | None = None) -> Encoded | None:
    """Tokenize one conversation with loss on its final assistant turn; None when truncation leaves
    no answer."""
    before = render_text(tokenizer, messages[:-1], tools, True)
    through = render_text(tokenizer, messages, tools, False)
    if not through.startswith(before):
        raise TrainingError("the base model's chat template does not render conversations incrementally; "
                            "cannot tell assistant tokens apart")
    prompt = _ids(tokenizer, before)
    answer = _ids(tokenizer, through[len(before):])
    # loss on the answer up to and including its end-of-turn token, not on what follows it
    cut = next((j + 1 for j, t in enumerate(answer) if t in eot), len(answer))
    ids = (prompt + answer)[:max_len]
    labels = ([False] * len(prompt) + [True] * cut + [False] * (len(answer) - cut))[:max_len]
    if not any(labels[1:]):
        return None
    return Encoded(ids, labels)


def encode_all(tokenizer, examples: list[dict], max_len: int, eot: list[int]) -> tuple[list[Encoded], int]:
    """Encode every example; returns (encoded, number dropped because nothing was left to learn)."""
    out = [encode(tokenizer, e["messages"], max_len, eot, example_tools(e)) for e in examples]
    kept = [e for e in out if e is not None]
    return kept, len(out) - len(kept)


def plan_steps(lengths: list[int], batch_size: int, epochs: float, seed: int,
               groups: list[object] | None = None) -> list[list[int]]:
    """Example indices of each optimizer step: ``batch_size`` examples per step, reshuffled each
    epoch (seeded); a fractional last epoch takes its first steps.

    With ``groups`` (a key per example, e.g. its first tokens) a step takes its examples from one
    group where it can: an agent's examples, which share a long system-and-tools prefix, then share a
    packed row and compute that prefix once (``row_width``). The steps of an epoch come in random
    order; a group's remainder goes into steps of mixed groups."""
    n = len(lengths)
    total = max(1, round(n * epochs))
    rng = random.Random(seed)
    if groups is None:
        order: list[int] = []
        while len(order) < total:
            perm = list(range(n))
            rng.shuffle(perm)
            order += perm
        order = order[:total]
        return [order[i:i + batch_size] for i in range(0, total, batch_size)]
    steps: list[list[int]] = []
    while sum(len(s) for s in steps) < total:
        perm = list(range(n))
        rng.shuffle(perm)
        by_group: dict[object, list[int]] = {}
        for i in perm:
            by_group.setdefault(groups[i], []).append(i)
        epoch, rest = [], []
        for members in by_group.values():
            whole = len(members) - len(members) % batch_size
            epoch += [members[i:i + batch_size] for i in range(0, whole, batch_size)]
            rest += members[whole:]
        epoch += [rest[i:i + batch_size] for i in range(0, len(rest), batch_size)]
        rng.shuffle(epoch)
        steps += epoch
    out, taken = [], 0
    for step in steps:  # the last (fractional) epoch: its first steps, up to ``total`` examples
        if taken >= total:
            break
        out.append(step[:total - taken])
        taken += len(out[-1])
    return out


# a shorter common prefix is not worth a custom mask
MIN_SHARED_PREFIX = 8


def common_prefix(seqs: list[list[int]]) -> int:
    """Length of the prefix all ``seqs`` share, leaving each at least one token of its own."""
    n = min(len(s) for s in seqs) - 1
    first = seqs[0]
    for k in range(max(n, 0)):
        if any(s[k] != first[k] for s in seqs[1:]):
            return k
    return max(n, 0)


def row_width(seqs: list[list[int]]) -> int:
    """Positions a packed row of ``seqs`` runs: their common prefix once (when long enough to share),
    then what follows it in each."""
    shared = common_prefix(seqs) if len(seqs) > 1 else 0
    shared = shared if shared >= MIN_SHARED_PREFIX else 0
    return shared + sum(len(s) - shared for s in seqs)


def pack_rows(indices: list[int], lengths: list[int], max_row: int,
              seqs: list[list[int]] | None = None, wide_row: int = 0) -> list[list[int]]:
    """Pack the examples of one step into rows of at most ``max_row`` tokens (first fit,
    longest first), so a step pays for no padding between examples.

    With ``seqs`` (the examples' token ids) a row's size is ``row_width``: examples that begin alike
    (an agent's system prompt and tool schemas) cost only what follows their common prefix. Such a
    row may grow past ``max_row`` up to ``wide_row`` while it computes no more attention than separate
    rows would (width² at most the row's² plus the example's own²): long agent examples share a row."""
    rows: list[list[int]] = []
    widths: list[int] = []
    for i in sorted(indices, key=lambda i: -lengths[i]):
        for r, before in enumerate(widths):
            width = row_width([seqs[j] for j in rows[r] + [i]]) if seqs is not None else before + lengths[i]
            if width <= max_row or (width <= wide_row and width ** 2 <= before ** 2 + lengths[i] ** 2):
                rows[r].append(i)
                widths[r] = width
                break
        else:
            rows.append([i])
            widths.append(lengths[i])
    return rows
