"""The `swrun` command line: check, plan, execute, run; stdout is data, stderr diagnostics.
The group lives here; its commands live in swrun/commands/, one module per group."""

from __future__ import annotations

import os
import sys

from swrun.sigint import interrupted_at_start as _interrupted_at_start
from swrun.sigint import on_sigint as _on_sigint

_BEFORE_IMPORT = _on_sigint(_interrupted_at_start)  # a ^C during the imports below

# Imported after the handler is in place: importing them (click above all) is start-up.
from typing import Any  # noqa: E402

import click  # noqa: E402

from swrun import __version__  # noqa: E402
from swrun.commands import checking, evidence, lab, records, running, runs, setup  # noqa: E402
from swrun.commands.base import RUNBOOK_PATH as RUNBOOK_PATH  # noqa: E402  (its old place)
from swrun.commands.base import interrupt_behind as _interrupt_behind  # noqa: E402


class _Swrun(click.Group):
    def main(self, *args: Any, **kwargs: Any) -> Any:
        """^C before a command starts (option parsing) exits 130 too, not click's exit 1."""
        previous = _on_sigint(_interrupted_at_start)
        try:
            return super().main(*args, **kwargs)
        except Exception as exc:
            if not _interrupt_behind(exc):
                raise
            print("swrun: interrupted", file=sys.stderr)
            raise SystemExit(130) from None
        finally:
            if previous is not None:
                _on_sigint(previous)


@click.group(cls=_Swrun, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="swrun")
def main() -> None:
    """Run Markdown runbooks step by step, with an append-only TOML run log."""


for _group in (checking, running, lab, records, setup, evidence, runs):
    for _command in _group.COMMANDS:
        main.add_command(_command)


# The commands (swrun/commands/) are built at import: start-up too, under the handler.
# Importing swrun.cli (tests do) then leaves ^C as it was; the swrun command keeps it until
# _Swrun.main takes over.
if _BEFORE_IMPORT is not None and not (
        os.path.basename(sys.argv[0]) == "swrun"
        or sys.argv[0].endswith(os.path.join("swrun", "__main__.py"))):
    _on_sigint(_BEFORE_IMPORT)
