"""The one small protocol every backend implements, and what flows through it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from swrun.events import StepStatus, utcnow
from swrun.model import Runbook, Step


class Idle:
    """Yielded by an executor while it waits on a silent process: nothing happened, but the
    engine gets the chance to log what the operator added meanwhile (a note, a milestone)
    at once rather than when the step next prints or ends."""


IDLE = Idle()


@dataclass(frozen=True)
class Output:
    """One line a step printed (without its newline)."""

    line: str
    stream: str = "stdout"
    host: str | None = None
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class Spawned:
    """Yielded first, when the context asks for it (`StepContext.announce`), by an executor
    that starts a local process group: what finds it again after swrun died. The process
    waits at a gate until the executor is asked for its next item, that is until the engine
    has logged this in `step_started`: a step never runs unrecorded."""

    pid: int
    pgid: int
    start: int | None = None
    """/proc/<pid>/stat start time (clock ticks after boot): defeats pid reuse."""
    boot_id: str | None = None
    exit_file: str | None = None
    """Where the process group's leader writes its exit status when the command ends."""


@dataclass(frozen=True)
class RemoteProcess:
    """Yielded by a remote executor as soon as a host's command names its process group:
    the engine logs it (`step_processes`) so a resume after swrun died can find it again."""

    host: str
    pgid: int
    start: int | None = None
    """The group leader's /proc/<pgid>/stat start time on the host: defeats pid reuse."""
    boot_id: str | None = None
    """The host's /proc/sys/kernel/random/boot_id: a reboot ended the group."""


@dataclass(frozen=True)
class StepResult:
    """How one attempt of a step ended."""

    status: StepStatus
    exit_code: int | None = None
    error: str | None = None
    """One line for the operator when the backend itself failed (unreachable host, ...)."""
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepContext:
    """What an executor gets besides the step: environment, limits and the abort signal."""

    runbook: Runbook
    variables: Mapping[str, str]
    env: Mapping[str, str]
    """The complete environment for a local process (os.environ + variables + SWRUN_*)."""
    cancel: threading.Event
    """Set when the operator aborts: stop at once, kill what you started, return ABORTED."""
    timeout: float | None = None
    run_dir: Path | None = None
    """A private directory of this run for scratch files and artifacts."""
    settings: Mapping[str, Any] = field(default_factory=dict)
    kill_grace: float = 5.0
    """Seconds between TERM and KILL when stopping a process group."""
    announce: bool = False
    """Set by the engine: an executor that starts a local process yields a `Spawned` first
    (and holds the process until it is asked for the next item)."""
    confirm: Callable[[str], bool] = lambda reason: True
    """Ask the operator mid-step (e.g. reason "canary" after the canary hosts): True goes on.
    Headless without a terminal it raises engine.OperatorNeeded; let that propagate."""


class Executor(Protocol):
    def run(self, step: Step, ctx: StepContext
            ) -> Iterator[Output | Idle | RemoteProcess | StepResult]:
        """Run one attempt: yield Output lines as they come (a remote executor also each
        host's RemoteProcess), then exactly one StepResult last."""
        ...


class CutShort:
    """The operator's "enough waiting" signal, shared between a front end and the executor."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.by = ""
        self.note = ""

    def cut(self, by: str, note: str = "") -> None:
        with self._lock:
            self.by, self.note = by, note
        self._event.set()

    def take(self) -> tuple[str, str] | None:
        """(by, note) once after a cut, else None."""
        if not self._event.is_set():
            return None
        with self._lock:
            self._event.clear()
            return self.by, self.note
