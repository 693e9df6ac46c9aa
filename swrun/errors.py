"""The one exception tree of swrun, and the diagnostics that carry file:line.

SwrunError
├── RunbookError        a runbook (or its front matter) cannot be used; carries file:line:col
├── VariableError       a variable is missing or fails its declared type/choices/pattern
├── InventoryError      an inventory cannot be read, or a host pattern matches nothing
├── RunLogError         a run log cannot be written, read or resumed
│   ├── LogLockedError  another swrun holds the log, or runs the same runbook
│   └── LeftoverError   a step of the run being resumed is still running (swrun died)
├── UsageError          a command-line option names something the runbook does not have
├── EvidenceError       a signing key, allowed_signers or approval cannot be used, or
│                       `swrun approve` refuses (self-approval, a step not waiting)
├── KubeContextError    a pinned Kubernetes context is missing, or is not kubectl's current one
└── ExecutorError       a backend failed in a way that is not the step's own failure
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    """What swrun read, for the writer to know: never fails a check, `--strict` included."""


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a runbook, printable as `file:line:col: severity: message`."""

    severity: Severity
    message: str
    path: str = ""
    line: int = 0
    """1-based line; 0 when the problem concerns the whole file."""
    col: int = 0
    """1-based column; 0 when unknown."""

    @property
    def location(self) -> str:
        parts = [self.path or "<runbook>"]
        if self.line:
            parts.append(str(self.line))
            if self.col:
                parts.append(str(self.col))
        return ":".join(parts)

    def __str__(self) -> str:
        return f"{self.location}: {self.severity.value}: {self.message}"


class SwrunError(Exception):
    """Root of every error swrun reports to a user as one clear line."""


class RunbookError(SwrunError):
    """A runbook cannot be parsed or used."""

    def __init__(self, message: str, path: str = "", line: int = 0, col: int = 0) -> None:
        self.diagnostic = Diagnostic(Severity.ERROR, message, path, line, col)
        super().__init__(str(self.diagnostic))

    @classmethod
    def from_diagnostic(cls, diag: Diagnostic) -> RunbookError:
        return cls(diag.message, diag.path, diag.line, diag.col)


class VariableError(SwrunError):
    """A runbook variable is missing or invalid."""


class InventoryError(SwrunError):
    """An inventory cannot be loaded or does not have what a step targets."""


class RunLogError(SwrunError):
    """A run log cannot be written, read or resumed."""


class LogLockedError(RunLogError):
    """Another swrun process is writing this log, or running this runbook."""


class LeftoverError(RunLogError):
    """A step of the run being resumed is still running: the swrun that started it died, its
    processes did not (exit code LEFTOVERS)."""


class UsageError(SwrunError):
    """A command-line option names a step or section the runbook does not have (or cannot
    take there): exit code USAGE."""


class EvidenceError(SwrunError):
    """A signing key, an allowed_signers file or an approval cannot be used, or `swrun
    approve` refuses one (exit code BAD_EVIDENCE)."""


class KubeContextError(SwrunError):
    """The runbook pins a Kubernetes context the kubeconfig does not have, or that is not
    kubectl's current context (swrun.kube): exit code KUBE_CONTEXT, nothing ran."""


class ExecutorError(SwrunError):
    """A backend could not run a step at all (as opposed to the step failing)."""
