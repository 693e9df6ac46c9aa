"""Find what would make a playbook wait for a person: `vars_prompt` and `pause` without a time.

The scan reads YAML only (no Ansible import) and follows what it can resolve statically:
`import_playbook`, `import_tasks`/`include_tasks` with a literal file, `roles:` and
`import_role`/`include_role` with a literal name (looked up in `roles/` next to the playbook).
Anything templated is skipped; the executor's run-time guard covers what the scan cannot see.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PAUSE_ACTIONS = frozenset({"pause", "ansible.builtin.pause", "ansible.legacy.pause"})
_IMPORT_TASKS = ("import_tasks", "include_tasks", "ansible.builtin.import_tasks",
                 "ansible.builtin.include_tasks", "include")
_ROLE_TASKS = ("import_role", "include_role", "ansible.builtin.import_role",
               "ansible.builtin.include_role")
_TASK_LISTS = ("pre_tasks", "tasks", "post_tasks", "handlers")
_BLOCK_LISTS = ("block", "rescue", "always")
_MAX_FILES = 200


@dataclass(frozen=True)
class Prompt:
    """One place where the playbook would ask for input."""

    path: Path
    line: int
    kind: str
    """`vars_prompt` or `pause`."""
    name: str = ""
    """The variable a vars_prompt entry sets."""

    def describe(self, base: Path | None = None) -> str:
        where = _rel(self.path, base)
        if self.kind == "vars_prompt":
            return (f"{where}:{self.line}: vars_prompt asks for {self.name!r}; declare a runbook "
                    f"variable {self.name} (or set it in the step body) to answer it")
        return (f"{where}:{self.line}: pause waits for a key press; give it seconds= or "
                "minutes=, or use a `- [ ]` check in the runbook instead")


def find_prompts(playbook: Path, answered: Iterable[str] = ()) -> list[Prompt]:
    """Every prompt `playbook` would show that `answered` (extra-var names) does not answer."""
    known = set(answered)
    scan = _Scan(playbook.resolve().parent)
    scan.playbook(playbook.resolve())
    return [p for p in scan.found if not (p.kind == "vars_prompt" and p.name in known)]


def _rel(path: Path, base: Path | None) -> str:
    if base is not None:
        try:
            return str(path.relative_to(base))
        except ValueError:
            pass
    return str(path)


class _Scan:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.found: list[Prompt] = []
        self.seen: set[Path] = set()

    def _load(self, path: Path) -> Any:
        import yaml

        if path in self.seen or len(self.seen) >= _MAX_FILES or not path.is_file():
            return None
        self.seen.add(path)
        try:
            return yaml.compose(path.read_text(encoding="utf-8"), Loader=_loader)
        except (OSError, UnicodeDecodeError, Exception):  # a broken file is Ansible's to report
            return None

    def playbook(self, path: Path) -> None:
        node = self._load(path)
        for play in _items(node):
            target = _scalar(_get(play, "import_playbook") or _get(play, "ansible.builtin."
                                                                     "import_playbook"))
            if target:
                if "{{" not in target:
                    self.playbook((path.parent / target).resolve())
                continue
            for entry in _items(_get(play, "vars_prompt")):
                name = _scalar(_get(entry, "name")) or ""
                self.found.append(Prompt(path, _line(entry), "vars_prompt", name))
            for role in _items(_get(play, "roles")):
                name = _scalar(role) or _scalar(_get(role, "role")) or _scalar(_get(role, "name"))
                self.role(name, path.parent)
            for key in _TASK_LISTS:
                self.tasks(_get(play, key), path)

    def tasks(self, node: Any, path: Path) -> None:
        for task in _items(node):
            for key in _BLOCK_LISTS:
                self.tasks(_get(task, key), path)
            for key in PAUSE_ACTIONS:
                if _has_key(task, key) and _pause_waits(_get(task, key)):
                    self.found.append(Prompt(path, _line(task), "pause"))
            for key in _IMPORT_TASKS:
                target = _scalar(_get(task, key)) or _scalar(_get(_get(task, key), "file"))
                if target and "{{" not in target:
                    self.tasks(self._load((path.parent / target).resolve()),
                               (path.parent / target).resolve())
            for key in _ROLE_TASKS:
                self.role(_scalar(_get(_get(task, key), "name")), self.root)

    def role(self, name: str | None, base: Path) -> None:
        if not name or "{{" in name:
            return
        for roles in (base / "roles", self.root / "roles"):
            main = (roles / name / "tasks" / "main.yml").resolve()
            if main.is_file():
                self.tasks(self._load(main), main)
                return


def _pause_waits(args: Any) -> bool:
    """A pause blocks until someone presses a key unless it has seconds or minutes."""
    text = _scalar(args)
    if text is not None:
        return "seconds=" not in text and "minutes=" not in text
    return _get(args, "seconds") is None and _get(args, "minutes") is None


# -- tiny helpers over yaml nodes (line numbers survive, no tags are constructed) ------------

def _loader(stream: Any) -> Any:
    import yaml

    return yaml.SafeLoader(stream)


def _items(node: Any) -> Iterator[Any]:
    if node is not None and type(node).__name__ == "SequenceNode":
        yield from node.value


def _get(node: Any, key: str) -> Any:
    if node is None or type(node).__name__ != "MappingNode":
        return None
    for k, v in node.value:
        if getattr(k, "value", None) == key:
            return v
    return None


def _has_key(node: Any, key: str) -> bool:
    return node is not None and type(node).__name__ == "MappingNode" and any(
        getattr(k, "value", None) == key for k, _ in node.value)


def _scalar(node: Any) -> str | None:
    if node is not None and type(node).__name__ == "ScalarNode":
        return str(node.value)
    return None


def _line(node: Any) -> int:
    return int(node.start_mark.line) + 1
