"""Which Kubernetes cluster a runbook's kubectl/oc steps reach: the `kube_context` pin, the
pre-flight that reads kubectl's current context and refuses a pin it cannot honour, and the
shell preamble that holds a step's kubectl/oc to the run's context.

A context is decided once per run, before any step: the step's (or its section's)
`kube_context`, else the front matter's, else kubectl's current context as the run starts.
Each local sh-family step then gets `kubectl`/`oc` shell functions that add `--context=…`, so
a `kubectl config use-context` in another terminal mid-run cannot redirect the steps.
kubectl is spawned only when a runbook has local kubectl/oc steps or a pin.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field

from swrun.model import SH_FAMILY, Runbook, Step, StepKind

KEY = "kube_context"
"""The attribute, the front-matter key, the run setting and the run_started field."""
ENV = "SWRUN_KUBE_CONTEXT"
"""The context a step runs with, in its environment (for scripts that call kubectl)."""
TIMEOUT = 10.0
"""Seconds kubectl may take to read the kubeconfig (kubectl itself does not connect for
`config`; a dispatching wrapper, like the Cloud SDK's, may ask the server its version)."""
_TOOL = re.compile(r"(?<![\w.$-])(?:kubectl|oc)(?![\w.-])")
_VIEW = 'jsonpath={.current-context}{"\\n"}{range .contexts[*]}{.name}{"\\n"}{end}'
"""The current context on the first line, then every context's name, one per line."""


def uses_tool(step: Step) -> bool:
    """A local sh-family shell step whose body calls kubectl or oc (as a word)."""
    if step.kind is not StepKind.SHELL or step.targets or step.optional:
        return False
    interp = shlex.split(step.text("shell") or "bash") or ["bash"]
    return os.path.basename(interp[0]) in SH_FAMILY and bool(_TOOL.search(step.body))


def pinned(runbook: Runbook) -> str | None:
    """The front matter's `kube_context` (checked when the runbook is read)."""
    value = runbook.metadata.get(KEY)
    return value if isinstance(value, str) and value else None


def context_for(step: Step, runbook: Runbook, settings: Mapping[str, object]) -> str | None:
    """The context `step` runs with: its own (or its section's), the runbook's, or the one
    the run captured at its start (`settings["kube_context"]`)."""
    run = settings.get(KEY)
    return step.text(KEY) or pinned(runbook) or (run if isinstance(run, str) and run else None)


def preamble(context: str | None) -> str:
    """Shell functions, on one line so the body's line numbers stay (prepended to the body's
    first line), that make every plain `kubectl`/`oc` of the step use `context`."""
    if not context:
        return ""
    q = shlex.quote(context)
    return (f'kubectl() {{ command kubectl --context={q} "$@"; }}; '
            f'oc() {{ command oc --context={q} "$@"; }}; ')


@dataclass(frozen=True)
class Cluster:
    """What the pre-flight found: the contexts the run will hit, and why it cannot start."""

    tool: str | None
    """kubectl (else oc) on PATH; None when neither is installed."""
    current: str | None
    """kubectl's current context; None when none is set (or it cannot be read)."""
    run_context: str | None
    """What steps without a pin of their own hit: the front matter's pin, else `current`."""
    pinned: str | None = None
    """The front matter's pin."""
    others: Mapping[str, int] = field(default_factory=dict)
    """Section and step pins besides `run_context`: context → how many steps."""
    problem: str | None = None
    """One line refusing the run (file:line: …); None when it may start."""
    where: str = ""
    """The kubeconfig read (KUBECONFIG, or ~/.kube/config)."""

    def line(self) -> str:
        """What the pre-flight shows."""
        if self.tool is None:
            return "kube context: unknown (neither kubectl nor oc is installed)"
        if self.run_context is None:
            text = "kube context: none (kubectl has no current context)"
        elif self.pinned:
            text = f"kube context: {self.run_context} (pinned by the runbook"
            text += ", also kubectl's current context)" if self.current == self.pinned else ")"
        else:
            text = (f"kube context: {self.run_context} (kubectl's current context; every "
                    "kubectl/oc step of this run uses it)")
        if self.others:
            text += "; also " + ", ".join(f"{name} ({n} step{'s' if n != 1 else ''}, pinned)"
                                          for name, n in self.others.items())
        return text


def kubeconfig_name(environ: Mapping[str, str]) -> str:
    return environ.get("KUBECONFIG") or "~/.kube/config"


def read_kubeconfig(tool: str, environ: Mapping[str, str]
                    ) -> tuple[str | None, tuple[str, ...] | None, str]:
    """(current context, every context name, kubectl's error) as `tool config view` reads
    them with `environ` (KUBECONFIG honoured), in one process. The names are None when the
    kubeconfig cannot be read."""
    try:
        res = subprocess.run([tool, "config", "view", "-o", _VIEW], env=dict(environ),
                             text=True, capture_output=True, timeout=TIMEOUT,
                             stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, None, f"{os.path.basename(tool)} could not read the kubeconfig: {exc}"
    if res.returncode != 0:
        return None, None, (res.stderr.strip().splitlines() or ["failed"])[-1]
    first, _, rest = res.stdout.partition("\n")
    return first.strip() or None, tuple(n.strip() for n in rest.splitlines() if n.strip()), ""


def _pins(runbook: Runbook) -> list[tuple[str, int]]:
    """Every pinned context with the file line that pins it (front matter first)."""
    out: list[tuple[str, int]] = []
    if pinned(runbook):
        out.append((str(pinned(runbook)), _front_matter_line(runbook)))
    for step in runbook.steps:
        value = step.text(KEY)
        if value and _local(step):
            out.append((value, step.span.line))
    return out


def _local(step: Step) -> bool:
    """A step that runs on this machine (a pin on a `hosts=` step is the host's business)."""
    return step.runnable and not step.optional and not step.targets


def _front_matter_line(runbook: Runbook) -> int:
    for i, text in enumerate(runbook.text.split("\n")[:200], 1):
        if re.match(r"\s*+kube_context\s*+[=:]", text):
            return i
    return 1


def wanted(runbook: Runbook) -> bool:
    """Whether the pre-flight has anything to do (kubectl is spawned only then)."""
    return bool(pinned(runbook)) or any(
        uses_tool(s) or (_local(s) and s.text(KEY)) for s in runbook.steps)


def preflight(runbook: Runbook, environ: Mapping[str, str] | None = None,
              resumed: str | None = None) -> Cluster | None:
    """Read kubectl's current context and check the pins; None when the runbook has no
    local kubectl/oc step and no pin. `resumed`: the context the run being resumed started
    with (its run_started), kept for steps without a pin so the whole run hits one cluster."""
    if not wanted(runbook):
        return None
    env = os.environ if environ is None else environ
    path = runbook.path
    where = kubeconfig_name(env)
    pins = _pins(runbook)
    pin = pinned(runbook)
    counts: dict[str, int] = {}
    for step in runbook.steps:
        own = step.text(KEY)
        if own and own != pin and _local(step):
            counts[own] = counts.get(own, 0) + 1
    tool = shutil.which("kubectl", path=env.get("PATH")) or shutil.which(
        "oc", path=env.get("PATH"))
    if tool is None:
        problem = None
        if pins:
            name, line = pins[0]
            problem = (f"{path}:{line}: {KEY} {name!r} cannot be checked: neither kubectl nor "
                       "oc is installed; nothing ran")
        return Cluster(None, None, pin, pin, counts, problem, where)
    current, names, error = read_kubeconfig(tool, env)
    run_context = pin or resumed or current
    problem = None
    if pins and names is None:
        problem = (f"{path}:{pins[0][1]}: {KEY} {pins[0][0]!r} cannot be checked: {error}; "
                   "nothing ran")
    elif names is not None:
        for name, line in pins:
            if name not in names:
                have = ", ".join(names[:10]) + (", …" if len(names) > 10 else "") \
                    if names else "no contexts"
                problem = (f"{path}:{line}: {KEY} {name!r} is not a context in {where} "
                           f"(it has {have}); nothing ran")
                break
    if problem is None and pin and current != pin:
        now = repr(current) if current else "not set"
        problem = (f"{path}:{pins[0][1]}: the runbook is pinned to {KEY} {pin!r} and kubectl's "
                   f"current context is {now}: nothing ran. If {pin!r} is the cluster you "
                   f"mean, run `kubectl config use-context {pin}` and start again")
    if problem is None and resumed and not pin and current != resumed:
        now = repr(current) if current else "not set"
        problem = (f"{path}: this run started on kube context {resumed!r} and kubectl's "
                   f"current context is now {now}: nothing ran. Its steps keep to "
                   f"{resumed!r}; run `kubectl config use-context {resumed}` to resume it")
    return Cluster(tool, current, run_context, pin, counts, problem, where)


def ready(runbook: Runbook, environ: Mapping[str, str] | None = None,
          resumed_log: object = None) -> Cluster | None:
    """The pre-flight both front ends run before anything is asked: the cluster, or
    KubeContextError with its one line. `resumed_log`: the path of the log being resumed
    (its run_started names the context the run began on)."""
    from swrun.errors import KubeContextError

    if not wanted(runbook):
        return None
    resumed = logged_context(resumed_log) if resumed_log is not None else None
    cluster = preflight(runbook, environ, resumed)
    if cluster is not None and cluster.problem:
        raise KubeContextError(cluster.problem)
    return cluster


def logged_context(log_path: object) -> str | None:
    """The context a logged run started on (its first run_started), if it logged one."""
    from pathlib import Path

    from swrun.runlog import read_log

    data = read_log(Path(str(log_path)))
    first = next((e for e in data.events if e.get("type") == "run_started"), {})
    value = first.get(KEY)
    return value if isinstance(value, str) and value else None
