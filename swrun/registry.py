"""The machine-wide run registry: one run per runbook and environment on this machine, and
what `swrun ps` lists from any directory, for any user (docs/run-log.md#the-run-registry).

Where: `$SWRUN_REGISTRY`, else `/var/tmp/swrun` — one fixed folder for every user and
working directory, made on first use with mode 1777 (world-writable, sticky, like /tmp).
A runbook is named by its real file's identity, so a symlink, a hard link and the same
file reached from another folder all meet: `<dev>-<inode>-<hash of the environment>`:

    <key>.lock                        flock'ed for the run's life; never written. The kernel
                                      drops the lock when the holder dies, so a lock file
                                      left behind never blocks.
    p-<path hash>-<env hash>.lock     the same for the runbook's real path: a runbook an
                                      editor replaced (a new inode) while it runs is still
                                      taken.
    <key>.<uid>.<pid>.<token>.toml    who runs it (user, operator, pid, run, log, the step
                                      it is at and what it waits for): written by its run
                                      only, whole, renamed to a fresh token as the run moves
                                      (the last version removed after: renaming over an
                                      existing file costs ext4 a flush, ~2 ms), removed at
                                      its end. One per run, `--concurrent` too; a reader
                                      seeing two of one run keeps the higher `version`.

Other users: in a sticky folder only a file's owner (or root, or the folder's owner)
removes or renames it, so nobody can unlink a lock someone holds and take a fresh one, or
replace someone else's entry. Nothing is believed from a name or a file's text alone: an
entry counts only if the file's owner is the uid in its name, and that uid runs the named
pid, started when the entry says (a reused pid is not the run). A lock another user holds
still blocks: that is the point.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pwd
import re
import secrets
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from swrun.errors import LogLockedError
from swrun.files import kind_of, read_regular
from swrun.procs import file_key, held_locks, start_time
from swrun.watch.status import RunState

DEFAULT = Path("/var/tmp/swrun")
"""The registry when $SWRUN_REGISTRY is not set: the same for every user and directory
(/var/tmp, not /run: any user can make it there, and it is one place whoever came first)."""
ENV = "SWRUN_REGISTRY"
_MAX_ENTRY = 64 * 1024
_ENTRY = re.compile(r"([0-9a-f]+-[0-9a-f]+-[0-9a-f]{8})\.(\d+)\.(\d+)\.([0-9a-f]{8})\.toml")
_MOVING = frozenset({"step", "step_number", "step_title", "where", "waiting_for"})
"""The entry's fields `RunbookLock.see` moves as the run goes (the rest is set once)."""
_STEP_EVENTS = frozenset({"step_started", "step_finished", "check_ticked", "step_skipped",
                          "operator_waiting", "approval_needed", "approval", "run_finished",
                          "run_resumed"})


class RegistryUnusable(Exception):
    """The registry folder cannot be used safely; the run goes on unguarded, and says so."""


def registry_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    given = env.get(ENV, "")
    return Path(given) if given else DEFAULT


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def sticky_folder(path: Path) -> os.stat_result:
    """`path` as a folder every local user can use (made 1777 when missing, like /tmp); its
    stat. RegistryUnusable when it is a symlink, not a folder, or writable by all without
    the sticky bit (anyone could remove what others put there)."""
    try:
        os.mkdir(path, 0o1777)
    except FileExistsError:
        pass
    except OSError as exc:
        raise RegistryUnusable(f"{path}: cannot make the run registry ({exc.strerror})") \
            from None
    else:
        with contextlib.suppress(OSError):  # the umask took bits away
            os.chmod(path, 0o1777)
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise RegistryUnusable(f"{path}: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise RegistryUnusable(f"{path}: the run registry is not a folder (a symlink or a "
                               "file is there)")
    if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
        raise RegistryUnusable(f"{path}: the run registry is writable by everyone without the "
                               "sticky bit (chmod 1777 it): anyone could remove a lock")
    return st


def open_registry(environ: Mapping[str, str] | None = None) -> tuple[Path, str | None]:
    """The registry folder, made if missing (1777), and a warning when its owner is another
    user (who could remove entries in it). RegistryUnusable when it is a symlink, not a
    folder, or writable by all without the sticky bit."""
    path = registry_dir(environ)
    st = sticky_folder(path)
    warning = None
    if st.st_uid not in (0, os.geteuid()):
        warning = (f"{path}: the run registry belongs to {_user(st.st_uid)}, who can remove "
                   "other users' locks in it; have root own it (docs/team.md)")
    return path, warning


def runbook_key(runbook_path: str | Path, environment: str | None) -> str:
    """`<dev>-<inode>-<8 hex of the environment>` of the runbook's real file."""
    st = os.stat(runbook_path)  # follows symlinks: the file, not the name
    return f"{st.st_dev:x}-{st.st_ino:x}-{_hex(environment or '')[:8]}"


def path_key(runbook_path: str | Path, environment: str | None) -> str:
    """`p-<16 hex of the real path>-<8 hex of the environment>`: the second lock, for a
    runbook an editor saved as a new file (a new inode) while it runs."""
    return f"p-{_hex(os.path.realpath(runbook_path))[:16]}-{_hex(environment or '')[:8]}"


def _hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass
class Entry:
    """One run's registry entry, checked: its owner runs `pid`."""

    path: Path
    key: str
    uid: int
    pid: int
    info: dict[str, Any]

    @property
    def user(self) -> str:
        return _user(self.uid)


def _proc_uid(pid: int) -> int | None:
    """The uid running `pid`; None when it is not running. Without /proc (not Linux) a
    live pid is taken to be its entry's user's."""
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            return None
    except OSError:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return -1  # alive, someone else's
    return os.geteuid()


def read_entry(path: Path) -> Entry | None:
    """The entry at `path`, if it is one and its run is alive: the file's owner is the uid
    its name gives, that uid runs the pid, and the pid started when the entry says."""
    m = _ENTRY.fullmatch(path.name)
    if m is None:
        return None
    key, uid, pid = m.group(1), int(m.group(2)), int(m.group(3))
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != uid:
            return None
        info = tomllib.loads(read_regular(path, _MAX_ENTRY).decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return None
    if info.get("pid") != pid or _proc_uid(pid) not in (uid, -1):
        return None
    started = info.get("pid_start")
    if isinstance(started, int) and start_time(pid) not in (None, started):
        return None  # the pid was given to a later process
    return Entry(path, key, uid, pid, info)


def entries(folder: Path | None = None) -> list[Entry]:
    """Every live entry of the registry (none when it does not exist)."""
    folder = registry_dir() if folder is None else folder
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    latest: dict[tuple[int, int, str], Entry] = {}
    for name in names:
        entry = read_entry(folder / name) if name.endswith(".toml") else None
        if entry is None:
            continue
        seen = latest.get((entry.uid, entry.pid, entry.key))
        if seen is None or _version(entry) > _version(seen):  # caught mid-move: the newer
            latest[(entry.uid, entry.pid, entry.key)] = entry
    return list(latest.values())


def _version(entry: Entry) -> int:
    got = entry.info.get("version")
    return got if isinstance(got, int) else 0


def lock_holder(folder: Path, key: str, locks: dict[tuple[int, int, int], int] | None = None
                ) -> int | None:
    try:
        st = os.lstat(folder / f"{key}.lock")
    except OSError:
        return None
    return (held_locks() if locks is None else locks).get(file_key(st)) or None


def describe(entry: Entry | None, pid: int | None) -> str:
    """`alice@bastion (user alice, pid 4242, run 0badcafe, since …, log …)`."""
    info = entry.info if entry is not None else {}
    who = str(info.get("operator") or "another swrun")
    parts = []
    uid = entry.uid if entry is not None else (_proc_uid(pid) if pid else None)
    if uid is not None and uid >= 0:
        parts.append(f"user {_user(uid)}")
    if pid:
        parts.append(f"pid {pid}")
    for key, label in (("run_id", "run"), ("since", "since"), ("log", "log")):
        if isinstance(info.get(key), str | int) and str(info[key]):
            parts.append(f"{label} {info[key]}")
    return who + (f" ({', '.join(parts)})" if parts else "")


def _entry_text(info: dict[str, Any]) -> bytes:
    return tomli_w.dumps({k: v for k, v in info.items() if v is not None}).encode("utf-8")


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:  # the folder was removed under us
        return None


class RunbookLock:
    """This run's place in the registry: the flocks on `<key>.lock` and on the lock of
    the runbook's real path (none with --concurrent beside a holder), and its entry, kept
    up to date as the run moves (`see`)."""

    def __init__(self, folder: Path, key: str, fds: list[tuple[Path, int]],
                 info: dict[str, Any]) -> None:
        self.folder = folder
        self.key = key
        self._fds = fds
        self.info = info
        self._entry: str | None = None
        """The entry's current name (a new one at every write)."""
        self._fixed: tuple[dict[str, Any], bytes] | None = None
        """What `update` set, and its TOML (formatted again only when it changes)."""
        self._version = 0
        self._state = RunState()
        self._shown: tuple[str, str] = ("", "")

    @property
    def entry(self) -> Path | None:
        """The entry's current file (a new one at every write)."""
        return None if self._entry is None else Path(self._entry)

    @property
    def path(self) -> Path:
        return self.folder / f"{self.key}.lock"

    @property
    def locked(self) -> bool:
        return bool(self._fds)

    @classmethod
    def acquire(cls, runbook_path: str | Path, info: dict[str, Any], *,
                base: Path | None = None, concurrent: bool = False, create: bool = True,
                environ: Mapping[str, str] | None = None,
                ) -> tuple[RunbookLock | None, str | None]:
        """The lock and a warning line. Held by another swrun: LogLockedError naming the
        holder, or with `concurrent` an entry without the lock, and a warning. A registry
        that cannot be used is a warning: the run goes on unguarded, and says so. (`base`
        and `create` are the per-folder lock's; the registry is one for the machine.)"""
        try:
            folder, warning = open_registry(environ)
            key = runbook_key(runbook_path, info.get("environment"))
        except RegistryUnusable as exc:
            return None, (f"{exc}; nothing stops a second swrun from running "
                          f"{runbook_path} at the same time")
        except OSError as exc:
            return None, f"{runbook_path}: cannot name the runbook's lock ({exc.strerror})"
        info = {**info, "user": _user(os.geteuid()), "uid": os.geteuid(),
                "pid_start": start_time(os.getpid()), "cwd": _cwd(),
                "runbook_file": os.path.realpath(runbook_path)}
        fds: list[tuple[Path, int]] = []
        try:  # the file's lock, then its path's (an editor may have made a new file)
            for name in (key, path_key(runbook_path, info.get("environment"))):
                fds.append((folder / f"{name}.lock", _take(folder / f"{name}.lock")))
        except _Held as held:
            _let_go(fds)
            pid = held.pid
            who = held.who or describe(_holder_entry(folder, key, pid), pid)
            if not concurrent:
                raise LogLockedError(f"{runbook_path} is already being run by {who}; wait for "
                                     "it to end, or pass --concurrent to run it anyway"
                                     ) from None
            lock = cls(folder, key, [], {})
            lock.update(**info, locked=False)
            return lock, (f"{runbook_path} is also being run by {who}; --concurrent: running "
                          "it anyway")
        except OSError as exc:
            _let_go(fds)
            return None, (f"{folder}/{key}.lock: cannot lock ({exc.strerror or exc}); nothing "
                          f"stops a second swrun from running {runbook_path} at the same time")
        lock = cls(folder, key, fds, {})
        lock.update(**info, locked=True)
        _clean_own(folder)
        return lock, warning

    def update(self, **info: Any) -> None:
        """Add to what the entry says (the run id and log, once they are known)."""
        if isinstance(info.get("log"), str):
            info["log"] = os.path.abspath(info["log"])
        self.info.update({k: v for k, v in info.items() if v is not None})
        self._write()

    def see(self, record: Mapping[str, Any]) -> None:
        """An event the run logged: the entry follows the step and what it waits for
        (rewritten only when those change). Never raises."""
        if record.get("type") not in _STEP_EVENTS:
            return
        try:
            self._state.apply(record)
            cur = self._state.current or {}
            shown = (self._state.step_text(), self._state.waiting_text())
            if self._state.finished is not None:
                shown = ("finishing", "")
            if shown == self._shown:
                return
            self._shown = shown
            self.info.update(step=cur.get("step"), step_number=cur.get("number"),
                             step_title=cur.get("title"))
            for name in ("step", "step_number", "step_title"):
                if self.info.get(name) is None:
                    self.info.pop(name, None)
            self.info["where"] = shown[0]
            self.info["waiting_for"] = shown[1]
            self._write()
        except Exception:  # the registry is for others to read; the run goes on regardless
            return

    def _write(self) -> None:
        """Whole into a temporary file, renamed to a fresh name, then the last version
        removed (no fsync: it says where a live run is, and a reboot ends every run)."""
        self._version += 1
        folder = os.fspath(self.folder)  # plain strings: this runs at every step boundary
        name = f"{self.key}.{os.geteuid()}.{os.getpid()}.{secrets.token_hex(4)}.toml"
        tmp = os.path.join(folder, f".{name}.tmp")
        with contextlib.suppress(OSError):
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, self._text())
            finally:
                os.close(fd)
            os.rename(tmp, new := os.path.join(folder, name))
            old, self._entry = self._entry, new
            if old is not None:
                os.unlink(old)

    def _text(self) -> bytes:
        """The entry's TOML: what `update` set is formatted once (it changes once or twice
        a run), the step fields `see` moves and the version after it."""
        fixed = {k: v for k, v in self.info.items() if k not in _MOVING}
        moving = {k: v for k, v in self.info.items() if k in _MOVING}
        if any(isinstance(v, (dict, list)) for v in fixed.values()):  # tables: one document
            return _entry_text({**self.info, "version": self._version})
        if self._fixed is None or self._fixed[0] != fixed:
            self._fixed = (fixed, _entry_text(fixed))
        return self._fixed[1] + _entry_text({**moving, "version": self._version})

    def release(self) -> None:
        """The entry removed and the lock given up; harmless twice."""
        if self._entry is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._entry)
            self._entry = None
        _let_go(self._fds)
        self._fds = []


def _let_go(fds: list[tuple[Path, int]]) -> None:
    """Our lock files removed while still held (a waiter that opened one sees it go and
    opens the next), then the locks given up."""
    for path, fd in fds:
        with contextlib.suppress(OSError):
            if os.fstat(fd).st_uid == os.geteuid():
                os.unlink(path)
        os.close(fd)
    fds.clear()


class _Held(Exception):
    def __init__(self, pid: int | None, who: str = "") -> None:
        self.pid = pid
        self.who = who


def _take(path: Path) -> int:
    """A flock'ed fd on `path`, made if missing; _Held when a live process holds it. A lock
    file someone removed between the open and the flock is opened again."""
    for _ in range(10):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            try:
                there = os.lstat(path)
                if not stat.S_ISREG(there.st_mode):  # a symlink or a FIFO put in the way
                    kind = "a symlink" if stat.S_ISLNK(there.st_mode) else kind_of(there.st_mode)
                    raise _Held(None, f"{_user(there.st_uid)}, who put {kind} where the lock "
                                f"file {path} goes (ask them or root to remove it)")
                # another user's file in a sticky folder: open it without O_CREAT
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            except PermissionError:  # made unreadable: held by someone, or in the way
                st = os.lstat(path)
                pid = held_locks().get(file_key(st))
                raise _Held(pid, "" if pid else f"{_user(st.st_uid)}, whose lock file {path} "
                            "cannot be opened (ask them or root to remove it)") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(f"{path} is not a regular file")
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = held_locks().get(file_key(os.fstat(fd)))
            os.close(fd)
            raise _Held(pid) from None
        except OSError:
            os.close(fd)
            raise
        try:
            same = file_key(os.lstat(path)) == file_key(st)
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # its holder removed it as it let go: take the one there now
    raise OSError(f"{path} keeps being replaced")


def _holder_entry(folder: Path, key: str, pid: int | None) -> Entry | None:
    found = entries(folder)
    runs = [e for e in found if e.pid == pid] if pid else []  # under any key: an edited file
    runs = runs or [e for e in found if e.key == key and e.info.get("locked")]
    return runs[0] if runs else None


def _clean_own(folder: Path) -> None:
    """Entries of this user whose run is gone (a kill -9), and their leftover temp files:
    removed. Others' stale entries are left, and ignored by every reader."""
    uid = os.geteuid()
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            m = _ENTRY.fullmatch(name.removeprefix(".").removesuffix(".tmp"))
            if m is None or int(m.group(2)) != uid or int(m.group(3)) == os.getpid():
                continue
            if name.endswith(".toml") and read_entry(folder / name) is not None:
                continue
            if name.endswith(".tmp") and _proc_uid(int(m.group(3))) == uid:
                continue  # being written now
            with contextlib.suppress(OSError):
                os.unlink(folder / name)
