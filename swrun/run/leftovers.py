"""Leftovers: a step still running after swrun died, found from the log's last part, looked
for locally (its process group) or on its hosts over SSH, and stopped (TERM, then KILL)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swrun.files import read_regular

if TYPE_CHECKING:
    from swrun.runlog import LogData
    from swrun.ssh.remote import RemoteHost


@dataclass(frozen=True)
class RemoteGroup:
    """A process group a remote step started on a host (its `step_processes` record)."""

    host: str
    pgid: int
    start: int | None = None
    boot_id: str | None = None
    state: str = "unchecked"
    """`alive`, `gone`, or `unreachable` (cannot tell: `why` says what failed)."""
    why: str = ""

    def describe(self) -> str:
        return f"process group {self.pgid} on {self.host}"


@dataclass(frozen=True)
class Leftover:
    """A step whose `step_started` has no end in the part of the run that died."""

    started: dict[str, Any]
    """Its step_started record."""
    log_dir: Path
    members: tuple[int, ...] = ()
    """Live processes of its process group, now."""
    exit_code: int | None = None
    """What its exit file says: the command ended on its own after swrun died."""
    remote: tuple[RemoteGroup, ...] = ()
    """A remote step's process groups, one a host (what `step_processes` recorded)."""
    inventory: Path | None = None
    """Where a remote step's hosts are found (the run's inventory)."""

    @property
    def step(self) -> str:
        return str(self.started.get("step"))

    @property
    def pgid(self) -> int | None:
        got = self.started.get("pgid")
        return got if isinstance(got, int) and got > 1 else None

    @property
    def alive(self) -> bool:
        """Some of its processes live — or, on a host that cannot be reached, may."""
        return bool(self.members) or any(g.state in ("alive", "unreachable")
                                         for g in self.remote)

    @property
    def unreachable(self) -> list[RemoteGroup]:
        return [g for g in self.remote if g.state == "unreachable"]

    @property
    def name(self) -> str:
        number = self.started.get("number")
        return (f"step {number} " if isinstance(number, int) else "step ") + \
            f"'{self.started.get('title') or self.step}'"

    @property
    def unseen(self) -> str | None:
        """A warning for a step whose processes swrun cannot look for (remote, or a kind
        that records none): it runs again, and the operator should know."""
        if self.pgid is not None or self.remote:
            return None
        hosts = self.started.get("hosts") or []
        where = self.started.get("host") or ", ".join(str(h) for h in hosts)
        place = f"on {where} " if where else ""
        return (f"{self.name} was running {place}when the run died and swrun cannot see "
                f"whether it still is{' (a remote step)' if where else ''}: make sure it "
                "is not before it runs again")

    def describe(self) -> str:
        """`step 3 'migrate' (pid 4242, process group 4242: 2 processes)`; remote:
        `step 3 'migrate' (on db1: remote process group 4242)`."""
        if self.remote:
            shown = [g for g in self.remote if g.state != "gone"] or list(self.remote)
            return f"{self.name} (" + "; ".join(
                f"on {g.host}: remote process group {g.pgid}"
                + (f", cannot tell whether it still runs: {g.why}"
                   if g.state == "unreachable" else "") for g in shown) + ")"
        n = len(self.members)
        return (f"{self.name} (pid {self.started.get('pid')}, process group {self.pgid}: "
                f"{n} process{'es' if n != 1 else ''})")

    def fate(self) -> str:
        """What became of it, for the resume offer: `step 2 'Migrate' was running when swrun
        stopped; it finished with exit 0 after swrun died`."""
        head = f"{self.name} was running when swrun stopped"
        if self.remote:
            hosts = ", ".join(g.host for g in self.remote)
            alive = [g.host for g in self.remote if g.state == "alive"]
            if alive:
                return f"{head}; it is still running on {', '.join(alive)}"
            if all(g.state == "gone" for g in self.remote):
                return (f"{head}; it has ended on {hosts} (its exit status is not known: it "
                        "runs again)")
            return f"{head} on {hosts}; resuming looks for it there"
        if self.pgid is None:
            return f"{head}; swrun cannot see whether it still is: it runs again"
        if self.members:
            return f"{head}; it is still running (pid {self.started.get('pid')})"
        if self.exit_code is not None:
            return f"{head}; it finished with exit {self.exit_code} after swrun died"
        return f"{head}; it was stopped before it ended (no exit status): it runs again"

    def refresh(self) -> Leftover:
        """Looked at again now: which of its processes live, and its exit file."""
        from swrun import procs

        if self.remote:
            return dataclasses.replace(self, remote=tuple(
                g if g.state == "gone" else _probe(g, self.inventory) for g in self.remote))
        pgid = self.pgid
        if pgid is None:
            return self
        members: list[int] = []
        boot = self.started.get("boot_id")
        if not (isinstance(boot, str) and procs.boot_id() not in (None, boot)):
            leader_start = procs.start_time(pgid)
            # the group's id is its leader's pid; while a member lives the kernel gives that
            # pid to nobody else, so a leader with another start time means ours are gone
            recorded = self.started.get("pid_start")
            if leader_start is None or recorded is None or leader_start == recorded:
                members = procs.group_members(pgid)
        code = None
        exit_file = self.started.get("exit_file")
        if isinstance(exit_file, str) and exit_file:
            with contextlib.suppress(OSError, ValueError):
                code = int(read_regular(self.log_dir / exit_file, 64).strip())
        return dataclasses.replace(self, members=tuple(members), exit_code=code)


def _remote_host(name: str, inventory: Path | None, grace: float = 5.0) -> RemoteHost:
    """The RemoteHost of inventory host `name`, as the run reached it (strict host keys)."""
    from swrun.errors import InventoryError
    from swrun.executors.ssh import _inventory
    from swrun.ssh import ConnectError
    from swrun.ssh.remote import RemoteHost
    from swrun.ssh.target import resolve

    if inventory is None:
        raise ConnectError(f"{name}: no inventory to find the host in (pass --inventory)")
    try:
        found = [h for h in _inventory(inventory).hosts(name) if h.name == name]
    except InventoryError as exc:
        raise ConnectError(str(exc)) from None
    if not found:
        raise ConnectError(f"{name}: not in {inventory}")
    return RemoteHost(resolve(found[0].name, found[0].vars, base_dir=inventory.parent), {},
                      kill_grace=grace)


def _probe(group: RemoteGroup, inventory: Path | None) -> RemoteGroup:
    from swrun.ssh import ConnectError

    try:
        alive = _remote_host(group.host, inventory).probe(group.pgid, group.start,
                                                           group.boot_id)
    except ConnectError as exc:
        why = str(exc).removeprefix(f"{group.host}: ")
        return dataclasses.replace(group, state="unreachable",
                                   why=f"{group.host} cannot be reached ({why})")
    return dataclasses.replace(group, state="alive" if alive else "gone", why="")


def find_leftovers(data: LogData, inventory: Path | None = None) -> list[Leftover]:
    """The step(s) started in the log's last part with no end logged for that attempt;
    a remote one is looked for on its hosts (found through `inventory`)."""
    events = data.events
    last = max((i for i, e in enumerate(events) if e.get("type") in
                ("run_started", "run_resumed", "run_finished")), default=-1)
    if last >= 0 and events[last].get("type") == "run_finished":
        return []
    open_: dict[str, dict[str, Any]] = {}
    groups: dict[str, list[RemoteGroup]] = {}
    for event in events[last + 1:]:
        step = event.get("step")
        if not isinstance(step, str):
            continue
        if event.get("type") == "step_started":
            open_[step] = event
            groups[step] = []
        elif event.get("type") == "step_processes" and step in open_ and \
                event.get("attempt") == open_[step].get("attempt"):
            pgid, start, boot = event.get("pgid"), event.get("start"), event.get("boot_id")
            if isinstance(pgid, int) and pgid > 1:
                groups[step].append(RemoteGroup(
                    str(event.get("host")), pgid, start if isinstance(start, int) else None,
                    boot if isinstance(boot, str) else None))
        elif event.get("type") in ("step_finished", "step_skipped", "check_ticked"):
            open_.pop(step, None)
    folder = data.path.parent
    return [Leftover(dict(e), folder, remote=tuple(groups.get(step, ())),
                     inventory=inventory).refresh() for step, e in open_.items()]


def wait_gone(left: Leftover, seconds: float | None,
               cancelled: Callable[[], bool] | None = None) -> Leftover:
    deadline = None if seconds is None else time.monotonic() + seconds
    while left.alive:
        if deadline is not None and time.monotonic() >= deadline:
            break
        if cancelled is not None and cancelled():
            break
        time.sleep(0.5 if left.remote else 0.05)  # a remote look is an SSH command
        left = left.refresh()
    return left


def stop_leftover(left: Leftover, grace: float = 5.0) -> Leftover:
    """TERM its process group, then KILL what is left after `grace` seconds (on its hosts,
    for a remote step: LeftoverError when a host cannot be reached or the group lives on)."""
    if left.remote:
        return _stop_remote(left, grace)
    pgid = left.pgid
    if pgid is None or not left.alive:
        return left
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    left = wait_gone(left.refresh(), grace)
    if left.alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        left = wait_gone(left.refresh(), 10.0)
    return left


def _stop_remote(left: Leftover, grace: float) -> Leftover:
    from swrun.errors import LeftoverError
    from swrun.ssh import ConnectError

    said: dict[str, str] = {}
    for group in left.remote:
        if group.state == "gone":
            continue
        try:
            if group.state == "unreachable":
                raise ConnectError(group.why)
            said[group.host] = _remote_host(group.host, left.inventory, grace).stop_group(
                group.pgid)
        except ConnectError as exc:
            raise LeftoverError(f"--stop-leftovers cannot stop {left.name} on {group.host}: "
                                f"{exc}; nothing ran") from None
    left = left.refresh()
    for group in left.remote:
        if group.state != "gone":
            raise LeftoverError(f"--stop-leftovers could not stop {left.name} on "
                                f"{group.host} ({said.get(group.host) or group.why}); "
                                "nothing ran")
    return dataclasses.replace(left, remote=tuple(
        dataclasses.replace(g, why=said.get(g.host, "")) for g in left.remote))
