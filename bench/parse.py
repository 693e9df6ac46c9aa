"""Parser speed against its floor: swrun's parse vs bare markdown-it, and `swrun plan` start-up.

Run as `.venv/bin/python bench/parse.py`. Prints numbers and ratios; asserts nothing.
Targets: parse ≤ 3x markdown-it tokenization; `swrun plan SEED` ≤ 2.5x `import markdown_it`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from markdown_it import MarkdownIt

from swrun.parser import parse_text

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "tests" / "data" / "seeds" / "smartwallet-deployment-guide.md"
STEPS = 5000


def generate(steps: int = STEPS) -> str:
    """A large runbook with every construct: sections, checks, attributed blocks, reference."""
    out = [
        "+++", 'title = "Bench"', 'environment = "staging"', "[vars.RELEASE]",
        'pattern = "v[0-9.]+"', 'default = "v1.2.3"', "+++", "", "# Bench runbook", "",
        "Prose under the title, with a [link](https://example.com) and `code`.", "",
    ]
    n = 0
    section = 0
    while n < steps:
        section += 1
        out += [f"## Phase {section}", "", "<!-- swrun: hosts=web timeout=10m -->", "",
                f"This phase does part {section} of the work. **Read it first.**", ""]
        for sub in range(1, 4):
            out += [f"### Part {section}.{sub}", "", "- [ ] Tell the channel",
                    "- [ ] Dashboard is green", "- [x] Ticket open", "",
                    "Run the step below:", "",
                    f"```bash {{name=step-{section}-{sub} confirm retries=2 target=30s}}",
                    "# Deploy the release", 'echo "deploying $RELEASE"', "sleep 0", "```", "",
                    "<!-- swrun: destructive -->",
                    "```sh", "rm -rf /tmp/bench-nothing", "```", "",
                    "```yaml", "key: value", "list: [1, 2, 3]", "```", "",
                    "| a | b |", "|---|---|", "| 1 | 2 |", ""]
            n += 5  # three checks and two shell steps (the yaml block is reference)
            if n >= steps:
                break
    if not any(line.startswith("<!-- swrun: rollback") for line in out):
        out += ["## Rollback", "<!-- swrun: rollback -->", "", "```bash", "echo undo", "```", ""]
    return "\n".join(out) + "\n"


def best(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def median_wall(cmd: list[str], runs: int = 10) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    text = generate()
    result = parse_text(text, "bench.md")
    steps = len(result.runbook.actionable)
    md = MarkdownIt("commonmark")
    md.parse(text)  # warm both: rule chains and regexes compile on first use
    swrun_t = best(lambda: parse_text(text, "bench.md"))
    mdit_t = best(lambda: md.parse(text))
    print(f"runbook: {len(text.splitlines()):,} lines, {steps:,} actionable steps, "
          f"{len(result.runbook.steps) - steps:,} reference blocks, "
          f"{len(result.diagnostics)} diagnostics")
    print(f"  swrun parse_text           {swrun_t * 1000:8.1f} ms  (best of 5)")
    print(f"  MarkdownIt('commonmark')   {mdit_t * 1000:8.1f} ms  (best of 5)")
    print(f"  parse ratio                {swrun_t / mdit_t:8.2f}x  (target <= 3)")

    swrun_cmd = [sys.executable, "-c", "from swrun.cli import main; main()", "plan", str(SEED)]
    mdit_cmd = [sys.executable, "-c", "import markdown_it"]
    subprocess.run(swrun_cmd, check=True, stdout=subprocess.DEVNULL)  # warm the bytecode cache
    plan_t = median_wall(swrun_cmd)
    import_t = median_wall(mdit_cmd)
    print(f"start-up: swrun plan {SEED.name}")
    print(f"  swrun plan (subprocess)    {plan_t * 1000:8.1f} ms  (median of 10)")
    print(f"  import markdown_it (subproc) {import_t * 1000:8.1f} ms  (median of 10)")
    print(f"  start-up ratio             {plan_t / import_t:8.2f}x  (target <= 2.5)")


if __name__ == "__main__":
    main()
