"""What a block of shell text written for people holds: prompts and their output, commands a
person must run (an editor, a session, a command that never ends), placeholders a person must
fill in. Pure functions over text; the parser turns their answers into steps and variables.
The placeholder part is in shellplaceholders.py; its names are importable from here too."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from swrun.rules.shellplaceholders import ANGLE as ANGLE
from swrun.rules.shellplaceholders import BRACED as BRACED
from swrun.rules.shellplaceholders import COMMENT as COMMENT
from swrun.rules.shellplaceholders import DOUBLE as DOUBLE
from swrun.rules.shellplaceholders import HEREDOC as HEREDOC
from swrun.rules.shellplaceholders import OWNED_PREFIXES as OWNED_PREFIXES
from swrun.rules.shellplaceholders import PLAIN as PLAIN
from swrun.rules.shellplaceholders import QUOTED_HEREDOC as QUOTED_HEREDOC
from swrun.rules.shellplaceholders import RESERVED as RESERVED
from swrun.rules.shellplaceholders import SINGLE as SINGLE
from swrun.rules.shellplaceholders import Placeholder as Placeholder
from swrun.rules.shellplaceholders import _contexts as _contexts
from swrun.rules.shellplaceholders import contexts as contexts
from swrun.rules.shellplaceholders import find_placeholders as find_placeholders
from swrun.rules.shellplaceholders import owned_renamed as owned_renamed
from swrun.rules.shellplaceholders import shell_owned as shell_owned
from swrun.rules.shellplaceholders import var_name as var_name

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


@functools.cache
def _patterns() -> tuple[tuple[re.Pattern[str], str, bool], ...]:
    """`interactive`'s patterns, compiled on first use (most blocks never get that far)."""
    return tuple((re.compile(p), what, session) for p, what, session in _PATTERN_TEXTS)


_PATTERN_TEXTS: tuple[tuple[str, str, bool], ...] = (
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
            for pattern, what, session in _patterns():
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


def split_outside_quotes(text: str, separator: Callable[[str, int], int]) -> list[str]:
    """`text` cut at each separator outside quotes (and not escaped): `separator(text, i)`
    is the separator's length at i, 0 where there is none. Empty parts are dropped."""
    parts: list[str] = []
    quote = ""
    start = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"':
                i += 1
        elif ch in "'\"":
            quote = ch
        elif ch == "\\":
            i += 1
        elif width := separator(text, i):
            parts.append(text[start:i])
            i += width
            start = i
            continue
        i += 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def _list_separator(line: str, i: int) -> int:
    if line[i] == ";":
        return 1
    return 2 if line.startswith(("&&", "||"), i) else 0


def split_commands(line: str) -> list[str]:
    """`a && b; c || d` → the commands, quotes respected (`psql -c "SELECT 1;"` is one)."""
    return split_outside_quotes(line, _list_separator)


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
