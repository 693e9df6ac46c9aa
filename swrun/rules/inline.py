"""What the prose asks the operator to do: which inline code spans in a paragraph or bullet
are commands the text says to run, on which line, and on which host the text says they run.
Pure functions over words; the parser turns the answers into manual steps (what the paragraph
before a block says about that block is in `blocklead`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from swrun.rules.shelltext import first_word, looks_like_command

if TYPE_CHECKING:
    from markdown_it.token import Token

INLINE = "in the text"
"""The `manual` reason of a step made from inline code spans (no block to mark `run`)."""
SAYS = "(the text says so)"
"""Every reason read from the paragraph before a block ends so: the writer's words, not the
command, make it manual."""

_RUN = frozenset({"run", "execute", "type", "issue", "invoke", "enter", "rerun", "re-run",
                  "paste"})
_RUNNING_AFTER = frozenset({"by", "try", "trying", "consider", "start", "then", "first"})
_NOT = frozenset({"not", "don't", "dont", "never", "avoid", "without", "instead", "rather",
                  "shouldn't", "cannot", "can't", "mustn't", "no"})
_BEFORE_RUN = frozenset({",", ";", ":", "and", "then", "please", "can", "could", "should",
                         "must", "you", "first", "now", "just", "simply", "also", "or", "next",
                         "finally", "manually", "we", "i", "again", "instead", "once", "twice",
                         "need", "always", "-", "–", "—"})
"""A run word after these gives an order ("then run", "you can run"); after a noun it
says what something does ("the verbs run in order")."""
_TO_RUN = frozenset({"need", "needs", "have", "want", "sure", "forget", "remember", "able",
                     "safe", "recommended", "important", "necessary", "required"})
_GAP_STOPS = frozenset({"(", ",", "such", "like", "e.g", "e.g.", "including", "example",
                        "when", "if", "using", "to", "that", "which", "for", "while", "because",
                        "so", "unless", "whenever", "where", "whether", "is", "are", "was"})
"""Words between a run word and the code span that cut the link between them."""
_CONDITIONS = frozenset({"when", "whenever", "if", "once", "after", "before", "while", "as",
                         "because", "since", "unless", "until", "whether"})
_PREPOSITIONS = frozenset({"in", "of", "for", "from", "to", "on", "at", "by", "about", "into",
                           "under", "after", "before", "like", "than", "as", "is", "are",
                           "with", ":"})
_LABELS = frozenset({"command", "commands", "cmd", "run", "execute"})
_USE_BEFORE = frozenset({"by", "can", "could", "should", "must", "please", "then", "first",
                         "also", "now", "just", "and", ","})
_PREP = frozenset({"with", "via", "using", "through"})
_LEADS = frozenset({"then", "first", "next", "finally", "now", "please", "also", "and",
                    "afterwards", "second", "third", "lastly", "just", "manually"})
_IMPERATIVE = frozenset({
    "check", "verify", "confirm", "inspect", "examine", "review", "look", "view", "list",
    "get", "find", "identify", "query", "describe", "show", "watch", "monitor", "restart",
    "stop", "start", "reload", "redeploy", "rollback", "roll", "retry", "apply", "create",
    "update", "upgrade", "install", "uninstall", "enable", "disable", "ensure", "delete",
    "remove", "drain", "cordon", "uncordon", "scale", "reboot", "restore", "kill", "clean",
    "clear", "purge", "flush", "reset", "set", "switch", "back", "mount", "unmount", "pause",
    "resume", "trigger", "promote", "fail", "force", "open", "connect", "log", "login", "ssh",
    "patch", "edit", "add", "annotate", "label", "taint", "cancel", "terminate", "recreate",
    "rebuild", "rerun", "resync", "sync", "refresh", "rotate", "renew", "revoke", "unseal",
    "seal", "test", "try", "compare", "fetch", "pull", "push", "deploy", "migrate", "backup",
    "dump", "export", "import", "copy", "move", "rename", "increase", "decrease", "free",
    "collect", "gather", "capture", "grep", "search", "tail", "print", "determine", "run",
    "execute", "use",
})
_CONNECT = frozenset({"and", "or", "then", ",", ";", "followed", "by", "finally", "also",
                      "next", "afterwards", "after", "that"})
_HOST_NOUNS = frozenset({
    "host", "hosts", "server", "servers", "node", "nodes", "machine", "machines", "worker",
    "workers", "vm", "vms", "instance", "instances", "box", "boxes", "bastion", "primary",
    "replica", "replicas", "leader", "master", "secondary", "runner", "runners", "gateway",
    "jumphost", "jumpbox", "hypervisor", "appliance", "minion", "minions", "droplet",
})
_REMOTE_VERBS = (("log", "in", "to"), ("log", "into"), ("login", "to"), ("logged", "in", "to"),
                 ("ssh", "to"), ("ssh", "into"), ("ssh", "onto"), ("sign", "in", "to"),
                 ("connect", "to"), ("on",), ("onto",), ("from",))
_DETERMINERS = frozenset({"the", "each", "every", "all", "a", "an", "your", "one", "any", "that",
                          "this", "affected", "both", "those", "these", "other"})
_INDEFINITE = frozenset({"a", "an", "any", "one", "some", "most", "many", "such"})
_API_CLIENTS = frozenset({
    "kubectl", "oc", "helm", "aws", "gcloud", "gsutil", "az", "doctl", "terraform", "tofu",
    "ssh", "scp", "sftp", "rsync", "knife", "ansible", "ansible-playbook", "argocd", "flux",
    "vault", "consul", "nomad", "heroku", "eksctl", "rosa", "ocm", "osdctl", "virtctl",
    "istioctl", "velero", "gh", "git", "curl", "http", "wget", "mongosh", "mongo", "psql",
    "mysql", "redis-cli", "etcdctl", "kubectx", "kubens", "stern", "k9s", "pm2",
})
"""Commands that act on something else from this machine: "on the node, run `oc get pods`"
still runs `oc` here."""
_WORD = re.compile(r"[\w'./@~-]+|[,;:()]|\x00")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
_HOSTLIKE = re.compile(r"[a-z][a-z0-9]*+(?:[.-][a-z0-9_]++)++")
_SPAN = "\x00"


@dataclass(frozen=True)
class Asked:
    """The commands one paragraph or bullet asks the operator to run."""

    commands: tuple[str, ...]
    """The code spans, in order."""
    lines: tuple[int, ...]
    """For each command, its line offset in the paragraph."""
    title: str
    """The sentence that asks for the first one."""
    where: str = ""
    """`runs on the worker` when the text says where, else empty."""

    @property
    def manual(self) -> str:
        return f"{INLINE}, {self.where}" if self.where else INLINE


def from_text(manual: str) -> bool:
    """A manual step made from prose (a list item, a paragraph): no block to mark `run`."""
    return manual == "list item" or manual.startswith(INLINE)


def _words(text: str) -> list[str]:
    """Lower-case words and `,;:()`; a sentence's last dot is not part of its last word."""
    return [w.rstrip(".") if len(w) > 1 and w.endswith(".") else w
            for w in _WORD.findall(text.lower())]


@dataclass
class _Span:
    code: str
    line: int
    before: list[str]
    """The last words of its sentence before it (earlier spans as `\\x00`), at most _WINDOW."""
    whole: bool
    """`before` starts where the sentence does."""
    after: list[str]
    """The first words of its sentence after it."""
    sentence: int
    parts: int
    """How many pieces of its sentence's text come before it."""


_WINDOW = 24
"""Words kept before each span: every cue is read from the few words next to it, and a
sentence of 10,000 spans must not copy its words 10,000 times."""


def _spans(children: Sequence[Token]) -> tuple[list[_Span], list[list[str]], list[list[str]]]:
    """Each code span with its sentence's words around it; each sentence as pieces of text,
    and as words with every command span one `\\x00` (other spans, a host name, as words)."""
    spans: list[_Span] = []
    sentences: list[list[str]] = [[]]
    said: list[list[str]] = [[]]
    words: list[str] = []
    waiting: list[_Span] = []  # spans of this sentence still taking their `after` words

    def follow(got: list[str]) -> None:
        nonlocal waiting
        if got and waiting:
            for s in waiting:
                s.after.extend(got[: 4 - len(s.after)])
            waiting = [s for s in waiting if len(s.after) < 4]

    def add_text(text: str) -> None:
        nonlocal words, waiting
        pos = 0
        for m in _SENTENCE_END.finditer(text):
            piece = text[pos:m.end()]
            sentences[-1].append(piece)
            got = _words(piece)
            said[-1].extend(got)
            follow(got)
            sentences.append([])
            said.append([])
            words, waiting = [], []
            pos = m.end()
        piece = text[pos:]
        sentences[-1].append(piece)
        got = _words(piece)
        said[-1].extend(got)
        words.extend(got)
        follow(got)

    line = 0
    for child in children:
        if child.type == "text":
            add_text(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            line += 1
            add_text(" ")
        elif child.type == "code_inline":
            code = " ".join(child.content.split())
            said[-1].extend([_SPAN] if looks_like_command(code) else _words(code))
            follow([_SPAN])
            span = _Span(code, line, words[-_WINDOW:], len(words) <= _WINDOW, [],
                         len(sentences) - 1, len(sentences[-1]))
            sentences[-1].append(code)
            spans.append(span)
            waiting.append(span)
            words.append(_SPAN)
    return spans, sentences, said


def _text(parts: list[str]) -> str:
    return " ".join("".join(parts).split())


def _negated(words: list[str], at: int) -> bool:
    window = words[max(0, at - 3):at]
    return "forget" not in window and any(w in _NOT for w in window)


_OPENERS = frozenset({"if", "when", "once", "after", "before", "to", "then", "first", "next",
                      "otherwise", "alternatively", "should", "unless", "where", "in", "on",
                      "for", "as", "finally", "now", "afterwards", "else", "meanwhile"})
"""A sentence starting so may give its order after a comma ("If it hangs, restart …")."""


def _clause(words: list[str], whole: bool = True) -> list[str]:
    """The words of the clause that holds the end of `words`: after the last `,`/`;` when
    the sentence opens with a condition or a place (else from its start), never from inside
    parentheses; leading `then`/`first` dropped."""
    opened = max((k for k, w in enumerate(words) if w == "("), default=-1)
    if opened > max((k for k, w in enumerate(words) if w == ")"), default=-1):
        return []  # an aside: "(there `pm2 stop`, …)"
    if not whole:
        return []  # its start is too far back to tell
    cut = -1
    if words and words[0] in _OPENERS:
        cut = max((k for k, w in enumerate(words) if w in (",", ";")), default=-1)
    clause = words[cut + 1:]
    while clause and clause[0] in _LEADS:
        clause = clause[1:]
    return clause


def _cued(span: _Span, previous_asked: bool) -> bool:
    before = span.before
    last = max((k for k, w in enumerate(before) if w == _SPAN), default=-1)
    near = before[last + 1:]
    if previous_asked and last >= 0 and all(w in _CONNECT for w in near):
        return True  # run `a` and `b`, `c`
    if len(near) == 2 and near[-1] == ":" and near[-2] in _LABELS and (
            last == -1 or not span.whole or len(before) == 2):
        return True  # Command: `x` (not "New command: `x`" in a changelog)
    purpose = span.whole and bool(before) and before[0] == "to"  # "To resize the volume run `x`"
    for v in range(len(near) - 1, max(-1, len(near) - 7), -1):
        word = near[v]
        if _GAP_STOPS.intersection(near[v + 1:]):
            break  # "intended to run a script, such as `x`", "of another type (`x`)"
        if _conditional(before[:last + 1 + v]) or _negated(near, v):
            break  # "when you run `x`, …", "you should not need to run `x`"
        if word in _RUN and (_orders(near, v) or purpose if v > 0 else last == -1):
            return True  # run the following command `x`
        if word == "running" and v > 0 and near[v - 1] in _RUNNING_AFTER:
            return True  # try running `x`
        if len(near) - v <= 4 and ((word == "use" and (v == 0 or near[v - 1] in _USE_BEFORE))
                                   or (word == "using" and v > 0 and near[v - 1] == "by")):
            return True  # use `x` to restart; by using `x`
    clause = _clause(before, span.whole)
    if clause and clause[0] in _IMPERATIVE and _SPAN not in clause:
        if before[-1] in _PREP:
            return True  # Restart the API with `x`
        if len(clause) <= 5 and not span.after and not _PREPOSITIONS.intersection(clause):
            return True  # Check out rollout history `x`
    return False


def _orders(near: list[str], v: int) -> bool:
    """The run word at `v` gives an order: `then run`, `you can run`, `make sure to run`."""
    prev = near[v - 1]
    if prev == "to":
        return v > 1 and near[v - 2] in _TO_RUN
    return prev in _BEFORE_RUN


def _conditional(words: list[str]) -> bool:
    """The clause these words end in holds `when`/`if`/`once`: a condition, not an order."""
    cut = max((k for k, w in enumerate(words) if w in (",", ";", ":")), default=-1)
    return bool(_CONDITIONS.intersection(words[cut + 1:]))


def asked(children: Sequence[Token]) -> Asked | None:
    """The commands a paragraph's inline content asks the operator to run, or None.

    A code span counts when it reads as a command (two words or more, a known command
    first) and a cue points at it: a run word close before it (run, execute, type, issue,
    invoke, enter, paste), a label (`Command:`), `use `x` to …`, an imperative clause
    (`Restart the API with `x``), or `and`/`or`/`,` after a span that counts. A span the
    sentence only mentions (`the `kubectl` binary`, `` `systemctl status` shows``) does not."""
    spans, pieces, said = _spans(children)
    if not spans:
        return None
    picked: list[_Span] = []
    previous = False
    for span in spans:
        if not _command(span.code):
            continue  # `sync`, a name: it neither counts nor breaks a list
        previous = _cued(span, previous)
        if previous:
            picked.append(span)
    if not picked:
        return None
    first = picked[0]
    head = _text(pieces[first.sentence][:first.parts])
    title = _title(head)
    if not title and first.sentence > 0 and _words(head) and \
            set(_words(head)) <= _LABELS | {":"}:
        title = _text(pieces[first.sentence - 1])  # "Stop the database. Command: `…`"
    title = (title or _text(pieces[first.sentence])).rstrip(" .:;!?") or first.code
    where = ""
    looked: set[int] = set()
    for span in picked:
        if first_word(span.code) in _API_CLIENTS or span.sentence in looked:
            continue
        looked.add(span.sentence)
        host = _host_phrase(said[span.sentence])
        if host:
            where = f"runs on {host}"
            break
    return Asked(tuple(s.code for s in picked), tuple(s.line for s in picked), title, where)


_PROGRAM = re.compile(r"[a-z][a-z0-9+]*+(?:[_-][a-z0-9+]++)++|\.{0,2}/[\w./-]++")
"""`gitlab-ctl`, `pg_dumpall`, `chef-client`, `./deploy.sh`: a program's name, not a word."""


def _command(code: str) -> bool:
    """Two words or more that read as a command: a known one first (`kubectl get pods`),
    `sudo …`, or a program's name (`gitlab-ctl reconfigure`)."""
    words = code.split()
    if len(words) < 2:
        return False
    return looks_like_command(code) or words[0] == "sudo" or bool(_PROGRAM.fullmatch(words[0]))


def _title(head: str) -> str:
    """`Check pod events` from "Check pod events via `…`": the words before the command
    when they say what it does (not "On the node, run")."""
    words = head.split()
    while words and words[-1].lower().strip(":,") in _PREP | {"", "by", "running"}:
        words.pop()
    if len(words) < 2 or words[-1].lower().strip(":,") in _RUN | {"use", "using"} or \
            words[-1].endswith(","):
        said = head.rsplit(":", 1)[0] if ":" in head else ""
        return said.strip() if len(said.split()) >= 2 else ""  # "Take a backup: run `…`"
    return " ".join(words).rstrip(":,")


def _host_phrase(words: list[str], login_only: bool = False) -> str:
    """`the worker` in "log in to the worker and run", "on each node, run": the host the
    words name, or empty. `on` counts at a clause's start or after a command."""
    n = len(words)
    for k in range(n):
        for verb in _REMOTE_VERBS:
            if tuple(words[k:k + len(verb)]) != verb or (
                    login_only and verb[0] in ("on", "onto", "from")):
                continue
            if verb[0] in ("on", "onto", "from") and k > 0 and words[k - 1] not in (
                    ",", ";", ":", _SPAN, "then", "and", "run", "it", "this", "command",
                    "commands", "following", "script", "them", "first"):
                continue
            obj = words[k + len(verb):k + len(verb) + 5]
            phrase = _object(obj)
            if phrase and verb[0] in ("on", "onto", "from") and obj[0] in _INDEFINITE:
                continue  # "on a machine with 2 GiB": a kind of host, not one to log in to
            if phrase:
                return phrase
    return ""


def _object(words: list[str]) -> str:
    """`the worker` from `the worker and run …`; a host name (`web-01.example.com`)."""
    taken: list[str] = []
    for w in words:
        if w in (",", ";", ":", _SPAN):
            break
        taken.append(w)
        if w in _HOST_NOUNS or (w.endswith("'s") and w[:-2] in _HOST_NOUNS):
            return " ".join(taken)
        if len(taken) == 1 and w not in _DETERMINERS and _HOSTLIKE.fullmatch(w) and \
                any(c.isdigit() for c in w):
            return w
        if len(taken) >= 4:
            break
    return ""
