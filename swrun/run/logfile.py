"""The run log a run writes: created (or continued, to resume) and, as a part of the run
ends, signed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from swrun.engine import Resume, Settings
from swrun.loop import clock
from swrun.model import Runbook
from swrun.run.resume import held_log
from swrun.session import run_header

if TYPE_CHECKING:
    from swrun.runlog import RunLog


def open_run_log(
    runbook: Runbook, settings: Settings, log_path: Path | None, resume: Resume | None,
    operator: str, values: dict[str, str], argv: list[str] | None,
    inventory: str | None = None,
) -> tuple[RunLog, Path]:
    """Create (or continue, to resume) the run log; sets settings.log_path and run_dir. A
    resumed log is the one `resume_point` locked (opened and locked here otherwise)."""
    from swrun.runlog import RunLog, default_log_path

    started = clock._now()
    if log_path is None:
        log_path = default_log_path(runbook.path, settings.run_id, started)
    settings.log_path = str(log_path.absolute())
    if resume is not None:
        log = held_log(log_path) or RunLog.open_append(log_path)
    else:
        key = settings.evidence.signing_key if settings.evidence else None
        log = RunLog.create(log_path, run_header(
            runbook, settings.run_id, operator, values, started, argv,
            inventory=inventory or settings.executor_settings.get("inventory"),
            operator_key=key.fingerprint if key else None))
    settings.run_dir = log_path.absolute().with_suffix(".run")  # steps may chdir
    return log, log_path


def sign_run_log(log: RunLog, settings: Settings, operator: str, runbook: Runbook
                 ) -> tuple[Path | None, str]:
    """Sign the log's chain head as this part of the run leaves it (`<log>.sig`): the
    signature file and a line to show, or (None, why the log is unsigned). Never raises: the
    run has happened, and a key that cannot sign leaves the log unsigned, said once."""
    from swrun.errors import EvidenceError

    ev = settings.evidence
    if ev is None:  # the front matter's or $SWRUN_SIGNING_KEY, as the engine reads them
        from swrun.evidence.policy import evidence_for

        try:
            ev = evidence_for(runbook)
        except EvidenceError as exc:
            return None, f"{log.path} is unsigned: {exc}"
    if ev.signing_key is None:
        why = ev.key_problem or "no SSH key"
        return None, f"{log.path} is unsigned: {why}"
    from swrun.evidence.sign import sign_log  # only a run with a key signs

    head = log.head
    try:
        path = sign_log(log.path, ev.signing_key, run_id=settings.run_id, head=head,
                        operator=operator)
    except EvidenceError as exc:
        return None, f"{log.path} is unsigned: {exc}"
    from swrun.events import format_time, utcnow
    from swrun.evidence import witness

    digest, size, seq = head  # a witness outside the log: a cut-back log cannot hide
    try:
        start = witness.header_hash(Path(log.path))
    except OSError:
        start = ""
    witness.record(witness.Head(settings.run_id, seq, size, digest, start),
                   log=str(Path(log.path).absolute()), signed_at=format_time(utcnow()))
    return path, f"signed {log.path} with {ev.signing_key.fingerprint} ({path.name})"
