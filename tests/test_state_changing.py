"""State-changing commands need a yes (issue 24, item 1): a step that deletes, scales,
restarts, kills or `rm -rf`s and that its author did not mark is asked before it runs —
in the console, at a terminal, and headless, where `--yes` does not answer it and
`--confirm STEP` (or the author's `unattended`/`confirm=false`) does. Alternatives ("If …",
"Option B", "Alternatively") are asked too, never run one after the other; "(not
recommended)" ones are shown, not run."""

from __future__ import annotations

import io
import json
import shlex
import subprocess
from pathlib import Path

import pytest
from test_regex_budget import within_budget
from test_tui_support import SIZE, events, frozen, make_app, screen_text, until, waiting

from swrun.engine import INFERRED, Decision, OperatorNeeded
from swrun.model import Runbook
from swrun.operators import AutoOperator, TtyOperator
from swrun.parser import load_runbook, parse_text
from swrun.rules import statechange
from swrun.runlog import read_log
from swrun.tui.screens import ConfirmScreen

from conftest import swrun_cmd
from helpers import write_runbook

__all__ = ["frozen"]

MITIGATION = """
    # Checkout pods stuck

    ## Diagnosis

    ```bash
    kubectl get pods -n shop   # if one is stuck: kubectl delete pod NAME
    echo "do not kubectl delete pod here"; grep -c 'rm -rf' notes.txt || true
    ```

    ## Mitigation

    If the pod is stuck, delete it:

    ```bash
    kubectl delete pod checkout-0 -n shop
    ```

    If that does not help, scale the deployment to 0 and back:

    ```bash
    kubectl -n shop scale deployment checkout --replicas=0
    kubectl -n shop scale deployment checkout --replicas=3
    ```

    Restart the proxy and clear its cache:

    ```bash
    sudo systemctl restart haproxy
    rm -rf /var/cache/haproxy/*
    ```

    Drop the stale sessions table:

    ```bash
    psql "$DB" -c "DROP TABLE stale_sessions;"
    ```

    ## Option B: fail over to the other region

    ```bash
    echo switching region
    ```

    ## Wipe the cluster (not recommended)

    ```bash
    kubectl delete namespace shop
    ```
    """


def _steps(rb: Runbook) -> dict[int, tuple[str, str]]:
    return {s.number: (s.confirm_inferred, s.choice) for s in rb.steps if s.number}


def test_mitigation_steps_are_asked_and_quoted_mentions_are_not_commands() -> None:
    rb = parse_text(__import__("textwrap").dedent(MITIGATION)).runbook
    assert _steps(rb) == {
        1: ("", ""),  # a comment, a quoted string: nothing runs `kubectl delete`
        2: ("kubectl delete pod checkout-0 -n shop", "If the pod is stuck, delete it"),
        3: ("kubectl -n shop scale deployment checkout --replicas=0",
            "If that does not help, scale the deployment to 0 and back"),
        4: ("sudo systemctl restart haproxy", ""),
        5: ('psql "$DB" -c "DROP TABLE stale_sessions;"', ""),
        6: ("", "Option B: fail over to the other region"),
    }
    wipe = [s for s in rb.steps if s.section == ("Wipe the cluster (not recommended)",)]
    assert len(wipe) == 1 and wipe[0].optional and not wipe[0].runnable


@pytest.mark.parametrize("line", [
    "rm -rf build", "rm -fr build", "rm -r -f build", "rm --recursive build", "rm -f app.pid",
    "kill -TERM 1234", "pkill -f worker", "killall nginx", "sudo -u root reboot",
    "oc adm drain node-1 --ignore-daemonsets", "kubectl cordon node-1",
    "kubectl patch deploy web -p '{}'", "kubectl replace -f web.yaml",
    "kubectl rollout restart deployment/web", "virtctl migrate vm-1",
    "service nginx stop", "gitlab-ctl reconfigure", "sudo gitlab-ctl restart consul",
    "terraform destroy -auto-approve", "aws ec2 terminate-instances --instance-ids i-1",
    "aws --region eu-west-1 rds delete-db-instance --db-instance-identifier db",
    "gcloud compute instances delete vm-1", "az vm delete -n vm -g rg",
    "docker rm -f web", "podman stop web", "helm uninstall web", "pm2 delete api",
    "mysql -e 'TRUNCATE sessions'", "mongosh --eval 'db.users.drop()'",
    "ssh db1 'sudo systemctl stop postgresql'", "bash -c 'rm -rf /srv/old'",
    "kubectl exec web-0 -- kill 1", "kubectl get pods -o name | xargs kubectl delete",
    "for n in a b; do kubectl drain $n; done", "timeout 30 kubectl scale deploy/web --replicas=0",
    "DELETE FROM sessions WHERE created < now();", "echo 'DROP TABLE t;' | psql -d app",
])
def test_each_library_command_is_found(line: str) -> None:
    assert statechange.find_in_shell(line) is not None, line


@pytest.mark.parametrize("line", [
    "kubectl get pods", "kubectl logs deploy/scale", "kubectl describe pod drain",
    "kill -0 1234", "rm notes.txt", "git rm -r old", "echo 'rm -rf /'",
    "# kubectl delete pod x", "systemctl status nginx", "terraform plan",
    "psql -c 'SELECT 1'", "helm upgrade web chart", "aws ec2 describe-instances",
    "grep 'DROP TABLE' dump.sql", "cat > x <<EOF", "echo hi > /tmp/delete",
    "echo 'select 1' | psql", "kubectl exec -it web-0 -- bash",
])
def test_reads_and_mentions_are_not_state_changing(line: str) -> None:
    assert statechange.find_in_shell(line) is None, line


def test_typed_blocks_and_the_runbooks_own_patterns(tmp_path: Path) -> None:
    text = """
        +++
        state_changing = ["mytool purge"]
        +++
        # Typed

        ```pm2
        restart api
        ```

        ```pm2
        status
        ```

        ```bash
        mytool --verbose purge cache
        ```

        ```bash
        mytool list
        ```
        """
    rb = load_runbook(write_runbook(tmp_path, text))
    assert [s.confirm_inferred for s in rb.steps] == ["restart api", "", "mytool --verbose "
                                                      "purge cache", ""]
    bad = parse_text('+++\nstate_changing = ["--x"]\n+++\n# A\n', "bad.md")
    assert [d.message for d in bad.errors] == [
        "state_changing pattern '--x': it must start with a command"]
    worse = parse_text('+++\nunattended = "yes"\n+++\n# A\n', "bad.md")
    assert [d.message for d in worse.errors] == ["front matter unattended must be true or false"]


def test_the_author_says_it_may_run_unattended(tmp_path: Path) -> None:
    text = """
        # Marked

        ```bash {unattended}
        rm -rf build
        ```

        ```bash {confirm=false}
        rm -rf dist
        ```

        ```bash {confirm}
        rm -rf cache
        ```

        ## Clean up
        <!-- swrun: unattended -->

        ```bash
        rm -rf tmp
        ```

        ## Restart

        ```bash
        systemctl restart web
        ```
        """
    rb = load_runbook(write_runbook(tmp_path, text))
    assert [s.confirm_inferred for s in rb.steps] == ["", "", "", "", "systemctl restart web"]
    everywhere = load_runbook(write_runbook(tmp_path, "+++\nunattended = true\n+++\n"
                                            + text.replace("        ", ""), "all.md"))
    assert [s.inferred for s in everywhere.steps] == ["", "", "", "", ""]


def test_the_command_shown_has_no_terminal_escapes() -> None:
    found = statechange.find_in_shell('rm -rf "y\x1b[2J\x1b]0;title\x07"')
    assert found is not None and found.command == 'rm -rf "y"'


def test_remote_steps_are_read_like_local_ones(tmp_path: Path) -> None:
    rb = load_runbook(write_runbook(tmp_path, "# R\n\n```bash {hosts=web}\nsudo systemctl "
                                    "restart nginx\n```\n"))
    assert rb.steps[0].confirm_inferred == "sudo systemctl restart nginx"


def test_if_you_use_setup_prose_is_not_an_alternative() -> None:
    text = ("# Setup\n\n## Configure\n\nIf you use Docker, add the registry:\n\n"
            "```bash\necho registry\n```\n\n## If you use Helm\n\n```bash\necho helm\n```\n\n"
            "Alternatively, pin the image:\n\n```bash\necho pin\n```\n")
    rb = parse_text(text).runbook
    assert [s.choice for s in rb.steps] == ["", "", "Alternatively, pin the image"]


def test_plan_shows_the_inferred_confirm_with_its_command(tmp_path: Path) -> None:
    write_runbook(tmp_path, MITIGATION)
    out = subprocess.run([*swrun_cmd(), "plan", "--json", "rb.md"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, check=True)
    steps = {s["number"]: s for s in json.loads(out.stdout)["steps"] if s["number"]}
    assert steps[2]["inferred_confirm"] == {"command": "kubectl delete pod checkout-0 -n shop",
                                            "choice": "If the pod is stuck, delete it"}
    assert steps[1]["inferred_confirm"] is None
    text = subprocess.run([*swrun_cmd(), "plan", "rb.md"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=True).stdout
    assert "confirm(inferred)" in text
    assert "step 4 asks first (`sudo systemctl restart haproxy`)" in text


def test_check_reports_each_state_changing_step_with_its_fix(tmp_path: Path) -> None:
    write_runbook(tmp_path, MITIGATION)
    out = subprocess.run([*swrun_cmd(), "check", "rb.md"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    found = [line for line in out.stdout.splitlines() if "SW205" in line]
    assert [line.split(":")[1] for line in found] == ["14", "20", "27", "34"]
    assert all("fix: add {confirm}" in line and "{unattended}" in line for line in found)


WIPE = """
    # Clean the scratch folder

    ```bash {name=make}
    mkdir -p scratch/old && echo made
    ```

    ```bash {name=wipe}
    rm -rf scratch
    echo wiped
    ```

    ```bash {name=after}
    test ! -e scratch && echo gone
    ```
    """


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*swrun_cmd(), "execute", "rb.md", *args], cwd=tmp_path,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


def test_headless_yes_stops_and_the_pasted_hint_runs_it(tmp_path: Path) -> None:
    write_runbook(tmp_path, WIPE)
    first = _run(tmp_path, "--yes", "--log", "run.toml")
    assert first.returncode == 4, first.stderr
    assert (tmp_path / "scratch").is_dir()  # nobody said yes: nothing was removed
    assert "step 2 'wipe' asks first (inferred: `rm -rf scratch`)" in first.stderr
    assert "--confirm 2" in first.stderr and "{unattended}" in first.stderr
    hint = next(line for line in first.stderr.splitlines() if "or headless" in line)
    words = shlex.split(hint.rsplit("): ", 1)[1])
    assert words[:2] == ["swrun", "execute"] and words[-2:] == ["--confirm", "2"]
    second = subprocess.run([*swrun_cmd(), *words[1:]], cwd=tmp_path, capture_output=True,
                            stdin=subprocess.DEVNULL, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert not (tmp_path / "scratch").exists()
    finished = [e for e in read_log(tmp_path / "run.toml").events
                if e["type"] == "step_finished"]
    assert [(e["step"], e["status"]) for e in finished] == [
        ("make", "ok"), ("wipe", "ok"), ("after", "ok")]


def test_confirm_names_the_step_up_front_and_an_unknown_step_is_a_usage_error(
        tmp_path: Path) -> None:
    write_runbook(tmp_path, WIPE)
    ran = _run(tmp_path, "--yes", "--confirm", "wipe", "--confirm", "1")
    assert ran.returncode == 0, ran.stderr
    assert "gone" in ran.stdout
    assert "--confirm 1: step 1 'make' is not asked by inference" in ran.stderr
    assert "--confirm wipe" not in ran.stderr
    bad = _run(tmp_path, "--yes", "--confirm", "9")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1] == \
        "swrun: --confirm 9: no such step (see `swrun plan rb.md`)"


@pytest.mark.parametrize("mark", ["unattended", "confirm=false"])
def test_marked_unattended_runs_headless(tmp_path: Path, mark: str) -> None:
    write_runbook(tmp_path, WIPE.replace("{name=wipe}", "{name=wipe " + mark + "}"))
    ran = _run(tmp_path, "--yes")
    assert ran.returncode == 0, ran.stderr
    assert not (tmp_path / "scratch").exists()


def test_operators_ask_for_an_inferred_confirm(tmp_path: Path) -> None:
    rb = load_runbook(write_runbook(tmp_path, WIPE))
    wipe = rb.find("wipe")
    assert wipe is not None
    with pytest.raises(OperatorNeeded) as stop:
        AutoOperator("ci").confirm(wipe, INFERRED)
    assert stop.value.resume_args == ("--yes", "--confirm", "2")
    assert AutoOperator("ci", confirmed=frozenset({wipe.id})).confirm(
        wipe, INFERRED).decision is Decision.CONTINUE
    out = io.StringIO()
    asked: list[str] = []
    tty = TtyOperator("alice", read=lambda q: asked.append(q) or "s", out=out)
    assert tty.confirm(wipe, INFERRED).decision is Decision.SKIP
    assert "inferred: `rm -rf scratch`" in out.getvalue()
    assert asked and "run it" in asked[0]


async def test_the_console_asks_and_says_why(frozen: Path) -> None:
    app = make_app(frozen, WIPE)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, waiting(app, "confirm", 1), "step 1")
        assert app.pending is not None and app.pending.reason != INFERRED
        await pilot.press("r")  # the console's own step gate: r runs it, no dialog
        await until(pilot, waiting(app, "confirm", 2), "the inferred gate")
        assert app.pending is not None and app.pending.reason == INFERRED
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "run this step?")
        assert "inferred: `rm -rf scratch`" in screen_text(app)
        assert app.focused is not None and app.focused.id == "no"  # Enter does not run it
        await pilot.press("y")
        await until(pilot, lambda: not (frozen / "scratch").exists(), "the step ran")
    assert [e["step"] for e in events(Path("run.toml"), "step_finished")][:2] == ["make",
                                                                                 "wipe"]


@pytest.mark.parametrize("unit", ["kubectl -n ", "rm -", "a|", "'", '"', "\\", "psql -c ",
                                  "ssh -o ", "bash -c '", "-- ", "sudo ", "xargs -I ",
                                  "aws ", "gcloud a ", "If ", "Option ", "(not ", "a. "])
def test_readers_take_linear_time(unit: str) -> None:
    text = unit * max(30, 60_000 // len(unit))
    for reader in (statechange.find_in_shell, statechange.alternative_lead,
                   statechange.alternative_title, statechange.not_recommended,
                   lambda t: statechange.find_in_typed("aws", t)):
        within_budget(reader, text)
        within_budget(reader, "kubectl " + text + " delete")


@pytest.mark.parametrize("body", [
    'eval "kubectl delete pod web-0"',
    "eval kubectl scale deploy/web --replicas=0",
    "find /srv/app/tmp -name '*.lock' -delete",
])
def test_eval_and_find_delete_are_read_as_what_they_run(body: str) -> None:
    """`eval` runs its words as a command line, and `find … -delete` deletes (both found by
    trying to get a delete past the library from outside)."""
    step = parse_text(f"# T\n\n```bash\n{body}\n```\n", "rb.md").runbook.steps[0]
    assert step.confirm_inferred, body


def test_find_without_delete_changes_nothing() -> None:
    step = parse_text("# T\n\n```bash\nfind /var/log -name '*.gz' -mtime +7\n```\n",
                      "rb.md").runbook.steps[0]
    assert not step.confirm_inferred
