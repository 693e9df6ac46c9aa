"""`swrun new FILE`: write a runbook from a template that ships inside the package."""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

from swrun.errors import UsageError

TEMPLATES = ("checklist", "blue-green", "rollback", "drill", "incident", "backup")
"""The templates in swrun/templates/, each derived from a shipped runbook; the first is the
default."""
_TITLE = "%%TITLE%%"


def template_text(name: str) -> str:
    """A template as shipped (package data), with `%%TITLE%%` where the title goes."""
    if name not in TEMPLATES:
        raise UsageError(f"--template {name}: no such template (choose from "
                         f"{', '.join(TEMPLATES)})")
    return resources.files("swrun.templates").joinpath(f"{name}.md").read_text("utf-8")


def title_from(path: Path) -> str:
    """`deploy-api.md` → `Deploy api`."""
    words = re.sub(r"[-_.\s]+", " ", path.stem).strip()
    return (words[:1].upper() + words[1:]) if words else "New runbook"


def write_runbook(path: Path, template: str = TEMPLATES[0], title: str | None = None) -> str:
    """Write `template` to `path` with its title filled in; never over an existing file (or
    a dangling link). Returns the text written. UsageError for a path that exists or
    cannot be written."""
    text = template_text(template)
    name = title or title_from(path)
    # the title lands in a TOML string and a Markdown heading: one line, no quotes to escape
    name = " ".join(name.replace('"', "'").replace("\\", "/").split())
    text = text.replace(_TITLE, name)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise UsageError(f"{path} already exists; swrun new never overwrites a file "
                         "(choose another name, or remove it first)") from None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return text
