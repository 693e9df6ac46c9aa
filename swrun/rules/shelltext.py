"""What a block of shell text written for people holds: prompts and their output, commands a
person must run (an editor, a session, a command that never ends), placeholders a person must
fill in. Pure functions over text; the parser turns their answers into steps and variables."""

from __future__ import annotations

import re
from dataclasses import dataclass

from swrun.envnames import unsafe

# -- commands --------------------------------------------------------------------------------
KNOWN_COMMANDS = frozenset({
    "kubectl", "oc", "helm", "docker", "podman", "crictl", "ctr", "nerdctl", "kind",
    "minikube", "k3s", "kubeadm", "etcdctl", "istioctl", "linkerd", "argocd", "flux",
    "kustomize", "velero", "skopeo", "buildah", "git", "gh", "curl", "wget", "ssh", "scp",
    "sftp", "rsync", "systemctl", "service", "journalctl", "sudo", "su", "apt", "apt-get",
    "yum", "dnf", "zypper", "apk", "brew", "snap", "pip", "pip3", "pipx", "npm", "npx", "yarn",
    "pnpm", "node", "deno", "python", "python3", "ruby", "perl", "php", "go", "cargo", "rustc",
    "java", "javac", "mvn", "gradle", "make", "cmake", "cd", "ls", "cat", "echo", "printf",
    "export", "unset", "mkdir", "rmdir", "rm", "cp", "mv", "ln", "chmod", "chown", "chgrp",
    "touch", "grep", "egrep", "fgrep", "sed", "awk", "find", "xargs", "tail", "head", "less",
    "more", "ps", "kill", "pkill", "pgrep", "top", "htop", "df", "du", "free", "aws", "gcloud",
    "gsutil", "bq", "az", "doctl", "terraform", "tofu", "packer", "vagrant", "ansible",
    "ansible-playbook", "ansible-galaxy", "pm2", "mongo", "mongosh", "mongodump",
    "mongorestore", "mysql", "mysqldump", "psql", "pg_dump", "pg_restore", "redis-cli",
    "openssl", "tar", "gzip", "gunzip", "zip", "unzip", "source", "nginx", "apachectl",
    "crontab", "watch", "vi", "vim", "nano", "emacs", "jq", "yq", "sort", "uniq", "wc", "tee",
    "env", "set", "eval", "exec", "sh", "bash", "zsh", "dash", "nohup", "screen", "tmux",
    "ping", "traceroute", "nc", "netcat", "telnet", "dig", "nslookup", "host", "certbot",
    "htpasswd", "useradd", "usermod", "userdel", "groupadd", "passwd", "sleep", "time",
    "timeout", "lsof", "netstat", "ss", "ip", "ifconfig", "iptables", "ufw", "firewall-cmd",
    "hostname", "hostnamectl", "uname", "whoami", "id", "date", "mount", "umount", "lsblk",
    "fdisk", "mkfs", "reboot", "shutdown", "timedatectl", "ssh-keygen", "ssh-add",
    "ssh-copy-id", "gpg", "base64", "sha256sum", "md5sum", "test", "true", "false", "chroot",
    "debug", "vault", "consul", "nomad", "heroku", "firebase", "eksctl", "rosa", "ocm",
    "osdctl", "hypershift", "clusteradm", "cmctl", "promtool", "amtool", "prometheus",
    "alertmanager", "sysctl", "dmesg", "mdadm", "smartctl", "iostat", "vmstat", "sar",
    "strace", "tcpdump", "systemd-analyze", "loginctl", "modprobe", "lsmod", "dpkg", "rpm",
    "update-alternatives", "diff", "patch", "install", "read", "wait", "trap", "cut", "tr",
    "file", "stat", "realpath", "basename", "dirname", "readlink", "which", "type", "command",
    "alias", "unalias", "pushd", "popd", "pwd", "history", "exit", "logout", "http", "httpie",
    "siege", "ab", "hey", "k6", "locust", "kubectx", "kubens", "stern", "k9s", "dotnet",
    "flyway", "liquibase",
})
SHELL_WORDS = frozenset({"if", "then", "else", "elif", "fi", "for", "while", "until", "do",
                         "done", "case", "esac", "function", "{", "}", "[[", "[", "!"})
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_WORD = re.compile(r"[^\s;|&<>()]+")


def first_word(line: str) -> str:
    """The command word of a line: after `sudo`/`time`/`env`/`VAR=x` prefixes."""
    words = line.strip().split()
    i = 0
    while i < len(words):
        w = words[i]
        if _ASSIGNMENT.match(w) or w in ("sudo", "time", "nohup", "env", "exec", "command"):
            i += 1
            while w == "sudo" and i < len(words) and words[i].startswith("-"):
                i += 1
            continue
        return w
    return words[-1] if words else ""


def looks_like_command(line: str) -> bool:
    """A line a person would type at a shell (not output, YAML, a log line or a query)."""
    s = line.strip()
    if not s or s.startswith("#"):
        return False
    if re.match(r"[\w.-]+:(\s|$)", s) and not s.startswith(("http:", "https:")):
        return False  # `key: value` (YAML), `ERROR: ...` (a log line)
    words = s.split()
    if _ASSIGNMENT.match(words[0]) and len(words) == 1 and "(" not in s.split("=", 1)[0]:
        return True  # `NAME=value`
    word = first_word(s)
    if word in SHELL_WORDS:
        return True
    if word.startswith(("./", "~/", "/usr/", "/bin/", "/opt/", "/sbin/", "/usr/local/")):
        return True
    return word in KNOWN_COMMANDS


def logical_lines(body: str) -> list[tuple[int, str]]:
    """(offset of the first line, text) of each command line, `\\` continuations joined."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    start = 0
    for i, line in enumerate(body.split("\n")):
        if not buf:
            start = i
        if line.rstrip().endswith("\\"):
            buf.append(line.rstrip()[:-1])
            continue
        buf.append(line)
        out.append((start, " ".join(buf)))
        buf = []
    if buf:
        out.append((start, " ".join(buf)))
    return out


def mostly_commands(body: str) -> bool:
    """Most lines of `body` are commands, the first one included: a block to run."""
    lines = [t for _, t in logical_lines(body) if t.strip() and not t.strip().startswith("#")]
    if not lines or not looks_like_command(lines[0]):
        return False
    hits = sum(looks_like_command(t) for t in lines)
    return hits * 10 >= len(lines) * 6


# -- prompts: swrun/rules/prompts.py ------------------------------------------------------


# -- commands a person must run --------------------------------------------------------------
@dataclass(frozen=True)
class Interactive:
    offset: int
    """Line offset in the body."""
    what: str
    """What the command needs: `opens an editor`, `opens a session`, `never ends`..."""
    session: bool = False
    """It opens a shell on something else: the blocks after it are typed into that shell."""


_CLIENTS = r"(?:kubectl|oc|docker|podman|crictl|nerdctl)"
_IT = r"(?:-it|-ti|-i\s+-t|-t\s+-i|--stdin\s+--tty|--tty\s+--stdin|-i\s+--tty|--stdin\s+-t)\b"
_SHELLS = r"(?:/bin/)?(?:ba|z|a|c|k)?sh\b"


def _after(command: str) -> str:
    """`^` then `command` and its spaces at their first place, kept (an atomic group): the
    words any later `command` is followed by follow the first one too, so a pattern that
    goes on from there (`(?:\\S+\\s+)*?edit`) is tried from one place only — linear in
    the line, where a plain search tried it again after each of 10,000 `kubectl`s."""
    return rf"^(?>.*?\b{command}\s+)"


def _then(word: str) -> str:
    """The first `word` among the words that follow, kept (atomic): a later one could only
    leave less of the line for what comes after it."""
    return rf"(?>(?:\S+\s+)*?{word})"


_PATTERNS: tuple[tuple[re.Pattern[str], str, bool], ...] = tuple(
    (re.compile(p), what, session) for p, what, session in (
        (_after(_CLIENTS) + _then(r"edit\b"), "opens an editor", False),
        (r"(?:^|[\s;&|])(?:\$EDITOR|\$\{EDITOR\}|\$VISUAL|vi|vim|nvim|nano|emacs|visudo|vipw)"
         r"(?:\s|$)", "opens an editor", False),
        (r"\bcrontab\s+(?:-\w\s+)*-e\b", "opens an editor", False),
        # the last -it after `exec` (atomic): when `-- cmd` follows it, it follows every one
        (_after(_CLIENTS) + _then(r"(?:exec|run|attach|debug)\s+") + rf"(?>(?:.*\s)?{_IT})"
         r"(?!.*--\s+\S)", "opens an interactive session", True),
        (_after(_CLIENTS) + _then(r"(?:exec|run|debug)\s+") + rf"(?>(?:.*?\s)??{_IT})"
         rf".*--\s+{_SHELLS}\s*$", "opens an interactive session", True),
        (_after(_CLIENTS) + _then(r"(?:exec|run)\s+") + rf"(?:.*\s)?{_IT}", "needs a terminal",
         False),
        (r"\boc\s+debug\s+\S+\s*$", "opens an interactive session", True),  # no `-- cmd`
        (r"\boc\s+(?:rsh|rsh\s+\S+)\s*$", "opens an interactive session", True),
        (r"(?:^|[;&|]\s*)(?:sudo\s+)?ssh\s+(?:-\w+(?:\s+[^-\s]\S*)?\s+)*[^-\s]\S*\s*$",
         "opens a session on another host", True),
        (r"\bsudo\s+(?:su\b|-i\s*$|-s\s*$|bash\s*$|-u\s+\S+\s+-i\s*$)", "opens a root shell",
         True),
        (r"(?:^|[;&|]\s*)su\s*(?:-\s*)?(?:\w+\s*)?$", "opens a shell as another user", True),
        (r"(?:^|[;&|]\s*)(?:sudo\s+)?chroot\s+\S+\s*$", "opens a shell in a chroot", True),
        (_after("tail") + _then(r"(?:-f|-F|--follow\S*)\b"), "never ends (follows a file)",
         False),
        (_after("(?:logs|log)") + _then(r"(?:-f|--follow)\b"), "never ends (follows the logs)",
         False),
        (_after("journalctl") + _then(r"(?:-f|--follow)\b"), "never ends (follows the journal)",
         False),
        (r"(?:^|[;&|]\s*)(?:sudo\s+)?watch\s", "never ends (watch)", False),
        (_after("(?:kubectl|oc)") + _then(r"(?:get|rollout\s+status)\b")
         + r".*\s(?:-w|--watch)\b", "never ends (--watch)", False),
        (_after("(?:kubectl|oc)") + _then(r"(?:port-forward|proxy)\b"), "never ends (a proxy)",
         False),
        (r"(?:^|[;&|]\s*)(?:top|htop|less|more|k9s|tmux|screen)\s*(?:$|[|;&])",
         "needs a terminal", False),
        (r"(?:^|[;&|]\s*)read\s+(?:-\w+\s+)*-p\b", "waits for typed input", False),
    )
)


_DB_SHELL = re.compile(r"(?:sudo\s+(?:-u\s+\S+\s+)?)?(?:psql|mysql|mongo|mongosh|redis-cli|sqlite3)"
                       r"(?:\s|$)")
_DB_BATCH = re.compile(r"\s(?:-c|-e|--eval|-f|--file|--command|--execute|--quiet\s+--eval)"
                       r"(?:\s|=|$)|[<|]")


_WORDS_NEEDED = re.compile(
    r"kubectl|oc|docker|podman|crictl|nerdctl|EDITOR|VISUAL|vi|nano|emacs|vipw|crontab|ssh|su"
    r"|chroot|tail|log|journalctl|watch|top|less|more|k9s|tmux|screen|read|psql|mysql|mongo"
    r"|redis-cli|sqlite3")
"""A word every pattern of `interactive` needs (as part of a word: `vi` for `vim`, `su` for
`sudo`): a block without any is not looked at further."""


def interactive(body: str) -> Interactive | None:
    """The first command in `body` that needs a person at a terminal, or never ends."""
    if _WORDS_NEEDED.search(body) is None:
        return None
    for offset, text in logical_lines(body):
        code = strip_comment(text)
        if not code.strip():
            continue
        for part in split_commands(code):
            part = part.strip()
            if part.endswith("&") and not part.endswith("&&"):
                continue  # sent to the background: it does not hold the step
            for pattern, what, session in _PATTERNS:
                if pattern.search(part):
                    return Interactive(offset, what, session)
            if _DB_SHELL.match(part) and not _DB_BATCH.search(part) and _no_redis_command(part):
                return Interactive(offset, "opens a database shell", True)
    return None


def _no_redis_command(part: str) -> bool:
    """redis-cli with only connection options (`-h host -p 6379`) opens its shell."""
    words = part.split()
    if "redis-cli" not in words:
        return True
    rest = words[words.index("redis-cli") + 1:]
    i = 0
    while i < len(rest):
        if rest[i] in ("-h", "-p", "-a", "-n", "-u", "--user", "--pass"):
            i += 2
        elif rest[i].startswith("-"):
            i += 1
        else:
            return False
    return True


def split_commands(line: str) -> list[str]:
    """`a && b; c || d` → the commands, quotes respected (`psql -c "SELECT 1;"` is one)."""
    parts: list[str] = []
    quote = ""
    start = 0
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"':
                i += 1
        elif ch in "'\"":
            quote = ch
        elif ch == "\\":
            i += 1
        elif ch == ";" or line.startswith(("&&", "||"), i):
            parts.append(line[start:i])
            i += 1 if ch == ";" else 2
            start = i
            continue
        i += 1
    parts.append(line[start:])
    return [p for p in parts if p.strip()]


_QUOTE_OR_HASH = re.compile(r"['\"#]")


def strip_comment(line: str) -> str:
    """`line` without a trailing `# comment` (outside quotes)."""
    if "#" not in line:
        return line
    i = 0
    while (m := _QUOTE_OR_HASH.search(line, i)) is not None:
        i = m.start()
        ch = line[i]
        if ch == "#":
            if i == 0 or line[i - 1] in " \t;":
                return line[:i]
            i += 1
            continue
        end = line.find(ch, i + 1)  # the quote's end: nothing inside it counts
        if end == -1:
            return line
        i = end + 1
    return line


# -- placeholders ----------------------------------------------------------------------------
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


def _contexts(text: str) -> bytearray:
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


def find_placeholders(body: str, skip_names: frozenset[str] = frozenset()
                      ) -> tuple[str, list[Placeholder]]:
    """The placeholders in a shell body and the body rewritten so that each is an environment
    variable: `<pod>` → `"${POD}"` (in double quotes `${POD}`, in single quotes `'"${POD}"'`):
    the value the operator gives reaches the command as data, never as shell text.
    A placeholder in a comment is left alone; in a quoted here-document it is found but not
    rewritten (`fillable=False`). `skip_names`: `<tag>` pairs seen as markup."""
    ctx = _contexts(body)
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
        if m.group(1).lower() in _GO_WORDS:
            continue
        add(m.start(), m.end(), m.group(0), var_name(m.group(1)))
    for m in _ELLIPSIS.finditer(body):
        before = body[max(0, m.start() - 80):m.start()]
        key = _KEY_BEFORE.search(before) or _FLAG_BEFORE.search(before) or \
            re.search(r"([A-Za-z][\w.-]*)=['\"]?$", before)
        if key is None:
            continue
        add(m.start(), m.end(), "=" + m.group(0), var_name(key.group(1)))
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
        if c == QUOTED_HEREDOC:
            places.append(Placeholder(text, name, offset, fillable=False))
            continue
        out.append(body[last:start])
        out.append({PLAIN: f'"${{{name}}}"', SINGLE: f"'\"${{{name}}}\"'",
                    DOUBLE: f"${{{name}}}", HEREDOC: f"${{{name}}}"}.get(c, f'"${{{name}}}"'))
        last = end
        places.append(Placeholder(text, name, offset))
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

# Each pattern below runs in linear time: possessive quantifiers where a name or a list of
# names could be split more than one way (`export ABC…=1` once took minutes), and `read`'s
# words are read by hand (its options and names cannot be told apart by a pattern).
_ASSIGN = re.compile(r"(?:^|[\s;(])([A-Za-z_]\w*+)=|\bfor\s++([A-Za-z_]\w*+)\s++in\b",
                     re.MULTILINE)
_EXPORT_AT = re.compile(r"\bexport[ \t]++")
_NAME_LIST = re.compile(r"(?:[A-Za-z_]\w*+[ \t]*+)++")
_READ = re.compile(r"\bread[ \t]++([^\n;&|]*+)")
_SHELL_WORD = re.compile(r"(?:[^\s\"']|\"[^\"]*+\"|'[^']*+')++")
_READ_ARG = frozenset("dinNptu")
"""`read` options that take an argument (`-p PROMPT`); `-a NAME` names an array it sets."""
_NAME = re.compile(r"[A-Za-z_]\w*+")
_EXPORTED = re.compile(
    r"\bexport[ \t]++(?:-\w++[ \t]++)?+"
    r"((?:[A-Za-z_]\w*+(?:=(?:\"[^\"]*+\"|'[^']*+'|\S*+))?+[ \t]*+)++)",
    re.MULTILINE)
_EXPORTED_WORD = re.compile(r"([A-Za-z_]\w*+)(?:=(?:\"[^\"]*+\"|'[^']*+'|\S*+))?+")


def _read_names(words: list[str]) -> list[str]:
    """The names `read OPTIONS NAME…` sets."""
    names: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--") and not names:
            i += 1
            continue
        if word.startswith("-") and len(word) > 1 and not names:
            for k, flag in enumerate(word[1:], 1):
                if flag == "a" or flag in _READ_ARG:
                    rest = word[k + 1:]
                    arg = rest if rest else (words[i + 1] if i + 1 < len(words) else "")
                    if flag == "a" and _NAME.fullmatch(arg):
                        names.append(arg)
                    i += 0 if rest else 1
                    break
            i += 1
            continue
        if not _NAME.fullmatch(word):
            break
        names.append(word)
        i += 1
    return names


def assigned(body: str) -> set[str]:
    """Names the block sets (assignment, `read`, `for`, `export NAME`)."""
    names: set[str] = set()
    for m in _ASSIGN.finditer(body):
        names.add(m.group(1) or m.group(2))
    pos = 0
    while (at := _EXPORT_AT.search(body, pos)) is not None:  # `export A B`
        listed = _NAME_LIST.match(body, at.end())
        pos = listed.end() if listed else at.end()  # a later `export` in the list ends alike
        if listed and (pos == len(body) or body[pos] in ";&\n"):
            names.update(_NAME.findall(listed.group(0)))
    for m in _READ.finditer(body):
        names.update(_read_names(_SHELL_WORD.findall(m.group(1))))
    return names


def exported(body: str) -> set[str]:
    """Names the block exports (`export NAME=…`, `export NAME`, `set -a` makes every
    assignment an export)."""
    if re.search(r"(?:^|[;\s])set\s+-a\b|set\s+-o\s+allexport", body):
        return assigned(body)
    names: set[str] = set()
    for m in _EXPORTED.finditer(strip_comments(body)):
        names.update(_EXPORTED_WORD.findall(m.group(1)))
    return names


def strip_comments(body: str) -> str:
    return "\n".join(strip_comment(line) for line in body.split("\n"))
