"""`swrun history`: the drill scorecard from fixed logs — runs, window used, step times against
target=, trends — in every format through the real console script."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_timeline_support import (
    RESUMED,
    chromium,
    golden,
    open_in_chromium,
    run_cli,
    workdir,
)

from swrun.exitcodes import ExitCode
from swrun.parser import load_runbook
from swrun.timeline.history import build_history, trend
from swrun.timeline.history_render import sparkline


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    w = workdir(tmp_path)
    monkeypatch.chdir(w)
    return w


@pytest.mark.parametrize("fmt", ["table", "md", "json", "html"])
def test_golden_scorecard(work: Path, fmt: str) -> None:
    res = run_cli(["history", "failover.md", "--format", fmt], work)
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines() == [  # the fixtures are unsigned: marked, said once
        "swrun: warning: 3 of 3 run(s) unsigned: shown, marked, not verified (swrun verify; "
        "sign runs with --sign-with)"]
    golden(f"history.{'txt' if fmt == 'table' else fmt}", res.stdout)


def test_runs_steps_and_targets(work: Path) -> None:
    h = build_history(load_runbook("failover.md"), Path("logs"))
    assert [(r.run_id, r.status, r.duration_ms) for r in h.runs] == [
        ("d1d1d1d1", "completed", 160_000), ("e1e1e1e1", "rolled_back", 158_000),
        ("a1a1a1a1", "completed", 146_000)]
    assert h.window_ms == 900_000 and h.runs[0].window_used == pytest.approx(160 / 900)
    promote = next(t for t in h.steps if t.step == "promote")
    # retries and timed-out attempts count: that is how long the failover took
    assert promote.durations_ms == (42_000, 120_000, 38_000)
    assert promote.statuses == ("ok", "timed_out", "ok")
    # best, median and trend from the runs where it ended ok: the timed-out 2m00s is not a
    # median to be "faster" than (38s against 42s is steady)
    assert (promote.target_ms, promote.within_target, promote.trend) == (30_000, 0, "steady")
    assert (promote.best_ms, promote.median_ms, promote.last_ms) == (38_000, 40_000, 38_000)
    assert [t.step for t in h.steps] == ["check-replication", "promote", "repoint-app", "smoke",
                                         "demote"]  # demote: a rollback step that ran once
    assert h.total_trend == "steady"


def test_an_aborted_1_ms_run_is_not_faster(work: Path) -> None:
    """A run aborted at once (its first step stopped after 1 ms) is neither the step's best
    time nor a faster run of the runbook: trends compare runs that finished."""
    step = ('step = "check-replication"\nnumber = 1\ntitle = "check-replication"\n'
            'kind = "shell"\n')
    (work / "logs" / "failover" / "20261123T090000Z-f1f1f1f1.toml").write_text(
        '[run]\nschema = 1\nid = "f1f1f1f1"\nrunbook = "failover.md"\n'
        'title = "Database failover"\noperator = "bob@bastion"\n'
        'started_at = "2026-11-23T09:00:00.000Z"\n\n'
        '[[event]]\nseq = 1\nat = "2026-11-23T09:00:00.000Z"\ntype = "run_started"\n'
        'run_id = "f1f1f1f1"\noperator = "bob@bastion"\nsteps = 5\n\n'
        f'[[event]]\nseq = 2\nat = "2026-11-23T09:00:00.000Z"\ntype = "step_started"\n{step}\n'
        f'[[event]]\nseq = 3\nat = "2026-11-23T09:00:00.001Z"\ntype = "step_finished"\n{step}'
        'status = "aborted"\nduration_ms = 1\n\n'
        '[[event]]\nseq = 4\nat = "2026-11-23T09:00:00.001Z"\ntype = "run_finished"\n'
        'status = "aborted"\nstep = "check-replication"\nduration_ms = 1\n\n')
    h = build_history(load_runbook("failover.md"), Path("logs"))
    assert [r.status for r in h.runs][-1] == "aborted"
    check = next(t for t in h.steps if t.step == "check-replication")
    assert check.durations_ms[-1] == 1 and check.statuses[-1] == "aborted"
    # 6.5s against the median of 8s and 9.5s before it, as without the aborted run
    assert (check.best_ms, check.last_ms, check.trend) == (6_500, 6_500, "faster")
    assert h.total_trend == "steady"  # not "faster" for 1 ms


def test_sparkline_and_trend() -> None:
    assert sparkline([1, 5, None, 8]) == "▁▅·█"
    assert sparkline([3, 3]) == "▅▅" and sparkline([None]) == "·"
    assert trend([10, 10, 8]) == "faster" and trend([10, 10, 12]) == "slower"
    assert trend([10, 10, 10.5]) == "steady" and trend([10]) is None


def test_history_html_in_headless_chromium(work: Path, tmp_path: Path) -> None:
    browser = chromium()
    if browser is None:
        pytest.skip("chromium is not installed (Debian package `chromium`; scripts/setup.sh)")
    res = run_cli(["history", "failover.md", "-o", "scorecard.html"], work)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "chromium"
    out.mkdir()
    seen = open_in_chromium(browser, work / "scorecard.html", out)
    assert seen["returncode"] == 0 and seen["console"] == [] and seen["requests"] == []
    dom = seen["dom"]
    # one chart for the total and one per step that ran; a point per run of each
    assert len(re.findall(r'class="history-chart"', dom)) == 1 + 5
    assert len(re.findall(r'<circle class="point', dom)) == 3 + 3 + 3 + 2 + 2 + 1


def test_dry_runs_and_unreadable_logs_are_left_out(work: Path) -> None:
    (work / "logs" / "failover" / "20261201T000000Z-bad.toml").write_text("not = 'a log'\n")
    dry = work / "logs" / "failover" / "20261202T000000Z-dry.toml"
    text = (work / RESUMED).read_text()
    dry.write_text(text.replace('id = "d1d1d1d1"', 'id = "dddddddd"')
                   .replace("steps = 5\n", "steps = 5\ndry_run = true\n", 1)
                   .replace('started_at = "2026-09-15', 'started_at = "2026-12-02'))
    res = run_cli(["history", "failover.md", "--format", "json"], work)
    assert res.returncode == 0
    assert res.stderr.splitlines() == [
        "swrun: warning: logs/failover/20261201T000000Z-bad.toml: not a swrun run log "
        "(no [run] table); left out",
        "swrun: warning: 3 of 3 run(s) unsigned: shown, marked, not verified (swrun verify; "
        "sign runs with --sign-with)"]
    data = json.loads(res.stdout)
    assert data["skipped_dry_runs"] == 1 and len(data["runs"]) == 3


def test_no_runs_yet_and_missing_runbook(work: Path) -> None:
    res = run_cli(["history", "cache.md", "--logs", "elsewhere"], work)
    assert res.returncode == 0
    assert res.stderr == "swrun: no runs of cache.md under elsewhere/\n"
    assert res.stdout.startswith("Cache flush: 0 run(s) of cache.md")
    res = run_cli(["history", "nope.md"], work)
    assert res.returncode == ExitCode.INVALID_RUNBOOK
    assert res.stderr == "swrun: nope.md: error: no such file\n"


def test_logs_are_found_at_any_depth_and_a_copy_matches_by_content(work: Path) -> None:
    """Logs moved into any folder under --logs still count; a copy of the runbook with the
    same text (another path) finds the same runs; another runbook's logs never do."""
    archive = work / "logs" / "archive" / "2026"
    archive.mkdir(parents=True)
    oldest = sorted((work / "logs" / "failover").glob("*.toml"))[0]
    oldest.rename(archive / oldest.name)
    (work / "elsewhere").mkdir()
    (work / "elsewhere" / "drill.md").write_text((work / "failover.md").read_text())
    for runbook in ("failover.md", "elsewhere/drill.md"):
        res = run_cli(["history", runbook, "--format", "json"], work)
        assert res.returncode == 0, res.stderr
        assert [r["run_id"] for r in json.loads(res.stdout)["runs"]] == [
            "d1d1d1d1", "e1e1e1e1", "a1a1a1a1"], runbook
    res = run_cli(["history", "cache.md", "--format", "json"], work)
    assert [r["run_id"] for r in json.loads(res.stdout)["runs"]] == ["c0c0c0c0"]
