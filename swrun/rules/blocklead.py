"""What the paragraph before a block says about where the block runs — on another host, in
a console session, in another repository — and the few commands that need a person which
`shelltext.interactive` does not know (`rake edit_role[…]`, `ssh host -D 5000`)."""

from __future__ import annotations

import re

from swrun.rules.inline import (
    _API_CLIENTS,
    _RUN,
    _SENTENCE_END,
    _SPAN,
    SAYS,
    _host_phrase,
    _negated,
    _words,
)
from swrun.rules.shelltext import (
    Interactive,
    first_word,
    logical_lines,
    looks_like_command,
    split_commands,
)

_SESSION_LANGS = frozenset({"ruby", "rb", "irb", "sql", "psql", "mysql", "pgsql", "plpgsql",
                            "postgresql", "postgres", "redis", "cql", "hql"})
_SESSION_WORDS = frozenset({"console", "shell", "prompt", "psql", "mysql", "irb", "rails",
                            "redis-cli", "sqlite3", "mongosh", "session", "repl", "database",
                            "db"})
_SESSION_TOOLS = frozenset({"gitlab-rails", "gitlab-psql", "gitlab-rake", "rails", "irb",
                            "psql", "mysql", "redis-cli", "mongosh", "mongo", "sqlite3",
                            "bin/rails", "console", "pry"})
_REPO = re.compile(r"\b(?:in|to|into|inside|of)\s++(?:the\s++|your\s++)?+([`\w./-]{1,80}+)"
                   r"\s++(?:repo|repository|project|checkout|clone)\b", re.I)
_GIT_WRITE = re.compile(r"(?:^|[;&|(]\s*+)git\s++(?:commit|push)\b", re.M)
_CD = re.compile(r"(?:^|[;&|(]\s*+)(?:cd|pushd)\s|\bgit\s++-C\s", re.M)
_EDITOR_TASKS = re.compile(
    r"(?:^|[;&|]\s*+)(?:sudo\s++)?(?:bundle\s++exec\s++)?rake\s++['\"]?edit_\w++"
    r"|\bknife\s++(?:role|node|environment|data\s++bag|client|user|cookbook)\s++edit\b"
    r"|\bknife\s++edit\b")


def opens_editor(body: str) -> int | None:
    """The line offset of a command that opens an editor the shell rules do not know
    (`rake edit_role[…]`, `knife role edit`), or None."""
    if "edit" not in body:
        return None
    for offset, text in logical_lines(body):
        if _EDITOR_TASKS.search(text):
            return offset
    return None


def ssh_open(body: str) -> tuple[int, str, bool] | None:
    """`ssh host -D 5000`, `ssh -N -L …`: ssh with no remote command, options after the host
    too (ssh reads them there). (offset, what, opens a session) or None."""
    if "ssh" not in body:
        return None
    for offset, text in logical_lines(body):
        for part in split_commands(text):
            got = _ssh_shape(part.split())
            if got is not None:
                return offset, got[0], got[1]
    return None


_SSH_ARG = frozenset("BbcDEeFIiJLlmOopQRSWw")


def _ssh_shape(words: list[str]) -> tuple[str, bool] | None:
    k = 0
    while k < len(words) and (words[k] == "sudo" or ("=" in words[k] and k == 0)):
        k += 1
    if k >= len(words) or words[k] != "ssh":
        return None
    host = ""
    flags: set[str] = set()
    i = k + 1
    while i < len(words):
        w = words[i]
        if w.startswith("-") and len(w) > 1:
            for j, c in enumerate(w[1:], 1):
                flags.add(c)
                if c in _SSH_ARG:
                    if j == len(w) - 1:
                        i += 1
                    break
        elif host:
            return None  # a remote command: it ends when the command does
        else:
            host = w
        i += 1
    if not host or flags & {"f", "O", "G", "V"} or words[-1].endswith("&"):
        return None
    if "N" in flags or "W" in flags:
        return "never ends (an ssh tunnel)", False
    return "opens a session on another host", True


def block_reason(lead: str, language: str, body: str, shell: bool) -> str:
    """Why a block the parser would run (or only show) is a step for a person, from the
    paragraph before it (`lead`, code spans in backticks), or empty.

    - a shell block the text says runs on another host ("log in to the worker and run:")
      whose commands do not reach it themselves (`ssh`, `kubectl`, … do);
    - a Ruby/SQL block the text says to type into a console ("in the Rails console, run:");
    - `git commit`/`git push` the text places in another repository, with no `cd` to it."""
    lang = language.lower()
    words = _lead_words(lead)
    if lang in _SESSION_LANGS:
        session = _session(lead, words)
        if session:
            return f"{session} {SAYS}"
        return ""
    if not lead or not shell:
        return ""
    # "Log in to the worker. Then restart it:" — a login anywhere in the paragraph; "on the
    # node" only in the sentence that leads into the block
    host = _host_phrase(_lead_words(_last_sentence(lead))) or \
        _host_phrase(_lead_words(lead), login_only=True)
    if host and not reaches(body):
        return f"runs on {host} {SAYS}"
    if _GIT_WRITE.search(body) and not _CD.search(body):
        m = _REPO.search(lead)
        if m and m.group(1).strip("`").lower() not in ("this", "same", "runbook", "current"):
            return f"runs in the {m.group(1).strip('`')} repository, not this folder {SAYS}"
    return ""


_CODE = re.compile(r"`([^`\n]*+)`")


def _lead_words(text: str) -> list[str]:
    """Words of a lead written with backticks: a command span is one `\\x00`."""
    return _words(_CODE.sub(lambda m: f" {_SPAN} " if looks_like_command(m.group(1))
                            else f" {m.group(1)} ", text))


def _last_sentence(lead: str) -> str:
    parts = [p for p in _SENTENCE_END.split(lead) if p.strip()]
    return parts[-1] if parts else lead


def reaches(body: str) -> bool:
    """Every command of the block acts from here on something else (`ssh host cmd`,
    `kubectl …`), or the block has no command."""
    for _, text in logical_lines(body):
        for part in split_commands(text):
            s = part.strip()
            if s and not s.startswith("#") and first_word(s) not in _API_CLIENTS:
                return False
    return True


def _session(lead: str, words: list[str]) -> str:
    """`to type in `sudo gitlab-rails console`` when the lead says to run the block in a
    console (naming its command when it does), else empty."""
    cue = any(w in _RUN and not _negated(words, k) for k, w in enumerate(words))
    told = any(w in _SESSION_WORDS for w in words)
    if not (cue or (told and lead.rstrip().endswith(":"))):
        return ""
    for code in _CODE.findall(lead):
        if first_word(code).split("/")[-1] in _SESSION_TOOLS or \
                (looks_like_command(code) and any(t in code.split() for t in _SESSION_TOOLS)):
            return f"to type in `{code.strip()}`"
    tool = next((w for w in words if w in _SESSION_TOOLS and w != "console"), "")
    if tool == "rails" or (told and "rails" in words):
        return "to type in the Rails console"
    if tool:
        return f"to type in a {tool} session"
    if told:
        return "to type in the console the text names"
    return "to run in the console the text names"


def also_interactive(body: str) -> Interactive | None:
    """What `shelltext.interactive` does not know yet: an editor a task opens, ssh with
    options after the host and no command."""
    at = opens_editor(body)
    if at is not None:
        return Interactive(at, "opens an editor")
    got = ssh_open(body)
    if got is not None:
        return Interactive(*got)
    return None


def fix_for(manual: str) -> str:
    """`swrun check`'s fix for a block the text makes manual (`manual` ends with SAYS)."""
    if manual.startswith("to "):
        return ("run it in a shell block through the console's batch form (`gitlab-rails "
                "runner '…'`, `psql -c '…'`), or write ```text to only show it")
    if manual.startswith("runs in the "):
        return "add a `cd` to that repository's checkout first, or ```text to only show it"
    return ("add hosts=NAME to run it on an inventory host, `run` if it is meant for this "
            "machine, or ```text to only show it")
