"""A block written to a file on this machine (`{file=path}`, "Create `path`:"): data, never code.

The path is an attribute like any other: `$NAME` in it is filled from the run's variables
before the step runs (engine._bind), and nothing of it is ever shell text. It is confined to
the runbook's folder unless the block says `outside`; it is never written through a
symbolic link; an existing file is replaced whole (a new file renamed over it, keeping its
mode), and the output says so.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from swrun.events import StepStatus
from swrun.executors.base import Output, StepContext, StepResult
from swrun.model import Step
from swrun.rules.filled import fill

_SCRIPT_SUFFIXES = (".sh", ".bash", ".py", ".pl", ".rb")


class WriteRefused(Exception):
    """The path may not be written; the message is one line for the operator."""


def resolve(target: str, base: Path, cwd: Path, outside: bool) -> Path:
    """The file `target` names (relative to `cwd`), refused when it leaves `base` (unless
    `outside`) or is not a plain file name."""
    if not target or "\0" in target or "\n" in target:
        raise WriteRefused(f"file={target!r} is not a usable path")
    path = Path(os.path.expanduser(target)) if target.startswith("~") else Path(target)
    path = path if path.is_absolute() else cwd / path
    if path.name in ("", ".", ".."):
        raise WriteRefused(f"file={target} names a folder, not a file")
    folder = Path(os.path.realpath(path.parent))
    if not outside:
        root = Path(os.path.realpath(base))
        if folder != root and root not in folder.parents:
            raise WriteRefused(f"file={target} is outside the runbook's folder ({folder}); "
                               "add `outside` to the block's attributes to allow it")
    return folder / path.name


def write(path: Path, content: str, outside: bool, base: Path) -> str:
    """Write `content` to `path` atomically; what happened, in one line."""
    if not content.endswith("\n"):
        content += "\n"
    folder = path.parent
    if not folder.exists():
        folder.mkdir(parents=True, exist_ok=True)
        # created now: make sure no link on the way led elsewhere meanwhile
        resolve(str(path), base, folder, outside)
    try:
        old = os.lstat(path)
    except FileNotFoundError:
        old = None
    if old is not None and stat.S_ISLNK(old.st_mode):
        raise WriteRefused(f"{path} is a symbolic link; swrun does not write through links "
                           "(remove it, or point file= at the real file)")
    if old is not None and not stat.S_ISREG(old.st_mode):
        raise WriteRefused(f"{path} exists and is not a regular file")
    script = path.suffix in _SCRIPT_SUFFIXES or content.startswith("#!")
    if old is not None:
        mode = stat.S_IMODE(old.st_mode)
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    if script:
        mode |= (mode & 0o444) >> 2  # +x wherever +r
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".swrun", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
            os.fchmod(fh.fileno(), mode)
        os.replace(tmp, path)  # replaces a file (or a link made meanwhile), never follows one
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    size = len(content.encode())
    if old is None:
        return f"wrote {path} ({size} bytes)"
    return f"wrote {path} ({size} bytes; replaced the file that was there, {old.st_size} bytes)"


class FileExecutor:
    """Writes the block of a `file=` step on this machine."""

    def run(self, step: Step, ctx: StepContext) -> Iterator[Output | StepResult]:
        from swrun.executors.shell import working_dir

        target = step.text("file") or ""
        outside = step.flag("outside")
        base = ctx.runbook.base_dir
        try:
            path = resolve(target, base, working_dir(step, ctx), outside)
            said = write(path, fill(step.written, ctx.variables) if step.placeholders
                         else step.written, outside, base)
        except WriteRefused as exc:
            yield Output(f"swrun: {exc}", "stderr")
            yield StepResult(StepStatus.FAILED, exit_code=2, error=str(exc))
            return
        except OSError as exc:
            why = f"cannot write {target}: {exc.strerror or exc}"
            yield Output(f"swrun: {why}", "stderr")
            yield StepResult(StepStatus.FAILED, exit_code=1, error=why)
            return
        yield Output(said)
        yield StepResult(StepStatus.OK, exit_code=0, data={"file": str(path)})
