"""Four-eyes approval: a step that needs approvals waits for them (`--approval` files and
`<log>.approvals/`), logging each one given or refused."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swrun.events import ApprovalGiven, ApprovalNeeded, ApprovalRefused, Event, StepStatus
from swrun.files import MAX_APPROVAL_BYTES, read_regular
from swrun.loop.operator import Decision, OperatorNeeded
from swrun.model import Step

if TYPE_CHECKING:
    from swrun.evidence.policy import Evidence

APPROVAL_POLL = 0.5
"""Seconds between looks into `<log>.approvals/` while a step waits for approval."""


class _Approvals:
    """The Engine's approval methods (a mixin: `self` is the Engine)."""

    def _logged_events(self) -> list[dict[str, Any]]:
        """The events of this run's log as written so far (earlier parts included), for what
        earlier executions of a step used; empty without a log."""
        if not self.settings.log_path:
            return []
        from swrun.errors import RunLogError
        from swrun.runlog import read_log

        try:
            return read_log(self.settings.log_path).events
        except (RunLogError, OSError):
            return []

    def _secrets_used(self, step: Step) -> dict[str, str]:
        """The secret variables a step uses (in its body or attributes) and their values."""
        import re

        from swrun.variables import secret_names

        texts = [step.body, *(v for v in step.attributes.values() if isinstance(v, str))]
        placeholders = {p.name for p in step.placeholders}
        return {n: self.variables[n] for n in sorted(secret_names(self.runbook))
                if n in self.variables and (n in placeholders or any(
                    re.search(r"\$\{?" + re.escape(n) + r"(?![A-Za-z0-9_])", t)
                    for t in texts))}

    def _signing_key(self) -> str | None:
        """The fingerprint of the key this part of the run is signed with, if any."""
        key = self.settings.evidence.signing_key if self.settings.evidence else None
        return key.fingerprint if key is not None else None

    def _evidence(self) -> Evidence:
        """The run's signing key, allowed_signers and approval policy (Settings.evidence, else
        what the runbook's front matter and the environment say)."""
        if self.settings.evidence is None:
            from swrun.errors import EvidenceError
            from swrun.evidence.policy import Evidence, evidence_for

            try:
                self.settings.evidence = evidence_for(self.runbook)
            except EvidenceError:  # a step that needs approval then stops, saying why
                self.settings.evidence = Evidence()
        return self.settings.evidence

    def _await_approvals(self, step: Step) -> Generator[Event, None, StepStatus | None]:
        """Wait until the step has as many valid approvals as it needs (None), or the run is
        aborted (ABORTED). Approvals come from `--approval` files and `<log>.approvals/`,
        polled every APPROVAL_POLL seconds; notes and milestones are logged meanwhile.
        Without a person to wait with (headless, no terminal) it stops the run
        (OperatorNeeded) saying what is missing and how to approve."""
        from swrun.evidence.approve import (
            Checker,
            Refused,
            Request,
            approval_key,
            approvals_dir,
            keep,
            secret_hmacs,
            used_approvals,
            waiting_text,
        )
        from swrun.evidence.chain import digest

        ev = self._evidence()
        needed = ev.needed(step, self.runbook.environment)
        command = self.describe(step, lines=10_000) if step.runnable else step.body
        bound = self._secrets_used(step)
        hmacs = secret_hmacs(approval_key(self.settings.run_dir), bound) if bound else {}
        request = Request(self.settings.run_id, step.id, step.number, step.title,
                          step.content_hash, command, hmacs)
        log_path = self.settings.log_path
        checker = Checker(ev, request, self.operator.name, ev.operator_principals(),
                          used=used_approvals(self._logged_events(), step.id))
        common = self._common(step)
        folder = approvals_dir(log_path) if log_path else None
        where = f"`swrun approve {log_path} {step.number or step.id}`" if log_path else \
            "`swrun approve LOG STEP`"
        problem = ev.operator_problem()
        if problem is not None:
            raise OperatorNeeded(
                f"step {step.number} '{step.title}' needs {needed} approval(s), and {problem}")
        yield self._event(
            ApprovalNeeded, **common, approvals=needed, count=0, hash=step.content_hash,
            command=command, command_sha256=request.command_sha256,
            waiting_for=checker.waiting_for(),
            operator_key=ev.signing_key.fingerprint if ev.signing_key else None,
            allowed_signers=str(ev.allowed_signers), valid_for=int(ev.valid_for),
            secrets=hmacs or None)
        seen: dict[Path, tuple[int, int]] = {}

        def rel(path: Path) -> str:
            if log_path:
                name = os.path.relpath(path.absolute(), os.path.dirname(log_path))
                if not name.startswith(".."):
                    return name
            return str(path)

        while True:
            candidates = list(ev.approval_files)
            if folder is not None and folder.is_dir():
                candidates += sorted(p for p in folder.iterdir() if p.name.endswith(".approval"))
            for path in candidates:
                try:
                    st = path.stat()
                    stamp = (st.st_mtime_ns, st.st_size)
                    if seen.get(path) == stamp:
                        continue
                    seen[path] = stamp
                    raw = read_regular(path, MAX_APPROVAL_BYTES)  # a FIFO would hang the run
                except OSError:
                    continue
                try:
                    got = checker.check(raw)
                except Refused as no:
                    yield self._event(ApprovalRefused, **common, error=no.reason,
                                      by=no.principal, key=no.fingerprint, file=rel(path))
                    continue
                kept = path
                if folder is not None:  # verify and bundles find it beside the log
                    try:
                        kept = keep(folder, path, raw, step.number, step.id, got.fingerprint)
                    except OSError:
                        kept = path
                yield self._event(
                    ApprovalGiven, **common, by=got.principal, key=got.fingerprint,
                    approvals=needed, count=len(checker.counted), approved_at=got.approved_at,
                    expires_at=got.expires_at, file=rel(kept), file_sha256=digest(raw),
                    waiting_for=checker.waiting_for()
                    if len(checker.counted) < needed else ())
            for gone in checker.expired():
                yield self._event(ApprovalRefused, **common, by=gone.principal,
                                  key=gone.fingerprint,
                                  error=f"it expired at {gone.expires_at} while the step "
                                        "waited for more approvals")
            if len(checker.counted) >= needed:
                return None
            yield from self._inbox_events()
            if self._cancel.is_set():
                return StepStatus.ABORTED
            missing = needed - len(checker.counted)
            if not self.operator.interactive:
                raise OperatorNeeded(
                    f"step {step.number} '{step.title}' is "
                    f"{waiting_text(missing, checker.waiting_for())}: approve with {where}, "
                    "then resume with --approval FILE")
            if getattr(self.operator, "detached", False):
                # the front end went away while the step waited: ask it, as for any other
                # question, so it ends the run its own way (the console leaves it resumable)
                answer = self.operator.confirm(step, "approval")
                if answer.decision is not Decision.CONTINUE:
                    return StepStatus.ABORTED
            self._cancel.wait(APPROVAL_POLL)
