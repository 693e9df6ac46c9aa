"""Starting a run in the console: the resume offer, the variables form, the pre-flight, the
engine's settings and the run log, then the engine on its worker. A mixin of SwrunApp, kept
apart so the app module stays about layout and flow."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work

from swrun import kube
from swrun.engine import Engine, Settings
from swrun.errors import SwrunError
from swrun.exitcodes import ExitCode, exit_code_for
from swrun.model import Runbook
from swrun.operators import needs_typed_confirmation
from swrun.rollbackvars import rollback_only
from swrun.secrets import Masker
from swrun.tui.bridge import TuiOperator
from swrun.tui.preflight import PreflightScreen
from swrun.tui.start import ResumeOffer, ResumeScreen, VariablesScreen
from swrun.tui.state import RunView, earlier_activity
from swrun.variables import env_source, resolve, secret_values

if TYPE_CHECKING:
    from swrun.executors.base import Executor
    from swrun.tui.activity import ActivityPane
    from swrun.tui.detail import StepDetail
    from swrun.tui.header import RunHeader
    from swrun.tui.settings import TuiSettings
    from swrun.tui.steps import StepTree


class RunStart:
    """The start sequence; SwrunApp provides the state below and the App methods."""

    runbook: Runbook
    view: RunView
    settings: TuiSettings
    operator: TuiOperator
    operator_name: str
    executors: dict[str, Executor]
    engine: Engine | None
    log_path: Path | None
    header: RunHeader
    step_tree: StepTree
    detail: StepDetail
    activity: ActivityPane
    _window_offset: float

    # -- starting: resume offer, variables form, then the engine -----------------------------
    @work(exclusive=True, group="start")
    async def _start(self) -> None:
        """Resume offer, variables form, then (production) the pre-flight, then the engine.
        Nothing is written before the pre-flight is passed: cancelling leaves no log. The
        runbook's lock and a resumed log's lock are held from before anything is asked; a
        step the crashed run left running is waited for or stopped only if the operator
        says so (the default, Enter, is not to start)."""
        import asyncio

        from swrun.errors import LeftoverError
        from swrun.run import (
            approvals_preflight,
            hold_runbook,
            open_run_log,
            resume_point,
            settle_leftovers,
        )
        from swrun.runlog import find_unfinished, read_log
        from swrun.tui.screens import ConfirmScreen

        s = self.settings
        rb = self.runbook
        production = needs_typed_confirmation(rb.environment)
        point = None
        lock = None
        opened = False

        def warn(text: str) -> None:
            self.notify(text, severity="warning", timeout=10)

        try:
            lock = hold_runbook(rb, self.operator_name, concurrent=s.concurrent,
                                base=s.logs_base, create=False, warn=warn)
            path: Path | None = None
            if s.resume is not None:
                path = Path(s.resume) if s.resume else find_unfinished(rb.path, s.logs_base)
                if path is None:
                    raise SwrunError(f"no unfinished run log of {rb.path} under "
                                     f"{s.logs_base}/ to resume")
            elif s.offer_resume and not s.log_path:
                found = find_unfinished(rb.path, s.logs_base)
                if found is not None:
                    offer = ResumeOffer.of(rb, read_log(found))
                    if await self.push_screen_wait(ResumeScreen(offer)):
                        path = found
            if path is not None:
                point = resume_point(rb, path, s.inventory, carry=not s.no_carry)
                for warning in point.warnings:
                    warn(warning)
                stop = wait = False
                for left in point.still_running:
                    wait = await self.push_screen_wait(ConfirmScreen(
                        f"{left.describe()} is still running", "The run that died left it "
                        "running. Starting it again beside itself could do its work twice.",
                        yes="Wait for it to end", no="Do not start"))
                    if not wait:
                        stop = await self.push_screen_wait(ConfirmScreen(
                            f"Stop {left.describe()}?", "TERM to its process group, then "
                            f"KILL after {s.kill_grace:g}s; it runs again afterwards.",
                            yes="Stop it", no="Do not start", danger=True))
                    if not (wait or stop):
                        raise LeftoverError(f"not resumed: {left.describe()} is still "
                                            f"running; nothing ran and {path} is unchanged")
                if point.leftovers:
                    if point.still_running:
                        self._status("waiting for what the crashed run left running…" if wait
                                     else "stopping what the crashed run left running…")
                    point = await asyncio.to_thread(
                        settle_leftovers, rb, point, by=self.operator_name, stop=stop,
                        wait=wait, grace=s.kill_grace)
                self._load_done(path, point.resume.done)
            env = os.environ if s.environ is None else s.environ
            cluster = await asyncio.to_thread(  # which cluster (the steps' environment's),
                kube.ready, rb, None, path if point is not None else None)  # before asking
            given = {**(point.variables if point else {}), **s.variables}
            origins = {n: "log" for n in (point.variables if point else {})
                       if n not in s.variables}  # where each value came from (the log)
            later = rollback_only(rb)  # asked when the rollback starts, if it ever does
            ask = [v for n, v in rb.variables.items() if n not in given
                   and env_source(v, env) is None and n not in later]
            if ask:
                answered = await self.push_screen_wait(VariablesScreen(ask, production))
                if answered is None:  # left the form: the operator quit (docs/cli.md: 130)
                    self._fail("not started: the variables form was left; nothing ran"
                               + ("" if point else " and no log was written"),
                               ExitCode.INTERRUPTED)
                    return
                given.update(answered)
                origins.update(dict.fromkeys(answered, "asked"))
            values = resolve(rb, given, environ=env, origins=origins, deferred=later)
            settings = Settings(
                step_mode=True, kill_grace=s.kill_grace,
                executor_settings={"inventory": s.inventory,
                                   "accept_new_host_keys": s.accept_new_host_keys,
                                   "keep_going": False,
                                   kube.KEY: cluster.run_context if cluster else None},
            )
            if point is not None:
                settings.run_id = point.run_id
            elif s.run_id:
                settings.run_id = s.run_id
            from swrun.evidence.policy import evidence_for  # signing key, approval policy

            settings.evidence = evidence_for(rb, sign_with=s.sign_with)
            approvals_preflight(rb, settings.evidence)  # four-eyes knows who the operator is
            # the engine exists before its log (open_run_log fills in settings.log_path and
            # run_dir, which it reads only when steps run), so the pre-flight can show what
            # each step will do with these values
            engine = Engine(rb, self.operator, values, settings=settings,
                            executors=self.executors or None,
                            resume=point.resume if point else None,
                            masker=Masker(secret_values(rb, values, environ=env)))
            if production and not await self.push_screen_wait(PreflightScreen(
                    engine, self.operator_name, point.resume.done if point else None,
                    resuming=point is not None, sources=values.sources, cluster=cluster)):
                self._fail("not started: the pre-flight was cancelled; nothing ran and no "
                           "log was written" if point is None else
                           f"not resumed: the pre-flight was cancelled; nothing ran and "
                           f"{path} is unchanged", ExitCode.INTERRUPTED)
                return
            if lock is None:  # no lock file yet: made now, just before the log
                lock = hold_runbook(rb, self.operator_name, concurrent=s.concurrent,
                                    base=s.logs_base, warn=warn)
            log, self.log_path = open_run_log(
                rb, settings, Path(s.log_path) if s.log_path else path,
                point.resume if point else None, self.operator_name, values, s.argv)
            if lock is not None:
                lock.update(run_id=settings.run_id, log=str(self.log_path))
            log.hold(lock)  # the runbook stays taken until the log is closed
            opened = True
        except SwrunError as exc:  # the CLI's codes; anything else went wrong with the log
            self._fail(str(exc), exit_code_for(exc, ExitCode.BAD_LOG))
            return
        finally:
            if not opened:  # whatever stopped the start gives the log and the runbook up
                if point is not None:
                    point.release()
                if lock is not None:
                    lock.release()
        self.engine = engine
        self._status("")
        self._drive(log)

    def _load_done(self, path: Path, done: Mapping[str, str]) -> None:
        """Draw what the resumed run counts as done: `done` is the engine's own view (the
        log's resume_state: nothing before a rollback counts), and a step counts only while
        its content hash is unchanged, the test Engine.run makes. Steps the old log finished
        that the engine will run again stay pending; notes and milestones are all shown."""
        from swrun.runlog import read_log

        data = read_log(path)
        self._show_earlier(data.events)
        last: dict[str, dict[str, object]] = {}
        for rec in data.events:
            kind = rec.get("type")
            if kind in ("note_added", "milestone"):
                self.view.apply(rec)
            elif kind in ("step_finished", "check_ticked", "step_skipped") and \
                    not rec.get("will_retry") and isinstance(rec.get("step"), str):
                last[str(rec["step"])] = rec
        for step in self.runbook.main_steps:
            if step.id in last and done.get(step.id) == step.content_hash:
                self.view.apply(last[step.id])
        self.view.activity = earlier_activity(data.events)  # the pane's, not the applies'
        started = str(data.run.get("started_at", ""))
        try:
            from datetime import UTC, datetime

            at = datetime.fromisoformat(started.replace("Z", "+00:00"))
            self._window_offset = max(0.0, (datetime.now(UTC) - at).total_seconds())
            # the window clock runs from the run's first start, also before it resumes
            self.view.started = self.settings.clock()
            self.header.update_clock(self._window_offset)
        except ValueError:
            pass
        self.step_tree.refresh_all()
        self._progress()
        nxt = self.view.next_unfinished()
        if nxt is not None:
            self.step_tree.select_step(nxt.id)
            self.detail.show_selected(nxt.id, None)  # the resume point, before it resumes
        self._status(f"resuming {path}" + (f" at step {nxt.number}: {nxt.title}"
                                           if nxt is not None else ": nothing left to run"))

    def _show_earlier(self, records: Iterable[Mapping[str, object]]) -> None:
        """The activity pane of a resumed run starts with the earlier part(s), from the log,
        then a divider where this part begins."""
        from datetime import UTC, datetime

        self.activity.add(earlier_activity(records))
        self.activity.divider(f"resumed at {datetime.now(UTC):%H:%M}")
