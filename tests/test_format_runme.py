"""Runme documents (https://runme.dev) load and run: its JSON and `key=value` cell options,
its front matter, its `$ ` prompts. The files are written here in Runme's documented format
(its cell-level and reference pages, the shape its editor saves), and run real commands."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from swrun.attributes import parse_attributes
from swrun.exitcodes import ExitCode
from swrun.model import StepKind
from swrun.parser import parse_text

from conftest import swrun_cmd
from helpers import write_runbook

CELLS = """
    ---
    runme:
      id: 01HF7BT3HCDS1X1WJJHAG7S8YG
      version: v3
    shell: bash
    skipPrompts: true
    terminalRows: 20
    category: setup
    ---

    # Set up the workspace

    Say hello:

    ```sh {"id":"01HF7BT3HBDTRGQAQMHNSXB9K2","name":"hello","closeTerminalOnSuccess":"false"}
    $ echo "Hello, runme!" > hello.txt
    ```

    ```sh {"cwd":"sub","name":"where","interpreter":"bash","terminalRows":"25","tag":"t:e"}
    pwd > here.txt
    ```

    ```sh {"excludeFromRunAll":"true","name":"never","mimeType":"text/plain","promptEnv":"no"}
    touch never.txt
    ```

    ```sh { name=last interactive=false category=build,deployment }
    echo done > last.txt
    ```
    """


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*swrun_cmd(), *args], cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120, env=dict(os.environ))


def plan(path: Path) -> dict:
    done = run(["plan", "--json", str(path)], path.parent)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_json_attributes_are_read_as_pairs() -> None:
    assert parse_attributes('"id":"01HF","name":"echo","interactive":"false","background":true,'
                            '"terminalRows":25,"gone":null') == {
        "id": "01HF", "name": "echo", "interactive": False, "background": True,
        "terminalRows": "25"}
    # not JSON: read as swrun's words, as before
    assert parse_attributes('name="a b" confirm') == {"name": "a b", "confirm": True}


def test_runme_cells_load_with_their_names_and_kept_options(tmp_path: Path) -> None:
    path = write_runbook(tmp_path, CELLS)
    result = parse_text(path.read_text(), str(path))
    assert result.diagnostics == ()  # no bad attribute, no unknown key, no unknown front matter
    steps = {s.id: s for s in result.runbook.steps}
    assert list(steps) == ["hello", "where", "never", "last"]
    hello = steps["hello"]
    assert hello.title == "hello" and hello.kind is StepKind.SHELL
    assert hello.body.strip() == 'echo "Hello, runme!" > hello.txt'  # Runme's `$ ` dropped
    # kept and shown, not acted on
    assert hello.attributes["id"] == "01HF7BT3HBDTRGQAQMHNSXB9K2"
    assert hello.attributes["closeTerminalOnSuccess"] is False
    assert steps["where"].attributes["terminalRows"] == "25"
    assert steps["where"].attributes["tag"] == "t:e"
    assert steps["never"].attributes["promptEnv"] is False
    assert hello.attributes["shell"] == "bash"  # the front matter's shell
    assert steps["where"].attributes["cwd"] == "sub"
    assert steps["never"].kind is StepKind.REFERENCE
    assert steps["last"].attributes["category"] == "build,deployment"
    assert result.runbook.metadata["runme"] == {"id": "01HF7BT3HCDS1X1WJJHAG7S8YG",
                                               "version": "v3"}


def test_plan_json_shows_the_kept_options(tmp_path: Path) -> None:
    shown = plan(write_runbook(tmp_path, CELLS))
    first = shown["steps"][0]
    assert first["id"] == "hello"
    assert first["attributes"]["id"] == "01HF7BT3HBDTRGQAQMHNSXB9K2"
    assert shown["steps"][2]["attributes"]["mimeType"] == "text/plain"


def test_runme_cells_run_headless(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = write_runbook(tmp_path, CELLS)
    done = run(["execute", str(path), "--log", str(tmp_path / "run.toml")], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "hello.txt").read_text() == "Hello, runme!\n"
    assert (tmp_path / "sub" / "here.txt").read_text().strip() == str(tmp_path / "sub")
    assert not (tmp_path / "never.txt").exists()  # excludeFromRunAll: shown, not run
    assert (tmp_path / "last.txt").read_text() == "done\n"


def test_interactive_and_background_cells_are_left_to_a_person(tmp_path: Path) -> None:
    path = write_runbook(tmp_path, """
        # Serve

        ```sh {"name":"before"}
        echo before > before.txt
        ```

        ```sh {"interactive":"true","name":"ask"}
        echo asked > asked.txt
        ```

        ```sh { background=true name=serve }
        echo served > served.txt
        ```
        """)
    steps = {s["id"]: s for s in plan(path)["steps"]}
    assert steps["ask"]["kind"] == "check" and "interactive=true" in steps["ask"]["manual"]
    assert steps["serve"]["kind"] == "check" and "background=true" in steps["serve"]["manual"]
    done = run(["execute", str(path), "--log", str(tmp_path / "run.toml")], tmp_path)
    assert done.returncode == ExitCode.OPERATOR_NEEDED, done.stdout + done.stderr
    assert "interactive=true" in done.stderr
    assert (tmp_path / "before.txt").exists()
    assert not (tmp_path / "asked.txt").exists() and not (tmp_path / "served.txt").exists()


def test_interactive_false_runs_and_run_overrides_interactive(tmp_path: Path) -> None:
    path = write_runbook(tmp_path, """
        # Run

        ```sh { interactive=false name=plain }
        echo plain > plain.txt
        ```

        ```sh { interactive=true run name=forced }
        echo forced > forced.txt
        ```
        """)
    done = run(["execute", str(path), "--log", str(tmp_path / "run.toml")], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "plain.txt").exists() and (tmp_path / "forced.txt").exists()


def test_front_matter_cwd_combines_with_the_cells(tmp_path: Path) -> None:
    (tmp_path / "top" / "inner").mkdir(parents=True)
    (tmp_path / "docs").mkdir()
    path = write_runbook(tmp_path / "docs", """
        ---
        cwd: ../top
        runme:
          id: 01HF7BT3HCDS1X1WJJHXFHR4ZG
          version: v3
        ---

        ```sh {"id":"01HF7BT3HCDS1X1WJJHS5YH0Y1","name":"doc-pwd"}
        pwd > doc.txt
        ```

        ```sh {"cwd":"inner","name":"cell-pwd"}
        pwd > cell.txt
        ```
        """)
    done = run(["execute", str(path), "--log", str(tmp_path / "run.toml")], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "top" / "doc.txt").read_text().strip() == str(tmp_path / "top")
    assert (tmp_path / "top" / "inner" / "cell.txt").read_text().strip() == \
        str(tmp_path / "top" / "inner")


def test_interpreter_is_the_cells_shell(tmp_path: Path) -> None:
    result = parse_text('```sh {"interpreter":"/bin/sh","name":"x"}\necho hi\n```\n', "rb.md")
    assert result.diagnostics == ()
    assert result.runbook.steps[0].attributes["shell"] == "/bin/sh"


def test_unknown_json_keys_on_a_run_block_are_still_errors() -> None:
    """Only Runme's documented options are kept quietly: a typo in a block swrun runs is an
    error in JSON as in swrun's own words."""
    result = parse_text('```sh {"name":"x","retires":"2"}\necho hi\n```\n', "rb.md")
    assert [d.message for d in result.errors] == ["unknown attribute 'retires'"]


def test_bad_runme_front_matter_is_one_line() -> None:
    result = parse_text("---\ncwd: [a, b]\n---\n\n```sh\necho hi\n```\n", "rb.md")
    assert [(d.message, d.line) for d in result.errors] == [
        ("front matter cwd must be a string", 2)]


def test_swrun_attributes_keep_their_meaning() -> None:
    """A swrun runbook reads as before: words, flags, commas, no Runme default."""
    result = parse_text("""# T

```bash {name=deploy confirm retries=2 hosts="h1,h4"}
echo hi
```

```yaml
a: 1
```
""", "rb.md")
    assert result.diagnostics == ()
    first, second = result.runbook.steps
    assert first.attributes == {"name": "deploy", "confirm": True, "retries": "2",
                                "hosts": "h1,h4"}
    assert second.kind is StepKind.REFERENCE and second.attributes == {}


def test_a_runme_cell_runs_every_line_as_runme_does(tmp_path: Path) -> None:
    """Runme drops a line's leading `$ ` and runs every line: a line without a prompt is a
    command there, not program output (swrun's own transcripts are read as before)."""
    path = write_runbook(tmp_path, """
        ---
        runme:
          id: 01HG9CJ12JXPWFTA90C2HT8ZX3
          version: v3
        ---

        ```sh {"id":"01HNGQNYYWKP635FT8GHE67476","promptEnv":"false"}
        export VERSION="v1"
        $ echo "runner.$VERSION" > version.txt
        ```
        """)
    result = parse_text(path.read_text(), str(path))
    assert result.diagnostics == ()
    assert result.runbook.steps[0].body == 'export VERSION="v1"\necho "runner.$VERSION" > ' \
        'version.txt\n'
    done = run(["execute", str(path), "--log", str(tmp_path / "run.toml")], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "version.txt").read_text() == "runner.v1\n"
