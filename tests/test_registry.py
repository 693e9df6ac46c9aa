"""One run per runbook on this machine: the machine-wide run registry. Two working
directories, a symlink and a hard link meet at one lock; `swrun ps` lists the run from `/`;
a killed holder never blocks; another Unix user is blocked by the lock but can neither
remove it nor pass a forged entry off as someone else's. Real processes and a real user."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from swrun.exitcodes import ExitCode

from conftest import swrun_cmd
from helpers import write_runbook

HOLD = """
    ---
    environment: staging
    ---
    # Hold

    ```bash {{name=prepare}}
    true
    ```

    ```bash {{name=hold}}
    test -w {d} || exit 9
    echo $$ > {d}/hold.pid
    touch {d}/holding
    sleep 60
    ```
    """


def _wait_for(path: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def cli(args: list[str], cwd: Path | str, timeout: float = 60
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*swrun_cmd(), *args], cwd=cwd,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=timeout)


@contextlib.contextmanager
def holding(folder: Path, book: str, *extra: str, marks: Path | None = None
            ) -> Iterator[subprocess.Popen[bytes]]:
    """`swrun execute BOOK` in `folder`, at its `hold` step until the block ends (the step
    marks the runbook's folder, `marks`)."""
    marks = marks or folder
    (marks / "holding").unlink(missing_ok=True)
    proc = subprocess.Popen([*swrun_cmd(), "execute", book, "--yes", *extra], cwd=folder,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(marks / "holding")
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        with contextlib.suppress(OSError, ValueError):  # the step has its own group
            os.killpg(os.getpgid(int((marks / "hold.pid").read_text())), signal.SIGKILL)


def test_the_default_registry_is_one_place_for_every_user_and_folder() -> None:
    from swrun.registry import DEFAULT, registry_dir

    assert registry_dir({}) == DEFAULT == Path("/var/tmp/swrun")
    assert registry_dir({"SWRUN_REGISTRY": "/x/y"}) == Path("/x/y")


def test_two_folders_a_symlink_and_a_hard_link_meet_at_one_lock(tmp_path: Path) -> None:
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    alice.mkdir()
    bob.mkdir()
    write_runbook(alice, HOLD.format(d=alice), "blue-green-production.md")
    (bob / "link.md").symlink_to(alice / "blue-green-production.md")
    os.link(alice / "blue-green-production.md", bob / "hard.md")
    with holding(alice, "blue-green-production.md", "--operator", "alice@bastion") as first:
        (log,) = (alice / "logs" / "blue-green-production").glob("*.toml")
        for book in ("link.md", "hard.md", str(alice / "blue-green-production.md")):
            res = cli(["execute", book, "--yes", "--operator", "bob@bastion"], bob)
            assert res.returncode == ExitCode.LOG_LOCKED, (book, res.stdout, res.stderr)
            said = res.stderr.strip().splitlines()
            assert len(said) == 1, said
            assert said[0].startswith(f"swrun: {book} is already being run by alice@bastion "
                                      "(user ")
            assert f"pid {first.pid}, run " in said[0] and f"log {log})" in said[0]
        assert not (bob / "logs").exists()  # nothing ran, no log was made

        # from anywhere: `/`, and a folder with no logs/ at all
        for where in ("/", bob):
            res = cli(["ps", "--json"], where)
            runs = [r for r in json.loads(res.stdout) if r["pid"] == first.pid]
            assert len(runs) == 1, res.stdout
            run = runs[0]
            assert run["log"] == str(log) and run["operator"] == "alice@bastion"
            assert run["user"] and run["locked"] is True
            assert run["environment"] == "staging"
            assert run["step"] == "hold" and run["waiting_for"] == "step 2 'hold' to finish"
            assert run["runbook_file"] == str(alice / "blue-green-production.md")
        table = cli(["ps"], "/").stdout.splitlines()
        row = next(line for line in table if f"  {first.pid}  " in line)
        assert "2. hold" in row and "step 2 'hold' to finish" in row and str(log) in row

        # an editor that saves by writing a new file and renaming it (a new inode) does
        # not free the runbook: its path is locked too
        book = alice / "blue-green-production.md"
        new = alice / ".blue-green-production.md.swp"
        new.write_text(book.read_text() + "\n<!-- edited -->\n")
        os.replace(new, book)
        res = cli(["execute", "link.md", "--yes"], bob)
        assert res.returncode == ExitCode.LOG_LOCKED, res.stdout + res.stderr
        assert f"pid {first.pid}, run " in res.stderr

        # another environment of the same file is another lock
        other = bob / "other.md"
        other.write_text((alice / "blue-green-production.md").read_text()
                         .replace("environment: staging", "environment: qa")
                         .replace("sleep 60", "true").replace("hold", "other"))
        res = cli(["execute", "other.md", "--yes"], bob)
        assert res.returncode == 0, res.stderr
        # --concurrent runs beside it, and ps lists both
        res = cli(["execute", "link.md", "--yes", "--concurrent", "--dry-run"], bob)
        assert res.returncode == 0, res.stderr


def test_a_killed_holder_never_blocks(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    write_runbook(a, HOLD.format(d=a), "rb.md")
    (b / "link.md").symlink_to(a / "rb.md")
    with holding(a, "rb.md") as first:
        pass  # kill -9 of swrun and its step (the process group), mid-step
    assert first.returncode == -signal.SIGKILL
    registry = Path(os.environ["SWRUN_REGISTRY"])
    assert list(registry.glob(f"*.{first.pid}.*.toml"))  # its entry stayed behind
    assert all(r["pid"] != first.pid for r in json.loads(cli(["ps", "--json"], "/").stdout))
    (a / "hold.pid").unlink()
    with holding(b, "link.md", marks=a) as second:
        res = cli(["ps", "--json"], "/")
        assert [r["pid"] for r in json.loads(res.stdout)] == [second.pid]
    assert not list(registry.glob(f"*.{first.pid}.*.toml"))  # cleaned by its user's next run


# -- another Unix user -------------------------------------------------------------------

USER = "swrun-test-bob"


Bob = Callable[[list[str], Path, Path], subprocess.CompletedProcess[str]]


@pytest.fixture
def other_user() -> Iterator[Bob]:
    """A real second user (made and removed here), and a function that runs this tree's
    swrun as them: bob(args, cwd, registry)."""
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("runuser"):
        pytest.skip("needs root, useradd and runuser to make a second user")
    subprocess.run(["userdel", USER], capture_output=True)
    subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", USER], check=True,
                   capture_output=True)
    python = "/usr/bin/python3"
    site = next((p for p in sys.path if p.endswith("site-packages")), "")
    here = str(Path(__file__).resolve().parent.parent)
    ok = subprocess.run(["runuser", "-u", USER, "--", "env", f"PYTHONPATH={here}:{site}",
                         python, "-c", "import swrun"], capture_output=True)
    if ok.returncode != 0:
        subprocess.run(["userdel", USER], capture_output=True)
        pytest.skip(f"{USER} cannot run this swrun: {ok.stderr.decode()[-200:]}")

    def bob(args: list[str], cwd: Path, registry: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["runuser", "-u", USER, "--", "env", f"PYTHONPATH={here}:{site}",
                               f"SWRUN_REGISTRY={registry}", "NO_COLOR=1", "HOME=/tmp",
                               python, "-m", "swrun", *args], cwd=cwd, capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL)

    try:
        yield bob
    finally:  # every command of bob's was waited for: nothing of his runs now
        subprocess.run(["userdel", USER], capture_output=True)


def test_another_user_is_blocked_but_cannot_remove_or_forge_an_entry(
        other_user: Bob, monkeypatch: pytest.MonkeyPatch) -> None:
    top = Path(tempfile.mkdtemp(prefix="swrun-users-", dir="/tmp"))
    try:
        top.chmod(0o755)
        registry = top / "registry"  # made by the first run, 1777
        monkeypatch.setenv("SWRUN_REGISTRY", str(registry))
        alice = top / "alice"
        alice.mkdir()
        write_runbook(alice, HOLD.format(d=alice), "rb.md")
        bob = top / "bob"
        bob.mkdir()
        shutil.chown(bob, USER)
        with holding(alice, "rb.md", "--operator", "alice@bastion") as first:
            assert registry.stat().st_mode & 0o7777 == 0o1777
            (entry,) = registry.glob(f"*.{os.getuid()}.{first.pid}.*.toml")
            locks = sorted(registry.glob("*.lock"))  # the file's and its path's
            assert len(locks) == 2

            res = other_user(["execute", str(alice / "rb.md"), "--yes"], bob, registry)
            assert res.returncode == ExitCode.LOG_LOCKED, res.stdout + res.stderr
            assert "is already being run by alice@bastion (user root, pid " \
                   f"{first.pid}" in res.stderr
            # bob sees the run from his own folder
            res = other_user(["ps", "--json"], bob, registry)
            (run,) = json.loads(res.stdout)
            assert run["pid"] == first.pid and run["user"] == "root"
            assert run["step"] == "hold"
            # the sticky bit: bob can neither remove nor replace alice's files
            for victim in (entry, *locks):
                gone = subprocess.run(["runuser", "-u", USER, "--", "rm", "-f", str(victim)],
                                      capture_output=True, timeout=30)
                assert gone.returncode != 0 and victim.exists()
            # a forged entry in alice's name (her uid and pid), written by bob, is ignored
            forged = registry / entry.name.replace(entry.name.split(".")[3], "0badf00d")
            subprocess.run(["runuser", "-u", USER, "--", "sh", "-c",
                            f"cat > {forged}"], input=entry.read_bytes()
                           .replace(b"alice@bastion", b"mallory"), check=True, timeout=30)
            res = cli(["ps", "--json"], "/")
            assert [(r["pid"], r["operator"]) for r in json.loads(res.stdout)] == [
                (first.pid, "alice@bastion")]
        # the holder is gone (kill -9): its lock file, root's, does not block bob, who runs
        # the runbook (its step cannot write alice's folder: exit 9, a failed step)
        assert all(lock.exists() and lock.stat().st_uid == 0 for lock in locks)
        res = other_user(["execute", str(alice / "rb.md"), "--yes"], bob, registry)
        assert res.returncode == ExitCode.STEP_FAILED, res.stdout + res.stderr
        assert "exit 9" in res.stdout + res.stderr
    finally:
        for pid_file in top.glob("*/hold.pid"):
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.killpg(os.getpgid(int(pid_file.read_text())), signal.SIGKILL)
        shutil.rmtree(top, ignore_errors=True)


def test_a_symlink_where_the_lock_goes_refuses_the_run_it_does_not_unguard_it(
        tmp_path: Path) -> None:
    from swrun.errors import LogLockedError
    from swrun.registry import RunbookLock, open_registry, runbook_key

    book = write_runbook(tmp_path, "# Book\n", "rb.md")
    folder, _ = open_registry()
    lock_file = folder / f"{runbook_key(book, None)}.lock"
    lock_file.symlink_to(tmp_path / "elsewhere")
    try:
        with pytest.raises(LogLockedError, match="who put a symlink where the lock file"):
            RunbookLock.acquire(book, {"operator": "a", "pid": os.getpid()})
        lock, said = RunbookLock.acquire(book, {"operator": "a", "pid": os.getpid()},
                                         concurrent=True)
        assert lock is not None and not lock.locked and "--concurrent" in (said or "")
        lock.release()
        assert not (tmp_path / "elsewhere").exists()  # nothing followed the link
    finally:
        lock_file.unlink()
