"""Placeholders in shell text written for people (`<pod>`, `YOUR_TOKEN`, `{{region}}`, `=...`)
and the shell variables they become: where each is quoted (`contexts`), its variable's name,
and the names a placeholder may not take (the shell, the system or swrun owns them). Pure
functions over text; `shelltext` re-exports these names."""

from __future__ import annotations

import re
from dataclasses import dataclass

from swrun.envnames import unsafe
from swrun.rules.placeholders import shapes as more_shapes

RESERVED = frozenset({
    # bash's own (bash(1), "Shell Variables"): set by it, or read by it to change what it does
    "BASH", "BASHOPTS", "BASHPID", "BASH_ALIASES", "BASH_ARGC", "BASH_ARGV", "BASH_ARGV0",
    "BASH_CMDS", "BASH_COMMAND", "BASH_COMPAT", "BASH_ENV", "BASH_EXECUTION_STRING",
    "BASH_LINENO", "BASH_LOADABLES_PATH", "BASH_REMATCH", "BASH_SOURCE", "BASH_SUBSHELL",
    "BASH_VERSINFO", "BASH_VERSION", "BASH_XTRACEFD", "CDPATH", "CHILD_MAX", "COLUMNS",
    "COMPREPLY", "COPROC", "DIRSTACK", "EMACS", "ENV", "EPOCHREALTIME", "EPOCHSECONDS", "EUID",
    "EXECIGNORE", "FCEDIT", "FIGNORE", "FUNCNAME", "FUNCNEST", "GLOBIGNORE", "GLOBSORT",
    "GROUPS", "HISTCHARS", "HISTCMD", "HISTCONTROL", "HISTFILE", "HISTFILESIZE",
    "HISTIGNORE", "HISTSIZE", "HISTTIMEFORMAT", "HOME", "HOSTFILE", "HOSTNAME", "HOSTTYPE",
    "IFS", "IGNOREEOF", "INPUTRC", "INSIDE_EMACS", "LANG", "LANGUAGE", "LINENO", "LINES",
    "MACHTYPE", "MAIL", "MAILCHECK", "MAILPATH", "MAPFILE", "OLDPWD", "OPTARG", "OPTERR",
    "OPTIND", "OSTYPE", "PATH", "PIPESTATUS", "POSIXLY_CORRECT", "PPID", "PROMPT_COMMAND",
    "PROMPT_DIRTRIM", "PS0", "PS1", "PS2", "PS3", "PS4", "PWD", "RANDOM", "REPLY", "SECONDS",
    "SHELL", "SHELLOPTS", "SHLVL", "SRANDOM", "TIMEFORMAT", "TMOUT", "TMPDIR", "UID",
    # read by the system, the dynamic loader and the interpreters a step starts
    "USER", "LOGNAME", "TERM", "TZ", "NLSPATH", "EDITOR", "VISUAL", "PAGER", "DISPLAY",
    "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "NODE_OPTIONS", "NODE_PATH", "PERL5OPT",
    "PERL5LIB", "RUBYOPT", "RUBYLIB", "GCONV_PATH", "LOCPATH", "HOSTALIASES", "RES_OPTIONS",
    "KUBECONFIG_PATH", "_",
})
"""Names a placeholder must not take: the shell or the system owns them (`<path>` must not
replace $PATH, `<shellopts>` must not turn on `xtrace`). Such a placeholder's variable gets
`_VALUE` added: `<path>` → PATH_VALUE. So do names with a prefix in `OWNED_PREFIXES`."""
OWNED_PREFIXES = ("SWRUN_", "BASH_", "LC_", "LD_", "COMP_", "READLINE_", "MALLOC_",
                  "GLIBC_", "DYLD_")


def shell_owned(name: str) -> bool:
    """The shell, the system or swrun owns `name` (case as bash sees it: upper), or it makes
    a shell, the loader or an interpreter run code (`envnames.unsafe`, the one list a
    carried shell state refuses too)."""
    upper = name.upper()
    return upper == name and (name in RESERVED or name.startswith(OWNED_PREFIXES)
                              or unsafe(name))


_STOP = frozenset({"value", "of", "the", "from", "a", "an", "your", "my", "for", "to", "in",
                   "with", "enter", "insert", "put", "here", "replace", "this"})
_GO_WORDS = frozenset({"end", "else", "range", "if", "with", "define", "template", "block",
                       "break", "continue", "nil", "true", "false"})

ANGLE = re.compile(r"<([A-Za-z][A-Za-z0-9_.-]*(?: [A-Za-z0-9_.-]+){0,7})>")
_YOUR = re.compile(r"(?<![\w$/{.-])YOUR_[A-Z0-9_]*[A-Z0-9]\b")
_MUSTACHE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")
_CLOSING = re.compile(r"</([A-Za-z][A-Za-z0-9_.-]*+(?: [A-Za-z0-9_.-]++){0,7})>")
_ELLIPSIS = re.compile(r"(?<==)(?:\.\.\.|…)(?=$|[\s'\";|&)])", re.MULTILINE)
BRACED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_KEY_BEFORE = re.compile(r"(?:^|[\s;(])(?:export\s+|local\s+|readonly\s+)?([A-Za-z_]\w*)=['\"]?$")
_FLAG_BEFORE = re.compile(r"--?([A-Za-z][\w.-]*)=['\"]?$")


@dataclass(frozen=True)
class Placeholder:
    text: str
    """As written: `<pod>`, `YOUR_TOKEN`, `{{region}}`, `=...`."""
    name: str
    """The variable that supplies it."""
    offset: int
    """Line offset in the body."""
    fillable: bool = True
    """False in a quoted here-document (`<<'EOF'`): no expansion happens there."""
    choices: tuple[str, ...] = ()
    """`[user|group]`: the values it may take."""
    span: tuple[int, int] = (0, 0)
    """Where it is in the body (start, end)."""


def var_name(text: str) -> str:
    """`<node-name>` → NODE_NAME, `<value of instance label from alert>` →
    INSTANCE_LABEL_ALERT, `YOUR_API_TOKEN` → API_TOKEN, `<path>` → PATH_VALUE."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", text) if w]
    kept = [w for w in words if w.lower() not in _STOP] or words or ["VALUE"]
    name = "_".join(kept[:4]).upper()
    if name.startswith("YOUR_") and len(name) > 5:
        name = name[5:]
    if not re.match(r"[A-Z_]", name):
        name = "V_" + name
    return owned_renamed(name)


def owned_renamed(name: str) -> str:
    """`name`, with `_VALUE` added when the shell or the system owns it."""
    return name + "_VALUE" if shell_owned(name) else name


_HEREDOC = re.compile(r"<<-?\s*+(['\"]?)([A-Za-z_][\w.-]*+)\1")


PLAIN, SINGLE, DOUBLE, COMMENT, HEREDOC, QUOTED_HEREDOC = range(6)
"""What quotes a character of shell text: how a placeholder there is written as a variable."""


def contexts(text: str) -> bytearray:
    """Per character, by the shell's grammar: PLAIN (a command's words), SINGLE ('…' or
    $'…'), DOUBLE ("…"), COMMENT, HEREDOC (an unquoted here-document's body: expanded) or
    QUOTED_HEREDOC (<<'EOF': nothing expanded).

    A command substitution — `$(…)` or `…` — starts a new command wherever it is, in
    double quotes too: `"$(kubectl get "<pod>")"` has <pod> inside quotes of its own, and
    `"$(echo '<pod>')"` has it in single quotes. One pass, a stack of what is open."""
    ctx = bytearray(len(text))  # PLAIN (0) unless set
    n = len(text)
    # what is open, innermost last: "cmd" (the script), "sub" (a `$(`), "tick" (a backtick),
    # "'", "$'", '"', "#" (a comment); `depth`: the parentheses open in each. Characters
    # that change nothing are skipped a run at a time (a pattern finds the next that may).
    stack = ["cmd"]
    depth = [0]
    pending: list[tuple[str, bool]] = []  # here-docs opened on this line: (delimiter, quoted)
    i = 0
    while i < n:
        kind = stack[-1]
        if kind in ("cmd", "sub", "tick"):
            m = _CODE_STOP.search(text, i)
            if m is None:
                break
            i = m.start()
            ch = text[i]
            if ch == "\\":
                i += 2
                continue
            opens = ""
            if ch in "'\"":
                opens = ch
            elif ch == "$":
                if text.startswith(("$'", "$("), i):
                    ctx[i + 1] = SINGLE if text[i + 1] == "'" else PLAIN
                    opens = "$'" if text[i + 1] == "'" else "sub"
                    i += 1
            elif ch == "#":
                if i == 0 or text[i - 1] in " \t\n;|&(`":
                    opens = "#"
                    ctx[i] = COMMENT
            elif ch == "`":
                if kind == "tick":
                    stack.pop()
                    depth.pop()
                else:
                    opens = "tick"
            elif ch in "()":
                if kind == "sub" and ch == ")" and not depth[-1]:
                    stack.pop()
                    depth.pop()
                elif kind == "sub":
                    depth[-1] += 1 if ch == "(" else -1
            elif ch == "<":
                if text.startswith("<<", i) and not text.startswith("<<<", i):
                    m = _HEREDOC.match(text, i)
                    if m:
                        pending.append((m.group(2), bool(m.group(1))))
            elif pending:  # a newline ends the line the here-documents were opened on
                i = _heredoc_bodies(text, i + 1, pending, ctx)
                pending = []
                continue
            if opens:
                stack.append(opens)
                depth.append(0)
            i += 1
        elif kind == "'":
            end = text.find("'", i)
            end = n - 1 if end == -1 else end
            ctx[i:end + 1] = bytes([SINGLE]) * (end + 1 - i)
            stack.pop()
            depth.pop()
            i = end + 1
        elif kind in ('"', "$'"):
            m = (_DOUBLE_STOP if kind == '"' else _ANSI_STOP).search(text, i)
            end = n if m is None else m.start()
            mark = DOUBLE if kind == '"' else SINGLE
            ctx[i:end + 1] = bytes([mark]) * (min(end + 1, n) - i)
            if m is None:
                break
            i = end
            ch = text[i]
            if ch == "\\":
                if i + 1 < n:
                    ctx[i + 1] = mark
                i += 2
            elif ch in "\"'":
                stack.pop()
                depth.pop()
                i += 1
            else:  # "`" or "$(" in double quotes: a new command
                stack.append("tick" if ch == "`" else "sub")
                depth.append(0)
                if ch == "$":
                    ctx[i + 1] = DOUBLE
                    i += 1
                i += 1
        else:  # a comment, to the end of its line; the newline is read in what is open
            end = text.find("\n", i)
            end = n if end == -1 else end
            ctx[i:end] = bytes([COMMENT]) * (end - i)
            stack.pop()
            depth.pop()
            i = end
    return ctx


_CODE_STOP = re.compile(r"[\\'\"#$`()<\n]")
_DOUBLE_STOP = re.compile(r'[\\"`]|\$\(')
_ANSI_STOP = re.compile(r"[\\']")


_contexts = contexts  # its name before it was public (kept for importers)


def _heredoc_bodies(text: str, j: int, pending: list[tuple[str, bool]], ctx: bytearray) -> int:
    """Mark the bodies of the here-documents opened on the line ending at `j`; returns
    where the script goes on."""
    n = len(text)
    for delim, quoted in pending:
        while j < n:
            end = text.find("\n", j)
            end = n if end == -1 else end
            if text[j:end].strip() == delim:
                j = end + 1
                break
            ctx[j:end + 1] = bytes([QUOTED_HEREDOC if quoted else HEREDOC]) * (end + 1 - j)
            j = end + 1
    return j


def find_placeholders(body: str, skip_names: frozenset[str] = frozenset(), *,
                      as_text: bool = False) -> tuple[str, list[Placeholder]]:
    """The placeholders in a shell body and the body rewritten so that each is an environment
    variable: `<pod>` → `"${POD}"` (in double quotes `${POD}`, in single quotes `'"${POD}"'`):
    the value the operator gives reaches the command as data, never as shell text.
    A placeholder in a comment is left alone; in a quoted here-document it is found but not
    rewritten (`fillable=False`). `skip_names`: `<tag>` pairs seen as markup.
    `as_text`: the content of a file a step writes, not shell: nothing is rewritten (the
    file executor fills each `span` in), `{{x}}` is another tool's template."""
    ctx = bytearray(len(body)) if as_text else contexts(body)
    found: list[tuple[int, int, str, str]] = []  # start, end, text, name
    taken = bytearray(len(body))

    def add(start: int, end: int, text: str, name: str) -> None:
        if any(taken[start:end]) or (start < len(ctx) and ctx[start] == COMMENT):
            return
        taken[start:end] = b"\1" * (end - start)
        found.append((start, end, text, name))

    closed = set(_CLOSING.findall(body))  # `<b>…</b>`: markup
    for m in ANGLE.finditer(body):
        inner = m.group(1)
        if inner in closed or inner.lower() in _HTML:
            continue
        before = body[max(0, m.start() - 80):m.start()]
        key = _KEY_BEFORE.search(before)
        flag_before = _FLAG_BEFORE.search(before)
        if " " in inner and key is not None:
            name = owned_renamed(key.group(1)) if key.group(1).isupper() else \
                var_name(key.group(1))
        else:
            name = var_name(inner)
        if flag_before is not None and inner.lower() in ("value", "val", "x"):
            name = var_name(flag_before.group(1))
        add(m.start(), m.end(), m.group(0), name)
    for m in _YOUR.finditer(body):
        add(m.start(), m.end(), m.group(0), var_name(m.group(0)))
    for m in _MUSTACHE.finditer(body):
        if as_text or m.group(1).lower() in _GO_WORDS:
            continue
        add(m.start(), m.end(), m.group(0), var_name(m.group(1)))
    for m in _ELLIPSIS.finditer(body):
        before = body[max(0, m.start() - 80):m.start()]
        key = _KEY_BEFORE.search(before) or _FLAG_BEFORE.search(before) or \
            re.search(r"([A-Za-z][\w.-]*)=['\"]?$", before)
        if key is None:
            continue
        add(m.start(), m.end(), "=" + m.group(0), var_name(key.group(1)))
    unfillable: set[int] = set()
    choices: dict[int, tuple[str, ...]] = {}
    for shape in more_shapes(body, as_text=as_text):
        if any(taken[shape.start:shape.end]) or (shape.kind == "choice" and ctx[shape.start]):
            continue  # `[a|b]` in quotes is a usage line's text
        add(shape.start, shape.end, shape.text,
            owned_renamed(shape.exact) if shape.exact else var_name(shape.words))
        if not shape.fillable:
            unfillable.add(shape.start)
        if shape.choices:
            choices[shape.start] = shape.choices
    found.sort()
    out: list[str] = []
    places: list[Placeholder] = []
    last = 0
    offset = counted = 0
    for start, end, text, name in found:
        if name in skip_names:
            continue
        c = ctx[start] if start < len(ctx) else 0
        offset += body.count("\n", counted, start)  # counted once: 100,000 placeholders
        counted = start
        if c == QUOTED_HEREDOC or start in unfillable or as_text:
            places.append(Placeholder(text, name, offset, fillable=as_text and (
                start not in unfillable), choices=choices.get(start, ()), span=(start, end)))
            continue
        out.append(body[last:start])
        out.append({PLAIN: f'"${{{name}}}"', SINGLE: f"'\"${{{name}}}\"'",
                    DOUBLE: f"${{{name}}}", HEREDOC: f"${{{name}}}"}.get(c, f'"${{{name}}}"'))
        last = end
        places.append(Placeholder(text, name, offset, choices=choices.get(start, ()),
                                  span=(start, end)))
    out.append(body[last:])
    return "".join(out), places


_HTML = frozenset({
    "a", "abbr", "b", "br", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "html", "i",
    "img", "li", "meta", "ol", "p", "pre", "script", "span", "strong", "style", "tbody", "td",
    "th", "thead", "tr", "u", "ul", "svg", "g", "kbd", "iframe", "video", "audio", "canvas",
    "sub", "sup", "xml",
})
"""Tags read as markup, not placeholders (`<path>`, `<source>`, `<title>` stay placeholders
unless their closing tag is in the block too)."""
