"""`swrun timeline`: fixed logs written by the real RunLog, merged and exported in every format
through the real console script; milestones, metrics, masking, errors, and real chromium."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from test_timeline_support import (
    COMMS,
    DATA,
    INCIDENT,
    LEAKED,
    RESUMED,
    TORN,
    chromium,
    golden,
    make_logs_module,
    open_in_chromium,
    run_cli,
    workdir,
)

from swrun.exitcodes import ExitCode
from swrun.runlog import read_log
from swrun.timeline import build_timeline, read_logs, render

SCHEMA = Path(__file__).resolve().parents[1] / "docs" / "timeline.schema.json"
SCENARIOS = {
    "merged": [INCIDENT, COMMS],
    "torn": [TORN],
    "resumed": [RESUMED],
}
"""Two operators at overlapping times (one incident: `--incident`); a log cut off inside its
last event; a resumed run."""
INCIDENTS = {"merged"}


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    w = workdir(tmp_path)
    monkeypatch.chdir(w)
    return w


def test_fixture_logs_are_what_the_real_runlog_writes(tmp_path: Path) -> None:
    mod = make_logs_module()
    written = mod.write_all(DATA if _update() else tmp_path)
    for path in written:
        rel = path.relative_to(DATA if _update() else tmp_path)
        assert path.read_bytes() == (DATA / rel).read_bytes(), rel
    data = read_log(DATA / TORN)
    assert data.warnings and "seq 5 was cut off" in data.warnings[0]
    resumed = read_log(DATA / RESUMED)
    assert [e["type"] for e in resumed.lifecycle] == ["run_started", "run_resumed",
                                                     "run_finished"]


def _update() -> bool:
    from test_timeline_support import UPDATE
    return UPDATE


@pytest.mark.parametrize("fmt", ["md", "json", "csv", "html"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_golden_exports(work: Path, scenario: str, fmt: str) -> None:
    incident = ["--incident"] if scenario in INCIDENTS else []
    res = run_cli(["timeline", *SCENARIOS[scenario], *incident, "--format", fmt], work)
    assert res.returncode == 0, res.stderr
    golden(f"{scenario}.{fmt}", res.stdout)
    assert LEAKED not in res.stdout


def test_golden_in_a_named_time_zone(work: Path) -> None:
    res = run_cli(["timeline", INCIDENT, COMMS, "--incident", "--tz", "America/New_York"],
                  work)
    assert res.returncode == 0, res.stderr
    golden("merged-new-york.md", res.stdout)
    assert "Times in America/New_York (UTC-05:00)" in res.stdout
    assert "| 2026-11-22 04:00:00 | +0:00:00 |" in res.stdout


def test_merge_orders_both_operators_by_time(work: Path) -> None:
    tl = build_timeline(read_logs([INCIDENT, COMMS]))
    times = [e.at for e in tl.entries]
    assert times == sorted(times)
    who = [e.who for e in tl.entries]
    first_bob, last_alice = who.index("bob@laptop"), len(who) - 1 - who[::-1].index("alice")
    assert first_bob < last_alice  # interleaved, not one log after the other
    assert {r.operator for r in tl.runs} == {"alice@bastion", "bob@laptop"}
    failed = [(e.title, e.status) for e in tl.entries if e.failed]
    assert failed == [("promote", "failed"), ("status-page", "failed")]


def test_milestones_from_marks_annotations_and_front_matter(work: Path) -> None:
    tl = build_timeline(read_logs([INCIDENT, COMMS]), incident=True)
    got = [(m.name, m.source.value, m.at.strftime("%H:%M:%S"), m.who) for m in tl.milestones]
    assert got == [
        ("started", "mark", "09:00:02", "alice"),
        ("detected", "step", "09:00:09", "alice@bastion"),
        ("acknowledged", "front_matter", "09:00:35", "alice"),
        ("acknowledged", "mark", "09:02:00", "bob"),
        ("mitigated", "section", "09:02:10", "alice@bastion"),
        ("resolved", "step", "09:02:25", "alice@bastion"),
    ]
    met = tl.metrics
    assert met.start_source == "milestone"
    assert (met.time_to_detect_ms, met.time_to_acknowledge_ms, met.time_to_mitigate_ms,
            met.time_to_resolve_ms) == (7500, 25500, 128000, 143000)


def test_a_failed_step_reaches_no_milestone_and_without_started_the_first_event_counts(
        work: Path) -> None:
    from test_timeline_support import ROLLED_BACK
    tl = build_timeline(read_logs([ROLLED_BACK]))
    assert [m.name for m in tl.milestones] == ["detected", "acknowledged"]
    assert tl.metrics.start_source == "first_event"
    assert tl.metrics.time_to_mitigate_ms is None
    md = render(tl, "md")
    assert "- Time to mitigate (started → mitigated): not reached" in md
    assert "**Rollback started after promote (1 step(s))**" not in md  # not itself a failure
    assert "Rollback started after promote (1 step(s))" in md
    assert "**Run finished: Database failover, stopped at promote" in md


def test_torn_log_is_read_with_a_warning_on_stderr(work: Path) -> None:
    res = run_cli(["timeline", TORN, "--format", "json"], work)
    assert res.returncode == 0
    assert res.stderr.splitlines() == [
        f"swrun: warning: {TORN}: the event seq 5 was cut off while it was written (144 bytes); "
        "it was dropped",
        "swrun: warning: 1 of 1 log(s) unsigned: shown, marked, not verified (swrun verify; "
        "sign runs with --sign-with)",
        f"swrun: warning: {TORN}: the run has no end recorded (it is still running, or it "
        "stopped without finishing); its timeline ends at its last event",
    ]
    data = json.loads(res.stdout)
    warm = data["entries"][-1]
    assert (warm["step"], warm["status"], warm["failed"]) == ("warm", "incomplete", True)
    assert data["runs"][0]["status"] == "unfinished"


def test_resumed_run_counts_active_time_and_both_operators(work: Path) -> None:
    tl = build_timeline(read_logs([RESUMED]))
    run = tl.runs[0]
    assert run.operators == ("dave@bastion", "erin@bastion") and run.resumes == 1
    assert run.duration_ms == (41 + 119) * 1000  # the four-minute crash gap is left out
    promote = [(e.status, e.who) for e in tl.entries if e.step == "promote"]
    assert promote == [("incomplete", "dave@bastion"), ("ok", "erin@bastion")]
    bar = next(b for b in tl.bars if b.status == "incomplete")
    assert (bar.end - bar.start).total_seconds() == 0  # ends at the last event before the crash


def test_secrets_stay_masked_in_every_format(work: Path) -> None:
    tl = build_timeline(read_logs([COMMS]))
    assert tl.runs[0].variables == {"STATUS_TOKEN": "****"}
    for fmt in ("md", "json", "csv", "html"):
        text = render(tl, fmt)
        assert LEAKED not in text, fmt
        assert "Bearer ****" in text, fmt


def test_json_follows_the_documented_schema(work: Path) -> None:
    schema = json.loads(SCHEMA.read_text())
    for name, paths in SCENARIOS.items():
        for incident in {False, name in INCIDENTS}:
            data = json.loads(render(build_timeline(read_logs(paths), incident=incident),
                                     "json"))
            _validate(data, schema, schema, "$")


def _validate(value: Any, node: dict[str, Any], root: dict[str, Any], where: str) -> None:
    """Enough of JSON Schema for docs/timeline.schema.json: $ref, type, const, enum, required,
    properties, additionalProperties, items."""
    if "$ref" in node:
        node = root["$defs"][node["$ref"].rsplit("/", 1)[1]]
    kinds = {"string": str, "integer": int, "boolean": bool, "object": dict, "array": list,
             "null": type(None)}
    if "type" in node:
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        ok = any(isinstance(value, kinds[t]) and not (t == "integer" and isinstance(value, bool))
                 for t in types)
        assert ok, f"{where}: {value!r} is not {types}"
    if "const" in node:
        assert value == node["const"], where
    if "enum" in node:
        assert value in node["enum"], f"{where}: {value!r} not in {node['enum']}"
    if isinstance(value, dict):
        for key in node.get("required", ()):
            assert key in value, f"{where}: missing {key}"
        props = node.get("properties", {})
        for key, item in value.items():
            if key in props:
                _validate(item, props[key], root, f"{where}.{key}")
            elif node.get("additionalProperties") is False:
                raise AssertionError(f"{where}: unexpected key {key}")
            elif isinstance(node.get("additionalProperties"), dict):
                _validate(item, node["additionalProperties"], root, f"{where}.{key}")
    if isinstance(value, list) and "items" in node:
        for i, item in enumerate(value):
            _validate(item, node["items"], root, f"{where}[{i}]")


def test_csv_is_one_row_per_entry_and_formula_safe(work: Path) -> None:
    tl = build_timeline(read_logs([INCIDENT, COMMS]))
    rows = list(csv.DictReader(io.StringIO(render(tl, "csv"))))
    assert len(rows) == len(tl.entries)
    assert rows[0]["time"] == "2026-11-22T09:00:00.000Z" and rows[0]["offset"] == "+0:00:00"
    failed = [r["what"] for r in rows if r["failed"] == "true"]
    assert failed == ["3. promote on db2 (attempt 1)", "2. status-page"]
    from swrun.timeline.as_csv import _formula_safe
    assert _formula_safe("=HYPERLINK(1)") == "'=HYPERLINK(1)" and _formula_safe("+0:01") == "+0:01"


def test_since_and_until_choose_the_entries_shown(work: Path) -> None:
    res = run_cli(["timeline", INCIDENT, COMMS, "--incident", "--format", "json", "--since",
                   "2026-11-22T09:00:40", "--until", "2026-11-22 10:01:30+01:00"], work)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    ats = [e["at"] for e in data["entries"]]
    assert ats[0] == "2026-11-22T09:00:45.000Z" and ats[-1] == "2026-11-22T09:01:21.000Z"
    assert data["entries"][0]["offset_ms"] == 0
    assert data["metrics"]["time_to_resolve_ms"] == 143000  # computed from the whole logs


def test_output_file_and_format_from_its_suffix(work: Path) -> None:
    res = run_cli(["timeline", INCIDENT, "-o", "out/../timeline.html"], work)
    assert res.returncode == 2 and "cannot write" in res.stderr  # no such folder
    res = run_cli(["timeline", INCIDENT, "-o", "timeline.html"], work)
    assert res.returncode == 0 and res.stdout == ""
    assert (work / "timeline.html").read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(("args", "code", "message"), [
    (["missing.toml"], ExitCode.BAD_LOG, "swrun: missing.toml: no such run log"),
    (["garbage.toml"], ExitCode.BAD_LOG,
     "swrun: garbage.toml: not a swrun run log (no [run] table)"),
    (["empty.toml"], ExitCode.BAD_LOG,
     "swrun: empty.toml: not a swrun run log (the file is empty)"),
])
def test_unreadable_log_is_one_line_and_a_documented_exit_code(
        work: Path, args: list[str], code: int, message: str) -> None:
    (work / "garbage.toml").write_text("title = 'not a log'\n")
    (work / "empty.toml").write_text("")
    res = run_cli(["timeline", INCIDENT, *args], work)
    assert res.returncode == code
    assert res.stderr.splitlines() == [message] and res.stdout == ""


def test_bad_options_are_usage_errors(work: Path) -> None:
    res = run_cli(["timeline", INCIDENT, "--tz", "Mars/Olympus"], work)
    assert res.returncode == ExitCode.USAGE and "unknown time zone 'Mars/Olympus'" in res.stderr
    res = run_cli(["timeline", INCIDENT, "--since", "yesterday"], work)
    assert res.returncode == ExitCode.USAGE and "is not a time" in res.stderr


def test_timeline_of_a_log_written_by_swrun_execute(tmp_path: Path) -> None:
    (tmp_path / "drill.md").write_text(
        "# Drill\n\n## Fail over\n\n```bash {name=promote milestone=mitigated}\necho promoted\n"
        "```\n\n```bash {name=verify milestone=resolved}\necho broken; exit 3\n```\n")
    res = run_cli(["execute", "drill.md", "--yes", "--log", "run.toml", "--operator", "ops"],
                  tmp_path)
    assert res.returncode == ExitCode.STEP_FAILED, res.stderr
    res = run_cli(["timeline", "run.toml", "--format", "json"], tmp_path)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    # this swrun writes the milestone= events itself: they are read, not derived a second time
    assert [(m["name"], m["source"], m["step"], m["note"]) for m in data["milestones"]] == [
        ("mitigated", "step", "promote", None)]  # verify failed: resolved is not reached
    verify = next(e for e in data["entries"] if e["step"] == "verify")
    assert (verify["status"], verify["exit_code"], verify["failed"]) == ("failed", 3, True)
    assert verify["output_tail"] == ["broken"]


def test_html_is_self_contained(work: Path) -> None:
    text = render(build_timeline(read_logs([INCIDENT, COMMS, TORN])), "html")
    assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\';' in text
    assert "<script" not in text.lower() and "@import" not in text
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/|\burl\(|\b(src|href)=", text)
    assert "@media print" in text


def test_html_in_headless_chromium(work: Path, tmp_path: Path) -> None:
    """The page loads in a real browser with no console message and no request of its own,
    a screenshot is taken, and the chart has one bar per step attempt."""
    browser = chromium()
    if browser is None:
        pytest.skip("chromium is not installed (Debian package `chromium`; scripts/setup.sh)")
    tl = build_timeline(read_logs([INCIDENT, COMMS, TORN]), incident=True)
    page = work / "timeline.html"
    page.write_text(render(tl, "html"))
    out = tmp_path / "chromium"
    out.mkdir()
    seen = open_in_chromium(browser, page, out)
    assert seen["returncode"] == 0, seen["stderr"][-2000:]
    assert seen["console"] == []
    assert seen["requests"] == []
    assert seen["screenshot"].stat().st_size > 10_000
    assert seen["screenshot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dom = seen["dom"]
    attempts = sum(1 for p in (INCIDENT, COMMS, TORN) for e in read_log(p).events
                   if e["type"] == "step_started")
    assert attempts == 8
    assert len(re.findall(r'<rect class="bar ', dom)) == attempts
    assert len(re.findall(r'<rect class="bar (?:failed|incomplete)', dom)) == 3
    assert len(re.findall(r'<line class="marker"', dom)) == len(tl.milestones) == 6
    assert "Time to resolve" in dom and "2m23s" in dom

    # the detector works: the same page without its CSP and with a remote image is caught
    leaky = work / "leaky.html"
    leaky.write_text(page.read_text().replace("Content-Security-Policy", "x-no-csp")
                     .replace("</body>", '<img src="http://127.0.0.1:9/x.png"></body>'))
    out2 = tmp_path / "chromium2"
    out2.mkdir()
    assert open_in_chromium(browser, leaky, out2)["requests"] == ["http://127.0.0.1:9/x.png"]


def test_empty_window_still_renders(work: Path) -> None:
    tl = build_timeline(read_logs([INCIDENT]), since=datetime(2030, 1, 1, tzinfo=UTC))
    assert tl.entries == () and tl.bars == ()
    for fmt in ("md", "json", "csv", "html"):
        assert render(tl, fmt)


def test_logs_of_separate_runs_get_no_key_times_and_say_why(work: Path) -> None:
    # issue 13.6: "time to acknowledge" from one run's `detected` to another's `acknowledged`
    reason = ("Key times are not computed: the 2 logs are separate runs (Database failover, "
              "Incident comms); give --incident if they are one incident")
    tl = build_timeline(read_logs([INCIDENT, COMMS]))
    met = tl.metrics
    assert (met.time_to_detect_ms, met.time_to_acknowledge_ms, met.time_to_mitigate_ms,
            met.time_to_resolve_ms) == (None, None, None, None)
    assert met.reason == reason
    assert [m.name for m in tl.milestones] == [  # each run's milestones are still shown
        "started", "detected", "acknowledged", "acknowledged", "mitigated", "resolved"]
    res = run_cli(["timeline", INCIDENT, COMMS], work)
    assert res.returncode == 0, res.stderr
    assert reason + "." in res.stdout.splitlines()
    assert "Time to" not in res.stdout
    data = json.loads(run_cli(["timeline", INCIDENT, COMMS, "--format", "json"], work).stdout)
    assert data["metrics"]["reason"] == reason and data["metrics"]["time_to_detect_ms"] is None
    assert data["incident"] is False
    html = run_cli(["timeline", INCIDENT, COMMS, "--format", "html"], work).stdout
    assert "Key times are not computed" in html and "Time to detect" not in html
    # one log is one run: its figures are computed without the option
    one = json.loads(run_cli(["timeline", INCIDENT, "--format", "json"], work).stdout)
    assert one["metrics"]["reason"] is None and one["metrics"]["time_to_resolve_ms"] == 143000
    assert one["incident"] is True
    both = json.loads(run_cli(["timeline", INCIDENT, COMMS, "--incident", "--format", "json"],
                              work).stdout)
    assert both["metrics"]["time_to_acknowledge_ms"] == 25500 and both["incident"] is True


def test_run_finished_counts_each_step_once_across_resumes(tmp_path: Path) -> None:
    """A log written by a swrun that counted only the resumed part, and a retried step: the
    timeline counts each step of the whole run once, with its last outcome."""
    from datetime import timedelta

    from swrun.events import (
        RunFinished,
        RunResumed,
        RunStarted,
        RunStatus,
        StepFinished,
        StepStatus,
    )
    from swrun.runlog import RunLog

    t0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)

    def at(s: int) -> datetime:
        return t0 + timedelta(seconds=s)

    def fin(seq: int, s: int, step: str, status: StepStatus) -> StepFinished:
        return StepFinished(seq=seq, at=at(s), step=step, title=step, number=seq,
                            status=status, hash="h")

    path = tmp_path / "run.toml"
    with RunLog.create(path, {"id": "0badcafe", "runbook": "gone.md", "title": "T",
                              "operator": "o", "started_at": "2026-11-22T09:00:00.000Z"}) as log:
        for event in [
            RunStarted(seq=1, at=at(0), run_id="0badcafe", title="T", runbook="gone.md",
                       operator="o", steps=4),
            fin(2, 1, "a", StepStatus.OK),
            fin(3, 2, "b", StepStatus.FAILED),
            RunFinished(seq=4, at=at(3), status=RunStatus.FAILED, step="b", duration_ms=3000,
                        counts={"ok": 1, "failed": 1}),
            RunResumed(seq=5, at=at(60), run_id="0badcafe", operator="o", done=1),
            fin(6, 61, "b", StepStatus.FAILED),
            fin(7, 62, "b", StepStatus.OK),  # retried after the failure
            fin(8, 63, "c", StepStatus.OK),
            RunFinished(seq=9, at=at(64), status=RunStatus.COMPLETED, duration_ms=4000,
                        counts={"failed": 1, "ok": 2}),
        ]:
            log.append(event)
    tl = build_timeline(read_logs([path]))
    ends = [e for e in tl.entries if e.type.value == "run_finished"]
    assert [e.detail for e in ends] == [{"failed": 1, "ok": 1}, {"ok": 3}]
    assert "Run finished: T (ok 3)" in render(tl, "md")
    assert tl.runs[0].counts == {"ok": 3}
    data = json.loads(render(tl, "json"))
    assert data["runs"][0]["counts"] == {"ok": 3} and data["runs"][0]["rollback_counts"] == {}
