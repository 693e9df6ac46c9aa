"""The shipped playbooks/ against real sshd hosts with PM2: each idempotent, check mode honest."""
# ruff: noqa: F811 - pytest fixtures imported from other modules are parameters below

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
import urllib.request
from pathlib import Path

import pytest
from ansible_fixtures import ans_hosts, copy_playbooks, wait_gone, write_inventory  # noqa: F401

from swrun.events import StepFinished, StepOutput
from swrun.parser import load_runbook

from helpers import Settings, make_engine, write_runbook
from sshd import Cluster, ssh_home  # noqa: F401

pytestmark = pytest.mark.usefixtures("ssh_home")

RUNBOOK = """
    # Release the green slot

    ## Deploy v1
    ```ansible {playbook=playbooks/deploy.yml limit=green}
    release: v1
    ```

    ## Deploy v1 again
    ```ansible {playbook=playbooks/deploy.yml limit=green}
    release: v1
    ```

    ## Smoke
    ```ansible {playbook=playbooks/smoke.yml limit=green}
    expected_release: v1
    ```

    ## Deploy v2
    ```ansible {playbook=playbooks/deploy.yml limit=green}
    release: v2
    ```

    ## Roll back
    <!-- swrun: rollback=false -->
    ```ansible {playbook=playbooks/rollback.yml limit=green}
    ```

    ## Roll back again
    <!-- swrun: rollback=false -->
    ```ansible {playbook=playbooks/rollback.yml limit=green}
    ```

    ## Verify backups
    ```ansible {playbook=playbooks/verify-backup.yml limit=green}
    ```
    """


def _health(c: Cluster, name: str) -> dict:
    h = c[name]
    with urllib.request.urlopen(f"http://{h.addr}:{h.app_port}/health", timeout=5) as r:
        return json.loads(r.read())


def _backup(c: Cluster, name: str) -> None:
    d = c[name].dir / "backups"
    d.mkdir(exist_ok=True)
    src = d / "dump.json"
    src.write_text('{"wallets": 3}\n')
    archive = d / "mongo-2026-11-22.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="dump.json")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    (d / (archive.name + ".sha256")).write_text(f"{digest}  {archive.name}\n")


def test_every_playbook_runs_and_a_second_run_changes_nothing(
        tmp_path: Path, ans_hosts: Cluster) -> None:
    copy_playbooks(tmp_path)
    inv = write_inventory(ans_hosts, tmp_path / "inv.ini", groups={"green": ["h1", "h2"]})
    for h in ("h1", "h2"):
        _backup(ans_hosts, h)
    rb = load_runbook(write_runbook(tmp_path, RUNBOOK))
    engine = make_engine(rb, settings=Settings(
        kill_grace=1.0, run_dir=tmp_path / "run", executor_settings={"inventory": str(inv)}))
    events = list(engine.run())
    done = [e for e in events if isinstance(e, StepFinished)]
    by_title = {e.title: e for e in done}
    assert [e.status for e in done] == ["ok"] * 7, [(e.title, e.error, e.output) for e in done]
    changed = {t: e.data["changed"] for t, e in by_title.items()}
    assert changed["Deploy v1"] > 0 and changed["Deploy v2"] > 0 and changed["Roll back"] > 0
    for idempotent in ("Deploy v1 again", "Smoke", "Roll back again", "Verify backups"):
        assert changed[idempotent] == 0, (idempotent, by_title[idempotent].output)
    for title, e in by_title.items():
        assert set(e.hosts) == {"h1", "h2"}, title  # limit=green: h3 untouched
        assert all(r["status"] == "ok" and r["failed"] == 0 for r in e.hosts.values())
    assert {_health(ans_hosts, h)["version"] for h in ("h1", "h2")} == {"v1"}  # rolled back
    srv = ans_hosts["h1"].dir / "srv"
    assert (srv / "current").readlink() == srv / "releases" / "v1"
    assert (srv / "rolled_back_from").readlink() == srv / "releases" / "v2"
    assert not (ans_hosts["h3"].dir / "srv").exists()
    lines = [e.line for e in events if isinstance(e, StepOutput) and e.step == done[0].step]
    assert "TASK [Copy release v1]" in lines
    assert any(line.startswith("changed: (Re)start swrun-app under PM2") for line in lines)
    assert not wait_gone(str(tmp_path / "run"))  # no ssh master or ansible left behind


def test_dry_run_is_check_mode_and_changes_nothing(tmp_path: Path, ans_hosts: Cluster) -> None:
    """Runs after the test above: the green slot serves v1; a dry-run deploy of v3 only tells."""
    copy_playbooks(tmp_path)
    inv = write_inventory(ans_hosts, tmp_path / "inv.ini", groups={"green": ["h1", "h2"]})
    rb = load_runbook(write_runbook(tmp_path, """
        # Dry
        ```ansible {playbook=playbooks/deploy.yml limit=green confirm}
        release: v3
        ```
        """))
    engine = make_engine(rb, settings=Settings(
        dry_run=True, kill_grace=1.0, run_dir=tmp_path / "run",
        executor_settings={"inventory": str(inv)}))
    events = list(engine.run())
    (fin,) = [e for e in events if isinstance(e, StepFinished)]
    assert fin.status == "dry_run", fin.error
    assert fin.data["check_mode"] is True and fin.data["changed"] > 0
    out = [e.line for e in events if isinstance(e, StepOutput)]
    assert out[0].startswith("CHECK MODE (ansible-playbook --check --diff)")
    assert any(line.startswith("changed: Point current at v3") for line in out)
    assert not (ans_hosts["h1"].dir / "srv" / "releases" / "v3").exists()
    assert _health(ans_hosts, "h1")["version"] == "v1"
    jlist = subprocess.run(["pm2", "jlist"], capture_output=True, text=True, env={
        "PM2_HOME": str(ans_hosts["h1"].pm2_home), "PATH": "/usr/bin:/bin"})
    assert [p["name"] for p in json.loads(jlist.stdout.splitlines()[-1])] == ["swrun-app"]
