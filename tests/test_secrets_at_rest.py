"""No secret at rest, and no code carried: what local shell steps leave in `<log>.run/` holds
only what they changed (never a secret, nor the operator's environment), a resume after
`kill -9` removes what the dead swrun left there, a value built from a secret is rebuilt
from it (never fed `****`), a log that does not verify carries nothing, names that make a
shell run code are never carried, and bash's own quoting of a secret is masked. Real runs of
`swrun execute`, real kills; every file of the folder is searched for each secret."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from swrun.evidence.chain import digest, normalize, tables
from swrun.secrets import Masker

from conftest import swrun_cmd

TOKEN = "tok-Zq81-secret"
CLOUD = "cloud-Kx77-awskey"
OPERATOR = "operator-Pw55-envvalue"
SECRET_BOOK = """---
vars:
  API_TOKEN:
    secret: true
---
# Rest
"""


def _env(folder: Path, **more: str) -> dict[str, str]:
    """swrun's environment: a cloud key and an operator's setting to look for afterwards,
    and its temp dir inside the folder `_leaks` searches."""
    tmp = folder / "tmp"
    tmp.mkdir(exist_ok=True)
    return {**os.environ, "NO_COLOR": "1", "AWS_SECRET_ACCESS_KEY": CLOUD,
            "OPERATOR_SETTING": OPERATOR, "TMPDIR": str(tmp), **more}


def _swrun(folder: Path, *args: str, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*swrun_cmd(), "execute", *args], cwd=folder,
                          env=env or _env(folder),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120)


def _leaks(folder: Path, *needles: str) -> list[str]:
    """Files under `folder` (the runbook excepted) holding any needle, in any form a grep
    would find."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.name != "rb.md":
            data = path.read_bytes()
            found += [f"{path.relative_to(folder)}: {n}" for n in needles if n.encode() in data]
    return found


def _wait_for(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_kill_9_mid_step_leaves_only_what_the_step_changed_and_a_resume_removes_it(
        tmp_path: Path) -> None:
    (tmp_path / "rb.md").write_text(SECRET_BOOK + """
```bash
export URL="pre-${API_TOKEN}-post"
export COPY="$API_TOKEN"
export PLAIN=carried
touch started
sleep 2
```

```bash
echo "plain=${PLAIN:-none}"
```
""")
    proc = subprocess.Popen([*swrun_cmd(), "execute", "rb.md", "--yes", "--log", "run.toml",
                             "--var", f"API_TOKEN={TOKEN}"], cwd=tmp_path, env=_env(tmp_path),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        assert _wait_for(lambda: (tmp_path / "started").exists())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    run = tmp_path / "run.run"
    assert _wait_for(lambda: any(p.stat().st_size for p in (run / "state").glob("*")))
    assert _wait_for(lambda: any((run / "exit").glob("*")))
    (state,) = (run / "state").glob("*.env")
    records = sorted(state.read_bytes().split(b"\0"))
    # only what the step changed: no secret, no cloud key, none of the operator's environment
    assert b"EPLAIN=carried" in records
    assert b"TURL=pre-${API_TOKEN}-post" in records and b"TCOPY=${API_TOKEN}" in records
    assert not [r for r in records if r.startswith(b"E") and not r.startswith(b"EPLAIN=")]
    assert _leaks(tmp_path, TOKEN, CLOUD, OPERATOR) == []
    for folder in (run, run / "state", run / "exit"):
        assert _mode(folder) == 0o700, folder
    for path in [*run.glob("state/*"), *run.glob("exit/*")]:
        assert _mode(path) == 0o600, path

    done = _swrun(tmp_path, "rb.md", "--resume", "run.toml", "--yes",
                  "--var", f"API_TOKEN={TOKEN}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(run.glob("state/*")) == [] and list(run.glob("exit/*")) == []
    assert _leaks(tmp_path, TOKEN, CLOUD, OPERATOR) == []


@pytest.mark.parametrize("shell", ["bash", "sh"])
def test_a_value_built_from_a_secret_is_rebuilt_from_it_on_resume(
        tmp_path: Path, shell: str) -> None:
    (tmp_path / "rb.md").write_text(SECRET_BOOK + f"""
```{shell}
export URL="pre-${{API_TOKEN}}-post"
export COPY="$API_TOKEN"
export PRICE='5$ each'
export PLAIN=carried
```

- [ ] Carry on

```{shell}
echo "plain=$PLAIN price=$PRICE cloud=${{AWS_SECRET_ACCESS_KEY:-none}}"
if [ "$URL" = "pre-${{API_TOKEN}}-post" ] && [ "$COPY" = "$API_TOKEN" ]; then echo REBUILT; fi
```
""")
    first = _swrun(tmp_path, "rb.md", "--log", "run.toml", "--var", f"API_TOKEN={TOKEN}")
    assert "needs an operator" in first.stderr, first.stderr
    log = (tmp_path / "run.toml").read_text()
    assert 'URL = "pre-${API_TOKEN}-post"' in log and 'COPY = "${API_TOKEN}"' in log
    assert 'PRICE = "5$ each"' in log and "****-post" not in log
    done = _swrun(tmp_path, "rb.md", "--resume", "run.toml", "--yes",
                  "--var", f"API_TOKEN={TOKEN}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "plain=carried price=5$ each cloud=****" in done.stdout
    assert "REBUILT" in done.stdout, done.stdout + done.stderr
    assert _leaks(tmp_path, TOKEN, CLOUD, OPERATOR) == []


def _rechain(path: Path) -> None:
    """Recompute every `prev` of a hand-edited log: what a forger can do without a key."""
    raw = normalize(path.read_bytes())
    found, end = tables(raw)
    out = [found[0].data]
    for table in found[1:]:
        out.append(re.sub(rb'^prev = "[0-9a-f]{64}"$', f'prev = "{digest(out[-1])}"'.encode(),
                          table.data, count=1, flags=re.M))
    path.write_bytes(b"".join(out) + raw[end:])


CARRY_BOOK = """# Carry

```bash
export GREETING=hi
```

- [ ] Carry on

```bash
echo "greeting=${GREETING:-none} bash_env=${BASH_ENV:-none} pc=${PROMPT_COMMAND:-none}"
```
"""


def test_a_resume_trusts_carried_state_only_from_a_log_whose_chain_verifies(
        tmp_path: Path) -> None:
    (tmp_path / "rb.md").write_text(CARRY_BOOK)
    (tmp_path / "evil.sh").write_text("touch PWNED\n")
    _swrun(tmp_path, "rb.md", "--log", "run.toml")
    log = tmp_path / "run.toml"
    good = log.read_text()
    evil = f'BASH_ENV = "{tmp_path / "evil.sh"}"'
    log.write_text(good.replace('GREETING = "hi"\n', f'GREETING = "hi"\n{evil}\n'))

    refused = _swrun(tmp_path, "rb.md", "--resume", "run.toml", "--yes")
    assert refused.returncode == 7, refused.stdout + refused.stderr
    (line,) = [ln for ln in refused.stderr.splitlines() if "chain" in ln]
    assert "was changed since it was written" in line and "--no-carry" in line
    assert "greeting" not in refused.stdout and not (tmp_path / "PWNED").exists()

    bare = _swrun(tmp_path, "rb.md", "--resume", "run.toml", "--yes", "--no-carry")
    assert bare.returncode == 0, bare.stdout + bare.stderr
    assert "greeting=none bash_env=none" in bare.stdout
    assert "--no-carry" in bare.stderr and not (tmp_path / "PWNED").exists()


def test_names_that_run_code_are_never_carried_from_a_log_even_with_a_recomputed_chain(
        tmp_path: Path) -> None:
    (tmp_path / "rb.md").write_text(CARRY_BOOK)
    (tmp_path / "evil.sh").write_text("touch PWNED\n")
    _swrun(tmp_path, "rb.md", "--log", "run.toml")
    log = tmp_path / "run.toml"
    log.write_text(log.read_text().replace('GREETING = "hi"\n', 'GREETING = "hi"\n'
                   f'BASH_ENV = "{tmp_path / "evil.sh"}"\nPROMPT_COMMAND = "touch PWNED"\n'
                   'LD_PRELOAD = "/nonexistent/evil.so"\n'))
    _rechain(log)
    done = _swrun(tmp_path, "rb.md", "--resume", "run.toml", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "greeting=hi bash_env=none pc=none" in done.stdout
    assert not (tmp_path / "PWNED").exists() and "preload" not in done.stderr
    assert "BASH_ENV is not carried" in done.stderr and "LD_PRELOAD is not carried" in \
        done.stderr


def test_a_step_cannot_carry_names_that_make_the_next_shell_run_code(tmp_path: Path) -> None:
    (tmp_path / "rb.md").write_text("""# Carry

```bash
export BASH_ENV="$PWD/evil.sh" ENV="$PWD/evil.sh" PROMPT_COMMAND="touch PWNED"
export SHELLOPTS PYTHONSTARTUP="$PWD/evil.py" NODE_OPTIONS="--require ./evil.js"
export LD_AUDIT=/nonexistent/a.so GOOD=yes
```

```bash
echo "good=$GOOD bash_env=${BASH_ENV:-none} node=${NODE_OPTIONS:-none} audit=${LD_AUDIT:-none}"
```
""")
    (tmp_path / "evil.sh").write_text("touch PWNED\n")
    done = _swrun(tmp_path, "rb.md", "--yes", "--log", "run.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "good=yes bash_env=none node=none audit=none" in done.stdout
    assert not (tmp_path / "PWNED").exists()
    assert "BASH_ENV" not in (tmp_path / "run.toml").read_text()


SHY = "hunter's \"pw\" $x and more"


def test_bash_s_own_quoting_of_a_secret_is_masked_everywhere(tmp_path: Path) -> None:
    (tmp_path / "rb.md").write_text(SECRET_BOOK + """
```bash
set -x
: "$API_TOKEN"
printf '%q\\n' "$API_TOKEN"
echo "${API_TOKEN@Q}"
declare -p API_TOKEN
python3 -c 'import json,os,urllib.parse; v=os.environ["API_TOKEN"]; print(json.dumps(v))
print(urllib.parse.quote(v))'
```
""")
    done = _swrun(tmp_path, "rb.md", "--yes", "--log", "run.toml", "--var", f"API_TOKEN={SHY}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "hunter" not in done.stdout + done.stderr
    assert done.stdout.count("****") >= 6, done.stdout
    assert _leaks(tmp_path, "hunter") == []


@pytest.mark.parametrize("value", [
    "it's a \"pw\"", "p$w`d\\x 1", "tab\there", "ünï cödé", "semi;colon&amp|pipe", "~tilde",
    "#hash", "x=~y", "star*q?[b]", "{a,b}", "!bang", "esc\x1bq", "del\x7fx", "okk'", "trail\\",
])
def test_the_masker_knows_every_form_bash_quotes_a_value_in(value: str) -> None:
    out = subprocess.run(
        ["bash", "-c", 'printf "%s\\n" "${V@Q}"; printf "%q\\n" "$V"; declare -p V; set -x; '
                       ': "$V"; X=$V'],
        env={"V": value, "LC_ALL": "C.UTF-8"}, capture_output=True, check=True)
    masker = Masker([value])
    for line in (out.stdout + out.stderr).decode().splitlines():
        masked = masker.mask(line)
        assert "****" in masked, (line, masked)
        rest = re.sub(r"declare -x V=|^\+ (: |X=)", "", masked).replace("****", "")
        assert not re.search(r"[A-Za-zü]", rest), (line, masked)


def test_every_var_of_a_secret_is_masked_in_the_logged_command_line(tmp_path: Path) -> None:
    (tmp_path / "rb.md").write_text(SECRET_BOOK + "\n```bash\ntrue\n```\n")
    done = _swrun(tmp_path, "rb.md", "--yes", "--log", "run.toml",
                  "--var", "API_TOKEN=first-Value-1", "-vAPI_TOKEN=second-Value-2",
                  "--var=API_TOKEN=third-Value-3", "--var", f"API_TOKEN={TOKEN}")
    assert done.returncode == 0, done.stdout + done.stderr
    log = (tmp_path / "run.toml").read_text()
    assert "API_TOKEN=****" in log and "-vAPI_TOKEN=****" in log
    assert _leaks(tmp_path, "first-Value", "second-Value", "third-Value", TOKEN) == []


def test_kill_9_during_an_ansible_step_leaves_no_extra_vars_and_a_resume_clears_the_rest(
        tmp_path: Path) -> None:
    from ansible_fixtures import local_inventory, stray, wait_gone

    from swrun.procs import matching as processes_matching

    local_inventory(tmp_path / "local.ini")
    (tmp_path / "rb.md").write_text(f"""---
inventory: local.ini
vars:
  APP_SECRET:
    secret: true
---
# Ansible

```bash {{hosts=localhost via=ansible}}
test -n "$APP_SECRET"
if [ ! -e {tmp_path}/ran ]; then touch {tmp_path}/ran; sleep 5; fi
echo done
```
""")
    secret = "app-Qv93-secret"
    env = _env(tmp_path, ANSIBLE_SSH_ARGS="-o ControlMaster=no")
    proc = subprocess.Popen([*swrun_cmd(), "execute", "rb.md", "--yes", "--log", "run.toml",
                             "--var", f"APP_SECRET={secret}"], cwd=tmp_path, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    work = tmp_path / "run.run" / "ansible"
    try:
        assert _wait_for(lambda: (tmp_path / "ran").exists(), 60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    try:
        # the playbook has started: ansible-playbook read its extra vars, the file is gone
        assert list(work.glob("*.vars.yml")) == []
        assert _mode(tmp_path / "run.run") == 0o700 and _mode(work) == 0o700
    finally:  # the kill hangs the playbook's pty up: it ends by itself
        if wait_gone(str(tmp_path), 15):
            for pid in processes_matching(str(tmp_path)):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
    done = _swrun(tmp_path, "rb.md", "--resume", "run.toml", "--yes",
                  "--var", f"APP_SECRET={secret}", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(work.glob("*.vars.yml")) == [] and list(work.rglob("job_events")) == []
    assert list(work.rglob("*-partial.json")) == []
    assert _leaks(tmp_path, secret, CLOUD, OPERATOR) == []
    assert not stray(str(tmp_path))


def test_what_a_dead_swrun_left_in_the_run_folder_is_removed_and_scrubbed(
        tmp_path: Path) -> None:
    import json

    from swrun.rundir import clear_stale

    run = tmp_path / "run.run"
    events = run / "ansible" / "artifacts" / "s1-ab12" / "job_events"
    events.mkdir(parents=True)
    (events / "0f-partial.json").write_text(json.dumps({"res": TOKEN}))
    (run / "ansible" / "s1-ab12.vars.yml").write_text(f"swrun_stdin: export X={TOKEN}\n")
    command = run / "ansible" / "artifacts" / "s1-ab12" / "command"
    command.write_text(json.dumps({"command": ["ansible-playbook"], "env": {"T": TOKEN}}))
    (run / "state").mkdir()
    (run / "state" / "a.env").write_text("EX=1\0")
    (run / "ansible" / "artifacts" / "s1-ab12" / "rc").write_text("0")
    run.chmod(0o755)
    gone = clear_stale(run)
    assert set(gone) == {"state/a.env", "ansible/s1-ab12.vars.yml",
                         "ansible/artifacts/s1-ab12/job_events"}
    assert _leaks(tmp_path, TOKEN) == [] and json.loads(command.read_text()) == {
        "command": ["ansible-playbook"]}
    assert (run / "ansible" / "artifacts" / "s1-ab12" / "rc").exists()
    assert _mode(run) == 0o700 and _mode(run / "ansible") == 0o700
