"""Bandit selection of prompt variants and models.

    policies.py   Thompson sampling, UCB1, epsilon-greedy behind one scoring interface
    ledger.py     how a reward (and a late change of it) moves the arm statistics, in its transaction
    selector.py   the selector: cached views, decisions, selections, the store hooks
    view.py       a role's arms and statistics as arrays, for fast decisions
    catalog.py    adding, syncing, enabling and disabling arms
    prompts.py    prompt variant files (<role>/<variant>.md with front matter)
    context.py    task clusters (spherical k-means) for contextual selection
    report.py     pulls, mean reward, intervals and traffic share per arm
    simulate.py   vectorized simulation for the benchmark and the policy tests
    service.py    install(runtime): the "selector" service and its background work

The SQL lives in ``edgelearn.store.arms``; the HTTP endpoints in ``edgelearn.server.select``.
"""

from edgelearn.bandits.catalog import ModelSpec
from edgelearn.bandits.selector import BanditDecision, Selected, Selector

__all__ = ["BanditDecision", "ModelSpec", "Selected", "Selector"]
