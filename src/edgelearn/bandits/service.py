"""The "selector" service: a ``Selector`` attached to the runtime's store, plus its background work.

``install(runtime)`` (called by ``Runtime``) reads the prompt files into arms, registers the
store hooks and adds the service. While running, a background thread re-reads the prompt
files every ``SYNC_S`` seconds and, with ``bandit.contextual`` on, re-fits a role's task
clusters when it has gained enough new embeddings since the last fit.
"""

from __future__ import annotations

import logging
import threading
import time

from edgelearn.bandits.selector import Selector

log = logging.getLogger(__name__)

SYNC_S = 30.0  # how often prompt files are re-read
REFIT_GROWTH = 0.2  # share of new embeddings that makes a role's clusters stale


class SelectorService(Selector):
    """A selector with start/stop: reconciles at start, then syncs and re-clusters in the background."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._fitted: dict[str, int] = {}  # role → embeddings when its clusters were last fitted
        self._last_fit = 0.0

    def start(self) -> None:
        roles = self.reconcile()
        if roles:
            log.info("bandit statistics caught up for %s", ", ".join(sorted(roles)))
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="edgelearn-bandits", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def refit_stale(self) -> list[str]:
        """Re-cluster every role whose embeddings grew by ``REFIT_GROWTH`` since its last fit."""
        refit = []
        for role in self.store.arms.roles():
            have = self.store.arms.embedded_count(role)
            before = self._fitted.get(role, 0)
            if have < 2 * self.settings.bandit.clusters or have < before * (1 + REFIT_GROWTH):
                continue
            if self.recluster(role) is not None:
                self._fitted[role] = have
                refit.append(role)
        return refit

    def _run(self) -> None:
        while not self._stop.wait(SYNC_S):
            try:
                report = self.sync_prompts()
                for err in report.errors:
                    log.warning("prompt file skipped: %s", err)
                b = self.settings.bandit
                if b.contextual and time.monotonic() - self._last_fit >= b.recluster_s:
                    self._last_fit = time.monotonic()
                    self.refit_stale()
            except Exception:
                log.exception("bandit background work failed; will retry")


def install(runtime) -> SelectorService:
    """Create the selector over the runtime's store, read the prompt files, add the "selector" service."""
    selector = SelectorService(runtime.store, lambda: runtime.settings, config_file=runtime.config_file).attach()
    report = selector.sync_prompts()
    for err in report.errors:
        log.warning("prompt file skipped: %s", err)
    runtime.add_service("selector", selector)
    return selector
