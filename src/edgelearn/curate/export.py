"""Exporting a role's dataset: select, rehearse, redact, split, write, publish.

``export_dataset`` is what the loop, the CLI (``edgelearn export``) and ``POST /v1/datasets``
call; ``pending_good_runs`` is the loop's trigger check.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edgelearn.config import ExportSettings, Settings
from edgelearn.curate import tool_rows as R
from edgelearn.curate import tools as T
from edgelearn.curate.formats import NotAnExample, check_of, conversation, example
from edgelearn.curate.publish import DatasetFiles, datasets_root, publish, sweep
from edgelearn.curate.rehearsal import rehearse
from edgelearn.curate.select import DatasetPick, DatasetSelector, Encoder, Progress
from edgelearn.errors import ConfigError, CurationError, InvalidInput
from edgelearn.record.privacy import Redactor
from edgelearn.roles import check_role
from edgelearn.store.datasets import Dataset, VersionTaken
from edgelearn.train.split import split_of

EMBED_MODEL = "all-MiniLM-L6-v2"
ROW_CHUNK = 256
_SQL_FILTERS = ("status_not_ok", "unscored", "below_min_reward")  # counted by SQL, before selection
REASONS = ("status_not_ok", "unscored", "below_min_reward", "unusable", "exact_duplicate", "near_duplicate",
           "cluster_cap", "invalid", *T.REASONS, "over_max_examples")

_locks: dict[tuple[str, str], threading.Lock] = {}
_locks_guard = threading.Lock()


def _role_lock(store, role: str) -> threading.Lock:
    # one export per role and store at a time in this process; other processes are caught by
    # the unique version (VersionTaken) and retried
    with _locks_guard:
        return _locks.setdefault((str(store.path), role), threading.Lock())


def effective_settings(settings: Settings, **overrides: Any) -> ExportSettings:
    """``settings.export`` with the non-None overrides applied; InvalidInput names a bad one."""
    updates = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(updates) - set(ExportSettings.model_fields))
    if unknown:
        raise InvalidInput(f"{unknown[0]}: not an export setting", field=unknown[0])
    try:
        return ExportSettings.model_validate({**settings.export.model_dump(), **updates})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise InvalidInput(f"{loc}: {err['msg']}", field=loc) from exc


def _redactor(settings: Settings) -> Redactor | None:
    if not settings.privacy.redact:
        return None
    try:
        return Redactor(settings.privacy.blocked_patterns)
    except re.error as exc:
        raise ConfigError(f"privacy.blocked_patterns: invalid regular expression: {exc}") from exc


def pending_good_runs(store, settings: Settings, role: str) -> int:
    """Successful runs with reward >= ``export.min_reward`` recorded since the role's last export."""
    return store.datasets.runs_since_last(role, settings.export.min_reward)


def pending_by_role(store, settings: Settings) -> dict[str, int]:
    """``pending_good_runs`` for every role that has good runs."""
    return {role: pending_good_runs(store, settings, role) for role in store.datasets.roles(settings.export.min_reward)}


def export_dataset(
    store, settings: Settings, home: Path, role: str, *, format: str | None = None,
    max_examples: int | None = None, encode: Encoder | None = None, progress: Progress | None = None,
    count_tokens: T.TokenCount | None = None, **overrides: Any,
) -> Dataset:
    """Curate, write and register a new dataset version of ``role``; returns it.

    Overrides (``format``, ``max_examples`` or any other ``export`` setting) apply to this
    export only. ``encode`` embeds runs that have no embedding yet (default: all-MiniLM-L6-v2).
    ``progress(examined, eligible)`` is called after each page of runs. ``count_tokens(messages,
    tools)`` measures a long tool trajectory against ``train.max_seq_len`` (default: the base's
    tokenizer, loaded only when a trajectory may be too long).
    Raises InvalidInput for a bad role or override, CurationError when no run qualifies.
    """
    check_role(role)
    cfg = effective_settings(settings, format=format, max_examples=max_examples, **overrides)
    red = _redactor(settings)
    root = datasets_root(home)
    repo = store.datasets
    with _role_lock(store, role):
        sweep(root)
        started = time.time()
        with repo.snapshot():  # selection and files see one state of the store
            watermark = repo.max_seq()
            counts = repo.filter_counts(role, cfg.min_reward, watermark)
            selector = DatasetSelector(store, cfg, encode=encode)
            selector.scan(role, watermark, counts["eligible"], progress)
            if repo.latest(role) is not None:
                rehearse(selector, role, watermark)
            rejections = _rejections(counts, selector)
            if not selector.picks:
                raise CurationError(_nothing_message(role, cfg, counts, rejections))
            files = DatasetFiles(root, role)
            try:
                limits = R.Limits(settings.train.max_seq_len, count_tokens or R.base_counter(settings))
                written = _write(files, repo, selector.picks, cfg, role, red, rejections, limits)
                file_info = files.close()
            except BaseException:
                files.discard()
                raise
        # every eligible run not kept and not dropped by a filter was never read: over max_examples
        decided = sum(v for k, v in rejections.items() if k not in _SQL_FILTERS)
        rejections["over_max_examples"] = counts["eligible"] - len(written.members) - decided
        if not written.members:
            files.discard()
            raise CurationError(_nothing_message(role, cfg, counts, rejections))
        rehearsed = sum(1 for _, _, source in written.members if source == "rehearsal")
        summary = {"candidates": counts["candidates"], "examples": len(written.members),
                   "train": file_info["train.jsonl"]["examples"], "val": file_info["val.jsonl"]["examples"],
                   "fresh": len(written.members) - rehearsed, "rehearsal": rehearsed}
        manifest = {
            "role": role, "format": cfg.format, "created_at": started, "watermark_seq": watermark,
            "counts": summary, "rejections": rejections, "files": file_info, "runs": written.ids,
            "redactions": dict(sorted(written.redactions.items())),
            "tools": {name: dict(sorted(c.items())) for name, c in sorted(written.tools.items())},
            "dropped_turns": written.dropped_turns, "tool_result_chars": T.TOOL_RESULT_CHARS,
            "clusters": sum(1 for size in selector.kept.cluster_sizes.values() if size),
            "embedding": {"model": EMBED_MODEL, "embedded_now": selector.embedded_now},
            "settings": {"export": cfg.model_dump(), "privacy": {
                "redact": red is not None, "blocked_patterns": len(settings.privacy.blocked_patterns)}},
            "seconds": round(time.time() - started, 3),
        }
        return _publish(store, files, root, manifest, cfg, written.members)


def _publish(store, files: DatasetFiles, root: Path, manifest: dict[str, Any], cfg: ExportSettings,
             members: list[tuple[int, str, str]]) -> Dataset:
    """Give the files the next version of the role and publish them; another process taking
    that version first (VersionTaken) moves this export to the number after it."""
    repo, role = store.datasets, manifest["role"]
    for _ in range(5):
        number = repo.next_number(role)
        version = manifest["version"] = f"{role}-ds{number}"
        files.write_manifest(manifest)
        final = root / version

        def create(conn, version=version, number=number, final=final):
            return repo.create_in(conn, version=version, number=number, role=role, path=final, format=cfg.format,
                                  counts=manifest["counts"], manifest=manifest, watermark_seq=manifest["watermark_seq"],
                                  members=members, created_at=manifest["created_at"])

        try:
            return publish(store, files, final, create)
        except VersionTaken:
            continue
    files.discard()
    raise CurationError(f"could not find a free dataset version for role {role} (concurrent exports?)")


def _rejections(counts: dict[str, int], selector: DatasetSelector) -> dict[str, int]:
    out = {k: 0 for k in REASONS}
    for key in _SQL_FILTERS:
        out[key] = counts[key]
    for key, value in selector.rejected.items():
        out[key] += value
    return out


@dataclass
class _Written(R.ToolTally):
    members: list[tuple[int, str, str]] = field(default_factory=list)  # (run seq, split, source)
    ids: dict[str, list[str]] = field(default_factory=lambda: {"train": [], "val": [], "rehearsal": []})


def _write(
    files: DatasetFiles, repo, picks: list[DatasetPick], cfg: ExportSettings, role: str, red: Redactor | None,
    rejections: dict[str, int], limits: R.Limits,
) -> _Written:
    """Write every pick as an example (redacted, split by run id); a run that cannot become
    an example counts as "invalid", a tool run that must not (``curate.tools``) under its reason."""
    out = _Written()
    picks, check_keys = _checks_first(repo, picks)
    for start in range(0, len(picks), ROW_CHUNK):
        chunk = picks[start:start + ROW_CHUNK]
        rows = repo.example_rows([p.seq for p in chunk])
        results = R.session_results(repo, rows)
        for pick in chunk:
            run_id, input_raw, output, task, reward, metadata, session = rows[pick.seq]
            run = T.tool_run(metadata)
            check = check_of(metadata)
            if check is not None:
                check = {key: check.get(key) for key in check_keys}
                check = red.any(check) if red is not None else check
            meta = {"run_id": run_id, "role": role, "reward": reward, "check": check}
            try:
                if run.is_tool_run or R.has_tool_turns(input_raw):
                    line = R.tool_line(results, pick.seq, session, input_raw, task, output, run, cfg, red, out,
                                         limits, meta)
                else:
                    conv = conversation(input_raw, task, output)
                    if red is not None:
                        conv = [{**m, "content": R.redact_text(red, m["content"], out.redactions)} for m in conv]
                    line = example(cfg.format, conv, **meta)
            except NotAnExample:
                rejections["invalid"] += 1
                continue
            except T.Rejected as exc:
                rejections[exc.reason] += 1
                out.rejected(run, exc.reason)
                continue
            split = split_of(run_id, cfg.val_fraction)
            files.add(split, line)
            out.members.append((pick.seq, split, pick.source))
            out.ids[split].append(run_id)
            if pick.source == "rehearsal":
                out.ids["rehearsal"].append(run_id)
    return out


def _checks_first(repo, picks: list[DatasetPick]) -> tuple[list[DatasetPick], list[str]]:
    """Tool runs first, then picks with a check, and the union of the checks' keys.

    HF ``datasets`` infers a JSON column's type from the first rows it reads and casts the
    rest to it: a file that starts with ``check: null`` rows, or checks with different keys,
    fails to load. So every check gets every key (missing ones null) and comes first; tool rows,
    whose messages carry the most fields, come before all.
    """
    rank: dict[int, int] = {}
    keys: dict[str, None] = {}
    for start in range(0, len(picks), ROW_CHUNK):
        for seq, metadata in repo.metadata([p.seq for p in picks[start:start + ROW_CHUNK]]):
            check = check_of(metadata)
            if check is not None:
                keys.update(dict.fromkeys(check))
            rank[seq] = 0 if T.tool_run(metadata).is_tool_run else 1 if check is not None else 2
    return sorted(picks, key=lambda p: rank.get(p.seq, 2)), sorted(keys)


def _nothing_message(role: str, cfg: ExportSettings, counts: dict[str, int], rejections: dict[str, int]) -> str:
    dropped = ", ".join(f"{k} {v}" for k, v in rejections.items() if v)
    return (f"no example for role {role!r}: {counts['candidates']} runs recorded"
            + (f" ({dropped})" if dropped else "")
            + f"; a run needs status ok and reward >= {cfg.min_reward} (export.min_reward)")
