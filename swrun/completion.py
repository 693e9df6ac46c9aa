"""Shell completion through click's own mechanism (`_SWRUN_COMPLETE`): runbook files, step
numbers and ids, section ids, variable names and run logs. `swrun completion SHELL` prints the
script; this module imports click only, so `swrun --help` stays light."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from click.shell_completion import BashComplete, CompletionItem, add_completion_class

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_SWRUN_COMPLETE"
_RUNBOOK_SUFFIXES = (".md", ".markdown")


class _Bash(BashComplete):
    """Click's bash completion, except that a value ending in `=` (`--var NAME=`) or `/` (a
    folder on the way to a runbook) gets no space after it, so typing can go on."""

    source_template = BashComplete.source_template.replace(
        "        elif [[ $type == 'plain' ]]; then\n            COMPREPLY+=($value)\n",
        "        elif [[ $type == 'plain' ]]; then\n            COMPREPLY+=($value)\n"
        "            [[ $value == *= || $value == */ ]] && compopt -o nospace\n",
    )


add_completion_class(_Bash, "bash")


def script(shell: str, cli: click.Command, prog: str = "swrun") -> str:
    """The completion script for `shell`, as `_SWRUN_COMPLETE={shell}_source swrun` prints it,
    for `cli`: the command group that is running (the caller hands it in; this module never
    imports swrun.cli)."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    if cls is None:  # click.Choice keeps other names out
        raise click.BadParameter(f"no completion for {shell}")
    return cls(cli, {}, prog, COMPLETE_VAR).source()


def _listing(incomplete: str, suffixes: tuple[str, ...]) -> list[CompletionItem]:
    """Files with one of `suffixes` and folders (with a trailing /) starting with
    `incomplete`; hidden ones only when asked for with a leading dot."""
    folder, slash, start = incomplete.rpartition("/")
    prefix = folder + slash  # "", "dir/" or "/": kept as typed
    base = Path(os.path.expanduser(prefix)) if prefix else Path(".")
    try:
        entries = sorted(os.scandir(base), key=lambda e: e.name)
    except OSError:
        return []
    out = []
    for entry in entries:
        if not entry.name.startswith(start) or (entry.name.startswith(".")
                                                and not start.startswith(".")):
            continue
        try:
            if entry.is_dir():
                out.append(CompletionItem(f"{prefix}{entry.name}/"))
            elif entry.name.endswith(suffixes):
                out.append(CompletionItem(f"{prefix}{entry.name}"))
        except OSError:
            continue
    return out


def runbook_files(ctx: click.Context, param: click.Parameter,
                  incomplete: str) -> list[CompletionItem]:
    """Runbooks (`*.md`) and the folders on the way to them."""
    return _listing(incomplete, _RUNBOOK_SUFFIXES)


def log_files(ctx: click.Context, param: click.Parameter,
              incomplete: str) -> list[CompletionItem]:
    """For `--resume`: the logs of the runbook on the command line, newest first; without
    one, `*.toml` files and folders."""
    path = _runbook_path(ctx)
    if path is not None:
        from swrun.runlog import find_logs

        try:
            logs = [str(p) for p in find_logs(path, Path("logs"))]
        except OSError:
            logs = []
        found = [CompletionItem(p) for p in logs if p.startswith(incomplete)]
        if found:
            return found
    return _listing(incomplete, (".toml",))


def _runbook_path(ctx: click.Context) -> str | None:
    """The runbook on the command line being completed. Click leaves `ctx.params` empty
    while an option still waits for its value (`--from <TAB>`), so the words the shell
    passed in COMP_WORDS are read too: the first existing `*.md` after the command."""
    value = ctx.params.get("file") or ctx.params.get("runbook") or ctx.params.get("runbook_path")
    if isinstance(value, str) and Path(value).is_file():
        return value
    import shlex

    try:
        words = shlex.split(os.environ.get("COMP_WORDS", ""))
    except ValueError:  # an unclosed quote in the line being typed
        words = os.environ.get("COMP_WORDS", "").split()
    for word in words[2:]:
        if word.endswith(_RUNBOOK_SUFFIXES) and Path(word).is_file():
            return word
    return None


def _runbook(ctx: click.Context) -> Any:
    path = _runbook_path(ctx)
    if path is None:
        return None
    try:  # completion is best effort: never a traceback in the middle of a command line
        from swrun.parser import parse_file

        return parse_file(path).runbook
    except Exception:
        return None


def steps(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """For `--from` and `--skip`: the main steps' numbers and ids, each with its title."""
    book = _runbook(ctx)
    if book is None:
        return []
    out = []
    for step in book.main_steps:
        for value in (str(step.number), step.id):
            if value.startswith(incomplete):
                out.append(CompletionItem(value, help=step.title))
    return out


def sections(ctx: click.Context, param: click.Parameter,
             incomplete: str) -> list[CompletionItem]:
    """For `--only`: the ids of the sections outside the rollback section."""
    book = _runbook(ctx)
    if book is None:
        return []
    return [CompletionItem(sec.id, help=sec.title) for sec in book.root.walk()
            if sec.id and not sec.rollback and sec.id.startswith(incomplete)]


def variables(ctx: click.Context, param: click.Parameter,
              incomplete: str) -> list[CompletionItem]:
    """For `--var`: `NAME=` for each declared variable; after the `=`, its choices. Secret
    variables are never offered: a secret on the command line lands in the shell's history
    and `ps` (docs/secrets.md); swrun asks for it, or reads its environment variable."""
    book = _runbook(ctx)
    if book is None:
        return []
    from swrun.variables import secret_names

    secret = secret_names(book)
    name, eq, _ = incomplete.partition("=")
    if eq:
        var = book.variables.get(name)
        if var is None or name in secret:
            return []
        return [CompletionItem(f"{name}={c}") for c in var.choices
                if f"{name}={c}".startswith(incomplete)]
    return [CompletionItem(f"{n}=", help=v.prompt or v.description or v.type)
            for n, v in book.variables.items() if n.startswith(incomplete) and n not in secret]
