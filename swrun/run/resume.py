"""The resume point: an unfinished log, locked before anything is asked, read for what is
done and what it carries; and the steps the run that died left running, settled before
anything runs again."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swrun.engine import Resume
from swrun.errors import RunLogError
from swrun.executors.rawout import STREAMS, RawOutput, sweep
from swrun.model import Runbook
from swrun.run.leftovers import Leftover, find_leftovers, stop_leftover, wait_gone

if TYPE_CHECKING:
    from swrun.runlog import LogData, ResumeState, RunLog


@dataclass(frozen=True)
class ResumePoint:
    """Where an unfinished log left off (shared with the TUI)."""

    resume: Resume
    run_id: str
    variables: dict[str, str]
    """Values the earlier run logged (secrets, logged masked, must be given again)."""
    warnings: list[str]
    log: RunLog | None = None
    """The log, locked by this process and repaired: `open_run_log` continues it. Held from
    before anything is asked, so a second resume of the same log is refused up front."""
    leftovers: tuple[Leftover, ...] = ()
    """Steps the part of the run that died left running: `settle_leftovers` deals with
    them (and must, before the engine runs: `still_running` ones run beside a new copy)."""

    @property
    def still_running(self) -> list[Leftover]:
        return [left for left in self.leftovers if left.alive]

    def release(self) -> None:
        """Give the log up without running (a cancelled pre-flight); harmless twice."""
        if self.log is not None:
            _HELD.pop(_key(self.log.path), None)
            self.log.close()


_HELD: dict[str, RunLog] = {}
"""Logs `resume_point` locked, by real path, until `open_run_log` takes them over."""


def _key(path: Path) -> str:
    return os.path.realpath(path)



def held_log(path: Path) -> RunLog | None:
    """The log `resume_point` locked at `path`, handed over (None when it holds none)."""
    return _HELD.pop(_key(path), None)


def resume_point(runbook: Runbook, log_path: Path, inventory: str | None = None,
                 carry: bool = True) -> ResumePoint:
    """Lock the log first (repairing a torn tail), then read what is done: a resume that
    waits at a prompt holds the log, and a second one gets LogLockedError, not a run beside
    it. The lock stays held in the returned point until `open_run_log` or `release`.
    `inventory` (else the one the log names, else the front matter's) finds the hosts of a
    remote step left running. `carry`: False starts the later steps without the shell state
    the log carries (--no-carry); True refuses a log whose chain does not verify when it
    carries one (RunLogError)."""
    from swrun.runlog import RunLog, read_log

    log = RunLog.open_append(log_path)
    try:
        point = _resume_point(runbook, log_path, read_log(log_path), log, inventory, carry)
    except BaseException:
        log.close()
        raise
    _HELD[_key(log_path)] = log
    return point


def _resume_point(runbook: Runbook, log_path: Path, data: LogData, log: RunLog,
                  inventory: str | None = None, carry: bool = True) -> ResumePoint:
    from swrun.runlog import resume_state

    warnings = [*log.warnings, *data.warnings]
    state = resume_state(data)
    if state.shell_states:
        state, said = _carried(state, log_path, carry, runbook)
        warnings += said
    logged = str(data.run.get("runbook", ""))
    # the log names its runbook as given, relative to where that run started: from another
    # directory, the same file name with the same text is the same runbook
    same_name = Path(logged).name == Path(runbook.path).name
    if logged and Path(logged).resolve() != Path(runbook.path).resolve() and not (
            same_name and state.sha256 == runbook.sha256):
        hint = (" (the log names it relative to the directory that run started in: run "
                "from there)" if same_name else "")
        raise RunLogError(f"{log_path} is a log of {logged}, not of {runbook.path}{hint}")
    changed = state.sha256 != runbook.sha256
    if changed:
        warnings.append(f"{runbook.path} changed since {log_path} was written; "
                        "steps whose content changed will run again")
    previous = {k: str(v) for k, v in dict(data.run.get("variables", {})).items()
                if str(v) != "****" and k in runbook.variables}
    gone = sorted(set(dict(data.run.get("variables", {}))) - set(runbook.variables))
    if gone:
        warnings.append(f"{runbook.path} no longer declares {', '.join(gone)}: the logged "
                        "value(s) are not used")
    resume = Resume(done=state.done, next_seq=state.next_seq, runbook_changed=changed,
                    outcomes=state.outcomes, rollback_outcomes=state.rollback_outcomes,
                    active_ms=state.active_ms, started_at=state.started_at,
                    shell_states=state.shell_states, milestones=state.milestones)
    from swrun.session import inventory_file

    logged_inv = data.run.get("inventory")
    inv = inventory_file(runbook, inventory or (str(logged_inv) if logged_inv else None))
    leftovers = find_leftovers(data, inv)
    warnings += [left.unseen for left in leftovers if left.unseen]
    sweep(log_path.absolute().with_suffix(".run"), {
        Path(str(left.started["exit_file"])).stem for left in leftovers
        if isinstance(left.started.get("exit_file"), str)})
    return ResumePoint(resume, state.run_id, previous, warnings, log, tuple(leftovers))


def _carried(state: ResumeState, log_path: Path, carry: bool, runbook: Runbook
             ) -> tuple[ResumeState, list[str]]:
    """The shell state a resume starts from: none with --no-carry, none (an error) from a
    log whose chain does not verify, and never a name that makes a shell run code."""
    from swrun.carry import untrusted

    steps = len(state.shell_states)
    if not carry:
        return dataclasses.replace(state, shell_states=()), [
            f"--no-carry: the later steps start without the exports and folder of the "
            f"earlier ones ({log_path} carries them from {steps} step(s))"]
    try:
        why = untrusted(log_path.read_bytes())
    except OSError as exc:
        why = f"it cannot be read again ({exc.strerror})"
    if why is not None:
        raise RunLogError(f"{log_path}: {why}: the shell state it carries (exports, folder) "
                          "is not trusted; resume with --no-carry to run the later steps "
                          "without it")
    from swrun.carry import ShellState
    from swrun.variables import looks_secret

    # what the engine will leave out, said before anything runs (the runbook's variables
    # all have values by then: any value stands in for them here)
    said = ShellState(str(runbook.base_dir), runbook.variables, looks_secret).load(
        state.shell_states, os.environ, dict.fromkeys(runbook.variables, ""))
    return state, [f"{log_path}: {line}" for line in said]


def settle_leftovers(
    runbook: Runbook, point: ResumePoint, *, by: str, stop: bool = False, wait: bool = False,
    grace: float = 5.0, cancelled: Callable[[], bool] | None = None,
    say: Callable[[str], None] | None = None,
) -> ResumePoint:
    """Deal with the steps the run that died left running, before anything runs again.

    Still running: with `wait`, wait for them to end; with `stop`, stop their process group
    (TERM, then KILL after `grace`); otherwise LeftoverError (nothing ran; the log stays
    locked in `point` until released). Then each gets a `step_finished` logged right after
    `run_resumed` (Resume.settled): the command's own exit status when its exit file has one
    (`ok` from 0: done, not run again — it ran once), else `aborted` (it runs again)."""
    from swrun.errors import LeftoverError

    lefts = [left.refresh() for left in point.leftovers]
    where = point.log.path if point.log else "the run log"
    blind = [left for left in lefts if left.unreachable]
    if blind and not wait:  # cannot tell: not run beside a copy that may still be running
        group = blind[0].unreachable[0]
        raise LeftoverError(
            f"{where}: --stop-leftovers cannot stop {blind[0].name} on {group.host}: "
            f"{group.why}; nothing ran" if stop else
            f"{where}: cannot tell whether {blind[0].name} is still running on "
            f"{group.host}: {group.why}; resume when it can be reached")
    running = [left for left in lefts if left.alive]
    if running and not (stop or wait):
        first = running[0]
        raise LeftoverError(
            f"{where}: {first.describe()} is still "
            "running from the run that died; wait for it to end, or resume with "
            "--stop-leftovers to stop it")
    settled: list[dict[str, Any]] = []
    files: list[str] = []
    late: dict[str, str] = {}
    done = dict(point.resume.done)
    outcomes = dict(point.resume.outcomes)
    main = {s.id for s in runbook.main_steps}
    for left in lefts:
        if left.pgid is None and not left.remote:
            continue
        how = "finished"
        if left.alive and wait:
            if say:
                say(f"waiting for {left.describe()}, left running by the run that died")
            left = wait_gone(left, None, cancelled)
            how = "waited"
        if left.alive:
            if say:
                say(f"stopping {left.describe()}, left running by the run that died "
                    f"(TERM, then KILL after {grace:g}s)")
            left = stop_leftover(left, grace)
            how = "stopped"
        rec = left.started
        fields: dict[str, Any] = {k: rec.get(k) for k in
                                  ("step", "number", "title", "kind", "attempt", "host")}
        fields.update(by=by, hash=rec.get("hash"), exit_code=left.exit_code)
        who = f"pid {rec.get('pid')}, process group {left.pgid}"
        if left.remote:
            who = ", ".join(f"{g.describe()}: {g.why}" if g.why else g.describe()
                            for g in left.remote)
            fields["hosts"] = {g.host: {"pgid": g.pgid} for g in left.remote}
        if left.remote and left.exit_code is None and how != "stopped":
            status, how = "aborted", "gone"
            fields["error"] = ("ended after swrun died; a remote command's exit status is not "
                               f"known after swrun died: it runs again ({who})")
        elif left.exit_code is None:
            status = "aborted"
            how = "stopped" if how == "stopped" else "gone"
            fields["error"] = ("still running when the run was resumed: stopped (TERM, then "
                               f"KILL); it runs again ({who})" if how == "stopped" else
                               "ended after swrun died with no exit status recorded; it runs "
                               f"again ({who})")
        else:
            status = "ok" if left.exit_code == 0 else "failed"
            fields["note"] = {
                "finished": f"ended on its own after swrun died ({who}); logged on resume",
                "waited": f"was still running after swrun died; the resume waited for it "
                          f"to end ({who})",
                "stopped": f"was still running after swrun died and ended as the resume "
                           f"stopped it ({who})",
            }[how]
        fields.update(status=status, leftover=how)
        settled.append({k: v for k, v in fields.items() if v is not None})
        if say:
            say(left.fate())
        if isinstance(rec.get("exit_file"), str) and rec["exit_file"]:
            exit_file = left.log_dir / rec["exit_file"]
            files.append(str(exit_file))
            raw = RawOutput.beside(exit_file)  # what it printed after swrun died
            files += [str(p) for p in raw.paths]
            if any(raw.path(s).is_file() for s in STREAMS):
                raw.quiesce()
                late[left.step] = str(raw.base)
        if left.step in main:
            outcomes[left.step] = status
            if status == "ok" and isinstance(rec.get("hash"), str):
                done[left.step] = rec["hash"]
            else:
                done.pop(left.step, None)
    resume = dataclasses.replace(point.resume, done=done, outcomes=outcomes,
                                 settled=tuple(settled), settled_files=tuple(files),
                                 late_output=late)
    return dataclasses.replace(point, resume=resume, leftovers=tuple(lefts))
