"""`swrun plan` and `swrun check` on 1 MB runbooks, realistic and adversarial, against their
floors: markdown-it alone on the same text (plan), and `bash -n` of the same blocks in one
file (check's syntax pass).

Run as `.venv/bin/python bench/plan_big.py [MB]` (default 1). Prints times and ratios;
asserts nothing. The issue's target: any runbook of at most 1 MB plans in under 2 s.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from markdown_it import MarkdownIt

sys.path.insert(0, str(Path(__file__).resolve().parent))

from parse import generate

from swrun.checks import check_runbook
from swrun.parser import MAX_LINE_CHARS, parse_text
from swrun.plan import plan_text


def _fill(unit: str, size: int, head: str = "# Big\n\n") -> str:
    return head + unit * max(1, (size - len(head)) // len(unit))


def runbooks(size: int) -> dict[str, str]:
    realistic = generate(5000)
    while len(realistic) < size:
        realistic += realistic
    realistic = realistic[: realistic.rfind("\n## ", 0, size)]
    line = "true&&export " + "ABCDEFGHIJKLMNOPQRSTUVWXYZ_LONGER_NAME" * (
        min(size, MAX_LINE_CHARS - 100) // 40) + "=1\n"
    return {
        "realistic (bench/parse.py's runbook)": realistic,
        "16,000-block style: small bash blocks": _fill(
            "## Step\n\n```bash\necho \"deploy $RELEASE\" && kubectl get pods -n <namespace>\n"
            "```\n\n", size),
        "the issue's export line, one block": "# Big\n\n```bash\n"
        + line * max(1, size // len(line)) + "```\n",
        "prompt lines (user@host:~:export …)": "# Big\n\n```console\n" + _fill(
            "user@host:~:export SOME_LONG_TOKEN_NAME=abc\n$ kubectl exec -it pod -- sh\n",
            size - 40, head="") + "```\n",
        "placeholders and substitutions": "# Big\n\n```bash\n" + _fill(
            "echo \"$(kubectl get pod \"<pod>\" -o name)\" '<ns>' YOUR_TOKEN {{region}}\n",
            size - 40, head="") + "```\n",
        "task list": _fill("- [ ] Tell #ops the release is starting\n", size),
        "links and images in prose (markdown-it's own slow case)": _fill(
            "See ![a](x.png) and [the docs](https://example.com/docs) for *this* `step`.\n\n",
            size),
    }


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bash_n(text: str) -> float:
    """`bash -n` on every bash block of the runbook, written to one file."""
    result = parse_text(text, "big.md")
    bodies = "\n".join(s.body for s in result.runbook.steps if s.kind.value == "shell")
    with tempfile.NamedTemporaryFile("w", suffix=".sh") as f:
        f.write(bodies)
        f.flush()
        return timed(lambda: subprocess.run(["bash", "-n", f.name], capture_output=True,
                                            check=False))


def main() -> None:
    size = int(float(sys.argv[1]) * 1_000_000) if len(sys.argv) > 1 else 1_000_000
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    print(f"{'runbook':58} {'KB':>6} {'md-it':>7} {'plan':>7} {'ratio':>6} {'check':>7} "
          f"{'bash -n':>7} {'ratio':>6}")
    for name, text in runbooks(size).items():
        floor = timed(lambda text=text: md.parse(text))
        plan = timed(lambda text=text: plan_text(parse_text(text, "big.md").runbook))
        check = timed(lambda text=text: check_runbook(parse_text(text, "big.md"), None,
                                                      inventory=False))
        syntax = bash_n(text)
        print(f"{name:58} {len(text) // 1000:6d} {floor:6.2f}s {plan:6.2f}s "
              f"{plan / floor:5.1f}x {check:6.2f}s {syntax:6.2f}s {check / syntax:5.1f}x",
              flush=True)


if __name__ == "__main__":
    main()
