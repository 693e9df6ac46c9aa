"""The run's private folder `<log>.run/` (0700, its files 0600): what steps leave there
while they run, and what a resume removes because the swrun that left it is gone.

    <log>.run/state/<id>.env     a local step's changed exports (shellstate), until read
    <log>.run/exit/<id>.status   a local step's exit status, until logged
    <log>.run/swrun-step-*.script  a non-shell block (python, node …) while it runs
    <log>.run/ansible/           ansible-runner's private directory (swrun.ansible.job)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path

MODE = 0o700


def private(run_dir: Path, *parts: str) -> Path:
    """`run_dir/parts…`, each folder created 0700 (and made 0700 when swrun finds it wider:
    a log folder from an older swrun)."""
    path = Path(run_dir)
    _own(path)
    for part in parts:
        path = path / part
        _own(path)
    return path


def _own(path: Path) -> None:
    try:
        path.mkdir(mode=MODE)
    except FileExistsError:
        with contextlib.suppress(OSError):
            st = os.lstat(path)
            if stat.S_ISDIR(st.st_mode) and st.st_mode & 0o077 and st.st_uid == os.getuid():
                os.chmod(path, MODE)
    except FileNotFoundError:
        path.parent.mkdir(mode=MODE, parents=True, exist_ok=True)
        path.mkdir(mode=MODE, exist_ok=True)


def clear_stale(run_dir: Path | None) -> list[str]:
    """Remove what the parts of a run before this one left behind (a resume calls it once the
    steps they left running are settled, so nothing there is still in use): state and exit
    files, scripts, and in `ansible/` the extra-vars files, wrappers and guards, the
    `job_events` (with their `-partial.json`) and fact caches of every artifacts folder, and
    the environment in an artifacts `command` file. Returns the paths removed, relative to
    `run_dir`."""
    if run_dir is None or not os.path.isdir(run_dir):
        return []
    root = Path(run_dir)
    private(root)
    gone: list[str] = []

    def remove(path: Path) -> None:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            return
        gone.append(str(path.relative_to(root)))

    for sub in ("state", "exit"):
        for path in sorted((root / sub).glob("*")) if (root / sub).is_dir() else ():
            remove(path)
    for path in sorted(root.glob("swrun-step-*.script")):
        remove(path)
    ansible = root / "ansible"
    if ansible.is_dir():
        private(ansible)
        for command in sorted(ansible.glob("artifacts/*/command")):
            scrub_command(command)  # its environment, if swrun died before it did this
        for pattern in ("*.vars.yml", "*.sh", "*.guard"):
            for path in sorted(ansible.glob(pattern)):
                remove(path)
        for pattern in ("artifacts/*/job_events", "artifacts/*/fact_cache"):
            for path in sorted(ansible.glob(pattern)):
                remove(path)
    return gone


def scrub_command(path: Path) -> None:
    """ansible-runner's `command` file without its `env` (swrun's whole environment)."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(data, dict) or "env" not in data:
        return
    data.pop("env")
    tmp = path.with_name(path.name + ".swrun")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False)
    os.replace(tmp, path)
