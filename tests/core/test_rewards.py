import pytest

from edgelearn.config import RewardWeights
from edgelearn.errors import InvalidInput
from edgelearn.record.rewards import NORMALIZERS, SignalOptions, compute_reward, normalize_signals

W = {"compile": 0.25, "tests": 0.25, "errors": 0.25, "human": 0.25}


@pytest.mark.parametrize("raw, expected", [
    ({"compile": True}, {"compile": 1.0}), ({"compile": False}, {"compile": 0.0}),
    ({"tests": {"passed": 3, "total": 4}}, {"tests": 0.75}), ({"tests": 0.5}, {"tests": 0.5}),
    ({"errors": 0}, {"errors": 1.0}), ({"errors": 5}, {"errors": 0.5}), ({"errors": 15}, {"errors": 0.25}),
    ({"human": "accept"}, {"human": 1.0}), ({"human": "reject"}, {"human": 0.0}),
    ({"human": {"score": 4}}, {"human": 0.75}), ({"human": {"thumbs": -1}}, {"human": 0.0}),
    ({"human": "up"}, {"human": 1.0}), ({"human": "down"}, {"human": 0.0}), ({"human": True}, {"human": 1.0}),
    ({"human": {"score": 1}}, {"human": 0.0}), ({"human": {"thumbs": 1}}, {"human": 1.0}), ({"human": None}, {}),
])
def test_normalize(raw, expected):
    assert normalize_signals(raw) == pytest.approx(expected)


@pytest.mark.parametrize("raw, field", [
    ({"compile": "yes"}, "signals.compile"), ({"tests": {"passed": 1}}, "signals.tests"),
    ({"tests": {"passed": 1, "total": 0}}, "signals.tests"), ({"errors": -1}, "signals.errors"),
    ({"human": {"score": 9}}, "signals.human"), ({"human": "meh"}, "signals.human"), ({"x": 1}, "signals.x"),
    ({"tests": float("nan")}, "signals.tests"),
])
def test_bad_signals_name_the_field(raw, field):
    with pytest.raises(InvalidInput) as err:
        normalize_signals(raw)
    assert err.value.field == field and field in str(err.value)


def test_reward_renormalizes_over_present_signals():
    assert compute_reward({"compile": 1.0}, W)[0] == 1.0
    assert compute_reward({"compile": 1.0, "tests": 0.5}, W)[0] == 0.75
    weights = {"compile": 0.1, "tests": 0.3, "errors": 0.0, "human": 0.6}
    reward, comps = compute_reward({"compile": 0.0, "tests": 1.0, "errors": 0.0}, weights)
    assert reward == pytest.approx(0.75) and comps == {"compile": 0.0, "tests": 1.0, "errors": 0.0}
    assert compute_reward({}, W) == (None, {})
    assert compute_reward({}, W, default=0.0)[0] == 0.0


@pytest.mark.parametrize("bare", [1, -1, 0, 3, 4.5])
def test_a_bare_number_as_the_human_signal_is_refused_naming_both_forms(bare):
    # 1 means "good" to some agents and "1 out of 5" to others: no guess is made
    with pytest.raises(InvalidInput) as err:
        normalize_signals({"human": bare})
    message = str(err.value)
    assert err.value.field == "signals.human" and "ambiguous" in message
    assert '{"score": 1-5}' in message and '{"thumbs": 1|-1}' in message


def test_every_signal_kind_has_a_normalizer_and_a_weight():
    # a new kind is one entry in NORMALIZERS plus its weight in [rewards.weights]
    assert set(NORMALIZERS) == set(RewardWeights.model_fields)
    assert all(0.0 <= NORMALIZERS[k](v, SignalOptions()) <= 1.0
               for k, v in {"compile": True, "tests": 0.5, "errors": 3, "human": "accept"}.items())


def test_a_new_kind_is_one_entry_in_the_table(monkeypatch):
    monkeypatch.setitem(NORMALIZERS, "survival", lambda raw, options: 1.0 if raw else 0.0)
    values = normalize_signals({"survival": True, "compile": False})
    assert values == {"survival": 1.0, "compile": 0.0}
    assert compute_reward(values, {**W, "survival": 0.75})[0] == pytest.approx(0.75)


def test_errors_scale_reaches_the_errors_normalizer():
    assert normalize_signals({"errors": 10}, errors_scale=10.0) == {"errors": 0.5}
