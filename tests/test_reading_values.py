"""Issue 24, items 4, 5 and 7: placeholders of more shapes (in commands and in the files steps
write), example values, values nothing sets, a value given empty, rollback-only values, and
titles that do not contradict what a block runs. Parsed from Markdown written here, then run
headless for real (`swrun execute` in a subprocess)."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

from swrun.checks import check_runbook
from swrun.parser import parse_text
from swrun.runlog import read_log

from conftest import swrun_cmd
from helpers import write_runbook


def _book(text: str):  # type: ignore[no-untyped-def]
    return parse_text(textwrap.dedent(text).lstrip(), "rb.md").runbook


def _rules(text: str) -> list[tuple[str, int]]:
    result = parse_text(textwrap.dedent(text).lstrip(), "rb.md")
    return [(d.rule, d.line) for d in check_runbook(result, inventory=False)  # type: ignore
            if getattr(d, "rule", "")]


def _run(tmp: Path, *args: str, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("NAMESPACE", "REGISTRY", "SNAPSHOT_ID", "IMAGE", "XXX")}
    return subprocess.run([*swrun_cmd(), "execute", "rb.md", *args], cwd=tmp,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=60, env={**clean, **(env or {})})


# -- item 4: shapes -------------------------------------------------------------------------
SHAPES = """
    # Shapes

    ## Do

    ```bash
    COMPONENT='<name of the component, see below>'
    aws ec2 describe-security-groups --group-ids sg-xxxxxxxx
    docker push your-registry/your-image:1.0
    tar czf /path/to/backup.tgz /var/lib/app
    kubectl get [pods|deployments] -n prod
    ./deploy.sh web ...
    echo "usage: deploy [staging|production]"
    ```
    """


def test_each_new_shape_is_a_variable_or_a_finding() -> None:
    book = _book(SHAPES)
    (step,) = book.steps
    uses = {u.text: (u.name, u.fillable) for u in step.placeholders}
    assert uses == {
        "<name of the component, see below>": ("COMPONENT", True),
        "xxxxxxxx": ("GROUP_IDS", True),
        "your-registry": ("REGISTRY", True),
        "your-image": ("IMAGE", True),
        "/path/to/backup.tgz": ("BACKUP_TGZ", True),
        "[pods|deployments]": ("PODS_OR_DEPLOYMENTS", True),
        "...": ("MORE_ARGUMENTS", False),
    }
    assert book.variables["PODS_OR_DEPLOYMENTS"].choices == ("pods", "deployments")
    assert "COMPONENT=''\"${COMPONENT}\"''" in step.body
    assert 'sg-"${GROUP_IDS}"' in step.body
    assert '"${REGISTRY}"/"${IMAGE}":1.0' in step.body
    assert "[staging|production]" in step.body  # text in quotes: a usage line, left alone
    assert "./deploy.sh web ..." in step.body  # more arguments: reported, not asked
    assert "MORE_ARGUMENTS" not in book.variables
    rules = _rules(SHAPES)
    assert ("SW102", 11) in rules  # the trailing ...
    assert sum(r == "SW102" for r, _ in rules) == 7


def test_plain_words_are_not_placeholders() -> None:
    book = _book("""
        # Plain

        ```bash
        echo taxxxes yourself /path/tool [a] "$x|y"
        grep -E '[0-9]+' file | sort
        kubectl get pods -o yaml
        ```
        """)
    assert book.steps[0].placeholders == ()
    assert book.variables == {}


def test_a_file_a_step_writes_is_filled_and_reported(tmp_path: Path) -> None:
    write_runbook(tmp_path, """
        # Config

        ## Write it

        Create `conf/app.env`:

        ```ini
        REGISTRY=your-registry
        NAMESPACE=<namespace>
        template={{ name }}
        ```
        """)
    rules = _rules((tmp_path / "rb.md").read_text())
    assert ("SW102", 8) in rules and ("SW102", 9) in rules
    assert _run(tmp_path, "--yes").returncode == 6  # asked for: nothing runs without them
    assert not (tmp_path / "conf").exists()
    res = _run(tmp_path, "--yes", "--var", "REGISTRY=reg.example",
               "--var", "NAMESPACE=prod")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "conf" / "app.env").read_text() == \
        "REGISTRY=reg.example\nNAMESPACE=prod\ntemplate={{ name }}\n"


def test_example_values_are_warned() -> None:
    text = """
        # Examples

        ## Deploy

        For example, to deploy a release:

        ```bash
        git checkout 3f2c9a1
        cp build.tar /srv/releases/app/2024-01-01/build.tar
        ```

        Then:

        ```bash
        git checkout 0123456789abcdef0123456789abcdef01234567
        curl -H "X-Id: 123e4567-e89b-12d3-a456-426614174000" http://127.0.0.1:9
        docker pull nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
        git checkout 3f2c9a1
        ```
        """
    found = [line for rule, line in _rules(text) if rule == "SW113"]
    # the short hash and the path count only under "For example"; the digest never
    assert found == [8, 9, 15, 16]


# -- item 7: values nothing sets ------------------------------------------------------------
UNSET = """
    # Unset

    ## Logs

    ```bash
    touch "made-$NAMESPACE"
    echo "ns=$NAMESPACE"
    ```
    """


def test_a_plain_dollar_name_nothing_sets_is_asked_for() -> None:
    book = _book(UNSET)
    assert [(u.text, u.name) for u in book.steps[0].placeholders] == \
        [("$NAMESPACE", "NAMESPACE")]
    assert book.variables["NAMESPACE"].required


def test_names_something_sets_or_the_shell_owns_are_not_asked() -> None:
    book = _book("""
        # Set

        ```bash
        export REGION=eu
        LOCAL=1
        ```

        ```bash
        echo "$REGION $LOCAL $HOME $PATH $SWRUN_STEP" '$QUOTED' \\$ESCAPED
        for HOST in a b; do echo $HOST; done
        awk '{print $NF}' file  # $COMMENTED
        ```
        """)
    assert book.variables == {}


def test_a_commented_assignment_declares_the_variable() -> None:
    book = _book("""
        # Alert

        ```bash
        # NAMESPACE='<value of namespace label from alert>'
        oc -n $NAMESPACE logs deploy/api
        ```
        """)
    var = book.variables["NAMESPACE"]
    assert var.placeholder == "<value of namespace label from alert>"
    assert var.prompt.startswith("<value of namespace label from alert>")
    assert [u.name for u in book.steps[0].placeholders] == ["NAMESPACE"]


def test_the_asked_value_lands_in_the_command(tmp_path: Path) -> None:
    write_runbook(tmp_path, UNSET)
    res = _run(tmp_path, "--yes")
    assert res.returncode == 6 and "NAMESPACE is required" in res.stderr
    res = _run(tmp_path, "--yes", "--var", "NAMESPACE=prod")
    assert res.returncode == 0, res.stderr
    assert "ns=prod" in res.stdout and (tmp_path / "made-prod").exists()


def test_an_empty_value_stops_the_step_before_it_runs(tmp_path: Path) -> None:
    write_runbook(tmp_path, UNSET)
    for how in (["--var", "NAMESPACE="], ["--var", "NAMESPACE=  "]):
        res = _run(tmp_path, "--yes", "--log", "run.toml", *how)
        assert res.returncode == 1, res.stderr  # a failed step (docs/cli.md)
        assert not (tmp_path / "made-").exists() and not (tmp_path / "made-  ").exists()
        said = "NAMESPACE is empty: step 1 'Logs' would run with an empty value"
        assert said in res.stdout
        (finished,) = [e for e in read_log(tmp_path / "run.toml").events
                       if e["type"] == "step_finished"]
        assert finished["status"] == "failed" and said in finished["error"]
        (tmp_path / "run.toml").unlink()
    res = _run(tmp_path, "--yes", env={"NAMESPACE": ""})  # the environment, empty
    assert res.returncode == 1 and "NAMESPACE is empty" in res.stdout


def test_a_declared_empty_default_may_run_empty(tmp_path: Path) -> None:
    write_runbook(tmp_path, """
        +++
        [vars.SUFFIX]
        default = ""
        +++
        # Suffix

        ```bash
        touch "made$SUFFIX"
        ```
        """)
    assert _run(tmp_path, "--yes").returncode == 0
    assert (tmp_path / "made").exists()


# -- item 5: rollback-only values, titles ---------------------------------------------------
ROLLBACK = """
    # Deploy

    ## Go

    ```bash {on_failure=rollback}
    false
    ```

    ## Rollback

    ```bash
    echo "restoring <snapshot-id>" > restored.txt
    ```
    """


def test_a_rollback_only_placeholder_is_asked_when_the_rollback_starts(tmp_path: Path) -> None:
    write_runbook(tmp_path, ROLLBACK)
    res = _run(tmp_path, "--yes", "--log", "run.toml")  # no rollback: never needed
    assert res.returncode == 1 and "SNAPSHOT_ID" not in res.stderr, res.stderr
    (tmp_path / "run.toml").unlink()
    res = _run(tmp_path, "--yes", "--rollback-on-failure", "--log", "run.toml")
    assert res.returncode == 1
    assert "the rollback needs SNAPSHOT_ID" in res.stdout, res.stdout
    assert not (tmp_path / "restored.txt").exists()
    assert read_log(tmp_path / "run.toml").events[-1]["status"] == "rollback_failed"
    (tmp_path / "run.toml").unlink()
    res = _run(tmp_path, "--yes", "--rollback-on-failure", env={"SNAPSHOT_ID": "snap-1"})
    assert res.returncode == 1
    assert (tmp_path / "restored.txt").read_text() == "restoring snap-1\n"


def test_a_title_never_contradicts_what_the_block_runs() -> None:
    book = _book("""
        # Titles

        ## Rollback

        There is nothing to roll back. If the unit misbehaves, stop it:

        ```bash
        systemctl stop demo-unit
        ```

        The nodes are listed with their status.

        ```bash
        kubectl get nodes
        ```

        To restart the web server, run:

        ```bash
        systemctl restart web
        ```

        A common issue is an expired certificate.

        ```bash
        oc delete secret ca-bundle
        ```

        **Check the queue.** It drains in a minute.

        ```bash
        redis-cli llen jobs
        ```
        """)
    assert [s.title for s in book.steps] == [
        "systemctl stop demo-unit", "The nodes are listed with their status",
        "To restart the web server, run", "oc delete secret ca-bundle", "Check the queue"]


def test_a_terminal_is_asked_for_the_rollback_value_when_the_rollback_starts(
        tmp_path: Path) -> None:
    from test_execute_tty import Terminal

    write_runbook(tmp_path, ROLLBACK.replace("<snapshot-id>", "<api-token>").replace(
        "> restored.txt", "| tee restored.txt"))
    term = Terminal([*swrun_cmd(), "execute", "rb.md", "--log", "run.toml",
                     "--rollback-on-failure"], tmp_path)
    try:
        term.expect("what now")
        assert "<api-token>" not in term.seen  # not asked before the run
        term.type("b")
        term.expect("<api-token> (line 12)")
        term.type("supersecret-9")
        assert term.close() == 1, term.seen
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    assert (tmp_path / "restored.txt").read_text() == "restoring supersecret-9\n"
    log = (tmp_path / "run.toml").read_text()
    assert "supersecret-9" not in log and "restoring ****" in log  # masked, as at the start
    assert read_log(tmp_path / "run.toml").events[-1]["status"] == "rolled_back"
