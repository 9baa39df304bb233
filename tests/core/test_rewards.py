import pytest

from edgelearn.errors import InvalidInput
from edgelearn.record.rewards import compute_reward, normalize_signals

W = {"compile": 0.25, "tests": 0.25, "errors": 0.25, "human": 0.25}


@pytest.mark.parametrize("raw, expected", [
    ({"compile": True}, {"compile": 1.0}), ({"compile": False}, {"compile": 0.0}),
    ({"tests": {"passed": 3, "total": 4}}, {"tests": 0.75}), ({"tests": 0.5}, {"tests": 0.5}),
    ({"errors": 0}, {"errors": 1.0}), ({"errors": 5}, {"errors": 0.5}), ({"errors": 15}, {"errors": 0.25}),
    ({"human": "accept"}, {"human": 1.0}), ({"human": "reject"}, {"human": 0.0}),
    ({"human": {"score": 4}}, {"human": 0.75}), ({"human": {"thumbs": -1}}, {"human": 0.0}),
    ({"human": 3}, {"human": 0.5}), ({"human": None}, {}),
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
