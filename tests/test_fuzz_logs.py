"""Property tests: whatever a run log holds — any bytes, any TOML, a real log cut or bit-flipped
anywhere — the log reader, `--resume` and `swrun timeline` raise only swrun's own errors."""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swrun.errors import SwrunError
from swrun.execute import resume_point, settle_leftovers
from swrun.parser import load_runbook
from swrun.runlog import find_unfinished, read_log
from swrun.timeline import build_timeline, read_logs, render

from helpers import write_runbook

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

RUNBOOK = """
    # Fuzz

    ```bash {name=a}
    true
    ```

    - [ ] b

    ```bash {name=c retries=1}
    true
    ```
    """

TYPES = ["run_started", "run_resumed", "run_finished", "step_started", "step_finished",
         "check_ticked", "step_skipped", "note_added", "milestone", "operator_waiting",
         "rollback_started", "rollback_finished", "weird"]
KEYS = ["seq", "at", "type", "step", "number", "title", "kind", "status", "exit_code",
        "duration_ms", "active_ms", "wall_ms", "attempt", "will_retry", "host", "hosts", "by",
        "note", "error", "hash", "output", "output_file", "data", "counts", "rollback_counts",
        "run_id", "operator", "done", "next_step", "changed_steps", "steps", "dry_run",
        "milestone", "reason", "pid", "pgid", "pid_start", "boot_id", "exit_file", "leftover"]

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["a", "b", "c", "ok", "failed", "ticked", "skipped", "aborted",
                     "completed", "2026-11-22T06:35:47.123Z", "not a time", "../../etc",
                     "", "****"]),
    st.datetimes(timezones=st.just(UTC)),
)
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12)


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value if v is not None]
    return value


@st.composite
def _events(draw: st.DrawFn) -> dict[str, Any]:
    event = {k: draw(_values) for k in draw(st.lists(st.sampled_from(KEYS), max_size=8))}
    if draw(st.booleans()):
        event["type"] = draw(st.sampled_from(TYPES))
    if draw(st.booleans()):
        event["step"] = draw(st.sampled_from(["a", "b", "c", "gone"]))
    return event


@st.composite
def _toml_logs(draw: st.DrawFn) -> bytes:
    run: dict[str, Any] = {k: draw(_values) for k in draw(st.lists(st.sampled_from(
        ["id", "runbook", "sha256", "started_at", "variables", "operator", "title"]),
        max_size=5))}
    if draw(st.booleans()):
        run["schema"] = draw(st.one_of(st.just(1), _scalars))
    if draw(st.booleans()):
        run["runbook"] = "rb.md"
    doc = {"run": run, "event": draw(st.lists(_events(), max_size=8))}
    if draw(st.integers(0, 9)) == 0:
        doc = {k: draw(_values) for k in draw(st.lists(st.text(max_size=5), max_size=3))}
    return tomli_w.dumps(_drop_none(doc)).encode()


def _real_log(tmp: Path) -> bytes:
    from swrun.execute import ExecuteOptions, execute

    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        execute(ExecuteOptions(file="rb.md", yes=True, log="real.toml", argv=["swrun"]))
    finally:
        os.chdir(cwd)
    return (tmp / "real.toml").read_bytes()


@st.composite
def _mutated(draw: st.DrawFn, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(draw(st.integers(0, 4))):
        where = draw(st.integers(0, max(0, len(data) - 1)))
        data[where] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut]) + draw(st.binary(max_size=20))


def _everything(path: Path, rb: Any, folder: Path) -> None:
    """Read, resume and render `path`: only SwrunError may escape."""
    for step in (lambda: read_log(path), lambda: find_unfinished("rb.md", folder / "logs")):
        with contextlib.suppress(SwrunError):
            step()
    try:
        point = resume_point(rb, path)
    except SwrunError:
        pass
    else:
        try:
            settle_leftovers(rb, point, by="fuzz")  # never stops anything: it may refuse
        except SwrunError:
            pass
        finally:
            point.release()
    try:
        tl = build_timeline(read_logs([path]), tz=UTC, tz_name="UTC")
        for fmt in ("md", "json", "csv", "html"):
            render(tl, fmt)
    except SwrunError:
        pass


def _setup(tmp_path_factory: Any) -> tuple[Path, Any, bytes]:
    folder = tmp_path_factory.mktemp("fuzzlogs")
    write_runbook(folder, RUNBOOK, "rb.md")
    rb = load_runbook(folder / "rb.md")
    return folder, rb, _real_log(folder)


_STATE: dict[str, Any] = {}


def _state(tmp_path_factory: Any) -> tuple[Path, Any, bytes]:
    if "state" not in _STATE:
        _STATE["state"] = _setup(tmp_path_factory)
    return _STATE["state"]


@FUZZ
@given(raw=st.binary(max_size=400))
def test_arbitrary_bytes(tmp_path_factory: Any, raw: bytes) -> None:
    folder, rb, _ = _state(tmp_path_factory)
    path = folder / "fuzz.toml"
    path.write_bytes(raw)
    _everything(path, rb, folder)


@FUZZ
@given(raw=_toml_logs())
def test_arbitrary_toml(tmp_path_factory: Any, raw: bytes) -> None:
    folder, rb, _ = _state(tmp_path_factory)
    path = folder / "fuzz.toml"
    path.write_bytes(raw)
    _everything(path, rb, folder)


@FUZZ
@given(data=st.data())
def test_a_real_log_cut_and_flipped(tmp_path_factory: Any, data: st.DataObject) -> None:
    folder, rb, real = _state(tmp_path_factory)
    path = folder / "fuzz.toml"
    path.write_bytes(data.draw(_mutated(real)))
    _everything(path, rb, folder)


def test_the_fuzzed_reader_still_reads_a_good_log(tmp_path_factory: Any) -> None:
    folder, _, real = _state(tmp_path_factory)
    path = folder / "good.toml"
    path.write_bytes(real)
    log = read_log(path)
    assert log.finished and log.status == "completed"
    assert datetime.fromisoformat(str(log.run["started_at"]).replace("Z", "+00:00"))
