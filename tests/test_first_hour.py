"""Issue 18, the first hour: variables from the environment (and where each value came from),
history/timeline finding logs alike, `swrun new`, `swrun doctor` and shell completion —
through the real console script, the real console and a real bash."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from test_tui_dialogs import CUTOVER
from test_tui_support import SIZE, frozen, is_preflight, make_app, screen_text, until

from swrun.exitcodes import ExitCode
from swrun.new import TEMPLATES
from swrun.runlog import read_log

from conftest import swrun_cmd

__all__ = ["frozen"]  # the fixture, used by name

RB = """\
+++
title = "Vars"
environment = "staging"

[vars.SLOT]
choices = ["blue", "green"]
default = "blue"

[vars.RELEASE]
default = "1.0.0"

[vars.ARN]
from = "env:LAB_ARN"
default = "arn:default"

[vars.API_TOKEN]
secret = true
+++
# Vars

## Go

```bash {name=show}
echo "slot=$SLOT release=$RELEASE arn=$ARN token-length=${#API_TOKEN}"
```
"""


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None,
        drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """The real `swrun` with the test's environment plus `env`, minus `drop`."""
    full = {k: v for k, v in os.environ.items() if k not in drop}
    full.update(env or {})
    return subprocess.run([*swrun_cmd(), *args], cwd=cwd, env=full, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=60)


_VARS = ("SLOT", "RELEASE", "ARN", "LAB_ARN", "API_TOKEN")


# -- 1. variables from the environment ---------------------------------------------------------


def test_environment_fills_declared_variables_and_the_log_says_where_from(
        tmp_path: Path) -> None:
    (tmp_path / "rb.md").write_text(RB)
    res = run(["execute", "rb.md", "--yes", "--var", "RELEASE=2.0.0", "--log", "run.toml"],
              tmp_path, env={"SLOT": "green", "RELEASE": "9.9.9", "LAB_ARN": "arn:lab",
                             "ARN": "arn:same-name", "API_TOKEN": "tok-from-env-123",
                             "UNDECLARED": "x"}, drop=_VARS)
    assert res.returncode == 0, res.stderr
    # --var beats the environment; `from` beats the same-named variable; secrets masked
    assert "slot=green release=2.0.0 arn=arn:lab token-length=16" in res.stdout
    assert ("swrun: values: SLOT=green (env), RELEASE=2.0.0 (--var), ARN=arn:lab "
            "(env:LAB_ARN), API_TOKEN=**** (env)") in res.stderr
    log = read_log(tmp_path / "run.toml")
    assert log.run["variables"] == {"SLOT": "green", "RELEASE": "2.0.0", "ARN": "arn:lab",
                                    "API_TOKEN": "****"}
    assert log.run["variable_sources"] == {"SLOT": "env", "RELEASE": "--var",
                                           "ARN": "env:LAB_ARN", "API_TOKEN": "env"}
    text = (tmp_path / "run.toml").read_text()
    assert "tok-from-env-123" not in text and "UNDECLARED" not in text


def test_without_the_environment_defaults_apply_and_a_missing_secret_says_export(
        tmp_path: Path) -> None:
    (tmp_path / "rb.md").write_text(RB)
    res = run(["execute", "rb.md", "--yes", "--log", "run.toml"], tmp_path, drop=_VARS)
    assert res.returncode == ExitCode.BAD_VARIABLES
    line = res.stderr.strip()
    assert line == ('swrun: API_TOKEN is required and secret: export API_TOKEN=..., or '
                    'declare from = "env:NAME" or "aws-secretsmanager:ID"')
    assert "--var" not in line and "Traceback" not in res.stderr
    res = run(["execute", "rb.md", "--yes", "--log", "run.toml"], tmp_path,
              env={"API_TOKEN": "tok-from-env-123"}, drop=_VARS)
    assert res.returncode == 0, res.stderr
    assert read_log(tmp_path / "run.toml").run["variable_sources"] == {
        "SLOT": "default", "RELEASE": "default", "ARN": "default", "API_TOKEN": "env"}


def test_a_bad_value_from_the_environment_names_its_source(tmp_path: Path) -> None:
    (tmp_path / "rb.md").write_text(RB)
    res = run(["execute", "rb.md", "--yes", "--dry-run"], tmp_path,
              env={"SLOT": "purple", "API_TOKEN": "tok-from-env-123"}, drop=_VARS)
    assert res.returncode == ExitCode.BAD_VARIABLES
    assert res.stderr == ("swrun: SLOT='purple': expected one of blue, green "
                          "(from the environment)\n")


def test_plan_names_every_value_the_environment_supplies(tmp_path: Path) -> None:
    """The trap: a variable with a default and an unrelated same-named environment variable
    (HOME) — the environment wins for declared variables, and plan says so up front."""
    (tmp_path / "rb.md").write_text(RB.replace('[vars.RELEASE]\ndefault = "1.0.0"',
                                               '[vars.HOME]\ndefault = "/srv/app"')
                                    .replace("release=$RELEASE", "home=$HOME"))
    res = run(["plan", "rb.md"], tmp_path, env={"HOME": "/home/ops",
                                                "API_TOKEN": "tok-from-env-123"}, drop=_VARS)
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines() == [
        "swrun: HOME=/home/ops comes from the environment ($HOME), not its default /srv/app",
        "swrun: API_TOKEN=**** comes from the environment ($API_TOKEN)",
    ]
    quiet = run(["plan", "rb.md"], tmp_path, drop=(*_VARS, "HOME"))
    assert quiet.returncode == 0 and quiet.stderr == ""


async def test_the_preflight_shows_where_each_value_came_from(frozen: Path) -> None:
    app = make_app(frozen, CUTOVER, variables={"RELEASE": "v43"},
                   environ={"SLOT": "blue", "DB_PASSWORD": "env-secret-4567"})
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: is_preflight(app), "the pre-flight")
        text = screen_text(app)
        assert "v43  (--var)" in text
        assert "blue  (env)" in text
        assert "****  (env)" in text and "env-secret-4567" not in text
        await pilot.press("escape")
        await until(pilot, lambda: not app.is_running, "the app to exit")


# -- 2. history and timeline find logs alike --------------------------------------------------


SMALL = """\
# Small

```bash {name=one}
true
```
"""


def test_history_and_timeline_find_logs_anywhere_under_logs(tmp_path: Path) -> None:
    (tmp_path / "small.md").write_text(SMALL)
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "small.md").write_text(SMALL)  # same content: the same runbook
    (tmp_path / "other.md").write_text(SMALL.replace("Small", "Other"))
    for log in ("logs/small/a.toml", "logs/nested/deeper/b.toml", "logs/c.toml"):
        assert run(["execute", "small.md", "--yes", "--log", log], tmp_path).returncode == 0
    assert run(["execute", "copy/small.md", "--yes", "--log", "logs/copy/d.toml"],
               tmp_path).returncode == 0
    assert run(["execute", "other.md", "--yes", "--log", "logs/small/e.toml"],
               tmp_path).returncode == 0
    hist = run(["history", "small.md", "--format", "json"], tmp_path)
    assert hist.returncode == 0, hist.stderr
    import json

    logs = sorted(Path(r["log"]).name for r in json.loads(hist.stdout)["runs"])
    assert logs == ["a.toml", "b.toml", "c.toml", "d.toml"]  # not other.md's e.toml
    tl = run(["timeline", "--runbook", "small.md", "--format", "json"], tmp_path)
    assert tl.returncode == 0, tl.stderr
    assert sorted(Path(r["log"]).name for r in json.loads(tl.stdout)["runs"]) == logs
    elsewhere = run(["timeline", "--runbook", "small.md", "--logs", "nowhere"], tmp_path)
    assert elsewhere.returncode == ExitCode.BAD_LOG
    assert elsewhere.stderr == "swrun: no run logs of small.md under nowhere/\n"
    neither = run(["timeline"], tmp_path)
    assert neither.returncode == ExitCode.USAGE and neither.stderr.count("\n") == 1


# -- 3. swrun new --------------------------------------------------------------------------------


@pytest.mark.parametrize("template", TEMPLATES)
def test_new_writes_a_runbook_that_passes_check_strict(tmp_path: Path, template: str) -> None:
    res = run(["new", "deploy-api.md", "--template", template], tmp_path)
    assert res.returncode == 0, res.stderr
    text = (tmp_path / "deploy-api.md").read_text()
    assert text.startswith("+++\n") and 'title = "Deploy api"' in text
    assert "# Deploy api\n" in text and "%%" not in text
    check = run(["check", "--strict", "deploy-api.md"], tmp_path)
    assert (check.returncode, check.stdout) == (0, ""), check.stdout
    plan = run(["plan", "deploy-api.md"], tmp_path, drop=("HOME",))
    assert plan.returncode == 0, plan.stderr


def test_new_never_overwrites_and_ships_its_templates_in_the_package(tmp_path: Path) -> None:
    (tmp_path / "rb.md").write_text("mine\n")
    res = run(["new", "rb.md"], tmp_path)
    assert res.returncode == ExitCode.USAGE
    assert res.stderr == ("swrun: rb.md already exists; swrun new never overwrites a file "
                          "(choose another name, or remove it first)\n")
    assert (tmp_path / "rb.md").read_text() == "mine\n"
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere.md")  # a dangling link: refused too
    assert run(["new", "gone"], tmp_path).returncode == ExitCode.USAGE
    assert not (tmp_path / "nowhere.md").exists()
    titled = run(["new", "x.md", "--title", 'Cut "over"', "-t", "incident"], tmp_path)
    assert titled.returncode == 0 and "title = \"Cut 'over'\"" in (tmp_path / "x.md").read_text()
    import swrun.templates

    shipped = Path(swrun.templates.__file__).parent
    assert sorted(p.stem for p in shipped.glob("*.md")) == sorted(TEMPLATES)


# -- 4. swrun doctor -----------------------------------------------------------------------------


REMOTE = """\
+++
title = "Remote"
inventory = "inv.ini"
[vars.TIER]
default = "web"
+++
# Remote

```bash {name=uptime hosts=$TIER}
uptime
```

```pm2 {name=local-status}
status
```
"""


def _doctor_home(tmp_path: Path, key: bool) -> Path:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    if key:
        (home / ".ssh" / "id_ed25519").write_text("not really a key\n")
    return home


def test_doctor_reports_each_check_with_its_fix(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "rb.md").write_text(REMOTE)
    known = work / "known"
    known.write_text("[127.0.0.1]:2201 ssh-ed25519 "
                     "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    (work / "inv.ini").write_text(
        "[web]\nweb1 ansible_host=127.0.0.1 ansible_port=2201\n"
        "web2 ansible_host=127.0.0.1 ansible_port=2202\n"
        f"[web:vars]\nswrun_known_hosts={known}\n")
    bin_dir = tmp_path / "bin"  # a PATH without pm2
    bin_dir.mkdir()
    for tool in ("timedatectl", "bash", "sh"):
        if shutil.which(tool):
            (bin_dir / tool).symlink_to(shutil.which(tool))  # type: ignore[arg-type]
    res = run(["doctor", "rb.md", "--logs", "rb.md/logs"], work,
              env={"HOME": str(_doctor_home(tmp_path, key=False)), "PATH": str(bin_dir),
                   "COLUMNS": "70", "LINES": "20"}, drop=("SSH_AUTH_SOCK",))
    assert res.returncode == 1, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("✗ SSH: no agent (SSH_AUTH_SOCK unset) and no key in ")
    assert "— fix: ssh-keygen -t ed25519" in lines[0]
    assert "✓ known_hosts web1: [127.0.0.1]:2201 is known" in lines
    assert any(line.startswith("✗ known_hosts web2: no key for [127.0.0.1]:2202 — fix: "
                               "verify the fingerprint, then ssh-keyscan -p 2202 127.0.0.1")
               for line in lines)
    assert any(line.startswith("✗ pm2: not on PATH") and "npm install -g pm2" in line
               for line in lines)
    assert "✓ python paramiko: installed" in lines
    assert not any("pymongo" in line or "boto3" in line for line in lines)  # not needed
    assert any(line.startswith("✗ logs: rb.md is not a folder") for line in lines)
    assert any(line.startswith(("✓ clock", "✗ clock", "? clock")) for line in lines)
    assert any(line.startswith("✗ terminal: COLUMNS x LINES is 70x20, the console needs at "
                               "least 80x24") for line in lines)
    assert all(line[:2] in ("✓ ", "✗ ", "? ", "· ") for line in lines)
    assert "Traceback" not in res.stderr


def test_doctor_passes_on_a_ready_machine(tmp_path: Path) -> None:
    (tmp_path / "rb.md").write_text(SMALL)
    res = run(["doctor", "rb.md"], tmp_path, env={"COLUMNS": "100", "LINES": "30"})
    lines = res.stdout.splitlines()
    assert not any(line.startswith("✗") for line in lines), res.stdout
    assert res.returncode == 0
    assert not any("SSH" in line for line in lines)  # a local runbook needs no SSH
    assert any(line.startswith("✓ logs: logs writable") for line in lines)
    assert "✓ terminal: 100x30" in lines
    no_key = run(["doctor"], tmp_path, env={"HOME": str(_doctor_home(tmp_path, key=True)),
                                              "COLUMNS": "100", "LINES": "30"},
                 drop=("SSH_AUTH_SOCK",))
    assert any(line.startswith("✓ SSH: key ") for line in no_key.stdout.splitlines())
    bad = run(["doctor", "missing.md"], tmp_path)
    assert (bad.returncode, bad.stderr) == (ExitCode.INVALID_RUNBOOK,
                                            "swrun: missing.md: error: no such file\n")


# -- 5. completion through a real bash -----------------------------------------------------------


COMPLETE = """\
+++
title = "Complete"
[vars.SLOT]
choices = ["blue", "green"]
default = "blue"
[vars.RELEASE]
default = "1"
+++
# Complete

## Prepare things

```bash {name=hello}
echo hi
```

## Ship it

- [ ] Told the team

## Roll back
<!-- swrun: rollback -->

```bash {name=undo}
echo undo
```
"""


def bash_complete(cwd: Path, *words: str) -> list[str]:
    """Source `swrun completion bash` in a non-interactive bash, set COMP_WORDS/COMP_CWORD
    as bash does for `words` (the last one being completed), call the completion function
    and return COMPREPLY."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    script = subprocess.run([*swrun_cmd(), "completion", "bash"], capture_output=True,
                            text=True, timeout=60, check=True).stdout
    (cwd / ".complete.bash").write_text(script)
    quoted = " ".join(f"'{w}'" for w in words)
    prog = textwrap.dedent(f"""\
        source .complete.bash
        COMP_WORDS=({quoted})
        COMP_CWORD={len(words) - 1}
        _swrun_completion swrun 2>/dev/null
        printf '%s\\n' "${{COMPREPLY[@]}}"
        """)
    env = {**os.environ, "PATH": f"{Path(swrun_cmd()[0]).parent}:{os.environ['PATH']}"}
    proc = subprocess.run([bash, "--norc", "--noprofile", "-c", prog], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line]


def test_bash_completes_commands_runbooks_steps_sections_variables_and_logs(
        tmp_path: Path) -> None:
    (tmp_path / "deploy.md").write_text(COMPLETE)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "drill.md").write_text(SMALL)
    assert {"new", "doctor", "completion", "execute"} <= set(bash_complete(tmp_path, "swrun", ""))
    assert bash_complete(tmp_path, "swrun", "execute", "") == ["deploy.md", "runbooks/"]
    assert bash_complete(tmp_path, "swrun", "run", "runbooks/") == ["runbooks/drill.md"]
    assert bash_complete(tmp_path, "swrun", "execute", "deploy.md", "--from", "") == [
        "1", "hello", "2", "ship-it/told-the-team"]  # not the rollback step
    assert bash_complete(tmp_path, "swrun", "execute", "deploy.md", "--skip", "h") == ["hello"]
    assert bash_complete(tmp_path, "swrun", "execute", "deploy.md", "--only", "") == [
        "prepare-things", "ship-it"]
    assert bash_complete(tmp_path, "swrun", "execute", "deploy.md", "--var", "") == [
        "SLOT=", "RELEASE="]
    assert bash_complete(tmp_path, "swrun", "run", "deploy.md", "--var", "SLOT=") == [
        "SLOT=blue", "SLOT=green"]
    ran = run(["execute", "deploy.md", "--yes"], tmp_path)
    assert ran.returncode == 0, ran.stderr
    (log,) = (tmp_path / "logs" / "deploy").glob("*.toml")
    assert bash_complete(tmp_path, "swrun", "execute", "deploy.md", "--resume", "") == [
        f"logs/deploy/{log.name}"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_completion_scripts_for_zsh_and_fish_use_clicks_protocol(tmp_path: Path,
                                                                 shell: str) -> None:
    res = run(["completion", shell], tmp_path)
    assert res.returncode == 0 and f"_SWRUN_COMPLETE={shell}_complete" in res.stdout
    # what the script asks swrun for, answered as that shell's protocol says
    cword = "1" if shell == "zsh" else "doc"  # fish passes the word being completed
    answer = run([], tmp_path, env={"_SWRUN_COMPLETE": f"{shell}_complete",
                                    "COMP_WORDS": "swrun doc", "COMP_CWORD": cword})
    assert "doctor" in answer.stdout
    assert run(["completion", "tcsh"], tmp_path).returncode == ExitCode.USAGE


def test_completion_never_prints_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "broken.md").write_text("+++\nnot toml = = =\n+++\n# B\n")
    res = run([], tmp_path, env={"_SWRUN_COMPLETE": "bash_complete",
                                 "COMP_WORDS": "swrun execute broken.md --from ",
                                 "COMP_CWORD": "4"})
    assert res.returncode == 0 and "Traceback" not in res.stderr
