"""Markdown → Runbook: the parser's public face (swrun/parse/ holds its parts).

Headings become nested sections, task-list items become checks, fenced blocks become steps
(or reference material), `{...}` in a fence's info string and `<!-- swrun: ... -->` comments
become attributes. Problems are collected as Diagnostics; nothing but RunbookError escapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from swrun.errors import Diagnostic, RunbookError, Severity
from swrun.model import Runbook
from swrun.parse.builder import _Builder, _swrun_comments
from swrun.parse.markdown import MAX_NESTING, _markdown, _new_markdown
from swrun.parse.reading import _CREATE, _PATHLIKE, _write_script
from swrun.parse.source import (
    _FENCE_LINE,
    _TASK_LINE,
    MAX_FILE_BYTES,
    MAX_LINE_CHARS,
    _check_line_lengths,
    read_text,
)

# The public names, and the private ones tests reach for (regex budget, limits) where they were.
__all__ = [
    "MAX_FILE_BYTES", "MAX_LINE_CHARS", "MAX_NESTING", "_CREATE", "_FENCE_LINE", "_PATHLIKE",
    "_TASK_LINE", "ParseResult", "_markdown", "_new_markdown", "_swrun_comments",
    "_write_script", "load_runbook", "parse_file", "parse_text", "read_text", "refuse",
]


@dataclass(frozen=True)
class ParseResult:
    runbook: Runbook
    diagnostics: tuple[Diagnostic, ...]

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.WARNING)


def load_runbook(path: str | Path, *, strict: bool = False) -> Runbook:
    """Read and parse a runbook file; raise RunbookError on the first error."""
    result = parse_file(path, strict=strict)
    if result.errors:
        refuse(result.errors, path)
    return result.runbook


def refuse(errors: Sequence[Diagnostic], path: str | Path) -> NoReturn:
    """Raise the first error as one line, with a count of the rest and where to see them."""
    err = RunbookError.from_diagnostic(errors[0])
    if len(errors) > 1:
        err.args = (f"{err.args[0]} (and {len(errors) - 1} more; run `swrun check {path}`)",)
    raise err


def parse_file(path: str | Path, *, strict: bool = False) -> ParseResult:
    return parse_text(read_text(path), str(path), strict=strict)


def parse_text(text: str, path: str = "", *, strict: bool = False) -> ParseResult:
    """Parse runbook Markdown. Warnings become errors when `strict`."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "\ufffd")
    _check_line_lengths(text, path)
    try:
        builder = _Builder(text, path)
        runbook = builder.build()
        failing = builder.known_failures()
        if failing:  # read again, those blocks shown or manual: numbers, sessions follow
            builder = _Builder(text, path, failing)
            runbook = builder.build()
    except RunbookError:
        raise
    except RecursionError:
        raise RunbookError("document nests too deeply to read", path) from None
    except Exception as exc:  # the contract: nothing but RunbookError leaves the parser
        raise RunbookError(f"internal parser error ({type(exc).__name__}: {exc}); "
                           "please report this runbook", path) from exc
    diags = builder.diags
    if strict:
        diags = [Diagnostic(Severity.ERROR, d.message, d.path, d.line, d.col)
                 if d.severity is Severity.WARNING else d for d in diags]
    diags.sort(key=lambda d: (d.line, d.severity != Severity.ERROR))
    return ParseResult(runbook, tuple(diags))
