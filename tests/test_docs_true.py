"""The docs keep up (issue 25, item 15): no how-to is "to come" when it exists, every
relative link resolves, and docs/cli.md names every option of every command."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from swrun.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_nothing_is_to_come_and_every_relative_link_resolves() -> None:
    broken = []
    for doc in DOCS:
        text = doc.read_text()
        assert "(to come)" not in text, doc
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert broken == []


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        out.append((f"{prefix}{name}", cmd))
        if isinstance(cmd, click.Group):
            out += _commands(cmd, f"{prefix}{name} ")
    return out


@pytest.mark.parametrize("command", [n for n, _ in _commands(main)])
def test_cli_md_names_every_option(command: str) -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    cmd = dict(_commands(main))[command]
    missing = [opt for p in cmd.params if isinstance(p, click.Option)
               for opt in p.opts if opt.startswith("--") and opt not in ("--help",)
               and opt not in text]
    assert missing == [], f"swrun {command}: {missing} not in docs/cli.md"
