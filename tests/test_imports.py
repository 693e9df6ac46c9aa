"""The core stays light: parsing, checking and planning import no UI and no backend library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SEED = Path(__file__).resolve().parent / "data" / "seeds" / "smartwallet-deployment-guide.md"
HEAVY = ("textual", "rich", "paramiko", "boto3", "botocore", "pymongo", "ansible_runner",
         "ansible")

_PROBE = """
import contextlib, io, json, sys
import swrun.cli, swrun.parser, swrun.checks, swrun.plan
from swrun.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main(["plan", sys.argv[1]], standalone_mode=False)
    except SystemExit as exc:
        assert not exc.code, exc.code
    try:
        main(["check", sys.argv[1]], standalone_mode=False)
    except SystemExit as exc:
        assert not exc.code, exc.code
assert "Frontend build" in out.getvalue()
heavy = json.loads(sys.argv[2])
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(heavy))))
"""


def test_core_imports_no_ui_or_backend_library() -> None:
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(SEED), json.dumps(HEAVY)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == []
