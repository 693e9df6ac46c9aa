"""`swrun doctor [RUNBOOK]`: is this machine ready to run (this) runbook? One line per check.

Each check is ✓ (fine), ✗ (a problem, with the fix) or ? (cannot be told here; never a
failure). Without a runbook every check applies; with one, only what its steps need.
Nothing connects to a host unless `connect` is asked for.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from swrun.model import Runbook, Step, StepKind

OK, BAD, UNKNOWN, INFO = "✓", "✗", "?", "·"
"""INFO: worth knowing, never a failure (shell completion not installed)."""
MIN_FREE_BYTES = 100 * 1024 * 1024
"""Less free space than this where the logs go is a ✗: a run log and its step output
sidecars need room, and a full disk stops a run (docs/run-log.md)."""
MIN_COLUMNS, MIN_LINES = 80, 24
"""The console's smallest size (docs/tui.md)."""
_KEY_FILES = ("id_ed25519", "id_ecdsa", "id_rsa", "id_ed25519_sk", "id_ecdsa_sk")
_MODULES = {
    "ssh": (("paramiko", "paramiko"),),
    "ansible": (("ansible_runner", "ansible-runner"), ("ansible", "ansible-core")),
    "inventory": (("ansible", "ansible-core"),),
    "mongo": (("pymongo", "pymongo"),),
    "aws": (("boto3", "boto3"),),
}
"""What each need imports: (module, the package that provides it)."""


@dataclass(frozen=True)
class Finding:
    mark: str
    """OK, BAD or UNKNOWN."""
    what: str
    detail: str
    fix: str = ""

    def __str__(self) -> str:
        line = f"{self.mark} {self.what}: {self.detail}"
        return f"{line} — fix: {self.fix}" if self.mark == BAD and self.fix else line


@dataclass(frozen=True)
class Needs:
    """What a runbook's steps need from this machine (everything, without a runbook)."""

    ssh: bool = True
    """Steps on inventory hosts over SSH (shell with hosts=, pm2 with hosts=)."""
    ansible: bool = True
    local_pm2: bool = True
    mongo: bool = True
    aws: bool = True
    inventory: bool = True
    """Any step targets hosts: the inventory is read with ansible-core."""


def needs_of(runbook: Runbook | None) -> Needs:
    if runbook is None:
        return Needs()
    steps = [s for s in runbook.steps if s.actionable]
    secrets_manager = any((v.source or "").startswith("aws-secretsmanager:")
                          for v in runbook.variables.values())

    def via_ansible(s: Step) -> bool:
        return s.kind is StepKind.SHELL and bool(s.targets) and s.text("via", "ssh") == "ansible"

    return Needs(
        ssh=any(s.targets and s.kind in (StepKind.SHELL, StepKind.PM2) and not via_ansible(s)
                for s in steps),
        ansible=any(s.kind is StepKind.ANSIBLE or via_ansible(s) for s in steps),
        local_pm2=any(s.kind is StepKind.PM2 and not s.targets for s in steps),
        mongo=any(s.kind is StepKind.MONGO for s in steps),
        aws=any(s.kind is StepKind.AWS for s in steps) or secrets_manager,
        inventory=any(s.targets for s in steps),
    )


def diagnose(runbook: Runbook | None, *, inventory: str | None = None, connect: bool = False,
             logs: Path = Path("logs"), environ: Mapping[str, str] | None = None,
             ) -> Iterator[Finding]:
    """Every check, in order: SSH, known hosts, tools and modules, logs, clock, terminal."""
    env = os.environ if environ is None else environ
    needs = needs_of(runbook)
    hosts: list[Finding] = []
    keys: list[bool] = []
    """Per targeted host: does the inventory name a key file for it (that exists)?"""
    if runbook is not None and needs.inventory:
        hosts = list(host_keys(runbook, inventory, connect, env, keys))
    if needs.ssh or needs.ansible:
        yield ssh_credentials(env, bool(keys) and all(keys))
    yield from hosts
    yield from tools(needs)
    yield from kubernetes(runbook, env)
    yield log_dir(logs)
    yield clock()
    yield terminal(env)
    yield completion(env)


# -- SSH -------------------------------------------------------------------------------------


def ssh_credentials(env: Mapping[str, str], inventory_keys: bool = False) -> Finding:
    """An agent, a key in ~/.ssh, or (`inventory_keys`) a key file the inventory names for
    every targeted host."""
    if inventory_keys:
        return Finding(OK, "SSH", "the inventory names a key file for every targeted host")
    sock = env.get("SSH_AUTH_SOCK")
    if sock and Path(sock).exists():
        return Finding(OK, "SSH", f"agent at {sock}")
    home = Path(os.path.expanduser("~/.ssh"))
    keys = [home / name for name in _KEY_FILES if (home / name).is_file()]
    if keys:
        return Finding(OK, "SSH", "key " + ", ".join(str(k) for k in keys))
    why = f"SSH_AUTH_SOCK={sock} is gone" if sock else "no agent (SSH_AUTH_SOCK unset)"
    return Finding(BAD, "SSH", f"{why} and no key in {home}",
                   "ssh-keygen -t ed25519 (and install the public key on the hosts), or "
                   "start ssh-agent and ssh-add your key; inventories may also name one with "
                   "ansible_ssh_private_key_file")


def _planned(runbook: Runbook, env: Mapping[str, str]) -> dict[str, str]:
    """The values a run would have without --var (env, default), for host patterns."""
    from swrun.variables import env_source

    out = {}
    for name, var in runbook.variables.items():
        found = env_source(var, env)
        if found is not None:
            out[name] = found[0]
        elif var.default is not None:
            out[name] = var.default
    return out


def host_keys(runbook: Runbook, given: str | None, connect: bool,
              env: Mapping[str, str], keys: list[bool] | None = None) -> Iterator[Finding]:
    """Every targeted host's key in known_hosts, read from the files alone (no connection);
    with `connect`, each host is also reached (key, auth and `true`, as check --connect)."""
    from swrun.attributes import substitute
    from swrun.errors import InventoryError

    path = given or (str(runbook.base_dir / runbook.inventory) if runbook.inventory else None)
    if path is None:
        yield Finding(BAD, "inventory", "the runbook's steps target hosts but no inventory is "
                      "named", "pass --inventory FILE or set `inventory` in the front matter")
        return
    try:
        from swrun.inventory import Inventory

        inv = Inventory(path)
    except InventoryError as exc:
        yield Finding(BAD, "inventory", str(exc), "point --inventory or the front matter's "
                      "`inventory` at a readable Ansible inventory")
        return
    except ImportError as exc:
        yield Finding(BAD, "inventory", f"cannot load ansible-core: {exc}",
                      "scripts/setup.sh (or pip install ansible-core)")
        return
    values = _planned(runbook, env)
    hosts: dict[str, object] = {}
    for step in runbook.steps:
        if not (step.actionable and step.targets):
            continue
        pattern = substitute(step.targets, values)  # as the engine fills hosts=
        if "$" in pattern:
            yield Finding(UNKNOWN, "known_hosts", f"{step.targets} (step {step.number}) needs "
                          "a variable that has no value yet; its hosts are not checked")
            continue
        try:
            for host in inv.hosts(pattern):
                hosts.setdefault(host.name, host)
        except InventoryError as exc:
            yield Finding(BAD, "inventory", str(exc), "fix the step's hosts= pattern")
    if not hosts:
        return
    yield from _known(list(hosts.values()), Path(path).resolve().parent,
                      [] if keys is None else keys)
    if connect:
        from swrun.ssh.probe import probe_hosts

        problems = probe_hosts(list(hosts.values()), Path(path).resolve().parent)
        for name in hosts:
            if name in problems:
                yield Finding(BAD, f"connect {name}", problems[name],
                              "see the message; `swrun check --connect` reports the same")
            else:
                yield Finding(OK, f"connect {name}", "host key known, login works")


def _known(hosts: list[object], base: Path, keys: list[bool]) -> Iterator[Finding]:
    from swrun.ssh import ConnectError
    from swrun.ssh.hostkeys import KnownHosts
    from swrun.ssh.target import Target, resolve

    for host in hosts:
        name = host.name  # type: ignore[attr-defined]
        try:
            target: Target | None = resolve(name, host.vars, base_dir=base)  # type: ignore[attr-defined]
        except ConnectError as exc:
            yield Finding(BAD, f"known_hosts {name}", str(exc), "fix the host's inventory vars")
            continue
        hops = []
        while target is not None:
            hops.append(target)
            target = target.jump
        for hop in reversed(hops):  # the jump host first: it is reached first
            label = name if hop.name == name else f"{name} via {hop.hostname}"
            if KnownHosts(hop.known_hosts).recorded(hop.key_name):
                yield Finding(OK, f"known_hosts {label}", f"{hop.key_name} is known")
                continue
            scan = (f"ssh-keyscan -p {hop.port} {hop.hostname}" if hop.port != 22
                    else f"ssh-keyscan {hop.hostname}")
            yield Finding(BAD, f"known_hosts {label}", f"no key for {hop.key_name}",
                          f"verify the fingerprint, then {scan} >> ~/.ssh/known_hosts (or run "
                          "once with --accept-new-host-keys)")
        files = hops[0].key_files if hops else ()  # the host itself, not a jump
        keys.append(bool(files) and all(Path(k).is_file() for k in files))
        for key in files:
            if not Path(key).is_file():
                yield Finding(BAD, f"SSH key {name}", f"{key} does not exist",
                              "fix ansible_ssh_private_key_file or IdentityFile")


# -- tools and modules -----------------------------------------------------------------------


def tools(needs: Needs) -> Iterator[Finding]:
    if needs.local_pm2:
        found = shutil.which("pm2")
        yield (Finding(OK, "pm2", found) if found else
               Finding(BAD, "pm2", "not on PATH (pm2 steps without hosts= run it here)",
                       "npm install -g pm2"))
    if needs.ansible:
        from swrun.ansible.job import AnsibleNotFound, find_ansible_playbook

        try:
            yield Finding(OK, "ansible-playbook", str(find_ansible_playbook()))
        except AnsibleNotFound as exc:
            yield Finding(BAD, "ansible-playbook", str(exc),
                          f"{sys.executable} -m pip install ansible-core")
    wanted: dict[str, str] = {}
    for need in ("ssh", "ansible", "inventory", "mongo", "aws"):
        if getattr(needs, need):
            wanted.update(_MODULES[need])
    for module, package in wanted.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        yield (Finding(OK, f"python {module}", "installed") if found else
               Finding(BAD, f"python {module}", f"cannot be imported by {sys.executable}",
                       f"{sys.executable} -m pip install {package}"))


def kubernetes(runbook: Runbook | None, env: Mapping[str, str]) -> Iterator[Finding]:
    """kubectl and the context it points at: without a runbook when kubectl (or oc) is
    installed (never a ✗); with one, when its steps run kubectl/oc or pin a context, the
    run's own pre-flight (swrun.kube), a refusal as a ✗."""
    from swrun import kube

    if runbook is not None and not kube.wanted(runbook):
        return
    tool = shutil.which("kubectl", path=env.get("PATH")) or shutil.which(
        "oc", path=env.get("PATH"))
    if tool is None:
        if runbook is not None:
            yield Finding(BAD, "kubectl", "not on PATH (the runbook's steps run kubectl/oc "
                          "or pin a kube_context)", "install kubectl (Debian: apt-get "
                          "install kubernetes-client)")
        return
    yield Finding(OK, os.path.basename(tool), tool)
    where = kube.kubeconfig_name(env)
    if runbook is None:
        current, names, error = kube.read_kubeconfig(tool, env)
        if names is None:
            yield Finding(UNKNOWN, "kube context", f"{where} cannot be read: {error}")
        elif current:
            yield Finding(OK, "kube context", f"{current} (current; {len(names)} "
                          f"context{'s' if len(names) != 1 else ''} in {where})")
        else:
            yield Finding(INFO, "kube context", f"none is current in {where}")
        return
    cluster = kube.preflight(runbook, env)
    if cluster is None:
        return
    if cluster.problem:
        what, _, fix = cluster.problem.partition(". If ")
        yield Finding(BAD, "kube context", what.removesuffix("; nothing ran")
                      .removesuffix(": nothing ran"),
                      ("if " + fix) if fix else f"add the context to {where}, or fix the pin")
    else:
        yield Finding(OK, "kube context", cluster.line().removeprefix("kube context: "))


# -- logs, clock, terminal -------------------------------------------------------------------


def log_dir(logs: Path) -> Finding:
    """The log folder (or the nearest folder that exists above it, where it will be made) is
    writable and has MIN_FREE_BYTES free."""
    where = logs
    while not where.exists() and where != where.parent:
        where = where.parent if str(where.parent) else Path(".")
    if not where.is_dir():
        return Finding(BAD, "logs", f"{where} is not a folder", "pass --logs DIR")
    if not os.access(where, os.W_OK | os.X_OK):
        return Finding(BAD, "logs", f"{where} is not writable",
                       f"run from a folder you can write to, or fix the permissions of {where}")
    try:
        free = shutil.disk_usage(where).free
    except OSError as exc:
        return Finding(BAD, "logs", f"cannot read the free space of {where}: {exc.strerror}",
                       "check the filesystem")
    shown = f"{free / 2**30:.1f} GiB free" if free >= 2**30 else f"{free / 2**20:.0f} MiB free"
    made = "" if where == logs else f" ({logs} will be made in {where})"
    if free < MIN_FREE_BYTES:
        return Finding(BAD, "logs", f"{where}: only {shown}{made}",
                       "free space, or write logs elsewhere (--log/--logs)")
    return Finding(OK, "logs", f"{logs} writable, {shown}{made}")


def clock() -> Finding:
    """The timeline and history put runs from several machines on one time line: the clock
    must be NTP-synchronised. Asked of systemd (timedatectl, else timesyncd's flag file);
    where neither can tell (a container without systemd), the answer is unknown, not ✗."""
    timedatectl = shutil.which("timedatectl")
    if timedatectl:
        try:
            proc = subprocess.run([timedatectl, "show", "-p", "NTPSynchronized", "--value"],
                                  capture_output=True, text=True, timeout=5,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            proc = None
        answer = proc.stdout.strip() if proc is not None and proc.returncode == 0 else ""
        if answer == "yes":
            return Finding(OK, "clock", "NTP-synchronised (timedatectl)")
        if answer == "no":
            return Finding(BAD, "clock", "not NTP-synchronised (timedatectl): timelines "
                           "merged from several machines would be out of order",
                           "timedatectl set-ntp true (or start chrony/ntpd)")
    if Path("/run/systemd/timesync/synchronized").exists():
        return Finding(OK, "clock", "NTP-synchronised (systemd-timesyncd)")
    return Finding(UNKNOWN, "clock", "synchronisation unknown (no systemd here, e.g. a "
                   "container: the host's clock is used); make sure the host runs NTP")


def terminal(env: Mapping[str, str]) -> Finding:
    """The console (`swrun run`) needs at least 80x24; headless runs need no terminal."""
    size = None
    for stream in (sys.stdout, sys.stderr, sys.stdin):
        try:
            if stream is not None and stream.isatty():
                size = os.get_terminal_size(stream.fileno())
                break
        except (OSError, ValueError):
            continue
    if size is not None:
        columns, lines = size.columns, size.lines
        where = "terminal"
    elif env.get("COLUMNS", "").isdigit() and env.get("LINES", "").isdigit():
        columns, lines = int(env["COLUMNS"]), int(env["LINES"])
        where = "COLUMNS x LINES"
    else:
        return Finding(UNKNOWN, "terminal", "not a terminal (fine for swrun execute; the "
                       f"console needs at least {MIN_COLUMNS}x{MIN_LINES})")
    if columns < MIN_COLUMNS or lines < MIN_LINES:
        return Finding(BAD, "terminal", f"{where} is {columns}x{lines}, the console needs at "
                       f"least {MIN_COLUMNS}x{MIN_LINES}", "enlarge the window (or use swrun "
                       "execute, which needs no terminal)")
    return Finding(OK, "terminal", f"{columns}x{lines}")


# -- shell completion ------------------------------------------------------------------------

_RC = {"bash": ".bashrc", "zsh": ".zshrc", "fish": ".config/fish/config.fish"}
_FILES = {
    "bash": (".local/share/bash-completion/completions/swrun", "/etc/bash_completion.d/swrun",
             "/usr/share/bash-completion/completions/swrun"),
    "zsh": (".zfunc/_swrun", "/usr/local/share/zsh/site-functions/_swrun",
            "/usr/share/zsh/vendor-completions/_swrun"),
    "fish": (".config/fish/completions/swrun.fish",
             "/usr/share/fish/vendor_completions.d/swrun.fish"),
}
_EVAL = 'command -v swrun >/dev/null && eval "$(swrun completion {})"'
INSTALL = {
    "bash": f"echo '{_EVAL.format('bash')}' >> ~/.bashrc",
    "zsh": f"echo 'autoload -Uz compinit && compinit; {_EVAL.format('zsh')}' >> ~/.zshrc",
    "fish": "mkdir -p ~/.config/fish/completions && "
            "swrun completion fish > ~/.config/fish/completions/swrun.fish",
}
"""The line README.md gives for each shell: it works on a fresh home (no folder to exist, no
bash-completion package needed)."""


def completion(env: Mapping[str, str]) -> Finding:
    """Is swrun's shell completion installed for the login shell ($SHELL)? Only ever ✓ or an
    info line with the line that installs it: a machine without it runs everything."""
    shell = Path(env.get("SHELL", "")).name
    if shell not in _RC:
        return Finding(INFO, "completion", f"no swrun completion for shell {shell or '?'} "
                       "(bash, zsh and fish have one: swrun completion SHELL)")
    home = Path(env.get("HOME") or Path.home())
    rc = home / _RC[shell]
    try:
        if f"swrun completion {shell}" in rc.read_text(errors="replace"):
            return Finding(OK, "completion", f"{shell}: installed (~/{_RC[shell]})")
    except OSError:
        pass
    for name in _FILES[shell]:
        path = home / name
        if path.is_file():
            shown = f"~/{name}" if not name.startswith("/") else name
            if shell == "bash" and not any(Path(p).is_file() for p in (
                    "/usr/share/bash-completion/bash_completion", "/etc/bash_completion")):
                return Finding(INFO, "completion", f"bash: {shown} is there but the "
                               "bash-completion package that loads it is not; install it "
                               f"with: {INSTALL['bash']}")
            return Finding(OK, "completion", f"{shell}: installed ({shown})")
    return Finding(INFO, "completion", f"{shell}: not installed (optional); install it "
                   f"with: {INSTALL[shell]}")
