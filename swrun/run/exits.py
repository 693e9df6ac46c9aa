"""The exit code a run ends with, by how it finished (the same for both front ends)."""

from __future__ import annotations

from swrun.events import RunStatus
from swrun.exitcodes import ExitCode

EXIT = {
    RunStatus.COMPLETED: ExitCode.OK,
    RunStatus.FAILED: ExitCode.STEP_FAILED,
    RunStatus.ROLLED_BACK: ExitCode.STEP_FAILED,
    RunStatus.ROLLBACK_FAILED: ExitCode.STEP_FAILED,
    RunStatus.OPERATOR_NEEDED: ExitCode.OPERATOR_NEEDED,
    RunStatus.ABORTED: ExitCode.INTERRUPTED,
}
