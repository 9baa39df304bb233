"""The selector: picks a prompt arm and a model arm for a role, and learns from the rewards.

Hot path: ``decide`` works on an in-memory ``RoleView`` (plain lists), refreshed from the
store after a commit that touched the role's statistics or arms (and at most every
``max_age_s`` seconds, to see changes made by other processes such as the CLI).
``select``/``aselect`` add the run id and write the selection and its ``bandit.select``
event through the store's writer. Statistics change only inside the transaction that
stores a reward (``attach`` registers the store hooks), so they survive restarts.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Any, Callable

import numpy as np

from edgelearn.bandits import catalog, ledger
from edgelearn.bandits.context import nearest, recluster
from edgelearn.bandits.decision import ArmPick, BanditDecision, Selected, explain, pick_payload
from edgelearn.bandits.policies import INF, Policy, choose_one, make_policy
from edgelearn.bandits.view import KindView, RoleView, build_view
from edgelearn.errors import InvalidInput, NotFound, SelectionError
from edgelearn.record.recorder import new_run_id
from edgelearn.store.arms import GLOBAL, Arm, ArmsRepo, Selection
from edgelearn.store.events import EventsRepo


class Selector:
    """Bandit selection of prompt variants and models over one store."""

    def __init__(self, store, settings, *, config_file=None, embed: Callable | None = None,
                 seed: int | None = None, max_age_s: float = 2.0) -> None:
        self.store = store
        self._settings = settings if callable(settings) else (lambda: settings)
        self.config_file = config_file
        self._embed = embed
        self._rnd = random.Random(seed)
        self._max_age = max_age_s
        self._lock = threading.Lock()
        self._views: dict[str, RoleView] = {}
        self._dirty: set[str] = set()
        self._touched: set[str] = set()  # roles changed in the transaction being committed
        self._policies: dict[tuple, Policy] = {}
        self._attached = False

    @property
    def settings(self):
        return self._settings()

    # --- wiring --------------------------------------------------------------------------------
    def attach(self) -> "Selector":
        """Register the store hooks that close the loop (idempotent)."""
        if not self._attached:
            self.store.runs.insert_hooks.append(self._on_insert)
            self.store.runs.reward_hooks.append(self._on_reward)
            self.store.writer.add_after_commit(self._after_commit)
            self._attached = True
        return self

    def _on_insert(self, conn, run) -> None:
        if not run.announced:
            return
        sel = ArmsRepo.selection_in(conn, run.id)
        if sel is None:
            raise NotFound(f"run_id: run {run.id} was not announced by /v1/select; record it without run_id "
                           "or use the run_id a selection returned")
        if sel.role != run.role:
            raise InvalidInput(f"role: run {run.id} was selected for role {sel.role!r}, not {run.role!r}",
                               field="role")
        if run.prompt_variant is None and sel.prompt_arm is not None:
            run.prompt_variant = ArmsRepo.get_in(conn, sel.prompt_arm).variant
        if run.model_variant is None and sel.model_arm is not None:
            run.model_variant = ArmsRepo.get_in(conn, sel.model_arm).variant

    def _on_reward(self, conn, row: dict[str, Any], old: float | None, new: float | None) -> None:
        if row.get("minted"):
            return  # a run recorded without a run id: nothing selected it (one lookup less per record)
        sel = ArmsRepo.selection_in(conn, row["id"])
        if sel is None:
            return
        b = self.settings.bandit
        if ledger.count_reward_in(conn, sel, new, b.discount, b.window):
            # marked now and again after the commit: a reload in between read the old rows
            self._touched.add(sel.role)
            self._dirty.add(sel.role)

    def _after_commit(self) -> None:
        if self._touched:
            touched, self._touched = self._touched, set()
            self._dirty |= touched

    def invalidate(self, role: str | None = None) -> None:
        """Re-read a role (or every role) from the store before its next decision."""
        if role is None:
            self._views.clear()
        else:
            self._dirty.add(role)

    # --- decisions -----------------------------------------------------------------------------
    def view(self, role: str) -> RoleView:
        """The cached view of ``role``, re-read when stale."""
        v = self._views.get(role)
        if v is None or role in self._dirty or time.monotonic() - v.loaded_at > self._max_age:
            self._dirty.discard(role)  # before the read, so a commit during it marks it again
            v = build_view(self.store.arms.snapshot(role))
            self._views[role] = v
        return v

    def _policy(self) -> Policy:
        b = self.settings.bandit
        key = (b.policy, b.epsilon, b.ucb_c)
        policy = self._policies.get(key)
        if policy is None:
            policy = self._policies[key] = make_policy(b)
        return policy

    def _pick(self, kv: KindView, cluster: int | None, min_pulls: int, policy: Policy,
              allowed: list[int] | None = None) -> ArmPick:
        stats = "global"
        n, s = kv.stats(GLOBAL)
        if cluster is not None and kv.pulls.get(cluster, 0) >= min_pulls:
            n, s = kv.stats(cluster)
            stats = f"cluster {cluster}"
        arms = kv.arms
        if allowed is not None:
            arms = [arms[j] for j in allowed]
            n, s = [n[j] for j in allowed], [s[j] for j in allowed]
        with self._lock:  # one Random shared by the event loop and worker threads
            i, sc = choose_one(policy, n, s, self._rnd)
        scores = {a.variant: (None if x == INF else round(x, 4)) for a, x in zip(arms, sc)}
        return ArmPick(arms[i], scores, stats, len(arms))

    def decide(self, role: str, *, cluster: int | None = None, max_cost_per_1k: float | None = None) -> BanditDecision:
        """Choose a prompt arm (None if the role has none) and a model arm; nothing is stored."""
        v = self.view(role)
        b = self.settings.bandit
        policy = self._policy()
        if not v.model.arms:
            raise SelectionError(f"role {role!r} has no enabled model arm: add prompt variants under "
                                 f"prompts/{role}/ (the base model comes with them) or run "
                                 f"`edgelearn arms add model {role} base --backend embedded`")
        allowed = None
        if max_cost_per_1k is not None:
            allowed = [j for j, c in enumerate(v.model.cost) if c <= max_cost_per_1k]
            if not allowed:
                cheapest = min(v.model.arms, key=lambda a: a.cost_per_1k)
                raise SelectionError(f"no enabled model arm of role {role!r} costs at most {max_cost_per_1k:g} per "
                                     f"1k tokens (cheapest: {cheapest.variant!r} at {cheapest.cost_per_1k:g})")
        prompt = self._pick(v.prompt, cluster, b.min_cluster_pulls, policy) if v.prompt.arms else None
        model = self._pick(v.model, cluster, b.min_cluster_pulls, policy, allowed)
        return BanditDecision(role, prompt, model, cluster, policy.name, max_cost_per_1k)

    def _wants_context(self, role: str, task: str | None) -> bool:
        return bool(task) and self.settings.bandit.contextual and self.view(role).centroids is not None

    def cluster_of(self, role: str, task: str | None) -> int | None:
        """The task's cluster (embeds the task, ~10 ms) when contextual selection is on and fitted."""
        if not self._wants_context(role, task):
            return None
        embed = self._embed
        if embed is None:
            from edgelearn.embed.encode import embed_texts as embed
        vec = np.asarray(embed([task])[0], dtype=np.float32)
        return nearest(self.view(role).centroids, vec)

    def _prepare(self, role: str, max_cost: float | None, cluster: int | None) -> tuple[Selected, Callable]:
        catalog.check_role(role)
        if max_cost is not None and (isinstance(max_cost, bool) or not max_cost >= 0):
            raise InvalidInput(f"max_cost_per_1k: expected a number >= 0, got {max_cost!r}", field="max_cost_per_1k")
        d = self.decide(role, cluster=cluster, max_cost_per_1k=max_cost)
        now = time.time()
        run_id = new_run_id(now)
        sel = Selection(run_id, role, d.prompt.arm.id if d.prompt else None, d.model.arm.id, cluster, d.policy, now)
        payload = {"run_id": run_id, "policy": d.policy, "cluster": cluster, "max_cost_per_1k": max_cost,
                   "prompt": pick_payload(d.prompt), "model": pick_payload(d.model)}

        def write(conn):
            ArmsRepo.insert_selection_in(conn, sel)
            EventsRepo.append_in(conn, "bandit.select", payload, role=role, subject=run_id)

        return Selected(run_id, d, explain(d)), write

    def select(self, role: str, task: str | None = None, max_cost_per_1k: float | None = None) -> Selected:
        """Choose and store a selection; returns after its commit."""
        selected, write = self._prepare(role, max_cost_per_1k, self.cluster_of(role, task))
        self.store.write(write)
        return selected

    async def aselect(self, role: str, task: str | None = None, max_cost_per_1k: float | None = None) -> Selected:
        """``select`` for asyncio code (the task embedding runs in a worker thread)."""
        cluster = await asyncio.to_thread(self.cluster_of, role, task) if self._wants_context(role, task) else None
        selected, write = self._prepare(role, max_cost_per_1k, cluster)
        await self.store.awrite(write)
        return selected

    def select_model(self, role: str, task: str | None = None) -> tuple[str, str | None, str | None]:
        """(model id, prompt id or None, run id) for the proxy; raises SelectionError when the role has no
        model arm, so the caller can fall back to the champion or ``base``."""
        s = self.select(role, task)
        d = s.decision
        return d.model.arm.variant, d.prompt.arm.variant if d.prompt else None, s.run_id

    async def aselect_model(self, role: str, task: str | None = None) -> tuple[str, str | None, str | None]:
        s = await self.aselect(role, task)
        d = s.decision
        return d.model.arm.variant, d.prompt.arm.variant if d.prompt else None, s.run_id

    # --- arms ----------------------------------------------------------------------------------
    def sync_prompts(self) -> catalog.SyncReport:
        """Read the prompt files (packaged, then the user's) into arms."""
        from edgelearn.bandits.prompts import prompt_dirs

        report = catalog.sync_prompts(self.store, prompt_dirs(self.settings, self.config_file))
        if report.added or report.updated or report.disabled:
            self.invalidate()
        return report

    def add_prompt_arm(self, role: str, variant: str, text: str, notes: str | None = None) -> Arm:
        arm = catalog.add_prompt_arm(self.store, role, variant, text, notes)
        self.invalidate(role)
        return arm

    def add_model_arm(self, role: str, model_id: str, backend: str, cost_per_1k: float = 0.0,
                      name: str | None = None) -> Arm:
        """Add or update a model arm (the registry calls this when it registers a model)."""
        arm = catalog.add_model_arm(self.store, role, model_id, backend, cost_per_1k, name)
        self.invalidate(role)
        return arm

    def sync_model_arms(self, role: str, models, *, disable_missing: bool = True) -> list[Arm]:
        """Make ``role``'s model arms the given models (see ``catalog.sync_model_arms``)."""
        arms = catalog.sync_model_arms(self.store, role, models, disable_missing=disable_missing)
        self.invalidate(role)
        return arms

    def set_enabled(self, ref: str, enabled: bool) -> Arm:
        arm = catalog.set_enabled(self.store, ref, enabled)
        self.invalidate(arm.role)
        return arm

    # --- maintenance ---------------------------------------------------------------------------
    def recluster(self, role: str, *, seed: int = 0) -> int | None:
        """Fit the role's task clusters now (the service does this in the background)."""
        b = self.settings.bandit
        k = recluster(self.store, role, b.clusters, b.discount, b.window, seed=seed)
        self.invalidate(role)
        return k

    def reconcile(self) -> set[str]:
        """Catch up on rewards written without the hooks and on changed discount/window settings."""
        b = self.settings.bandit

        def fn(conn):
            roles = ledger.reconcile_in(conn, b.discount, b.window)
            for role in ArmsRepo.roles_in(conn):
                clock = ArmsRepo.clock_in(conn, role)
                if (clock.discount, clock.window) != (b.discount, b.window):
                    ledger.rebuild_in(conn, role, b.discount, b.window)
                    roles.add(role)
            return roles

        roles = self.store.write(fn)
        self.invalidate()
        return roles
