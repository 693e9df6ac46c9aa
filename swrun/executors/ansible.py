"""Ansible steps: ```` ```ansible {playbook=...} ```` and shell blocks with `via=ansible hosts=...`.

Both run ansible-playbook through ansible-runner (swrun.ansible.job) against the inventory
SSH steps use, with host key checking on and the same known_hosts files. Runbook variables
reach Ansible as extra vars from a 0600 file (tagged !unsafe, so never templated), never on a
command line. Dry runs run playbooks with `--check --diff`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from swrun.attributes import substitute
from swrun.events import StepStatus
from swrun.executors.base import Output, StepContext, StepResult
from swrun.model import Step

CHECK_LABEL = "CHECK MODE (ansible-playbook --check --diff): nothing is changed on the hosts"
_kh_cache: dict[tuple[str, float], tuple[str, ...]] = {}
_kh_lock = threading.Lock()

ANSIBLE_FORKS = 20
"""Forks of a `via=ansible` fan-out when none is given: each fork is a Python process, so
this stays below SSH steps' 50 worker threads (docs/steps/remote.md, bench/fleet.py)."""


class StepError(Exception):
    """The step cannot run as written (one line for the operator)."""


def known_hosts_files(inventory: Path | None) -> tuple[str, ...]:
    """The user's known_hosts plus every file the inventory's hosts name (swrun_known_hosts,
    ansible_ssh_known_hosts_file, ssh_config UserKnownHostsFile), as the SSH steps use."""
    from swrun.ssh.hostkeys import user_known_hosts

    files = [str(user_known_hosts())]
    if inventory is None:
        return tuple(files)
    try:
        key = (str(inventory), inventory.stat().st_mtime)
    except OSError:
        return tuple(files)
    with _kh_lock:
        cached = _kh_cache.get(key)
    if cached is None:
        from swrun.inventory import Inventory
        from swrun.ssh import ConnectError
        from swrun.ssh.target import resolve

        extra: list[str] = []
        for host in Inventory(inventory).hosts("all"):
            try:
                extra.extend(resolve(host.name, host.vars, base_dir=inventory.parent).known_hosts)
            except ConnectError:
                continue
        cached = tuple(dict.fromkeys(extra))
        with _kh_lock:
            _kh_cache[key] = cached
    return tuple(dict.fromkeys([*files, *cached]))


def _inventory(ctx: StepContext) -> Path | None:
    from swrun.executors.ssh import inventory_path

    path = inventory_path(ctx)
    if path is not None and not path.exists():
        raise StepError(f"{path}: no such inventory")
    return path


def runbook_vars(step: Step, ctx: StepContext) -> dict[str, Any]:
    from swrun.ansible.job import Unsafe

    out: dict[str, Any] = {k: Unsafe(v) for k, v in ctx.variables.items()}
    for key in ("SWRUN_RUN_ID", "SWRUN_STEP"):
        if key in ctx.env:
            out[key.lower()] = Unsafe(ctx.env[key])
    return out


def body_vars(step: Step, ctx: StepContext) -> dict[str, Any]:
    """The block's YAML mapping of extra vars; `$VAR` in values → the variable (as !unsafe)."""
    if not step.body.strip():
        return {}
    import yaml

    try:
        data = yaml.safe_load(step.body)
    except yaml.YAMLError as exc:
        raise StepError(f"the block is not YAML extra vars: {' '.join(str(exc).split())}") \
            from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise StepError("the block must be a YAML mapping of extra vars (name: value)")
    return {str(k): _sub_value(v, ctx.variables) for k, v in data.items()}


def _sub_value(value: Any, variables: Mapping[str, str]) -> Any:
    from swrun.ansible.job import Unsafe
    from swrun.attributes import VAR_REF

    if isinstance(value, str):
        return Unsafe(substitute(value, variables)) if VAR_REF.search(value) else value
    if isinstance(value, list):
        return [_sub_value(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _sub_value(v, variables) for k, v in value.items()}
    return value


class AnsibleExecutor:
    """```` ```ansible {playbook=playbooks/deploy.yml limit=green tags=deploy forks=10} ````"""

    supports_check_mode = True
    """The engine calls this executor during dry runs, with ctx.settings["check_mode"]."""

    def run(self, step: Step, ctx: StepContext) -> Iterator[Output | StepResult]:
        check = bool(ctx.settings.get("check_mode"))
        try:
            job, shown = self.job(step, ctx, check)
        except StepError as exc:
            yield StepResult(StepStatus.FAILED, error=str(exc))
            return
        if check:
            yield Output(CHECK_LABEL)
        yield from execute(job, ctx, {"playbook": shown, "check_mode": check})

    def job(self, step: Step, ctx: StepContext, check: bool) -> tuple[Any, str]:
        from swrun.ansible.job import Job
        from swrun.ansible.prompts import find_prompts

        given = step.text("playbook")
        if not given:
            raise StepError("ansible step needs playbook=PATH")
        base = ctx.runbook.base_dir
        playbook = (base / given).resolve()
        if not playbook.is_file():
            raise StepError(f"playbook {given} does not exist (looked in {base})")
        extravars = {**runbook_vars(step, ctx), **body_vars(step, ctx)}
        prompts = find_prompts(playbook, answered=extravars)
        if prompts:
            raise StepError("refusing to run a playbook that waits for input: "
                            + "; ".join(p.describe(base) for p in prompts))
        inventory = _inventory(ctx)
        forks = step.integer("forks", 0) or None
        job = Job(playbook=playbook, project_dir=base, label=step.id, inventory=inventory,
                  limit=step.text("limit"), tags=step.text("tags"), forks=forks,
                  check=check, extravars=extravars, known_hosts=known_hosts_files(inventory),
                  accept_new_host_keys=bool(ctx.settings.get("accept_new_host_keys")),
                  timeout=ctx.timeout)
        return job, given


class AnsibleAdhocExecutor:
    """A shell block with `via=ansible hosts=PATTERN` run by Ansible's shell module.

    `forks=` (or `parallel=`) sets Ansible's forks, `serial=` its batch size. The block runs
    under `bash -e -o pipefail` (or `shell=`) with the runbook variables and SWRUN_HOST in
    its environment; the text itself is never templated.
    """

    def run(self, step: Step, ctx: StepContext) -> Iterator[Output | StepResult]:
        try:
            job = self.job(step, ctx)
        except StepError as exc:
            yield StepResult(StepStatus.FAILED, error=str(exc))
            return
        yield from execute(job, ctx, {"via": "ansible"}, adhoc=True)

    def job(self, step: Step, ctx: StepContext) -> Any:
        import json

        from swrun.ansible.job import Job, Unsafe, private_dir
        from swrun.executors.ssh import TargetError, remote_shell

        inventory = _inventory(ctx)
        pattern = step.text("host") or step.text("hosts") or ""
        if inventory is None:
            raise StepError(f"hosts={pattern} needs an inventory: pass --inventory FILE or set "
                            "`inventory` in the front matter")
        try:
            shell = remote_shell(step)
        except TargetError as exc:
            raise StepError(str(exc)) from None
        from swrun.ssh.remote import remote_stdin

        name = os.path.basename(shell[0])
        executable = shell[0] if shell[0].startswith("/") else f"/bin/{name}"
        flags = " ".join(shell[1:])
        # The variables come on the command's stdin, as for SSH steps: Ansible's `environment:`
        # puts them on the command line of the remote /bin/sh (and of the local ssh client)
        # for as long as the task runs, where any user of either machine can read them.
        script = f"set {flags}; eval \"$(cat)\"\n{step.body}" if flags else \
            f"eval \"$(cat)\"\n{step.body}"
        cwd = step.text("cwd")
        play: dict[str, Any] = {
            "name": _plain(f"swrun: {step.title}"), "hosts": pattern, "gather_facts": False,
            "tasks": [{
                "name": _plain(step.title),
                "ansible.builtin.shell": {"cmd": "{{ swrun_script }}", "executable": executable,
                                          "stdin": "{{ swrun_stdin }}",
                                          **({"chdir": "{{ swrun_cwd }}"} if cwd else {})},
                "environment": {"SWRUN_HOST": "{{ inventory_hostname }}"},
            }],
        }
        serial = step.integer("serial", 0)
        if serial:
            play["serial"] = serial
        work, _ = private_dir(ctx.run_dir)
        playbook = work / f"adhoc-{_safe(step.id)}.json"
        playbook.write_text(json.dumps([play], indent=1))
        env = dict(ctx.variables)
        for key in ("SWRUN_RUN_ID", "SWRUN_STEP"):
            if key in ctx.env:
                env[key] = ctx.env[key]
        if step.text("file"):  # a `file=` step's path, as data (parser._write_script)
            env["SWRUN_FILE"] = step.text("file") or ""
        extravars: dict[str, Any] = {"swrun_script": Unsafe(script),
                                     "swrun_stdin": Unsafe(remote_stdin(env).decode())}
        if cwd:
            extravars["swrun_cwd"] = Unsafe(cwd)
        forks = step.integer("forks", 0) or step.integer("parallel", 0) or ANSIBLE_FORKS
        return Job(playbook=playbook, project_dir=ctx.runbook.base_dir, label=step.id,
                   inventory=inventory, forks=forks, extravars=extravars, adhoc=True,
                   known_hosts=known_hosts_files(inventory),
                   accept_new_host_keys=bool(ctx.settings.get("accept_new_host_keys")),
                   timeout=ctx.timeout)


def _plain(text: str) -> str:
    """Task names are templated by Ansible; a title is only text."""
    return text.replace("{{", "{ {").replace("{%", "{ %").replace("{#", "{ #")


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)[:60]


def execute(job: Any, ctx: StepContext, data: dict[str, Any], *,
            adhoc: bool = False) -> Iterator[Output | StepResult]:
    """Run `job`, streaming Output lines, then one StepResult with the recap per host."""
    from swrun.ansible.job import AnsibleNotFound, Run, private_dir

    work, temporary = private_dir(ctx.run_dir)
    run = Run(job, work, ctx.cancel)
    try:
        try:
            for line in run.lines():
                yield Output(line.text, line.stream, line.host)
        except AnsibleNotFound as exc:
            yield StepResult(StepStatus.FAILED, exit_code=127, error=str(exc))
            return
        outcome = run.outcome
        assert outcome is not None
        yield result(outcome, job.check, data, adhoc=adhoc)
    finally:
        if temporary:
            from swrun.ansible.job import remove_private

            remove_private(work)


def result(outcome: Any, check: bool, data: dict[str, Any], *, adhoc: bool = False
           ) -> StepResult:
    t = outcome.tracker
    hosts: dict[str, dict[str, Any]] = {}
    for host, counts in t.recap.items():
        status = ("unreachable" if counts["unreachable"] else
                  "failed" if counts["failed"] else "ok")
        hosts[host] = {"status": status, **counts}
        if adhoc and host in t.rcs:
            hosts[host]["exit_code"] = t.rcs[host]
    for host, why in t.why.items():  # a host that never reached the recap (stopped run)
        hosts.setdefault(host, {"status": "unreachable" if why.startswith("unreachable")
                                else "failed"})
    bad = [h for h, r in hosts.items() if r["status"] != "ok"]
    data = {**data, "changed": sum(int(r.get("changed", 0)) for r in hosts.values()),
            "rc": outcome.rc, "artifacts": outcome.artifacts}
    if t.noise.kept:
        data["debug"] = list(t.noise.kept)
    why = "; ".join(f"{h}: {t.why.get(h, hosts[h]['status'])}" for h in bad)
    code = outcome.rc
    if outcome.stopped == "aborted":
        return StepResult(StepStatus.ABORTED, exit_code=code, error="aborted by the operator",
                          hosts=hosts, data=data)
    if outcome.stopped == "timed_out":
        return StepResult(StepStatus.TIMED_OUT, exit_code=code, error="timed out; ansible "
                          "stopped", hosts=hosts, data=data)
    if outcome.stopped == "prompted" or t.prompted:
        return StepResult(StepStatus.FAILED, exit_code=code, error=t.prompted, hosts=hosts,
                          data=data)
    if bad:
        return StepResult(StepStatus.FAILED, exit_code=code, hosts=hosts, data=data,
                          error=f"{len(bad)} of {len(hosts)} host(s) failed: {why}")
    if outcome.rc != 0 or outcome.status != "successful":
        detail = t.errors[0] if t.errors else "see the output above"
        return StepResult(StepStatus.FAILED, exit_code=code, hosts=hosts, data=data,
                          error=f"ansible-playbook exited {outcome.rc}: {detail}")
    status = StepStatus.DRY_RUN if check else StepStatus.OK
    return StepResult(status, exit_code=0, hosts=hosts, data=data)
