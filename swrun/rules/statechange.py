"""Which steps change state (delete, scale, drain, restart, kill, `rm -rf`, DROP…) and which
are alternatives ("If …", "Option B", "Alternatively"): both are asked before they run unless
the author said otherwise (`confirm`, `confirm=false`, `unattended`).

A pattern is a line of words: the command, then the words that must follow it.

- `kubectl|oc delete` — `|` separates alternatives; the command is matched by its basename
  (`/usr/bin/kubectl`); a following word may sit after option values (`kubectl -n x delete`).
- `*` is any one word (`service * restart`), `...` any number (`gcloud ... delete`).
- `delete-*` is a prefix (`aws ec2 delete-volume`).
- `-r|-R|--recursive` is an option the command must have anywhere (`-rf` has `-r`);
  `!-0` one it must not have (`kill -0 PID` only checks).

Commands are found by shell grammar, never as substrings: comments, quoted strings and
here-document text are not commands (a quoted `"kubectl delete"` is one word), except where
the string is itself run (`bash -c '…'`, `ssh host '…'`, `kubectl exec POD -- …`,
`psql -c "DROP …"`). A runbook adds its own patterns in the front matter
(`state_changing = ["mytool purge"]`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from swrun.files import safe_text
from swrun.model import SH_FAMILY, Step
from swrun.rules.shelltext import logical_lines, split_commands, split_outside_quotes, strip_comment

LIBRARY: tuple[str, ...] = (
    # Kubernetes / OpenShift
    "kubectl|oc delete|scale|drain|cordon|uncordon|patch|replace|taint|evict",
    "kubectl|oc rollout restart|undo",
    "kubectl|oc set image|env|resources",
    "oc adm drain|cordon|uncordon|prune",
    "virtctl stop|restart|migrate|pause",
    "helm uninstall|delete|rollback",
    # services and processes
    "systemctl restart|stop|disable|kill|mask|isolate|try-restart|reload-or-restart|reboot"
    "|poweroff|halt",
    "service * restart|stop|force-reload",
    "gitlab-ctl restart|stop|reconfigure|kill|hup|term",
    "pm2 stop|delete|restart|reload|kill",
    "kill !-0 !-l",
    "pkill",
    "killall",
    "reboot",
    "shutdown",
    "halt",
    "poweroff",
    # files
    "rm -r|-R|--recursive",
    "rm -f|--force",
    "find -delete",
    # containers
    "docker|podman|nerdctl rm|rmi|stop|kill",
    "docker|podman|nerdctl container|volume|image|network rm|stop|kill|prune",
    "docker|podman system prune",
    "docker|podman compose down|stop|rm|kill",
    "docker-compose|podman-compose down|stop|rm|kill",
    # infrastructure and clouds
    "terraform|tofu|terragrunt apply|destroy",
    "aws ... delete-*|terminate-*",
    "aws s3 rm|rb",
    "aws s3 sync --delete",
    "gcloud ... delete",
    "az ... delete",
    "doctl ... delete",
    # SQL typed into a database shell or a here-document
    "drop table|database|schema|index|view|user|role|collection|extension|materialized",
    "delete from",
    "truncate",
)
"""The state-changing commands swrun knows (docs/runbook-format.md lists them)."""

TYPED: Mapping[str, tuple[str, ...]] = {
    "pm2": ("pm2 stop|delete|restart|reload|kill",),
    "mongo": ("mongo restore --drop", "mongo failover"),
    "aws": ("aws traffic", "aws ... delete-*|terminate-*", "aws s3 rm|rb",
            "aws s3 sync --delete"),
}
"""Typed blocks (```pm2, ```mongo, ```aws): each body line is read as `KIND line`."""

_SQL = re.compile(r"(?i)(?:^|[;(\s'\"])(?:drop\s++(?:table|database|schema|index|view|user|role"
                  r"|collection|extension|materialized)|delete\s++from|truncate)\b")
_MONGO_JS = re.compile(r"\.(?:drop|dropDatabase|deleteMany|deleteOne|remove)\s*+\(")
_SQL_CLIENTS = frozenset({"psql", "mysql", "mariadb", "sqlite3", "clickhouse-client", "cqlsh"})
_SQL_FLAGS = frozenset({"-c", "-e", "--command", "--execute", "--query", "-q"})
_MONGO_CLIENTS = frozenset({"mongo", "mongosh"})
_WORD = re.compile(r"(?:[^\s\"'\\]|\\.|\"(?:[^\"\\]|\\.)*+\"|'[^']*+')++", re.DOTALL)
_QUOTES = re.compile(r"\"((?:[^\"\\]|\\.)*+)\"|'([^']*+)'|\\(.)", re.DOTALL)
_ASSIGN = re.compile(r"[A-Za-z_]\w*+=")
_REDIRECT = re.compile(r"[0-9]*+(?:>>?|<<?<?|>&|<&|&>)")


def _opts(text: str) -> frozenset[str]:
    return frozenset(text.split())


_PREFIXES: Mapping[str, frozenset[str]] = {
    # a prefix word and its options that take a value
    "sudo": _opts("-u -g -h -p -C -D -r -t -U --user --group --host"),
    "doas": frozenset({"-u"}), "env": frozenset({"-u", "-C", "-S"}),
    "nohup": frozenset(), "time": frozenset(), "exec": frozenset({"-a"}),
    "command": frozenset(), "builtin": frozenset(), "nice": frozenset({"-n"}),
    "ionice": frozenset({"-c", "-n"}), "stdbuf": frozenset({"-i", "-o", "-e"}),
    "xargs": _opts("-I -n -P -L -d -a -s -E"),
    "timeout": frozenset({"-s", "-k", "--signal", "--kill-after"}),
    "then": frozenset(), "else": frozenset(), "elif": frozenset(), "do": frozenset(),
    "if": frozenset(), "while": frozenset(), "until": frozenset(), "!": frozenset(),
    "{": frozenset(),
}
_SSH_VALUE = _opts("-b -c -D -E -e -F -I -i -J -L -l -m -O -o -p -Q -R -S -W -w")
_DEPTH = 3


@dataclass(frozen=True)
class Pattern:
    """One entry of the library, compiled."""

    text: str
    tools: frozenset[str]
    words: tuple[frozenset[str] | str, ...]
    """Each following word: a set of alternatives (a `x*` in it is a prefix), `*` or `...`."""
    flags: tuple[frozenset[str], ...] = ()
    """Options the command must have (one of each set)."""
    not_flags: frozenset[str] = frozenset()

    def matches(self, words: Sequence[str]) -> bool:
        if not words or _tool(words[0]) not in self.tools:
            return False
        opts = [w for w in words[1:] if w.startswith("-") and w != "-"]
        if any(_has_flag(opts, f) for f in self.not_flags):
            return False
        if not all(any(_has_flag(opts, f) for f in alts) for alts in self.flags):
            return False
        return _follow(self.words, _positional(words[1:]))


class PatternError(ValueError):
    """A pattern written in the front matter cannot be read."""


def compile_pattern(text: str) -> Pattern:
    parts = text.split()
    if not parts or parts[0] in ("*", "...") or parts[0].startswith(("-", "!")):
        raise PatternError(f"state_changing pattern {text!r}: it must start with a command")
    words: list[frozenset[str] | str] = []
    flags: list[frozenset[str]] = []
    nots: set[str] = set()
    for part in parts[1:]:
        if part in ("*", "..."):
            words.append(part)
        elif part.startswith("!"):
            nots.add(part[1:])
        elif part.startswith("-"):
            flags.append(frozenset(part.split("|")))
        else:
            words.append(frozenset(p.lower() for p in part.split("|") if p))
    tools = frozenset(p.lower() for p in parts[0].split("|") if p)
    return Pattern(text, tools, tuple(words), tuple(flags), frozenset(nots))


def _tool(word: str) -> str:
    return os.path.basename(word).lower()


def _has_flag(opts: Iterable[str], flag: str) -> bool:
    for o in opts:
        if flag.startswith("--"):
            if o == flag or o.startswith(flag + "="):
                return True
        elif (not o.startswith("--") and len(flag) == 2 and flag[1] in o[1:]) or (
                len(flag) > 2 and o == flag):  # a one-dash long option: find's -delete
            return True
    return False


def _positional(words: Sequence[str]) -> list[tuple[str, bool]]:
    """The words that are not options, each with whether it may be an option's value
    (it follows an option written without `=`)."""
    out: list[tuple[str, bool]] = []
    after_opt = False
    for w in words:
        if w.startswith("-") and w != "-":
            after_opt = "=" not in w and w != "--"
            continue
        out.append((w.lower(), after_opt))
        after_opt = False
    return out


def _word_ok(alts: frozenset[str], word: str) -> bool:
    return word in alts or any(a.endswith("*") and word.startswith(a[:-1]) for a in alts)


def _follow(pattern: Sequence[frozenset[str] | str], words: list[tuple[str, bool]]) -> bool:
    """Greedy, left to right: each pattern word takes the next word that fits (an option's
    value may be passed over; `...` passes over any)."""
    i = 0
    loose = False
    for p in pattern:
        if p == "...":
            loose = True
            continue
        if p == "*":
            if i >= len(words):
                return False
            i += 1
            continue
        assert isinstance(p, frozenset)
        while i < len(words) and not _word_ok(p, words[i][0]):
            if not (loose or words[i][1]):
                return False
            i += 1
        if i >= len(words):
            return False
        i += 1
        loose = False
    return True


_COMPILED = tuple(compile_pattern(p) for p in LIBRARY)
_TYPED = {k: tuple(compile_pattern(p) for p in v) for k, v in TYPED.items()}


def patterns(extra: Sequence[str] = ()) -> tuple[Pattern, ...]:
    """The library and a runbook's own patterns (front matter `state_changing`)."""
    return _COMPILED + tuple(compile_pattern(p) for p in extra)


# -- reading shell text ----------------------------------------------------------------------
def _unquote(word: str) -> str:
    return _QUOTES.sub(lambda m: next(g for g in m.groups() if g is not None), word) \
        if ("'" in word or '"' in word or "\\" in word) else word


def _pipe_separator(command: str, i: int) -> int:
    """A pipe, `&`, a parenthesis or a backquote: not `>&`/`<&`/`&>` (redirections)."""
    ch = command[i]
    if ch not in "|&()`":
        return 0
    if ch == "&" and (command[i - 1:i] in (">", "<") or command[i + 1:i + 2] == ">"):
        return 0
    return 1


def _pieces(command: str) -> list[str]:
    """`a | b & (c)` → the simple commands, quotes respected."""
    return split_outside_quotes(command, _pipe_separator)


def _words(piece: str) -> list[str]:
    """The words of one simple command, quotes removed, redirections left out."""
    raw = _WORD.findall(piece)
    out: list[str] = []
    skip = False
    for w in raw:
        if skip:
            skip = False
            continue
        r = _REDIRECT.match(w)
        if r is not None and not w.startswith(("'", '"')):
            if r.end() == len(w):
                skip = True  # `> file`: the next word is the file
            continue
        out.append(_unquote(w))
    return out


def _command(words: list[str]) -> list[str]:
    """The words from the command word on: `sudo -u x`, `env A=1`, `timeout 5`, `xargs -I{}`,
    `then`, `do` and assignments before it are left out."""
    i = 0
    while i < len(words):
        w = words[i]
        if _ASSIGN.match(w):
            i += 1
            continue
        takes = _PREFIXES.get(w)
        if takes is None:
            return words[i:]
        i += 1
        while i < len(words) and words[i].startswith("-") and words[i] != "--":
            i += 2 if words[i] in takes else 1
        if w == "timeout" and i < len(words):
            i += 1  # the duration
        if i < len(words) and words[i] == "--":
            i += 1
    return []


@dataclass(frozen=True)
class Match:
    command: str
    """The simple command that matched, as written (shortened)."""
    offset: int
    """Line offset in the body."""
    pattern: str


def find_in_shell(body: str, extra: Sequence[Pattern] = ()) -> Match | None:
    """The first state-changing command in shell text."""
    pats = (*_COMPILED, *extra)
    for offset, text in logical_lines(body):
        code = strip_comment(text)
        if not code.strip():
            continue
        for part in split_commands(code):
            commands = [(piece, _command(_words(piece))) for piece in _pieces(part)]
            for piece, words in commands:
                hit = _check(words, pats, 0)
                if hit is not None:
                    return Match(_shown(piece), offset, hit)
            if len(commands) > 1 and any(w and _tool(w[0]) in _SQL_CLIENTS for _, w in commands) \
                    and _SQL.search(part):  # `echo "DROP TABLE t" | psql`
                return Match(_shown(part), offset, "SQL that drops or deletes, piped to a client")
    return None


def find_in_typed(kind: str, body: str, extra: Sequence[Pattern] = ()) -> Match | None:
    """The first state-changing line of a typed block (`pm2`, `mongo`, `aws`)."""
    pats = (*_TYPED.get(kind, ()), *extra)
    for offset, line in enumerate(body.split("\n")):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        words = [kind, *_words(s)]
        for p in pats:
            if p.matches(words):
                return Match(_shown(s), offset, p.text)
    return None


def _check(words: list[str], pats: Sequence[Pattern], depth: int) -> str | None:
    if not words:
        return None
    for p in pats:
        if p.matches(words):
            return p.text
    if depth >= _DEPTH:
        return None
    tool = _tool(words[0])
    inner: list[list[str]] = []
    if tool in _SQL_CLIENTS or tool in _MONGO_CLIENTS:
        test = _SQL if tool in _SQL_CLIENTS else _MONGO_JS
        for k, w in enumerate(words[1:], 1):
            value = ""
            if w in _SQL_FLAGS or w == "--eval":
                value = words[k + 1] if k + 1 < len(words) else ""
            elif "=" in w and w.split("=", 1)[0] in ("--command", "--execute", "--eval"):
                value = w.split("=", 1)[1]
            if value and test.search(value):
                return f"{tool} -c (SQL that drops or deletes)" if test is _SQL else \
                    f"{tool} --eval (drops or deletes)"
    if tool in SH_FAMILY and "-c" in words[1:]:
        k = words.index("-c", 1)
        if k + 1 < len(words):
            inner += [_command(_words(p)) for part in split_commands(words[k + 1])
                      for p in _pieces(part)]
    elif tool == "eval" and len(words) > 1:  # eval runs its words joined as a command line
        inner += [_command(_words(p)) for part in split_commands(" ".join(words[1:]))
                  for p in _pieces(part)]
    elif tool == "ssh":
        rest = _ssh_command(words[1:])
        if len(rest) == 1:
            inner += [_command(_words(p)) for part in split_commands(rest[0])
                      for p in _pieces(part)]
        elif rest:
            inner.append(_command(rest))
    if "--" in words[1:]:
        inner.append(_command(words[words.index("--", 1) + 1:]))
    for cmd in inner:
        hit = _check(cmd, pats, depth + 1)
        if hit is not None:
            return hit
    return None


def _ssh_command(words: list[str]) -> list[str]:
    i = 0
    while i < len(words) and words[i].startswith("-"):
        i += 2 if words[i] in _SSH_VALUE else 1
    return words[i + 1:]


def _shown(text: str) -> str:
    """The command as shown in messages: one line, no terminal control sequences (it is
    printed in stop messages and dialogs), at most 72 characters."""
    text = " ".join(safe_text(text).split())
    return text if len(text) <= 72 else text[:71] + "…"


# -- alternatives ----------------------------------------------------------------------------
_ALT_TITLE = re.compile(
    r"(?i)(?:(?:\d++|[a-z])[.)]\s*+|\d++\s++)?"  # `2. If`, `b) Option B`
    r"(?:if\b|option\s++(?:[a-z]|\d++)\b|alternative(?:ly)?\b|workaround)")
_NOT_RECOMMENDED = re.compile(r"(?i)\(not\s++recommended\)|\bwe\s++do\s++not\s++recommend"
                              r"|\bnot\s++recommended\b|\bwe\s++don't\s++recommend")
_ALT_LEAD = re.compile(r"(?i)(?:if\b|alternatively\b|or,)")
_SETUP_IF = re.compile(r"(?i)if\s++you\s++(?:use|are\s++using|have|want|prefer|need|run"
                       r"|deploy|installed)\b")
"""`If you use X, add Y` is setup prose for a reader choosing their own path, not a branch
of an incident procedure: not read as an alternative."""


def not_recommended(text: str) -> bool:
    """A section title or lead paragraph that says not to do it: its blocks are optional."""
    return _NOT_RECOMMENDED.search(text) is not None


def alternative_title(title: str) -> bool:
    t = title.strip().strip("*_`")
    return _ALT_TITLE.match(t) is not None and _SETUP_IF.match(t) is None


def alternative_lead(lead: str) -> str:
    """The condition a block's lead paragraph puts it under (`If the pod is stuck`), or ""."""
    s = lead.strip().strip("*_")
    if not s or _ALT_LEAD.match(s) is None or _SETUP_IF.match(s) is not None:
        return ""
    m = re.match(r"[^.:!?]{1,120}+", s)
    return (m.group(0) if m else s[:120]).strip().rstrip(",")


# -- the parser's hook -----------------------------------------------------------------------
def marked(attrs: Mapping[str, Any], metadata: Mapping[str, Any]) -> bool:
    """The author said how the step may run: `confirm` (either way), `destructive`,
    `unattended` (step, section or front matter)."""
    return ("confirm" in attrs or attrs.get("destructive") is True
            or attrs.get("unattended") is True or metadata.get("unattended") is True)


def extra_patterns(metadata: Mapping[str, Any]) -> tuple[list[Pattern], str]:
    """The front matter's `state_changing` patterns, and a problem with them ("" if none)."""
    if not isinstance(metadata.get("unattended", False), bool):
        return [], "front matter unattended must be true or false"
    value = metadata.get("state_changing")
    if value is None:
        return [], ""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return [], "front matter state_changing must be a list of patterns (\"mytool purge\")"
    out = []
    for text in value:
        try:
            out.append(compile_pattern(text))
        except PatternError as exc:
            return out, str(exc)
    return out, ""


def state_change(kind: str, body: str, attrs: Mapping[str, Any],
                 extra: Sequence[Pattern] = ()) -> Match | None:
    """The state-changing command a runnable step holds (None for a `file=` step: writing a
    file runs nothing in it)."""
    if attrs.get("file"):
        return None
    if kind == "shell":
        return find_in_shell(body, extra)
    if kind in TYPED:
        return find_in_typed(kind, body, extra)
    return None


# -- `swrun check` (SW205) -------------------------------------------------------------------
FIX = ("add {confirm} to have it asked every time, or {unattended} (or confirm=false) if it "
       "may run unattended")


def finding(step: Step) -> tuple[str, str, int]:
    """(message, path, line) of a step whose confirm swrun inferred from its command."""
    return (f"`{step.confirm_inferred}` changes state and the block does not say whether it "
            "may run unasked: swrun asks first, and headless --yes stops there",
            step.span.path, step.span.line)
