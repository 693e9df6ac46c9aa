"""The two seed guides load as they are, step for step, line for line."""

from __future__ import annotations

from pathlib import Path

import pytest

from swrun.model import StepKind
from swrun.parser import parse_file

HERE = Path(__file__).resolve().parent
COPIES = HERE / "data" / "seeds"
SHARED = HERE.parents[1] / "shared" / "seeds"

SMARTWALLET = "smartwallet-deployment-guide.md"
COMMUNITY = "community-savings-production-guide.md"

# (kind, line of the opening fence or task item), in file order; r = reference, m = a manual
# step (a check made from a command a person runs).
# Issue 15 changed (reading existing runbooks): SmartWallet 178 ("Create
# `server/scripts/migrate_example.ts`:") writes the file (was reference); 246 holds
# `ssh staging-server` with no command, a session: manual (was shell); 667/680/693/706 are in
# "Troubleshooting", an optional section: shown, not run (were shell). Community 343 runs
# `pm2 logs -f`-style following logs, which never ends: manual (was shell).
# Issue 24 (output is never run): Community 358 ("GET /api/health" / "Expected: {…}") and 378
# ("- API endpoints: < 200ms (p95)") hold no command, only lines that read as output and
# comments, in bash fences: shown, not run (were shell; 378 also fails `bash -n`).
_EXPECTED = {
    SMARTWALLET: (
        "r47 r106 s178 c215 c216 c217 c218 c219 c220 s226 s240 m246 s264 s276 r291 "
        "c399 c400 c401 c402 c403 c404 c405 c406 s417 s448 r509 s549 s559 s569 s585 "
        "c633 c634 c635 c636 c637 c638 c639 c640 c641 c642 c643 c644 s648 r667 r680 r693 "
        "r706 c753 c754 c755 c756 c757 c758 c759 c763 c764 c765 c766 c767"
    ),
    COMMUNITY: (
        "c17 c18 c19 c20 c21 c22 c25 c26 c27 c28 c29 c32 c33 c34 c35 c36 s42 s91 r104 "
        "s122 r135 r149 r164 r181 r196 s209 r222 r236 r250 r264 r279 s293 s309 s325 m343 "
        "r358 r378 s391 s408 r422 r436 s464"
    ),
}
_KINDS = {"c": StepKind.CHECK, "m": StepKind.CHECK, "s": StepKind.SHELL,
          "r": StepKind.REFERENCE}
_COUNTS = {SMARTWALLET: (12, 39, 8), COMMUNITY: (10, 17, 15)}


def _expected(name: str) -> list[tuple[StepKind, int]]:
    return [(_KINDS[item[0]], int(item[1:])) for item in _EXPECTED[name].split()]


@pytest.mark.parametrize("name", [SMARTWALLET, COMMUNITY])
def test_seed_parses_tolerantly_without_diagnostics(name: str) -> None:
    result = parse_file(COPIES / name)
    assert result.diagnostics == ()


@pytest.mark.parametrize("name", [SMARTWALLET, COMMUNITY])
def test_seed_step_counts(name: str) -> None:
    steps = parse_file(COPIES / name).runbook.steps
    shell, checks, refs = _COUNTS[name]
    assert sum(s.kind is StepKind.SHELL for s in steps) == shell
    assert sum(s.kind is StepKind.CHECK for s in steps) == checks
    assert sum(s.kind is StepKind.REFERENCE for s in steps) == refs
    assert len(steps) == shell + checks + refs


@pytest.mark.parametrize("name", [SMARTWALLET, COMMUNITY])
def test_seed_steps_kind_and_line_in_order(name: str) -> None:
    steps = parse_file(COPIES / name).runbook.steps
    assert [(s.kind, s.span.line) for s in steps] == _expected(name)


@pytest.mark.parametrize("name", [SMARTWALLET, COMMUNITY])
def test_seed_step_lines_point_at_fences_and_task_items(name: str) -> None:
    """The pinned lines are what an editor shows: a fence opener, or a `- [ ]` item."""
    lines = (COPIES / name).read_text().splitlines()
    for step in parse_file(COPIES / name).runbook.steps:
        source = lines[step.span.line - 1].lstrip()
        if step.kind is StepKind.CHECK and not step.manual:
            assert source.startswith(("- [ ]", "- [x]", "* [ ]")), (step.span, source)
        else:
            assert source.startswith("```"), (step.span, source)
            assert lines[step.span.end_line - 1].strip() == "```"


@pytest.mark.parametrize("name", [SMARTWALLET, COMMUNITY])
def test_seed_numbers_and_ids(name: str) -> None:
    rb = parse_file(COPIES / name).runbook
    assert [s.number for s in rb.actionable] == list(range(1, len(rb.actionable) + 1))
    assert all(s.number is None for s in rb.steps if s.kind is StepKind.REFERENCE)
    assert len({s.id for s in rb.steps}) == len(rb.steps)


def test_seed_titles() -> None:
    smart = parse_file(COPIES / SMARTWALLET).runbook
    assert smart.title == "SmartWallet Deployment Guide"
    first_shell = next(s for s in smart.steps if s.kind is StepKind.SHELL
                       and not s.text("file"))
    assert first_shell.title == "Frontend build"  # its leading `# comment`
    assert first_shell.section == ("Staging Deployment", "Deployment Steps",
                                   "1. Build Application")
    community = parse_file(COPIES / COMMUNITY).runbook
    assert community.title == "Production Deployment Guide - Community Savings App"
    assert community.steps[0].title == "All tests passing (npm run test:ci)"


@pytest.mark.parametrize("name", [SMARTWALLET, COMMUNITY])
def test_seed_copies_match_shared(name: str) -> None:
    shared = SHARED / name
    if not shared.is_file():
        pytest.skip("../shared/seeds is not present")
    assert (COPIES / name).read_bytes() == shared.read_bytes(), (
        f"tests/data/seeds/{name} differs from {shared}; copy it again"
    )


@pytest.mark.parametrize("name", [SMARTWALLET, COMMUNITY])
def test_shared_seed_parses_like_the_copy(name: str) -> None:
    shared = SHARED / name
    if not shared.is_file():
        pytest.skip("../shared/seeds is not present")
    steps = parse_file(shared).runbook.steps
    assert [(s.kind, s.span.line) for s in steps] == _expected(name)


def test_smartwallet_sections_by_meaning() -> None:
    """Rollback Procedures is the rollback section, Troubleshooting is optional, and the two
    "Create `scripts/….sh`:" blocks write their files instead of running."""
    rb = parse_file(COPIES / SMARTWALLET).runbook
    assert [s.span.line for s in rb.rollback_steps] == [549, 559, 569]
    assert {s.section[0] for s in rb.rollback_steps} == {"Rollback Procedures"}
    optional = [s for s in rb.steps if s.optional]
    assert [s.span.line for s in optional] == [667, 680, 693, 706]
    assert {s.section[0] for s in optional} == {"Troubleshooting"}
    assert not any(s.optional or s.in_rollback for s in rb.main_steps)
    writes = {s.text("file"): s for s in rb.steps if s.text("file")}
    assert set(writes) == {"server/scripts/migrate_example.ts", "scripts/deploy.sh",
                           "scripts/smoke-test.sh"}
    deploy = writes["scripts/deploy.sh"]
    assert deploy.title == "Write scripts/deploy.sh" and deploy.kind is StepKind.SHELL
    assert deploy.written.startswith("#!/bin/bash")
    # the path reaches the script as data ($SWRUN_FILE); on this machine swrun writes it itself
    assert deploy.body.startswith("# write scripts/deploy.sh\nf=$SWRUN_FILE;")
    assert "cat > \"$f\" <<'SWRUN_EOF'" in deploy.body
    assert 'chmod +x -- "$f"' in deploy.body
