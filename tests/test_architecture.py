"""The import contract of docs/architecture.md, read from the code's own imports (imports
inside functions and under TYPE_CHECKING count): no cycle between swrun's modules, the core
never imports textual or click, and the front ends import only public names."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "swrun"

CORE = ("swrun.model", "swrun.parser", "swrun.parse", "swrun.engine", "swrun.loop",
        "swrun.runlog", "swrun.log", "swrun.executors")
"""The core: a module named so, or inside a package named so."""
UI = ("textual", "click")
FRONT = ("swrun.tui", "swrun.cli", "swrun.commands")

PRIVATE_ALLOWED: set[tuple[str, str]] = set()
"""Front-end imports of a private name that are known and are being moved (empty: the
console's last one, execute._EXIT, is swrun.run.EXIT now); a new one fails the test."""

ROOMS = [  # bottom up, as docs/architecture.md draws them; the longest matching name wins
    ("data", "swrun model events errors exitcodes durations words attributes executors.base"),
    ("system", "procs files envnames shellbody toolnoise inventory templates"),
    ("values", "secretsources variables secrets awsconfig"),
    ("reading", "parser parse frontmatter rules notify.config formats"),
    ("log", "runlog log evidence registry watch.tail watch.status watch.source"),
    ("backends", "executors ops ssh ansible rundir kube"),
    ("engine", "engine loop carry emptyvalue rollbackvars operators"),
    ("reports", "timeline plan render checks doctor listing ps new otel"),
    ("session", "session execute run notify evidence.commands"),
    ("front ends", "cli commands completion sigint tui watch lab __main__"),
]
"""A room may import its own room and the rooms below it, never one above."""


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


MODULES = _modules()


def _imports(name: str) -> Iterator[tuple[str, str | None]]:
    """`(module, imported name or None)` for every import statement anywhere in `name`."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                yield base, alias.name


def _edges(name: str) -> set[str]:
    """The swrun modules `name` imports (`from swrun import x` is the module swrun.x)."""
    out = set()
    for module, member in _imports(name):
        if member is not None and f"{module}.{member}" in MODULES:
            out.add(f"{module}.{member}")
        elif module in MODULES:
            out.add(module)
    out.discard(name)
    return out


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _within(name: str, rooms: tuple[str, ...]) -> bool:
    return any(name == r or name.startswith(r + ".") for r in rooms)


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_swrun_modules() -> None:
    assert _cycles({name: _edges(name) for name in MODULES}) == []


@pytest.mark.parametrize("name", [m for m in MODULES if _within(m, CORE)])
def test_the_core_never_imports_textual_or_click(name: str) -> None:
    """Nor through another swrun module it imports (anywhere in it, inside functions too)."""
    seen, todo = {name}, [name]
    while todo:
        here = todo.pop()
        ui = sorted({m for m, _ in _imports(here) if m.split(".")[0] in UI})
        assert not ui, f"{name} imports {ui}" + ("" if here == name else f" through {here}")
        for other in _edges(here) - seen:
            seen.add(other)
            todo.append(other)


def test_front_ends_import_only_public_names() -> None:
    found = set()
    for name in MODULES:
        if not _within(name, FRONT):
            continue
        for module, member in _imports(name):
            if module.split(".")[0] != "swrun" or module == name:
                continue
            if member is not None and member.startswith("_") and member != "__version__":
                found.add((name, f"{module}.{member}"))
            elif any(p.startswith("_") for p in module.split(".")[1:]):
                found.add((name, module))
    assert found - PRIVATE_ALLOWED == set()


def _room(name: str) -> int | None:
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        prefix = ".".join(parts[:k])
        for level, (_, names) in enumerate(ROOMS):
            if prefix in {"swrun"} | {f"swrun.{n}" for n in names.split()} and (
                    prefix != "swrun" or name == "swrun"):
                return level
    return None


def test_every_module_has_a_room() -> None:
    """A new module gets a room here and in docs/architecture.md."""
    assert [m for m in MODULES if _room(m) is None] == []


def test_no_room_imports_a_room_above_it() -> None:
    upward = []
    for name in MODULES:
        here = _room(name)
        for other in _edges(name):
            there = _room(other)
            if here is not None and there is not None and there > here:
                upward.append(f"{name} ({ROOMS[here][0]}) -> {other} ({ROOMS[there][0]})")
    assert upward == []
