"""`swrun check`'s bash syntax check: one bash process for every block against the old way,
one `bash -n` process per block.

Run as `.venv/bin/python bench/check_syntax.py [BLOCKS]` (default 4,000; the issue measured
16,000 blocks at 53 s the old way). Prints both times and their ratio; asserts nothing, and
checks that both ways found the same problems.
"""

from __future__ import annotations

import shutil
import sys
import time

from swrun.rules import bashsyntax
from swrun.rules.lint import _alone

BODIES = (
    'echo "deploying $RELEASE"\nif [ -f /etc/app.conf ]; then\n  systemctl restart app\nfi\n',
    "kubectl -n prod get pods | grep -v Running || true\n",
    "for h in web1 web2; do\n  ssh \"$h\" 'uptime'\ndone\n",
    "cat <<EOF > /tmp/x.conf\nkey=value\nEOF\n",
    'echo "unclosed\n',  # one in five has a syntax error
)


def main() -> None:
    blocks = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    bodies = [BODIES[i % len(BODIES)] for i in range(blocks)]
    exe = shutil.which("bash")
    assert exe is not None, "needs bash"
    started = time.perf_counter()
    batch = bashsyntax.check(exe, bodies)
    one_process = time.perf_counter() - started
    started = time.perf_counter()
    alone = [_alone("bash", body) for body in bodies]
    per_block = time.perf_counter() - started
    same = "same problems" if batch == alone else "DIFFERENT problems"
    print(f"{blocks} blocks: one bash for all {one_process:.2f} s, one bash -n per block "
          f"{per_block:.2f} s; {per_block / one_process:.1f}x faster ({same})")


if __name__ == "__main__":
    main()
