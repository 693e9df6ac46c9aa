"""The shipped runbooks, end to end, headless, against a real `swrun lab` on loopback.

One lab per module (it takes a few seconds to start). In file order the blue-green deployment
leaves green live, the rollback returns to blue, the fault test kills the new slot mid-rollout
and expects the rollback section to bring traffic back to blue; each test also stands alone
(it sets up the state it needs when an earlier test did not).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

from labfix import ADDRESSES, LabRun, health, lab_fixture  # noqa: F401 - the lab fixture

from swrun.lab import lab as lab_module
from swrun.lab.procs import port_open
from swrun.procs import cmdline, matching
from swrun.runlog import read_log

from conftest import swrun_cmd


def test_lab_status_all_up(lab: LabRun) -> None:
    parts = lab.lab.status()
    assert [p.name for p in parts if not p.up] == []
    assert health("blue")["version"] == lab_module.RELEASE


def test_pre_deploy_checklist(lab: LabRun) -> None:
    lab.execute("pre-deploy-checklist.md")


def test_post_deploy_verification(lab: LabRun) -> None:
    lab.execute("post-deploy-verification.md", "--var", "P95=5s")  # a loaded CI machine


def test_incident_response_marks_milestones(lab: LabRun) -> None:
    lab.execute("incident-response.md")
    marks = [e["milestone"] for e in read_log(lab.logs[-1]).events if e["type"] == "milestone"]
    assert marks == ["detected", "acknowledged", "mitigated", "resolved"]


def test_backup_round_trip(lab: LabRun) -> None:
    lab.execute("backup-restore.md", "--var", f"BACKUP_DIR={lab.root / 'backups'}")
    events = read_log(lab.logs[-1]).events
    verify = next(e for e in events if e.get("step") == "verify-restore"
                  and e["type"] == "step_finished")
    assert verify["status"] == "ok"
    backup = next(e for e in events if e.get("step") == "backup" and e["type"] == "step_finished")
    assert backup["data"]["ops"][0]["documents"] == 400


def test_failover_drill_logs_the_measured_time(lab: LabRun) -> None:
    lab.execute("failover-drill.md", "--var", "STEPDOWN=2s")
    events = read_log(lab.logs[-1]).events
    drill = next(e for e in events if e.get("step") == "failover" and e["type"] == "step_finished")
    op = drill["data"]["ops"][0]
    assert op["failover_ms"] > 0 and op["within_target"] is True


def test_staging_deploy(lab: LabRun) -> None:
    lab.execute("staging-deploy.md", "--var", f"DIST_DIR={lab.root / 'dist'}")
    assert health("green")["version"] == "1.1.0-rc1"


def test_blue_green_leaves_green_live_and_blue_serving(lab: LabRun) -> None:
    assert lab.weights() == {"blue": 100, "green": 0}
    lab.execute("blue-green-production.md", "--confirm-environment", "production",
                "--var", "MONITOR=2s", "--var", "WATCH_EVERY=1s")
    assert lab.weights() == {"blue": 0, "green": 100}
    assert health("green")["version"] == "1.1.0"
    assert health("blue")["version"] == lab_module.RELEASE  # the old slot still serves


def test_rollback_restores_blue(lab: LabRun) -> None:
    if lab.weights() != {"blue": 0, "green": 100}:  # run alone: green live, as after a deploy
        lab.set_weights(blue=0, green=100)
    lab.execute("rollback.md")
    assert lab.weights() == {"blue": 100, "green": 0}


def test_killing_green_mid_rollout_rolls_back(lab: LabRun) -> None:
    green = lab.lab.pm2_env("green")

    next_log = lab.root / "logs" / f"{len(lab.logs):02d}-blue-green-production.toml"

    def kill_green_once_watching() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if next_log.exists() and any(
                    e.get("step") == "monitor-10" and e["type"] == "step_started"
                    for e in read_log(next_log).events):
                subprocess.run(["pm2", "stop", "api"], env={**os.environ, **green},
                               capture_output=True, timeout=30)
                return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_green_once_watching, daemon=True)
    killer.start()
    res = lab.execute("blue-green-production.md", "--confirm-environment", "production",
                      "--rollback-on-failure", "--var", "RELEASE=1.2.0",
                      "--var", "MONITOR=30s", "--var", "WATCH_EVERY=0.5s", expect=1)
    killer.join(10)
    assert "rolling back" in res.stdout
    events = read_log(lab.logs[-1]).events
    monitor = next(e for e in events if e.get("step") == "monitor-10"
                   and e["type"] == "step_finished")
    assert monitor["status"] == "failed"
    assert any(e["type"] == "rollback_started" and e["step"] == "monitor-10" for e in events)
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "rolled_back"
    assert lab.weights() == {"blue": 100, "green": 0}
    assert health("blue")["status"] == "ok"


def test_timeline_of_every_lab_run_in_every_format(lab: LabRun) -> None:
    if not any("incident-response" in p.name for p in lab.logs):  # run alone
        lab.execute("incident-response.md")
    if not any("pre-deploy" in p.name for p in lab.logs):
        lab.execute("pre-deploy-checklist.md")
    logs = [str(p) for p in lab.logs if p.exists()]
    assert len(logs) >= 2
    for fmt in ("md", "json", "csv", "html"):
        out = lab.root / f"timeline.{fmt}"
        res = subprocess.run([*swrun_cmd(), "timeline", *logs, "--format", fmt, "-o", str(out)],
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        assert out.stat().st_size > 1000
    data = json.loads((lab.root / "timeline.json").read_text())
    assert {m["name"] for m in data["milestones"]} >= {"detected", "mitigated", "resolved"}


def test_lab_down_leaves_nothing(lab: LabRun) -> None:
    lab.lab.down(lambda msg: None)
    assert [f"{a}:{p}" for a, p in ADDRESSES if port_open(a, p)] == []
    app_ports = [(a, lab_module.APP_PORT) for a in lab_module.HOSTS.values()]
    assert [f"{a}:{p}" for a, p in app_ports if port_open(a, p)] == []
    left = [cmdline(pid) for pid in matching(str(lab.lab.root))]
    assert left == []
    assert not lab.lab.root.exists() and not lab.lab.inventory.exists()
