"""OpenTelemetry traces of runs, over OTLP/HTTP with the official SDK (docs/team.md).

Imported only when OTEL_EXPORTER_OTLP_ENDPOINT (or …_TRACES_ENDPOINT) is set, or for
`swrun timeline --format otlp`: importing it imports opentelemetry.

One run is one trace: the trace id comes from the run id, so every part of a resumed run
lands in the same trace. The first part's span is the root (`swrun run`, its id from the run
id too); a resumed part is a `swrun resume` span under it; each step attempt is a child span
(status, exit code, host, kind, duration); ticks, notes, milestones, approvals, operator
waits and the rollback are span events. Span ids come from the run id and the event's seq,
so a live run and `swrun timeline --format otlp` of its log build the same spans. Spans are
batched and exported by the SDK's own thread: a step never waits for the collector, and at
the end the export gets at most END_GRACE seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import threading
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from swrun import __version__
from swrun.runlog import parse_at

if TYPE_CHECKING:
    from swrun.engine import Engine

END_GRACE = 2.0
"""At a run's end, how long the last spans may take to export before swrun goes on."""
_FAILED = frozenset({"failed", "timed_out", "aborted"})
_EVENTS = {"check_ticked": "tick", "note_added": "note", "milestone": "milestone",
           "approval_needed": "approval needed", "approval": "approval",
           "approval_refused": "approval refused", "operator_waiting": "operator waiting",
           "rollback_started": "rollback started", "rollback_finished": "rollback finished",
           "step_skipped": "skip", "notification": "notification"}


def _quiet() -> None:
    """The SDK logs export failures to stderr, which would draw over the console: swrun
    counts them instead (RunTracer.errors)."""
    for name in ("opentelemetry", "opentelemetry.exporter", "opentelemetry.sdk"):
        logger = logging.getLogger(name)
        logger.propagate = False
        if not any(isinstance(h, _Count) for h in logger.handlers):
            logger.addHandler(_COUNT)


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.errors) < 50:
            self.errors.append(record.getMessage())


_COUNT = _Count()


def _hash64(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256(":".join(parts).encode()).digest()[:8], "big") or 1


def trace_id_of(run_id: str) -> int:
    got = int.from_bytes(hashlib.sha256(f"swrun-trace:{run_id}".encode()).digest()[:16], "big")
    return got or 1


def root_span_id(run_id: str) -> int:
    return _hash64("swrun-root", run_id)


class _Ids(IdGenerator):
    """Ids from the run id and the event's seq (random when none is set)."""

    def __init__(self) -> None:
        self.trace: int | None = None
        self.next_span: int | None = None

    def generate_span_id(self) -> int:
        got, self.next_span = self.next_span, None
        return got or random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self.trace or random.getrandbits(128) or 1


def _ns(at: Any) -> int | None:
    when = parse_at(at)
    return int(when.timestamp() * 1_000_000_000) if when is not None else None


def _attrs(values: Mapping[str, Any]) -> dict[str, Any]:
    """OpenTelemetry attribute values: strings, numbers, bools, lists of strings."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None or value == "" or value == [] or value == ():
            continue
        if isinstance(value, bool | int | float | str):
            out[key] = value
        elif isinstance(value, list | tuple):
            out[key] = [str(v) for v in value]
        elif isinstance(value, Mapping):
            out[key] = ", ".join(f"{k}={v}" for k, v in value.items())
        else:
            out[key] = str(value)
    return out


def provider(exporter: Any = None, *, batch: bool = True
             ) -> tuple[TracerProvider, _Ids, Any]:
    _quiet()
    ids = _Ids()
    attrs: dict[str, Any] = {"service.version": __version__}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attrs["service.name"] = "swrun"
    prov = TracerProvider(resource=Resource.create(attrs), id_generator=ids,
                          shutdown_on_exit=False)  # never waited for at exit
    exporter = exporter or OTLPSpanExporter()
    prov.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=1000)
                            if batch else SimpleSpanProcessor(exporter))
    return prov, ids, exporter


class RunTracer:
    """Spans of a run from its event records, in log order (live or from a log)."""

    def __init__(self, prov: TracerProvider, ids: _Ids, run: Mapping[str, Any]) -> None:
        self.provider = prov
        self.ids = ids
        self.tracer = prov.get_tracer("swrun", __version__)
        self.run = dict(run)
        self.run_id = str(run.get("id") or "")
        self.part: Any = None
        self.steps: dict[str, Any] = {}
        self.waiting: dict[str, int] = {}
        """Step id → when its operator wait began (a check's span starts there)."""
        self.spans = 0
        self.ended = False

    @property
    def errors(self) -> list[str]:
        return list(_COUNT.errors)

    def _start(self, name: str, span_id: int, start: int | None, parent: Any,
               attributes: dict[str, Any], kind: SpanKind = SpanKind.INTERNAL) -> Any:
        self.ids.trace = trace_id_of(self.run_id)
        self.ids.next_span = span_id
        ctx = trace.set_span_in_context(parent) if parent is not None else None
        span = self.tracer.start_span(name, context=ctx, kind=kind, start_time=start,
                                      attributes=_attrs(attributes))
        self.spans += 1
        return span

    def _root_context(self) -> Any:
        return NonRecordingSpan(SpanContext(trace_id_of(self.run_id), root_span_id(self.run_id),
                                            is_remote=True,
                                            trace_flags=TraceFlags(TraceFlags.SAMPLED)))

    def feed(self, rec: Mapping[str, Any]) -> None:
        kind = rec.get("type")
        at = _ns(rec.get("at"))
        seq = str(rec.get("seq"))
        if kind in ("run_started", "run_resumed"):
            self._end_part(at, None)
            self.ended = False
            self.run_id = str(rec.get("run_id") or self.run_id)
            common = {"swrun.run_id": self.run_id, "swrun.runbook": self.run.get("runbook")
                      or rec.get("runbook"), "swrun.title": self.run.get("title")
                      or rec.get("title"), "swrun.environment": self.run.get("environment")
                      or rec.get("environment"), "swrun.operator": rec.get("operator"),
                      "deployment.environment": self.run.get("environment")}
            if kind == "run_started":
                self.part = self._start(
                    f"swrun run {self.run.get('title') or rec.get('title') or ''}".rstrip(),
                    root_span_id(self.run_id), at, None,
                    {**common, "swrun.steps": rec.get("steps"),
                     "swrun.dry_run": rec.get("dry_run")}, SpanKind.SERVER)
            else:
                self.part = self._start(
                    "swrun resume", _hash64("swrun-part", self.run_id, seq), at,
                    self._root_context(),
                    {**common, "swrun.done": rec.get("done"),
                     "swrun.next_step": rec.get("next_step"),
                     "swrun.changed_steps": rec.get("changed_steps")})
            return
        if self.part is None and self.ended:
            return  # after the part's end (notifications logged as the run closed)
        if self.part is None:  # a log that starts mid-run: a part span of its own
            self.part = self._start("swrun run", root_span_id(self.run_id or "?"), at, None,
                                    {"swrun.run_id": self.run_id})
        step = rec.get("step") if isinstance(rec.get("step"), str) else None
        if kind == "step_started" and step:
            self._end_step(step, at, {"swrun.step.status": "aborted"})
            self.steps[step] = self._start(
                f"step {rec.get('number') or '↺'}: {rec.get('title') or step}",
                _hash64("swrun-span", self.run_id, seq), at, self.part, self._step_attrs(rec))
            self.waiting.pop(step, None)
            return
        if kind == "step_finished" and step:
            span = self.steps.get(step)
            if span is None:  # settled by a resume, or a step without a start (dry run)
                span = self._start(f"step {rec.get('number') or '↺'}: {rec.get('title') or step}",
                                   _hash64("swrun-span", self.run_id, seq),
                                   self.waiting.pop(step, at), self.part, self._step_attrs(rec))
                self.steps[step] = span
            self._end_step(step, at, self._result_attrs(rec))
            return
        if kind == "operator_waiting" and step:
            self.waiting.setdefault(step, at or 0)
        if kind in ("check_ticked", "step_skipped") and step and step not in self.steps:
            span = self._start(f"step {rec.get('number') or '↺'}: {rec.get('title') or step}",
                               _hash64("swrun-span", self.run_id, seq),
                               self.waiting.pop(step, at), self.part, self._step_attrs(rec))
            self.steps[step] = span
            self._end_step(step, at, {**self._result_attrs(rec), "swrun.by": rec.get("by")})
        if kind in _EVENTS:
            self.part.add_event(_EVENTS[str(kind)], attributes=_attrs({
                "swrun.step": step, "swrun.by": rec.get("by"), "swrun.note": rec.get("note"),
                "swrun.milestone": rec.get("milestone"), "swrun.reason": rec.get("reason"),
                "swrun.status": rec.get("status"), "swrun.approvals": rec.get("approvals"),
                "swrun.count": rec.get("count"), "swrun.waiting_for": rec.get("waiting_for"),
                "swrun.error": rec.get("error"), "swrun.seq": rec.get("seq"),
                "swrun.notify": rec.get("notify"), "swrun.target": rec.get("target")}),
                timestamp=at)
        if kind == "run_finished":
            self._end_part(at, rec)
            self.ended = True

    def _step_attrs(self, rec: Mapping[str, Any]) -> dict[str, Any]:
        hosts = rec.get("hosts")
        return {"swrun.step.id": rec.get("step"), "swrun.step.number": rec.get("number"),
                "swrun.step.kind": rec.get("kind"), "swrun.step.title": rec.get("title"),
                "swrun.step.attempt": rec.get("attempt") or 1, "swrun.step.host": rec.get("host"),
                "swrun.step.hosts": list(hosts) if isinstance(hosts, list | dict) else None,
                "host.name": rec.get("host")}

    def _result_attrs(self, rec: Mapping[str, Any]) -> dict[str, Any]:
        return {"swrun.step.status": rec.get("status"), "swrun.step.exit_code":
                rec.get("exit_code"), "swrun.step.duration_ms": rec.get("duration_ms"),
                "swrun.step.error": rec.get("error"), "swrun.step.will_retry":
                rec.get("will_retry"), "swrun.step.leftover": rec.get("leftover"),
                "swrun.by": rec.get("by"), "swrun.note": rec.get("note")}

    def _end_step(self, step: str, at: int | None, attrs: dict[str, Any]) -> None:
        span = self.steps.pop(step, None)
        if span is None:
            return
        span.set_attributes(_attrs(attrs))
        status = attrs.get("swrun.step.status")
        if status in _FAILED:
            span.set_status(Status(StatusCode.ERROR, str(attrs.get("swrun.step.error")
                                                         or status)))
        elif status in ("ok", "ticked", "skipped", "dry_run"):
            span.set_status(Status(StatusCode.OK))
        span.end(end_time=at)

    def _end_part(self, at: int | None, rec: Mapping[str, Any] | None) -> None:
        for step in list(self.steps):
            self._end_step(step, at, {"swrun.step.status": "aborted"})
        if self.part is None:
            return
        if rec is not None:
            status = str(rec.get("status"))
            self.part.set_attributes(_attrs({
                "swrun.status": status, "swrun.stopped_at": rec.get("step"),
                "swrun.note": rec.get("note"), "swrun.duration_ms": rec.get("duration_ms"),
                "swrun.active_ms": rec.get("active_ms"), "swrun.wall_ms": rec.get("wall_ms"),
                **{f"swrun.chain.{k}": v for k, v in (rec.get("chain") or {}).items()},
                **{f"swrun.counts.{k}": v for k, v in (rec.get("counts") or {}).items()}}))
            self.part.set_status(Status(StatusCode.OK) if status == "completed" else
                                 Status(StatusCode.ERROR, status))
        self.part.end(end_time=at)
        self.part = None

    def finish(self) -> None:
        """End whatever is still open now (a part that stopped without run_finished)."""
        self._end_part(None, None)


class LiveTracer:
    """The live run's tracer: spans from the drive loop, exported in the background."""

    def __init__(self, engine: Engine, exporter: Any = None) -> None:
        from swrun.events import format_time, utcnow

        self.provider, ids, self.exporter = provider(exporter)
        rb = engine.runbook
        self.run = RunTracer(self.provider, ids, {
            "id": engine.settings.run_id, "runbook": rb.path, "title": rb.title,
            "environment": rb.environment or None, "started_at": format_time(utcnow())})

    def feed(self, rec: Mapping[str, Any]) -> None:
        try:
            self.run.feed(rec)
        except Exception:  # a trace is never worth a run
            _COUNT.errors.append("a span could not be recorded")

    def close(self, grace: float = END_GRACE) -> None:
        """End open spans, then flush and shut the exporter down in the background for at
        most `grace` seconds (a dead collector costs the run nothing more)."""
        with contextlib.suppress(Exception):
            self.run.finish()
        errors = len(_COUNT.errors)
        done = threading.Thread(target=self.provider.shutdown, name="swrun-otel-flush",
                                daemon=True)
        done.start()
        deadline = time.monotonic() + grace
        while done.is_alive() and time.monotonic() < deadline:
            if len(_COUNT.errors) > errors:  # the collector is not taking them: give up now
                break
            done.join(0.01)
        if done.is_alive():
            with contextlib.suppress(Exception):
                self.exporter.shutdown()  # ends the exporter's retries at once


def live_tracer(engine: Engine) -> LiveTracer:
    return LiveTracer(engine)


def export_logs(logs: Iterable[Any], exporter: Any = None, timeout: float = 30.0
                ) -> tuple[int, list[str]]:
    """`swrun timeline --format otlp`: each read log (swrun.runlog.LogData) as its trace,
    spans as the live run would have made them. (spans exported, export errors)."""
    prov, ids, _ = provider(exporter)
    count = 0
    _COUNT.errors.clear()
    for data in logs:
        tracer = RunTracer(prov, ids, data.run)
        for rec in data.events:
            tracer.feed(rec)
        tracer.finish()
        count += tracer.spans
    ok = prov.force_flush(int(timeout * 1000))
    prov.shutdown()
    errors = list(_COUNT.errors)
    if not ok and not errors:
        errors.append(f"the collector did not take the spans within {timeout:g}s")
    return count, errors
