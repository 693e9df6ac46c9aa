"""What swrun reads in a folder of Markdown runbooks: python bench/corpus.py DIR

Prints files, steps by kind, shell steps that fail `bash -n` (and whether check flags them),
literal prompts left in runnable steps, placeholders left unfilled, manual steps, findings by
rule, and the time `plan` (parse and check, lint included) takes per file.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from swrun.checks import check_runbook
from swrun.errors import RunbookError
from swrun.model import Runbook, StepKind
from swrun.parser import parse_file
from swrun.plan import kind_of
from swrun.rules.prompts import read_prompts
from swrun.rules.shelltext import ANGLE


def bash_n(body: str) -> bool:
    bash = shutil.which("bash") or "bash"
    return subprocess.run([bash, "-n"], input=body, capture_output=True, text=True,
                          check=False).returncode == 0


# -- issue 24, prompts, sessions, known failures, output (one block: others edit this file) --
def reading_counts(rb: Runbook, counts: Counter[str]) -> None:
    """Prompt shapes stripped, lines typed into sessions, runnable blocks bash rejects (not
    marked `run`: must be 0), output-shaped lines in runnable steps (must be 0)."""
    from swrun.rules.knownbad import bash_checked
    from swrun.rules.prompts import read_prompts as read_shapes
    from swrun.rules.transcript import output_lines

    for step in rb.steps:
        if step.prompts:
            got = read_shapes(step.written or step.body, step.language in ("console", ""))
            for shape in got.shapes if got else ():
                counts[f"prompt shape {shape}"] += 1
        if step.manual.startswith("typed in"):
            counts["session steps"] += 1
            counts["session lines"] += sum(1 for ln in step.body.split("\n") if ln.strip())
        if step.kind is not StepKind.SHELL or step.text("file"):
            continue
        counts["output-shaped lines in runnable steps"] += len(output_lines(step.body))
        if bash_checked(step.text("shell")) and not bash_n(step.body):
            counts["known-failing runnable blocks"] += 1


def print_reading_counts(counts: Counter[str]) -> None:
    shapes = sorted((k, n) for k, n in counts.items() if k.startswith("prompt shape "))
    print("prompt shapes stripped (blocks): " + (", ".join(
        f"{k.removeprefix('prompt shape ')} {n}" for k, n in shapes) or "none"))
    print(f"session steps: {counts['session steps']} ({counts['session lines']} lines)")
    print(f"known-failing runnable blocks: {counts['known-failing runnable blocks']} "
          "(must be 0; a block marked `run` counts too)")
    print(f"output-shaped lines in runnable steps: "
          f"{counts['output-shaped lines in runnable steps']} (must be 0)")
# -- end of issue 24's block -----------------------------------------------------------------


def main(folder: str) -> int:
    files = sorted(Path(folder).rglob("*.md"))
    kinds: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    unread = 0
    syntax_bad = syntax_unflagged = prompts_left = placeholders_left = manual = 0
    flagged_files: set[Path] = set()
    needing: set[Path] = set()
    times: list[tuple[float, Path]] = []
    changes: Counter[str] = Counter()
    reading: Counter[str] = Counter()
    for path in files:
        t0 = time.perf_counter()
        try:
            result = parse_file(path)
            diags = check_runbook(result, inventory=False)
        except RunbookError:
            unread += 1
            continue
        times.append((time.perf_counter() - t0, path))
        rb = result.runbook
        state_changing(rb, changes)  # issue 24 item 1
        reading_counts(rb, reading)
        found = {(d.line, getattr(d, "rule", "")) for d in diags}
        for d in diags:
            rule = getattr(d, "rule", "") or "other"
            rules[rule] += 1
            if rule != "other":
                flagged_files.add(path)
        for step in rb.steps:
            kinds[kind_of(step) if not step.optional else "optional"] += 1
            if step.manual:
                manual += 1
            if step.kind is not StepKind.SHELL or step.text("file"):
                continue
            if any(read_prompts(line + "\n", False) for line in step.body.split("\n")
                   if line.startswith("$ ")):
                prompts_left += 1
                needing.add(path)
            left = [m for m in ANGLE.finditer(step.body)
                    if not re.search(r"<<|</", step.body)]
            unfilled = [p for p in step.placeholders if not p.fillable]
            if left or unfilled:
                placeholders_left += 1
                if not any(r == "SW102" for _, r in found):
                    needing.add(path)
            if step.placeholders or step.prompts:
                needing.add(path)
            if (step.text("shell") or "bash").split()[0] in ("bash", "sh") and \
                    not bash_n(step.body):
                syntax_bad += 1
                needing.add(path)
                if not any(r == "SW101" and step.span.line <= ln <= step.span.end_line
                           for ln, r in found):
                    syntax_unflagged += 1
            if step.manual:
                needing.add(path)
    print(f"files: {len(files)} ({unread} unreadable)")
    print("steps by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    print(f"shell steps failing bash -n: {syntax_bad} (not flagged by check: "
          f"{syntax_unflagged})")
    print(f"literal prompts left in runnable steps: {prompts_left}")
    print(f"runnable steps with a placeholder left unfilled: {placeholders_left}")
    print(f"manual steps: {manual}")
    print("findings by rule: " + ", ".join(f"{k} {n}" for k, n in sorted(rules.items())))
    print_state_changing(changes)
    missed = sorted(needing - flagged_files)
    print(f"files check flags: {len(flagged_files)}; files with such a case check does not "
          f"flag: {len(missed)}")
    for path in missed[:10]:
        print(f"  not flagged: {path}")
    print_reading_counts(reading)
    if times:
        ts = sorted(t for t, _ in times)
        slowest = max(times)
        print(f"plan time per file: median {ts[len(ts) // 2] * 1000:.1f} ms, "
              f"max {slowest[0] * 1000:.1f} ms ({slowest[1].name}), "
              f"total {sum(ts):.2f} s")
    return 0


# -- state-changing steps (issue 24, item 1) ------------------------------------------------
def state_changing(rb: Runbook, counts: Counter[str]) -> None:
    """Count the runnable steps that run a state-changing command, by what gates them."""
    from swrun.rules import statechange

    extra, _ = statechange.extra_patterns(rb.metadata)
    for step in rb.steps:
        if step.kind in (StepKind.CHECK, StepKind.REFERENCE):
            continue
        if step.choice and not step.confirm_inferred:
            counts["choice"] += 1
        if statechange.state_change(step.kind.value, step.body, step.attributes, extra) is None:
            continue
        if step.flag("confirm") or step.flag("destructive"):
            counts["author"] += 1
        elif step.confirm_inferred:
            counts["inferred"] += 1
        elif statechange.marked(step.attributes, rb.metadata):
            counts["unattended"] += 1
        else:
            counts["ungated"] += 1


def print_state_changing(counts: Counter[str]) -> None:
    print(f"ungated state-changing steps (must be 0): {counts['ungated']}; state-changing "
          f"steps gated by inference: {counts['inferred']}, by the author's confirm: "
          f"{counts['author']}, marked unattended by the author: {counts['unattended']}; "
          f"other steps asked as alternatives (If …, Option …): {counts['choice']}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python bench/corpus.py DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
