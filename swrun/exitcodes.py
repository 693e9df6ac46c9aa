"""Process exit codes of the `swrun` command (listed in docs/cli.md; the CLI tests pin them)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    """Everything asked for was done (or, for `check`, no errors)."""
    STEP_FAILED = 1
    """A step failed: the run stopped, was rolled back, or went on past it (skipped after the
    failure, `--keep-going`, `on_failure=continue`)."""
    USAGE = 2
    """Bad command-line usage."""
    INVALID_RUNBOOK = 3
    """The runbook (or an inventory it needs) has errors; nothing ran."""
    OPERATOR_NEEDED = 4
    """Headless without a terminal reached a check or confirm gate; the log says where."""
    LOG_LOCKED = 5
    """Another swrun process is writing the same run log, or running the same runbook (without
    --concurrent)."""
    BAD_VARIABLES = 6
    """A variable is missing or invalid; nothing ran."""
    BAD_LOG = 7
    """A run log cannot be read, or --resume found no log to continue (or one of another
    runbook)."""
    LEFTOVERS = 8
    """--resume found a step of the run still running (the swrun that started it died);
    nothing ran. Wait for it, or resume with --stop-leftovers."""
    NOT_VERIFIED = 9
    """`swrun verify`: a log does not hold up as evidence (changed, reordered, cut, unsigned,
    signed by a key the allowed_signers file does not list, a sidecar or the runbook differs)."""
    BAD_EVIDENCE = 10
    """A signing key, allowed_signers file or approval file cannot be used, or `swrun approve`
    refused (self-approval, a duplicate, a step that is not waiting for approval)."""
    KUBE_CONTEXT = 11
    """The runbook pins a Kubernetes context (`kube_context`) that the kubeconfig does not
    have, or that is not kubectl's current context; nothing ran."""
    INTERRUPTED = 130
    """SIGINT/SIGTERM, ^C at a prompt, or stdout closed: the running step was stopped and
    the log flushed."""


def exit_code_for(exc: BaseException, default: ExitCode = ExitCode.INVALID_RUNBOOK) -> ExitCode:
    """The documented exit code of a user error (the CLI and the console say the same)."""
    from swrun.errors import (
        EvidenceError,
        InventoryError,
        KubeContextError,
        LeftoverError,
        LogLockedError,
        RunbookError,
        RunLogError,
        UsageError,
        VariableError,
    )

    for kind, code in ((VariableError, ExitCode.BAD_VARIABLES),
                       (LogLockedError, ExitCode.LOG_LOCKED),
                       (LeftoverError, ExitCode.LEFTOVERS),
                       (RunLogError, ExitCode.BAD_LOG),
                       (UsageError, ExitCode.USAGE),
                       (EvidenceError, ExitCode.BAD_EVIDENCE),
                       (KubeContextError, ExitCode.KUBE_CONTEXT),
                       (RunbookError, ExitCode.INVALID_RUNBOOK),
                       (InventoryError, ExitCode.INVALID_RUNBOOK)):
        if isinstance(exc, kind):  # subclasses first: LogLockedError is a RunLogError
            return code
    return default
