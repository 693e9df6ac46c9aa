"""Log readers follow the runbook reader's rules: a FIFO, `/dev/zero` or a directory where a
log, `.sig`, approval or output file should be is one line, never a hang or an endless
read; what a file says is shown without its terminal escapes; `watch --plain` ends on a
run that died. Real `swrun` processes, each bounded by a timeout."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from swrun.exitcodes import ExitCode

from conftest import swrun_cmd
from helpers import write_runbook

ESCAPES = "\x1b]0;owned\x07\x1b[2J\x1b[31m"

RUNBOOK = """
    # Release \x1b]0;owned\x07\x1b[2J

    ```bash {name=build}
    printf 'building \\033]0;owned\\007\\033[2J\\033[31mred\\n'
    ```
    """


def cli(args: list[str], cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*swrun_cmd(), *args], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


@pytest.fixture
def finished(tmp_path: Path) -> Path:
    """A finished run of RUNBOOK: `run.toml`, with an output file."""
    write_runbook(tmp_path, RUNBOOK)
    res = cli(["execute", "rb.md", "--yes", "--log", "run.toml"], tmp_path)
    assert res.returncode == 0, res.stderr
    return tmp_path / "run.toml"


def _one_line(res: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in res.stderr, res.stderr
    said = [line for line in res.stderr.splitlines() if line.strip()]
    assert said, res.stdout
    return said[-1]


# -- item 9: regular files only, with limits ---------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_a_log_that_is_a_fifo_or_dev_zero_is_one_line_everywhere(tmp_path: Path,
                                                                  kind: str) -> None:
    write_runbook(tmp_path, RUNBOOK)
    bad = tmp_path / "bad.toml"
    if kind == "fifo":
        os.mkfifo(bad)
        what = "not a regular file (a FIFO)"
    else:
        bad.symlink_to("/dev/zero")
        what = "not a regular file (a character device)"
    for args in (["timeline", "bad.toml"], ["watch", "--plain", "bad.toml"],
                 ["execute", "rb.md", "--yes", "--resume", "bad.toml"],
                 ["approve", "bad.toml", "build", "--yes"]):
        res = cli(args, tmp_path)
        assert res.returncode == ExitCode.BAD_LOG, (args, res.stdout, res.stderr)
        assert _one_line(res) == f"swrun: bad.toml: {what}", args
    res = cli(["verify", "bad.toml"], tmp_path)
    assert res.returncode == ExitCode.NOT_VERIFIED, res.stderr
    assert res.stdout.strip() == f"bad.toml: unreadable: cannot read it: {what}"


def test_a_fifo_sig_or_output_file_beside_a_real_log_does_not_hang(finished: Path) -> None:
    folder = finished.parent
    os.mkfifo(folder / "run.toml.sig")
    (output,) = (folder / "run.output").iterdir()
    output.unlink()
    os.mkfifo(output)
    res = cli(["verify", "run.toml"], folder)
    assert res.returncode == ExitCode.NOT_VERIFIED, res.stderr
    assert "cannot read run.toml.sig: not a regular file (a FIFO)" in res.stdout
    res = cli(["verify", "run.toml", "--json"], folder)
    assert f"cannot read output file run.output/{output.name}: not a regular file (a FIFO)" \
        in res.stdout
    res = cli(["timeline", "run.toml"], folder)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    res = cli(["watch", "--plain", "run.toml"], folder)
    assert res.returncode == 0 and "■■ the run ended: completed" in res.stdout, res.stderr


def test_read_regular_refuses_past_its_limit(tmp_path: Path) -> None:
    from swrun.files import NotRegular, read_regular

    path = tmp_path / "x"
    path.write_bytes(b"a" * 101)
    with pytest.raises(NotRegular, match=r"larger than 100 bytes \(101 bytes\)"):
        read_regular(path, 100)
    assert read_regular(path, 101) == b"a" * 101


def test_a_log_over_the_limit_is_refused_before_it_is_read(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    import swrun.log.reader
    import swrun.runlog
    from swrun.errors import RunLogError

    path = tmp_path / "big.toml"
    path.write_bytes(b"[run]\nschema = 1\n\n" + b"#" * 2000 + b"\n\n")
    monkeypatch.setattr(swrun.log.reader, "MAX_LOG_BYTES", 1000)
    with pytest.raises(RunLogError, match=r"big.toml: larger than 1000 bytes \(2020 bytes\)"):
        swrun.runlog.read_log(path)


# -- item 7: nothing from a file reaches the terminal as an escape sequence ---------------


def test_what_a_log_says_is_shown_without_terminal_escapes(finished: Path) -> None:
    folder = finished.parent
    raw = finished.read_text()
    assert "\\u001b]0;owned" in raw  # the log keeps what was said
    for args in (["watch", "--plain", "run.toml"], ["timeline", "run.toml"],
                 ["history", "rb.md"], ["verify", "run.toml"]):
        res = cli(args, folder)
        assert "\x1b" not in res.stdout + res.stderr, (args, res.stdout)
        assert "\x07" not in res.stdout + res.stderr, args
    plain = cli(["watch", "--plain", "run.toml"], folder).stdout
    assert "│ building red" in plain and "— Release " in plain


def test_safe_text_keeps_text_and_drops_controls() -> None:
    from swrun.files import safe_text

    assert safe_text("plain ✓ text\twith tab\n") == "plain ✓ text\twith tab\n"
    assert safe_text(f"a{ESCAPES}b\x9b2Jc\x00d\x1bce") == "abcde"
    assert safe_text("\x1b]0;no end\nnext line") == "\nnext line"


# -- item 10: watch --plain on a run that died --------------------------------------------


def test_watch_plain_on_a_dead_run_says_it_died_and_ends(finished: Path) -> None:
    raw = finished.read_bytes()
    cut = raw.rindex(b"[[event]]")
    assert b'type = "run_finished"' in raw[cut:]
    finished.write_bytes(raw[:cut])  # no end, and no swrun holds it
    res = cli(["watch", "--plain", "run.toml"], finished.parent, timeout=30)
    assert res.returncode == 1, res.stdout + res.stderr
    last = res.stdout.strip().splitlines()[-1]
    assert last.startswith("!! the run died: no swrun holds run.toml and it has no end")
    assert "--resume run.toml" in last


def test_the_console_watcher_gets_no_escapes_either(finished: Path) -> None:
    from swrun.watch.source import WatchSource

    source = WatchSource(finished)
    try:
        update = source.poll()
    finally:
        source.close()
    shown = [item.lines if kind == "output" else item for kind, item in update.items]
    assert any("building red" in str(x) for x in shown)
    assert "\x1b" not in str(shown) + str(source.state.run), shown


def test_a_fifo_where_the_signature_goes_does_not_hang_the_end_of_a_run(tmp_path: Path
                                                                        ) -> None:
    import shutil

    if shutil.which("ssh-keygen") is None:
        pytest.skip("needs ssh-keygen")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")],
                   check=True, timeout=30)
    write_runbook(tmp_path, RUNBOOK)
    os.mkfifo(tmp_path / "run.toml.sig")
    res = cli(["execute", "rb.md", "--yes", "--log", "run.toml", "--sign-with",
               str(tmp_path / "k")], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "swrun: warning: run.toml is unsigned: run.toml.sig: cannot write the log's " \
           "signature: " in res.stderr


def test_ps_shows_a_run_without_the_escapes_its_log_holds() -> None:
    from swrun.ps import Running, render_table
    from swrun.watch.status import RunState

    state = RunState.of({"runbook": "rb.md", "id": "abc", "operator": f"eve{ESCAPES}",
                         "started_at": "2026-01-01T00:00:00Z"},
                        [{"type": "step_started", "step": "s", "number": 1,
                          "title": f"Migrate{ESCAPES}"}])
    table = render_table([Running(Path("/x/run.toml"), 42, state, {})])
    assert "\x1b" not in table and "\x07" not in table
    assert "1. Migrate" in table and "eve" in table
