"""How rewards move arm statistics, inside the transaction that stores the reward.

Each role has a clock that advances by one per counted reward. An arm's row holds the
sums (n, s, s2) of its observations valued at the clock tick of its last update; with a
discount g < 1 an observation counted at tick t weighs g ** (T - t) at tick T, so a row is
brought forward lazily by multiplying with g ** (T - row.tick). With a window W only the
role's W most recent observations count (all arms together, as in sliding-window UCB, so
the evidence of an arm nobody pulls any more expires too): each new observation at tick T
subtracts the one counted at tick T - W from its rows.

A late reward change (human feedback, late test results) replaces the old fractional
observation with the new one at the same tick and weight: n stays, s moves by the delta
(for the Beta posterior of Thompson sampling: the old pseudo-successes and failures are
removed and the new ones added). A reward that disappears, or settings that change the
discount or window, rebuild the role's statistics from its selections (``rebuild_in``),
which is also the reference the incremental path is tested against.
"""

from __future__ import annotations

from collections import defaultdict

import apsw

from edgelearn.store.arms import GLOBAL, ArmsRepo, Clock, Selection, Stat


def decay(discount: float, dt: int) -> float:
    """Weight after ``dt`` ticks."""
    return 1.0 if discount >= 1.0 or dt <= 0 else discount ** dt


def _rows(sel: Selection) -> list[tuple[str, int, int]]:
    """(kind, arm id, cluster) of every statistics row one selection feeds."""
    out = []
    for kind, arm in (("prompt", sel.prompt_arm), ("model", sel.model_arm)):
        if arm is None:
            continue
        out.append((kind, arm, GLOBAL))
        if sel.cluster is not None:
            out.append((kind, arm, sel.cluster))
    return out


def count_reward_in(conn: apsw.Connection, sel: Selection, new: float | None,
                    discount: float, window: int) -> bool:
    """Make the statistics hold reward ``new`` for ``sel``'s run; returns whether anything changed."""
    old = sel.reward
    if old == new:
        return False
    clock = ArmsRepo.clock_in(conn, sel.role)
    if (clock.discount, clock.window) != (discount, window):
        clock = rebuild_in(conn, sel.role, discount, window)
    if old is None:
        _add(conn, sel, new, clock)
    elif new is None:
        ArmsRepo.set_counted_in(conn, sel.run_id, None, None)
        rebuild_in(conn, sel.role, discount, window)
    else:
        _change(conn, sel, old, new, clock)
    return True


def _move(conn: apsw.Connection, sel: Selection, now: int, g: float, sign: float, r: float, weight: float) -> None:
    """Add (sign 1) or remove (sign -1) one observation of weight ``weight`` at tick ``now`` to ``sel``'s rows."""
    for _kind, arm, cluster in _rows(sel):
        st = ArmsRepo.stat_in(conn, arm, cluster)
        f = decay(g, now - st.tick)
        w = sign * weight
        ArmsRepo.put_stat_in(conn, arm, cluster, Stat(st.n * f + w, st.s * f + w * r, st.s2 * f + w * r * r,
                                                     st.count + (1 if sign > 0 else 0), now))


def _add(conn: apsw.Connection, sel: Selection, r: float, clock: Clock) -> None:
    g, w, now = clock.discount, clock.window, clock.tick + 1
    ArmsRepo.set_counted_in(conn, sel.run_id, r, now)
    _move(conn, sel, now, g, 1.0, r, 1.0)
    if w and now > w:
        leaving = ArmsRepo.counted_at_in(conn, sel.role, now - w)
        if leaving is not None:
            _move(conn, leaving, now, g, -1.0, leaving.reward, decay(g, w))
    ArmsRepo.set_clock_in(conn, Clock(clock.role, now, g, w))


def _change(conn: apsw.Connection, sel: Selection, old: float, new: float, clock: Clock) -> None:
    g, w, t0 = clock.discount, clock.window, sel.tick
    if not w or t0 > clock.tick - w:  # out of the window it no longer counts
        for _kind, arm, cluster in _rows(sel):
            st = ArmsRepo.stat_in(conn, arm, cluster)
            f = decay(g, st.tick - t0)
            st.s += f * (new - old)
            st.s2 += f * (new * new - old * old)
            ArmsRepo.put_stat_in(conn, arm, cluster, st)
    ArmsRepo.set_counted_in(conn, sel.run_id, new, t0)


def rebuild_in(conn: apsw.Connection, role: str, discount: float, window: int) -> Clock:
    """Recompute every statistic of ``role`` from its counted selections; returns the clock."""
    now = ArmsRepo.clock_in(conn, role).tick
    per_row: dict[tuple[int, int], list[tuple[float, int]]] = defaultdict(list)
    for prompt_arm, model_arm, cluster, r, t in ArmsRepo.observations_in(conn, role):
        now = max(now, t)
        for arm in (prompt_arm, model_arm):
            if arm is None:
                continue
            per_row[(arm, GLOBAL)].append((r, t))
            if cluster is not None:
                per_row[(arm, cluster)].append((r, t))
    stats = {}
    for key, obs in per_row.items():
        st = Stat(count=len(obs), tick=now)
        for r, t in obs:
            if window and t <= now - window:
                continue
            f = decay(discount, now - t)
            st.n += f
            st.s += f * r
            st.s2 += f * r * r
        stats[key] = st
    ArmsRepo.replace_stats_in(conn, role, stats)
    clock = Clock(role, now, discount, window)
    ArmsRepo.set_clock_in(conn, clock)
    return clock


def reconcile_in(conn: apsw.Connection, discount: float, window: int) -> set[str]:
    """Count rewards that reached runs without the hooks (another process, a crash); returns roles touched."""
    roles = set()
    for run_id, role, reward in ArmsRepo.drifted_in(conn):
        sel = ArmsRepo.selection_in(conn, run_id)
        if sel is not None and count_reward_in(conn, sel, reward, discount, window):
            roles.add(role)
    return roles
