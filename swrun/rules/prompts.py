"""Prompts of every common shape in a block written as a terminal transcript, and where each
typed line goes: the operator's own shell, or a session another command opened (a pod
shell, a host, psql, mysql, redis, a Rails console). Pure functions over text."""

from __future__ import annotations

import re
from dataclasses import dataclass

from swrun.rules.shelltext import KNOWN_COMMANDS, first_word, looks_like_command

# -- the shapes ------------------------------------------------------------------------------
# Every pattern below is matched at a line's start (after its indentation) and is linear:
# no two quantifiers can share the same characters (possessive where they could).
_DOLLAR = re.compile(
    r"(?:\([\w.-]++\)\s)?+"                                # (venv)
    r"(?:\[[\w.-]++@[\w.-]++[^\]\n]*+\]|[\w.-]++@[\w.-]++(?::[^\s$#]*+)?+|[\w~/.-]++\s?+)?+"
    r"\$(?:\s(?P<cmd>.*))?$")
_ROOT = re.compile(r"(?:\[[\w.-]++@[\w.-]++[^\]\n]*+\]|[\w.-]++@[\w.-]++(?::[^\s#]*+)?+)?+"
                   r"#\s(?P<cmd>.*)$")
_NAMED_ROOT = re.compile(r"(?:\[[\w.-]++@[\w.-]++[^\]\n]*+\]|[\w.-]++@[\w.-]++:[^\s#]*+)#"
                         r"(?:\s|$)")
"""A root prompt that names its user and host (`[root@db1 ~]#`, `root@web:/#`): the block
uses root prompts, so a bare `# cmd` in it is a command too."""
_VERSIONED = re.compile(r"(?P<shell>(?:ba|z|k)?+sh)-\d++(?:\.\d++)*+(?P<mark>[$#])"
                        r"(?:\s(?P<cmd>.*))?$")
"""`sh-4.4$`, `sh-5.1#`, `bash-5.1$`: a shell started with no profile — inside a container."""
_PSQL = re.compile(r"(?P<db>[A-Za-z_]\w{0,62}+)(?P<mark>[=\-(][#>])(?:\s(?P<cmd>.*))?$")
"""`template1=#`, `app=>`, `pgbouncer=#`, and the continuation `app-#` / `app(#`."""
_MYSQL = re.compile(r"(?:mysql|MariaDB\s\[[^\]\n]{0,64}+\])>(?:\s(?P<cmd>.*))?$|"
                    r"->\s(?P<more>.*)$")
_REDIS = re.compile(r"(?:[\w-]++(?:\.[\w-]++)*+):\d{1,5}+(?:\[\d++\])?+>\s(?P<cmd>.*)$")
_RUBY = re.compile(r"(?:irb\([\w:]*+\):\d++:\d++[>*]|irb>|(?:\[\d++\]\s)?+pry(?:\([^)\n]*+\))?+>"
                   r"|>>|[\w-]++\(\w++\)>)(?:\s(?P<cmd>.*))?$")
"""`irb(main):001:0>`, `irb>`, `pry>`, `[1] pry(main)>`, `>>`, `app(prod)>` (Rails 7)."""
_MONGO = re.compile(r"(?:[\w-]++(?:\s\[[^\]\n]{0,64}+\])?+\s)?+(?:[\w-]++:)?+(?:PRIMARY|SECONDARY"
                    r"|primary|secondary|test|admin)>\s(?P<cmd>.*)$")
_GPG = re.compile(r"gpg(?:/card)?+>(?:\s(?P<cmd>.*))?$")
_POWERSHELL = re.compile(r"PS\s[A-Za-z]:\\[^>\n]*+>(?:\s(?P<cmd>.*))?$")
_PYTHON = re.compile(r">>>(?:\s(?P<cmd>.*))?$")
_BARE = re.compile(r">\s(?P<cmd>\S.*)$")
"""`> cmd`: a prompt of a console (`redis-cli`, `mongo`), of a shell written as `>`
(`> gpg --card-edit`), or output (`> GET / HTTP/1.1` from `curl -v`)."""
_HEREDOC_OPEN = re.compile(r"(?<!<)<<(?!<)-?+\s*+['\"]?+([A-Za-z_][\w.-]*+)")

ROOT_TOOLS = frozenset({
    "gitlab-ctl", "gitlab-rake", "gitlab-rails", "gitlab-psql", "gitlab-backup",
    "gitlab-redis-cli", "chef-client", "knife", "virtctl", "pcs", "crm", "patronictl",
    "pg_ctl", "pg_ctlcluster", "supervisorctl", "sv", "update-ca-certificates", "kubelet",
})
"""Administration commands seen after `# ` prompts that are not in shelltext's list."""

_PROSE = frozenset({"the", "a", "an", "that", "it", "to", "then", "and", "if", "of", "is",
                    "this", "these", "which", "when", "for", "you", "your", "we"})
"""Words that make a `# …` line prose (`# find the pod that failed`), not a command."""

SHELL = "shell"
ROOT = "root"
CONSOLES = {"root": "a root shell", "psql": "psql", "mysql": "mysql", "redis": "redis-cli",
            "mongo": "the mongo shell", "ruby": "a Ruby console", "gpg": "gpg's prompt",
            "powershell": "PowerShell", "python": "a Python console"}
"""Programs a typed line can go to, other than a shell: what they are called in messages."""


@dataclass(frozen=True)
class Line:
    """One typed line of a transcript."""

    offset: int
    """Line offset in the block as written."""
    text: str
    """The command, prompt stripped (a continuation line as written)."""
    shape: str
    """The prompt as written (`$`, `#`, `sh-4.4$`, `template1=#`, `mysql>`, ...); `` for a
    continuation line."""
    into: str
    """`` for the operator's own shell; else the program the line is typed into: `shell`
    (a shell on something else: a pod, a host) or a key of CONSOLES."""


@dataclass(frozen=True)
class Transcript:
    """A block read as a terminal transcript."""

    body: str
    """The typed lines, one per line (with their continuation lines); output dropped."""
    lines: tuple[int, ...]
    """For each line of `body`, its offset in the block as written."""
    prompts: tuple[int, ...]
    """Offsets (in the block as written) of the lines that had a prompt."""
    dropped: int
    """Output lines left out."""
    typed: tuple[Line, ...] = ()
    shapes: tuple[str, ...] = ()
    """The kinds of prompt seen (`$`, `#`, `shell-version`, `psql`, ...), once each."""


def _dollar(line: str) -> str | None:
    """The command after a `$ ` style prompt, `""` for a bare `$`, None when no prompt."""
    if not line or "$" not in line[:80]:
        return None
    m = _DOLLAR.match(line)
    if m is None:
        return None
    cmd = m.group("cmd")
    head = line[: m.start("cmd")] if cmd is not None else line
    if head.strip() not in ("$",) and not re.search(r"[@\]~/]|^\(", head):
        return None  # `word $ ...` is text, not a prompt; `user@host$`, `~/dir$` are prompts
    return cmd if cmd is not None else ""


def _reads_as_root_command(cmd: str, prompted: bool) -> bool:
    """What follows a `# ` reads as a command (`systemctl restart nginx`, `gitlab-ctl
    restart consul`), not prose (`Restart it.`, `Check the logs first`)."""
    s = cmd.strip()
    if not s or re.search(r"[.!?:]$", s) or _PROSE.intersection(s.lower().split()[1:6]):
        return False
    word = first_word(s)
    if word in ROOT_TOOLS or (looks_like_command(s) and word in KNOWN_COMMANDS):
        return True
    if not looks_like_command(s) and not re.fullmatch(r"[a-z][a-z0-9]*+(?:[-_][a-z0-9]++)++", word):
        return False
    words = s.split()
    return prompted or not (len(words) > 2 and all(w.isalpha() for w in words[:4]))


def _root(line: str, prompted: bool) -> str | None:
    m = _ROOT.match(line)
    if m is None:
        return None
    cmd = m.group("cmd")
    return cmd if _reads_as_root_command(cmd, prompted) else None


def _console(line: str, into: str) -> tuple[str, str, str] | None:
    """(command, shape, program) for a prompt of a console or a versioned shell."""
    m = _VERSIONED.match(line)
    if m:
        return m.group("cmd") or "", line[: m.start("mark") + 1], SHELL
    if "=" in line[:66] or "-" in line[:66] or "(" in line[:66]:
        m = _PSQL.match(line)
        if m and (m.group("cmd") is not None or line.rstrip() == line[: m.end("mark")]) and \
                (m.group("mark")[0] == "=" or into == "psql"):
            return m.group("cmd") or "", line[: m.end("mark")], "psql"
    for pattern, program in ((_MYSQL, "mysql"), (_REDIS, "redis"), (_RUBY, "ruby"),
                             (_MONGO, "mongo"), (_GPG, "gpg"), (_POWERSHELL, "powershell"),
                             (_PYTHON, "python")):
        m = pattern.match(line)
        if m is None:
            continue
        if program == "mysql" and m.group("more") is not None:
            if into != "mysql":
                continue
            return m.group("more"), "->", "mysql"
        return m.group("cmd") or "", line[: m.start("cmd")].rstrip() if m.group("cmd") \
            is not None else line.rstrip(), program
    return None


_OPENS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), into) for p, into in (
        (r"(?:^|[;&|]\s*+)(?:sudo\s++(?:-u\s++\S++\s++)?+)?+psql(?:\s|$)", "psql"),
        (r"(?:^|[;&|]\s*+)(?:sudo\s++)?+gitlab-psql(?:\s|$)", "psql"),
        (r"(?:^|[;&|]\s*+)(?:sudo\s++)?+(?:mysql|mariadb)(?:\s|$)", "mysql"),
        (r"(?:^|[;&|]\s*+)(?:sudo\s++)?+(?:gitlab-)?+redis-cli(?:\s|$)", "redis"),
        (r"(?:^|[;&|]\s*+)(?:mongo|mongosh)(?:\s|$)", "mongo"),
        (r"(?:^|[;&|]\s*+)(?:sudo\s++)?+(?:gitlab-rails\s++(?:console|c)|(?:bundle\s++exec\s++)?+"
         r"(?:bin/)?+rails\s++(?:console|c)|irb|pry)(?:\s|$)", "ruby"),
    )
)


_GPG_WORD = re.compile(r"(?:^|[\s;&|])gpg2?+\s")
_GPG_EDIT = re.compile(r"\s--(?:card-edit|edit-key|edit-card)\b")


def console_opened(command: str) -> str:
    """The console a command opens, when it is one whose typed lines are not shell lines
    (psql, mysql, redis-cli, mongo, a Rails console, gpg's prompt); `` otherwise."""
    for pattern, into in _OPENS:
        if pattern.search(command):
            return into
    if _GPG_EDIT.search(command) and _GPG_WORD.search(command):
        return "gpg"
    return ""


def read_prompts(body: str, console: bool, opened: str = "") -> Transcript | None:
    """The typed lines of a block written as a transcript, or None when it has no prompts.

    `$ ` prompts (also indented, `user@host$ `, `user@host:~/dir$ `, `[user@host dir]$ `,
    `(venv) $ `), root prompts (`[root@db1 ~]# `, `root@web:/# `, and a bare `# ` in a
    block that uses root or `$ ` prompts, a `console` block, or a block of nothing else),
    versioned shells (`sh-4.4$`, `bash-5.1#`), psql (`template1=#`, `app=>`), mysql, redis
    (`127.0.0.1:6379>`), mongo, Ruby consoles (`irb>`, `pry>`, `>>`), gpg, PowerShell and
    Python prompts, and `> cmd` when it is a command (or typed into redis or mongo). A
    prompt's `\\` continuation lines (and here-document lines after `> `) belong to it;
    every other line is output. `opened`: the console a session from an earlier block has
    open (its prompts are read as such: `> info` in redis)."""
    lines = body.split("\n")
    if lines and lines[-1] == "":
        lines = lines[:-1]
    stripped = [ln.lstrip() for ln in lines]
    dollar = any(_dollar(s) is not None for s in stripped)
    rooted = dollar or console or any(_NAMED_ROOT.match(s) or (
        (m := _VERSIONED.match(s)) and m.group("mark") == "#") for s in stripped)
    if not rooted:  # a block of nothing but `# command` lines: root prompts, not comments
        hashed = [s for s in stripped if s]
        rooted = bool(hashed) and all(
            s.startswith("# ") and _reads_as_root_command(s[2:], False) for s in hashed)
    out: list[str] = []
    where: list[int] = []
    prompts: list[int] = []
    typed: list[Line] = []
    shapes: dict[str, None] = {}
    into = opened
    cont = False
    heredoc = ""
    dropped = 0
    for i, line in enumerate(stripped):
        if cont or heredoc:
            text = line[2:] if heredoc and line.startswith("> ") else lines[i]
            if heredoc and text.strip() == heredoc:
                heredoc = ""
            out.append(text)
            where.append(i)
            typed.append(Line(i, text, "", into))
            cont = not heredoc and text.rstrip().endswith("\\")
            continue
        found = _prompt(line, rooted, into)
        if found is None:
            if line.strip():
                dropped += 1
            continue
        cmd, shape, program = found
        shapes.setdefault(_kind(shape, program), None)
        prompts.append(i)
        if program:
            into = program
        if not cmd.strip():
            continue
        if not program and into in CONSOLES:
            into = ""  # a `$ ` after psql's prompts: back at a shell
        out.append(cmd)
        where.append(i)
        typed.append(Line(i, cmd, shape, into))
        opens = console_opened(cmd)
        if opens:
            into = opens
        elif re.fullmatch(r"\s*+(?:exit|logout|quit|\\q|\\quit|exit\(\)|quit\(\)|exit;)\s*+",
                          cmd):
            into = "" if into in CONSOLES else into
        cont = cmd.rstrip().endswith("\\")
        m = _HEREDOC_OPEN.search(cmd)
        heredoc = m.group(1) if m and not cont else ""
    if not prompts:
        return None
    if not dollar and typed and all(t.shape.endswith("#") for t in typed if t.shape) and \
            all(not t.into for t in typed):  # typed as root somewhere: not on this machine
        typed = [Line(t.offset, t.text, t.shape, ROOT) for t in typed]
    return Transcript("\n".join(out) + "\n" if out else "", tuple(where), tuple(prompts),
                      dropped, tuple(typed), tuple(shapes))


def _prompt(line: str, rooted: bool, into: str) -> tuple[str, str, str] | None:
    """(command, prompt as written, program: `` for a plain shell prompt) or None."""
    cmd = _dollar(line)
    if cmd is not None:
        return cmd, line[: len(line) - len(cmd)].rstrip() or "$", ""
    if rooted:
        cmd = _root(line, True)
        if cmd is not None:
            return cmd, line[: len(line) - len(cmd)].rstrip() or "#", ""
    found = _console(line, into)
    if found is not None:
        return found
    m = _BARE.match(line)
    if m is not None:
        cmd = m.group("cmd")
        if into in ("redis", "mongo", "gpg"):
            return cmd, ">", into
        if looks_like_command(cmd) and first_word(cmd) in KNOWN_COMMANDS | ROOT_TOOLS and \
                not re.match(r"[A-Z]", cmd):
            return cmd, ">", ""
    return None


def _kind(shape: str, program: str) -> str:
    """What kind of prompt `shape` is, for counting: `$`, `#`, `>`, `shell-version`, or the
    console (`psql`, `redis`...)."""
    if program == SHELL:
        return "shell-version"
    if program:
        return program
    return "#" if shape.endswith("#") else ">" if shape == ">" else "$"
