"""What every command shares: user errors as one line and the documented exit code, ^C as
exit 130, and how a runbook path argument is taken."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from swrun.errors import SwrunError
from swrun.exitcodes import ExitCode, exit_code_for
from swrun.sigint import on_sigint

F = TypeVar("F", bound=Callable[..., Any])


def friendly(fn: F) -> F:
    """Turn user errors into one line on stderr and the documented exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        previous = on_sigint(signal.default_int_handler)  # a command handles ^C its own way
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:  # e.g. while the runbook is read and checked
            click.echo("swrun: interrupted", err=True)
            sys.exit(int(ExitCode.INTERRUPTED))
        except SwrunError as exc:
            from swrun.files import safe_text  # a message may quote a file's text

            click.echo(safe_text(f"swrun: {exc}"), err=True)
            sys.exit(int(exit_code_for(exc)))
        except Exception as exc:
            if not interrupt_behind(exc):
                raise
            click.echo("swrun: interrupted", err=True)
            sys.exit(int(ExitCode.INTERRUPTED))
        finally:
            if previous is not None:
                on_sigint(previous)

    return wrapper  # type: ignore[return-value]


def interrupt_behind(exc: BaseException) -> bool:
    """A ^C that Python re-raised as another error: a class made while a module is imported
    turns what its `__set_name__` raised into `RuntimeError: Error calling __set_name__`."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, KeyboardInterrupt) or (
                isinstance(cause, SystemExit) and cause.code == 130):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


# A runbook path is not checked by click: reading it says what is wrong, as one line and
# exit 3 (docs/cli.md), and `check` goes on with the other files.
RUNBOOK_PATH = click.Path(readable=False)
