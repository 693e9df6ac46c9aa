"""One ansible-playbook run through ansible-runner's `run_async`, streamed as lines, stoppable.

Everything lives in a private directory (the run's own, 0700, else a temp dir): artifacts,
the extra-vars file (0600, removed as soon as the playbook has started: ansible-playbook has
read it by then), Ansible's local temp and the ssh control sockets.
ansible-playbook gets /dev/null as stdin, so a prompt can never wait for a person.

No secret stays on disk: ansible-runner writes no `env/` files and no stdout copy (swrun
logs the output, masked), and the environment it saves in `artifacts/<ident>/command` (all of
swrun's, secrets included) is removed from that file before ansible-playbook starts.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shlex
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swrun.ansible import procs
from swrun.ansible.events import Line, Tracker
from swrun.rundir import scrub_command as scrub_command  # its old place

REMOTE_TMP = "/tmp/.swrun-ansible-$USER"
"""Ansible's remote temp base unless the inventory sets ansible_remote_tmp (never ~/.ansible)."""
CONTROL_PERSIST = "60s"
_SUN_PATH_MAX = 107  # sockaddr_un holds 108 bytes with the NUL
_POLL = 0.25


class AnsibleNotFound(Exception):
    """ansible-playbook is neither next to this Python nor on PATH."""


def find_ansible_playbook() -> Path:
    """`ansible-playbook` next to the interpreter swrun runs under (its venv), else on PATH."""
    here = Path(sys.executable).parent / "ansible-playbook"
    if here.is_file() and os.access(here, os.X_OK):
        return here
    found = shutil.which("ansible-playbook")
    if found:
        return Path(found)
    raise AnsibleNotFound(f"ansible-playbook is not installed next to {sys.executable} nor on "
                          "PATH; install ansible-core into swrun's environment")


class Unsafe(str):
    """A value Ansible must never template (runbook variables, secrets): dumped as !unsafe."""


def dump_vars(data: Mapping[str, Any]) -> str:
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(
        Unsafe, lambda d, v: d.represent_scalar("!unsafe", str(v), style='"'))
    return yaml.dump(dict(data), Dumper=Dumper, allow_unicode=True, sort_keys=False,
                     width=1 << 30)


@dataclass
class Job:
    """What to run; paths are absolute."""

    playbook: Path
    project_dir: Path
    """ansible-playbook's working directory (the runbook's), so its ansible.cfg applies."""
    label: str
    inventory: Path | None = None
    limit: str | None = None
    tags: str | None = None
    forks: int | None = None
    check: bool = False
    extravars: dict[str, Any] = field(default_factory=dict)
    known_hosts: tuple[str, ...] = ()
    accept_new_host_keys: bool = False
    timeout: float | None = None
    adhoc: bool = False


@dataclass
class Outcome:
    status: str
    """ansible-runner's: successful, failed, canceled, timeout."""
    rc: int | None
    tracker: Tracker
    stopped: str | None = None
    """Why swrun stopped it: aborted, timed_out, prompted."""
    artifacts: str = ""


def private_dir(run_dir: Path | None) -> tuple[Path, bool]:
    """(directory, is_temporary): `<run_dir>/ansible`, else a fresh temp dir."""
    if run_dir is not None:
        from swrun.rundir import private

        return private(Path(run_dir), "ansible"), False
    return Path(tempfile.mkdtemp(prefix="swrun-ansible-")), True


class Run:
    """One invocation; iterate `lines()`, then read `outcome`."""

    def __init__(self, job: Job, work: Path, cancel: threading.Event) -> None:
        self.job = job
        self.work = work
        self.cancel = cancel
        self.ident = f"{_slug(job.label)}-{uuid.uuid4().hex[:8]}"
        self.outcome: Outcome | None = None
        self._queue: queue.SimpleQueue[Line | None] = queue.SimpleQueue()
        self._tracker = Tracker(adhoc=job.adhoc)
        self._stopped: str | None = None
        self._killed: list[int] = []
        self._abandoned = False
        self._deadline = time.monotonic() + job.timeout if job.timeout else None
        self._guard = work / f"{self.ident}.guard"
        """Written by the swrun_guard callback when the playbook reaches a prompt."""
        self._vars_file: Path | None = None
        """The extra vars, until ansible-playbook has read them (see _on_event)."""

    # -- files and environment ----------------------------------------------------------------
    def _control_dir(self) -> tuple[Path, bool]:
        d = self.work / "cp"
        if len(str(d)) + 1 + 40 + 17 <= _SUN_PATH_MAX:  # /%C, and ssh's .XXXX temp suffix
            d.mkdir(mode=0o700, exist_ok=True)
            return d, False
        return Path(tempfile.mkdtemp(prefix="swrun-cp-")), True

    def _env(self, binary: Path, control: Path) -> dict[str, str]:
        checking = "accept-new" if self.job.accept_new_host_keys else "yes"
        ssh_args = ["-o", "ControlMaster=auto", "-o", f"ControlPersist={CONTROL_PERSIST}",
                    "-o", f"ControlPath={control}/%C", "-o", f"StrictHostKeyChecking={checking}"]
        if self.job.known_hosts:
            ssh_args += ["-o", "UserKnownHostsFile=" + " ".join(self.job.known_hosts)]
        callbacks = [str(Path(__file__).with_name("callbacks")),
                     os.environ.get("ANSIBLE_CALLBACK_PLUGINS", "")]
        env = {
            "PATH": f"{binary.parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "ANSIBLE_CALLBACK_PLUGINS": os.pathsep.join(c for c in callbacks if c),
            "SWRUN_GUARD_FILE": str(self._guard),
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_SSH_ARGS": " ".join(shlex.quote(a) for a in ssh_args),
            "ANSIBLE_PIPELINING": "False",  # modules run on a tty: they die with the session
            "ANSIBLE_LOCAL_TEMP": str(self.work / "tmp"),
            "ANSIBLE_REMOTE_TMP": REMOTE_TMP,
            "ANSIBLE_NOCOLOR": "True",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
        }
        if "ANSIBLE_PYTHON_INTERPRETER" not in os.environ:
            env["ANSIBLE_PYTHON_INTERPRETER"] = "auto_silent"
        return env

    def _cmdline(self, vars_file: Path | None) -> str:
        j = self.job
        args: list[str] = []
        if j.inventory is not None:
            args += ["-i", str(j.inventory)]
        if j.limit:
            args += ["--limit", j.limit]
        if j.tags:
            args += ["--tags", j.tags]
        if j.forks:
            args += ["--forks", str(j.forks)]
        if j.check:
            args += ["--check", "--diff"]
        if vars_file is not None:
            args += ["-e", f"@{vars_file}"]
        args.append(str(j.playbook))
        return " ".join(shlex.quote(a) for a in args)

    # -- the run ---------------------------------------------------------------------------------
    def lines(self) -> Iterator[Line]:
        import ansible_runner.interface

        binary = find_ansible_playbook()
        (self.work / "tmp").mkdir(mode=0o700, exist_ok=True)
        vars_file: Path | None = None
        if self.job.extravars:  # none: no file (ansible reads an empty one again, later)
            vars_file = self._vars_file = self.work / f"{self.ident}.vars.yml"
            fd = os.open(vars_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(dump_vars(self.job.extravars))
        wrapper = self.work / f"{self.ident}.sh"
        fd = os.open(wrapper, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"#!/bin/sh\nexec {shlex.quote(str(binary))} \"$@\" </dev/null\n")
        control, temporary_control = self._control_dir()
        thread: threading.Thread | None = None
        runner: Any = None
        try:
            runner = ansible_runner.interface.init_runner(
                private_data_dir=str(self.work), project_dir=str(self.job.project_dir),
                ident=self.ident, binary=str(wrapper), cmdline=self._cmdline(vars_file),
                envvars=self._env(binary, control), quiet=True, suppress_env_files=True,
                event_handler=self._on_event, cancel_callback=self._should_cancel,
                status_handler=self._on_status,
                finished_callback=lambda _r: self._queue.put(None),
            )
            # ansible-runner 2.4 drops the `settings=` it is given when the private dir has no
            # env/settings file (swrun writes none), so set what they would have set here:
            # no unmasked copy of the output in artifacts/, the cancel callback polled often.
            runner.config.suppress_output_file = True
            runner.config.pexpect_timeout = _POLL
            thread = threading.Thread(target=runner.run,
                                      name=f"swrun-ansible-{self.ident}")
            thread.start()
            while True:
                try:
                    item = self._queue.get(timeout=_POLL)
                except queue.Empty:
                    if not thread.is_alive():
                        break
                    continue
                if item is None:
                    break
                yield item
            thread.join()
            while True:  # events that raced the finish
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    yield item
        finally:
            if thread is not None and thread.is_alive():  # the consumer went away: stop it
                self._abandoned = True
                thread.join()
            procs.reap(self._killed)
            procs.close_masters(control)
            if temporary_control:
                shutil.rmtree(control, ignore_errors=True)
            for path in (vars_file, wrapper, self._guard):
                if path is not None:
                    path.unlink(missing_ok=True)
            self._scrub_artifacts(final=True)
            self.outcome = Outcome(
                status=getattr(runner, "status", "failed"), rc=getattr(runner, "rc", None),
                tracker=self._tracker, stopped=self._stopped,
                artifacts=str(self.work / "artifacts" / self.ident))

    def _on_status(self, data: dict[str, Any], **_: Any) -> None:
        # "running" comes after ansible-runner wrote `command` and before it starts the process
        if data.get("status") == "running":
            self._scrub_artifacts()

    def _scrub_artifacts(self, final: bool = False) -> None:
        """Drop the environment from `command`; at the end also the fact cache and the
        (empty) job_events directory: the run log has what they would."""
        artifacts = self.work / "artifacts" / self.ident
        scrub_command(artifacts / "command")
        if final:
            shutil.rmtree(artifacts / "fact_cache", ignore_errors=True)
            shutil.rmtree(artifacts / "job_events", ignore_errors=True)

    def _on_event(self, event: dict[str, Any]) -> bool:
        if self._vars_file is not None and event.get("event") == "playbook_on_start":
            # ansible-playbook reads its extra vars once (load_extra_vars caches them),
            # before the playbook starts: from here on the file is not needed on disk
            self._vars_file.unlink(missing_ok=True)
            self._vars_file = None
        for line in self._tracker.feed(event):
            self._queue.put(line)
        return False  # swrun logs the events itself; no per-event JSON files

    def _should_cancel(self) -> bool:
        if self._stopped is None:
            if self.cancel.is_set() or self._abandoned:
                self._stopped = "aborted"
            elif self._deadline is not None and time.monotonic() > self._deadline:
                self._stopped = "timed_out"
            elif self._tracker.prompted or self._guard.exists():
                self._stopped = "prompted"
                if not self._tracker.prompted:
                    self._tracker.prompted = self._guard.read_text(encoding="utf-8") or \
                        "the playbook tried to prompt"
            else:
                return False
            main = procs.find_child(self.ident)
            if main is not None:
                self._killed = procs.kill_workers(main)
        return True


def _slug(text: str) -> str:
    out = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
    return (out or "step")[:40]


def remove_private(work: Path) -> None:
    with contextlib.suppress(OSError):
        shutil.rmtree(work)
