"""Reading the process table from /proc: liveness, descendants and command lines."""

from __future__ import annotations

import os


def _stat(pid: int | str) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().decode(errors="replace")
    except OSError:
        return None


def alive(pid: int | None) -> bool:
    """The process exists and is not a zombie."""
    if not pid:
        return False
    stat = _stat(pid)
    if stat is None:
        return False
    try:
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except IndexError:
        return False


def children() -> dict[int, list[int]]:
    """Parent pid → its children's pids, for every process now."""
    tree: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        stat = _stat(d)
        if stat is None:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(d))
    return tree


def descendants(pid: int) -> list[int]:
    tree = children()
    out, todo = [], [pid]
    while todo:
        for kid in tree.get(todo.pop(), []):
            out.append(kid)
            todo.append(kid)
    return out


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def matching(text: str) -> list[int]:
    """Live pids (not this one) whose command line contains `text`."""
    me = os.getpid()
    return [int(d) for d in os.listdir("/proc")
            if d.isdigit() and int(d) != me and text in cmdline(int(d)) and alive(int(d))]


def _fields(pid: int | str) -> list[str] | None:
    """/proc/<pid>/stat after the command name: [state, ppid, pgrp, session, …]."""
    stat = _stat(pid)
    if stat is None:
        return None
    try:
        return stat.rsplit(")", 1)[1].split()
    except IndexError:
        return None


def start_time(pid: int) -> int | None:
    """When the process started, in clock ticks after boot (/proc/<pid>/stat field 22): with
    the pid, it names one process, never a later one that got the same pid."""
    got = _fields(pid)
    try:
        return int(got[19]) if got else None
    except (IndexError, ValueError):
        return None


def boot_id() -> str | None:
    """This boot's id: start times are counted from it."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) pids in process group `pgid`."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        got = _fields(d)
        if got and len(got) > 2 and got[2] == str(pgid) and got[0] != "Z":
            out.append(int(d))
    return out


def held_locks() -> dict[tuple[int, int, int], int]:
    """(major, minor, inode) → pid of every FLOCK held on this machine (Linux /proc/locks;
    empty elsewhere). Reading it takes no lock."""
    out: dict[tuple[int, int, int], int] = {}
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split()
        if len(parts) < 6 or parts[1] != "FLOCK":  # "->" lines are waiters, not holders
            continue
        try:
            major, minor, ino = parts[5].split(":")
            out[(int(major, 16), int(minor, 16), int(ino))] = int(parts[4])
        except ValueError:
            continue
    return out


def file_key(st: os.stat_result) -> tuple[int, int, int]:
    return (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
