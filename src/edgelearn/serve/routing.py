"""Which model answers a proxied request: the routing contract and the protocols it relies on.

``model: "edgelearn/<role>"`` lets edgelearn choose, in this order:

0. for a role with a teacher (``[roles.<role>] teacher = "<provider>/<model>"``), the
   ``independence`` service (``decide(role, cluster, session, eligible, confidence)``, see
   docs/independence.md; cluster from the selector's ``cluster_of``, confidence from the
   service's optional ``confidence(role, cluster, task)``, both on a worker thread as they may
   embed the task): the teacher, or the role's local champion (``base`` before one), or, while
   an experiment runs for the role, the model it assigns (a challenger's runs carry no mark);
   the route's ``independence`` is ``{"cluster", "side"}``, kept in the run's metadata. Without
   the service a role with a teacher goes to the teacher;
1. the ``experiments`` service, when it has an experiment running for the role
   (``assign(role, session) -> model_id | None``, sticky by session);
2. the ``selector`` service (bandits) picking a model arm
   (``select_model(role, task) -> (model_id, prompt_id | None, run_id | None)``; it may raise
   ``SelectionError`` when it has nothing to choose from);
3. the role's champion in the registry;
4. ``base``.

Both services are optional; a service without the method is skipped. ``assign`` is called on the
event loop, so it must answer quickly (cached or store reads); the proxy awaits the selector's
``aselect_model`` when it has one (its selection is a store write), else runs ``select_model`` in a
thread. When the selector also picks a prompt variant, the proxy applies its text (see
server/chat.py) since the run is credited to it, when the role opted in. A concrete id
(``coder-v1``, ``base``, ``ollama/<name>``, ``<provider>/<model>``) pins the model and skips routing;
an id naming a provider that is not configured is ``NotFound``, naming the provider.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import Any, Callable, Collection, Mapping, NamedTuple, Protocol, runtime_checkable

import orjson

from edgelearn.errors import EdgelearnError, NotFound, SelectionError
from edgelearn.roles import check_role

ROUTED_PREFIX = "edgelearn/"
DEFAULT_ROLE = "default"

@runtime_checkable
class ExperimentAssigner(Protocol):
    """What the "experiments" service offers the proxy."""

    def assign(self, role: str, session: str | None) -> str | None:
        """The model id this session gets while an experiment runs for ``role``; None when none runs."""

@runtime_checkable
class ModelSelector(Protocol):
    """What the "selector" (bandits) service offers the proxy."""

    def select_model(self, role: str, task: str | None) -> tuple[str, str | None, str | None]:
        """(model id, prompt variant id or None, announced run id or None) for this task."""

@runtime_checkable
class IndependenceScheduler(Protocol):
    """What the "independence" service offers the proxy (experiment/independence/ implements it);
    its answers have ``target`` ("local" | "teacher"), ``cluster`` (int) and ``shadow``."""

    def decide(self, role: str, cluster: int | None, session: str | None, eligible: bool,
               confidence: float | None) -> Any:
        """Local champion or teacher for one request of a role that has a teacher."""

    def escape(self, role: str, session: str | None, cluster: int | None = None,
               reason: str = "the local answer failed a check") -> Any:
        """Move the session to the teacher for the rest of it (the request is retried there)."""

@dataclass
class Teaching:
    """What routing needs to send a role with a teacher through the independence scheduler."""

    teachers: Mapping[str, str]  # role -> "<provider>/<model>"
    fits: Callable[[], bool] = lambda: True  # whether the request fits the local model's context

    @functools.cached_property
    def eligible(self) -> bool:
        """``fits()``, asked only when a role with a teacher is routed (it sizes the whole request)."""
        return self.fits()

@dataclass(frozen=True)
class Route:
    model_id: str
    role: str
    source: str                  # pinned | independence | experiment | selector | champion | base
    prompt_id: str | None = None
    run_id: str | None = None    # announced by the selector: the run is recorded under this id
    independence: dict[str, Any] | None = None  # {"cluster", "side"} of an independence route

BYTES_PER_TOKEN = 3  # below the ~4 of English and code: an estimate that errs towards the teacher

def fits_locally(data: Mapping[str, Any], n_ctx: int, default_max_tokens: int) -> bool:
    """Whether a chat request's prompt (estimated from its messages' and tools' JSON, without
    tokenizing) plus its ``max_tokens`` fits a local context of ``n_ctx`` tokens."""
    size = len(orjson.dumps([data.get("messages"), data.get("tools")], default=str))
    wanted = data.get("max_completion_tokens") or data.get("max_tokens") or default_max_tokens
    if isinstance(wanted, bool) or not isinstance(wanted, int):
        wanted = default_max_tokens
    return -(-size // BYTES_PER_TOKEN) + wanted <= n_ctx

def _provider_of(model_id: str, providers: Collection[str]) -> str | None:
    name, slash, model = model_id.partition("/")
    return name if slash and model and name in providers else None

def _pinned(requested: str, models, role_hint: str | None, providers: Collection[str] = ()) -> Route | None:
    if requested.startswith(ROUTED_PREFIX):
        return None
    if requested == "base" or requested.startswith(("ollama/", "external/")) or _provider_of(requested, providers):
        return Route(requested, role_hint or DEFAULT_ROLE, "pinned")
    try:
        version = models.get(requested)
    except NotFound:
        if "/" not in requested:
            raise  # NotFound names the id
        name = requested.split("/", 1)[0]
        known = ", ".join(sorted(providers)) or "none"
        raise NotFound(f"model {requested}: no provider {name!r} is configured (providers: {known}; "
                       f"see [providers.<name>] in the config)") from None
    return Route(version.id, role_hint or version.role, "pinned")

def _assigned(services: Mapping[str, Any], role: str, session: str | None) -> Route | None:
    experiments = services.get("experiments")
    if isinstance(experiments, ExperimentAssigner):
        model_id = experiments.assign(role, session)
        if model_id:
            return Route(model_id, role, "experiment")
    return None

def _teacher(teaching: Teaching | None, role: str, providers: Collection[str]) -> str | None:
    teacher = teaching.teachers.get(role) if teaching is not None else None
    if teacher is not None and _provider_of(teacher, providers) is None:
        known = ", ".join(sorted(providers)) or "none"
        raise NotFound(f"[roles.{role}] teacher = {teacher!r}: no provider {teacher.split('/', 1)[0]!r} is "
                       f"configured (providers: {known})")
    return teacher

def _context(services: Mapping[str, Any], role: str, task: str | None, eligible: bool) -> tuple[int | None, float | None]:
    """The task's cluster (the selector's nearest context cluster) and the local model's confidence
    on it (the scheduler's optional ``confidence(role, cluster, task)``); both may embed the task."""
    cluster_of = getattr(services.get("selector"), "cluster_of", None)
    cluster = cluster_of(role, task) if cluster_of is not None else None
    confidence = getattr(services.get("independence"), "confidence", None)
    return cluster, confidence(role, cluster, task) if confidence is not None and eligible else None

def _independent(services: Mapping[str, Any], models, role: str, teacher: str, session: str | None,
                 eligible: bool, context: tuple[int | None, float | None]) -> Route:
    scheduler = services.get("independence")
    if not isinstance(scheduler, IndependenceScheduler):
        return Route(teacher, role, "independence")
    choice = scheduler.decide(role, context[0], session, eligible, context[1])
    mark = {"cluster": choice.cluster, "side": choice.target}
    if choice.shadow:
        mark["shadow"] = True  # the proxy may let the local champion answer too, in the background
    if choice.target != "local":
        return Route(teacher, role, "independence", independence=mark)
    champion = models.champion(role)
    local = champion.id if champion is not None else "base"
    assigned = _assigned(services, role, session)
    if assigned is not None and assigned.model_id != local:
        # the local share races a running experiment's challenger; its runs count for the experiment,
        # not for the levels (they measure the champion against the teacher)
        return assigned
    return Route(local, role, "independence", independence=mark)

def escape_route(services: Mapping[str, Any], route: Route, teacher: str, session: str | None,
                 reason: str) -> Route:
    """The teacher's route for a request whose local answer failed a check (the escape hatch)."""
    scheduler = services.get("independence")
    cluster = (route.independence or {}).get("cluster")
    if isinstance(scheduler, IndependenceScheduler):
        cluster = scheduler.escape(route.role, session, cluster, reason).cluster
    return Route(teacher, route.role, "independence", independence={"cluster": cluster, "side": "teacher",
                                                                    "escaped": reason})


def _servable(models, model_id: str, champion, providers: Collection[str] = ()) -> bool:
    """Whether a selector's pick may serve, even while the bandit's arms have not caught up with a
    promotion or a rollback yet: a rolled-back or retired version never does, and neither does
    ``base`` once the role has a trained champion (the role's one local arm follows the champion)."""
    if model_id == "base":
        return champion is None
    if model_id.startswith(("ollama/", "external/")) or _provider_of(model_id, providers):
        return True
    try:
        return models.get(model_id).state in ("champion", "challenger")
    except EdgelearnError:
        return False

def _fallback(models, role: str, pick: tuple[str, str | None, str | None] | None,
              providers: Collection[str] = ()) -> Route:
    champion = models.champion(role)
    if pick and pick[0] and _servable(models, pick[0], champion, providers):
        return Route(pick[0], role, "selector", pick[1], pick[2])
    if champion is not None:
        return Route(champion.id, role, "champion")
    return Route("base", role, "base")

class _Opened(NamedTuple):
    role: str
    teacher: str | None


def _open(requested: str, services: Mapping[str, Any], models, role_hint: str | None, session: str | None,
          providers: Collection[str], teaching: Teaching | None) -> Route | _Opened:
    """What ``route`` and ``aroute`` do alike, before anything that may wait: a pinned model, else the
    role and its teacher; without a teacher, an experiment's assignment."""
    pinned = _pinned(requested, models, role_hint, providers)
    if pinned is not None:
        return pinned
    role = check_role(requested[len(ROUTED_PREFIX):], field="model")
    teacher = _teacher(teaching, role, providers)
    if teacher is None:
        assigned = _assigned(services, role, session)
        if assigned is not None:
            return assigned
    return _Opened(role, teacher)


def route(requested: str, *, services: Mapping[str, Any], models, role_hint: str | None = None,
          session: str | None = None, task: str | None = None, providers: Collection[str] = (),
          teaching: Teaching | None = None) -> Route:
    """The model that answers a request for ``requested`` (see the module docstring); ``providers``
    are the configured provider names, ``teaching`` the roles' teachers."""
    opened = _open(requested, services, models, role_hint, session, providers, teaching)
    if isinstance(opened, Route):
        return opened
    role, teacher = opened
    if teacher is not None:
        assert teaching is not None
        context = _context(services, role, task, teaching.eligible)
        return _independent(services, models, role, teacher, session, teaching.eligible, context)
    pick = None
    selector = services.get("selector")
    if isinstance(selector, ModelSelector):
        try:
            pick = selector.select_model(role, task)
        except SelectionError:
            pick = None
    return _fallback(models, role, pick, providers)


async def aroute(requested: str, *, services: Mapping[str, Any], models, role_hint: str | None = None,
                 session: str | None = None, task: str | None = None, providers: Collection[str] = (),
                 teaching: Teaching | None = None) -> Route:
    """``route`` for asyncio: a selector's ``aselect_model`` is awaited (its selection is a store write),
    else its ``select_model`` runs in a worker thread; so does the task's cluster (an embedding)."""
    opened = _open(requested, services, models, role_hint, session, providers, teaching)
    if isinstance(opened, Route):
        return opened
    role, teacher = opened
    if teacher is not None:
        assert teaching is not None
        context = await asyncio.to_thread(_context, services, role, task, teaching.eligible)
        return _independent(services, models, role, teacher, session, teaching.eligible, context)
    pick = None
    selector = services.get("selector")
    if isinstance(selector, ModelSelector):
        try:
            if hasattr(selector, "aselect_model"):
                pick = await selector.aselect_model(role, task)
            else:
                pick = await asyncio.to_thread(selector.select_model, role, task)
        except SelectionError:
            pick = None
    return _fallback(models, role, pick, providers)
