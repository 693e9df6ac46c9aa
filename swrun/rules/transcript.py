"""Lines of a shell block that read as program output, by their shape: `curl -v`'s `* `, `< `
and `> ` lines, `key=value` dumps (`notAfter=Aug  6 12:00:00 2027 GMT`), dates and log
lines, tables (`NAME  READY  STATUS`, `|` and `+---+` borders), `Key: value` lines and JSON.
All valid bash, often: `bash -n` cannot tell. A line inside quotes, a here-document or a
comment is the script's own text, never output."""

from __future__ import annotations

import re

from swrun.rules.shelltext import KNOWN_COMMANDS, PLAIN, SHELL_WORDS, looks_like_command
from swrun.rules.shelltext import contexts as shell_contexts  # code, quotes, here-documents

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), what) for p, what in (
        (r"\*\s++\S", "curl -v"),                                  # * Trying 10.0.0.1:443...
        (r"[<>]\s*+$", "curl -v"),
        (r"<\s(?:HTTP/|[A-Za-z][\w-]*+:\s)", "curl -v"),          # < HTTP/2 200, < server: x
        (r">\s(?:(?:GET|POST|PUT|DELETE|HEAD|PATCH|OPTIONS|CONNECT)\s\S++\sHTTP/"
         r"|[A-Za-z][\w-]*+:\s)", "curl -v"),                      # > GET / HTTP/1.1
        (r"\{\s\[\d++\sbytes\sdata\]", "curl -v"),
        (r"%\s++Total\s", "curl progress"),
        (r"\[?+\d{4}-\d\d-\d\d[T\s]\d\d:\d\d", "a date"),         # 2026-12-07T19:00:00Z
        (rf"{_DAY},?+\s++(?:\d{{1,2}}\s++)?+{_MONTH}\s", "a date"),  # Mon Dec  7 19:13:45 UTC
        (rf"{_MONTH}\s++\d{{1,2}}\s++\d\d:\d\d:\d\d\s", "a date"),  # syslog
        (r"[IWEF]\d{4}\s++\d\d:\d\d:\d\d", "a date"),              # klog
        (r"[A-Za-z_]\w*+=\S*+\s++(?:\d|=\s)", "a key=value dump"),  # notAfter=Aug  6 12:…
        (r"(?:ts|time|level|msg|caller|lvl)=\S++\s++(?:ts|time|level|msg|caller|lvl)=",
         "a log line"),
        (r"(?:[A-Z][A-Z0-9_%()/.-]*+(?:\s[A-Z][A-Z0-9_%()/.-]*+)?+\s{2,}+)++"
         r"[A-Z][A-Z0-9_%()/.-]*+(?:\s[A-Z][A-Z0-9_%()/.-]*+)?+\s*+$", "a table header"),
        (r"\+[-=+]{3,}+\+?+\s*+$|\|[^|\n]*+\|.*\|\s*+$|-{3,}+(?:\+-++)*+\s*+$"
         r"|[─━═]{3,}+|\(\d++\srows?+\)\s*+$", "a table"),
        (r"\"[^\"\n]*+\"\s*+:", "JSON"),
        (r"(?:Error\sfrom\sserver|error:|Error:|ERROR|WARNING:|FATAL|panic:)\s", "an error "
         "message"),
    )
)
_KEY_VALUE = re.compile(r"(?:-\s++)?+[A-Za-z][\w.-]*+(?:\s[A-Za-z][\w.-]*+){0,3}+:(?:\s|$)")
"""`Name:         api-0`, `Restart Count:  3`, `replicas: 3`: output or data, never bash."""
_SPACED_EQUALS = re.compile(r"([A-Za-z_][\w.-]*+)\s=\s")
"""`net.ipv4.ip_forward = 1` (sysctl), `key = value` (INI)."""
_BRACKETS = re.compile(r"[\[\]{}],?+\s*+$")
_ROW = re.compile(r"\S\s{2,}+\S")


def output_lines(body: str) -> dict[int, str]:
    """0-based line → what it reads as (`curl -v`, `a date`, `a table`...), for each line of
    a shell block that reads as program output. Only a line that starts in code counts (not
    in quotes, a here-document, a comment, or after a `\\` continuation)."""
    lines = body.split("\n")
    ctx = shell_contexts(body)
    found: dict[int, str] = {}
    pos = 0
    table = False
    json_lines = False
    brackets: list[int] = []
    continued = False
    for i, line in enumerate(lines):
        start, pos = pos, pos + len(line) + 1
        s = line.strip()
        was_continued, continued = continued, line.rstrip().endswith("\\")
        if not s:
            table = False
            continue
        at = start + len(line) - len(line.lstrip())
        if was_continued or (at < len(ctx) and ctx[at] != PLAIN) or s.startswith("#"):
            continue
        what = _shape(s)
        if what is None and table and not looks_like_command(s):
            what = "a table"
        if what is None and _BRACKETS.fullmatch(s):
            brackets.append(i)
            continue
        if what is None:
            continue
        found[i] = what
        table = what in ("a table header", "a table") or (table and what == "a table")
        json_lines = json_lines or what == "JSON"
    if json_lines:
        found.update((i, "JSON") for i in brackets)
    return dict(sorted(found.items()))


def _shape(s: str) -> str | None:
    for pattern, what in _SHAPES:
        if pattern.match(s):
            if what == "a table header" and not _ROW.search(s):
                continue
            return what
    if looks_like_command(s):
        return None
    if _KEY_VALUE.match(s) and not s.startswith(("http:", "https:")):
        return "a key: value line"
    m = _SPACED_EQUALS.match(s)
    if m and m.group(1) not in KNOWN_COMMANDS | SHELL_WORDS | {"let", "alias", "declare"}:
        return "a key = value line"
    return None


def transcript_lines(body: str) -> tuple[dict[int, str], list[int]]:
    """(output lines as output_lines gives them, 0-based lines that are commands): a block
    with output lines is a transcript; with commands too, a manual step."""
    found = output_lines(body)
    if not found:
        return found, []
    commands = [i for i, line in enumerate(body.split("\n"))
                if i not in found and line.strip()]
    if not any(looks_like_command(body.split("\n")[i]) for i in commands):
        commands = []
    return found, commands
