"""Drill history: every past run of a runbook and each step's time across runs vs `target=`."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from swrun.errors import RunLogError
from swrun.model import Runbook
from swrun.runlog import find_logs, read_log
from swrun.timeline.build import build_timeline
from swrun.timeline.model import INCOMPLETE, EntryType

_STEADY = 0.10
"""Within ±10 % of the earlier runs' median counts as steady."""


@dataclass(frozen=True)
class StepRun:
    """One step in one run: all attempts added up (a retry is part of the time it took)."""

    duration_ms: int | None
    status: str
    attempts: int


@dataclass(frozen=True)
class HistoryRun:
    log: str
    run_id: str
    started_at: datetime
    operator: str
    operators: tuple[str, ...]
    status: str
    duration_ms: int
    """Active time: crash gaps between a stop and a resume are left out."""
    window_used: float | None
    """duration / the runbook's window (1.0 = the whole window); None without a window."""
    resumes: int
    steps: dict[str, StepRun]
    verdict: str = "verified"
    """What checking its log found (timeline RunInfo.verdict)."""

    @property
    def trusted(self) -> bool:
        return self.verdict == "verified"


@dataclass(frozen=True)
class StepTrend:
    step: str
    number: int | None
    title: str
    target_ms: int | None
    durations_ms: tuple[int | None, ...]
    """Per run, oldest first; None where the step did not run."""
    statuses: tuple[str | None, ...]
    within_target: int
    """Runs where the step ended ok within its target."""
    measured: int
    """Runs where the step ran."""
    best_ms: int | None
    median_ms: int | None
    last_ms: int | None
    trend: str | None
    """`faster`, `slower` or `steady`: the last run against the median of those before it."""


@dataclass(frozen=True)
class History:
    runbook: str
    title: str
    window_ms: int | None
    runs: tuple[HistoryRun, ...]
    """Oldest first."""
    steps: tuple[StepTrend, ...]
    """The runbook's runnable steps as the file is now, in order; rollback steps only if run."""
    total_trend: str | None
    skipped_dry_runs: int
    warnings: tuple[str, ...]


_FINISHED = frozenset({"ok", "ticked"})


def trend(values: list[int]) -> str | None:
    if len(values) < 2:
        return None
    before = statistics.median(values[:-1])
    if values[-1] < before * (1 - _STEADY):
        return "faster"
    if values[-1] > before * (1 + _STEADY):
        return "slower"
    return "steady"


def _run(path: Path, window_ms: int | None, warnings: list[str],
         trust: Any = None) -> HistoryRun | None:
    data = read_log(path)
    started = next((e for e in data.events if e.get("type") == "run_started"), {})
    if started.get("dry_run") is True:
        return None
    tl = build_timeline([data], trust=trust)
    warnings.extend(w for w in tl.warnings if "has changed since this run" not in w)
    info = tl.runs[0]
    steps: dict[str, StepRun] = {}
    for e in tl.entries:
        if e.type is not EntryType.STEP or not e.step:
            continue
        prev = steps.get(e.step)
        total = (prev.duration_ms or 0 if prev else 0) + (e.duration_ms or 0)
        measured = e.status != INCOMPLETE or (prev is not None and prev.duration_ms is not None)
        steps[e.step] = StepRun(total if measured else None, e.status or "?",
                                (prev.attempts if prev else 0) + 1)
    return HistoryRun(
        log=str(path), run_id=info.run_id, started_at=info.started_at, operator=info.operator,
        operators=info.operators, status=info.status, duration_ms=info.duration_ms,
        window_used=info.duration_ms / window_ms if window_ms else None,
        resumes=info.resumes, steps=steps, verdict=info.verdict)


def runbook_logs(runbook: Runbook, logs_dir: Path) -> list[Path]:
    """The run logs of `runbook` anywhere under `logs_dir`, newest first: those whose `[run]`
    names this file, or a runbook with the same content (`swrun history` and
    `swrun timeline --runbook` find them alike)."""
    return find_logs(runbook.path, logs_dir, sha256=runbook.sha256)


def build_history(runbook: Runbook, logs_dir: Path, *, trust: Any = None,
                  verified_only: bool = False) -> History:
    """Every run of `runbook` under `logs_dir`. `trust` checks each log (verify.trust_check);
    with `verified_only` a log that does not hold is left out, not just marked. Copies of one
    run (the same run id in two files) count once."""
    from swrun.evidence.verify import UNTRUSTED_MARK

    window_ms = round(runbook.window * 1000) if runbook.window else None
    runs: list[HistoryRun] = []
    warnings: list[str] = []
    dry = 0
    for path in reversed(runbook_logs(runbook, logs_dir)):
        try:
            mine: list[str] = []
            run = _run(path, window_ms, mine, trust)
        except RunLogError as exc:
            warnings.append(f"{exc}; left out")
            continue
        if run is not None and not run.trusted and verified_only:
            warnings.append(f"{path}: {UNTRUSTED_MARK}: {run.verdict}; left out "
                            "(--verified-only)")
            continue
        warnings.extend(w for w in mine if " log(s) unsigned" not in w
                        and " log(s) unchained" not in w)
        if run is None:
            dry += 1
            continue
        twin = next((r for r in runs if r.run_id == run.run_id), None)
        if twin is not None:  # a copy of a run is not another run
            warnings.append(f"{run.log} and {twin.log} are copies of run {run.run_id}: "
                            f"counted once ({twin.log})")
            continue
        runs.append(run)
    ran = {s for r in runs for s in r.steps}
    trends = []
    for step in runbook.steps:
        if not step.runnable or (step.in_rollback and step.id not in ran):
            continue
        target = step.seconds("target")
        target_ms = round(target * 1000) if target is not None else None
        per = [r.steps.get(step.id) for r in runs]
        durations = tuple(p.duration_ms if p else None for p in per)
        measured = [d for d in durations if d is not None]
        # best, median, last and trend: runs where the step ended ok (an aborted or failed
        # attempt that lasted 1 ms is not "faster")
        done = [p.duration_ms for p in per if p and p.status in _FINISHED
                and p.duration_ms is not None]
        within = sum(1 for p in per if p and p.status == "ok" and p.duration_ms is not None
                     and (target_ms is None or p.duration_ms <= target_ms))
        trends.append(StepTrend(
            step=step.id, number=step.number, title=step.title, target_ms=target_ms,
            durations_ms=durations, statuses=tuple(p.status if p else None for p in per),
            within_target=within, measured=len(measured),
            best_ms=min(done) if done else None,
            median_ms=round(statistics.median(done)) if done else None,
            last_ms=done[-1] if done else None, trend=trend(done)))
    unproven = [r for r in runs if r.verdict in ("unsigned", "unchained")]
    if unproven:
        words = sorted({r.verdict for r in unproven})
        warnings.append(f"{len(unproven)} of {len(runs)} run(s) {' or '.join(words)}: shown, "
                        "marked, not verified (swrun verify; sign runs with --sign-with)")
    return History(runbook=runbook.path, title=runbook.title, window_ms=window_ms,
                   runs=tuple(runs), steps=tuple(trends),
                   total_trend=trend([r.duration_ms for r in runs if r.status == "completed"]),
                   skipped_dry_runs=dry,
                   warnings=tuple(warnings))
