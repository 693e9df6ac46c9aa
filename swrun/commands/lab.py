"""`swrun lab`: the local lab of containers the seed runbooks run against."""

from __future__ import annotations

import sys

import click

from swrun.commands.base import friendly


@click.group()
def lab() -> None:
    """A small production look-alike on this machine (loopback only)."""


_LAB_DIR = click.option("--dir", "lab_dir", default=".lab", show_default=True,
                        type=click.Path(file_okay=False), help="Lab state directory.")
_LAB_INV = click.option("--inventory", "inventory", default="inventories/lab.yml",
                        show_default=True, type=click.Path(dir_okay=False),
                        help="Where to write the lab inventory.")


@lab.command("up")
@_LAB_DIR
@_LAB_INV
@friendly
def lab_up(lab_dir: str, inventory: str) -> None:
    """Start the lab (again: only what is not running)."""
    from swrun.lab import Lab

    Lab(lab_dir, inventory).up(lambda msg: click.echo(f"lab: {msg}", err=True))


@lab.command("status")
@_LAB_DIR
@_LAB_INV
@friendly
def lab_status(lab_dir: str, inventory: str) -> None:
    """Show each part of the lab as up or down (exit 1 if any is down)."""
    from swrun.lab import Lab

    parts = Lab(lab_dir, inventory).status()
    width = max(len(p.name) for p in parts)
    for part in parts:
        click.echo(f"{part.name.ljust(width)}  {'up  ' if part.up else 'down'}  {part.detail}")
    sys.exit(0 if all(p.up for p in parts) else 1)


@lab.command("down")
@_LAB_DIR
@_LAB_INV
@friendly
def lab_down(lab_dir: str, inventory: str) -> None:
    """Stop everything the lab started and remove its state."""
    from swrun.lab import Lab

    Lab(lab_dir, inventory).down(lambda msg: click.echo(f"lab: {msg}", err=True))


@lab.command("env")
@_LAB_DIR
@_LAB_INV
@friendly
def lab_env(lab_dir: str, inventory: str) -> None:
    """Print the lab's values as shell exports (eval "$(swrun lab env)")."""
    import shlex

    from swrun.lab import Lab

    for key, value in Lab(lab_dir, inventory).env().items():
        click.echo(f"export {key}={shlex.quote(value)}")


COMMANDS = (lab,)
