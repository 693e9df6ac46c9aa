"""Placeholders are rewritten by the shell's grammar: a command substitution is a new quoting
context, in double quotes too, and a name the shell owns is never passed as itself. Each
rewritten body is run by real bash with a hostile value, which must come out as one literal
argument, never split, globbed or run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from swrun.parser import parse_text
from swrun.rules.shelltext import find_placeholders, shell_owned, var_name

HOSTILE = "* -n $(touch PWNED) 'x\" `touch PWNED2` ;"


def _run(body: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (cwd / "a file").write_text("")  # something for a `*` to glob
    return subprocess.run(["bash", "-c", body], cwd=cwd, capture_output=True, text=True,
                          timeout=30, check=False, env={"PATH": "/usr/bin:/bin", **env})


@pytest.mark.parametrize("written", [
    """echo "$(printf '[%s]' "<pod>")" """,       # the issue's: was rewritten unquoted
    """echo "$(printf '[%s]' '<pod>')" """,       # was not filled at all
    """echo "$(printf '[%s]' <pod>)" """,
    """echo $(printf '[%s]' '<pod>')""",
    """echo "`printf '[%s]' <pod>`" """,
    """echo `printf '[%s]' "<pod>"`""",
    """echo "$(echo "$(printf '[%s]' "<pod>")")" """,
    """echo "$((1 + 1))$(printf '[%s]' '<pod>')" """,
    """printf '[%s]' $'it\\'s' <pod>""",
    """x="$(printf '[%s]' "<pod>")"; echo "$x" """,
    """echo "$(printf '[%s]' '<pod>' # a comment (with a paren
    )" """,
    """printf '[%s]' "<pod>" '<pod>' <pod>""",
])
def test_a_hostile_value_is_one_literal_argument(written: str, tmp_path: Path) -> None:
    body, found = find_placeholders(written)
    assert [p.name for p in found] and {p.name for p in found} == {"POD"}, body
    proc = _run(body, tmp_path, POD=HOSTILE)
    shown = proc.stdout.replace("2[", "[").replace("[it's]", "").strip()
    assert shown == f"[{HOSTILE}]" * shown.count("["), (body, proc.stdout, proc.stderr)
    assert shown.count("[") >= 1
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "PWNED2").exists()


def test_dry_run_and_run_agree_on_the_quoting() -> None:
    """The issue saw `--dry-run` show it quoted while the run split it: the body is the one
    rewritten text both use."""
    body, _ = find_placeholders("""kubectl logs "$(kubectl get pod "<pod>" -o name)" """)
    assert body == """kubectl logs "$(kubectl get pod "${POD}" -o name)" """


@pytest.mark.parametrize(("written", "name"), [
    ("<shellopts>", "SHELLOPTS_VALUE"), ("<bashopts>", "BASHOPTS_VALUE"),
    ("<globignore>", "GLOBIGNORE_VALUE"), ("<prompt_command>", "PROMPT_COMMAND_VALUE"),
    ("<histfile>", "HISTFILE_VALUE"), ("<ifs>", "IFS_VALUE"), ("<bash_env>", "BASH_ENV_VALUE"),
    ("<env>", "ENV_VALUE"), ("<cdpath>", "CDPATH_VALUE"), ("<ps4>", "PS4_VALUE"),
    ("<ld_preload>", "LD_PRELOAD_VALUE"), ("<ld_audit>", "LD_AUDIT_VALUE"),
    ("<tmout>", "TMOUT_VALUE"), ("<posixly_correct>", "POSIXLY_CORRECT_VALUE"),
    ("<path>", "PATH_VALUE"), ("<pod>", "POD"),
])
def test_names_the_shell_owns_are_renamed(written: str, name: str) -> None:
    _, found = find_placeholders(f"echo {written}")
    assert [p.name for p in found] == [name]
    assert var_name(written) == name


def test_an_upper_case_key_the_shell_owns_is_renamed_too() -> None:
    """`SHELLOPTS='<the options>'` names the variable after its key: not SHELLOPTS."""
    body, found = find_placeholders("SHELLOPTS='<the options to use>'; echo \"$SHELLOPTS\"")
    assert [p.name for p in found] == ["SHELLOPTS_VALUE"]
    assert "${SHELLOPTS_VALUE}" in body


def test_every_variable_bash_sets_is_owned() -> None:
    """What bash itself defines (`compgen -v` in a clean shell) is never a placeholder's."""
    names = subprocess.run(["bash", "--norc", "--noprofile", "-c", "compgen -v"],
                           capture_output=True, text=True, timeout=30, check=True,
                           env={"PATH": "/usr/bin:/bin"}).stdout.split()
    names = [n for n in names if n.isupper()]
    assert "SHELLOPTS" in names
    assert [n for n in names if not shell_owned(n)] == []


def test_shellopts_from_a_placeholder_turns_nothing_on(tmp_path: Path) -> None:
    """Run as swrun passes values (the variable's name from the plan, the value in the
    environment): `SHELLOPTS=xtrace` turned tracing on before."""
    result = parse_text("# R\n\n```bash\necho \"opts: <shellopts>\"\n```\n", "rb.md")
    step = result.runbook.steps[0]
    (use,) = step.placeholders
    proc = _run(step.body, tmp_path, **{use.name: "xtrace"})
    assert proc.stdout == "opts: xtrace\n"
    assert proc.stderr == ""  # no `+ echo …` trace
    assert use.name in result.runbook.variables
