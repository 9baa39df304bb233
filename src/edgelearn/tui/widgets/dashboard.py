"""The dashboard's regions: summary line, roles table, reward trend, training job and log.

Each widget takes plain data (``learning_status`` and ``overview`` dicts) in ``update_from``
and renders it; none of them reads anything itself.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widgets import Log, Static
from textual_plotext import PlotextPlot

from edgelearn.tui import fmt

STAGE_STYLE = {"idle": "dim", "curate": "cyan", "train": "bold yellow", "register": "magenta",
               "experiment": "bold green"}


class Summary(Static):
    """One line: the loop's stage, runs per minute, runs, local share, cost saved."""

    def update_from(self, status: dict[str, Any], overview: dict[str, Any]) -> None:
        stage = status.get("stage") or "idle"
        roles = status.get("roles") or {}
        saved = [r.get("independence", {}).get("cost_saved") for r in roles.values()]
        saved_total = sum(s for s in saved if s is not None) if any(s is not None for s in saved) else None
        text = Text()
        text.append("stage ", "dim")
        text.append(stage, STAGE_STYLE.get(stage, "bold"))
        text.append("  runs/min ", "dim")
        text.append(fmt.num(overview.get("runs_per_min"), 1))
        text.append("  runs ", "dim")
        text.append(fmt.count(overview.get("runs_total")))
        text.append("  saved ", "dim")
        text.append("n/a" if saved_total is None else f"${saved_total:,.2f}")
        toggles = status.get("toggles") or {}
        flags = " ".join(f"{name[5:]}:{'on' if on else 'off'}" for name, on in toggles.items())
        if flags:
            text.append(f"  {flags}", "dim")
        self.update(text)


class RolesTable(Static):
    """Per role: champion and its reward, progress to export and training, stage, local share."""

    def update_from(self, status: dict[str, Any]) -> None:
        roles = status.get("roles") or {}
        if not roles:
            self.update(Text("no roles yet: record a run (edgelearn record, or POST /v1/runs)", "dim"))
            return
        roles = dict(sorted(roles.items()))
        table = Table(box=None, expand=True, padding=(0, 1), header_style="bold")
        for name, opts in (("role", {}), ("champion", {}), ("reward", {"justify": "right"}),
                           ("export", {"no_wrap": True}), ("train", {"no_wrap": True}),
                           ("stage", {}), ("local", {"justify": "right"})):
            table.add_column(name, **opts)
        for role, info in roles.items():
            champ = info.get("champion") or {}
            progress = info.get("progress") or {}
            export, train = progress.get("export") or {}, progress.get("train") or {}
            stage = info.get("stage") or "idle"
            exp = info.get("experiment")
            if exp:
                stats = exp.get("stats") or {}
                stage = f"A/B {fmt.count((stats.get('champion') or {}).get('n'))}:" \
                        f"{fmt.count((stats.get('challenger') or {}).get('n'))}"
            table.add_row(role, champ.get("id") or "base", fmt.num(champ.get("reward")),
                          fmt.bar(export.get("have"), export.get("need"), 6),
                          fmt.bar(train.get("have"), train.get("need"), 6),
                          Text(stage, STAGE_STYLE.get(info.get("stage") or "idle", "")),
                          fmt.pct((info.get("independence") or {}).get("local_share")))
        self.update(table)


class RewardTrend(PlotextPlot):
    """Mean reward per time bucket over the window the overview chose."""

    FIVE_TICKS_HEIGHT = 14  # below this, five y ticks share rows and which one shows is up to plotext

    overview: dict[str, Any] | None = None

    def on_resize(self) -> None:
        if self.overview is not None:
            self.update_from(self.overview)

    def update_from(self, overview: dict[str, Any]) -> None:
        self.overview = overview
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        points = [p for p in overview.get("trend") or [] if p.get("mean_reward") is not None]
        window, bucket = overview.get("window_s") or 3600, overview.get("bucket_s") or 60
        unit, scale = ("min", 60) if window <= 3600 else (("h", 3600) if window <= 86400 else ("d", 86400))
        self.border_title = f"reward per {fmt.duration(bucket)} · last {fmt.duration(window)}"
        if points:
            end = max(p["start"] for p in points) + bucket
            xs = [(p["start"] + bucket - end) / scale for p in points]
            plt.plot(xs, [p["mean_reward"] for p in points], marker="braille")
        plt.ylim(0, 1)
        plt.yticks([0, 0.25, 0.5, 0.75, 1.0] if self.size.height >= self.FIVE_TICKS_HEIGHT else [0, 0.5, 1.0])
        plt.xlabel(f"{unit} ago")
        plt.title("" if points else "no scored runs yet")
        self.refresh()


class JobPanel(Static):
    """The training job: state, step of total, loss, speed, ETA."""

    def update_from(self, status: dict[str, Any]) -> None:
        job = status.get("job")
        if not job:
            self.update(Text("no training job", "dim"))
            return
        job = {**(job.get("progress") or {}), **{k: v for k, v in job.items() if v is not None}}
        step, total = job.get("step"), job.get("total_steps")
        text = Text()
        text.append(f"{job.get('id') or '?'} ", "bold")
        text.append(f"{job.get('state') or ''}\n")
        text.append(fmt.bar(step, total, 12) if total else f"step {fmt.count(step)}")
        text.append("\nloss ", "dim")
        text.append(fmt.num(job.get("loss"), 3))
        text.append("  tok/s ", "dim")
        text.append(fmt.num(job.get("tokens_per_s"), 0))
        text.append("  ETA ", "dim")
        text.append(fmt.duration(job.get("eta_s")))
        self.update(text)


class LogPanel(Log):
    """The last lines of the demo's log, or of the loop's activity when there is no demo."""

    def show_lines(self, lines: list[str]) -> None:
        """Show ``lines`` (oldest first), appending when they continue what is shown."""
        shown = self.lines
        if list(shown) == lines[: len(shown)] and len(lines) >= len(shown):
            if len(lines) == len(shown):
                return
            self.write_lines(lines[len(shown):])
        else:
            self.clear()
            self.write_lines(lines)
        # the newest line must be in view, also when this runs before the first layout
        self.call_after_refresh(self.scroll_end, animate=False)

    def on_resize(self) -> None:
        # the panel shrinks when the independence panel appears above it: keep the newest line in view
        self.call_after_refresh(self.scroll_end, animate=False)
