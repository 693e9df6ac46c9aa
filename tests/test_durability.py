"""The durability budget: at most one fsync per step boundary (the `step_finished` that
names the step's output file and its hash; docs/run-log.md#durability-budget). Real runs,
counted with strace."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from swrun.evidence.chain import check, normalize

from conftest import swrun_cmd


def _fsyncs(folder: Path, n: int) -> int:
    (folder / f"rb{n}.md").write_text("# Talk\n\n" + "".join(
        f"```bash {{name=s{i}}}\necho line {i}\necho err {i} >&2\n```\n\n" for i in range(n)))
    out = folder / f"trace{n}"
    subprocess.run(["strace", "-f", "-qq", "-o", str(out), "-e", "trace=fsync,fdatasync",
                    *swrun_cmd(), "execute", "--yes", f"rb{n}.md", "--log", f"run{n}.toml"],
                   cwd=folder, check=True, capture_output=True, timeout=120)
    result = check(normalize((folder / f"run{n}.toml").read_bytes()))
    assert not result.problem and result.chained
    return sum(1 for line in out.read_text().splitlines() if "fsync(" in line)


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_a_step_with_output_costs_one_fsync(tmp_path: Path) -> None:
    """Before: two (the sidecar's, then the step_finished's)."""
    assert (_fsyncs(tmp_path, 5) - _fsyncs(tmp_path, 1)) / 4 == 1
    verify = subprocess.run([*swrun_cmd(), "verify", "run5.toml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert "unsigned" in verify.stdout and "tampered" not in verify.stdout, verify.stdout
