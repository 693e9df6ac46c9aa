"""Blocks swrun knows will fail: bash's verdict on many blocks at once (kept, so `check` does
not ask again what reading the runbook asked), and what a block bash rejects is instead —
a PromQL or LogQL query, SQL, YAML or JSON in a shell fence — so that it is shown, not run."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence

from swrun.rules import bashsyntax
from swrun.rules.shelltext import looks_like_command

_KEPT = 4096
"""Verdicts kept (by body): a runbook's blocks, read by the parser, then asked by `check`."""
_verdicts: dict[str, bashsyntax.Problem | None] = {}


def bash_verdicts(bodies: Sequence[str]) -> list[bashsyntax.Problem | None] | None:
    """bash's first syntax error in each body (None: none), from one bash process for all
    the bodies not asked before; None when there is no bash or it cannot check them at once
    (`check` then asks one block at a time)."""
    known = {b: _verdicts.get(b) for b in bodies
             if b in _verdicts or _plain_words(b)}
    todo = list(dict.fromkeys(b for b in bodies if b not in known))
    if todo:
        exe = shutil.which("bash")
        if exe is None:
            return None
        try:
            found = bashsyntax.check(exe, todo)
        except (OSError, bashsyntax.Unsupported):
            return None
        known.update(zip(todo, found, strict=True))
        if len(_verdicts) + len(todo) > _KEPT:
            _verdicts.clear()
        if len(todo) <= _KEPT:
            _verdicts.update(zip(todo, found, strict=True))
    return [known[b] for b in bodies]


_PLAIN_LINE = re.compile(r"[\w./=:,+%@ \t-]*+")
"""A line of plain words: no quoting, expansion, operator, bracket or continuation."""
_RESERVED = frozenset({"if", "then", "else", "elif", "fi", "case", "esac", "for", "select",
                       "while", "until", "do", "done", "in", "function", "time", "coproc"})


def _plain_words(body: str) -> bool:
    """A body bash cannot refuse: every line plain words, none opening with a reserved word
    (`systemctl restart nginx`). Its verdict needs no bash process (start-up)."""
    for line in body.split("\n"):
        if not _PLAIN_LINE.fullmatch(line):
            return False
        words = line.split()
        if words and words[0] in _RESERVED:
            return False
    return True


def bash_checked(shell: str | None) -> bool:
    """A step whose `shell=` is bash's to check (bash, sh, ksh, or not set)."""
    words = shell.split() if shell else []
    return not words or os.path.basename(words[0]) in ("bash", "sh", "ksh")


_PROMQL = re.compile(
    r"\b(?:sum|avg|min|max|count|rate|irate|increase|delta|idelta|deriv|histogram_quantile|"
    r"absent|absent_over_time|predict_linear|topk|bottomk|label_replace|label_join|"
    r"(?:avg|min|max|sum|count|quantile|last|stddev)_over_time|changes|resets|"
    r"count_values|quantile|group|sort|sort_desc|clamp_min|clamp_max|time|vector|scalar)"
    r"\s*+(?:(?:by|without)\s*+\([^)\n]*+\)\s*+)?+\("
    r"|(?<![\w:])[a-zA-Z_:][\w:]*+\{[^{}\n]*+[=~]\"[^\"\n]*+\"[^{}\n]*+\}"
    r"|\[\d++[smhdwy]\]")
_LOGQL = re.compile(r"^[ \t]*+\{[^{}\n]*+=~?+\"[^\"\n]*+\"[^{}\n]*+\}\s*+(?:\|[=~]|!=|!~|\|\s*+"
                    r"(?:json|logfmt|pattern|regexp|line_format|label_format|unwrap)\b)",
                    re.MULTILINE)
_SQL = re.compile(r"\s*+(?:SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|GRANT|REVOKE|WITH|"
                  r"SHOW|EXPLAIN|BEGIN|COMMIT|ROLLBACK|VACUUM|ANALYZE|TRUNCATE|REINDEX|"
                  r"CLUSTER)\b", re.IGNORECASE)
_YAML_KEY = re.compile(r"\s*+(?:-\s++)?+[\w.\"'/-]++:(?:\s|$)")
_YAML_LINE = re.compile(r"\s*+(?:-\s++)?+[\w.\"'/-]++:(?:\s|$)|\s*+-\s++\S|\s*+---\s*+$|\s*+#")

QUERIES = frozenset({"promql", "logql", "sql"})
"""Content never run as shell, whatever bash says of it (`SELECT * FROM jobs;` is valid bash)."""
LABELS = {"promql": "PromQL", "logql": "LogQL", "sql": "SQL", "yaml": "YAML", "json": "JSON"}


def content_kind(body: str) -> str:
    """What a block that is not shell reads as: `promql`, `logql`, `sql`, `yaml`, `json`, or
    `` when it is none of them."""
    code = [ln for ln in body.split("\n") if ln.strip() and not ln.lstrip().startswith("#")]
    if not code:
        return ""
    text = "\n".join(code)
    if text.lstrip()[0] in "{[":
        try:
            json.loads(text)
            return "json"
        except ValueError:
            pass
    first = code[0].strip()
    if looks_like_command(first):
        return ""
    if _LOGQL.search(text):
        return "logql"
    if _SQL.match(first):
        return "sql"
    if _PROMQL.search(text):
        return "promql"
    if any(_YAML_KEY.match(ln) for ln in code) and \
            sum(_YAML_LINE.match(ln) is not None for ln in code) * 10 >= len(code) * 8:
        return "yaml"
    return ""
