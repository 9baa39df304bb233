"""Signals → reward.

Each signal is normalized to [0, 1]:

    compile   true → 1, false → 0
    tests     passed / total            (a bare number in [0, 1] is taken as that ratio)
    errors    1 / (1 + n / errors_scale)  n lint/type errors; 0 → 1.0, errors_scale → 0.5
    human     accept / up / true → 1, reject / down / false → 0,
              {"score": s} with s in 1..5 → (s - 1) / 4, {"thumbs": ±1} → 1 or 0;
              a bare number is refused: 1 means "good" to some senders and "1 out of 5" to others
    survival  kept / total lines of the assistant's edits in the next commit (or that ratio)

The kinds are the keys of ``NORMALIZERS``: a new kind is one entry there plus its weight in
``[rewards.weights]`` (``config.RewardWeights``). The reward is the weighted mean of the signals present, the weights renormalized over them;
with no weighted signal present the run stays unscored (``None``) unless
``rewards.no_signal_reward`` says otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from edgelearn.errors import InvalidInput


@dataclass(frozen=True)
class SignalOptions:
    """What a normalizer may need from ``[rewards]`` besides the raw value."""

    errors_scale: float = 5.0


DEFAULT_OPTIONS = SignalOptions()

_HUMAN_WORDS = {"accept": 1.0, "accepted": 1.0, "up": 1.0, "good": 1.0,
                "reject": 0.0, "rejected": 0.0, "down": 0.0, "bad": 0.0}


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"{field}: expected a number, got {value!r}", field=field)
    return float(value)


def normalize_compile(raw: Any, options: SignalOptions = DEFAULT_OPTIONS) -> float:
    """true → 1, false → 0 (0 and 1 are taken as false and true)."""
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, (int, float)) and raw in (0, 1):
        return float(raw)
    raise InvalidInput(f"signals.compile: expected true or false, got {raw!r}", field="signals.compile")


def normalize_tests(raw: Any, options: SignalOptions = DEFAULT_OPTIONS) -> float:
    """{passed, total} → passed / total; a bare number in [0, 1] is that ratio."""
    field = "signals.tests"
    if isinstance(raw, Mapping):
        if "passed" not in raw or "total" not in raw:
            raise InvalidInput(f"{field}: expected {{passed, total}}, got {dict(raw)!r}", field=field)
        passed = _number(raw["passed"], f"{field}.passed")
        total = _number(raw["total"], f"{field}.total")
        if total <= 0 or passed < 0 or passed > total:
            raise InvalidInput(f"{field}: need 0 <= passed <= total and total > 0, got {passed:g}/{total:g}", field=field)
        return passed / total
    value = _number(raw, field)
    if not 0.0 <= value <= 1.0:
        raise InvalidInput(f"{field}: a bare number must be a pass ratio in [0, 1], got {value:g}", field=field)
    return value


def normalize_errors(raw: Any, options: SignalOptions = DEFAULT_OPTIONS) -> float:
    """n lint/type errors → 1 / (1 + n / errors_scale)."""
    field = "signals.errors"
    n = _number(raw, field)
    if n < 0:
        raise InvalidInput(f"{field}: an error count cannot be negative, got {n:g}", field=field)
    return 1.0 / (1.0 + n / options.errors_scale)


HUMAN_FORMS = 'accept/reject, up/down, {"score": 1-5} or {"thumbs": 1|-1}'


def normalize_human(raw: Any, options: SignalOptions = DEFAULT_OPTIONS) -> float:
    """A word (accept/reject, up/down), true/false, {"score": 1-5} or {"thumbs": 1|-1}; never a bare number."""
    field = "signals.human"
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, str) and raw.lower() in _HUMAN_WORDS:
        return _HUMAN_WORDS[raw.lower()]
    if isinstance(raw, Mapping):
        if "score" in raw:
            return _score(raw["score"], field)
        if "thumbs" in raw:
            return _thumbs(raw["thumbs"], field)
    if isinstance(raw, (int, float)):
        raise InvalidInput(f'{field}: a bare number ({raw!r}) is ambiguous: send {{"score": 1-5}} for a score out '
                           f'of 5 or {{"thumbs": 1|-1}} for good or bad (or accept/reject, up/down)', field=field)
    raise InvalidInput(f"{field}: expected {HUMAN_FORMS}, got {raw!r}", field=field)


def _score(raw: Any, field: str) -> float:
    s = _number(raw, f"{field}.score")
    if not 1 <= s <= 5:
        raise InvalidInput(f"{field}.score: expected 1 to 5, got {s:g}", field=field)
    return (s - 1.0) / 4.0


def _thumbs(raw: Any, field: str) -> float:
    t = _number(raw, f"{field}.thumbs")
    if t not in (1.0, -1.0):
        raise InvalidInput(f"{field}.thumbs: expected 1 or -1, got {t:g}", field=field)
    return 1.0 if t > 0 else 0.0


# signal kind → its normalizer to [0, 1]; each kind also needs a weight in [rewards.weights]
def normalize_survival(raw: Any, options: SignalOptions = DEFAULT_OPTIONS) -> float:
    field = "signals.survival"
    if isinstance(raw, Mapping):
        if "kept" not in raw or "total" not in raw:
            raise InvalidInput(f"{field}: expected {{kept, total}} or a ratio, got {dict(raw)!r}", field=field)
        kept, total = _number(raw["kept"], f"{field}.kept"), _number(raw["total"], f"{field}.total")
        if total <= 0 or not 0 <= kept <= total:
            raise InvalidInput(f"{field}: need 0 <= kept <= total and total > 0, got {kept:g}/{total:g}", field=field)
        return kept / total
    value = _number(raw, field)
    if not 0.0 <= value <= 1.0:
        raise InvalidInput(f"{field}: a bare number must be a ratio in [0, 1], got {value:g}", field=field)
    return value


NORMALIZERS: dict[str, Callable[[Any, SignalOptions], float]] = {
    "compile": normalize_compile,
    "tests": normalize_tests,
    "errors": normalize_errors,
    "human": normalize_human,
    "survival": normalize_survival,
}
SIGNAL_KINDS = tuple(NORMALIZERS)


_OPTIONS: dict[float, SignalOptions] = {}  # by errors_scale: a dict lookup costs less than an lru_cache call


def _options(errors_scale: float) -> SignalOptions:
    options = _OPTIONS.get(errors_scale)
    if options is None:
        if len(_OPTIONS) > 16:  # the scale comes from the config: a few values in a process's life
            _OPTIONS.clear()
        options = _OPTIONS[errors_scale] = SignalOptions(errors_scale=errors_scale)
    return options


def normalize_signals(raw: Mapping[str, Any], errors_scale: float = 5.0) -> dict[str, float]:
    """Every reported signal normalized to [0, 1]; unknown kinds are an error naming them."""
    options = _options(errors_scale)
    out: dict[str, float] = {}
    for kind, value in raw.items():
        if value is None:
            continue
        normalize = NORMALIZERS.get(kind)
        if normalize is None:
            raise InvalidInput(f"signals.{kind}: unknown signal; expected one of {', '.join(SIGNAL_KINDS)}",
                               field=f"signals.{kind}")
        out[kind] = normalize(value, options)
    return out


def compute_reward(values: Mapping[str, float], weights: Mapping[str, float],
                   default: float | None = None) -> tuple[float | None, dict[str, float]]:
    """Weighted mean of the present signals, weights renormalized; returns (reward, components)."""
    total_w = 0.0
    acc = 0.0
    components: dict[str, float] = {}
    for kind, value in values.items():
        w = float(weights.get(kind, 0.0))
        components[kind] = round(value, 6)
        if w > 0:
            total_w += w
            acc += w * value
    if total_w == 0:
        return default, components
    return min(1.0, max(0.0, acc / total_w)), components
