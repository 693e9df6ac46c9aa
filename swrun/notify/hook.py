"""The team's view of a run, hooked into `swrun.session.drive`: notifications (swrun.notify)
and, with OTEL_EXPORTER_OTLP_ENDPOINT set, an OpenTelemetry trace (swrun.otel).

drive hands every event to `see()` after the log has it; `see` never blocks (messages go to
the delivery threads' queues, spans to the batch exporter) and returns the `notification`
events to log for the deliveries that ended since — drive logs them itself, between two of
the engine's events, numbered by the engine, so nothing races the engine for the log.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from swrun.events import Event, StepOutput
from swrun.notify.config import CLI_URLS, Target, targets_for
from swrun.notify.payload import Message
from swrun.words import plural

if TYPE_CHECKING:
    from swrun.engine import Engine

END_GRACE = 3.0
"""At the end of a run, how long notifications still queued are waited for."""
_FAILED = frozenset({"failed", "timed_out"})
_WAIT_ENDS = frozenset({"step_started", "step_finished", "check_ticked", "step_skipped",
                        "run_finished", "rollback_started", "run_resumed"})


@dataclass(frozen=True, kw_only=True)
class NotificationLogged(Event):
    """A notification was delivered, failed after its retries, was dropped (queue full) or
    was still on its way when the run ended."""

    type: ClassVar[str] = "notification"
    notify: str
    """Which event was notified (swrun.notify.config.EVENTS)."""
    target: str
    """The endpoint's name or masked URL (never the webhook's path)."""
    format: str | None = None
    status: str
    """sent, failed, dropped or pending."""
    attempt: int | None = None
    """How many attempts were made."""
    http_status: int | None = None
    error: str | None = None
    for_seq: int | None = None
    """The seq of the event notified about."""


def _fmt_ms(ms: Any) -> str:
    from swrun.durations import format_duration

    return format_duration(ms / 1000) if isinstance(ms, int) else ""


class TeamHooks:
    """Notifications and tracing for one drive of an engine."""

    def __init__(self, engine: Engine, targets: list[Target], tracer: Any) -> None:
        self.engine = engine
        self.targets = targets
        self.tracer = tracer
        self.notifier = None
        if targets:
            from swrun.notify.worker import Notifier

            self.notifier = Notifier(targets)
        rb = engine.runbook
        self.title = rb.title
        self.environment = rb.environment
        self._timers: dict[int, threading.Timer] = {}

    @classmethod
    def for_engine(cls, engine: Engine, environ: Mapping[str, str] | None = None
                   ) -> TeamHooks | None:
        """The hooks this run needs, or None (nothing configured: drive stays as it was)."""
        env = os.environ if environ is None else environ
        targets = [] if engine.settings.dry_run else targets_for(engine.runbook.metadata,
                                                                 CLI_URLS)
        tracer = None
        if env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get(
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
            from swrun.otel import live_tracer  # opentelemetry is imported only now

            tracer = live_tracer(engine)
        if not targets and tracer is None:
            return None
        return cls(engine, targets, tracer)

    # -- the event stream -------------------------------------------------------------------
    def see(self, event: Event, head: tuple[str, int, int] | None = None) -> list[Event]:
        """`head`: the log's chain head once it has `event` (RunLog.head); a `run_finished`
        carries it out of the machine as `chain` (evidence/witness.py)."""
        if isinstance(event, StepOutput):
            return self._logged() if self.notifier is not None and \
                self.notifier.results else []
        if isinstance(event, NotificationLogged):
            return []
        rec = event.to_record()
        if rec.get("type") == "run_finished" and head is not None:
            from swrun.evidence.witness import chain_facts

            rec = {**rec, "chain": chain_facts(head)}
        if self.tracer is not None:
            self.tracer.feed(rec)
        if self.notifier is not None:
            kind = rec["type"]
            if kind in _WAIT_ENDS:
                self._cancel_timers()
            for name, msg in self._messages(rec):
                for i, target in enumerate(self.notifier.deliveries):
                    if name in target.target.events:
                        self.notifier.send(i, msg)
            if kind in ("operator_waiting", "approval_needed"):
                self._start_timers(rec)
            return self._logged()
        return []

    def close(self, wait: bool = True) -> list[Event]:
        """The run is over: stop the timers, give queued notifications END_GRACE seconds
        (none when the run broke off), flush the trace; the last results to log."""
        self._cancel_timers()
        out: list[Event] = []
        if self.notifier is not None:
            out = [self._event(r) for r in self.notifier.close(END_GRACE if wait else 0.0)]
        if self.tracer is not None:
            self.tracer.close()
        return out

    def _logged(self) -> list[Event]:
        assert self.notifier is not None
        return [self._event(r) for r in self.notifier.take()]

    def _event(self, result: dict[str, Any]) -> Event:
        # numbered by the engine (drive calls this between two of its events: no race)
        event = self.engine._event(NotificationLogged, **{k: v for k, v in result.items()
                                                          if v is not None})
        if self.tracer is not None:
            self.tracer.feed(event.to_record())
        return event

    # -- waiting too long ---------------------------------------------------------------------
    def _start_timers(self, rec: dict[str, Any]) -> None:
        assert self.notifier is not None
        self._cancel_timers()
        for i, d in enumerate(self.notifier.deliveries):
            if "waiting" not in d.target.events:
                continue
            after = d.target.waiting_after
            timer = threading.Timer(after, self._waited, (i, rec, after))
            timer.daemon = True
            self._timers[i] = timer
            timer.start()

    def _waited(self, index: int, rec: dict[str, Any], after: float) -> None:
        from swrun.durations import format_duration

        if self.notifier is None or self._timers.get(index) is None:
            return
        what = _what(rec)
        who = (", ".join(rec.get("waiting_for") or ()) or "approvers") \
            if rec.get("type") == "approval_needed" else self.engine.operator.name
        msg = self._message("waiting", f"⏳ {self.title} has waited {format_duration(after)} "
                            f"for {who}", f"at {what}", "warning", rec)
        self.notifier.send(index, msg)

    def _cancel_timers(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    # -- what is said ----------------------------------------------------------------------
    def _message(self, event: str, title: str, text: str, severity: str,
                 rec: dict[str, Any]) -> Message:
        mask = self.engine.masker.mask
        s = self.engine.settings
        facts = {"runbook": self.title, "run": s.run_id,
                 "environment": self.environment or "", "operator": self.engine.operator.name}
        if rec.get("step"):
            facts["step"] = _what(rec)
        chain = rec.get("chain")
        if isinstance(chain, dict) and chain.get("head"):  # a witness line, as verify reads it
            facts["witness"] = (f"run={s.run_id} seq={chain.get('seq')} "
                                f"bytes={chain.get('bytes')} head={chain['head']}")
        return Message(
            event=event, title=mask(title), text=mask(text), severity=severity,
            facts={k: mask(str(v)) for k, v in facts.items() if v},
            record=self.engine.masker.mask_data({k: v for k, v in rec.items()
                                                 if k != "output"}),
            for_seq=rec.get("seq") if isinstance(rec.get("seq"), int) else None)

    def _messages(self, rec: dict[str, Any]) -> list[tuple[str, Message]]:
        kind = rec["type"]
        env = f" ({self.environment})" if self.environment else ""
        m = self._message
        if kind == "run_started":
            dry = " — dry run" if rec.get("dry_run") else ""
            return [("run_started", m("run_started", f"▶ {self.title}{env} started by "
                                      f"{rec.get('operator')}{dry}",
                                      plural(rec.get("steps"), "step"), "info", rec))]
        if kind == "run_resumed":
            return [("run_started", m("run_started", f"▶ {self.title}{env} resumed by "
                                      f"{rec.get('operator')}", f"{rec.get('done')} steps "
                                      "already done", "info", rec))]
        if kind == "run_finished":
            status = str(rec.get("status"))
            sev = "good" if status == "completed" else "warning" if status in (
                "operator_needed", "rolled_back") else "danger"
            counts = ", ".join(f"{v} {k}" for k, v in (rec.get("counts") or {}).items())
            took = _fmt_ms(rec.get("wall_ms") or rec.get("duration_ms"))
            text = "; ".join(t for t in (counts, f"took {took}" if took else "",
                                         str(rec.get("note") or "")) if t)
            return [("run_finished", m("run_finished", f"{_ICON.get(status, '■')} {self.title}"
                                       f"{env} {status.replace('_', ' ')}", text, sev, rec))]
        if kind == "step_finished" and rec.get("status") in _FAILED \
                and not rec.get("will_retry"):
            exit_code = rec.get("exit_code")
            why = str(rec.get("error") or (f"exit {exit_code}" if exit_code is not None
                                           else rec.get("status")))
            tail = "\n".join(list(rec.get("output") or ())[-5:])
            text = why + (f"\n```\n{tail}\n```" if tail else "")
            out = [("step_failed", m("step_failed", f"✗ {self.title}{env}: {_what(rec)} "
                                     f"{rec.get('status')}", text, "danger", rec))]
            if rec.get("kind") == "wait":
                out.append(("watch_failed", m("watch_failed", f"✗ {self.title}{env}: the "
                                              f"watch of {_what(rec)} failed", text, "danger",
                                              rec)))
            return out
        if kind == "rollback_started":
            return [("rollback_started", m("rollback_started", f"↺ {self.title}{env}: rolling "
                                           f"back ({plural(rec.get('steps'), 'step')})",
                                           str(rec.get("note") or ""), "warning", rec))]
        if kind == "rollback_finished":
            ok = rec.get("status") == "ok"
            return [("rollback_finished", m("rollback_finished", f"↺ {self.title}{env}: "
                                            f"rollback {rec.get('status')}", "",
                                            "warning" if ok else "danger", rec))]
        if kind == "approval_needed":
            who = ", ".join(rec.get("waiting_for") or ())
            return [("approval_needed", m("approval_needed", f"🔏 {self.title}{env}: "
                                          f"{_what(rec)} needs {rec.get('approvals')} "
                                          "approval(s)", (f"from {who}; " if who else "")
                                          + f"swrun approve {self.engine.settings.log_path} "
                                          f"{rec.get('number') or rec.get('step')}",
                                          "warning", rec))]
        if kind == "milestone":
            return [("milestone", m("milestone", f"⚑ {self.title}{env}: {rec.get('milestone')}",
                                    f"by {rec.get('by')}" + (f": {rec['note']}"
                                                             if rec.get("note") else ""),
                                    "info", rec))]
        return []


_ICON = {"completed": "✓", "failed": "✗", "aborted": "■", "operator_needed": "⏸",
         "rolled_back": "↺", "rollback_failed": "✗"}


def _what(rec: dict[str, Any]) -> str:
    n = rec.get("number")
    title = rec.get("title") or rec.get("step") or ""
    return f"step {n} '{title}'" if isinstance(n, int) else f"'{title}'"
