"""Working the Ollama sync queue: registrations and deletes, retried with backoff.

The queue lives in the store (``ollama_sync``, filled by registry transitions), so a registration
asked for while Ollama is down waits across restarts. An unreachable server reschedules the task
(exponential backoff up to ``max_backoff_s``); a server that refuses the work marks it failed with
the reason (``edgelearn deploy`` requeues it). Nothing runs while ``deploy.backend`` is ``embedded``.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

from edgelearn.errors import BackendUnavailable, EdgelearnError, NotFound
from edgelearn.serve.templates import ollama_name_for

log = logging.getLogger(__name__)


class OllamaSync:
    """Applies queued registry changes to Ollama, now (``run_once``) or from a thread (``start``)."""

    def __init__(self, store, settings: Callable[[], object], home: Path, *, base_backoff_s: float = 2.0,
                 max_backoff_s: float = 300.0, poll_s: float = 5.0,
                 on_reachability: Callable[[bool], None] | None = None) -> None:
        self.store = store
        self._settings = settings
        self.home = Path(home)
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self.poll_s = poll_s
        self._on_reachability = on_reachability
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def enabled(self) -> bool:
        return self._settings().deploy.backend != "embedded"

    def _registrar(self):
        from edgelearn.serve.ollama import Registrar

        deploy = self._settings().deploy
        return Registrar(deploy.ollama_url, self.home, adapter_route=deploy.ollama_adapter_route)

    def run_once(self, model_id: str | None = None) -> int:
        """Do the due tasks (or only ``model_id``'s, due or not); returns how many succeeded."""
        if model_id is not None:
            task = self.store.models.sync_task(model_id)
            tasks = [task] if task is not None and task.status == "pending" else []
        else:
            tasks = self.store.models.sync_tasks(due_before=time.time())
        if not tasks:
            return 0
        done = 0
        registrar = self._registrar()
        try:
            for task in tasks:
                if self._stop.is_set():
                    break
                outcome = self._process(registrar, task)
                done += outcome == "done"
                if outcome == "retry":
                    break  # the server is down: the other tasks would only fail the same way
        finally:
            registrar.close()
        return done

    def _process(self, registrar, task) -> str:
        """"done", "retry" (server unreachable) or "failed" (server refused)."""
        try:
            version = self.store.models.get(task.model_id)
        except NotFound:
            return "failed"  # deleted with its queue row (cascade): nothing to do
        name = version.ollama_name or ollama_name_for(version.id)
        try:
            if task.action == "register":
                details = registrar.register(version, name)
            else:
                details = registrar.delete(name)
        except BackendUnavailable as exc:
            delay = min(self.base_backoff_s * 2 ** task.attempts, self.max_backoff_s)
            self.store.models.sync_retry(task.model_id, task.action, str(exc), delay)
            self._note(False)
            log.info("Ollama unreachable; %s of %s retried in %.0f s", task.action, task.model_id, delay)
            return "retry"
        except EdgelearnError as exc:
            self.store.models.sync_failed(task.model_id, task.action, str(exc))
            self._note(True)
            log.warning("Ollama %s of %s failed: %s", task.action, task.model_id, exc)
            return "failed"
        self._note(True)
        self.store.models.sync_done(task.model_id, task.action, name, details)
        log.info("Ollama %s of %s as %s done", task.action, task.model_id, name)
        return "done"

    def _note(self, reachable: bool) -> None:
        if self._on_reachability is not None:
            self._on_reachability(reachable)

    # --- background thread --------------------------------------------------------------------
    def wake(self) -> None:
        """Look at the queue now (after a deploy) instead of at the next poll."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="edgelearn-ollama-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            wait = self.poll_s
            if self.enabled():
                try:
                    self.run_once()
                except Exception:
                    log.exception("Ollama sync pass failed")
                pending = [t.next_at for t in self.store.models.sync_tasks() if t.status == "pending"]
                if pending:
                    wait = max(0.05, min(self.poll_s, min(pending) - time.time()))
            self._wake.wait(wait)
            self._wake.clear()
