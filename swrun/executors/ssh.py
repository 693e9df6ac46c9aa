"""Remote shell steps: a shell block with `hosts=`/`host=` run over SSH on each target host."""

from __future__ import annotations

import os
import queue
import re
import shlex
import threading
from collections.abc import Iterator
from pathlib import Path

from swrun.errors import InventoryError
from swrun.events import StepStatus
from swrun.executors.base import Idle, Output, RemoteProcess, StepContext, StepResult
from swrun.model import SH_FAMILY, Step
from swrun.ssh import ConnectError
from swrun.ssh.fanout import (
    DEFAULT_PARALLEL,
    FanoutDone,
    HostResult,
    Plan,
    about,
    compact,
    fan_out,
)
from swrun.ssh.target import Target

_PIPEFAIL = {"bash", "zsh", "ksh", "mksh"}
_inventories: dict[tuple[str, float], object] = {}
_targets: dict[tuple[int, str, float], list[Target]] = {}
_inv_lock = threading.Lock()


class TargetError(Exception):
    """The step's hosts cannot be resolved (no inventory, no match, bad settings)."""


def inventory_path(ctx: StepContext) -> Path | None:
    given = ctx.settings.get("inventory")
    if given:
        return Path(str(given)).resolve()
    if ctx.runbook.inventory:
        return (ctx.runbook.base_dir / ctx.runbook.inventory).resolve()
    return None


def _inventory(path: Path):  # type: ignore[no-untyped-def]
    from swrun.inventory import Inventory

    try:
        key = (str(path), path.stat().st_mtime)
    except OSError:
        raise InventoryError(f"{path}: no such inventory") from None
    with _inv_lock:
        if key not in _inventories:
            _inventories[key] = Inventory(path)
        return _inventories[key]


def targets_for(step: Step, ctx: StepContext) -> list[Target]:
    """The step's hosts, resolved through the inventory and ~/.ssh/config, in inventory order."""
    from swrun.ssh.target import resolve, ssh_config_path

    single = step.text("host")
    pattern = single or step.text("hosts") or ""  # the engine filled in $NAME
    attr = "host" if single else "hosts"
    path = inventory_path(ctx)
    if path is None:
        raise TargetError(f"{attr}={pattern} needs an inventory: pass --inventory FILE or set "
                          "`inventory` in the front matter")
    try:
        inv = _inventory(path)
    except InventoryError as exc:
        raise TargetError(str(exc)) from None
    # Resolving is ~0.5 ms a host (Ansible vars + ssh_config); steps repeat the same patterns,
    # so remember the result for as long as neither file changes.
    key = (id(inv), pattern, _mtime(ssh_config_path()))
    with _inv_lock:
        cached = _targets.get(key)
    if cached is None:
        try:
            hosts = inv.hosts(pattern)  # type: ignore[attr-defined]
            cached = [resolve(h.name, h.vars, base_dir=path.parent) for h in hosts]
        except (InventoryError, ConnectError) as exc:
            raise TargetError(str(exc)) from None
        with _inv_lock:
            _targets[key] = cached
    if not cached:
        raise TargetError(f"{attr}={pattern} matches no host in {path.name}")
    if single and len(cached) > 1:
        raise TargetError(f"host={pattern} matches {len(cached)} hosts in {path.name}; "
                          "use hosts= to run on several")
    return list(cached)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def remote_env(step: Step, ctx: StepContext, host: str) -> dict[str, str]:
    """Only the runbook's variables and SWRUN_* go to the host, never the local environment."""
    env = {k: str(v) for k, v in ctx.variables.items()}
    for key in ("SWRUN_RUN_ID", "SWRUN_STEP"):
        if key in ctx.env:
            env[key] = ctx.env[key]
    env["SWRUN_HOST"] = host
    target = step.text("file")
    if target:  # a `file=` step's path, as data for its script (parser._write_script)
        env["SWRUN_FILE"] = target
    return env


def fanout_plan(step: Step, ctx: StepContext) -> Plan:
    return Plan(parallel=max(1, step.integer("parallel", DEFAULT_PARALLEL)),
                serial=step.integer("serial", 0), canary=step.integer("canary", 0),
                keep_going=step.flag("keep_going") or bool(ctx.settings.get("keep_going")))


_ADDRESS = re.compile(r"\[?[0-9A-Za-z.:-]*[0-9]\]?:\d+\b")
PER_HOST_ERRORS = 3
"""Up to this many failed hosts, the step's error names each with its own reason; beyond,
hosts are grouped by outcome in compact ranges (`db[3,7] unreachable (…)`)."""


def summarize(done: FanoutDone, order: list[str]) -> StepResult:
    """One StepResult for the whole fan-out: per-host records and one line on what failed."""
    results = done.results
    hosts = {h: results[h].record() for h in order}
    bad = [h for h in order if results[h].status not in ("ok", "skipped")]
    skipped = [h for h in order if results[h].status == "skipped"]
    codes = [results[h].exit_code for h in bad if results[h].exit_code not in (None, 0)]
    if done.stopped == "aborted" or any(results[h].status == "aborted" for h in order):
        status = StepStatus.ABORTED
    elif bad:
        timed = all(results[h].status == "timed_out" for h in bad)
        status = StepStatus.TIMED_OUT if timed else StepStatus.FAILED
    elif done.stopped == "canary":
        status = StepStatus.FAILED
    else:
        return StepResult(StepStatus.OK, exit_code=0, hosts=hosts)
    if len(bad) <= PER_HOST_ERRORS:
        parts = [_why(h, results[h]) for h in bad]
    else:
        parts = outcome_groups({h: results[h] for h in bad})
    if done.stopped == "canary":
        ran = [h for h in order if h not in skipped]
        parts.append(f"the operator stopped after the canary ({compact(ran)})")
    if skipped and status is not StepStatus.ABORTED:
        parts.append(f"{compact(skipped)} not run")
    head = f"{len(bad)} of {len(order)} host(s) failed: " if bad else ""
    if status is StepStatus.ABORTED:
        head = "aborted by the operator" + (": " if parts else "")
    return StepResult(status, exit_code=codes[0] if codes else None,
                      error=head + "; ".join(parts), hosts=hosts)


def outcome_groups(results: dict[str, HostResult]) -> list[str]:
    """`web[01-40] failed (exit 3)`, `db[3,7] unreachable (db3: cannot connect …; 2 reasons)`:
    hosts grouped by status, with the reason when they share one (else the first and a
    count)."""
    by_status: dict[str, list[str]] = {}
    for host, res in results.items():
        by_status.setdefault(res.status, []).append(host)
    out = []
    for status, names in by_status.items():
        reasons = {_reason(h, results[h]) for h in names}
        first = _why(names[0], results[names[0]])
        why = next(iter(reasons)) if len(reasons) == 1 else \
            f"{first}; {len(reasons)} different reasons"
        out.append(f"{compact(names)} {status} ({why})")
    return out


def _reason(host: str, res: HostResult) -> str:
    """The error with the host's own name and address taken out, to group alike failures."""
    text = (res.error or res.status).removeprefix(f"{host}: ").replace(host, "<host>")
    return _ADDRESS.sub("<address>", text)


def _why(host: str, res: HostResult) -> str:
    return about(host, res.error or res.status)


def remote_shell(step: Step) -> tuple[str, ...]:
    interp = shlex.split(step.text("shell") or "bash") or ["bash"]
    name = os.path.basename(interp[0])
    if name not in SH_FAMILY:
        raise TargetError(f"shell={interp[0]} is not supported on remote hosts "
                          "(use bash, sh, zsh, dash, ksh)")
    return (*interp, *(["-e", "-o", "pipefail"] if name in _PIPEFAIL else ["-e"]))


class SshExecutor:
    """Runs a shell block on every target host; connections are pooled for the whole run."""

    def run(self, step: Step, ctx: StepContext
            ) -> Iterator[Output | Idle | RemoteProcess | StepResult]:
        try:
            targets = targets_for(step, ctx)
            shell = remote_shell(step)
        except TargetError as exc:
            yield StepResult(StepStatus.FAILED, error=str(exc))
            return
        from swrun.ssh.remote import RemoteHost

        script = step.body
        cwd = step.text("cwd")
        if cwd:
            script = f"cd -- {shlex.quote(cwd)}; {script}"
        by_name = {t.name: t for t in targets}
        accept = bool(ctx.settings.get("accept_new_host_keys"))
        # each host's process group, as its command names it: passed on with the next item
        # (the fan-out yields one at least every tick), for the engine to log at once
        named: queue.SimpleQueue[RemoteProcess] = queue.SimpleQueue()

        def work(host: str, emit, stop: threading.Event) -> HostResult:  # type: ignore[no-untyped-def]
            remote = RemoteHost(by_name[host], remote_env(step, ctx, host), accept_new=accept,
                                kill_grace=ctx.kill_grace,
                                notify=lambda note: emit(f"swrun: {note}", "stderr"))
            return remote.run(
                script, emit, stop, ctx.timeout, name=f"swrun:{step.id}", shell=shell,
                on_process=lambda pgid, start, boot: named.put(
                    RemoteProcess(host, pgid, start, boot)))

        order = list(by_name)
        for item in fan_out(order, work, fanout_plan(step, ctx), cancel=ctx.cancel,
                            confirm=ctx.confirm, status_lines=len(order) > 1):
            while not named.empty():
                yield named.get_nowait()
            if isinstance(item, FanoutDone):
                yield summarize(item, order)
            else:
                yield item
