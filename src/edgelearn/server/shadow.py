"""Shadow answers: the local champion answers a teacher-served request too, in the background.

The scheduler marks a share of teacher-served eligible requests ``shadow`` (``[independence]
shadow_share``). Once the teacher's run is recorded, and only while the machine is otherwise idle
(no other shadow running, the 1-minute load average under half the cores: the agent's own local
requests and training come first), the local champion answers the same messages. That answer is
never returned and never recorded as a run; its agreement with the teacher's answer
(``signals.agreement``) goes to the independence service, which counts it on the cluster's shadow
side when the teacher's run is scored (docs/independence.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import replace

from edgelearn.errors import EdgelearnError
from edgelearn.server.chat import Call, keep

log = logging.getLogger(__name__)
_running = 0
IDLE_LOAD = 0.5      # load average per core under which the machine counts as idle
WAIT_RUN_S = 600.0   # how long a shadow waits for the teacher's run to be recorded (a long stream)
POLL_S = 0.2


def wanted(call: Call) -> bool:
    """Whether the scheduler asked for a shadow answer to this teacher-served call."""
    mark = call.route.independence
    return bool(mark and mark.get("side") == "teacher" and mark.get("shadow"))


def idle(max_load: float = IDLE_LOAD) -> bool:
    """No shadow running and the load average under ``max_load`` per core (``[independence] shadow_idle_load``)."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # no load average on this platform: only one shadow at a time
        load = 0.0
    return _running == 0 and load < max_load * (os.cpu_count() or 1)


def running() -> int:
    """Shadow answers being generated now (the demo's agent waits for them between requests)."""
    return _running


def start(call: Call) -> None:
    """Answer ``call`` locally in the background once its teacher run exists (see the module docstring)."""
    keep(_shadow(call))


async def _teacher_run(call: Call):
    runs = call.runtime.store.runs
    for _ in range(int(WAIT_RUN_S / POLL_S)):
        try:
            return await asyncio.to_thread(runs.get, call.run_id)
        except EdgelearnError:
            await asyncio.sleep(POLL_S)
    return None


async def _shadow(call: Call) -> None:
    global _running
    from edgelearn.server.proxy import _Local

    service = call.runtime.services.get("independence")
    run = await _teacher_run(call)
    if service is None or run is None or run.status != "ok" or not idle(service.config().shadow_idle_load):
        return
    _running += 1
    try:
        role, cluster = call.route.role, call.route.independence.get("cluster")
        # the champion, and both variants of a running experiment (it sees no live traffic at level 0)
        models = await asyncio.to_thread(service.shadow_models, role)
        for model_id in models:
            call.route = replace(call.route, model_id=model_id)
            local = _Local(call)
            text, last = await local.engine.acomplete(local.served, local.request)
            await asyncio.to_thread(service.shadow_answer, run, role, cluster, model_id, text,
                                    list(last.tool_calls), local.request.messages)
    except Exception:  # a shadow is best effort: the agent already has its answer
        log.warning("shadow answer for run %s failed", call.run_id, exc_info=True)
    finally:
        _running -= 1
