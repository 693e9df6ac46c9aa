"""Ansible steps through swrun against real sshd hosts (and ansible_connection=local).

Every test here is one or two real ansible-playbook runs (~3 s each), so each checks a lot.
"""
# ruff: noqa: F811 - pytest fixtures imported from other modules are parameters below

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import tomllib
from pathlib import Path

import pytest
from ansible_fixtures import ans_hosts, local_inventory, stray, wait_gone, write_inventory  # noqa: F401

from swrun.events import RunFinished, StepFinished, StepOutput, StepStarted
from swrun.parser import load_runbook

from conftest import swrun_cmd
from helpers import Settings, make_engine, write_runbook
from sshd import Cluster, free_port, processes_matching, ssh_home  # noqa: F401

pytestmark = pytest.mark.usefixtures("ssh_home")
SECRET = "pa55-{{ lookup('pipe', 'touch /tmp/swrun-ansible-pwned') }}-word"


def _engine(tmp_path: Path, body: str, inv: Path | None, given=None, **settings):
    rb = load_runbook(write_runbook(tmp_path, body))
    executor = {"inventory": str(inv)} if inv else {}
    executor["keep_going"] = settings.get("keep_going", False)
    return make_engine(rb, given=given, settings=Settings(
        kill_grace=1.0, run_dir=tmp_path / "run", executor_settings=executor, **settings))


def _out(events, host: str | None = None, stream: str | None = None) -> list[str]:
    return [e.line for e in events if isinstance(e, StepOutput)
            and (host is None or e.host == host) and (stream is None or e.stream == stream)]


def _finished(events) -> list[StepFinished]:
    return [e for e in events if isinstance(e, StepFinished)]


class CmdlineWatch:
    """Samples every process's command line while a run goes on, looking for `needle`."""

    def __init__(self, needle: str) -> None:
        self.needle = needle
        self.seen: list[str] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> CmdlineWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.samples += 1
            for pid in processes_matching(self.needle):
                if pid != os.getpid():
                    self.seen.append(Path(f"/proc/{pid}/cmdline").read_text(errors="replace"))
            time.sleep(0.05)


def test_a_task_failing_on_one_host_with_live_events_recap_and_secret_vars(
        tmp_path: Path, ans_hosts: Cluster) -> None:
    (tmp_path / "site.yml").write_text("""
- hosts: web
  gather_facts: false
  tasks:
    - name: Write the token
      ansible.builtin.copy:
        content: "{{ API_TOKEN }} {{ greeting }}\\n"
        dest: "{{ app_root }}.token"
        mode: "0600"
    - name: Migrate
      ansible.builtin.shell: >-
        echo "migrating {{ inventory_hostname }}";
        exit {{ 3 if inventory_hostname == 'h2' else 0 }}
    - name: Only on h1
      ansible.builtin.debug:
        msg: "hello from {{ inventory_hostname }}"
      when: inventory_hostname == 'h1'
""")
    inv = write_inventory(ans_hosts, tmp_path / "inv.ini", groups={"web": ["h1", "h2", "h3"]})
    engine = _engine(tmp_path, """
        +++
        [vars.API_TOKEN]
        secret = true
        +++
        # Deploy

        ```ansible {playbook=site.yml}
        greeting: hi $API_TOKEN
        ```
        """, inv, given={"API_TOKEN": SECRET})
    with CmdlineWatch("pa55-") as watch:
        events = list(engine.run())
    (fin,) = _finished(events)
    assert watch.samples > 20 and watch.seen == []  # never on any command line
    assert fin.status == "failed" and fin.exit_code == 2
    assert fin.error == "1 of 3 host(s) failed: h2: failed at 'Migrate': non-zero return code"
    assert fin.hosts["h2"] == {"status": "failed", "ok": 1, "changed": 1, "failed": 1,
                               "unreachable": 0, "skipped": 0, "rescued": 0, "ignored": 0}
    assert fin.hosts["h1"]["status"] == "ok" and fin.hosts["h1"]["changed"] == 2
    assert fin.hosts["h3"] == {**fin.hosts["h1"], "ok": 2, "skipped": 1}
    assert fin.data["playbook"] == "site.yml" and fin.data["check_mode"] is False
    out = _out(events)
    assert out[:2] == ["PLAY [web]", "TASK [Write the token]"]
    assert out[-4:-3] == ["PLAY RECAP"]
    assert _out(events, "h2", "stderr")[0] == "failed: Migrate: non-zero return code"
    assert "migrating h2" in _out(events, "h2")
    assert _out(events, "h1")[-3:] == [
        "ok: Only on h1", "hello from h1",
        "ok=3 changed=2 failed=0 unreachable=0 skipped=0 rescued=0 ignored=0"]
    assert "skipping: Only on h1" in _out(events, "h3")
    # the value reached the host, untemplated, and nothing secret stayed behind locally
    token = Path(str(ans_hosts["h1"].dir / "srv") + ".token").read_text()
    assert token == f"{SECRET} hi {SECRET}\n"
    assert not Path("/tmp/swrun-ansible-pwned").exists()
    private = tmp_path / "run" / "ansible"
    assert list(private.glob("*.vars.yml")) == []
    leftovers = [p for p in private.rglob("*") if p.is_file() and SECRET in p.read_text()]
    assert leftovers == []
    artifacts = Path(fin.data["artifacts"])  # no unmasked stdout copy, no environment
    assert sorted(p.name for p in artifacts.iterdir()) == ["command", "rc", "status"]
    assert set(json.loads((artifacts / "command").read_text())) == {"command", "cwd"}
    assert not wait_gone(str(tmp_path / "run"))


def test_unreachable_and_unknown_host_key_hosts_fail_the_step(
        tmp_path: Path, ans_hosts: Cluster) -> None:
    h1 = ans_hosts["h1"]
    known = tmp_path / "known_hosts"
    known.write_text(h1.known_hosts_line)  # h2's key is unknown: host key checking stays on
    port = free_port("127.0.0.9")
    inv = write_inventory(ans_hosts, tmp_path / "inv.ini", known_hosts=known, extra_hosts=[
        f"gone ansible_host=127.0.0.9 ansible_port={port} ansible_user=root"],
        groups={"web": ["h1", "h2", "gone"]})
    (tmp_path / "ping.yml").write_text("- hosts: web\n  gather_facts: false\n  tasks:\n"
                                       "    - ansible.builtin.ping:\n")
    events = list(_engine(tmp_path, "# Ping\n```ansible {playbook=ping.yml}\n```\n",
                          inv).run())
    (fin,) = _finished(events)
    assert fin.status == "failed" and fin.exit_code == 4
    assert {h: r["status"] for h, r in fin.hosts.items()} == {
        "h1": "ok", "h2": "unreachable", "gone": "unreachable"}
    assert fin.hosts["gone"]["unreachable"] == 1
    assert fin.error.startswith("2 of 3 host(s) failed: ")
    assert "h2: unreachable: " in fin.error and "gone: unreachable: " in fin.error
    (h2_line,) = _out(events, "h2", "stderr")
    assert "Host key verification failed" in h2_line
    assert "Connection refused" in _out(events, "gone", "stderr")[0]
    assert known.read_text() == h1.known_hosts_line  # nothing was added


def test_prompts_are_refused_up_front_answered_from_variables_or_stopped_at_run_time(
        tmp_path: Path) -> None:
    inv = local_inventory(tmp_path / "local.ini")
    (tmp_path / "ask.yml").write_text("""
- hosts: localhost
  gather_facts: false
  vars_prompt:
    - name: who
      prompt: Who are you?
  tasks:
    - ansible.builtin.debug:
        msg: "hello {{ who }}"
""")
    (tmp_path / "gate.yml").write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n"
                                       "    - ansible.builtin.pause:\n        prompt: go?\n")
    (tmp_path / "pause.yml").write_text("- ansible.builtin.pause:\n    prompt: really?\n")
    (tmp_path / "hidden.yml").write_text("""
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_tasks: "{{ 'pau' ~ 'se' }}.yml"
    - name: After the pause
      ansible.builtin.file:
        path: "{{ playbook_dir }}/after-pause"
        state: touch
""")
    engine = _engine(tmp_path, """
        +++
        [vars.who]
        default = "operator"
        +++
        # Prompts
        ## Answered
        ```ansible {playbook=ask.yml}
        ```
        ## Refused
        ```ansible {playbook=gate.yml}
        ```
        ## Hidden
        ```ansible {playbook=hidden.yml}
        ```
        """, inv, keep_going=True)
    box: list = []
    thread = threading.Thread(target=lambda: box.extend(engine.run()), daemon=True)
    t0 = time.monotonic()
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "a prompting playbook hung"
    answered, refused, hidden = _finished(box)
    assert answered.status == "ok" and "hello operator" in _out(box, "localhost")
    assert refused.status == "failed" and refused.exit_code is None
    assert refused.error == ("refusing to run a playbook that waits for input: gate.yml:4: "
                             "pause waits for a key press; give it seconds= or minutes=, or "
                             "use a `- [ ]` check in the runbook instead")
    assert refused.duration_ms < 30_000  # refused before any ansible started (a hang guard)
    assert hidden.status == "failed"  # stopped at run time by the swrun_guard callback
    assert hidden.error == (f"{tmp_path}/pause.yml:1: pause waits for a key press (found at "
                            "run time); give it seconds= or minutes=")
    assert not (tmp_path / "after-pause").exists()
    assert time.monotonic() - t0 < 30


def test_abort_mid_play_leaves_no_ansible_ssh_or_remote_process(
        tmp_path: Path, ans_hosts: Cluster) -> None:
    (tmp_path / "long.yml").write_text("""
- hosts: web
  gather_facts: false
  tasks:
    - name: Long task
      ansible.builtin.shell: sleep 37.5; touch {{ app_root }}.finished
""")
    inv = write_inventory(ans_hosts, tmp_path / "inv.ini", groups={"web": ["h1", "h2"]})
    engine = _engine(tmp_path, "# Long\n```ansible {playbook=long.yml}\n```\n", inv)
    events: list = []
    thread = threading.Thread(target=lambda: events.extend(engine.run()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while len(processes_matching("sleep 37.5")) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)  # sh -c and sleep on both hosts: the module is running remotely
    assert stray(str(tmp_path / "run" / "ansible"))  # ansible-playbook and the ssh masters
    t0 = time.monotonic()
    engine.abort("operator pressed abort")
    thread.join(30)
    assert not thread.is_alive()
    assert time.monotonic() - t0 < 30  # not the remote 37.5 s sleep
    (fin,) = _finished(events)
    assert fin.status == "aborted" and fin.error == "aborted by the operator"
    assert [e.status for e in events if isinstance(e, RunFinished)] == ["aborted"]
    for token in ("sleep 37.5", str(tmp_path / "run")):
        assert wait_gone(token) == [], token
    assert not Path(str(ans_hosts["h1"].dir / "srv") + ".finished").exists()


def test_via_ansible_shell_fans_out_in_serial_batches_with_variables_as_env(
        tmp_path: Path, ans_hosts: Cluster) -> None:
    inv = write_inventory(ans_hosts, tmp_path / "inv.ini", groups={"web": ["h1", "h2", "h3"]})
    evil = "it's $(touch /tmp/swrun-ansible-pwned) {{ 7 * 7 }} `id`"
    engine = _engine(tmp_path, """
        +++
        [vars.MSG]
        prompt = "a message"
        +++
        # Fleet
        ```bash {hosts=web via=ansible serial=2 forks=2}
        echo "$MSG on $SWRUN_HOST"
        echo "to stderr" >&2
        if [ "$SWRUN_HOST" = h3 ]; then false | true; echo "not reached"; fi
        ```
        """, inv, given={"MSG": evil})
    events = list(engine.run())
    (fin,) = _finished(events)
    assert fin.status == "failed" and fin.data["via"] == "ansible"
    assert {h: (r["status"], r.get("exit_code")) for h, r in fin.hosts.items()} == {
        "h1": ("ok", 0), "h2": ("ok", 0), "h3": ("failed", 1)}  # pipefail and -e
    for h in ("h1", "h2", "h3"):
        assert f"{evil} on {h}" in _out(events, h, "stdout")
        assert "to stderr" in _out(events, h, "stderr")
    assert "not reached" not in _out(events)
    assert _out(events).count("PLAY [swrun: Fleet]") == 2  # serial=2: two batches
    assert not Path("/tmp/swrun-ansible-pwned").exists()
    started = [e for e in events if isinstance(e, StepStarted)]
    assert len(started) == 1


def test_swrun_execute_runs_a_playbook_and_logs_the_recap(
        tmp_path: Path, ans_hosts: Cluster) -> None:
    write_inventory(ans_hosts, tmp_path / "inv.ini", groups={"web": ["h1", "h2"]})
    (tmp_path / "site.yml").write_text("""
- hosts: web
  gather_facts: false
  tasks:
    - name: Mark the release
      ansible.builtin.copy:
        content: "{{ RELEASE }}\\n"
        dest: "{{ app_root }}.release"
        mode: "0644"
""")
    write_runbook(tmp_path, """
        +++
        inventory = "inv.ini"
        [vars.RELEASE]
        default = "v7"
        +++
        # Release

        ## Mark
        ```ansible {playbook=site.yml limit=h2}
        ```
        """)
    log = tmp_path / "run.toml"
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.run([*swrun_cmd(), "execute", "--yes", "--log", str(log), "rb.md"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "h2: changed: Mark the release" in proc.stdout
    assert "h2: ok=1 changed=1 failed=0 unreachable=0 skipped=0" in proc.stdout
    assert "h1:" not in proc.stdout  # limit=h2
    data = tomllib.loads(log.read_text())
    (finished,) = [e for e in data["event"] if e["type"] == "step_finished"]
    assert finished["status"] == "ok"
    assert finished["hosts"]["h2"].pop("output_file")  # the runlog's own additions
    assert len(finished["hosts"]["h2"].pop("output_sha256")) == 64
    assert finished["hosts"]["h2"].pop("output_bytes") > 0
    assert finished["hosts"] == {"h2": {"status": "ok", "ok": 1, "changed": 1, "failed": 0,
                                        "unreachable": 0, "skipped": 0, "rescued": 0,
                                        "ignored": 0}}
    assert finished["data"]["playbook"] == "site.yml"
    assert Path(str(ans_hosts["h2"].dir / "srv") + ".release").read_text() == "v7\n"
    assert (log.with_suffix(".run") / "ansible" / "artifacts").is_dir()
    assert not wait_gone(str(log.with_suffix(".run")))


def test_ansible_s_own_python_warnings_go_to_the_debug_record_not_the_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A library under ansible warning at import time (as cryptography 51 does about DSA) is
    not step output: the operator's first line is still the play; the warning is kept."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import warnings\n"
        "class CryptographyDeprecationWarning(UserWarning):\n    pass\n"
        "warnings.warn_explicit('DSA is deprecated', CryptographyDeprecationWarning,\n"
        "                       '/lib/ansible/_ssh_agent.py', 18)\n")
    monkeypatch.setenv("PYTHONPATH", str(site))
    inv = local_inventory(tmp_path / "inv.ini")
    (tmp_path / "site.yml").write_text("""
- hosts: all
  gather_facts: false
  tasks:
    - name: Say
      ansible.builtin.command: echo said
      changed_when: true
""")
    events = list(_engine(tmp_path, """
        # Local
        ```ansible {playbook=site.yml}
        ```
        """, inv).run())
    (fin,) = _finished(events)
    assert fin.status == "ok", fin.error
    out = _out(events)
    assert out[:2] == ["PLAY [all]", "TASK [Say]"] and "said" in out
    assert not [s for s in out if "Warning" in s]
    assert fin.data["debug"][0] == ("/lib/ansible/_ssh_agent.py:18: "
                                    "CryptographyDeprecationWarning: DSA is deprecated")
