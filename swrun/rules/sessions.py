"""Sessions: which lines of a block are typed into a shell or console another command opened
(`oc rsh POD`, `ssh host`, `psql`, `gitlab-rails console`), when such a session ends, and
what a later block in the same section is typed into. Pure functions over text."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from swrun.files import safe_text
from swrun.rules.prompts import CONSOLES, ROOT_TOOLS, SHELL, console_opened
from swrun.rules.shelltext import first_word, interactive, looks_like_command

WORKSTATION = frozenset({
    "kubectl", "oc", "helm", "kubectx", "kubens", "stern", "k9s", "argocd", "flux",
    "istioctl", "linkerd", "velero", "kustomize", "gh", "glab", "git", "aws", "gcloud",
    "gsutil", "bq", "az", "doctl", "terraform", "tofu", "ansible", "ansible-playbook",
    "ocm", "osdctl", "rosa", "eksctl", "hypershift", "clusteradm", "kind", "minikube",
    "virtctl", "scp", "rsync",
})
"""Commands an operator runs from their own machine, almost never inside a pod or on a
host they logged in to: a block that starts with one is back at the operator's shell."""
_PUBLIC_URL = re.compile(r"\bhttps?+://(?!localhost\b|127\.|0\.0\.0\.0|\[|\d++\.\d++\.)"
                         r"[\w-]++\.[\w.-]++")
_END = re.compile(r"\s*+(?:exit|logout|quit|\\q|\\quit|exit\(\)|quit\(\)|exit;|quit;)"
                  r"(?:\s++\d++)?+\s*+")


@dataclass(frozen=True)
class Session:
    """A shell or console a step opened."""

    into: str
    """`shell` (a pod, a host, a chroot, another user) or a key of prompts.CONSOLES."""
    command: str
    """The command that opened it, as written in its step: shown first in a later block."""
    step: int
    """The number of the step that opened it (0 when it is known only by its prompts)."""
    line: int
    """The file line of `command`."""

    @property
    def name(self) -> str:
        return CONSOLES.get(self.into, "a shell")

    @property
    def shown(self) -> str:
        """`command` for a message: one line, no terminal control sequences, 80 characters."""
        text = " ".join(safe_text(self.command).split())
        return text if len(text) <= 80 else text[:79] + "…"


@dataclass(frozen=True)
class Followed:
    """What a block's typed lines say about sessions."""

    inside: str
    """Why the block is typed into a session (the manual step's reason), `` when no line is."""
    continues: tuple[Session, ...]
    """The sessions of earlier steps the block is typed into, outermost first (their commands
    are shown first: `kubectl debug node/x`, then `chroot /host`); () when none."""
    open: tuple[Session, ...]
    """The sessions open when the block ends, innermost last."""
    opens: str = ""
    """What the first session the block opens is (`opens a Ruby console`), `` when none."""


def opens(command: str) -> str:
    """What a command opens that its next typed lines go into: `shell`, a console, or ``."""
    console = console_opened(command)
    if console in ("ruby", "gpg"):
        return console
    found = interactive(command)
    if found is not None and not found.session and " -- " in command:
        inner = console_opened(command.rsplit(" -- ", 1)[1])  # `exec -it pg-0 -- psql`
        return inner if inner and interactive(command.rsplit(" -- ", 1)[1]) else ""
    if found is None or not found.session:
        return ""
    return console or SHELL


def ends(command: str) -> bool:
    return _END.fullmatch(command) is not None


def plainly_local(command: str, session: Session) -> bool:
    """`command`, the first of a later block, is not typed into `session`: a shell command
    after a console (psql, redis, a Rails console...); after a shell on a pod or host, a
    command run from the operator's own machine (kubectl, oc, git, aws, terraform, … or a
    curl/wget of a public https URL), or one that opens a session of its own."""
    word = first_word(command)
    if session.into != SHELL:  # SQL, Ruby, redis commands never start with sudo or a tool
        return looks_like_command(command) or word in ROOT_TOOLS or \
            command.lstrip().startswith("sudo ")
    if word in WORKSTATION or opens(command):
        return True
    return word in ("curl", "wget") and _PUBLIC_URL.search(command) is not None


def follow(typed: Sequence[tuple[int, str, str, str]], before: Sequence[Session],
           number: int) -> Followed:
    """Walk a block's typed lines — (file line, command, prompt as written, program the
    prompt shows: `` for a plain shell prompt) — from the sessions open before it
    (`before`, innermost last, from earlier blocks of the section). `number`: the step
    number the block will get (the step that opens any session it opens)."""
    stack = list(before)
    inside = opened_what = ""
    continues: tuple[Session, ...] = ()
    commands = 0
    for line, text, shape, into in typed:
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        commands += 1
        if not inside and stack and stack[-1].step != number and not into and \
                plainly_local(text, stack[-1]):
            stack = []  # back at the operator's shell
        if into and into != (stack[-1].into if stack else ""):
            # a prompt says where the line goes (`template1=#`, `sh-4.4$`)
            stack.append(Session(into, "", 0, line))
        if stack:
            if not inside:
                top = stack[-1]
                if top.step and top.step != number:
                    continues = tuple(s for s in stack if s.command)
                    inside = f"typed in the session step {top.step} opened: {top.shown}"
                elif top.step == number:
                    inside = f"typed in the session this block opens: {top.shown}"
                else:
                    prompt = f" (by its prompt `{safe_text(shape)}`)" if shape else ""
                    inside = f"typed in {top.name}{prompt}: not run here"
            if ends(text):
                stack.pop()
                continue
        opened = opens(text)
        if opened:
            stack.append(Session(opened, text.strip(), number, line))
            opened_what = opened_what or f"opens {CONSOLES.get(opened, 'a session')}"
    if not commands and stack and stack[-1].step and stack[-1].step != number:
        top = stack[-1]  # comments only (`# TODO: command needed`): still the session's
        continues = tuple(s for s in stack if s.command)
        inside = f"typed in the session step {top.step} opened: {top.shown}"
    return Followed(inside, continues, tuple(stack), opened_what)
